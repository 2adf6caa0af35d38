// Policy `linux` against the kernel's own bind/reuse/lookup selftests (linux
// tools/testing/selftests/net/*.c), one row per assertion a scenario can express. Every row was
// also run on the live 6.18 kernel with `bindlab verify-kernel` (scenario files beside this draft):
// selftest, kernel and emulator agree on each. bind_wildcard.c is in ./bind-wildcard.test.ts.
// Loopback destinations (127.0.0.1, ::1) are reached by a client on the server host itself, as in
// the selftests; the `remote` rows repeat them with a client on another host.

import { describe, expect, it } from 'vitest';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, RP, bind, close, expectSteps, listen, portOf } from './cases.js';

const POLICY = 'linux';

const hosts = (sysctl = ''): string => `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, fd00::1/64] }
    processes: { root: { uid: 0 } }
    ${sysctl ? `sysctl: ${sysctl}` : ''}
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }`;

function check(steps: readonly string[], sysctl = ''): PolicyRun {
  return expectSteps(POLICY, `name: linux selftest case\nseed: 5\nhosts:${hosts(sysctl)}\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`);
}

// Sockets of server/root; inet6 when asked.
const sock = (name: string, opts = '', family: 'inet' | 'inet6' = 'inet'): string =>
  `- { socket: ${name}, process: server/root${family === 'inet6' ? ', family: inet6' : ''}${opts ? `, ${opts}` : ''} }`;
const sock6 = (name: string, opts = ''): string => sock(name, opts, 'inet6');
const listening = (name: string, addr: string, opts = '', family: 'inet' | 'inet6' = 'inet'): string[] =>
  [sock(name, opts, family), bind(name, addr), listen(name)];
// A connection from `from` (server = the host itself, over its loopback; client = another host).
const conn = (from: 'server' | 'client', to: string, exp: string, extra = ''): string =>
  `- { connect: { from: ${from}, to: "${to}"${extra ? `, ${extra}` : ''} }, expect: ${exp} }`;
const anyOf = (names: readonly string[]): string => `[${names.join(', ')}]`;
const range = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

type Row = [title: string, steps: string[], sysctl?: string];

describe('linux: reuseaddr_conflict.c (main)', () => {
  // open_port(0,0) listens on 127.0.0.1:9999 with SO_REUSEADDR; every open_port(0,1) (0.0.0.0:9999, RA)
  // must fail: before the V6ONLY [::] RA socket, beside it, and after it is closed.
  const steps = (spec: string): string[] => [
    ...listening('l', `${spec}:9999`, RA),
    sock('a1', RA), bind('a1', '0.0.0.0:9999', 'EADDRINUSE'), close('a1'),
    sock6('v6', 'options: { IPV6_V6ONLY: true, SO_REUSEADDR: true }'), bind('v6', '[::]:9999'),
    sock('a2', RA), bind('a2', '0.0.0.0:9999', 'EADDRINUSE'), close('a2'),
    close('v6'),
    sock('a3', RA), bind('a3', '0.0.0.0:9999', 'EADDRINUSE'), close('a3'),
  ];
  it.each<Row>([
    ['listener on 127.0.0.1 (as in the selftest)', steps('127.0.0.1')],
    ['listener on an eth0 address', steps('10.0.0.1')],
  ])('%s', (_t, s, sysctl) => { check(s, sysctl); });
});

describe('linux: bind_timewait.c (TEST_F(bind_timewait, 1), variants localhost and addrany)', () => {
  // create_timewait_socket: listen, connect, accept, close the child first (server TIME_WAIT), close
  // client and listener; a new socket without options binding the same address and port: EADDRINUSE.
  // The selftest binds port 0; the rows with a fixed port test the same check, the port0 rows let
  // bind(port 0) pick the port (range 40000-40001: bind takes the odd 40001, connect the even 40000).
  const tw = (a: string, dst: string, port: string, bindPort = port): string[] => [
    sock('srv'), bind('srv', `${a}:${bindPort}`), listen('srv'),
    conn('server', `${dst}:${port}`, 'srv', 'close: server'), close('srv'),
    sock('fd'), bind('fd', `${a}:${port}`, 'EADDRINUSE'),
  ];
  const R = '{ ip_local_port_range: "40000 40001" }';
  it.each<Row>([
    ['localhost', tw('127.0.0.1', '127.0.0.1', '40000')],
    ['addrany (connect() to 0.0.0.0 reaches 127.0.0.1)', tw('0.0.0.0', '0.0.0.0', '40000')],
    ['localhost, port 0', tw('127.0.0.1', '127.0.0.1', '40001', '0'), R],
    ['addrany, port 0', tw('0.0.0.0', '0.0.0.0', '40001', '0'), R],
  ])('%s', (_t, s, sysctl) => { check(s, sysctl); });

  it('bind(port 0) took 40001, the port the TIME_WAIT then holds', () => {
    const run = check(tw('127.0.0.1', '127.0.0.1', '40001', '0'), R);
    expect(portOf(run.steps[1]!.reason)).toBe(40001);
  });
});

describe('linux: reuseport_addr_any.c (main, TCP cases)', () => {
  // 2 AF_INET 0.0.0.0, 2 AF_INET6 [::] (dual-stack), the specific socket, 2 AF_INET, 2 AF_INET6, all
  // SO_REUSEPORT and listening on 8888; test(): the connection lands on the specific socket.
  const steps = (family: 'inet' | 'inet6', spec: string, from: 'server' | 'client', dst: string): string[] => [
    ...range(2, (i) => listening(`a4_${i}`, '0.0.0.0:8888', RP)).flat(),
    ...range(2, (i) => listening(`a6_${i}`, '[::]:8888', RP, 'inet6')).flat(),
    ...listening('spec', spec, RP, family),
    ...range(2, (i) => listening(`b4_${i}`, '0.0.0.0:8888', RP)).flat(),
    ...range(2, (i) => listening(`b6_${i}`, '[::]:8888', RP, 'inet6')).flat(),
    conn(from, dst, 'spec', 'count: 6'),
  ];
  it.each<Row>([
    ['TCP IPv4 (127.0.0.1)', steps('inet', '127.0.0.1:8888', 'server', '127.0.0.1:8888')],
    ['TCP IPv6 (::1)', steps('inet6', '[::1]:8888', 'server', '[::1]:8888')],
    ['TCP IPv4 mapped to IPv6 (::ffff:127.0.0.1)', steps('inet6', '[::ffff:127.0.0.1]:8888', 'server', '127.0.0.1:8888')],
    ['TCP IPv4, remote client', steps('inet', '10.0.0.1:8888', 'client', '10.0.0.1:8888')],
    ['TCP IPv6, remote client', steps('inet6', '[fd00::1]:8888', 'client', '[fd00::1]:8888')],
    ['TCP IPv4 mapped, remote client', steps('inet6', '[::ffff:10.0.0.1]:8888', 'client', '10.0.0.1:8888')],
  ])('%s', (_t, s, sysctl) => { check(s, sysctl); });
});

describe('linux: reuseport_dualstack.c (main, TCP cases)', () => {
  // build_rcv_fd: 5 AF_INET 0.0.0.0 and 5 dual-stack AF_INET6 [::] SO_REUSEPORT listeners on 8888,
  // either family first; test(): an IPv4 connection is received on an AF_INET socket.
  const v4 = range(5, (i) => `v4_${i}`);
  const steps = (first: 'v4' | 'v6', from: 'server' | 'client', dst: string): string[] => {
    const g4 = v4.flatMap((n) => listening(n, '0.0.0.0:8888', RP));
    const g6 = range(5, (i) => `v6_${i}`).flatMap((n) => listening(n, '[::]:8888', RP, 'inet6'));
    return [...(first === 'v4' ? [...g4, ...g6] : [...g6, ...g4]), conn(from, dst, anyOf(v4), 'count: 10')];
  };
  it.each<Row>([
    ['TCP IPv4 created before IPv6', steps('v4', 'server', '127.0.0.1:8888')],
    ['TCP IPv6 created before IPv4', steps('v6', 'server', '127.0.0.1:8888')],
    ['TCP IPv4 created before IPv6, remote client', steps('v4', 'client', '10.0.0.1:8888')],
    ['TCP IPv6 created before IPv4, remote client', steps('v6', 'client', '10.0.0.1:8888')],
  ])('%s', (_t, s, sysctl) => { check(s, sysctl); });
});

describe('linux: reuseport_bpf.c build_recv_group, without the BPF program', () => {
  // 10 SO_REUSEPORT wildcard listeners bind and listen; without a program the group's hash picks a member.
  const r = range(10, (i) => `r${i}`);
  it.each<Row>([
    ['IPv4 group, IPv4 sender', [...r.flatMap((n) => listening(n, '0.0.0.0:8000', RP)), conn('server', '127.0.0.1:8000', anyOf(r), 'count: 20')]],
    ['IPv6 group, IPv4 sender (v4-mapped)', [...r.flatMap((n) => listening(n, '[::]:8006', RP, 'inet6')), conn('server', '127.0.0.1:8006', anyOf(r), 'count: 20')]],
  ])('%s', (_t, s, sysctl) => { check(s, sysctl); });
});

describe('linux: bind_bhash.c / bind_bhash_test.c (main)', () => {
  // A SO_REUSEPORT listener and many bound SO_REUSEPORT sockets on the loopback's port 443 (600 x 40 in
  // the selftest, 30 here); a socket without options binds another address on the same port: ok.
  const steps = (family: 'inet' | 'inet6', cidr: string, setup: string, other: string): string[] => [
    `- { address: { host: server, interface: eth0, add: ${cidr} } }`,
    ...listening('lst', setup, RP, family),
    ...range(30, (i) => `s${i}`).flatMap((n) => [sock(n, RP, family), bind(n, setup)]),
    sock('x', '', family), bind('x', other),
  ];
  it.each<Row>([
    ['ipv4: 127.0.0.1 group, bind 10.8.8.8:443', steps('inet', '10.8.8.8/32', '127.0.0.1:443', '10.8.8.8:443')],
    ['ipv6: ::1 group, bind [2001:db8:0:f101::1]:443', steps('inet6', '2001:db8:0:f101::1/64', '[::1]:443', '[2001:db8:0:f101::1]:443')],
  ])('%s', (_t, s, sysctl) => { check(s, sysctl); });
});

describe('linux: sk_connect_zero_addr.c (main)', () => {
  // A SO_REUSEADDR listener on [::]:20000; connect() to [::]:20000 succeeds (it goes to ::1).
  it('connect() to [::] reaches the [::] listener', () => {
    check([...listening('fd1', '[::]:20000', RA, 'inet6'), conn('server', '[::]:20000', 'fd1')]);
  });
});

describe('linux: reuseaddr_ports_exhausted.c (TEST(reuseaddr_ports_exhausted_unreusable))', () => {
  // ip_local_port_range "32768 32768"; two bind(127.0.0.1:0): the first ok, the second fails for the
  // 12 option pairs where a socket lacks SO_REUSEADDR (the selftest's ip_autobind_reuse=1 does not
  // change these: the relaxed pass still conflicts).
  const pairs: [[number, number], [number, number]][] = [
    [[0, 0], [0, 0]], [[0, 0], [0, 1]], [[0, 0], [1, 0]], [[0, 0], [1, 1]],
    [[0, 1], [0, 0]], [[0, 1], [0, 1]], [[0, 1], [1, 0]], [[0, 1], [1, 1]],
    [[1, 0], [0, 0]], [[1, 0], [0, 1]], [[1, 0], [1, 0]], [[1, 0], [1, 1]],
  ];
  const R = '{ ip_local_port_range: "32768 32768" }';
  const rows = pairs.map(([ra, rp]): Row => [`reuseaddr ${ra.join(',')} reuseport ${rp.join(',')}`,
    [0, 1].flatMap((j) => [sock(`c${j}`, `options: { SO_REUSEADDR: ${!!ra[j]}, SO_REUSEPORT: ${!!rp[j]} }`), bind(`c${j}`, '127.0.0.1:0', j ? 'EADDRINUSE' : 'ok')]), R]);
  it.each<Row>(rows)('%s', (_t, s, sysctl) => { check(s, sysctl); });
});

describe('linux: ip_local_port_range.c, with the netns sysctl in place of IP_LOCAL_PORT_RANGE', () => {
  // The socket option is not in the scenario format; inet_sk_get_local_port_range clamps it to the
  // netns range, so the same picks follow from a netns range of the same ports.
  it.each<['inet' | 'inet6', string]>([['inet', '127.0.0.1:0'], ['inet6', '[::1]:0']])(
    'exhaust_8_port_range (%s): 8 binds take 40000-40007, a 9th is EADDRINUSE', (family, addr) => {
      const run = check([...range(8, (i) => `p${i}`).flatMap((n) => [sock(n, '', family), bind(n, addr)]), sock('p8', '', family), bind('p8', addr, 'EADDRINUSE')],
        '{ ip_local_port_range: "40000 40007" }');
      const ports = range(8, (i) => portOf(run.steps[2 * i + 1]!.reason)).sort((x, y) => x - y);
      expect(ports).toEqual([40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007]);
    });
  it.each<['inet' | 'inet6', string]>([['inet', '127.0.0.1:0'], ['inet6', '[::1]:0']])(
    'single_port_range (%s): a one-port range gives that port', (family, addr) => {
      const run = check([sock('s', '', family), bind('s', addr)], '{ ip_local_port_range: "45000 45000" }');
      expect(portOf(run.steps[1]!.reason)).toBe(45000);
    });
});
