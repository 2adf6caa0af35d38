// Policy `linux-1.3.60`: one row per case, each citing SEMANTICS.md §3 (Linux 2.0 inet_bind / get_sock,
// the code that carries 1.3.60's rule). A row's steps carry the asserted decisions as `expect`s.

import { describe, expect, it } from 'vitest';
import type { PolicyRun } from '../../src/emu/results.js';
import { N_ADDRESS_HOSTS, RA, bind, caseText, close, connect, expectSteps, listen, listeningAt, sockAt } from './cases.js';

const POLICY = 'linux-1.3.60';

/** Runs the steps under the policy and asserts every expectation written on them. */
const check = (steps: readonly string[]): PolicyRun => expectSteps(POLICY, caseText(POLICY, N_ADDRESS_HOSTS, steps, { seed: 9 }));

const sock = sockAt;
const listening = listeningAt;

type Row = [title: string, steps: string[]];

describe('linux-1.3.60: bind (SEMANTICS §3.1)', () => {
  it.each<Row>([
    // §3.1 "the complained-about case": A listens on 0.0.0.0:X with RA; B binds a specific address with RA: EADDRINUSE
    ['complained-about case: specific RA bind under a listening RA wildcard', [...listening('any', 'multi/root', '0.0.0.0:8080'),
      sock('spec', 'multi/root', RA), bind('spec', '10.0.0.12:8080', 'EADDRINUSE'), connect('10.0.0.12:8080', 'any')]],
    // §3 / §4: n = 1, refused as well
    ['n = 1: refused', [...listening('any', 'solo/root', '0.0.0.0:8080'), sock('spec', 'solo/root', RA), bind('spec', '10.0.0.1:8080', 'EADDRINUSE')]],
    // §3: n = 4 makes no difference: every specific address is refused
    ['n = 4: all specific addresses refused', [...listening('any', 'multi/root', '0.0.0.0:8080'),
      sock('s12', 'multi/root', RA), bind('s12', '10.0.0.12:8080', 'EADDRINUSE'), sock('s13', 'multi/root', RA), bind('s13', '10.0.0.13:8080', 'EADDRINUSE'),
      sock('s14', 'multi/root', RA), bind('s14', '10.0.0.14:8080', 'EADDRINUSE')]],
    // §3.1: the wildcard bind after a listening specific one is refused too
    ['wildcard RA bind over a listening specific RA socket: EADDRINUSE', [...listening('spec', 'multi/root', '10.0.0.12:8080'),
      sock('any', 'multi/root', RA), bind('any', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §3.1 quirk: two live RA sockets may share 0.0.0.0:X if the first is not listening...
    ['quirk: two RA sockets share 0.0.0.0 while the first is not listening', [sock('x', 'multi/root', RA), bind('x', '0.0.0.0:8080'),
      sock('y', 'multi/root', RA), bind('y', '0.0.0.0:8080')]],
    // §3.1 quirk: ...but not the same specific address (the old one must be dead)
    ['quirk: two live RA sockets on the same specific address: EADDRINUSE', [sock('x', 'multi/root', RA), bind('x', '10.0.0.11:8080'),
      sock('y', 'multi/root', RA), bind('y', '10.0.0.11:8080', 'EADDRINUSE')]],
    // §3.1: wildcard bound (not listening) + specific, both RA: allowed (the other is not LISTEN)
    ['RA wildcard bound, not listening; RA specific: ok', [sock('any', 'multi/root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'multi/root', RA),
      bind('spec', '10.0.0.12:8080')]],
    // §3.1: without SO_REUSEADDR the wildcard overlap is refused
    ['no RA: specific under a bound wildcard: EADDRINUSE', [sock('any', 'multi/root'), bind('any', '0.0.0.0:8080'), sock('spec', 'multi/root'),
      bind('spec', '10.0.0.12:8080', 'EADDRINUSE')]],
    // §3.1 / §0: different specific addresses never overlap
    ['different specific addresses, no options: ok', [...listening('s11', 'multi/root', '10.0.0.11:8080', ''), ...listening('s12', 'multi/root', '10.0.0.12:8080', ''),
      connect('10.0.0.11:8080', 's11'), connect('10.0.0.12:8080', 's12')]],
    // §3.1 bullet 3: TIME_WAIT restart works when both set SO_REUSEADDR
    ['TIME_WAIT restart, RA old and new: ok', [...listening('old', 'multi/root', '0.0.0.0:8080'), connect('10.0.0.11:8080', 'old', 'close: server'),
      close('old'), sock('new', 'multi/root', RA), bind('new', '0.0.0.0:8080'), listen('new'), connect('10.0.0.11:8080', 'new')]],
    // §3.1: the TIME_WAIT owner lacks the flag, or the new socket does: EADDRINUSE
    ['TIME_WAIT restart, RA old only: EADDRINUSE', [...listening('old', 'multi/root', '0.0.0.0:8080'), connect('10.0.0.11:8080', 'old', 'close: server'),
      close('old'), sock('new', 'multi/root'), bind('new', '0.0.0.0:8080', 'EADDRINUSE')]],
    ['TIME_WAIT restart, RA new only: EADDRINUSE', [...listening('old', 'multi/root', '0.0.0.0:8080', ''), connect('10.0.0.11:8080', 'old', 'close: server'),
      close('old'), sock('new', 'multi/root', RA), bind('new', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §3.1: the same specific address over a dead (TIME_WAIT) socket needs SO_REUSEADDR on the new one only
    ['same specific address over TIME_WAIT: RA ok, none EADDRINUSE', [...listening('old', 'multi/root', '10.0.0.11:8080', ''), connect('10.0.0.11:8080', 'old', 'close: server'),
      close('old'), sock('plain', 'multi/root'), bind('plain', '10.0.0.11:8080', 'EADDRINUSE'), sock('new', 'multi/root', RA), bind('new', '10.0.0.11:8080')]],
    // TCP_TIMEWAIT_LEN (60*HZ) [2.0 include/net/tcp.h]: after 61 s the port is free
    ['after 61 s the port is free', [...listening('old', 'multi/root', '0.0.0.0:8080', ''), connect('10.0.0.11:8080', 'old', 'close: server'),
      close('old'), '- { wait: 61s }', sock('new', 'multi/root'), bind('new', '0.0.0.0:8080')]],
    // §3.1: "if sk.state != CLOSE: return EIO" (a listening socket)
    ['bind of a listening socket: EIO', [...listening('s', 'multi/root', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EIO')]],
    ['bind after listen auto-bound the socket: EIO', [sock('s', 'multi/root'), listen('s'), bind('s', '0.0.0.0:8081', 'EIO')]],
    // §3.1: already bound: EINVAL
    ['second bind: EINVAL', [sock('s', 'multi/root'), bind('s', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EINVAL')]],
    // §3.1: ports below 1024 need the superuser
    ['uid 1000 port 80: EACCES; 1024 ok', [sock('s', 'multi/a'), bind('s', '0.0.0.0:80', 'EACCES'), sock('t', 'multi/a'), bind('t', '0.0.0.0:1024')]],
    // §3.1: not a local address: EADDRNOTAVAIL
    ['non-local address: EADDRNOTAVAIL', [sock('s', 'multi/root'), bind('s', '10.0.0.99:8080', 'EADDRNOTAVAIL')]],
    // SCENARIO.md: an option the OS lacks is ENOPROTOOPT; SO_REUSEPORT came with Linux 3.9
    ['SO_REUSEPORT: ENOPROTOOPT', ['- { socket: s, process: multi/root, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }']],
    // No IPv6 before Linux 2.1.8: inet6 sockets are EAFNOSUPPORT
    ['inet6 socket: EAFNOSUPPORT', ['- { socket: s, process: multi/root, family: inet6, expect: EAFNOSUPPORT }']],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('linux-1.3.60: lookup (SEMANTICS §3.4)', () => {
  it.each<Row>([
    // §3.4 get_sock: a matching specific address beats the wildcard. Both listen only because they bound
    // before either listened and 2.0 listen() is assumed to re-check nothing (§3.3, UNCONFIRMED).
    ['specific beats wildcard (bound first, then both listen)', [sock('any', 'multi/root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'multi/root', RA),
      bind('spec', '10.0.0.12:8080'), listen('any'), listen('spec'), connect('10.0.0.12:8080', 'spec'), connect('10.0.0.11:8080', 'any')]],
    // §3.4: no socket on the port: RST; an address nobody has: unreachable
    ['refused and unreachable', [connect('10.0.0.11:9090', 'refused'), connect('10.0.0.99:9090', 'unreachable')]],
    // get_sock keeps the first of equal scores and put_sock puts the newest bind first: two RA wildcards, the newer gets it
    // (a source audit of 2.0 af_inet.c, 2026-12-06; SEMANTICS §3.4 left the order open)
    ['equal scores: the newest bind wins', [sock('a', 'solo/root', RA), bind('a', '0.0.0.0:8080'), sock('b', 'solo/root', RA), bind('b', '0.0.0.0:8080'),
      listen('a'), listen('b'), connect('10.0.0.1:8080', 'b')]],
    // ...even when it only is bound: tcp_rcv resets a CLOSE socket ("goto no_tcp_socket")
    ['a newer bound-only wildcard shadows the listener: refused', [sock('a', 'solo/root', RA), bind('a', '0.0.0.0:8080'), sock('b', 'solo/root', RA),
      bind('b', '0.0.0.0:8080'), listen('a'), connect('10.0.0.1:8080', 'refused')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('linux-1.3.60: automatic ports (get_new_socknum)', () => {
  // From PROT_SOCK + 1 + (start & 1023), the first port of an empty sock_array chain: 1026, 1027, ... on a fresh host;
  // no ip_local_port_range in 2.0
  it('listen() and bind(0) hand out 1026, 1027, 1028', () => {
    check([sock('a', 'solo/root'), listen('a'), sock('b', 'solo/root'), bind('b', '0.0.0.0:0'), listen('b'), sock('c', 'solo/root'), listen('c'),
      connect('10.0.0.1:1026', 'a'), connect('10.0.0.1:1027', 'b'), connect('10.0.0.1:1028', 'c')]);
  });
  it('a port whose chain (port & 255) holds a socket is passed over', () => {
    // 1026 + 256 = 1282 shares 1026's chain: the first automatic port is then 1027
    check([...listening('x', 'solo/root', '0.0.0.0:1282'), sock('a', 'solo/root'), listen('a'), connect('10.0.0.1:1027', 'a')]);
  });
});
