// Policy `illumos`: one row per rule of SEMANTICS §9 (tcp_bind.c tcp_bindi and friends) and of
// the classifier lookup (ipclassifier.c ipcl_classify_v4, IPCL_HASH_INSERT_BOUND/_WILDCARD).

import { describe, expect, it } from 'vitest';
import { illumos } from '../../src/emu/policy/illumos.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, bind, close, connect, expectSteps, listen, listening, sock, sock6 } from './cases.js';

const HOSTS = `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, fd00::1/64] }
    processes: { root: { uid: 0 }, a: { uid: 1000 }, b: { uid: 1001 } }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }`;

const scenario = (steps: readonly string[]): string =>
  `name: illumos policy case\nseed: 5\nhosts:${HOSTS}\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`;

function check(steps: readonly string[]): PolicyRun {
  return expectSteps(illumos, scenario(steps));
}


type Row = [title: string, steps: string[]];

describe('illumos: bind conflicts (SEMANTICS §9.1, tcp_bind.c tcp_bindi)', () => {
  it.each<Row>([
    // tcp_bindi: without SO_REUSEADDR an overlapping owner at state >= BOUND refuses
    ['no RA: specific under a bound wildcard: EADDRINUSE', [sock('any'), bind('any', '0.0.0.0:8080'), sock('s'), bind('s', '10.0.0.2:8080', 'EADDRINUSE')]],
    // tcp_bindi: two different specific addresses keep going
    ['no RA: two different specific addresses: ok', [...listening('s1', '10.0.0.1:8080'), ...listening('s2', '10.0.0.2:8080')]],
    // tcp_bindi: only the binding socket's SO_REUSEADDR is looked at (BSD-like); wildcard/specific mixes allowed
    ['RA on the new socket only: specific beside a wildcard listener: ok', [...listening('any', '0.0.0.0:8080'), sock('s', 'b', RA), bind('s', '10.0.0.2:8080'), listen('s')]],
    ['RA on the first only: EADDRINUSE', [...listening('any', '0.0.0.0:8080', 'root', RA), sock('s'), bind('s', '10.0.0.2:8080', 'EADDRINUSE')]],
    // tcp_bindi: the same address over a bound or listening socket is refused regardless of SO_REUSEADDR
    ['RA both, the same wildcard: EADDRINUSE', [...listening('x', '0.0.0.0:8080', 'root', RA), sock('y', 'root', RA), bind('y', '0.0.0.0:8080', 'EADDRINUSE')]],
    ['RA both, the same specific over a bound socket: EADDRINUSE', [sock('x', 'root', RA), bind('x', '10.0.0.2:8080'), sock('y', 'root', RA), bind('y', '10.0.0.2:8080', 'EADDRINUSE')]],
    // tcp_bindi: SO_REUSEADDR reuses over TIME_WAIT (state > BOUND/LISTEN); without it TIME_WAIT refuses
    ['restart over server TIME_WAIT: new RA ok, new plain EADDRINUSE', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), sock('plain'), bind('plain', '0.0.0.0:8080', 'EADDRINUSE'), sock('new', 'root', RA), bind('new', '0.0.0.0:8080'), listen('new'),
      connect('10.0.0.1:8080', 'new')]],
    // _time_wait_interval 60 s (tcp_tunables.c)
    ['after 61 s TIME_WAIT is over', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), '- { wait: 61s }', sock('new'), bind('new', '0.0.0.0:8080')]],
    // tcp_bindi: IPv4 and IPv6 sockets have disjoint explicit-port spaces
    ['[::] dual-stack and 0.0.0.0 on one port: both ok', [sock6('v6'), bind('v6', '[::]:8080'), listen('v6'), ...listening('v4', '0.0.0.0:8080')]],
    // ...an inet6 socket on ::ffff:a.b.c.d included: bind keeps it IPV6_VERSION (tcp_create_common, tcp_do_bind; source audit)
    ['inet 10.0.0.1 then inet6 [::ffff:10.0.0.1] on one port: both ok', [sock('v4'), bind('v4', '10.0.0.1:8080'), sock6('m'), bind('m', '[::ffff:10.0.0.1]:8080')]],
    // tcp_input_listener puts an accepted connection in the bind hash with conn_bound_addr_v6 unset (::): without
    // SO_REUSEADDR it blocks every address of the port, ESTABLISHED or in TIME_WAIT (source audit; not observed)
    ['an accepted connection on 10.0.0.1 blocks a plain 10.0.0.2 bind; RA ok', [...listening('l', '10.0.0.1:8080'), connect('10.0.0.1:8080', 'l', 'close: none'),
      sock('b'), bind('b', '10.0.0.2:8080', 'EADDRINUSE'), sock('c', 'root', RA), bind('c', '10.0.0.2:8080')]],
    ['...and its TIME_WAIT, the listener gone', [...listening('l', '10.0.0.1:8080'), connect('10.0.0.1:8080', 'l', 'close: server'), close('l'),
      sock('b'), bind('b', '10.0.0.2:8080', 'EADDRINUSE')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('illumos: bind checks (tcp_bind_check, tcp_bind_select_lport)', () => {
  it.each<Row>([
    // tcp_bind_select_lport: < smallest_nonpriv_port (1024) needs net_privaddr
    ['uid 1000 binds 80: EACCES; root: ok', [sock('u', 'a'), bind('u', '0.0.0.0:80', 'EACCES'), sock('r'), bind('r', '0.0.0.0:80')]],
    // tcp_bind_select_lport: the extra privileged ports 2049 and 4045 (inet/tunables.h)
    ['uid 1000 binds 2049 and 4045: EACCES', [sock('u', 'a'), bind('u', '0.0.0.0:2049', 'EACCES'), bind('u', '0.0.0.0:4045', 'EACCES'), bind('u', '0.0.0.0:4046')]],
    // tcp_bind_check: EADDRNOTAVAIL for a non-local address and for v4-mapped on IPV6_V6ONLY
    ['foreign address, v4-mapped on v6only: EADDRNOTAVAIL', [sock('s'), bind('s', '192.0.2.1:8080', 'EADDRNOTAVAIL'),
      sock6('m', 'options: { IPV6_V6ONLY: true }'), bind('m', '[::ffff:10.0.0.1]:8080', 'EADDRNOTAVAIL')]],
    // bind(3SOCKET): already bound
    ['second bind: EINVAL', [sock('s'), bind('s', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EINVAL')]],
    // no SO_REUSEPORT, SO_EXCLUSIVEADDRUSE, IP_FREEBIND or SO_BINDTODEVICE under these names
    ['options illumos lacks: ENOPROTOOPT', [
      '- { socket: p, process: server/root, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }',
      '- { socket: q, process: server/root, options: { SO_EXCLUSIVEADDRUSE: true }, expect: ENOPROTOOPT }',
      '- { socket: r, process: server/root, options: { IP_FREEBIND: true }, expect: ENOPROTOOPT }',
      '- { socket: s, process: server/root, options: { SO_BINDTODEVICE: eth0 }, expect: ENOPROTOOPT }']],
  ])('%s', (_t, steps) => { check(steps); });

  it('bind to port 0 picks an anonymous port in 32768..65535 (tcp_update_next_port)', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0')]);
    const port = Number(/bound [^ ]*:(\d+)/.exec(run.steps[1]!.reason ?? '')?.[1]);
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(port).toBeLessThanOrEqual(65535);
  });
});

describe('illumos: listener lookup (ipclassifier.c ipcl_classify_v4, IPCL_BIND_MATCH)', () => {
  it.each<Row>([
    // IPCL_HASH_INSERT_BOUND puts specific addresses before wildcards, whatever the listen order
    ['specific beats wildcard (wildcard listened first)', [...listening('any', '0.0.0.0:8080'), sock('s', 'root', RA), bind('s', '10.0.0.2:8080'), listen('s'),
      connect('10.0.0.2:8080', 's'), connect('10.0.0.1:8080', 'any')]],
    ['specific beats wildcard (specific listened first)', [...listening('s', '10.0.0.2:8080'), sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), listen('any'),
      connect('10.0.0.2:8080', 's'), connect('10.0.0.1:8080', 'any')]],
    // IPCL_HASH_INSERT_WILDCARD: the IPv4 wildcard goes before [::]; IPv6 goes to [::]
    ['IPv4 wildcard before a dual-stack [::]', [sock6('v6'), bind('v6', '[::]:8080'), listen('v6'), ...listening('v4', '0.0.0.0:8080'),
      connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'v6')]],
    // IPCL_BIND_MATCH: a dual-stack [::] takes IPv4 when alone; an IPV6_V6ONLY one does not
    ['dual-stack [::] alone takes IPv4; v6only does not', [sock6('ds'), bind('ds', '[::]:8080'), listen('ds'), connect('10.0.0.1:8080', 'ds'),
      sock6('only', 'options: { IPV6_V6ONLY: true }'), bind('only', '[::]:8081'), listen('only'), connect('10.0.0.1:8081', 'refused'), connect('[fd00::1]:8081', 'only')]],
    // Only listeners are in the classifier's bind fanout (tcp_reinit): a bound socket gets RST
    ['bound, not listening: refused', [sock('s'), bind('s', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'refused')]],
  ])('%s', (_t, steps) => { check(steps); });

  it('fingerprint: TTL 64, SYN MSS,SACK_PERM,TS,NOP,WS (tcp_output.c tcp_xmit_mp_aux_iss)', () => {
    expect(illumos.fingerprint.ttl).toBe(64);
    expect(illumos.fingerprint.synOptions).toEqual(['mss', 'sackPermitted', 'timestamps', 'nop', 'windowScale']);
    expect(illumos.fingerprint.synAckOptions).toEqual(['sackPermitted', 'timestamps', 'mss', 'nop', 'windowScale']);
    expect(illumos.timeWaitNs).toBe(60e9);
  });
});
