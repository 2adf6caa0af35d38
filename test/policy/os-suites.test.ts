// The operating systems' own regression tests, translated into bindlab cases. Each row cites the
// test file and function it comes from; the expectation is what that test asserts. Loopback
// addresses of the originals become 10.0.0.1 / fd00::1 (a local specific address), ephemeral ports
// read back with getsockname become a fixed port, and "the unprivileged_user" becomes uid 1000.
// All rows hold; the two multibind rows of an unprivileged SO_REUSEPORT_LB bind over root's wildcard
// SO_REUSEPORT_LB socket disagreed until the freebsd policy dropped an older in_pcbbind_setup's exemption.
//
// Sources (repository, path, commit as stored in the index):
//  [FB-AF]  FreeBSD tests/sys/netinet/socket_afinet.c, 2024 Stormshield/Zeeb version (index id 2043120822):
//           multibind_test/socket_afinet_multibind, bind_connected_port_test/socket_afinet_bind_connected_port,
//           socket_afinet_bind_zero, socket_afinet_bind_ok
//  [FB-LB]  FreeBSD tests/sys/netinet/so_reuseport_lb_test.c (DominoTree/freebsd-src 576c9a26; basic_* also in
//           freebsd/freebsd-src 84ed59c4): basic_ipv4, basic_ipv6, double_listen_ipv4, double_listen_ipv6, bind_without_listen
//  [XNU]    apple-oss-distributions/xnu tests/socket_bind_35243417.c (8d741a5d): socket_bind_35243417(_root)
//  [ILL]    illumos/illumos-gate usr/src/test/net-tests/tests/ipv6/scope-test-v4.ksh (64130b0b) + dup_bind.py (493ee8fc)
//  [JOY]    TritonDataCenter/illumos-joyent usr/src/test/os-tests/tests/reuseport/rp_test_tcp_noopt.c (ae93ec48)
//  [OBSD]   openbsd/src regress/sys/netinet/in_pcbbind/runtest.c (92cb773a) main: a PROXY for bsd44 only
//           (4.4BSD-Lite2 has no test suite; OpenBSD is its descendant; the original uses SOCK_DGRAM)

import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/emu/policy/types.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { TWO_LINKS, TWO_LINK_HOSTS, caseText, expectSteps } from './cases.js';
import { freebsd } from '../../src/emu/policy/freebsd.js';
import { macos } from '../../src/emu/policy/macos.js';
import { bsd44 } from '../../src/emu/policy/bsd44.js';
import { illumos } from '../../src/emu/policy/illumos.js';

const check = (policy: Policy, steps: readonly string[]): PolicyRun =>
  expectSteps(policy, caseText(policy.name, TWO_LINK_HOSTS, steps, { top: TWO_LINKS }));

type Row = [title: string, steps: string[]];
type Opt = 'SO_REUSEADDR' | 'SO_REUSEPORT' | 'SO_REUSEPORT_LB' | null;
const sockF = (name: string, proc: string, fam: 'inet' | 'inet6', opts = ''): string =>
  `- { socket: ${name}, process: server/${proc}, family: ${fam}${opts ? `, options: { ${opts} }` : ''} }`;
const bindE = (name: string, addr: string, exp: string): string => `- { bind: ${name}, address: "${addr}", expect: ${exp} }`;
const setE = (name: string, opt: string): string => `- { setsockopt: ${name}, options: { ${opt}: true }, expect: ok }`;
const listenE = (name: string): string => `- { listen: ${name}, expect: ok }`;

// ---------------------------------------------------------------------------------------------
// [FB-AF] multibind_test: s = bind_socket(domain, opts[opti], unspec) binds FIRST and sets the option
// AFTER bind; then child_bind (root, or seteuid(unprivileged_user)) binds the same address without
// options (must fail with EADDRINUSE: `if (errno != EADDRINUSE) _exit(4)`), sets opts[optj], binds again.
// "Multi-binding is only allowed when both sockets have SO_REUSEPORT or SO_REUSEPORT_LB set":
//   priv:   `if (opts[opti] != 0 && opts[opti] != SO_REUSEADDR && opti == optj) ATF_REQUIRE(res); else ATF_REQUIRE(!res);`
//   unpriv: "Multi-binding is only allowed when both sockets have the same owner." `ATF_REQUIRE(!res);`
const OPTS: readonly Opt[] = [null, 'SO_REUSEADDR', 'SO_REUSEPORT', 'SO_REUSEPORT_LB'];
const multibindRows: Row[] = [];
for (const fam of ['inet', 'inet6'] as const) {
  for (const unspec of [false, true]) {
    const addr = fam === 'inet' ? (unspec ? '0.0.0.0:8080' : '10.0.0.1:8080') : (unspec ? '[::]:8080' : '[fd00::1]:8080');
    for (const [i, o1] of OPTS.entries()) {
      for (const [j, o2] of OPTS.entries()) {
        for (const priv of [true, false]) {
          const allowed = priv && o1 !== null && o1 !== 'SO_REUSEADDR' && i === j;
          multibindRows.push([
            `${fam} ${unspec ? 'wildcard' : 'specific'} first=${o1 ?? 'none'} second=${o2 ?? 'none'} ${priv ? 'root' : 'uid 1000'}: ${allowed ? 'ok' : 'EADDRINUSE'}`,
            [sockF('s', 'root', fam), bindE('s', addr, 'ok'), ...(o1 ? [setE('s', o1)] : []),
              sockF('c', priv ? 'root' : 'a', fam), bindE('c', addr, 'EADDRINUSE'), ...(o2 ? [setE('c', o2)] : []),
              bindE('c', addr, allowed ? 'ok' : 'EADDRINUSE')],
          ]);
        }
      }
    }
  }
}

describe('freebsd vs tests/sys/netinet/socket_afinet.c multibind_test (socket_afinet_multibind, SOCK_STREAM)', () => {
  it.each<Row>(multibindRows)('%s', (_t, steps) => { check(freebsd, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('freebsd vs tests/sys/netinet/socket_afinet.c (other bind cases)', () => {
  it.each<Row>([
    // bind_connected_port_test(AF_INET): listener on INADDR_ANY:P accepts one connection, listener closed; a plain bind
    // of 127.0.0.1:P fails with EADDRINUSE for root and for the unprivileged user (child_bind(...,0,false/true); ATF_REQUIRE(!res))
    ['bind_connected_port (AF_INET): plain bind over an ESTABLISHED child, root and uid 1000: EADDRINUSE', [
      sockF('l', 'root', 'inet'), bindE('l', '0.0.0.0:8080', 'ok'), listenE('l'),
      '- { connect: { from: client, to: "10.0.0.1:8080", close: none }, expect: l }', '- { close: l, expect: ok }',
      sockF('c1', 'root', 'inet'), bindE('c1', '10.0.0.1:8080', 'EADDRINUSE'), bindE('c1', '10.0.0.1:8080', 'EADDRINUSE'),
      sockF('c2', 'a', 'inet'), bindE('c2', '10.0.0.1:8080', 'EADDRINUSE'), bindE('c2', '10.0.0.1:8080', 'EADDRINUSE')]],
    // bind_connected_port_test(AF_INET6): the child binds in6addr_any:P (sin6 is not rewritten to loopback)
    ['bind_connected_port (AF_INET6): plain [::] bind over an ESTABLISHED child, root and uid 1000: EADDRINUSE', [
      sockF('l', 'root', 'inet6'), bindE('l', '[::]:8080', 'ok'), listenE('l'),
      '- { connect: { from: client, to: "[fd00::1]:8080", close: none }, expect: l }', '- { close: l, expect: ok }',
      sockF('c1', 'root', 'inet6'), bindE('c1', '[::]:8080', 'EADDRINUSE'), bindE('c1', '[::]:8080', 'EADDRINUSE'),
      sockF('c2', 'a', 'inet6'), bindE('c2', '[::]:8080', 'EADDRINUSE'), bindE('c2', '[::]:8080', 'EADDRINUSE')]],
    // socket_afinet_bind_zero / socket_afinet_bind_ok (SOCK_DGRAM in the test; TCP analogue): 0.0.0.0:0 and <local>:0 bind
    ['bind_zero / bind_ok (TCP analogue): port 0 on 0.0.0.0 and on a local address: ok', [
      sockF('z', 'root', 'inet'), bindE('z', '0.0.0.0:0', 'ok'), sockF('o', 'root', 'inet'), bindE('o', '10.0.0.1:0', 'ok')]],
  ])('%s', (_t, steps) => { check(freebsd, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('freebsd vs tests/sys/netinet/so_reuseport_lb_test.c', () => {
  // basic_ipv4 / basic_ipv6: 16 LB listeners on one address; lb_simple_accept_loop requires every listener to accept
  // more than nconns/nsds/8 (`ATF_REQUIRE_MSG(acceptcnt[i] > excnt, "uneven balancing")`). nconns 16384 -> 2048 here.
  const N = 16;
  const C = 2048;
  const names = Array.from({ length: N }, (_, k) => `l${k}`);
  it.each<[string, 'inet' | 'inet6', string]>([
    ['basic_ipv4', 'inet', '10.0.0.1'],
    ['basic_ipv6', 'inet6', '[fd00::1]'],
  ])('%s: 16 SO_REUSEPORT_LB listeners each get more than nconns/16/8', (_t, fam, a) => {
    const steps = names.flatMap((n) => [sockF(n, 'root', fam, 'SO_REUSEPORT_LB: true'), bindE(n, `${a}:8080`, 'ok'), listenE(n)]);
    steps.push(`- { connect: { from: client, to: "${a}:8080", count: ${C} }, expect: [${names.join(', ')}] }`);
    const run = check(freebsd, steps);
    const got = run.steps.at(-1)!.results!;
    for (const n of names) expect(got.filter((x) => x === n).length).toBeGreaterThan(Math.floor(C / N / 8));
  });

  it.each<Row>([
    // double_listen_ipv4/_ipv6: bind an LB socket to loopback:0, listen(s, 1) then listen(s, 2): both 0
    ['double_listen_ipv4', [sockF('s', 'root', 'inet', 'SO_REUSEPORT_LB: true'), bindE('s', '10.0.0.1:0', 'ok'), listenE('s'), listenE('s')]],
    ['double_listen_ipv6', [sockF('s', 'root', 'inet6', 'SO_REUSEPORT_LB: true'), bindE('s', '[fd00::1]:0', 'ok'), listenE('s'), listenE('s')]],
    // bind_without_listen: s bound; nsockets more LB sockets bind the same address (each 0), then each listens (each 0). 100 -> 10 here.
    ['bind_without_listen', [sockF('s', 'root', 'inet', 'SO_REUSEPORT_LB: true'), bindE('s', '10.0.0.1:8080', 'ok'),
      ...Array.from({ length: 10 }, (_, k) => [sockF(`s${k}`, 'root', 'inet', 'SO_REUSEPORT_LB: true'), bindE(`s${k}`, '10.0.0.1:8080', 'ok')]).flat(),
      ...Array.from({ length: 10 }, (_, k) => listenE(`s${k}`))]],
  ])('%s', (_t, steps) => { check(freebsd, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('macos vs xnu tests/socket_bind_35243417.c (SOCK_DGRAM in the test; TCP analogue, in6_pcbbind is shared)', () => {
  // alloc_and_bind_ports: s6 (IPV6_V6ONLY) binds [::]:i; s6_other (default) binding [::]:i must fail
  // (`T_ASSERT_TRUE(ret != 0, ...)`), then the same s6_other binds [::]:i+1 (counted; `bound_count == bind_attempts`)
  it.each<[string, string]>([['socket_bind_35243417 (non-root)', 'a'], ['socket_bind_35243417_root', 'root']])('%s', (_t, proc) => {
    check(macos, [sockF('s6', proc, 'inet6', 'IPV6_V6ONLY: true'), bindE('s6', '[::]:8080', 'ok'),
      sockF('o', proc, 'inet6'), bindE('o', '[::]:8080', 'EADDRINUSE'), bindE('o', '[::]:8081', 'ok')]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('illumos vs its test suites (no SO_REUSEPORT involved)', () => {
  it.each<Row>([
    // [ILL] scope-test-v4.ksh: `dup_bind --port 12345 --proto tcp --family 4 --addr c1 --addr c3 c1` (and c3): two TCP listeners
    // with SO_REUSEADDR (TestProto.setup_listener) on two different local addresses, same port; a connection to each succeeds
    ['scope-test-v4 / dup_bind.py: SO_REUSEADDR listeners on two addresses of one port; each gets its own', [
      sockF('x', 'root', 'inet', 'SO_REUSEADDR: true'), bindE('x', '10.0.0.1:12345', 'ok'), listenE('x'),
      sockF('y', 'root', 'inet', 'SO_REUSEADDR: true'), bindE('y', '10.0.0.2:12345', 'ok'), listenE('y'),
      '- { connect: { from: client, to: "10.0.0.1:12345" }, expect: x }', '- { connect: { from: client, to: "10.0.0.2:12345" }, expect: y }']],
    // [JOY] rp_test_tcp_noopt.c (illumos-joyent): two plain TCP binds of 127.0.0.1:22334: `pass = (bind_ret < 0) && (errno == EADDRINUSE)`
    ['rp_test_tcp_noopt: plain duplicate bind: EADDRINUSE', [sockF('a1', 'root', 'inet'), bindE('a1', '10.0.0.1:22334', 'ok'),
      sockF('b1', 'root', 'inet'), bindE('b1', '10.0.0.1:22334', 'EADDRINUSE')]],
  ])('%s', (_t, steps) => { check(illumos, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('bsd44 vs OpenBSD regress/sys/netinet/in_pcbbind/runtest.c (PROXY: not 4.4BSD\'s own; SOCK_DGRAM there)', () => {
  const L = '10.0.0.1:9000';
  const A = '0.0.0.0:9000';
  const o = (ra: number, rp: number): string => [ra ? 'SO_REUSEADDR: true' : '', rp ? 'SO_REUSEPORT: true' : ''].filter(Boolean).join(', ');
  const seq = (rows: [string, number, number, string][]): string[] =>
    rows.flatMap(([addr, ra, rp, exp], k) => [sockF(`s${k}`, 'root', 'inet', o(ra, rp)), bindE(`s${k}`, addr, exp)]);
  it.each<Row>([
    // runtest(s, ai, reuseaddr, reuseport, expected) in main(): tests #1..#5 (#6 repeats #5)
    ['#1 local, ANY (EADDRINUSE), ANY+REUSEADDR', seq([[L, 0, 0, 'ok'], [A, 0, 0, 'EADDRINUSE'], [A, 1, 0, 'ok']])],
    ['#2 ANY, local (EADDRINUSE), local+REUSEADDR', seq([[A, 0, 0, 'ok'], [L, 0, 0, 'EADDRINUSE'], [L, 1, 0, 'ok']])],
    ['#3 local RP x2, then REUSEADDR and plain: EADDRINUSE', seq([[L, 0, 1, 'ok'], [L, 0, 1, 'ok'], [L, 1, 0, 'EADDRINUSE'], [L, 0, 0, 'EADDRINUSE']])],
    ['#4 ANY RP x2, then REUSEADDR and plain: EADDRINUSE', seq([[A, 0, 1, 'ok'], [A, 0, 1, 'ok'], [A, 1, 0, 'EADDRINUSE'], [A, 0, 0, 'EADDRINUSE']])],
    ['#5 local REUSEADDR x2 (EADDRINUSE), then RP (EADDRINUSE)', seq([[L, 1, 0, 'ok'], [L, 1, 0, 'EADDRINUSE'], [L, 0, 1, 'EADDRINUSE']])],
  ])('%s', (_t, steps) => { check(bsd44, steps); });
});
