// Policy `macos`: one row per case, each citing SEMANTICS.md §7 (XNU in_pcbbind, in_pcblookup_local,
// in_pcblookup_hash_locked). A row's steps carry the asserted decisions as `expect`s.

import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/emu/policy/types.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, RP, TWO_LINKS, TWO_LINK_HOSTS, bind, caseText, close, connect, expectSteps, listen, listening, portOf, sock } from './cases.js';
import { macos } from '../../src/emu/policy/macos.js';

const POLICY: Policy = macos;

/** Runs the steps under the policy and asserts every expectation written on them. */
const check = (steps: readonly string[]): PolicyRun => expectSteps(POLICY, caseText(POLICY.name, TWO_LINK_HOSTS, steps, { top: TWO_LINKS }));


type Row = [title: string, steps: string[]];

describe('macos: bind (SEMANTICS §7.1)', () => {
  it.each<Row>([
    // §7.1 privileged-port-unprivileged-wildcard: only a SPECIFIC address below 1024 needs privilege
    ['uid 1000: 0.0.0.0:80 ok, 10.0.0.1:80 EACCES', [...listening('w', '0.0.0.0:80', 'a'), sock('s', 'b'), bind('s', '10.0.0.1:80', 'EACCES'), connect('10.0.0.1:80', 'w')]],
    // §7.1 uid guard: a non-root specific bind under another uid's wildcard: EADDRINUSE, whatever the options
    ['other uid RA specific under a RA wildcard: EADDRINUSE', [...listening('web', '0.0.0.0:8080', 'a', RA), sock('steal', 'b', RA), bind('steal', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §7.1: root is exempt from the guard
    ['root RA specific under uid 1000 wildcard: ok', [...listening('web', '0.0.0.0:8080', 'a', RA), ...listening('spec', '10.0.0.2:8080', 'root', RA), connect('10.0.0.2:8080', 'spec')]],
    // §7.1: the guard exempts two wildcard binds: two users share 0.0.0.0:8080 with SO_REUSEPORT
    ['other uid, RP on both, both wildcard: ok', [...listening('x', '0.0.0.0:8080', 'a', RP), ...listening('y', '0.0.0.0:8080', 'b', RP)]],
    // §7.1: ...but an exact duplicate still needs SO_REUSEPORT on both
    ['other uid, RA wildcard over a RA wildcard: EADDRINUSE', [...listening('x', '0.0.0.0:8080', 'a', RA), sock('y', 'b', RA), bind('y', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §7.1: the guard does not exempt connected sockets: another uid's TIME_WAIT connection on 10.0.0.1 blocks a wildcard bind; the same uid is fine
    ['other uid over a TIME_WAIT connection: EADDRINUSE; same uid ok', [...listening('old', '0.0.0.0:8080', 'a'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('x', 'b', RA), bind('x', '0.0.0.0:8080', 'EADDRINUSE'), sock('y', 'a2', RA), bind('y', '0.0.0.0:8080')]],
    // §7.1/§10.5: TIME_WAIT restart needs SO_REUSEADDR on the new socket only
    ['TIME_WAIT: plain EADDRINUSE, RA ok', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('plain'), bind('plain', '0.0.0.0:8080', 'EADDRINUSE'), sock('new', 'root', RA), bind('new', '0.0.0.0:8080'), listen('new'), connect('10.0.0.1:8080', 'new')]],
    // tcp_timer.h TCPTV_MSL 15 s: TIME_WAIT is 30 s
    ['TIME_WAIT 30 s: 29 s EADDRINUSE, 31 s ok', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      '- { wait: 29s }', sock('n1'), bind('n1', '0.0.0.0:8080', 'EADDRINUSE'), '- { wait: 2s }', sock('n2'), bind('n2', '0.0.0.0:8080')]],
    // §7.1: the same uid: the newcomer's SO_REUSEADDR suffices, also under a plain listener
    ['same uid RA specific under a plain wildcard: ok', [...listening('web', '0.0.0.0:8080', 'a'), ...listening('spec', '10.0.0.2:8080', 'a2', RA), connect('10.0.0.2:8080', 'spec')]],
    // §7.1: no SO_REUSEPORT_LB on XNU
    ['SO_REUSEPORT_LB: ENOPROTOOPT', ['- { socket: s, process: server/root, options: { SO_REUSEPORT_LB: true }, expect: ENOPROTOOPT }']],
    // tcp_usr_bind: TCP cannot bind a multicast or the broadcast address: EAFNOSUPPORT (a source audit, 2026-12-06)
    ['multicast and broadcast: EAFNOSUPPORT', [sock('m'), bind('m', '224.0.0.1:8080', 'EAFNOSUPPORT'), sock('b'), bind('b', '255.255.255.255:8080', 'EAFNOSUPPORT')]],
    // tcp6_usr_bind + in6_pcbbind: ::ffff:a.b.c.d on an IPV6_V6ONLY socket is an IPv6 address no interface has
    ['v4-mapped bind on a V6ONLY socket: EADDRNOTAVAIL', [`- { socket: x, process: server/root, family: inet6, options: { IPV6_V6ONLY: true } }`,
      bind('x', '[::ffff:10.0.0.1]:8080', 'EADDRNOTAVAIL')]],
    // restricted_in_port.c: TCP 55555 needs an entitlement, root included: EADDRINUSE
    ['restricted port 55555: EADDRINUSE even for root', [sock('r'), bind('r', '0.0.0.0:55555', 'EADDRINUSE')]],
    // in_pcblookup_local has no extra cost for a dual-stack :: PCB: it is the best match for 0.0.0.0 before the
    // specific one, and two wildcards with SO_REUSEPORT on it pass the uid guard (mac-1 of the audit)
    ['other uid 0.0.0.0 RP over a RP dual-stack [::] and a RP specific: ok', [`- { socket: d, process: server/a, family: inet6, ${RP} }`, bind('d', '[::]:8080'),
      sock('s', 'a', RP), bind('s', '10.0.0.1:8080'), sock('w', 'b', RP), bind('w', '0.0.0.0:8080')]],
    // in6_pcbbind: the IPv4 side of a dual-stack :: bind exempts another uid's owner with SO_REUSEPORT
    ['other uid dual-stack [::] RP over a RP 10.0.0.1: ok', [sock('s', 'a', RP), bind('s', '10.0.0.1:8080'),
      `- { socket: d, process: server/b, family: inet6, ${RP} }`, bind('d', '[::]:8080')]],
    // ...and not one without it
    ['other uid dual-stack [::] RP over a plain 10.0.0.1: EADDRINUSE', [sock('s', 'a'), bind('s', '10.0.0.1:8080'),
      `- { socket: d, process: server/b, family: inet6, ${RP} }`, bind('d', '[::]:8080', 'EADDRINUSE')]],
    // §7.2: no listen re-check (tcp_usr_listen binds only an unbound socket)
    ['no listen re-check', [sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'), listen('any'), listen('spec')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('macos: lookup (SEMANTICS §7.3)', () => {
  it.each<Row>([
    // §7.3: wildcard duplicates: the LAST wildcard PCB in the chain, i.e. the OLDEST bind, gets the connections
    ['RP wildcard duplicates: the oldest bind wins', [...listening('a', '0.0.0.0:8080', 'root', RP), ...listening('b', '0.0.0.0:8080', 'root', RP),
      '- { connect: { from: client, to: "10.0.0.1:8080", count: 4 }, expect: a }']],
    // §7.3: specific duplicates: the first in the chain, i.e. the NEWEST bind
    ['RP specific duplicates: the newest bind wins', [...listening('s1', '10.0.0.2:8080', 'root', RP), ...listening('s2', '10.0.0.2:8080', 'root', RP),
      '- { connect: { from: client, to: "10.0.0.2:8080", count: 4 }, expect: s2 }']],
    // §7.3: an exact address beats the wildcard
    ['exact beats wildcard', [...listening('any', '0.0.0.0:8080', 'root', RA), ...listening('spec', '10.0.0.2:8080', 'root', RA), connect('10.0.0.2:8080', 'spec'), connect('10.0.0.1:8080', 'any')]],
    // §7.3: bound-only PCBs are in the chain; the SYN is dropped (UNCONFIRMED)
    ['bound-only specific shadows the wildcard listener: timeout', [...listening('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'),
      connect('10.0.0.2:8080', 'timeout')]],
    ['empty port: refused', [connect('10.0.0.1:9090', 'refused')]],
    // in_pcblookup_hash: a wildcard PF_INET6 PCB (here ::ffff:0.0.0.0) is local_wild_mapped; an AF_INET wildcard wins over it
    ['AF_INET 0.0.0.0 beats an older inet6 ::ffff:0.0.0.0', [`- { socket: m6, process: server/root, family: inet6, ${RP} }`, bind('m6', '[::ffff:0.0.0.0]:8080'), listen('m6'),
      ...listening('w4', '0.0.0.0:8080', 'root', RP), connect('10.0.0.1:8080', 'w4')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('macos: automatic ports (49152..65535, the range UNCONFIRMED)', () => {
  // in_pcbbind: ++ipi_lastport from 0 at boot (randomize_ports 0), wrapped into the range; the search looks up
  // with INPLOOKUP_WILDCARD whatever the options
  it('port 0 hands out 49152, 49153, ... in turn, IPv4 and IPv6 alike', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0'), '- { socket: t, process: server/root, family: inet6 }', bind('t', '[::]:0'), sock('u', 'root', RA), bind('u', '10.0.0.1:0')]);
    expect([1, 3, 5].map((i) => portOf(run.steps[i]!.reason))).toEqual([49152, 49153, 49154]);
  });
  it('a port taken by an explicit bind is skipped, SO_REUSEADDR or not', () => {
    const run = check([sock('x', 'root', RA), bind('x', '10.0.0.1:49152'), sock('s', 'root', RA), bind('s', '0.0.0.0:0')]);
    expect(portOf(run.steps[3]!.reason)).toBe(49153);
  });
});
