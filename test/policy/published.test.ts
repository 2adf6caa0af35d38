// Published behaviour claims (man pages, vendor documentation, a book, a commit message and two
// well-known Q&A write-ups) turned into minimal two- or three-socket cases. Each row names the
// policies the claim is about and cites its source; only claims our policies agree with are here
// (the disagreements, and why the policy follows a better source, are in docs/os-tests-and-published-claims.md). The two Microsoft
// SO_EXCLUSIVEADDRUSE tables are in windows.test.ts and are not repeated.
//
// Sources:
//  [MECKI]  "How do SO_REUSEADDR and SO_REUSEPORT differ?", answer by Mecki, https://stackoverflow.com/a/14388707
//           (full text read from a stored copy, index id 16022700491): sections BSD, FreeBSD/OpenBSD/NetBSD,
//           macOS, Linux < 3.9, Linux >= 3.9, Windows, Solaris. Q&A answer, not vendor documentation.
//  [S7]     Linux man-pages socket(7): SO_REUSEADDR, SO_REUSEPORT and NOTES, https://man7.org/linux/man-pages/man7/socket.7.html
//  [IP7]    Linux man-pages ip(7) (6.19), DESCRIPTION and "Address format", https://man7.org/linux/man-pages/man7/ip.7.html
//  [UNP]    Stevens, Fenner, Rudoff, UNIX Network Programming vol. 1, 3rd ed., section 7.5, the four uses of
//           SO_REUSEADDR (quoted in public notes, index id 43586957821)
//  [TCP4P]  illumos tcp(4P), "Listening And Connecting", illumos/illumos-gate usr/src/man/man4p/tcp.4p (54819d46)
//  [FBSO]   FreeBSD setsockopt(2) (getsockopt.2): SO_REUSEPORT, SO_REUSEPORT_LB, https://man.freebsd.org/cgi/man.cgi?setsockopt(2)
//  [MSREUSE] Microsoft, "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE", prose outside the two tables,
//           MicrosoftDocs/win32 desktop-src/WinSock/using-so-reuseaddr-and-so-exclusiveaddruse.md (08f5ed21)
//  [L39]    Linux commit da5e36308d9f "soreuseport: TCP/IPv4 implementation" (Tom Herbert, Linux 3.9)
//  [ASE]    Ask Different question 348854 (macOS 10.14.2 observations), and Z. Manji, "Binding to privileged
//           ports without root on macOS" (2024), https://zameermanji.com/blog/2024/1/5/binding-to-privileged-ports-without-root-on-macos/
//  [SOL]    Oracle Solaris "Programming Interfaces Guide", Address Binding, https://docs.oracle.com/cd/E19253-01/817-4415/sockets-47146/index.html

import { describe, expect, it } from 'vitest';
import type { PolicyRun } from '../../src/emu/results.js';
import { RA, RP, TWO_LINKS, TWO_LINK_HOSTS, bind, caseText, close, connect, expectSteps, listen, portOf } from './cases.js';

// server: eth0 10.0.0.1, 10.0.0.2, fd00::1; eth1 10.0.1.1; processes root (0), a and a2 (1000), b (1001).
const check = (policy: string, steps: readonly string[]): PolicyRun =>
  expectSteps(policy, caseText(policy, TWO_LINK_HOSTS, steps, { top: TWO_LINKS }));

const LB = 'options: { SO_REUSEPORT_LB: true }';
const EX = 'options: { SO_EXCLUSIVEADDRUSE: true }';
const sock = (name: string, proc = 'a', opts = ''): string => `- { socket: ${name}, process: server/${proc}${opts ? `, ${opts}` : ''} }`;
const sock6 = (name: string, proc = 'a', opts = ''): string => `- { socket: ${name}, process: server/${proc}, family: inet6${opts ? `, ${opts}` : ''} }`;
const listening = (name: string, addr: string, proc = 'a', opts = ''): string[] => [sock(name, proc, opts), bind(name, addr), listen(name)];
/** A listener that accepted one connection and closed it first (server-side TIME_WAIT), then was closed itself. */
const timeWait = (name: string, addr: string, to: string, proc = 'a', opts = ''): string[] =>
  [...listening(name, addr, proc, opts), connect(to, name, 'close: server'), close(name)];

const ALL = ['linux-1.3.60', 'pajari-1999', 'linux-2.2', 'linux', 'bsd44', 'freebsd', 'macos', 'windows', 'illumos'];
const LINUXES = ['linux-1.3.60', 'linux-2.2', 'linux'];
const BSDS = ['bsd44', 'freebsd', 'macos'];

type Row = [policies: readonly string[], title: string, steps: string[]];
const expand = (rows: readonly Row[]): [string, string, string[]][] =>
  rows.flatMap(([ps, title, steps]) => ps.map((p): [string, string, string[]] => [p, title, steps]));

// ---------------------------------------------------------------------------------------------
// [MECKI] "BSD": the table of eight two-socket binds ("socketA has already been successfully bound ... socketB is
// created, either gets SO_REUSEADDR set or not ... Result is the result of the bind operation for socketB"; ON/OFF:
// "the value of SO_REUSEADDR is irrelevant"). 192.168.0.1 -> 10.0.0.2, 10.0.0.1 -> 10.0.0.1, port 21 -> 2100
// (uid 1000 may not bind 21 on a BSD). Also for FreeBSD and macOS ("behave the same way as in BSD") and for
// Solaris ("SO_REUSEADDR behaves pretty much the same as it does in BSD").
const MECKI_BSD_TABLE: [reuse: 'ON' | 'OFF', a: string, b: string, result: string][] = [
  ['ON', '10.0.0.2', '10.0.0.2', 'EADDRINUSE'], ['OFF', '10.0.0.2', '10.0.0.2', 'EADDRINUSE'],
  ['ON', '10.0.0.2', '10.0.0.1', 'ok'], ['OFF', '10.0.0.2', '10.0.0.1', 'ok'],
  ['ON', '10.0.0.1', '10.0.0.2', 'ok'], ['OFF', '10.0.0.1', '10.0.0.2', 'ok'],
  ['OFF', '0.0.0.0', '10.0.0.2', 'EADDRINUSE'],
  ['OFF', '10.0.0.2', '0.0.0.0', 'EADDRINUSE'],
  ['ON', '0.0.0.0', '10.0.0.2', 'ok'],
  ['ON', '10.0.0.2', '0.0.0.0', 'ok'],
  ['ON', '0.0.0.0', '0.0.0.0', 'EADDRINUSE'], ['OFF', '0.0.0.0', '0.0.0.0', 'EADDRINUSE'],
];
describe('[MECKI] BSD SO_REUSEADDR table (bsd44, freebsd, macos, illumos)', () => {
  const rows = [...BSDS, 'illumos'].flatMap((p) => MECKI_BSD_TABLE.map(([r, a, b, res]): [string, string, string, string, string] => [p, r, a, b, res]));
  it.each(rows)('%s: SO_REUSEADDR %s, socketA %s:2100, socketB %s:2100: %s', (p, r, a, b, res) => {
    // SO_REUSEADDR on socketB only: "only inspects the SO_REUSEADDR flag of the socket fed into the bind() call"
    check(p, [sock('A', 'a'), bind('A', `${a}:2100`), sock('B', 'a2', r === 'ON' ? RA : ''), bind('B', `${b}:2100`, res)]);
  });
});

describe('[MECKI] BSD: TIME_WAIT and SO_REUSEPORT', () => {
  it.each(expand([
    // "If SO_REUSEADDR is not set, a socket in state TIME_WAIT is considered to still be bound ... any attempt to bind
    // a new socket to the same address and port will fail until the socket has really been closed."
    [[...BSDS, 'illumos', ...LINUXES], 'TIME_WAIT owner, new socket without SO_REUSEADDR: EADDRINUSE',
      [...timeWait('old', '10.0.0.1:2100', '10.0.0.1:2100', 'a', RA), sock('new', 'a'), bind('new', '10.0.0.1:2100', 'EADDRINUSE')]],
    // "if SO_REUSEADDR is set for the socket you are trying to bind, another socket ... in state TIME_WAIT is simply
    // ignored"; "It is not necessary that the other socket ... also had this flag set when it was bound."
    [[...BSDS, 'illumos'], 'TIME_WAIT owner without SO_REUSEADDR, new socket with it: ok',
      [...timeWait('old', '10.0.0.1:2100', '10.0.0.1:2100'), sock('new', 'a', RA), bind('new', '10.0.0.1:2100'), listen('new'),
        connect('10.0.0.1:2100', 'new')]],
    // "SO_REUSEPORT allows you to bind an arbitrary number of sockets to exactly the same source address and port as
    // long as all prior bound sockets also had SO_REUSEPORT set before they were bound."
    [BSDS, 'three SO_REUSEPORT sockets on 0.0.0.0:2100: ok',
      [sock('r1', 'a', RP), bind('r1', '0.0.0.0:2100'), sock('r2', 'a2', RP), bind('r2', '0.0.0.0:2100'), sock('r3', 'a', RP), bind('r3', '0.0.0.0:2100')]],
    // "If the first socket ... does not have SO_REUSEPORT set, no other socket can be bound to exactly the same address
    // and port, regardless if this other socket has SO_REUSEPORT set or not"
    [BSDS, 'first without SO_REUSEPORT, second with it, same 0.0.0.0:2100: EADDRINUSE',
      [sock('r1', 'a'), bind('r1', '0.0.0.0:2100'), sock('r2', 'a2', RP), bind('r2', '0.0.0.0:2100', 'EADDRINUSE')]],
    // "... or SO_REUSEPORT must have been set on both sockets prior to binding them" (the TIME_WAIT case)
    [BSDS, 'TIME_WAIT owner with SO_REUSEPORT, new socket with SO_REUSEPORT: ok',
      [...timeWait('old', '10.0.0.1:2100', '10.0.0.1:2100', 'a', RP), sock('new', 'a', RP), bind('new', '10.0.0.1:2100')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('[MECKI] Linux < 3.9 and >= 3.9; Windows; Solaris', () => {
  it.each(expand([
    // Linux < 3.9: "As long as a listening (server) TCP socket is bound to a specific port, the SO_REUSEADDR option is
    // entirely ignored ... you cannot bind to a wildcard address and then to a more specific one or the other way round"
    [['linux-2.2', 'linux'], 'listening 0.0.0.0 (SO_REUSEADDR), then 10.0.0.2 with SO_REUSEADDR: EADDRINUSE',
      [...listening('w', '0.0.0.0:2100', 'a', RA), sock('s', 'a', RA), bind('s', '10.0.0.2:2100', 'EADDRINUSE')]],
    [['linux-2.2', 'linux'], 'listening 10.0.0.2 (SO_REUSEADDR), then 0.0.0.0 with SO_REUSEADDR: EADDRINUSE',
      [...listening('s', '10.0.0.2:2100', 'a', RA), sock('w', 'a', RA), bind('w', '0.0.0.0:2100', 'EADDRINUSE')]],
    // "What you can do is you can bind to the same port and two different non-wildcard addresses"
    [['linux-2.2', 'linux'], 'two listeners on different specific addresses: ok',
      [...listening('s1', '10.0.0.1:2100', 'a', RA), ...listening('s2', '10.0.0.2:2100', 'a', RA)]],
    // "for client sockets, this option behaves exactly like SO_REUSEPORT in BSD, as long as both had this flag set
    // before they were bound"
    [['linux-2.2', 'linux'], 'two non-listening sockets, both SO_REUSEADDR, same 10.0.0.1:2100: ok',
      [sock('c1', 'a', RA), bind('c1', '10.0.0.1:2100'), sock('c2', 'b', RA), bind('c2', '10.0.0.1:2100')]],
    [['linux-2.2', 'linux'], 'two non-listening sockets, only the second with SO_REUSEADDR: EADDRINUSE',
      [sock('c1', 'a'), bind('c1', '10.0.0.1:2100'), sock('c2', 'a', RA), bind('c2', '10.0.0.1:2100', 'EADDRINUSE')]],
    // "Prior to Linux 3.9, only the option SO_REUSEADDR existed."
    [['linux-2.2'], 'SO_REUSEPORT does not exist: ENOPROTOOPT', ['- { socket: p, process: server/a, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }']],
    // Linux >= 3.9: "allows binding to exactly the same address and port number as long as all sockets have this option
    // set prior to binding them"; "All sockets that want to share the same address and port combination must belong to
    // processes that share the same effective user ID!"
    [['linux'], 'SO_REUSEPORT on both, same uid, same 0.0.0.0:2100, both listen: ok',
      [...listening('r1', '0.0.0.0:2100', 'a', RP), ...listening('r2', '0.0.0.0:2100', 'a2', RP)]],
    [['linux'], 'SO_REUSEPORT on both, different uids: EADDRINUSE',
      [...listening('r1', '0.0.0.0:2100', 'a', RP), sock('r2', 'b', RP), bind('r2', '0.0.0.0:2100', 'EADDRINUSE')]],
    // Windows: "Windows only knows the SO_REUSEADDR option, there is no SO_REUSEPORT."
    [['windows'], 'SO_REUSEPORT does not exist: ENOPROTOOPT', ['- { socket: p, process: server/a, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }']],
    // Solaris: "Solaris only knows SO_REUSEADDR, there is no SO_REUSEPORT ... it is not possible to bind two sockets to
    // exactly the same address and port."
    [['illumos'], 'SO_REUSEPORT does not exist: ENOPROTOOPT', ['- { socket: p, process: server/a, options: { SO_REUSEPORT: true }, expect: ENOPROTOOPT }']],
    [['illumos'], 'two SO_REUSEADDR listeners on the same 10.0.0.1:2100: EADDRINUSE',
      [...listening('s1', '10.0.0.1:2100', 'a', RA), sock('s2', 'a', RA), bind('s2', '10.0.0.1:2100', 'EADDRINUSE')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });

  // Linux >= 3.9: "for TCP listening sockets, it tries to distribute incoming connect requests ... evenly across all
  // the sockets that share the same address and port"; [L39] "Allow multiple listener sockets to bind to the same
  // port ... With so_reusport the distribution is uniform."
  it('linux: four SO_REUSEPORT listeners on 0.0.0.0:8080 all receive connections [MECKI][L39]', () => {
    const names = ['r1', 'r2', 'r3', 'r4'];
    const run = check('linux', [...names.flatMap((n) => listening(n, '0.0.0.0:8080', 'a', RP)),
      connect('10.0.0.1:8080', `[${names.join(', ')}]`, 'count: 64')]);
    const got = run.steps.at(-1)!.results!;
    for (const n of names) expect(got.filter((x) => x === n).length).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
describe('[S7] [IP7] Linux man pages', () => {
  it.each(expand([
    // [S7] SO_REUSEADDR: "For AF_INET sockets this means that a socket may bind, except when there is an active
    // listening socket bound to the address."
    [LINUXES, 'an active listener on 10.0.0.1:2100 (SO_REUSEADDR): a SO_REUSEADDR bind of it fails',
      [...listening('l', '10.0.0.1:2100', 'a', RA), sock('n', 'a', RA), bind('n', '10.0.0.1:2100', 'EADDRINUSE')]],
    [['linux-2.2', 'linux'], 'the same socket bound but not listening: the SO_REUSEADDR bind succeeds',
      [sock('l', 'a', RA), bind('l', '10.0.0.1:2100'), sock('n', 'a', RA), bind('n', '10.0.0.1:2100')]],
    // [S7] "When the listening socket is bound to INADDR_ANY with a specific port then it is not possible to bind to
    // this port for any local address."
    [LINUXES, 'a listener on 0.0.0.0:2100 (SO_REUSEADDR): SO_REUSEADDR binds of 10.0.0.2, 10.0.1.1, 0.0.0.0 fail',
      [...listening('l', '0.0.0.0:2100', 'a', RA), sock('n1', 'a', RA), bind('n1', '10.0.0.2:2100', 'EADDRINUSE'),
        sock('n2', 'a', RA), bind('n2', '10.0.1.1:2100', 'EADDRINUSE'), sock('n3', 'a', RA), bind('n3', '0.0.0.0:2100', 'EADDRINUSE')]],
    // [S7] NOTES: "Linux will allow port reuse only with the SO_REUSEADDR option when this option was set both in the
    // previous program that performed a bind(2) to the port and in the program that wants to reuse the port."
    [LINUXES, 'TIME_WAIT of a listener without SO_REUSEADDR, new socket with it: EADDRINUSE',
      [...timeWait('old', '0.0.0.0:2100', '10.0.0.1:2100'), sock('new', 'a', RA), bind('new', '0.0.0.0:2100', 'EADDRINUSE')]],
    [LINUXES, 'TIME_WAIT of a listener with SO_REUSEADDR, new socket with it: ok',
      [...timeWait('old', '0.0.0.0:2100', '10.0.0.1:2100', 'a', RA), sock('new', 'a', RA), bind('new', '0.0.0.0:2100'), listen('new')]],
    // [S7] NOTES: "This differs from some implementations (e.g., FreeBSD) where only the later program needs to set the
    // SO_REUSEADDR option."
    [['freebsd'], 'FreeBSD: TIME_WAIT of a listener without SO_REUSEADDR, new socket with it: ok',
      [...timeWait('old', '0.0.0.0:2100', '10.0.0.1:2100'), sock('new', 'a', RA), bind('new', '0.0.0.0:2100'), listen('new')]],
    // [S7] SO_REUSEPORT: "This option must be set on each socket (including the first socket) prior to calling bind(2)";
    // "all of the processes binding to the same address must have the same effective UID"
    [['linux'], 'first socket without SO_REUSEPORT: EADDRINUSE',
      [sock('r1', 'a'), bind('r1', '10.0.0.1:2100'), sock('r2', 'a2', RP), bind('r2', '10.0.0.1:2100', 'EADDRINUSE')]],
    [['linux'], 'both with SO_REUSEPORT, same effective uid: ok; a third of another uid: EADDRINUSE',
      [sock('r1', 'a', RP), bind('r1', '10.0.0.1:2100'), sock('r2', 'a2', RP), bind('r2', '10.0.0.1:2100'),
        sock('r3', 'b', RP), bind('r3', '10.0.0.1:2100', 'EADDRINUSE')]],
    // [IP7] "only one IP socket may be bound to any given local (address, port) pair"
    [['linux'], 'two plain binds of 10.0.0.1:2100: EADDRINUSE',
      [sock('x', 'a'), bind('x', '10.0.0.1:2100'), sock('y', 'a'), bind('y', '10.0.0.1:2100', 'EADDRINUSE')]],
    // [IP7] "When INADDR_ANY is specified in the bind call, the socket will be bound to all local interfaces."
    [['linux'], 'a 0.0.0.0 listener answers on every local address of both interfaces',
      [...listening('w', '0.0.0.0:2100'), connect('10.0.0.1:2100', 'w'), connect('10.0.0.2:2100', 'w'), connect('10.0.1.1:2100', 'w')]],
    // [IP7] "A TCP local socket address that has been bound is unavailable for some time after closing, unless the
    // SO_REUSEADDR flag has been set."
    [['linux'], 'TIME_WAIT without SO_REUSEADDR: EADDRINUSE now, ok after 61 s',
      [...timeWait('old', '10.0.0.1:2100', '10.0.0.1:2100'), sock('n', 'a'), bind('n', '10.0.0.1:2100', 'EADDRINUSE'),
        '- { wait: 61s }', bind('n', '10.0.0.1:2100')]],
    // [IP7] "The port numbers below 1024 are called privileged ports" (binding them needs CAP_NET_BIND_SERVICE)
    [['linux'], 'uid 1000 binds port 80: EACCES; root: ok',
      [sock('u', 'a'), bind('u', '0.0.0.0:80', 'EACCES'), sock('r', 'root'), bind('r', '0.0.0.0:80')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });

  // [IP7] "When listen(2) is called on an unbound socket, the socket is automatically bound to a random free port with
  // the local address set to INADDR_ANY."
  it('linux: listen() on an unbound socket takes a free port on 0.0.0.0 [IP7]', () => {
    const run = check('linux', [sock('s'), listen('s')]);
    expect(run.steps[1]!.reason).toMatch(/listening on 0\.0\.0\.0:\d+/);
    const port = portOf(run.steps[1]!.reason);
    expect(port).toBeGreaterThanOrEqual(32768);
    expect(port).toBeLessThanOrEqual(60999);
  });
});

// ---------------------------------------------------------------------------------------------
describe('[UNP] the four uses of SO_REUSEADDR (Berkeley-derived kernels)', () => {
  it.each(expand([
    // Use 1: "allows a listening server to start and bind its well-known port, even if previously established
    // connections exist that use this port as their local port" (the old connection is modelled in TIME_WAIT:
    // bindlab's close ends a listener's connections; see the report). Without the option "bind fails".
    [[...BSDS, 'illumos', ...LINUXES], 'restart over the old server\'s connection, SO_REUSEADDR: ok',
      [...timeWait('old', '0.0.0.0:2100', '10.0.0.1:2100', 'a', RA), sock('new', 'a', RA), bind('new', '0.0.0.0:2100'), listen('new'),
        connect('10.0.0.1:2100', 'new')]],
    [[...BSDS, 'illumos', ...LINUXES], 'restart over the old server\'s connection, no option: EADDRINUSE',
      [...timeWait('old', '0.0.0.0:2100', '10.0.0.1:2100'), sock('new', 'a'), bind('new', '0.0.0.0:2100', 'EADDRINUSE')]],
    // Use 2: "allows a new server to be started on the same port as an existing server that is bound to the wildcard
    // address, as long as each instance binds a different local IP address"; "The wildcard means 'everything that
    // doesn't have a better (more specific) match.'"
    [[...BSDS, 'illumos'], 'a 10.0.0.2 server beside a listening wildcard server; each gets its addresses',
      [...listening('w', '0.0.0.0:2100', 'a', RA), ...listening('s', '10.0.0.2:2100', 'a', RA),
        connect('10.0.0.2:2100', 's'), connect('10.0.0.1:2100', 'w')]],
    // "With TCP, we are never able to start multiple servers that bind the same IP address and the same port: a
    // completely duplicate binding." (Use 4: "Normally this feature is supported only for UDP sockets.")
    [[...BSDS, 'illumos', ...LINUXES], 'a second SO_REUSEADDR server on the same 10.0.0.2:2100: EADDRINUSE',
      [...listening('s1', '10.0.0.2:2100', 'a', RA), sock('s2', 'a', RA), bind('s2', '10.0.0.2:2100', 'EADDRINUSE')]],
    // Use 3: "allows a single process to bind the same port to multiple sockets, as long as each bind specifies a
    // different local IP address."
    [ALL, 'one process, SO_REUSEADDR, 10.0.0.1:2100 and 10.0.0.2:2100: ok',
      [...listening('x', '10.0.0.1:2100', 'a', RA), ...listening('y', '10.0.0.2:2100', 'a', RA), connect('10.0.0.1:2100', 'x'), connect('10.0.0.2:2100', 'y')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('[TCP4P] illumos tcp(4P), Listening And Connecting', () => {
  it.each(expand([
    // "no two TCP sockets can be bound to the same port unless the bound IP addresses are different"
    [['illumos'], 'no options: 10.0.0.1 and 10.0.0.2 on one port ok, 10.0.0.1 twice EADDRINUSE',
      [sock('x'), bind('x', '10.0.0.1:2100'), sock('y'), bind('y', '10.0.0.2:2100'), sock('z'), bind('z', '10.0.0.1:2100', 'EADDRINUSE')]],
    // "if a socket is bound to INADDR_ANY or the unspecified address and port N, no other socket can bind to port N,
    // regardless of the binding address" (same address family)
    [['illumos'], 'no options: 0.0.0.0:2100 then 10.0.0.2:2100: EADDRINUSE',
      [sock('w'), bind('w', '0.0.0.0:2100'), sock('s'), bind('s', '10.0.0.2:2100', 'EADDRINUSE')]],
    [['illumos'], 'no options: [::]:2100 then [fd00::1]:2100: EADDRINUSE',
      [sock6('w'), bind('w', '[::]:2100'), sock6('s'), bind('s', '[fd00::1]:2100', 'EADDRINUSE')]],
    // "If SO_REUSEADDR is set on a socket doing a bind ... as long as the two sockets are not both bound to INADDR_ANY,
    // the unspecified address, or the same IP address, then the two sockets can be bound to the same port."
    [['illumos'], 'SO_REUSEADDR on the binding socket: specific beside a listening wildcard ok; a second wildcard EADDRINUSE',
      [...listening('w', '0.0.0.0:2100'), sock('s', 'a', RA), bind('s', '10.0.0.2:2100'), sock('w2', 'a', RA), bind('w2', '0.0.0.0:2100', 'EADDRINUSE')]],
    [['illumos'], 'SO_REUSEADDR only on the socket already bound: the specific bind fails',
      [sock('w', 'a', RA), bind('w', '0.0.0.0:2100'), sock('s', 'a'), bind('s', '10.0.0.2:2100', 'EADDRINUSE')]],
    // [SOL] "If no explicit bind(3SOCKET) has been done ..., listen(3SOCKET) assigns an ephemeral port number."
    [['illumos'], 'listen() on an unbound socket: ok', [sock('s'), listen('s')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('[FBSO] FreeBSD setsockopt(2)', () => {
  it.each(expand([
    // "SO_REUSEPORT allows completely duplicate bindings by multiple processes if they all set SO_REUSEPORT before
    // binding the port." (processes of one user: the uid rule of in_pcbbind is not in the man page)
    [['freebsd'], 'SO_REUSEPORT on both, 0.0.0.0:2100: ok; a third without it: EADDRINUSE',
      [sock('r1', 'a', RP), bind('r1', '0.0.0.0:2100'), sock('r2', 'a2', RP), bind('r2', '0.0.0.0:2100'), sock('r3', 'a2'), bind('r3', '0.0.0.0:2100', 'EADDRINUSE')]],
    // "SO_REUSEPORT_LB allows completely duplicate bindings by multiple processes if they all set SO_REUSEPORT_LB
    // before binding the port."
    [['freebsd'], 'SO_REUSEPORT_LB on both: ok; first without it: EADDRINUSE',
      [sock('l1', 'a', LB), bind('l1', '0.0.0.0:2100'), sock('l2', 'a2', LB), bind('l2', '0.0.0.0:2100'),
        sock('p', 'a'), bind('p', '10.0.0.1:2200'), sock('q', 'a2', LB), bind('q', '10.0.0.1:2200', 'EADDRINUSE')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });

  // "Incoming TCP and UDP connections are distributed among the sharing processes based on a hash function of local
  // port number, foreign IP address and port number."
  it('freebsd: connections to two SO_REUSEPORT_LB listeners are spread over both [FBSO]', () => {
    const run = check('freebsd', [...listening('l1', '0.0.0.0:2100', 'a', LB), ...listening('l2', '0.0.0.0:2100', 'a2', LB),
      connect('10.0.0.1:2100', '[l1, l2]', 'count: 32')]);
    const got = run.steps.at(-1)!.results!;
    expect(new Set(got)).toEqual(new Set(['l1', 'l2']));
  });
});

// ---------------------------------------------------------------------------------------------
describe('[MSREUSE] Microsoft prose outside the two tables (Windows Server 2003+)', () => {
  it.each(expand([
    // "a call to bind on the wildcard address by a process with the SO_EXCLUSIVEADDRUSE socket option set will fail if
    // another process is currently bound to the same port on a specific interface" (error: INUSE in the table)
    [['windows'], 'exclusive wildcard bind after another process\'s specific bind: EADDRINUSE',
      [sock('s', 'a'), bind('s', '10.0.0.1:5150'), sock('x', 'b', EX), bind('x', '0.0.0.0:5150', 'EADDRINUSE'),
        sock('y', 'a2', EX), bind('y', '0.0.0.0:5150', 'EADDRINUSE')]],
    // "If a client application binds to ... a specific port before a server application binds to the same port ...
    // If the server application tries to use the SO_EXCLUSIVEADDRUSE socket option for exclusive use of the port, the
    // request will fail."
    [['windows'], 'client bound 0.0.0.0:5150 first; the server\'s exclusive bind of the port fails',
      [sock('c', 'b'), bind('c', '0.0.0.0:5150'), sock('srv', 'a', EX), bind('srv', '0.0.0.0:5150', 'EADDRINUSE')]],
    // "When two sockets are bound to the same port number but on different explicit interfaces, there is no conflict."
    [['windows'], 'exclusive 10.0.0.1:5150, then plain 10.0.0.2:5150 by another user: ok',
      [sock('x', 'a', EX), bind('x', '10.0.0.1:5150'), sock('y', 'b'), bind('y', '10.0.0.2:5150')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });
});

// ---------------------------------------------------------------------------------------------
describe('[ASE] macOS: privileged ports only for specific addresses (Mojave and later)', () => {
  it.each(expand([
    // Manji: "nc -l 0.0.0.0 81" works without root; "nc -l 127.0.0.1 81" -> "Permission denied".
    // Ask Different 348854 (10.14.2): 127.0.0.1:80 and the machine's own IPv4 address: "Permission denied"; 0.0.0.0:80 listens.
    [['macos'], 'uid 1000: 0.0.0.0:81 ok, 127.0.0.1:81 EACCES, 10.0.0.1:80 EACCES, 0.0.0.0:80 ok',
      [sock('w', 'a'), bind('w', '0.0.0.0:81'), listen('w'), sock('l', 'a'), bind('l', '127.0.0.1:81', 'EACCES'),
        sock('s', 'a'), bind('s', '10.0.0.1:80', 'EACCES'), sock('w80', 'a'), bind('w80', '0.0.0.0:80')]],
    // Ask Different 348854: [::1]:80 and the machine's IPv6 address: "Permission denied"; "[::0]:80 ... successfully
    // starts listening" (SEMANTICS §7.1 marks the XNU IPv6 bind path UNCONFIRMED; this observation agrees with it)
    [['macos'], 'uid 1000, IPv6: [::]:80 ok, [fd00::1]:80 EACCES, [::1]:80 EACCES',
      [sock6('w', 'a'), bind('w', '[::]:80'), listen('w'), sock6('s', 'a'), bind('s', '[fd00::1]:80', 'EACCES'),
        sock6('l', 'a'), bind('l', '[::1]:80', 'EACCES')]],
  ]))('%s: %s', (p, _t, steps) => { check(p, steps); });
});
