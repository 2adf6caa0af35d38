// Policy `freebsd`: one row per case, each citing SEMANTICS.md §6 (FreeBSD in_pcbbind_setup,
// in_pcblookup_local, in_pcblookup_lbgroup, the wild chain). A row's steps carry the asserted decisions as `expect`s.

import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/emu/policy/types.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, RP, TWO_LINKS, TWO_LINK_HOSTS, bind, caseText, close, connect, expectSteps, listen, listening, portOf, sock, sock6 } from './cases.js';
import { freebsd } from '../../src/emu/policy/freebsd.js';

const POLICY: Policy = freebsd;

/** Runs the steps under the policy and asserts every expectation written on them. */
const check = (steps: readonly string[]): PolicyRun => expectSteps(POLICY, caseText(POLICY.name, TWO_LINK_HOSTS, steps, { top: TWO_LINKS }));


type Row = [title: string, steps: string[]];
const LB = 'options: { SO_REUSEPORT_LB: true }';

describe('freebsd: bind and the uid rule (SEMANTICS §6.1)', () => {
  it.each<Row>([
    // §6.1 anti-stealing: a non-root bind overlapping another uid's unconnected socket fails, whatever the options
    ['other uid, RA specific under a RA wildcard listener: EADDRINUSE', [...listening('web', '0.0.0.0:8080', 'a', RA), sock('steal', 'b', RA),
      bind('steal', '10.0.0.2:8080', 'EADDRINUSE'), connect('10.0.0.2:8080', 'web')]],
    ['other uid, RP on both, wildcard twice: EADDRINUSE', [...listening('web', '0.0.0.0:8080', 'a', RP), sock('x', 'b', RP), bind('x', '0.0.0.0:8080', 'EADDRINUSE')]],
    // §6.1: ...also against a bound, not listening socket
    ['other uid over a bound-only wildcard: EADDRINUSE', [sock('w', 'a', RA), bind('w', '0.0.0.0:8080'), sock('x', 'b', RA), bind('x', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §6.1: root skips the check (PRIV_NETINET_REUSEPORT) and steals the address with SO_REUSEADDR alone
    ['root RA specific under uid 1000 wildcard: ok, gets its address', [...listening('web', '0.0.0.0:8080', 'a'), ...listening('spec', '10.0.0.2:8080', 'root', RA),
      connect('10.0.0.2:8080', 'spec'), connect('10.0.0.1:8080', 'web')]],
    // §6.1: the same uid: 4.4BSD rules (newcomer's SO_REUSEADDR suffices)
    ['same uid RA specific under a plain wildcard: ok', [...listening('web', '0.0.0.0:8080', 'a'), ...listening('spec', '10.0.0.2:8080', 'a2', RA), connect('10.0.0.2:8080', 'spec')]],
    // No LB exception in current FreeBSD (SEMANTICS §6.1 has one, from 12-14's in_pcbbind_setup): another uid may not
    // join a wildcard SO_REUSEPORT_LB group [tests/sys/netinet/socket_afinet.c multibind_test; sys/netinet6/in6_pcb.c in6_pcbbind_avail]
    ['other uid cannot join a wildcard SO_REUSEPORT_LB group: EADDRINUSE', [...listening('w1', '0.0.0.0:8080', 'a', LB), sock('w2', 'b', LB), bind('w2', '0.0.0.0:8080', 'EADDRINUSE')]],
    // tcp_usr_bind: "Must check for multicast addresses and disallow binding to them": EAFNOSUPPORT
    ['multicast: EAFNOSUPPORT', [sock('m', 'root'), bind('m', '224.0.0.1:8080', 'EAFNOSUPPORT')]],
    // the same uid joins it
    ['same uid joins a wildcard SO_REUSEPORT_LB group', [...listening('w1', '0.0.0.0:8080', 'a', LB), ...listening('w2', '0.0.0.0:8080', 'a2', LB),
      '- { connect: { from: client, to: "10.0.0.1:8080", count: 12 }, expect: [w1, w2] }']],
    // nor a specific address under it
    ['other uid, specific address under a LB wildcard: EADDRINUSE', [...listening('w1', '0.0.0.0:8080', 'a', LB), sock('s', 'b', LB), bind('s', '10.0.0.2:8080', 'EADDRINUSE')]],
    // §6.1: connected sockets (TIME_WAIT) of other users do not trigger the uid rule
    ['other uid over a TIME_WAIT connection: RA ok', [...listening('old', '0.0.0.0:8080', 'a'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('new', 'b', RA), bind('new', '0.0.0.0:8080'), listen('new'), connect('10.0.0.1:8080', 'new')]],
    // §6.1/§10.5: TIME_WAIT restart needs SO_REUSEADDR on the new socket only; 2*MSL = 60 s
    ['TIME_WAIT: plain EADDRINUSE, RA ok; 61 s later plain ok', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'), close('old'),
      sock('plain'), bind('plain', '0.0.0.0:8080', 'EADDRINUSE'), sock('ra', 'root', RA), bind('ra', '0.0.0.0:8080'), close('ra'), '- { wait: 61s }', sock('later'), bind('later', '0.0.0.0:8080')]],
    // §6.1: exact duplicates need SO_REUSEPORT (or SO_REUSEPORT_LB) on both
    ['exact duplicate: RA both EADDRINUSE, RP both ok, LB both ok', [sock('x', 'root', RA), bind('x', '0.0.0.0:8080'), sock('y', 'root', RA), bind('y', '0.0.0.0:8080', 'EADDRINUSE'),
      sock('p', 'root', RP), bind('p', '0.0.0.0:8081'), sock('q', 'root', RP), bind('q', '0.0.0.0:8081'),
      sock('l', 'root', LB), bind('l', '0.0.0.0:8082'), sock('m', 'root', LB), bind('m', '0.0.0.0:8082')]],
    // §10.1: reservedlow..reservedhigh needs privilege, wildcard or not
    ['uid 1000 port 80: EACCES on wildcard and specific', [sock('s', 'a'), bind('s', '0.0.0.0:80', 'EACCES'), sock('t', 'a'), bind('t', '10.0.0.1:80', 'EACCES')]],
    // §6.2: no listen re-check
    ['no listen re-check', [sock('any', 'root', RA), bind('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'), listen('any'), listen('spec')]],
    // FreeBSD has no SO_EXCLUSIVEADDRUSE, IP_FREEBIND or SO_BINDTODEVICE
    ['Linux/Windows options: ENOPROTOOPT', ['- { socket: s, process: server/root, options: { IP_FREEBIND: true }, expect: ENOPROTOOPT }',
      '- { socket: t, process: server/root, options: { SO_BINDTODEVICE: eth0 }, expect: ENOPROTOOPT }']],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('freebsd: lookup (SEMANTICS §6.3)', () => {
  it.each<Row>([
    // §6.3: plain SO_REUSEPORT duplicates: the newest bind gets every connection
    ['RP duplicates: newest bind wins', [sock('first', 'a', RP), sock('second', 'a', RP), bind('second', '0.0.0.0:8080'), bind('first', '0.0.0.0:8080'),
      listen('first'), listen('second'), '- { connect: { from: client, to: "10.0.0.1:8080", count: 4 }, expect: first }']],
    // §6.3: the wild chain: specific addresses before wildcard ones
    ['exact beats wildcard', [...listening('spec', '10.0.0.2:8080', 'a', RP), ...listening('any', '0.0.0.0:8080', 'a', RP), connect('10.0.0.2:8080', 'spec'), connect('10.0.0.1:8080', 'any')]],
    // §6.3: LB groups are searched before the wild chain: a wildcard LB group beats a plain exact-address listener
    ['wildcard LB group beats an exact non-LB listener', [...listening('w1', '0.0.0.0:8080', 'root', LB), ...listening('w2', '0.0.0.0:8080', 'root', LB),
      ...listening('spec', '10.0.0.2:8080', 'root', RA), '- { connect: { from: client, to: "10.0.0.2:8080", count: 6 }, expect: [w1, w2] }']],
    // §6.3: an exact LB group beats a wildcard LB group
    ['exact LB group beats wildcard LB group', [...listening('w', '0.0.0.0:8080', 'root', LB), ...listening('s', '10.0.0.2:8080', 'root', LB),
      connect('10.0.0.2:8080', 's'), connect('10.0.0.1:8080', 'w')]],
    // §6.3: bound-only PCBs shadow listeners as in 4.4BSD; the SYN is dropped (UNCONFIRMED: believed drop)
    ['bound-only specific shadows the wildcard listener: timeout', [...listening('any', '0.0.0.0:8080'), sock('spec', 'root', RA), bind('spec', '10.0.0.2:8080'),
      connect('10.0.0.2:8080', 'timeout'), connect('10.0.0.1:8080', 'any')]],
    // §6.3: nothing on the port: RST
    ['empty port: refused', [connect('10.0.0.1:9090', 'refused')]],
  ])('%s', (_t, steps) => { check(steps); });

  // §6.3: the LB member is hash % size; several connections reach more than one member
  it('an LB group spreads connections over its members', () => {
    const run = check([...listening('w1', '0.0.0.0:8080', 'root', LB), ...listening('w2', '0.0.0.0:8080', 'root', LB), ...listening('w3', '0.0.0.0:8080', 'root', LB),
      '- { connect: { from: client, to: "10.0.0.1:8080", count: 12 }, expect: [w1, w2, w3] }']);
    expect(new Set(run.steps.at(-1)!.results).size).toBeGreaterThan(1);
    expect(run.steps.at(-1)!.candidates![0]).toEqual(['w1', 'w2', 'w3']);
  });
});

describe('freebsd: IPv6 and IPV6_V6ONLY (SEMANTICS §6.1; UNCONFIRMED: in6_pcbbind not read)', () => {
  const DUAL = 'options: { IPV6_V6ONLY: false }';
  it.each<Row>([
    // §6.1: IPV6_V6ONLY defaults to net.inet6.ip6.v6only = 1: [::] and 0.0.0.0 coexist, each family to its own socket
    ['v6only default 1: [::] and 0.0.0.0 coexist', [sock6('v6'), bind('v6', '[::]:8080'), listen('v6'), ...listening('v4', '0.0.0.0:8080'),
      connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'v6')]],
    // in_pcbbind_setup: a plain 0.0.0.0 bind after a dual-stack [::] finds it (not both IPv6 sockets): EADDRINUSE
    ['dual-stack [::] first, then 0.0.0.0: EADDRINUSE', [sock6('d', DUAL), bind('d', '[::]:8080'), listen('d'), sock('v4'), bind('v4', '0.0.0.0:8080', 'EADDRINUSE'),
      connect('10.0.0.1:8080', 'd')]],
    // KAME in6_pcbbind (INP_SOCKAF differs): 0.0.0.0 first, then dual-stack [::]: ok; IPv4 goes to the AF_INET socket (dual-stack :: last)
    ['0.0.0.0 first, then dual-stack [::]: ok, IPv4 to AF_INET', [...listening('v4', '0.0.0.0:8080'), sock6('d', DUAL), bind('d', '[::]:8080'), listen('d'),
      connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'd')]],
    // tcp6_usr_bind: a v4-mapped address on an IPV6_V6ONLY socket (the default): EINVAL
    ['v4-mapped bind with the default v6only: EINVAL', [sock6('m'), bind('m', '[::ffff:10.0.0.1]:8080', 'EINVAL')]],
    ['[::] twice: EADDRINUSE', [sock6('x'), bind('x', '[::]:8080'), sock6('y'), bind('y', '[::]:8080', 'EADDRINUSE')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('freebsd: automatic ports (in_pcb_lport_dest: 10000..65535)', () => {
  it('port 0 and listen auto-bind pick ports in 10000..65535', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0'), sock('t'), listen('t')]);
    for (const i of [1, 3]) {
      const p = portOf(run.steps[i]!.reason);
      expect(p).toBeGreaterThanOrEqual(10000);
      expect(p).toBeLessThanOrEqual(65535);
    }
  });
});
