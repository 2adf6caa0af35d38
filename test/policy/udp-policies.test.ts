// The UDP rules of every policy but linux (issue 18, item 2), each tested through a scenario run by
// the engine: one row is a list of steps whose `expect`s say what each OS does (a map by policy,
// `default` for the rest), checked under every policy the row names. The sources of each
// difference are in the row's title; the rules and citations are in src/emu/policy/*-udp.ts and
// the UDP section of each docs/policies page.

import { describe, it } from 'vitest';
import { expectSteps } from './cases.js';

const ALL = ['linux-1.3.60', 'pajari-1999', 'linux-2.2', 'bsd44', 'freebsd', 'macos', 'windows', 'illumos'] as const;
type P = (typeof ALL)[number];
const BSD: readonly P[] = ['bsd44', 'freebsd', 'macos'];
/** The policies with IPv6 (4.4BSD-Lite2 and Linux 2.0 have none). */
const V6: readonly P[] = ['linux-2.2', 'freebsd', 'macos', 'windows', 'illumos'];

const HOSTS = `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, fd00::1/64] }
      eth1: { addresses: [10.0.1.1/24], link: lan2 }
    processes: { root: { uid: 0 }, a: { uid: 1000 }, b: { uid: 1001 } }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
      eth1: { addresses: [10.0.1.100/24], link: lan2 }
    processes: { root: { uid: 0 } }`;

const scenario = (steps: readonly string[]): string =>
  `name: udp policy case\nseed: 5\nlinks: { lan: { latency: 100us }, lan2: { latency: 100us } }\nhosts:${HOSTS}\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`;

/** An expectation: one word for every policy, or a map by policy with `default` for the rest (a list: any one of). */
type Exp = string | Partial<Record<P | 'default', string | readonly string[]>>;
const ex = (e: Exp): string => (typeof e === 'string' ? e
  : `{ ${Object.entries(e).map(([k, v]) => `${k}: ${Array.isArray(v) ? `[${v.join(', ')}]` : v}`).join(', ')} }`);

const RA = 'SO_REUSEADDR: true';
const RP = 'SO_REUSEPORT: true';
/** A UDP socket of the server (process root unless named). */
const usock = (name: string, opts = '', proc = 'root', family = 'inet'): string =>
  `- { socket: ${name}, process: server/${proc}, type: udp${family === 'inet6' ? ', family: inet6' : ''}${opts ? `, options: { ${opts} }` : ''} }`;
const usock6 = (name: string, opts = ''): string => usock(name, opts, 'root', 'inet6');
const bind = (name: string, addr: string, e: Exp = 'ok'): string => `- { bind: ${name}, address: "${addr}", expect: ${ex(e)} }`;
const dgram = (to: string, e: Exp, extra = ''): string => `- { datagram: { from: client, to: "${to}"${extra ? `, ${extra}` : ''} }, expect: ${ex(e)} }`;
const join = (name: string, group: string, iface = 'eth0'): string => `- { join: ${name}, group: "${group}", interface: ${iface}, expect: ok }`;

type Row = readonly [title: string, policies: readonly P[], steps: readonly string[]];

function table(rows: readonly Row[]): (readonly [string, P, readonly string[]])[] {
  return rows.flatMap(([title, policies, steps]) => policies.map((p) => [title, p, steps] as const));
}

const run = (_title: string, p: P, steps: readonly string[]): void => { expectSteps(p, scenario(steps)); };

describe('UDP bind conflicts under each policy', () => {
  it.each(table([
    // Windows' table: default W then default S (same user) succeeds; everyone else refuses the overlap
    ['wildcard then specific, no options', ALL, [usock('w'), bind('w', '0.0.0.0:5000'), usock('s'), bind('s', '10.0.0.2:5000', { default: 'EADDRINUSE', windows: 'ok' })]],
    // BSD and illumos: the newcomer's SO_REUSEADDR decides [in_pcbbind; udp_do_bind]; Linux needs it on both [udp_lib_lport_inuse; 2.0 inet_bind]
    ['SO_REUSEADDR on the newcomer only', ALL, [usock('w'), bind('w', '0.0.0.0:5000'), usock('s', RA),
      bind('s', '10.0.0.2:5000', { default: 'ok', 'linux-2.2': 'EADDRINUSE', 'linux-1.3.60': 'EADDRINUSE', 'pajari-1999': 'EADDRINUSE' })]],
    // BSD: an exact duplicate needs SO_REUSEPORT on both; SO_REUSEADDR counts as such only on a multicast address
    ['two wildcard sockets with SO_REUSEADDR', ALL, [usock('a', RA), bind('a', '0.0.0.0:5353'), usock('b', RA),
      bind('b', '0.0.0.0:5353', { default: 'ok', bsd44: 'EADDRINUSE', freebsd: 'EADDRINUSE', macos: 'EADDRINUSE' })]],
    ['two wildcard sockets with SO_REUSEPORT (BSD exact duplicates)', BSD, [usock('a', RP), bind('a', '0.0.0.0:5353'), usock('b', RP), bind('b', '0.0.0.0:5353')]],
    // 2.0: the same specific address only over a dead socket; Windows: a group is no local address
    ['a group address twice with SO_REUSEADDR', ALL, [usock('a', RA), bind('a', '224.0.0.251:5353', { default: 'ok', windows: 'EADDRNOTAVAIL' }), usock('b', RA),
      bind('b', '224.0.0.251:5353', { default: 'ok', 'linux-1.3.60': 'EADDRINUSE', 'pajari-1999': 'EADDRINUSE', windows: 'EADDRNOTAVAIL' })]],
    ['255.255.255.255 and a subnet broadcast address', ALL, [usock('all', RA), bind('all', '255.255.255.255:6700', { default: 'ok', bsd44: 'EADDRNOTAVAIL', freebsd: 'EADDRNOTAVAIL', macos: 'EADDRNOTAVAIL', windows: 'EADDRNOTAVAIL' }),
      usock('sub', RA), bind('sub', '10.0.0.255:6700', { default: 'ok', windows: 'EADDRNOTAVAIL' })]],
    // illumos: "if udp_reuseaddr is set, then we allow multiple binds to the same port independent of the local IP address"
    ['the same address over an owner without options, SO_REUSEADDR on the newcomer', ALL, [usock('a'), bind('a', '10.0.0.2:5000'), usock('b', RA),
      bind('b', '10.0.0.2:5000', { default: 'EADDRINUSE', illumos: 'ok', windows: 'EACCES' }), dgram('10.0.0.2:5000', 'a')]],
    // FreeBSD: a non-root bind may not overlap another uid's socket; XNU exempts two wildcards; 4.4BSD has no uid rule
    ['another uid on the wildcard, SO_REUSEPORT on both', BSD, [usock('x', RP, 'a'), bind('x', '0.0.0.0:5000'), usock('y', RP, 'b'),
      bind('y', '0.0.0.0:5000', { default: 'ok', freebsd: 'EADDRINUSE' })]],
    // illumos keeps IPv4 and IPv6 apart for an explicit port; Linux's dual-stack :: covers 0.0.0.0; FreeBSD and Windows default to IPv6-only
    ['inet 0.0.0.0 then inet6 ::', V6, [usock('v4'), bind('v4', '0.0.0.0:5000'), usock6('v6'), bind('v6', '[::]:5000', { default: 'ok', 'linux-2.2': 'EADDRINUSE' })]],
    ['IP_MULTICAST_ALL exists only where Linux has it', ALL, [usock('m'), `- { setsockopt: m, options: { IP_MULTICAST_ALL: false }, expect: ${ex({ default: 'ENOPROTOOPT', 'linux-2.2': 'ok' })} }`]],
  ]))('%s: %s', run);
});

describe('UDP unicast delivery under each policy', () => {
  it.each(table([
    ['a specific address beats the wildcard, bound after it', ALL, [usock('w', RA), bind('w', '0.0.0.0:5000'), usock('s', RA), bind('s', '10.0.0.2:5000'),
      dgram('10.0.0.2:5000', 's'), dgram('10.0.0.1:5000', 'w')]],
    ['a specific address beats the wildcard, bound before it', ALL, [usock('s', RA), bind('s', '10.0.0.2:5000'), usock('w', RA), bind('w', '0.0.0.0:5000'),
      dgram('10.0.0.2:5000', 's'), dgram('10.0.0.1:5000', 'w')]],
    // Linux: the newest bind scores first; illumos: the fanout keeps bind order; Windows: "indeterminate"; the BSDs and 2.0 refuse the pair
    ['two SO_REUSEADDR sockets on one address', ALL, [usock('first', RA), bind('first', '10.0.0.2:5000'), usock('last', RA),
      bind('last', '10.0.0.2:5000', { default: 'ok', bsd44: 'EADDRINUSE', freebsd: 'EADDRINUSE', macos: 'EADDRINUSE', 'linux-1.3.60': 'EADDRINUSE', 'pajari-1999': 'EADDRINUSE' }),
      dgram('10.0.0.2:5000', { default: 'first', 'linux-2.2': 'last', windows: ['first', 'last'] }, 'count: 3'),
      '- { close: last, expect: ok }', dgram('10.0.0.2:5000', 'first')]],
    // XNU keeps the last wildcard PCB of its chain, the oldest [in_pcblookup_hash_locked]; 4.4BSD and FreeBSD the newest
    ['two wildcard SO_REUSEPORT sockets', BSD, [usock('old', RP), bind('old', '0.0.0.0:5000'), usock('new', RP), bind('new', '0.0.0.0:5000'),
      dgram('10.0.0.2:5000', { default: 'new', macos: 'old' })]],
    ['a closed port: ICMP port unreachable', ALL, [dgram('10.0.0.1:5000', 'port-unreachable')]],
    ['a closed port over IPv6: ICMPv6 port unreachable', V6, [dgram('[fd00::1]:5000', 'port-unreachable')]],
    ['a connected socket hears its peer only; the wildcard one the rest', ALL, [usock('c', RA), bind('c', '10.0.0.2:5000'), '- { connect: c, to: "10.0.0.100:6000", expect: ok }',
      usock('w', RA), bind('w', '0.0.0.0:5000'),
      dgram('10.0.0.2:5000', 'c', 'source: "10.0.0.100:6000"'), dgram('10.0.0.2:5000', 'w', 'source: "10.0.0.100:6001"')]],
    // FreeBSD SO_REUSEPORT_LB: a member by the datagram's hash [in_pcblookup_lbgroup]
    ['a SO_REUSEPORT_LB group takes each datagram at one member', ['freebsd'], [...['w1', 'w2', 'w3'].flatMap((n) => [usock(n, 'SO_REUSEPORT_LB: true'), bind(n, '0.0.0.0:5000')]),
      dgram('10.0.0.2:5000', { freebsd: ['w1', 'w2', 'w3'] }, 'count: 6')]],
    ['IPv6: the specific address beats ::', V6, [usock6('any6', 'IPV6_V6ONLY: true, SO_REUSEADDR: true'), bind('any6', '[::]:5000'), usock6('spec6', RA), bind('spec6', '[fd00::1]:5000'),
      dgram('[fd00::1]:5000', 'spec6')]],
  ]))('%s: %s', run);
});

describe('UDP broadcast under each policy', () => {
  const tx = `- { socket: tx, process: client/root, type: udp, options: { SO_BROADCAST: true } }`;
  const bcast = (port: number, e: Exp): string => `- { datagram: { socket: tx, to: "10.0.0.255:${port}" }, expect: ${ex(e)} }`;
  it.each(table([
    // Every socket on the wildcard or the broadcast address gets a copy, never a unicast-bound one
    ['a subnet broadcast: the wildcard and the broadcast-bound sockets', ALL, [usock('any', RA), bind('any', '0.0.0.0:6700'), usock('bc', RA),
      bind('bc', '10.0.0.255:6700', { default: 'ok', windows: 'EADDRNOTAVAIL' }), usock('spec', RA), bind('spec', '10.0.0.2:6700'), tx,
      bcast(6700, { default: 'any+bc', windows: 'any' }), bcast(6701, 'dropped')]],
    // BSD: the walk (newest socket first) stops at a receiver with neither SO_REUSEADDR nor SO_REUSEPORT [udp_input]
    ['the newest socket has no options: the BSD walk stops there', ALL, [usock('wide', RA), usock('bc'), bind('bc', '10.0.0.255:6800', { default: 'ok', windows: 'EADDRNOTAVAIL' }),
      bind('wide', '0.0.0.0:6800', { default: 'ok', 'linux-2.2': 'EADDRINUSE', 'linux-1.3.60': 'EADDRINUSE', 'pajari-1999': 'EADDRINUSE' }), tx,
      bcast(6800, { default: 'bc', windows: 'wide' })]],
    // illumos: only the first match's SO_REUSEADDR spreads copies [ip_fanout_udp_multi_v4]; the BSDs reach the older socket first
    ['the older socket has no options', ALL, [usock('bc'), bind('bc', '10.0.0.255:6900', { default: 'ok', windows: 'EADDRNOTAVAIL' }), usock('wide', RA),
      bind('wide', '0.0.0.0:6900', { default: 'ok', 'linux-2.2': 'EADDRINUSE', 'linux-1.3.60': 'EADDRINUSE', 'pajari-1999': 'EADDRINUSE' }), tx,
      bcast(6900, { default: 'bc+wide', illumos: 'bc', windows: 'wide', 'linux-2.2': 'bc', 'linux-1.3.60': 'bc', 'pajari-1999': 'bc' })]],
  ]))('%s: %s', run);
});

describe('UDP multicast under each policy', () => {
  const two = [usock('a', RA), bind('a', '0.0.0.0:5353'), usock('b', RA), bind('b', '224.0.0.251:5353', { default: 'ok', windows: 'EADDRNOTAVAIL' })];
  const send = (e: Exp, to = '224.0.0.251:5353'): string => dgram(to, e, 'interface: eth0');
  it.each(table([
    ['no join anywhere: dropped', ALL, [...two, send('dropped')]],
    // FreeBSD, XNU, illumos, Windows want the socket's own join; 4.4BSD, Linux 2.0 and 2.6 (IP_MULTICAST_ALL) any join of the host
    ['one socket joined: who else hears the group', ALL, [...two, join('a', '224.0.0.251'),
      send({ default: 'a+b', freebsd: 'a', macos: 'a', illumos: 'a', windows: 'a' })]],
    ['both joined: a copy each', ALL, [...two, join('a', '224.0.0.251'), join('b', '224.0.0.251'),
      send({ default: 'a+b', windows: 'a' })]],
    ['a join on another interface does not count', ALL, [...two, join('a', '224.0.0.251', 'eth1'), send('dropped')]],
    // XNU delivers 224.0.0.1 without a join [udp_input: INADDR_ALLHOSTS_GROUP]; FreeBSD, illumos and Windows want one
    ['224.0.0.1, nobody joined', ALL, [usock('a', RA), bind('a', '0.0.0.0:5000'), send({ default: 'a', freebsd: 'dropped', illumos: 'dropped', windows: 'dropped' }, '224.0.0.1:5000')]],
    ['linux-2.2: IP_MULTICAST_ALL off keeps a socket to its own joins', ['linux-2.2'], [...two, '- { setsockopt: b, options: { IP_MULTICAST_ALL: false }, expect: ok }',
      join('a', '224.0.0.251'), send('a')]],
    // FreeBSD and XNU filter IPv6 multicast only for sockets with multicast options [udp6_multi_input; udp6_input]
    ['IPv6: a :: socket that never joined, beside one that did', V6, [usock6('idle', 'IPV6_V6ONLY: true, SO_REUSEADDR: true'), bind('idle', '[::]:5353'),
      usock6('j', RA), bind('j', '[ff05::fb]:5353', { default: 'ok', windows: 'EADDRNOTAVAIL' }),
      join('j', 'ff05::fb'),
      send({ default: 'idle+j', illumos: 'j', windows: 'dropped' }, '[ff05::fb]:5353')]],
    // XNU's IPv6 loop tests no local address [udp6_input]
    ['IPv6: a member bound to a unicast address', V6, [usock6('u'), bind('u', '[fd00::1]:5353'), join('u', 'ff05::fb'),
      send({ default: 'dropped', macos: 'u' }, '[ff05::fb]:5353')]],
  ]))('%s: %s', run);
});
