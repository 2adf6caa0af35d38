// Policy `pajari-1999`: one row per case, each citing SEMANTICS.md §4 (the 1999 proposal, formalised; the
// readings numbered there). A row's steps carry the asserted decisions as `expect`s.

import { describe, expect, it } from 'vitest';
import type { PolicyRun } from '../../src/emu/results.js';
import { N_ADDRESS_HOSTS, RA, bind, caseText, close, connect, expectSteps, listen, listeningAt, sockAt } from './cases.js';

const POLICY = 'pajari-1999';

/** Runs the steps under the policy and asserts every expectation written on them. */
const check = (steps: readonly string[]): PolicyRun => expectSteps(POLICY, caseText(POLICY, N_ADDRESS_HOSTS, steps, { seed: 9 }));

const sock = sockAt;
const listening = listeningAt;

type Row = [title: string, steps: string[]];

describe('pajari-1999: one wildcard listener plus up to n-1 specific ones (SEMANTICS §4)', () => {
  it.each<Row>([
    // §4: "on a single-address host keep rejecting" (n = 1)
    ['n = 1: the specific bind is refused', [...listening('any', 'solo/root', '0.0.0.0:8080'), sock('spec', 'solo/root', RA),
      bind('spec', '10.0.0.1:8080', 'EADDRINUSE'), connect('10.0.0.1:8080', 'any')]],
    // §4: n = 4 allows 3 specific listeners; the 4th (n-th) is refused; the most specific wins the lookup
    ['n = 4: three specifics ok, the fourth refused', [...listening('any', 'multi/root', '0.0.0.0:8080'),
      ...listening('s12', 'multi/root', '10.0.0.12:8080'), ...listening('s13', 'multi/root', '10.0.0.13:8080'), ...listening('s14', 'multi/root', '10.0.0.14:8080'),
      sock('s11', 'multi/root', RA), bind('s11', '10.0.0.11:8080', 'EADDRINUSE'),
      connect('10.0.0.11:8080', 'any'), connect('10.0.0.12:8080', 's12'), connect('10.0.0.13:8080', 's13'), connect('10.0.0.14:8080', 's14')]],
    // §4 reading 4 (order independence): with all n addresses taken by specific listeners, a wildcard bind is refused
    ['wildcard bind after all 4 specifics listen: refused', [...listening('s11', 'multi/root', '10.0.0.11:8080'), ...listening('s12', 'multi/root', '10.0.0.12:8080'),
      ...listening('s13', 'multi/root', '10.0.0.13:8080'), ...listening('s14', 'multi/root', '10.0.0.14:8080'),
      sock('any', 'multi/root', RA), bind('any', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §4 reading 4: ...and allowed after only 3 of them; the wildcard keeps the 4th address
    ['wildcard bind after 3 specifics listen: ok', [...listening('s12', 'multi/root', '10.0.0.12:8080'), ...listening('s13', 'multi/root', '10.0.0.13:8080'),
      ...listening('s14', 'multi/root', '10.0.0.14:8080'), ...listening('any', 'multi/root', '0.0.0.0:8080'), connect('10.0.0.11:8080', 'any'), connect('10.0.0.12:8080', 's12')]],
    // §4 reading 4: n specific listeners with no wildcard at all are fine (distinct specifics never overlap)
    ['n specifics and no wildcard: ok', [...listening('s11', 'duo/root', '10.0.0.21:8080'), ...listening('s12', 'duo/root', '10.0.0.22:8080')]],
    // §4 reading 2: n counts configured IPv4 addresses at bind time; an alias added by an address step raises it
    ['an alias added at run time allows a specific bind', [...listening('any', 'solo/root', '0.0.0.0:8080'),
      sock('early', 'solo/root', RA), bind('early', '10.0.0.2:8080', 'EADDRNOTAVAIL'), sock('same', 'solo/root', RA), bind('same', '10.0.0.1:8080', 'EADDRINUSE'),
      '- { address: { host: solo, interface: eth0, add: 10.0.0.2/24 } }',
      sock('late', 'solo/root', RA), bind('late', '10.0.0.2:8080'), listen('late'), connect('10.0.0.2:8080', 'late'), connect('10.0.0.1:8080', 'any')]],
    // §4 reading 6: close() frees a slot
    ['close frees a slot (n = 2)', [...listening('any', 'duo/root', '0.0.0.0:8080'), ...listening('s22', 'duo/root', '10.0.0.22:8080'),
      sock('s21', 'duo/root', RA), bind('s21', '10.0.0.21:8080', 'EADDRINUSE'), close('s22'),
      sock('s21b', 'duo/root', RA), bind('s21b', '10.0.0.21:8080'), listen('s21b'), connect('10.0.0.21:8080', 's21b'), connect('10.0.0.22:8080', 'any')]],
    // §4 reading 7: no uid rule: another uid may take a specific address within the limit
    ['cross-uid specific bind: allowed', [...listening('web', 'multi/a', '0.0.0.0:8080'), ...listening('steal', 'multi/b', '10.0.0.12:8080'),
      connect('10.0.0.12:8080', 'steal'), connect('10.0.0.11:8080', 'web')]],
    // §4 reading 1: both sockets must set SO_REUSEADDR
    ['newcomer without SO_REUSEADDR: refused', [...listening('any', 'multi/root', '0.0.0.0:8080'), sock('spec', 'multi/root'), bind('spec', '10.0.0.12:8080', 'EADDRINUSE')]],
    ['wildcard listener without SO_REUSEADDR: refused', [...listening('any', 'multi/root', '0.0.0.0:8080', ''), sock('spec', 'multi/root', RA),
      bind('spec', '10.0.0.12:8080', 'EADDRINUSE')]],
    // §4: two wildcard sockets: the 1.3.60 rule unchanged
    ['second RA wildcard under a listening one: refused', [...listening('any', 'multi/root', '0.0.0.0:8080'), sock('any2', 'multi/root', RA),
      bind('any2', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §4 reading 3: counted are addresses; two live sockets on one specific address follow the exact-address rule
    ['two live RA sockets on one specific address: refused', [...listening('any', 'multi/root', '0.0.0.0:8080'), ...listening('s12', 'multi/root', '10.0.0.12:8080'),
      sock('s12b', 'multi/root', RA), bind('s12b', '10.0.0.12:8080', 'EADDRINUSE')]],
    // §4 reading 5: only LISTEN is protected and there is no listen re-check: binding first, listening later exceeds n-1
    ['bound-first sockets may all listen (no re-check)', [sock('any', 'duo/root', RA), bind('any', '0.0.0.0:8080'), sock('s21', 'duo/root', RA), bind('s21', '10.0.0.21:8080'),
      sock('s22', 'duo/root', RA), bind('s22', '10.0.0.22:8080'), listen('any'), listen('s21'), listen('s22'),
      connect('10.0.0.21:8080', 's21'), connect('10.0.0.22:8080', 's22')]],
    // §4: everything else is linux-1.3.60 (§3.1): EIO for a listening socket, ENOPROTOOPT for SO_REUSEPORT
    ['inherited from 1.3.60: EIO, ENOPROTOOPT, EAFNOSUPPORT', [...listening('s', 'multi/root', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EIO'),
      '- { socket: rp, process: multi/root, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }',
      '- { socket: v6, process: multi/root, family: inet6, expect: EAFNOSUPPORT }']],
  ])('%s', (_t, steps) => { check(steps); });
});

// SCENARIO.md, Steps: "`expect` and `note` may go on any step". The loader refuses `expect` on an
// address step ("unknown key \"expect\" in address step") [src/scenario/schema.ts / load.ts].
it('an address step may carry an expectation (SCENARIO.md: expect may go on any step)', () => {
  check(['- { address: { host: solo, interface: eth0, add: 10.0.0.2/24 }, expect: ok }']);
});
