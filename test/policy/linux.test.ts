// Policy `linux`: one row per case, each citing SEMANTICS.md §1 or a line of KERNEL-FACTS.md
// (the real 6.18 kernel). A row is a list of scenario steps (YAML flow maps) whose `expect`s are
// the decisions asserted; runPolicy runs them without a packet sink.

import { describe, expect, it } from 'vitest';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, RP, bind, close, connect, expectSteps, listen, listening, portOf, sock, sock6 } from './cases.js';

const POLICY = 'linux';

// server: eth0 (10.0.0.1, 10.0.0.2, fd00::1) on lan, eth1 (10.0.1.1) on lan2; client likewise.
const hosts = (sysctl = ''): string => `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, fd00::1/64] }
      eth1: { addresses: [10.0.1.1/24], link: lan2 }
    processes: { root: { uid: 0 }, a: { uid: 1000 }, a2: { uid: 1000 }, b: { uid: 1001 } }
    ${sysctl ? `sysctl: ${sysctl}` : ''}
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
      eth1: { addresses: [10.0.1.100/24], link: lan2 }`;

function scenario(steps: readonly string[], sysctl = ''): string {
  return `name: linux policy case\nseed: 5\nlinks: { lan: { latency: 100us }, lan2: { latency: 100us } }\nhosts:${hosts(sysctl)}\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`;
}

/** Runs the steps under the policy and asserts every expectation written on them. */
function check(steps: readonly string[], sysctl = ''): PolicyRun {
  return expectSteps(POLICY, scenario(steps, sysctl));
}


type Row = [title: string, steps: string[], sysctl?: string];

describe('linux: TIME_WAIT and restarts (SEMANTICS §1.8, KERNEL-FACTS "A server that closes ... TIME_WAIT")', () => {
  it.each<Row>([
    // §1.8 row 1: SO_REUSEADDR old and new, server-side TIME_WAIT: bind ok, listen ok
    ['old RA, new RA, TIME_WAIT: bind and listen ok', [...listening('old', '0.0.0.0:8080', 'root', RA), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), sock('new', 'root', RA), bind('new', '0.0.0.0:8080'), listen('new'), connect('10.0.0.1:8080', 'new')]],
    // §1.8 row 2: the new socket lacks SO_REUSEADDR
    ['old RA, new none, TIME_WAIT: EADDRINUSE', [...listening('old', '0.0.0.0:8080', 'root', RA), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), sock('new'), bind('new', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §1.8 row 3: the TIME_WAIT socket carries the old listener's missing flag (both must set it)
    ['old none, new RA, TIME_WAIT: EADDRINUSE', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), sock('new', 'root', RA), bind('new', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §1.8 row 3 for a specific address: the TIME_WAIT child holds 10.0.0.1:8080
    ['old none, new RA on the specific address, TIME_WAIT: EADDRINUSE', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), sock('new', 'root', RA), bind('new', '10.0.0.1:8080', 'EADDRINUSE'), sock('new2', 'root', RA), bind('new2', '10.0.0.2:8080')]],
    // §1.8 row 4: the client closed first, the server holds no TIME_WAIT
    ['client closed first: the port is free at once', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: client'),
      close('old'), sock('new'), bind('new', '0.0.0.0:8080'), listen('new')]],
    // §1.8 row 5 ("still ESTABLISHED") cannot be reached: a close step closes the listener's
    // connections server side first (SCENARIO.md). Closing a listener with open connections makes TIME_WAIT:
    ['close of a listener with open connections: RA/RA restart ok', [...listening('old', '0.0.0.0:8080', 'root', RA), connect('10.0.0.1:8080', 'old', 'close: none'),
      close('old'), sock('new', 'root', RA), bind('new', '0.0.0.0:8080'), listen('new')]],
    ['close of a listener with open connections: none/none restart EADDRINUSE', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: none'),
      close('old'), sock('new'), bind('new', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §1.8 row 6: after TCP_TIMEWAIT_LEN (60 s)
    ['after 61 s: ok without SO_REUSEADDR', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), '- { wait: 61s }', sock('new'), bind('new', '0.0.0.0:8080'), listen('new'), connect('10.0.0.1:8080', 'new')]],
    // §1.8 row 6, boundary: 59 s is still inside TIME_WAIT
    ['after 59 s: still EADDRINUSE', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), '- { wait: 59s }', sock('new'), bind('new', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §1.8 row 7 / §1.3: SO_REUSEPORT across uids is allowed over TIME_WAIT (uid test skipped)
    ['SO_REUSEPORT uid 1000 TIME_WAIT, uid 1001 SO_REUSEPORT: ok', [...listening('old', '0.0.0.0:8080', 'a', RP), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), sock('new', 'b', RP), bind('new', '0.0.0.0:8080'), listen('new')]],
    // §1.3: ...but not over a live listener of another uid
    ['SO_REUSEPORT uid 1000 listening, uid 1001 SO_REUSEPORT: EADDRINUSE', [...listening('old', '0.0.0.0:8080', 'a', RP),
      sock('new', 'b', RP), bind('new', '0.0.0.0:8080', 'EADDRINUSE')]],
  ])('%s', (_t, steps, sysctl) => { check(steps, sysctl); });
});

describe('linux: bind/listen conflicts (SEMANTICS §1.3, §1.4; KERNEL-FACTS lines 1-4)', () => {
  it.each<Row>([
    // KERNEL-FACTS 1: a LISTEN socket on 0.0.0.0:P (RA) refuses a specific bind, RA on both
    ['wildcard listening, specific RA bind: EADDRINUSE', [...listening('any', '0.0.0.0:8080', 'root', RA), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080', 'EADDRINUSE')]],
    // KERNEL-FACTS 1: the other way round
    ['specific listening, wildcard RA bind: EADDRINUSE', [...listening('spec', '10.0.0.2:8080', 'root', RA), sock('any', 'root', RA), bind('any', '0.0.0.0:8080', 'EADDRINUSE')]],
    // KERNEL-FACTS 2 / §1.4 listen re-check: both binds ok, the second listen fails
    ['RA wildcard and specific, both bound: second listen EADDRINUSE', [sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'root', RA),
      bind('spec', '10.0.0.2:8080'), listen('any'), listen('spec', 'EADDRINUSE'), connect('10.0.0.2:8080', 'any')]],
    // §1.4: whoever listens first wins; a failed listen leaves the socket bound (a second bind is EINVAL)
    ['RA both bound, specific listens first: wildcard listen EADDRINUSE', [sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'root', RA),
      bind('spec', '10.0.0.2:8080'), listen('spec'), listen('any', 'EADDRINUSE'), bind('any', '0.0.0.0:8081', 'EINVAL'), connect('10.0.0.1:8080', 'refused')]],
    // KERNEL-FACTS 3: without SO_REUSEADDR a specific bind under a bound (not listening) wildcard fails
    ['no RA: specific bind after wildcard bound: EADDRINUSE', [sock('any'), bind('any', '0.0.0.0:8080'), sock('spec'), bind('spec', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §1.3: both sockets need SO_REUSEADDR
    ['RA on the first only: EADDRINUSE', [sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), sock('spec'), bind('spec', '10.0.0.2:8080', 'EADDRINUSE')]],
    ['RA on the second only: EADDRINUSE', [sock('any'), bind('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §0: two different specific addresses never overlap
    ['two specific addresses, no options: both listen', [...listening('s1', '10.0.0.1:8080'), ...listening('s2', '10.0.0.2:8080'),
      connect('10.0.0.1:8080', 's1'), connect('10.0.0.2:8080', 's2')]],
    // §1.3: two RA sockets on the same wildcard, neither listening: ok; then only one may listen
    ['RA/RA same wildcard, not listening: both bind, one listens', [sock('x', 'root', RA), bind('x', '0.0.0.0:8080'), sock('y', 'root', RA),
      bind('y', '0.0.0.0:8080'), listen('x'), listen('y', 'EADDRINUSE')]],
    // KERNEL-FACTS 4 / §1.3: SO_REUSEPORT, same uid: two wildcard listeners
    ['SO_REUSEPORT same uid: two wildcard listeners', [...listening('w1', '0.0.0.0:8080', 'a', RP), ...listening('w2', '0.0.0.0:8080', 'a2', RP),
      connect('10.0.0.1:8080', '[w1, w2]')]],
    // KERNEL-FACTS 4: a wildcard and a specific SO_REUSEPORT listener coexist; the specific one gets its address
    ['SO_REUSEPORT same uid: wildcard and specific coexist', [...listening('w', '0.0.0.0:8080', 'a', RP), ...listening('s', '10.0.0.2:8080', 'a2', RP),
      connect('10.0.0.2:8080', 's'), connect('10.0.0.1:8080', 'w')]],
    // KERNEL-FACTS 4: another uid gets EADDRINUSE, for the wildcard and a specific address alike
    ['SO_REUSEPORT other uid: EADDRINUSE on wildcard and specific', [...listening('w', '0.0.0.0:8080', 'a', RP), sock('x', 'b', RP),
      bind('x', '0.0.0.0:8080', 'EADDRINUSE'), sock('y', 'b', RP), bind('y', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §1.3: SO_REUSEPORT on one side only is no sharing
    ['SO_REUSEPORT on one side only: EADDRINUSE', [...listening('w', '0.0.0.0:8080', 'a', RP), sock('x', 'a2'), bind('x', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §1.3: SO_REUSEPORT same uid, both only bound, then both listen
    ['SO_REUSEPORT same uid bound first, both listen', [sock('w1', 'a', RP), bind('w1', '0.0.0.0:8080'), sock('w2', 'a', RP), bind('w2', '0.0.0.0:8080'),
      listen('w1'), listen('w2')]],
  ])('%s', (_t, steps, sysctl) => { check(steps, sysctl); });
});

describe('linux: bind checks (SEMANTICS §1.1, §1.9; KERNEL-FACTS lines 8-11)', () => {
  it.each<Row>([
    // KERNEL-FACTS 8 / §1.1: an address the host lacks: EADDRNOTAVAIL
    ['non-local address: EADDRNOTAVAIL', [sock('s'), bind('s', '10.0.0.9:8080', 'EADDRNOTAVAIL')]],
    // KERNEL-FACTS 8 / §1.9: with IP_FREEBIND it succeeds
    ['non-local address with IP_FREEBIND: ok', [sock('s', 'root', 'options: { IP_FREEBIND: true }'), bind('s', '10.0.0.9:8080')]],
    // §1.9: ip_nonlocal_bind=1 allows it too
    ['non-local address with ip_nonlocal_bind: ok', [sock('s'), bind('s', '10.0.0.9:8080')], '{ ip_nonlocal_bind: 1 }'],
    // §1.2: IPv6 non-local EADDRNOTAVAIL, IP_FREEBIND ok
    ['non-local IPv6 address: EADDRNOTAVAIL; IP_FREEBIND ok', [sock6('s'), bind('s', '[fd00::9]:8080', 'EADDRNOTAVAIL'),
      sock6('t', 'options: { IP_FREEBIND: true }'), bind('t', '[fd00::9]:8080')]],
    // §1.1: the wildcard is always bindable; a local broadcast address too (inet_addr_type RTN_BROADCAST)
    ['own address of another interface: ok', [sock('s'), bind('s', '10.0.1.1:8080')]],
    // KERNEL-FACTS 9: uid 1000 binding port 80: EACCES
    ['uid 1000 port 80: EACCES', [sock('s', 'a'), bind('s', '0.0.0.0:80', 'EACCES')]],
    // §1.9: ip_unprivileged_port_start default 1024: 1023 EACCES, 1024 ok; root may bind 80
    ['uid 1000 port 1023 EACCES, 1024 ok; root 80 ok', [sock('s', 'a'), bind('s', '0.0.0.0:1023', 'EACCES'), sock('t', 'a'), bind('t', '0.0.0.0:1024'),
      sock('r'), bind('r', '0.0.0.0:80')]],
    // §1.9: with ip_unprivileged_port_start 80, port 80 is ok and 79 EACCES for uid 1000
    ['ip_unprivileged_port_start 80: 80 ok, 79 EACCES', [sock('s', 'a'), bind('s', '0.0.0.0:80'), sock('t', 'a'), bind('t', '0.0.0.0:79', 'EACCES')],
      '{ ip_unprivileged_port_start: 80 }'],
    // §1.2: the privilege check applies to IPv6 too
    ['uid 1000 binds [::]:80: EACCES', ['- { socket: s, process: server/a, family: inet6 }', bind('s', '[::]:80', 'EACCES')]],
    // §1.1: EACCES comes before the conflict check (port in use)
    ['uid 1000 port 80 in use: EACCES, not EADDRINUSE', [...listening('r', '0.0.0.0:80'), sock('s', 'a'), bind('s', '0.0.0.0:80', 'EACCES')]],
    // KERNEL-FACTS 10 / §1.1: a second bind on a bound socket: EINVAL
    ['second bind: EINVAL', [sock('s'), bind('s', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EINVAL')]],
    // §1.1: EADDRNOTAVAIL is checked before "already bound"
    ['re-bind to a non-local address: EADDRNOTAVAIL, not EINVAL', [sock('s'), bind('s', '0.0.0.0:8080'), bind('s', '10.0.0.9:8081', 'EADDRNOTAVAIL')]],
    // §1.1: a listening socket is not CLOSE: EINVAL
    ['bind of a listening socket: EINVAL', [...listening('s', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EINVAL')]],
    // §1.4: listen twice only updates the backlog
    ['listen twice: ok', [...listening('s', '0.0.0.0:8080'), listen('s')]],
    // §1.9: SO_REUSEPORT_LB and SO_EXCLUSIVEADDRUSE do not exist on Linux
    ['SO_REUSEPORT_LB and SO_EXCLUSIVEADDRUSE: ENOPROTOOPT', ['- { socket: s, process: server/root, options: { SO_REUSEPORT_LB: true }, expect: ENOPROTOOPT }',
      '- { socket: t, process: server/root, options: { SO_EXCLUSIVEADDRUSE: true }, expect: ENOPROTOOPT }']],
    // KERNEL-FACTS 11: no listener on the port: RST; nobody owns the address: no ARP answer
    ['connect to a closed port: refused; to an unowned address: unreachable', [connect('10.0.0.1:9999', 'refused'), connect('10.0.0.77:9999', 'unreachable')]],
  ])('%s', (_t, steps, sysctl) => { check(steps, sysctl); });
});

describe('linux: IPv6, IPV6_V6ONLY and v4-mapped binds (SEMANTICS §1.2, §1.3 addr_equal; KERNEL-FACTS line 6)', () => {
  const V6ONLY = 'options: { IPV6_V6ONLY: true }';
  it.each<Row>([
    // KERNEL-FACTS 6: [::]:P dual-stack blocks 0.0.0.0:P and receives IPv4 as v4-mapped
    ['[::] dual-stack blocks 0.0.0.0 and gets IPv4', [sock6('v6'), bind('v6', '[::]:8080'), listen('v6'), sock('v4'), bind('v4', '0.0.0.0:8080', 'EADDRINUSE'),
      connect('10.0.0.1:8080', 'v6'), connect('[fd00::1]:8080', 'v6')]],
    // KERNEL-FACTS 6: with IPV6_V6ONLY both coexist, each family to its own socket
    ['[::] V6ONLY and 0.0.0.0 coexist', [sock6('v6', V6ONLY), bind('v6', '[::]:8080'), listen('v6'), sock('v4'), bind('v4', '0.0.0.0:8080'), listen('v4'),
      connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'v6')]],
    // §1.3 addr_equal, other order: 0.0.0.0 first blocks a dual-stack [::] but not a V6ONLY one
    ['0.0.0.0 first: [::] dual EADDRINUSE, [::] V6ONLY ok', [...listening('v4', '0.0.0.0:8080'), sock6('d'), bind('d', '[::]:8080', 'EADDRINUSE'),
      sock6('o', V6ONLY), bind('o', '[::]:8080')]],
    // §1.3: a specific IPv4 listener blocks a dual-stack [::] (it matches every IPv4 address)
    ['10.0.0.1 first: [::] dual EADDRINUSE', [...listening('v4', '10.0.0.1:8080'), sock6('d'), bind('d', '[::]:8080', 'EADDRINUSE')]],
    // §1.3: two [::] sockets conflict without options
    ['[::] twice: EADDRINUSE', [sock6('x'), bind('x', '[::]:8080'), sock6('y'), bind('y', '[::]:8080', 'EADDRINUSE')]],
    // §1.3: [::] V6ONLY still conflicts with [::] dual on the IPv6 side
    ['[::] V6ONLY then [::] dual: EADDRINUSE', [sock6('x', V6ONLY), bind('x', '[::]:8080'), sock6('y'), bind('y', '[::]:8080', 'EADDRINUSE')]],
    // §1.2: a v4-mapped address on an IPV6_V6ONLY socket: EINVAL
    ['v4-mapped bind on a V6ONLY socket: EINVAL', [sock6('x', V6ONLY), bind('x', '[::ffff:10.0.0.1]:8080', 'EINVAL')]],
    // §1.2: the v4 part of a mapped address must be local
    ['v4-mapped non-local address: EADDRNOTAVAIL', [sock6('x'), bind('x', '[::ffff:10.0.0.9]:8080', 'EADDRNOTAVAIL')]],
    // §1.3: ::ffff:a.b.c.d behaves as IPv4 a.b.c.d: overlaps 0.0.0.0 and itself, not another specific
    ['v4-mapped listener gets IPv4; 10.0.0.2 ok, 0.0.0.0 EADDRINUSE', [sock6('m'), bind('m', '[::ffff:10.0.0.1]:8080'), listen('m'),
      sock('s2'), bind('s2', '10.0.0.2:8080'), sock('w'), bind('w', '0.0.0.0:8080', 'EADDRINUSE'), sock('s1'), bind('s1', '10.0.0.1:8080', 'EADDRINUSE'),
      connect('10.0.0.1:8080', 'm')]],
    // §1.3 ipv6_rcv_saddr_equal: a V6ONLY [::] does not cover a v4-mapped address
    ['[::] V6ONLY then v4-mapped: ok', [sock6('o', V6ONLY), bind('o', '[::]:8080'), sock6('m'), bind('m', '[::ffff:10.0.0.1]:8080')]],
    // §1.2: a specific IPv6 address makes the socket IPv6-only: 0.0.0.0 of the same port is free
    ['[fd00::1] then 0.0.0.0: ok', [sock6('s6'), bind('s6', '[fd00::1]:8080'), listen('s6'), ...listening('v4', '0.0.0.0:8080'),
      connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 's6')]],
    // An accepted child of a dual-stack [::] listener stays dual-stack; its IPv4 view is 127.0.0.6
    // (LOOPBACK4_IPV6): a wildcard bind meets it, a bind of 127.0.0.6 does not (bhash2: only its own
    // address's and the wildcard buckets) [inet_csk_bind_conflict, inet_use_bhash2_on_bind]; checked on 6.18,
    // scenarios/ipv4-view-of-ipv6.yaml. Both answers in one row: the old walk over every owner said EADDRINUSE twice.
    ['a dual-stack child on fd00::1 (TIME_WAIT): 127.0.0.6 ok, 0.0.0.0 EADDRINUSE', [sock6('L'), bind('L', '[::]:8080'), listen('L'),
      connect('[fd00::1]:8080', 'L', 'close: server'), close('L'), sock('n'), bind('n', '127.0.0.6:8080'), close('n'),
      sock('w'), bind('w', '0.0.0.0:8080', 'EADDRINUSE'), sock6('m'), bind('m', '[::ffff:127.0.0.6]:8080')]],
    // The same for a bind of 127.0.0.6 after a specific IPv6 listener: bind() made it IPv6-only, nothing meets it.
    ['[fd00::1] listener then 127.0.0.6: ok', [sock6('s6'), bind('s6', '[fd00::1]:8080'), listen('s6'), sock('n'), bind('n', '127.0.0.6:8080')]],
    // ipv6_sockglue.c do_ipv6_setsockopt: IPV6_V6ONLY cannot change once bound
    ['IPV6_V6ONLY after bind: EINVAL', [sock6('x'), bind('x', '[::]:8080'), '- { setsockopt: x, options: { IPV6_V6ONLY: true }, expect: EINVAL }']],
    // ip_setsockopt: an IPv6 option on an inet socket: ENOPROTOOPT
    ['IPV6_V6ONLY on an inet socket: ENOPROTOOPT', [`- { socket: x, process: server/root, ${V6ONLY}, expect: ENOPROTOOPT }`]],
  ])('%s', (_t, steps, sysctl) => { check(steps, sysctl); });
});

describe('linux: SO_BINDTODEVICE (SEMANTICS §1.3 device rule, §1.6; KERNEL-FACTS line 7)', () => {
  const dev = (d: string, more = ''): string => `options: { SO_BINDTODEVICE: ${d}${more} }`;
  it.each<Row>([
    // KERNEL-FACTS 7: eth0 and eth1 sockets both hold 0.0.0.0:P; each gets its own device's connections
    ['eth0 and eth1 both hold 0.0.0.0', [...listening('d0', '0.0.0.0:8080', 'root', dev('eth0')), ...listening('d1', '0.0.0.0:8080', 'root', dev('eth1')),
      connect('10.0.0.1:8080', 'd0'), connect('10.0.1.1:8080', 'd1')]],
    // §1.3: device-bound vs unbound is checked normally
    ['eth0-bound and unbound: EADDRINUSE', [...listening('d0', '0.0.0.0:8080', 'root', dev('eth0')), sock('u'), bind('u', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §1.6: a socket bound to eth1 but to eth0's address gets nothing arriving on eth0: RST
    ['eth1-bound on eth0\'s address: refused', [...listening('d1', '10.0.0.1:8080', 'root', dev('eth1')), connect('10.0.0.1:8080', 'refused')]],
  ])('%s', (_t, steps, sysctl) => { check(steps, sysctl); });
});

describe('linux: listener lookup (SEMANTICS §1.6, §1.7)', () => {
  it.each<Row>([
    // §1.6: the exact-address pass comes first, whatever the list order
    ['exact beats wildcard (wildcard listened last)', [...listening('s', '10.0.0.2:8080', 'a', RP), ...listening('w', '0.0.0.0:8080', 'a', RP),
      connect('10.0.0.2:8080', 's'), connect('10.0.0.1:8080', 'w')]],
    // §1.6: an exact-address listener beats a wildcard one even if that is bound to the ingress device
    ['exact beats device-bound wildcard', [...listening('w', '0.0.0.0:8080', 'a', 'options: { SO_REUSEPORT: true, SO_BINDTODEVICE: eth0 }'),
      ...listening('s', '10.0.0.2:8080', 'a', RP), connect('10.0.0.2:8080', 's'), connect('10.0.0.1:8080', 'w')]],
    // §1.6: within a pass a device-bound listener (score 2) beats an unbound one (score 1)
    ['device-bound beats unbound within the wildcard pass', [...listening('u', '0.0.0.0:8080', 'a', RP),
      ...listening('d', '0.0.0.0:8080', 'a', 'options: { SO_REUSEPORT: true, SO_BINDTODEVICE: eth0 }'), connect('10.0.0.1:8080', 'd'), connect('10.0.1.1:8080', 'u')]],
    // §1.6 quirk: the first reuseport socket that raises the score answers at once: the unbound one that listened last wins on eth0
    ['reuseport quirk: unbound listener listed first wins on eth0', [...listening('d', '0.0.0.0:8080', 'a', 'options: { SO_REUSEPORT: true, SO_BINDTODEVICE: eth0 }'),
      ...listening('u', '0.0.0.0:8080', 'a', RP), connect('10.0.0.1:8080', 'u'), connect('10.0.1.1:8080', 'u')]],
    // §1.6: AF_INET and dual-stack AF_INET6 reuseport listeners: IPv4 to AF_INET (IPv6 reuseport sockets at the tail), IPv6 to AF_INET6
    ['AF_INET + dual-stack AF_INET6 reuseport (inet6 first)', ['- { socket: v6, process: server/a, family: inet6, options: { SO_REUSEPORT: true } }',
      bind('v6', '[::]:8080'), listen('v6'), ...listening('v4', '0.0.0.0:8080', 'a', RP), connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'v6')]],
    ['AF_INET + dual-stack AF_INET6 reuseport (inet first)', [...listening('v4', '0.0.0.0:8080', 'a', RP),
      '- { socket: v6, process: server/a, family: inet6, options: { SO_REUSEPORT: true } }', bind('v6', '[::]:8080'), listen('v6'),
      connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'v6')]],
    // §1.6: bound-but-not-listening sockets are invisible: RST
    ['bound, not listening: refused', [sock('s'), bind('s', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'refused')]],
    // §1.7: a member that leaves: the group shrinks to the rest
    ['reuseport group after a member closes', [...listening('w1', '0.0.0.0:8080', 'a', RP), ...listening('w2', '0.0.0.0:8080', 'a', RP), close('w1'),
      `- { connect: { from: client, to: "10.0.0.1:8080", count: 4 }, expect: w2 }`]],
    // §1.7: another uid's reuseport socket on the same port forms no group with them (it cannot even bind)
    ['reuseport group of one specific listener', [...listening('s', '10.0.0.2:8080', 'a', RP), connect('10.0.0.2:8080', 's'), connect('10.0.0.1:8080', 'refused')]],
  ])('%s', (_t, steps, sysctl) => { check(steps, sysctl); });

  // §1.7: members are picked by a hash of the 4-tuple; a few connections reach more than one member
  it('a reuseport group spreads connections over its members', () => {
    const run = check([...listening('w1', '0.0.0.0:8080', 'a', RP), ...listening('w2', '0.0.0.0:8080', 'a', RP), ...listening('w3', '0.0.0.0:8080', 'a', RP),
      `- { connect: { from: client, to: "10.0.0.1:8080", count: 12 }, expect: [w1, w2, w3] }`]);
    const results = run.steps.at(-1)!.results!;
    expect(results).toHaveLength(12);
    expect(new Set(results).size).toBeGreaterThan(1);
    expect(run.steps.at(-1)!.candidates![0]!.slice().sort()).toEqual(['w1', 'w2', 'w3']);
  });
});

describe('linux: automatic ports (SEMANTICS §1.5; KERNEL-FACTS line 10)', () => {
  
  // KERNEL-FACTS 10: port 0 picks a port in ip_local_port_range (32768 60999), odd first (§1.5)
  it('bind to port 0 picks an odd port in ip_local_port_range', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0')]);
    const port = portOf(run.steps[1]!.reason);
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(port).toBeLessThanOrEqual(60999);
    expect(port % 2).toBe(1);
  });

  // §1.5: with SO_REUSEADDR the lower half [low, low + 2*((high+1-low)//4)) is scanned first
  it('bind to port 0 with SO_REUSEADDR picks from the lower half', () => {
    const run = check([sock('s', 'root', RA), bind('s', '0.0.0.0:0')]);
    const port = portOf(run.steps[1]!.reason);
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(port).toBeLessThan(32768 + 2 * Math.floor((60999 + 1 - 32768) / 4));
  });

  // §1.5: a narrowed range is honoured (range 40000 40009 gave 40007 on the kernel: odd)
  it('ip_local_port_range "40000 40009" is honoured', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0')], '{ ip_local_port_range: "40000 40009" }');
    const port = portOf(run.steps[1]!.reason);
    expect(port).toBeGreaterThanOrEqual(40000);
    expect(port).toBeLessThanOrEqual(40009);
    expect(port % 2).toBe(1);
  });

  // KERNEL-FACTS 10 / §1.4: listen() on an unbound socket binds an ephemeral port first; a second bind is EINVAL
  it('listen on an unbound socket auto-binds an ephemeral port', () => {
    const run = check([sock('s'), listen('s'), bind('s', '0.0.0.0:8080', 'EINVAL')]);
    const port = portOf(run.steps[1]!.reason);
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(port).toBeLessThanOrEqual(60999);
  });

  // §1.5: an automatic port never overlaps an owner (relax = false); with a range of 2 ports, one held
  it('port 0 skips a held port, and fails when the range is exhausted', () => {
    const run = check([...listening('h', '0.0.0.0:40001'), sock('s'), bind('s', '0.0.0.0:0'), sock('t'), bind('t', '0.0.0.0:0', 'EADDRINUSE')],
      '{ ip_local_port_range: "40000 40001" }');
    expect(portOf(run.steps[4]!.reason)).toBe(40000);
  });
});

// setsockopt after bind or listen
const setopt = (name: string, opts: string, exp = 'ok'): string => `- { setsockopt: ${name}, options: { ${opts} }, expect: ${exp} }`;
const RA_RP = 'options: { SO_REUSEADDR: true, SO_REUSEPORT: true }';

describe('linux: the bind bucket\'s SO_REUSEPORT fast path (inet_csk_get_port, sk_reuseport_match, inet_csk_update_fastreuse; scenario reuseport-fastpath, every row checked on 6.18)', () => {
  it.each<Row>([
    // The first SO_REUSEPORT socket leaves the bucket STRICT with its uid and address; a match skips the owners (y lacks SO_REUSEPORT)
    ['STRICT 0.0.0.0: a SO_REUSEPORT-only socket joins past a SO_REUSEADDR-only owner', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock('x', 'root', RA_RP), bind('x', '0.0.0.0:8080'), sock('z', 'root', RP), bind('z', '0.0.0.0:8080')]],
    // The listen re-check (inet_csk_listen_start -> inet_csk_get_port) takes the same shortcut; z joins x's group
    ['STRICT 0.0.0.0: listen too, and z joins x\'s group', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock('x', 'root', RA_RP), bind('x', '0.0.0.0:8080'), listen('x'), sock('z', 'root', RP), bind('z', '0.0.0.0:8080'), listen('z'),
      connect('10.0.0.1:8080', '[x, z]', 'count: 6')]],
    ['STRICT 10.0.0.1: the same specific address matches', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock('x', 'root', RA_RP), bind('x', '10.0.0.1:8080'), sock('z', 'root', RP), bind('z', '10.0.0.1:8080')]],
    // The record's wildcard covers a specific address, not the other way round; another uid never matches
    ['STRICT 10.0.0.1: another address, the wildcard, another uid: the owners decide (EADDRINUSE)', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock('x', 'root', RA_RP), bind('x', '10.0.0.1:8080'), sock('z1', 'root', RP), bind('z1', '10.0.0.2:8080', 'EADDRINUSE'),
      sock('z2', 'root', RP), bind('z2', '0.0.0.0:8080', 'EADDRINUSE'), sock('z3', 'a', RP), bind('z3', '10.0.0.1:8080', 'EADDRINUSE'),
      sock('z4', 'root', RP), bind('z4', '10.0.0.1:8080')]],
    ['STRICT 0.0.0.0 covers a specific address', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock('x', 'root', RA_RP), bind('x', '0.0.0.0:8080'), sock('z', 'root', RP), bind('z', '10.0.0.2:8080')]],
    // A SO_REUSEPORT socket that did not match resets the record to its own address
    ['a non-matching SO_REUSEPORT bind resets the record', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock('x', 'root', RA_RP), bind('x', '10.0.0.1:8080'), sock('w', 'root', RA_RP), bind('w', '10.0.0.2:8080'),
      sock('z1', 'root', RP), bind('z1', '10.0.0.1:8080', 'EADDRINUSE'), sock('z2', 'root', RP), bind('z2', '10.0.0.2:8080')]],
    // A socket without SO_REUSEPORT clears it (fastreuseport = 0)
    ['a bind without SO_REUSEPORT clears the record', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock('x', 'root', RA_RP), bind('x', '10.0.0.1:8080'), sock('v', 'root', RA), bind('v', '10.0.0.2:8080'),
      sock('z', 'root', RP), bind('z', '10.0.0.1:8080', 'EADDRINUSE')]],
    // ipv6_rcv_saddr_equal(record, sk, true, false): a dual-stack [::] covers IPv4 and v4-mapped addresses, and [::] V6ONLY
    ['STRICT [::] dual-stack covers 10.0.0.1 and ::ffff:10.0.0.2', [sock('y', 'root', RA), bind('y', '0.0.0.0:8080'),
      sock6('x', RA_RP), bind('x', '[::]:8080'), sock('z', 'root', RP), bind('z', '10.0.0.1:8080'),
      sock6('z2', RP), bind('z2', '[::ffff:10.0.0.2]:8080'), sock6('z3', 'options: { SO_REUSEPORT: true, IPV6_V6ONLY: true }'), bind('z3', '[::]:8080')]],
    ['STRICT [fd00::1] matches [fd00::1]', [sock6('y', RA), bind('y', '[::]:8080'),
      sock6('x', RA_RP), bind('x', '[fd00::1]:8080'), sock6('z', RP), bind('z', '[fd00::1]:8080')]],
    // ...but a V6ONLY [::] record covers no IPv4 address (st8)
    ['STRICT [::] V6ONLY does not cover 0.0.0.0', [sock('y'), bind('y', '0.0.0.0:8080'), listen('y'),
      sock6('x', 'options: { IPV6_V6ONLY: true, SO_REUSEPORT: true }'), bind('x', '[::]:8080'),
      sock('z', 'root', RP), bind('z', '0.0.0.0:8080', 'EADDRINUSE'), listen('z'), connect('10.0.0.1:8080', 'y')]],
    // setsockopt does not touch the bucket: SO_REUSEPORT cleared after bind still lets b in; a itself no longer matches
    ['SO_REUSEPORT cleared after bind: b binds, a cannot listen', [sock('a', 'root', RP), bind('a', '0.0.0.0:8080'), setopt('a', 'SO_REUSEPORT: false'),
      sock('b', 'root', RP), bind('b', '0.0.0.0:8080'), listen('a', 'EADDRINUSE'), listen('b'), connect('10.0.0.1:8080', 'b', 'count: 3')]],
    // Cleared after listen: a keeps its group of one but has no SO_REUSEPORT for b to join; b (head of the list) gets everything
    ['SO_REUSEPORT cleared after listen: b binds, listens, gets the connections', [...listening('a', '0.0.0.0:8080', 'root', RP), setopt('a', 'SO_REUSEPORT: false'),
      sock('b', 'root', RP), bind('b', '0.0.0.0:8080'), listen('b'), connect('10.0.0.1:8080', 'b', 'count: 6')]],
    // The first socket also resets to STRICT (not FASTREUSEPORT_ANY): its specific address does not cover 0.0.0.0 (fr7)
    ['the first socket\'s record is STRICT: 10.0.0.1 does not cover 0.0.0.0', [sock('a', 'a', RP), bind('a', '10.0.0.1:8080'), setopt('a', 'SO_REUSEPORT: false'),
      sock('b', 'a', RP), bind('b', '0.0.0.0:8080', 'EADDRINUSE')]],
    // No SO_REUSEADDR fast path: tb->fastreuse is never set since 6.8 (fr1)
    ['SO_REUSEADDR cleared after bind: EADDRINUSE (no SO_REUSEADDR fast path)', [sock('a', 'root', RA), bind('a', '0.0.0.0:8080'), setopt('a', 'SO_REUSEADDR: false'),
      sock('b', 'root', RA), bind('b', '0.0.0.0:8080', 'EADDRINUSE'), listen('a')]],
    // The bucket lives as long as an owner does: here a TIME_WAIT child without SO_REUSEPORT (cleared before the accept)
    ['the record outlives its listener while a TIME_WAIT holds the port', [...listening('a', '0.0.0.0:8080', 'root', RP), setopt('a', 'SO_REUSEPORT: false'),
      connect('10.0.0.1:8080', 'a', 'close: server'), close('a'), sock('b', 'root', RP), bind('b', '0.0.0.0:8080'), sock('c'), bind('c', '10.0.0.2:8080', 'EADDRINUSE')]],
    // ...and goes with the last owner: a new bucket starts without a record
    ['the record goes with the port\'s last owner', [sock('a', 'root', RP), bind('a', '0.0.0.0:8080'), setopt('a', 'SO_REUSEPORT: false'), close('a'),
      sock('y', 'root', RA), bind('y', '0.0.0.0:8080'), sock('z', 'root', RP), bind('z', '0.0.0.0:8080', 'EADDRINUSE')]],
  ])('%s', (_t, steps, sysctl) => { check(steps, sysctl); });

  // reuseport_add_sock(sk, sk2) allocates sk2's group when it has none: a listener that set SO_REUSEPORT after listen() joins
  it('SO_REUSEPORT set after listen(): the old listener and the new one share a group', () => {
    const run = check([...listening('a', '0.0.0.0:8080'), setopt('a', 'SO_REUSEPORT: true'), sock('b', 'root', RP), bind('b', '0.0.0.0:8080'), listen('b'),
      connect('10.0.0.1:8080', '[a, b]', 'count: 8')]);
    const last = run.steps.at(-1)!;
    expect(new Set(last.candidates?.flat())).toEqual(new Set(['a', 'b']));
  });

  // The group is made only for a listener that has SO_REUSEPORT when the next one listens
  it('a listener without SO_REUSEPORT stays out of the group', () => {
    const run = check([...listening('a', '0.0.0.0:8080', 'root', RP), setopt('a', 'SO_REUSEPORT: false'), sock('b', 'root', RP), bind('b', '0.0.0.0:8080'), listen('b'),
      connect('10.0.0.1:8080', 'b', 'count: 8')]);
    expect(run.steps.at(-1)!.candidates?.flat()).not.toContain('a');
  });
});

describe('linux: a loopback TIME_WAIT taken over by connect() (tcp_tw_reuse = 2)', () => {
  const host = (extra: string) => `name: tw reuse
hosts:
  h:
    interfaces: { eth0: { addresses: [10.0.0.1/24] } }
    processes: { root: { uid: 0 } }
    sysctl: { ip_local_port_range: "40000 40000" }
steps:
  - { socket: web, process: h/root }
  - { bind: web, address: 0.0.0.0:8080 }
  - { listen: web }
  - { connect: { from: h, to: 127.0.0.1:8080, close: client }, expect: web }
${extra}`;

  it('not before tcp_tw_reuse_delay (1 s): the 4-tuple is still taken', () => {
    expectSteps('linux', host(`  - { wait: 900ms }
  - { connect: { from: h, to: 127.0.0.1:8080, close: client }, expect: EADDRNOTAVAIL }
  - { wait: 200ms }
  - { connect: { from: h, to: 127.0.0.1:8080, close: client }, expect: web }`));
  });

  // The old TIME_WAIT's end is still due a minute later; the connection now on the 4-tuple stays.
  it('the connection that took the TIME_WAIT over keeps the 4-tuple after the old TIME_WAIT\'s minute', () => {
    expectSteps('linux', host(`  - { wait: 2s }
  - { connect: { from: h, to: 127.0.0.1:8080, close: none }, expect: web }
  - { wait: 61s }
  - { connect: { from: h, to: 127.0.0.1:8080, close: none }, expect: EADDRNOTAVAIL }`));
  });

  it('a non-loopback address of the host is not taken over', () => {
    expectSteps('linux', host(`  - { connect: { from: h, to: 10.0.0.1:8080, close: client }, expect: EADDRNOTAVAIL }
  - { wait: 2s }
  - { connect: { from: h, to: 10.0.0.1:8080, close: none }, expect: EADDRNOTAVAIL }`).replace('to: 127.0.0.1:8080, close: client }, expect: web }', 'to: 10.0.0.1:8080, close: client }, expect: web }'));
  });
});
