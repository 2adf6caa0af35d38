// The UDP kernel facts (docs/kernel-observations.md, "UDP") as scenarios whose expectations are
// what Linux 6.18 answered in the namespaces. test/kernel/udp.test.ts runs them on the kernel
// (the harness must reproduce each) and, when the engine models UDP, under the linux policy.

import { bind, close, datagram, wait, join, leave, setsockopt, sock, udpConnect, udpScenario, type Topology } from './udp-build.js';
import type { Scenario } from '../../src/scenario/types.js';

export interface UdpFact {
  readonly name: string;
  readonly scenario: Scenario;
}

const fact = (name: string, steps: Parameters<typeof udpScenario>[1], topo?: Topology): UdpFact => ({ name, scenario: udpScenario(name.replace(/[^a-z0-9]+/gi, '-'), steps, topo) });

const RA = { SO_REUSEADDR: true };
const RP = { SO_REUSEPORT: true };

export const UDP_FACTS: readonly UdpFact[] = [
  fact('wildcard and specific conflict in both orders; SO_REUSEADDR on both coexists, on one only it does not', [
    sock('w', 'server/root', {}, 'inet', 'ok'), bind('w', '0.0.0.0:5300', 'ok'),
    sock('s', 'server/root'), bind('s', '10.0.0.2:5300', 'EADDRINUSE'),
    sock('s2', 'server/root'), bind('s2', '10.0.0.2:5301', 'ok'),
    sock('w2', 'server/root'), bind('w2', '0.0.0.0:5301', 'EADDRINUSE'),
    sock('a', 'server/alice', RA), bind('a', '0.0.0.0:5302', 'ok'),
    sock('b', 'server/bob', RA), bind('b', '10.0.0.2:5302', 'ok'),
    sock('c', 'server/bob'), bind('c', '10.0.0.3:5302', 'EADDRINUSE'),
    sock('d', 'server/root', RA), bind('d', '10.0.0.2:5302', 'ok'),
  ]),
  fact('SO_REUSEPORT needs the same uid, root included; a socket with both options joins a SO_REUSEPORT group', [
    sock('a1', 'server/alice', RP), bind('a1', '0.0.0.0:5310', 'ok'),
    sock('a2', 'server/alice', RP), bind('a2', '0.0.0.0:5310', 'ok'),
    sock('b1', 'server/bob', RP), bind('b1', '0.0.0.0:5310', 'EADDRINUSE'),
    sock('r1', 'server/root', RP), bind('r1', '0.0.0.0:5310', 'EADDRINUSE'),
    sock('a3', 'server/alice', RA), bind('a3', '0.0.0.0:5310', 'EADDRINUSE'),
    sock('a4', 'server/alice', { SO_REUSEADDR: true, SO_REUSEPORT: true }), bind('a4', '0.0.0.0:5310', 'ok'),
  ]),
  fact('a same-uid SO_REUSEPORT socket on the port does not let a SO_REUSEPORT-only one past another uid\'s SO_REUSEADDR socket, in either bind order', [
    sock('s1', 'server/alice', RA), sock('s2', 'server/bob', { SO_REUSEADDR: true, SO_REUSEPORT: true }), sock('s3', 'server/bob', RP),
    bind('s1', '10.0.0.1:5315', 'ok'), bind('s2', '0.0.0.0:5315', 'ok'), bind('s3', '10.0.0.1:5315', 'EADDRINUSE'),
    sock('t1', 'server/alice', RA), sock('t2', 'server/bob', { SO_REUSEADDR: true, SO_REUSEPORT: true }), sock('t3', 'server/bob', RP),
    bind('t2', '0.0.0.0:5316', 'ok'), bind('t1', '10.0.0.1:5316', 'ok'), bind('t3', '10.0.0.1:5316', 'EADDRINUSE'),
    sock('u2', 'server/bob', { SO_REUSEADDR: true, SO_REUSEPORT: true }), sock('u3', 'server/bob', RP),
    bind('u2', '0.0.0.0:5317', 'ok'), bind('u3', '10.0.0.1:5317', 'ok'),
  ]),
  fact('[::] dual-stack blocks 0.0.0.0 and a specific IPv4 address in both orders; IPV6_V6ONLY coexists', [
    sock('d', 'server/root', {}, 'inet6'), bind('d', '[::]:5320', 'ok'),
    sock('v4', 'server/root'), bind('v4', '0.0.0.0:5320', 'EADDRINUSE'),
    sock('v4s', 'server/root'), bind('v4s', '10.0.0.1:5320', 'EADDRINUSE'),
    sock('x', 'server/root'), bind('x', '10.0.0.1:5321', 'ok'),
    sock('d2', 'server/root', {}, 'inet6'), bind('d2', '[::]:5321', 'EADDRINUSE'),
    sock('o', 'server/root', { IPV6_V6ONLY: true }, 'inet6'), bind('o', '[::]:5321', 'ok'),
  ]),
  fact('sockets bound to different devices share 0.0.0.0:P without options; an unbound one then fails', [
    sock('e0', 'server/root', { SO_BINDTODEVICE: 'eth0' }), bind('e0', '0.0.0.0:5330', 'ok'),
    sock('e1', 'server/root', { SO_BINDTODEVICE: 'eth1' }), bind('e1', '0.0.0.0:5330', 'ok'),
    sock('u', 'server/root'), bind('u', '0.0.0.0:5330', 'EADDRINUSE'),
    datagram({ from: 'client', to: '10.0.0.1:5330' }, 'e0'),
    datagram({ from: 'client', to: '10.0.1.1:5330' }, 'e1'),
  ], { eth1: true }),
  fact('unicast: a specific address beats the wildcard whatever the order', [
    sock('s', 'server/alice', RA), bind('s', '10.0.0.2:5340'),
    sock('w', 'server/root', RA), bind('w', '0.0.0.0:5340'),
    datagram({ from: 'client', to: '10.0.0.2:5340', count: 2 }, 's'),
    datagram({ from: 'client', to: '10.0.0.3:5340' }, 'w'),
    sock('w2', 'server/root', RA), bind('w2', '0.0.0.0:5341'),
    sock('s2', 'server/alice', RA), bind('s2', '10.0.0.2:5341'),
    datagram({ from: 'client', to: '10.0.0.2:5341' }, 's2'),
    datagram({ from: 'client', to: '10.0.0.1:5341' }, 'w2'),
  ]),
  fact('two SO_REUSEADDR sockets on one address: the last bound receives everything, then the earlier one', [
    sock('first', 'server/alice', RA), bind('first', '10.0.0.2:5350'),
    sock('second', 'server/bob', RA), bind('second', '10.0.0.2:5350'),
    datagram({ from: 'client', to: '10.0.0.2:5350', count: 3 }, 'second'),
    close('second'),
    datagram({ from: 'client', to: '10.0.0.2:5350' }, 'first'),
  ]),
  fact('SO_REUSEPORT spreads datagrams over the group; a connected member is never picked by the hash', [
    sock('g1', 'server/alice', RP), bind('g1', '0.0.0.0:5360'),
    sock('g2', 'server/alice', RP), bind('g2', '0.0.0.0:5360'),
    sock('g3', 'server/alice', RP), bind('g3', '0.0.0.0:5360'),
    ...[5001, 5002, 5003, 5004, 5005, 5006].map((p) => datagram({ from: 'client', source: `10.0.0.100:${p}`, to: '10.0.0.1:5360' }, 'g1', 'g2', 'g3')),
    udpConnect('g3', '10.0.0.100:6000', 'ok'),
    ...[5011, 5012, 5013, 5014].map((p) => datagram({ from: 'client', source: `10.0.0.100:${p}`, to: '10.0.0.1:5360' }, 'g1', 'g2')),
    datagram({ from: 'client', source: '10.0.0.100:6000', to: '10.0.0.1:5360' }, 'g3'),
  ]),
  fact('a connected socket receives its peer\'s datagrams; connect() on 0.0.0.0 fixes the local address to the route\'s source', [
    sock('c', 'server/root', RA), bind('c', '0.0.0.0:5370'), udpConnect('c', '10.0.0.100:7000', 'ok'),
    datagram({ from: 'client', source: '10.0.0.100:7000', to: '10.0.0.1:5370' }, 'c'),
    datagram({ from: 'client', source: '10.0.0.100:7000', to: '10.0.0.2:5370' }, 'port-unreachable'),
    sock('u', 'server/root', RA), bind('u', '0.0.0.0:5370'),
    datagram({ from: 'client', source: '10.0.0.100:7000', to: '10.0.0.1:5370' }, 'c'),
    datagram({ from: 'client', source: '10.0.0.100:7001', to: '10.0.0.1:5370' }, 'u'),
    datagram({ from: 'client', source: '10.0.0.100:7000', to: '10.0.0.2:5370' }, 'u'),
  ]),
  fact('an IPv4 datagram goes to an AF_INET socket before a dual-stack one, in either order; a device-bound socket beats an unbound one', [
    sock('d', 'server/root', RA, 'inet6'), bind('d', '[::]:5380'),
    sock('v4', 'server/root', RA), bind('v4', '0.0.0.0:5380'),
    datagram({ from: 'client', to: '10.0.0.1:5380' }, 'v4'),
    datagram({ from: 'client', to: '[fd00::1]:5380' }, 'd'),
    sock('v4b', 'server/root', RA), bind('v4b', '0.0.0.0:5381'),
    sock('db', 'server/root', RA, 'inet6'), bind('db', '[::]:5381'),
    datagram({ from: 'client', to: '10.0.0.1:5381' }, 'v4b'),
    sock('u', 'server/root', RA), bind('u', '0.0.0.0:5382'),
    sock('dev', 'server/root', { SO_REUSEADDR: true, SO_BINDTODEVICE: 'eth0' }), bind('dev', '0.0.0.0:5382'),
    datagram({ from: 'client', to: '10.0.0.1:5382' }, 'dev'),
  ]),
  fact('a closed port answers ICMP port unreachable over IPv4, IPv6 and the loopback; an unanswered neighbour is unreachable', [
    datagram({ from: 'client', to: '10.0.0.1:5390', count: 3 }, 'port-unreachable'),
    datagram({ from: 'client', to: '[fd00::1]:5390' }, 'port-unreachable'),
    datagram({ from: 'server', to: '127.0.0.1:5390' }, 'port-unreachable'),
    datagram({ from: 'server', to: '10.0.0.2:5390' }, 'port-unreachable'),
    datagram({ from: 'client', to: '10.0.0.77:5390' }, 'unreachable'),
    datagram({ from: 'client', to: '[fd00::77]:5390' }, 'unreachable'),
  ]),
  fact('a subnet broadcast reaches sockets on 0.0.0.0 and on the broadcast address, each a copy; 255.255.255.255 reaches 0.0.0.0 and itself; no ICMP; the sender needs SO_BROADCAST', [
    sock('any', 'server/root', RA), bind('any', '0.0.0.0:6000'),
    sock('bcast', 'server/alice', RA), bind('bcast', '10.0.0.255:6000'),
    sock('uni', 'server/bob', RA), bind('uni', '10.0.0.1:6000'),
    sock('lim', 'server/bob', RA), bind('lim', '255.255.255.255:6000'),
    sock('b', 'client/root', { SO_BROADCAST: true }), bind('b', '0.0.0.0:6200'),
    datagram({ socket: 'b', to: '10.0.0.255:6000' }, 'any+bcast'),
    datagram({ socket: 'b', to: '255.255.255.255:6000' }, 'any+lim'),
    datagram({ socket: 'b', to: '10.0.0.1:6000' }, 'uni'),
    datagram({ socket: 'b', to: '10.0.0.255:6001' }, 'dropped'),
    datagram({ from: 'client', to: '10.0.0.255:6000' }, 'any+bcast'),
    sock('tx', 'client/root'), bind('tx', '0.0.0.0:6100'),
    datagram({ socket: 'tx', to: '10.0.0.255:6000' }, 'EACCES'),
    setsockopt('tx', { SO_BROADCAST: true }, 'ok'),
    datagram({ socket: 'tx', to: '10.0.0.255:6000' }, 'any+bcast'),
    datagram({ socket: 'tx', to: '10.0.0.255:6100' }, 'tx'),
  ]),
  fact('a group\'s datagram reaches every socket on the port once any socket joined on the arrival interface (IP_MULTICAST_ALL); not a unicast-bound one; no join: dropped', [
    sock('m1', 'server/root', RA), bind('m1', '0.0.0.0:5353'),
    sock('m2', 'server/alice', RA), bind('m2', '0.0.0.0:5353'),
    sock('g', 'server/bob', RA), bind('g', '224.0.0.251:5353'),
    sock('u', 'server/bob', RA), bind('u', '10.0.0.1:5353'),
    sock('own', 'server/root', { SO_REUSEADDR: true, IP_MULTICAST_ALL: false }), bind('own', '0.0.0.0:5353'),
    datagram({ from: 'client', to: '224.0.0.251:5353' }, 'dropped'),
    sock('j', 'server/root'), join('j', '224.0.0.251', 'eth0', 'ok'),
    datagram({ from: 'client', to: '224.0.0.251:5353', count: 2 }, 'g+m1+m2'),
    join('own', '224.0.0.251', undefined, 'ok'),
    datagram({ from: 'client', to: '224.0.0.251:5353' }, 'g+m1+m2+own'),
    leave('j', '224.0.0.251', 'eth0'),
    datagram({ from: 'client', to: '224.0.0.251:5353' }, 'g+m1+m2+own'),
    leave('own', '224.0.0.251'),
    datagram({ from: 'client', to: '224.0.0.251:5353' }, 'dropped'),
    datagram({ from: 'client', to: '224.0.0.1:5353' }, 'm1+m2'),
  ]),
  fact('membership is per interface', [
    sock('m', 'server/root', RA), bind('m', '0.0.0.0:5354'),
    join('m', '239.1.1.1', 'eth1', 'ok'),
    datagram({ from: 'client', to: '239.1.1.1:5354', interface: 'eth0' }, 'dropped'),
    datagram({ from: 'client', to: '239.1.1.1:5354', interface: 'eth1' }, 'm'),
  ], { eth1: true }),
  fact('IPv6 groups: ff02::1 needs no join; another group needs one', [
    sock('m6', 'server/root', RA, 'inet6'), bind('m6', '[::]:5355'),
    datagram({ from: 'client', to: '[ff02::1]:5355', interface: 'eth0' }, 'm6'),
    datagram({ from: 'client', to: '[ff02::fb]:5355', interface: 'eth0' }, 'dropped'),
    join('m6', 'ff02::fb', 'eth0', 'ok'),
    datagram({ from: 'client', to: '[ff02::fb]:5355', interface: 'eth0' }, 'm6'),
  ]),
  fact('a host\'s own multicast comes back to its sockets unless IP_MULTICAST_LOOP is off; an AF_INET6 socket joins an IPv4 group (dual-stack receives, IPV6_V6ONLY does not)', [
    sock('rx', 'server/root', RA), bind('rx', '0.0.0.0:5356'), join('rx', '239.2.2.2', 'eth0'),
    sock('tx', 'server/alice'),
    datagram({ socket: 'tx', to: '239.2.2.2:5356', interface: 'eth0' }, 'rx'),
    setsockopt('tx', { IP_MULTICAST_LOOP: false }, 'ok'),
    datagram({ socket: 'tx', to: '239.2.2.2:5356', interface: 'eth0' }, 'dropped'),
    sock('d', 'server/root', RA, 'inet6'), bind('d', '[::]:5357'), join('d', '239.3.3.3', 'eth0', 'ok'),
    sock('o', 'server/root', { IPV6_V6ONLY: true, SO_REUSEADDR: true }, 'inet6'), bind('o', '[::]:5358'), join('o', '239.3.3.3', 'eth0', 'ok'),
    datagram({ from: 'client', to: '239.3.3.3:5357' }, 'd'),
    datagram({ from: 'client', to: '239.3.3.3:5358' }, 'dropped'),
  ]),
  fact('replies: a wildcard socket answers from the route\'s source, not the alias asked; IP_PKTINFO answers from the alias; a socket bound to the alias answers from it', [
    sock('any', 'server/root', RA), bind('any', '0.0.0.0:5400'),
    datagram({ from: 'client', to: '10.0.0.2:5400', reply: true }, 'any'),
    sock('pk', 'server/root', { SO_REUSEADDR: true, IP_PKTINFO: true }), bind('pk', '0.0.0.0:5401'),
    datagram({ from: 'client', to: '10.0.0.3:5401', reply: true }, 'pk'),
    sock('alias', 'server/root', RA), bind('alias', '10.0.0.2:5402'),
    datagram({ from: 'client', to: '10.0.0.2:5402', reply: true }, 'alias'),
    sock('bc1', 'server/root', RA), bind('bc1', '0.0.0.0:5403'),
    sock('bc2', 'server/alice', { SO_REUSEADDR: true, IP_PKTINFO: true }), bind('bc2', '0.0.0.0:5403'),
    sock('asker', 'client/root', { SO_BROADCAST: true }),
    datagram({ socket: 'asker', to: '10.0.0.255:5403', reply: true }, 'bc1+bc2'),
  ]),
  fact('ICMP errors to one peer: 6 at once, then one a second for IPv4 (icmp_ratelimit 1000 ms), one every 100 ms for IPv6 (net.ipv6.icmp.ratelimit, 100 ms on 6.18); none withheld over the loopback', [
    datagram({ from: 'client', to: '10.0.0.1:5500', count: 8 }, 'port-unreachable', 'dropped'),
    datagram({ from: 'client', to: '[fd00::1]:5500', count: 8 }, 'port-unreachable', 'dropped'),
    // IPv6's tokens are back 400 ms later (one per 100 ms). IPv4's take a second each: not
    // asserted, a busy machine can let that much real time pass between two steps.
    wait(400),
    datagram({ from: 'client', to: '[fd00::1]:5500' }, 'port-unreachable'),
    datagram({ from: 'server', to: '10.0.0.1:5500', count: 8 }, 'port-unreachable'),
  ]),
  fact('an AF_INET6 socket hears an IPv4 group only by its own join (its IPv4 IP_MULTICAST_ALL starts off), and IP_MULTICAST_ALL does not touch its IPv6 groups', [
    sock('j', 'server/root'), join('j', '239.4.4.4', 'eth0', 'ok'),
    sock('d', 'server/root', RA, 'inet6'), bind('d', '[::]:5600'),
    sock('v4', 'server/root', RA), bind('v4', '0.0.0.0:5600'),
    datagram({ from: 'client', to: '239.4.4.4:5600' }, 'v4'),
    setsockopt('d', { IP_MULTICAST_ALL: true }, 'ok'),
    datagram({ from: 'client', to: '239.4.4.4:5600' }, 'd+v4'),
    sock('j6', 'server/root', {}, 'inet6'), join('j6', 'ff05::1:3', 'eth0', 'ok'),
    sock('d6', 'server/root', { SO_REUSEADDR: true, IP_MULTICAST_ALL: false }, 'inet6'), bind('d6', '[::]:5601'),
    datagram({ from: 'client', to: '[ff05::1:3]:5601', interface: 'eth0' }, 'd6'),
  ]),
  fact('a socket whose local address is v4-mapped (bound to one, or connected to a v4-mapped peer) cannot send to IPv6: EAFNOSUPPORT', [
    sock('m', 'server/root', {}, 'inet6'), bind('m', '[::ffff:10.0.0.1]:5610'),
    datagram({ socket: 'm', to: '[fd00::100]:5610' }, 'EAFNOSUPPORT'),
    sock('c', 'server/root', {}, 'inet6'), bind('c', '[::]:5611'), udpConnect('c', '[::ffff:10.0.0.100]:7000', 'ok'),
    datagram({ socket: 'c', to: '[fd00::100]:5611' }, 'EAFNOSUPPORT'),
  ]),
  fact('leave without an interface means the route\'s interface: a membership on another one is EADDRNOTAVAIL', [
    sock('m', 'server/root'), join('m', '239.5.5.5', 'eth1', 'ok'),
    leave('m', '239.5.5.5', undefined, 'EADDRNOTAVAIL'),
    leave('m', '239.5.5.5', 'eth1', 'ok'),
  ], { eth1: true }),
  fact('a device-bound IPv6 socket cannot send to its host\'s address on another device (ENETUNREACH)', [
    sock('e1', 'server/root', { SO_BINDTODEVICE: 'eth1' }, 'inet6'), bind('e1', '[::]:5620'),
    sock('rx', 'server/root', {}, 'inet6'), bind('rx', '[::]:5621'),
    datagram({ socket: 'e1', to: '[fd00::1]:5621' }, 'ENETUNREACH'),
    datagram({ socket: 'e1', to: '[fd01::1]:5621' }, 'rx'),
  ], { eth1: true }),
  fact('IP_MULTICAST_IF naming another interface than SO_BINDTODEVICE is EINVAL', [
    sock('a', 'server/root', { SO_BINDTODEVICE: 'eth0', IP_MULTICAST_IF: 'eth1' }, 'inet', 'EINVAL'),
    sock('b', 'server/root', { SO_BINDTODEVICE: 'eth0', IP_MULTICAST_IF: 'eth0' }, 'inet', 'ok'),
    sock('c', 'server/root', { SO_BINDTODEVICE: 'eth1' }), setsockopt('c', { IP_MULTICAST_IF: 'eth0' }, 'EINVAL'),
  ], { eth1: true }),
  fact('a connected socket hears only its peer: a reply from another address never reaches it', [
    sock('rx', 'server/root'), bind('rx', '0.0.0.0:5630'),
    sock('q', 'server/alice'), bind('q', '10.0.0.2:5631'), udpConnect('q', '10.0.0.100:7000', 'ok'),
    datagram({ socket: 'q', to: '10.0.0.3:5630', reply: true }, 'rx'),
  ]),
];

/** Reply sources of the connected-sender fact: the reply never reaches the sender. */
export const UNHEARD_REPLY: readonly string[] = ['none'];

/** The rate-limit fact's datagram results, datagram by datagram (step index: results). */
export const RATE_LIMITED: ReadonlyMap<number, readonly string[]> = new Map([
  [0, [...Array<string>(6).fill('port-unreachable'), 'dropped', 'dropped']],
  [1, [...Array<string>(6).fill('port-unreachable'), 'dropped', 'dropped']],
]);

/** Expected reply sources of the replies fact, per datagram step index: one per receiver. */
export const REPLY_SOURCES: ReadonlyMap<number, readonly string[]> = new Map([
  [2, ['10.0.0.1:5400']],
  [5, ['10.0.0.3:5401']],
  [8, ['10.0.0.2:5402']],
  [14, ['10.0.0.1:5403', '10.0.0.1:5403']],
]);
