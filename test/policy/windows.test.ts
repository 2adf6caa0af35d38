// Policy `windows`: Microsoft's two Windows Server 2003+ bind tables ("Using SO_REUSEADDR and
// SO_EXCLUSIVEADDRUSE", MicrosoftDocs/win32 desktop-src/WinSock/using-so-reuseaddr-and-so-exclusiveaddruse.md)
// reproduced cell by cell, each cell a two-socket scenario; then the rules SEMANTICS §8 states
// separately. WSAEADDRINUSE is reported as EADDRINUSE, WSAEACCES as EACCES.

import { describe, expect, it } from 'vitest';
import { windows } from '../../src/emu/policy/windows.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, bind, close, connect, expectSteps, listen } from './cases.js';

// server: eth0 (10.0.0.1, 10.0.0.2, fd00::1); a and a2 share a user account, b is another user.
const HOSTS = `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, fd00::1/64] }
    processes: { a: { uid: 1000 }, a2: { uid: 1000 }, b: { uid: 1001 } }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }`;

const scenario = (steps: readonly string[]): string =>
  `name: windows policy case\nseed: 5\nhosts:${HOSTS}\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`;

/** Runs the steps under the policy and asserts every expectation written on them. */
function check(steps: readonly string[]): PolicyRun {
  return expectSteps(windows, scenario(steps));
}

const EX = 'options: { SO_EXCLUSIVEADDRUSE: true }';
const sock = (name: string, proc = 'a', opts = ''): string => `- { socket: ${name}, process: server/${proc}${opts ? `, ${opts}` : ''} }`;
const sock6 = (name: string, proc = 'a', opts = ''): string => `- { socket: ${name}, process: server/${proc}, family: inet6${opts ? `, ${opts}` : ''} }`;
const listening = (name: string, addr: string, proc = 'a', opts = ''): string[] => [sock(name, proc, opts), bind(name, addr), listen(name)];

// The tables' rows and columns, in the page's order.
type Cls = 'default W' | 'default S' | 'SO_REUSEADDR W' | 'SO_REUSEADDR S' | 'SO_EXCLUSIVEADDRUSE W' | 'SO_EXCLUSIVEADDRUSE S';
const CLASSES: readonly Cls[] = ['default W', 'default S', 'SO_REUSEADDR W', 'SO_REUSEADDR S', 'SO_EXCLUSIVEADDRUSE W', 'SO_EXCLUSIVEADDRUSE S'];
const OPTS: Record<string, string> = { default: '', SO_REUSEADDR: RA, SO_EXCLUSIVEADDRUSE: EX };
// W = 0.0.0.0, S = the same specific address for both sockets.
const ADDR = (c: Cls): string => (c.endsWith(' W') ? '0.0.0.0:8080' : '10.0.0.2:8080');
const ERR: Record<string, string> = { Success: 'ok', INUSE: 'EADDRINUSE', ACCESS: 'EACCES' };

// [WIN] "Windows Server 2003 and later", both binds under the same user account; rows: first bind, columns: second bind.
const SAME_USER: Record<Cls, readonly string[]> = {
  'default W':             ['INUSE', 'Success', 'ACCESS', 'Success', 'INUSE', 'Success'],
  'default S':             ['Success', 'INUSE', 'Success', 'ACCESS', 'INUSE', 'INUSE'],
  'SO_REUSEADDR W':        ['INUSE', 'Success', 'Success', 'Success', 'INUSE', 'Success'],
  'SO_REUSEADDR S':        ['Success', 'INUSE', 'Success', 'Success', 'INUSE', 'INUSE'],
  'SO_EXCLUSIVEADDRUSE W': ['INUSE', 'ACCESS', 'ACCESS', 'ACCESS', 'INUSE', 'ACCESS'],
  'SO_EXCLUSIVEADDRUSE S': ['Success', 'INUSE', 'Success', 'ACCESS', 'INUSE', 'INUSE'],
};
// [WIN] the table for a second bind "using ... a different user account".
const DIFFERENT_USER: Record<Cls, readonly string[]> = {
  'default W':             ['INUSE', 'ACCESS', 'ACCESS', 'ACCESS', 'INUSE', 'ACCESS'],
  'default S':             ['Success', 'INUSE', 'Success', 'ACCESS', 'INUSE', 'INUSE'],
  'SO_REUSEADDR W':        ['INUSE', 'ACCESS', 'Success', 'Success', 'INUSE', 'ACCESS'],
  'SO_REUSEADDR S':        ['Success', 'INUSE', 'Success', 'Success', 'INUSE', 'INUSE'],
  'SO_EXCLUSIVEADDRUSE W': ['INUSE', 'ACCESS', 'ACCESS', 'ACCESS', 'INUSE', 'ACCESS'],
  'SO_EXCLUSIVEADDRUSE S': ['Success', 'INUSE', 'Success', 'ACCESS', 'INUSE', 'INUSE'],
};

type Cell = [first: Cls, second: Cls, cell: string, secondProc: string];
const cells = (table: Record<Cls, readonly string[]>, proc: string): Cell[] =>
  CLASSES.flatMap((first) => CLASSES.map((second, i): Cell => [first, second, table[first][i]!, proc]));

const twoBinds = ([first, second, cell, proc]: Cell): string[] => {
  const [m1] = first.split(' ');
  const [m2] = second.split(' ');
  return [sock('one', 'a', OPTS[m1!]), bind('one', ADDR(first)), sock('two', proc, OPTS[m2!]), bind('two', ADDR(second), ERR[cell]!)];
};

describe('windows: same-user table, Windows Server 2003+ (36 cells) [WIN]', () => {
  it.each(cells(SAME_USER, 'a2'))('first %s, second %s: %s', (...cell) => { check(twoBinds(cell)); });
});

describe('windows: different-user table, Windows Server 2003+ (36 cells) [WIN]', () => {
  it.each(cells(DIFFERENT_USER, 'b'))('first %s, second %s: %s', (...cell) => { check(twoBinds(cell)); });
});

type Row = [title: string, steps: string[]];

describe('windows: rules stated beside the tables (SEMANTICS §8)', () => {
  it.each<Row>([
    // [WIN]: different specific addresses never conflict, whatever the options
    ['exclusive 10.0.0.1 then plain 10.0.0.2, another user: ok', [sock('x', 'a', EX), bind('x', '10.0.0.1:8080'), sock('y', 'b'), bind('y', '10.0.0.2:8080')]],
    // [WIN]: the example the page gives: a listening wildcard server with SO_EXCLUSIVEADDRUSE refuses another user's SO_REUSEADDR bind
    ['exclusive wildcard listener protects against another user: EACCES', [...listening('srv', '0.0.0.0:8080', 'a', EX), sock('m', 'b', RA),
      bind('m', '10.0.0.2:8080', 'EACCES'), connect('10.0.0.2:8080', 'srv')]],
    // [WIN]: without it, a plain wildcard listener of the same user is joined by a specific SO_REUSEADDR bind, which then gets that address
    ['default wildcard, same user, SO_REUSEADDR specific: ok and it takes 10.0.0.2', [...listening('srv', '0.0.0.0:8080'), sock('m', 'a2', RA),
      bind('m', '10.0.0.2:8080'), listen('m'), connect('10.0.0.2:8080', 'm'), connect('10.0.0.1:8080', 'srv')]],
    // [WIN] "bound to all interfaces except the specific address": exclusive specific, then a default wildcard
    ['exclusive specific then default wildcard: each gets its addresses', [...listening('spec', '10.0.0.2:8080', 'a', EX), ...listening('any', '0.0.0.0:8080', 'b'),
      connect('10.0.0.2:8080', 'spec'), connect('10.0.0.1:8080', 'any')]],
    // [WIN] complete duplicates with SO_REUSEADDR on both: "indeterminate"; either may get a connection
    ['SO_REUSEADDR on both, the same wildcard: both listen, the choice is undefined', [...listening('w1', '0.0.0.0:8080', 'a', RA), ...listening('w2', '0.0.0.0:8080', 'b', RA),
      connect('10.0.0.1:8080', '[w1, w2]', 'count: 8')]],
    // [WIN]: more than two sockets: pairwise against every overlapping one (the pages are silent; SEMANTICS §8)
    // (x default W, y SO_REUSEADDR S of the same user: ok; z of another user is ok beside y but refused by x)
    ['three sockets: the third is checked against both', [sock('x'), bind('x', '0.0.0.0:8080'), sock('y', 'a2', RA), bind('y', '10.0.0.2:8080'),
      sock('z', 'b', RA), bind('z', '10.0.0.2:8080', 'EACCES')]],
    // [WIN] dual-stack note: an exclusive dual-stack bind after an IPv4 loopback bind: WSAEACCES
    ['exclusive dual-stack :: after IPv4 127.0.0.1: EACCES', [sock('lo'), bind('lo', '127.0.0.1:5000'),
      sock6('ds', 'a', 'options: { IPV6_V6ONLY: false, SO_EXCLUSIVEADDRUSE: true }'), bind('ds', '[::]:5000', 'EACCES')]],
    // Dual-Stack Sockets: IPv6 sockets are IPv6-only by default, so [::] and 0.0.0.0 do not meet
    ['default IPv6 socket on [::] leaves IPv4 alone', [sock6('v6'), bind('v6', '[::]:8080'), listen('v6'), ...listening('v4', '0.0.0.0:8080'),
      connect('10.0.0.1:8080', 'v4'), connect('[fd00::1]:8080', 'v6')]],
    // [WIN] dual-stack sockets reserve the port on both stacks
    ['dual-stack [::] (IPV6_V6ONLY off) holds 0.0.0.0 too', [sock6('ds', 'a', 'options: { IPV6_V6ONLY: false }'), bind('ds', '[::]:8080'), listen('ds'),
      sock('v4'), bind('v4', '0.0.0.0:8080', 'EADDRINUSE'), connect('10.0.0.1:8080', 'ds'), connect('[fd00::1]:8080', 'ds')]],
    // Dual-Stack Sockets: a v4-mapped address only on a dual-stack socket (error code UNCONFIRMED)
    ['v4-mapped bind on a default (IPv6-only) socket fails', [sock6('m'), bind('m', '[::ffff:10.0.0.1]:8080', 'EADDRNOTAVAIL')]],
  ])('%s', (_t, steps) => { check(steps); });
});

describe('windows: calls and options (Winsock bind/listen pages; SEMANTICS §8, §10)', () => {
  it.each<Row>([
    // bindlab convention: options the OS lacks are ENOPROTOOPT
    ['SO_REUSEPORT, SO_REUSEPORT_LB, IP_FREEBIND, SO_BINDTODEVICE: ENOPROTOOPT', [
      '- { socket: p, process: server/a, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }',
      '- { socket: q, process: server/a, options: { SO_REUSEPORT_LB: true }, expect: ENOPROTOOPT }',
      '- { socket: r, process: server/a, options: { IP_FREEBIND: true }, expect: ENOPROTOOPT }',
      '- { socket: s, process: server/a, options: { SO_BINDTODEVICE: eth0 }, expect: ENOPROTOOPT }']],
    // Winsock bind: WSAEINVAL "already bound"; WSAEADDRNOTAVAIL for a non-local address
    ['second bind: EINVAL; a foreign address: EADDRNOTAVAIL', [sock('s'), bind('s', '0.0.0.0:8080'), bind('s', '0.0.0.0:8081', 'EINVAL'),
      sock('t'), bind('t', '192.0.2.9:8080', 'EADDRNOTAVAIL')]],
    // Winsock listen: WSAEINVAL "The socket has not been bound with bind"
    ['listen on an unbound socket: EINVAL', [sock('s'), listen('s', 'EINVAL')]],
    // No privileged ports documented (UNCONFIRMED): uid 1000 binds port 80
    ['an unprivileged user binds port 80', [sock('s'), bind('s', '0.0.0.0:80'), listen('s'), connect('10.0.0.1:80', 's')]],
    // Lookup: a bound, not listening socket gets nothing; RST
    ['bound but not listening: refused', [sock('s'), bind('s', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'refused')]],
    // TIME_WAIT does not block a restart (UNCONFIRMED: SEMANTICS §8 / §10.5)
    ['restart over a server-side TIME_WAIT without options: ok', [...listening('old', '0.0.0.0:8080'), connect('10.0.0.1:8080', 'old', 'close: server'),
      close('old'), sock('new'), bind('new', '0.0.0.0:8080'), listen('new'), connect('10.0.0.1:8080', 'new')]],
  ])('%s', (_t, steps) => { check(steps); });

  it('bind to port 0 picks from 49152..65535 (sdk-api winsock bind, Remarks)', () => {
    const run = check([sock('s'), bind('s', '0.0.0.0:0')]);
    const port = Number(/bound [^ ]*:(\d+)/.exec(run.steps[1]!.reason ?? '')?.[1]);
    expect(port).toBeGreaterThanOrEqual(49152);
    expect(port).toBeLessThanOrEqual(65535);
  });

  it('duplicates report every socket as a candidate (the choice is undefined on Windows)', () => {
    const run = check([...listening('w1', '0.0.0.0:8080', 'a', RA), ...listening('w2', '0.0.0.0:8080', 'a', RA), connect('10.0.0.1:8080', '[w1, w2]')]);
    expect(run.steps[6]!.candidates).toEqual([['w1', 'w2']]);
  });

  it('fingerprint: TTL 128, MSS,NOP,WS,NOP,NOP,SACK_PERM, no timestamps, window 64240', () => {
    expect(windows.fingerprint.ttl).toBe(128);
    expect(windows.fingerprint.synOptions).toEqual(['mss', 'nop', 'windowScale', 'nop', 'nop', 'sackPermitted']);
    expect(windows.fingerprint.synWindow).toBe(64240);
    expect(windows.timeWaitNs).toBe(120e9);
  });
});
