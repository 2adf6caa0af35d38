// Policy `linux-2.2`: one row per case, each citing SEMANTICS.md §2 (2.6-3.8 inet_csk_bind_conflict,
// inet_csk_listen_start, compute_score). A row's steps carry the asserted decisions as `expect`s.

import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/emu/policy/types.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, RP, TWO_LINKS, TWO_LINK_HOSTS, bind, caseText, close, connect, expectSteps, listen, listening, portOf, sock, sock6 } from './cases.js';
import { linux22 } from '../../src/emu/policy/linux-2.2.js';

const POLICY: Policy = linux22;

/** Runs the steps under the policy and asserts every expectation written on them. */
const check = (steps: readonly string[]): PolicyRun => expectSteps(POLICY, caseText(POLICY.name, TWO_LINK_HOSTS, steps, { top: TWO_LINKS }));


type Row = [title: string, steps: string[]];

describe('linux-2.2: bind and listen (SEMANTICS §2.1, §2.2)', () => {
  it.each<Row>([
    // §2.1: the multi-homed setup is refused: a RA specific bind under a RA wildcard listener
    ['RA specific under a RA wildcard listener: EADDRINUSE', [...listening('any', '0.0.0.0:8080', 'root', RA), sock('spec', 'root', RA),
      bind('spec', '10.0.0.2:8080', 'EADDRINUSE'), connect('10.0.0.2:8080', 'any')]],
    ['RA wildcard over a RA specific listener: EADDRINUSE', [...listening('spec', '10.0.0.2:8080', 'root', RA), sock('any', 'root', RA), bind('any', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §2.1: two non-listening RA sockets may share; §2.2: the listen re-check lets only the first listen
    ['RA both bound: second listen EADDRINUSE (re-check)', [sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'),
      listen('spec'), listen('any', 'EADDRINUSE'), connect('10.0.0.1:8080', 'refused'), connect('10.0.0.2:8080', 'spec')]],
    // §2.1: both need SO_REUSEADDR
    ['RA on one side only: EADDRINUSE', [sock('x', 'root', RA), bind('x', '0.0.0.0:8080'), sock('y'), bind('y', '10.0.0.2:8080', 'EADDRINUSE'),
      sock('p'), bind('p', '0.0.0.0:8081'), sock('q', 'root', RA), bind('q', '10.0.0.2:8081', 'EADDRINUSE')]],
    // §2.1: SO_REUSEPORT did not exist before 3.9
    ['SO_REUSEPORT: ENOPROTOOPT', ['- { socket: s, process: server/root, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }']],
    // §2.1: different devices never conflict
    ['eth0 and eth1 both hold 0.0.0.0, each gets its device', [...listening('d0', '0.0.0.0:8080', 'root', 'options: { SO_BINDTODEVICE: eth0 }'),
      ...listening('d1', '0.0.0.0:8080', 'root', 'options: { SO_BINDTODEVICE: eth1 }'), connect('10.0.0.1:8080', 'd0'), connect('10.0.1.1:8080', 'd1')]],
    // §10.1 / §2.1 order: EADDRNOTAVAIL, EACCES (port < 1024), EINVAL (already bound), then the conflict
    ['bind checks: EACCES, EADDRNOTAVAIL, EINVAL', [sock('s', 'a'), bind('s', '0.0.0.0:80', 'EACCES'), bind('s', '10.0.0.9:8080', 'EADDRNOTAVAIL'),
      bind('s', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EINVAL'), bind('s', '10.0.0.9:8081', 'EADDRNOTAVAIL')]],
    // §2.1: a dual-stack [::] (v6only 0) holds the IPv4 wildcard; it receives IPv4 too (§2.3 score 0)
    ['[::] dual-stack blocks 0.0.0.0 and gets IPv4', [sock6('v6'), bind('v6', '[::]:8080'), listen('v6'), sock('v4'), bind('v4', '0.0.0.0:8080', 'EADDRINUSE'),
      connect('10.0.0.1:8080', 'v6'), connect('[fd00::1]:8080', 'v6')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('linux-2.2: TIME_WAIT (SEMANTICS §10.5: old and new socket need SO_REUSEADDR; 60 s)', () => {
  it.each<Row>([
    ['old RA, new RA: ok', [...listening('old', '0.0.0.0:8080', 'root', RA), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('new', 'root', RA), bind('new', '0.0.0.0:8080'), listen('new')]],
    ['old none, new RA: EADDRINUSE; 61 s later ok', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('new', 'root', RA), bind('new', '0.0.0.0:8080', 'EADDRINUSE'), '- { wait: 61s }', sock('later'), bind('later', '0.0.0.0:8080')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('linux-2.2: lookup (SEMANTICS §2.3)', () => {
  it.each<Row>([
    // §2.3: an exact-address listener (score 1+2+2) and a wildcard one bound to another device coexist; each gets its own
    ['exact on eth0 and wildcard on eth1: each gets its own', [...listening('s', '10.0.0.1:8080', 'root', 'options: { SO_BINDTODEVICE: eth0 }'),
      ...listening('w', '0.0.0.0:8080', 'root', 'options: { SO_BINDTODEVICE: eth1 }'), connect('10.0.0.1:8080', 's'), connect('10.0.1.1:8080', 'w')]],
    // §2.3: a socket bound to another device is skipped (compute_score returns -1)
    ['a socket bound to eth1 gets nothing from eth0: refused', [...listening('d1', '10.0.0.1:8080', 'root', 'options: { SO_BINDTODEVICE: eth1 }'), connect('10.0.0.1:8080', 'refused')]],
    // §2.3: bound-but-not-listening sockets are invisible
    ['bound only: refused', [sock('s'), bind('s', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'refused')]],
    // §2.3: IPv4 sees a dual-stack [::] (score 0) and an IPV6_V6ONLY one not at all
    ['[::] V6ONLY and 0.0.0.0 coexist, each family to its own', [sock6('v6', 'options: { IPV6_V6ONLY: true }'), bind('v6', '[::]:8080'), listen('v6'),
      ...listening('v4', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'v6')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('linux-2.2: automatic ports (SEMANTICS §2.4)', () => {
  // §2.4: ip_local_port_range, no parity rule; listen auto-binds
  it('port 0 and listen pick ports in ip_local_port_range', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0'), sock('t'), listen('t')]);
    for (const i of [1, 3]) {
      const p = portOf(run.steps[i]!.reason);
      expect(p).toBeGreaterThanOrEqual(32768);
      expect(p).toBeLessThanOrEqual(60999);
    }
  });
});
