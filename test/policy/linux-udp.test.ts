// Policy `linux`, UDP (issue 18): one row per case, each citing a line of KERNEL-FACTS.md's UDP
// section (observed on 6.18 in namespaces) or the kernel function that decides it. A row is a
// list of scenario steps whose `expect`s are the decisions asserted.

import { describe, expect, it } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import { parseScenario } from '../../src/scenario/load.js';
import { expectSteps, TWO_LINK_HOSTS } from './cases.js';

const POLICY = 'linux';

// server: eth0 (10.0.0.1, 10.0.0.2, fd00::1) and eth1 (10.0.1.1, lan2); client on both links; peer on lan.
const HOSTS = `${TWO_LINK_HOSTS}
    processes: { root: { uid: 0 }, c: { uid: 2000 } }
  peer:
    interfaces:
      eth0: { addresses: [10.0.0.50/24] }`;

const scenario = (steps: readonly string[]): string =>
  `name: linux udp case\nseed: 5\nlinks: { lan: { latency: 100us }, lan2: { latency: 100us } }\nhosts:${HOSTS}\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`;

const check = (steps: readonly string[]) => expectSteps(POLICY, scenario(steps));

/** A UDP socket of the server (process root unless named); family inet6 with `6`. */
const usock = (name: string, proc = 'root', opts = '', host = 'server'): string =>
  `- { socket: ${name}, process: ${host}/${proc}, type: udp${opts ? `, ${opts}` : ''} }`;
const usock6 = (name: string, opts = ''): string => `- { socket: ${name}, process: server/root, type: udp, family: inet6${opts ? `, ${opts}` : ''} }`;
const bind = (name: string, addr: string, exp = 'ok'): string => `- { bind: ${name}, address: "${addr}", expect: ${exp} }`;
const dgram = (to: string, exp: string, extra = ''): string => `- { datagram: { from: client, to: "${to}"${extra ? `, ${extra}` : ''} }, expect: ${exp} }`;
const RA = 'options: { SO_REUSEADDR: true }';
const RP = 'options: { SO_REUSEPORT: true }';

type Row = [title: string, steps: string[]];

describe('linux UDP: bind conflicts (KERNEL-FACTS "UDP ... Bind conflicts"; net/ipv4/udp.c udp_lib_lport_inuse)', () => {
  it.each<Row>([
    ['wildcard then specific, no options: EADDRINUSE', [usock('w'), bind('w', '0.0.0.0:5000'), usock('s'), bind('s', '10.0.0.2:5000', 'EADDRINUSE')]],
    ['specific then wildcard, no options: EADDRINUSE', [usock('s'), bind('s', '10.0.0.2:5000'), usock('w'), bind('w', '0.0.0.0:5000', 'EADDRINUSE')]],
    ['SO_REUSEADDR on both: they coexist', [usock('w', 'root', RA), bind('w', '0.0.0.0:5000'), usock('s', 'root', RA), bind('s', '10.0.0.2:5000')]],
    ['SO_REUSEADDR on one only: EADDRINUSE', [usock('w', 'root', RA), bind('w', '0.0.0.0:5000'), usock('s'), bind('s', '10.0.0.2:5000', 'EADDRINUSE')]],
    ['SO_REUSEADDR has no uid check for UDP', [usock('w', 'a', RA), bind('w', '0.0.0.0:5000'), usock('s', 'b', RA), bind('s', '0.0.0.0:5000')]],
    ['SO_REUSEPORT, the same uid: shared', [usock('x', 'a', RP), bind('x', '0.0.0.0:5000'), usock('y', 'a2', RP), bind('y', '0.0.0.0:5000')]],
    ['SO_REUSEPORT, another uid: EADDRINUSE (root not exempt)', [usock('x', 'a', RP), bind('x', '0.0.0.0:5000'), usock('y', 'root', RP), bind('y', '0.0.0.0:5000', 'EADDRINUSE')]],
    ['another uid\'s SO_REUSEPORT specific socket blocks a wildcard group', [usock('x', 'a', RP), bind('x', '0.0.0.0:5000'), usock('s', 'b', RP), bind('s', '10.0.0.2:5000', 'EADDRINUSE')]],
    ['SO_REUSEPORT-only blocks SO_REUSEADDR-only', [usock('x', 'a', RP), bind('x', '0.0.0.0:5000'), usock('y', 'a', RA), bind('y', '0.0.0.0:5000', 'EADDRINUSE')]],
    ['a socket with both joins the SO_REUSEPORT group', [usock('x', 'a', RP), bind('x', '0.0.0.0:5000'), usock('y', 'a', 'options: { SO_REUSEADDR: true, SO_REUSEPORT: true }'), bind('y', '0.0.0.0:5000')]],
    ['[::] dual-stack blocks 0.0.0.0', [usock6('v6'), bind('v6', '[::]:5000'), usock('v4'), bind('v4', '0.0.0.0:5000', 'EADDRINUSE')]],
    ['[::] dual-stack blocks a specific IPv4 address, both orders', [usock('v4'), bind('v4', '10.0.0.2:5000'), usock6('v6'), bind('v6', '[::]:5000', 'EADDRINUSE')]],
    ['[::] IPv6-only coexists with 0.0.0.0', [usock6('v6', 'options: { IPV6_V6ONLY: true }'), bind('v6', '[::]:5000'), usock('v4'), bind('v4', '0.0.0.0:5000')]],
    ['different devices share 0.0.0.0 without options; an unbound one then fails',
      [usock('e0', 'root', 'options: { SO_BINDTODEVICE: eth0 }'), bind('e0', '0.0.0.0:5000'), usock('e1', 'root', 'options: { SO_BINDTODEVICE: eth1 }'), bind('e1', '0.0.0.0:5000'),
        usock('any'), bind('any', '0.0.0.0:5000', 'EADDRINUSE')]],
    ['a UDP port is not a TCP port: TCP and UDP on 0.0.0.0:5000 coexist', ['- { socket: t, process: server/root }', bind('t', '0.0.0.0:5000'), '- { listen: t, expect: ok }', usock('u'), bind('u', '0.0.0.0:5000')]],
    ['a broadcast or multicast address may be bound', [usock('b'), bind('b', '10.0.0.255:5000'), usock('m'), bind('m', '224.0.0.251:5000'), usock('a'), bind('a', '10.0.0.9:5000', 'EADDRNOTAVAIL')]],
    ['privileged port for uid 1000: EACCES', [usock('p', 'a'), bind('p', '0.0.0.0:53', 'EACCES')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('linux UDP: unicast delivery (KERNEL-FACTS "Unicast delivery"; __udp4_lib_lookup, udp4_lib_lookup2, compute_score)', () => {
  it.each<Row>([
    ['a specific address beats the wildcard, bound after it', [usock('w', 'root', RA), bind('w', '0.0.0.0:5000'), usock('s', 'root', RA), bind('s', '10.0.0.2:5000'),
      dgram('10.0.0.2:5000', 's'), dgram('10.0.0.1:5000', 'w')]],
    ['a specific address beats the wildcard, bound before it', [usock('s', 'root', RA), bind('s', '10.0.0.2:5000'), usock('w', 'root', RA), bind('w', '0.0.0.0:5000'),
      dgram('10.0.0.2:5000', 's')]],
    ['two SO_REUSEADDR sockets on one address: the last bound receives; when it closes, the earlier one',
      [usock('first', 'root', RA), bind('first', '10.0.0.2:5000'), usock('last', 'root', RA), bind('last', '10.0.0.2:5000'),
        dgram('10.0.0.2:5000', 'last', 'count: 3'), '- { close: last, expect: ok }', dgram('10.0.0.2:5000', 'first')]],
    ['a closed port: ICMP port unreachable', [dgram('10.0.0.1:5000', 'port-unreachable'), dgram('[fd00::1]:5000', 'port-unreachable')]],
    ['an address nobody has: unreachable', [dgram('10.0.0.77:5000', 'unreachable')]],
    ['an AF_INET socket beats a dual-stack one for IPv4 (dual-stack first)', [usock6('v6', 'options: { SO_REUSEADDR: true }'), bind('v6', '[::]:5000'),
      usock('v4', 'root', RA), bind('v4', '0.0.0.0:5000'), dgram('10.0.0.1:5000', 'v4', 'count: 2'), dgram('[fd00::1]:5000', 'v6')]],
    ['an AF_INET socket beats a dual-stack one for IPv4 (AF_INET first)', [usock('v4', 'root', RA), bind('v4', '0.0.0.0:5000'),
      usock6('v6', 'options: { SO_REUSEADDR: true }'), bind('v6', '[::]:5000'), dgram('10.0.0.1:5000', 'v4', 'count: 2')]],
    ['a dual-stack [::] socket receives IPv4 and IPv6', [usock6('v6'), bind('v6', '[::]:5000'), dgram('10.0.0.1:5000', 'v6'), dgram('[fd00::1]:5000', 'v6')]],
    ['an IPv6-only socket does not receive IPv4', [usock6('v6', 'options: { IPV6_V6ONLY: true }'), bind('v6', '[::]:5000'), dgram('10.0.0.1:5000', 'port-unreachable')]],
    ['SO_BINDTODEVICE matches the arrival device and beats an unbound socket',
      [usock('any', 'root', RA), bind('any', '0.0.0.0:5000'), usock('e1', 'root', 'options: { SO_REUSEADDR: true, SO_BINDTODEVICE: eth1 }'), bind('e1', '0.0.0.0:5000'),
        dgram('10.0.1.1:5000', 'e1'), dgram('10.0.0.1:5000', 'any')]],
    ['a connected socket receives its peer\'s datagrams, the unconnected one the rest',
      [usock('open', 'root', RA), bind('open', '10.0.0.2:5000'), usock('conn', 'root', RA), bind('conn', '10.0.0.2:5000'),
        '- { connect: conn, to: "10.0.0.100:6000", expect: ok }',
        '- { datagram: { from: client, source: "10.0.0.100:6000", to: "10.0.0.2:5000" }, expect: conn }',
        '- { datagram: { from: client, source: "10.0.0.100:6001", to: "10.0.0.2:5000" }, expect: open }']],
    ['a fresh sender (from: HOST) has SO_BROADCAST; a socket bound to a v4-mapped address cannot send to IPv6 (EAFNOSUPPORT, seen on 6.18)',
      [usock('b'), bind('b', '0.0.0.0:5000'), '- { datagram: { from: client, to: "10.0.0.255:5000" }, expect: b }',
        usock6('m'), bind('m', '[::ffff:10.0.0.1]:5001'), '- { datagram: { socket: m, to: "[fd00::100]:5000" }, expect: EAFNOSUPPORT }']],
    ['a broadcast peer needs SO_BROADCAST to connect', [usock('b'), '- { connect: b, to: "10.0.0.255:5000", expect: EACCES }']],
  ])('%s', (_t, steps) => { check(steps); });

  it('SO_REUSEPORT spreads datagrams over the group; a connected member is never picked by the hash', () => {
    const members = ['r1', 'r2', 'r3'].flatMap((n) => [usock(n, 'a', RP), bind(n, '10.0.0.2:5000')]);
    const sources = Array.from({ length: 24 }, (_, i) => `- { datagram: { from: client, source: "10.0.0.100:${7000 + i}", to: "10.0.0.2:5000" }, expect: [r1, r2, r3] }`);
    const spread = check([...members, ...sources]);
    const got = new Set(spread.steps.slice(6).map((s) => s.result));
    expect([...got].sort()).toEqual(['r1', 'r2', 'r3']);
    const connected = check([...members, '- { connect: r2, to: "10.0.0.50:9", expect: ok }', ...sources.map((s) => s.replace('[r1, r2, r3]', '[r1, r3]'))]);
    expect(connected.steps.slice(7).some((s) => s.result === 'r1') && connected.steps.slice(7).some((s) => s.result === 'r3')).toBe(true);
  });

  it('a specific SO_REUSEPORT group and a wildcard one stay apart', () => {
    check([usock('s1', 'a', RP), bind('s1', '10.0.0.2:5000'), usock('s2', 'a', RP), bind('s2', '10.0.0.2:5000'),
      usock('w1', 'a', RP), bind('w1', '0.0.0.0:5000'), usock('w2', 'a', RP), bind('w2', '0.0.0.0:5000'),
      dgram('10.0.0.2:5000', '[s1, s2]', 'count: 4'), dgram('10.0.0.1:5000', '[w1, w2]', 'count: 4')]);
  });

  it('connect() on a 0.0.0.0-bound socket fixes its local address to the route\'s source', () => {
    const run = check([usock('q'), bind('q', '0.0.0.0:5000'), '- { connect: q, to: "10.0.1.100:53", expect: ok }']);
    expect(run.steps[2]!.reason).toContain('its local address becomes 10.0.1.1');
  });
});

describe('linux UDP: broadcast (KERNEL-FACTS "Broadcast and multicast"; __udp4_lib_mcast_deliver, __udp_is_mcast_sock)', () => {
  const base = [usock('any', 'root', RA), bind('any', '0.0.0.0:5000'), usock('bcast', 'root', RA), bind('bcast', '10.0.0.255:5000'),
    usock('uni', 'root', RA), bind('uni', '10.0.0.1:5000'), usock('all', 'root', RA), bind('all', '255.255.255.255:5000'),
    usock('tx', 'root', 'options: { SO_BROADCAST: true }', 'client'), usock('mute', 'root', '', 'client')];
  it.each<Row>([
    ['a subnet broadcast reaches 0.0.0.0 and the broadcast address, not a unicast address', [...base, '- { datagram: { socket: tx, to: "10.0.0.255:5000" }, expect: any+bcast }']],
    ['255.255.255.255 reaches 0.0.0.0 and 255.255.255.255', [...base, '- { datagram: { socket: tx, to: "255.255.255.255:5000" }, expect: all+any }']],
    ['no ICMP for a broadcast to an unused port: dropped', [...base, '- { datagram: { socket: tx, to: "10.0.0.255:5001" }, expect: dropped }']],
    ['the sender needs SO_BROADCAST', [...base, '- { datagram: { socket: mute, to: "10.0.0.255:5000" }, expect: EACCES }']],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('linux UDP: multicast (KERNEL-FACTS "Broadcast and multicast"; ip_mc_sf_allow, inet6_mc_check)', () => {
  const two = [usock('a', 'root', RA), bind('a', '0.0.0.0:5353'), usock('b', 'root', RA), bind('b', '224.0.0.251:5353'),
    usock('u', 'root', RA), bind('u', '10.0.0.1:5353')];
  const send = (exp: string, extra = ''): string => `- { datagram: { from: client, to: "224.0.0.251:5353"${extra} }, expect: ${exp} }`;
  it.each<Row>([
    ['no join anywhere: dropped', [...two, send('dropped')]],
    ['one socket joins: every socket on the port (wildcard or the group) gets a copy; a unicast-bound one none',
      [...two, '- { join: a, group: 224.0.0.251, interface: eth0, expect: ok }', send('a+b')]],
    ['IP_MULTICAST_ALL off: only its own joins', [...two, '- { setsockopt: b, options: { IP_MULTICAST_ALL: false } }',
      '- { join: a, group: 224.0.0.251, interface: eth0 }', send('a')]],
    ['membership is per interface', [...two, '- { join: a, group: 224.0.0.251, interface: eth1 }', send('dropped')]],
    ['the same join twice: EADDRINUSE; a leave of no membership: EADDRNOTAVAIL',
      [...two, '- { join: a, group: 224.0.0.251, interface: eth0 }', '- { join: a, group: 224.0.0.251, interface: eth0, expect: EADDRINUSE }',
        '- { leave: b, group: 224.0.0.251, expect: EADDRNOTAVAIL }', '- { leave: a, group: 224.0.0.251, expect: ok }', send('dropped')]],
    ['224.0.0.1 needs no join', [usock('a', 'root', RA), bind('a', '0.0.0.0:5000'), '- { datagram: { from: client, to: "224.0.0.1:5000" }, expect: a }']],
    ['the host\'s own multicast loops back unless IP_MULTICAST_LOOP is off',
      [...two, '- { join: a, group: 224.0.0.251, interface: eth0 }', usock('tx'), '- { datagram: { socket: tx, to: "224.0.0.251:5353", interface: eth0 }, expect: a+b }',
        usock('quiet', 'root', 'options: { IP_MULTICAST_LOOP: false }'), '- { datagram: { socket: quiet, to: "224.0.0.251:5353", interface: eth0 }, expect: dropped }']],
    ['a dual-stack AF_INET6 socket that joined an IPv4 group receives it; an IPv6-only one does not',
      [usock6('d', 'options: { SO_REUSEADDR: true }'), bind('d', '[::]:5353'), '- { join: d, group: 224.0.0.251, interface: eth0 }', send('d')]],
    ['an AF_INET6 socket starts with IP_MULTICAST_ALL off: a dual-stack socket hears only IPv4 groups it joined (seen on 6.18)',
      [...two, usock6('d6', 'options: { SO_REUSEADDR: true }'), bind('d6', '[::]:5353'), '- { join: a, group: 224.0.0.251, interface: eth0 }', send('a+b'),
        '- { setsockopt: d6, options: { IP_MULTICAST_ALL: true } }', send('a+b+d6')]],
    ['closing the only member ends the host\'s membership', [...two, '- { join: a, group: 224.0.0.251, interface: eth0 }', '- { close: a, expect: ok }', send('dropped')]],
    ['IPv6: ff02::fb joined on eth0 reaches the [::] socket', [usock6('v6', 'options: { IPV6_V6ONLY: true }'), bind('v6', '[::]:5353'),
      '- { join: v6, group: "ff02::fb", interface: eth0 }', '- { datagram: { from: client, to: "[ff02::fb]:5353", interface: eth0 }, expect: v6 }']],
  ])('%s', (_t, steps) => { check(steps); });

  it('IP_MULTICAST_ALL is Linux\'s: ENOPROTOOPT under freebsd when it has UDP rules, unsupported without', () => {
    const sc = parseScenario(scenario([usock('m', 'root', 'options: { IP_MULTICAST_ALL: false }')]), 'x.yaml');
    const r = runPolicy(sc, 'freebsd').steps[0]!;
    expect(['ENOPROTOOPT', 'unsupported']).toContain(r.result);
  });
});
