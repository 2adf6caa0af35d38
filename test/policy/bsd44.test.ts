// Policy `bsd44`: one row per case, each citing SEMANTICS.md §5 (4.4BSD-Lite2 in_pcbbind, in_pcblookup,
// tcp_input, tcp_usrreq). A row's steps carry the asserted decisions as `expect`s.

import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/emu/policy/types.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, RP, TWO_LINKS, TWO_LINK_HOSTS, bind, caseText, close, connect, expectSteps, listen, listening, portOf, sock, sock6 } from './cases.js';
import { bsd44 } from '../../src/emu/policy/bsd44.js';

const POLICY: Policy = bsd44;

/** Runs the steps under the policy and asserts every expectation written on them. */
const check = (steps: readonly string[]): PolicyRun => expectSteps(POLICY, caseText(POLICY.name, TWO_LINK_HOSTS, steps, { top: TWO_LINKS }));


type Row = [title: string, steps: string[]];

describe('bsd44: bind (SEMANTICS §5.1)', () => {
  it.each<Row>([
    // §5.1: only the newcomer's SO_REUSEADDR matters: a specific bind under a plain listening wildcard of another uid; it then gets its address's connections
    ['stealing: RA specific bind under a plain listening wildcard', [...listening('any', '0.0.0.0:8080', 'a'), ...listening('spec', '10.0.0.2:8080', 'b', RA),
      connect('10.0.0.2:8080', 'spec'), connect('10.0.0.1:8080', 'any')]],
    // §5.1: without SO_REUSEADDR the wildcard lookup finds the wildcard socket: EADDRINUSE (listening or not)
    ['no RA: specific bind under a bound wildcard: EADDRINUSE', [sock('any'), bind('any', '0.0.0.0:8080'), sock('spec'), bind('spec', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §5.1: the old socket's SO_REUSEADDR does not help the newcomer
    ['RA on the old socket only: EADDRINUSE', [...listening('any', '0.0.0.0:8080', 'root', RA), sock('spec'), bind('spec', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §5.1: the other way round: a wildcard bind over a listening specific socket with RA on the newcomer
    ['RA wildcard bind over a listening specific: ok, specific keeps its address', [...listening('spec', '10.0.0.2:8080'), ...listening('any', '0.0.0.0:8080', 'root', RA),
      connect('10.0.0.2:8080', 'spec'), connect('10.0.0.1:8080', 'any')]],
    // §5.1: an exact duplicate needs SO_REUSEPORT on both; SO_REUSEADDR is not enough
    ['exact duplicate, RA on both: EADDRINUSE', [sock('x', 'root', RA), bind('x', '0.0.0.0:8080'), sock('y', 'root', RA), bind('y', '0.0.0.0:8080', 'EADDRINUSE')]],
    ['exact duplicate, RP on the new socket only: EADDRINUSE', [sock('x', 'root', RA), bind('x', '0.0.0.0:8080'), sock('y', 'root', RP), bind('y', '0.0.0.0:8080', 'EADDRINUSE')]],
    ['exact duplicate of a specific address, RP on both: ok', [sock('x', 'a', RP), bind('x', '10.0.0.2:8080'), listen('x'), sock('y', 'b', RP), bind('y', '10.0.0.2:8080'), listen('y')]],
    // §5.1: no uid rule at all: another uid joins a SO_REUSEPORT wildcard
    ['RP on both, other uids: ok', [...listening('x', '0.0.0.0:8080', 'a', RP), ...listening('y', '0.0.0.0:8080', 'b', RP)]],
    // §0: two different specific addresses never overlap
    ['two specific addresses, no options', [...listening('s1', '10.0.0.1:8080'), ...listening('s2', '10.0.0.2:8080'), connect('10.0.0.1:8080', 's1'), connect('10.0.0.2:8080', 's2')]],
    // in_pcbbind: ports below IPPORT_RESERVED need the superuser, wildcard or not
    ['uid 1000 port 80: EACCES; root ok', [sock('s', 'a'), bind('s', '0.0.0.0:80', 'EACCES'), sock('t', 'a'), bind('t', '10.0.0.1:80', 'EACCES'), sock('r'), bind('r', '0.0.0.0:80')]],
    // in_pcbbind: an address the host lacks: EADDRNOTAVAIL; a second bind: EINVAL; bind after listen: EINVAL
    ['non-local address, second bind, bind after listen', [sock('s'), bind('s', '10.0.0.9:8080', 'EADDRNOTAVAIL'), bind('s', '0.0.0.0:8080'),
      bind('s', '0.0.0.0:8081', 'EINVAL'), sock('t'), listen('t'), bind('t', '0.0.0.0:8082', 'EINVAL')]],
    // §10.3: BSDs report EINVAL first (a bound socket re-bound to a non-local address)
    ['re-bind to a non-local address: EINVAL', [sock('s'), bind('s', '0.0.0.0:8080'), bind('s', '10.0.0.9:8081', 'EINVAL')]],
    // 4.4BSD has SO_REUSEADDR and SO_REUSEPORT only, and no IPv6
    ['SO_REUSEPORT_LB: ENOPROTOOPT; inet6: EAFNOSUPPORT', ['- { socket: s, process: server/root, options: { SO_REUSEPORT_LB: true }, expect: ENOPROTOOPT }',
      '- { socket: t, process: server/root, family: inet6, expect: EAFNOSUPPORT }']],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('bsd44: listen and TIME_WAIT (SEMANTICS §5.2, §5.4, §10.5)', () => {
  it.each<Row>([
    // §5.2: no re-check at listen: RA wildcard and RA specific both bound, both listen
    ['no listen re-check: wildcard and specific both listen', [sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'),
      listen('any'), listen('spec'), connect('10.0.0.2:8080', 'spec'), connect('10.0.0.1:8080', 'any')]],
    // §5.4/§10.5: the TIME_WAIT restart needs SO_REUSEADDR on the new socket only (old socket had none)
    ['TIME_WAIT: new RA ok although the old socket had none', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('plain'), bind('plain', '0.0.0.0:8080', 'EADDRINUSE'), sock('new', 'root', RA), bind('new', '0.0.0.0:8080'), listen('new'), connect('10.0.0.1:8080', 'new')]],
    // §5.1: connected PCBs are ignored with SO_REUSEADDR, also on the TIME_WAIT's own specific address
    ['TIME_WAIT on 10.0.0.1: RA bind of 10.0.0.1 ok', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('new', 'root', RA), bind('new', '10.0.0.1:8080')]],
    // §5.4: 2*MSL = 60 s (UNCONFIRMED): 59 s still held, 61 s free
    ['TIME_WAIT 60 s: 59 s EADDRINUSE, 61 s ok without RA', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      '- { wait: 59s }', sock('n1'), bind('n1', '0.0.0.0:8080', 'EADDRINUSE'), '- { wait: 2s }', sock('n2'), bind('n2', '0.0.0.0:8080')]],
    // §0: the client closed first: nothing is left on the server
    ['client closed first: port free at once', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old'), close('old'), sock('new'), bind('new', '0.0.0.0:8080')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('bsd44: lookup (SEMANTICS §5.3)', () => {
  it.each<Row>([
    // §5.3: a bound, never-listening best match shadows the listener: its TCB is CLOSED, the SYN is dropped -> timeout
    ['bound-only specific shadows the wildcard listener: timeout', [...listening('any', '0.0.0.0:8080', 'root', RA), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'),
      connect('10.0.0.2:8080', 'timeout'), connect('10.0.0.1:8080', 'any')]],
    // §5.3: a bound-only wildcard alone: timeout; no PCB at all: RST
    ['bound-only wildcard: timeout; empty port: refused', [sock('w'), bind('w', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'timeout'), connect('10.0.0.1:9090', 'refused')]],
    // §5.3: SO_REUSEPORT duplicates do not balance: the newest socket() gets everything
    ['RP duplicates: the newest socket gets every connection', [sock('old', 'root', RP), sock('new', 'root', RP), bind('old', '0.0.0.0:8080'), bind('new', '0.0.0.0:8080'),
      listen('new'), listen('old'), '- { connect: { from: client, to: "10.0.0.1:8080", count: 4 }, expect: new }']],
    // §5.3: an exact address beats the wildcard whatever the age
    ['exact beats wildcard (wildcard newer)', [...listening('spec', '10.0.0.2:8080'), ...listening('any', '0.0.0.0:8080', 'root', RA), connect('10.0.0.2:8080', 'spec')]],
    // §5.3: the connection goes to whoever is listening once the shadowing socket closes
    ['close of the bound-only socket: the listener gets it again', [...listening('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'),
      connect('10.0.0.2:8080', 'timeout'), close('spec'), connect('10.0.0.2:8080', 'any')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('bsd44: automatic ports (in_pcbbind: 1024..5000, sequential)', () => {
  // in_pcbbind: "head->inp_lport++", starting at IPPORT_RESERVED
  it('port 0 hands out 1024, 1025, then listen auto-binds 1026', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0'), sock('t'), bind('t', '10.0.0.1:0'), sock('u'), listen('u')]);
    expect([portOf(run.steps[1]!.reason), portOf(run.steps[3]!.reason), portOf(run.steps[5]!.reason)]).toEqual([1024, 1025, 1026]);
  });
  // in_pcbbind: a port whose lookup finds a PCB is skipped
  it('port 0 skips a port in use', () => {
    const run = check([...listening('h', '0.0.0.0:1024'), sock('s'), bind('s', '0.0.0.0:0')]);
    expect(portOf(run.steps[4]!.reason)).toBe(1025);
  });
});
