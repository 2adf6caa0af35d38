// The UDP rules of every policy but linux (issue 18, item 2), tested on hand-built sockets: bind
// conflicts, the one receiver of a unicast datagram, the copies of a broadcast or multicast one,
// and ICMP port unreachable against a silent drop. Each row says what each OS does, with the
// source of the difference in the row's title.

import { describe, expect, it } from 'vitest';
import { getPolicy } from '../../src/emu/policy/index.js';
import type { Errno } from '../../src/emu/policy/types.js';
import type { DatagramInfo, DeliveryResult, UdpSock } from '../../src/emu/policy/udp-types.js';
import { citationProblems, trailingCitation } from '../docs/resolve.js';
import { dgram, fresh, hostWith, ip, usock } from './udp-fakes.js';

/** The rule's trailing citation leads somewhere a user can follow (a source file, a URL, a docs page). */
function expectCited(rule: string): void {
  const c = trailingCitation(rule);
  expect(c, rule).toBeDefined();
  expect(citationProblems(c!), rule).toEqual([]);
}

const POLICIES = ['linux-1.3.60', 'pajari-1999', 'linux-2.2', 'bsd44', 'freebsd', 'macos', 'windows', 'illumos'] as const;
type P = (typeof POLICIES)[number];
type Want<T> = Partial<Record<P | 'default', T>>;
const want = <T>(w: Want<T>, p: P): T | undefined => (p in w ? w[p] : w.default);

function udpOf(p: P) {
  const rules = getPolicy(p).udp;
  if (!rules) throw new Error(`${p} has no UDP rules`);
  return rules;
}

// ---- bind ------------------------------------------------------------------------------------

interface BindCase {
  /** The port's owners, then the socket that binds, its address and port. */
  readonly build: () => { owners: UdpSock[]; sk: UdpSock; addr: string; port?: number };
  readonly expect: Want<Errno | 'ok'>;
}

const RA = { reuseaddr: true } as const;
const RP = { reuseaddr: true, reuseport: true } as const;

const BIND: Record<string, BindCase> = {
  // BSD in_pcbbind: SO_REUSEADDR makes the check exact-only but a duplicate needs SO_REUSEPORT; illumos udp_do_bind:
  // the newcomer's SO_REUSEADDR shares with anyone; Windows reuse W after reuse W; Linux: both SO_REUSEADDR
  'two wildcard binds, SO_REUSEADDR on both': {
    build: () => ({ owners: [usock('a', { local: '0.0.0.0', ...RA })], sk: fresh('b', RA), addr: '0.0.0.0' }),
    expect: { default: 'ok', bsd44: 'EADDRINUSE', freebsd: 'EADDRINUSE', macos: 'EADDRINUSE' },
  },
  'two wildcard binds, SO_REUSEPORT on both (BSD exact duplicates)': {
    build: () => ({ owners: [usock('a', { local: '0.0.0.0', ...RP })], sk: fresh('b', RP), addr: '0.0.0.0' }),
    expect: { bsd44: 'ok', freebsd: 'ok', macos: 'ok' },
  },
  // On a multicast address SO_REUSEADDR counts as SO_REUSEPORT [in_pcbbind]
  // 2.0 inet_bind shares the same specific address only with a dead socket, a group included
  'two binds of the group 224.0.0.251, SO_REUSEADDR on both': {
    build: () => ({ owners: [usock('a', { local: '224.0.0.251', port: 5353, ...RA })], sk: fresh('b', RA), addr: '224.0.0.251', port: 5353 }),
    expect: { default: 'ok', 'linux-1.3.60': 'EADDRINUSE', 'pajari-1999': 'EADDRINUSE', windows: 'EADDRNOTAVAIL' },
  },
  'two binds of the group 224.0.0.251, SO_REUSEADDR on the newcomer only': {
    build: () => ({ owners: [usock('a', { local: '224.0.0.251', port: 5353 })], sk: fresh('b', RA), addr: '224.0.0.251', port: 5353 }),
    // BSD: the owner lacks both options; Linux: both need it; 2.0: the same address, never shared; illumos: the newcomer's
    // SO_REUSEADDR suffices; Windows: default S then reuse S, same user: ACCESS
    expect: { default: 'EADDRINUSE', illumos: 'ok', windows: 'EADDRNOTAVAIL' },
  },
  'an IPv6 group ff05::fb twice, SO_REUSEADDR on both': {
    build: () => ({ owners: [usock('a', { local: 'ff05::fb', port: 5353, ...RA })], sk: fresh('b', { family: 'inet6', ...RA }), addr: 'ff05::fb', port: 5353 }),
    expect: { freebsd: 'ok', macos: 'ok', 'linux-2.2': 'ok', illumos: 'ok', windows: 'EADDRNOTAVAIL' },
  },
  'a link-local group ff02::fb without a device (linux-2.2: scope needed)': {
    build: () => ({ owners: [], sk: fresh('b', { family: 'inet6', ...RA }), addr: 'ff02::fb', port: 5353 }),
    expect: { 'linux-2.2': 'EINVAL', freebsd: 'ok', macos: 'ok' },
  },
  'a specific bind under a plain wildcard owner, no options': {
    build: () => ({ owners: [usock('any', { local: '0.0.0.0' })], sk: fresh('spec'), addr: '10.0.0.2' }),
    // Windows' table: default W then default S (same user) succeeds
    expect: { default: 'EADDRINUSE', windows: 'ok' },
  },
  'a specific bind with SO_REUSEADDR under a plain wildcard owner (the newcomer decides on BSD)': {
    build: () => ({ owners: [usock('any', { local: '0.0.0.0' })], sk: fresh('spec', RA), addr: '10.0.0.2' }),
    expect: { default: 'EADDRINUSE', bsd44: 'ok', freebsd: 'ok', macos: 'ok', illumos: 'ok', windows: 'ok' },
  },
  'the same unicast address twice, SO_REUSEADDR on both': {
    build: () => ({ owners: [usock('a', { local: '10.0.0.2', ...RA })], sk: fresh('b', RA), addr: '10.0.0.2' }),
    // 2.0: the same specific address only over a dead socket; BSD: a duplicate needs SO_REUSEPORT
    expect: { default: 'ok', 'linux-1.3.60': 'EADDRINUSE', 'pajari-1999': 'EADDRINUSE', bsd44: 'EADDRINUSE', freebsd: 'EADDRINUSE', macos: 'EADDRINUSE' },
  },
  'a wildcard and a specific socket, SO_REUSEADDR on both (2.0 allows it for non-listeners)': {
    build: () => ({ owners: [usock('spec', { local: '10.0.0.2', ...RA })], sk: fresh('any', RA), addr: '0.0.0.0' }),
    expect: { default: 'ok' },
  },
  '255.255.255.255: no BSD interface has it': {
    build: () => ({ owners: [], sk: fresh('b', RA), addr: '255.255.255.255', port: 67 }),
    expect: { default: 'ok', bsd44: 'EADDRNOTAVAIL', freebsd: 'EADDRNOTAVAIL', macos: 'EADDRNOTAVAIL', windows: 'EADDRNOTAVAIL' },
  },
  'the subnet broadcast address 10.0.0.255 is bindable (not on Windows: no address of the computer)': {
    build: () => ({ owners: [], sk: fresh('b', RA), addr: '10.0.0.255', port: 5000 }),
    expect: { default: 'ok', windows: 'EADDRNOTAVAIL' },
  },
  // FreeBSD: a non-root bind may not overlap another uid's PCB; XNU exempts two wildcards; 4.4BSD has no uid rule
  'another uid on the wildcard, SO_REUSEPORT on both': {
    build: () => ({ owners: [usock('a', { local: '0.0.0.0', port: 5353, uid: 1000, ...RP })], sk: fresh('b', { uid: 1001, ...RP }), addr: '0.0.0.0', port: 5353 }),
    expect: { bsd44: 'ok', freebsd: 'EADDRINUSE', macos: 'ok' },
  },
  // Only a SOCK_STREAM socket's connected owner is let by FreeBSD's uid rule [in_pcbbind_setup]
  'another uid connected on the same address, SO_REUSEPORT on both': {
    build: () => ({
      owners: [usock('a', { local: '10.0.0.2', port: 5000, uid: 1000, remote: ['10.0.0.100', 53], ...RP })],
      sk: fresh('b', { uid: 1001, ...RP }), addr: '10.0.0.2', port: 5000,
    }),
    expect: { freebsd: 'EADDRINUSE', bsd44: 'ok', macos: 'EADDRINUSE' },
  },
  // illumos keeps IPv4 and IPv6 port spaces apart for an explicit port [udp_do_bind]; Linux :: covers 0.0.0.0;
  // FreeBSD and Windows make inet6 sockets IPv6-only by default; XNU lets a dual-stack :: beside an AF_INET 0.0.0.0
  'inet 0.0.0.0 then inet6 :: (no options)': {
    build: () => ({ owners: [usock('v4', { local: '0.0.0.0' })], sk: fresh('v6', { family: 'inet6' }), addr: '::' }),
    expect: { 'linux-2.2': 'EADDRINUSE', freebsd: 'ok', macos: 'ok', windows: 'ok', illumos: 'ok' },
  },
  'a privileged port by uid 1000': {
    build: () => ({ owners: [], sk: fresh('b', { uid: 1000 }), addr: '0.0.0.0', port: 53 }),
    // XNU: only a specific address needs privilege; Windows has no privileged ports
    expect: { default: 'EACCES', macos: 'ok', windows: 'ok' },
  },
  'illumos extra privileged port 2049 by uid 1000': {
    build: () => ({ owners: [], sk: fresh('b', { uid: 1000 }), addr: '10.0.0.2', port: 2049 }),
    expect: { illumos: 'EACCES', 'linux-2.2': 'ok', freebsd: 'ok' },
  },
  'a second bind of a bound socket': {
    build: () => {
      const sk = usock('b', { local: '10.0.0.2' });
      return { owners: [sk], sk, addr: '10.0.0.1' };
    },
    expect: { default: 'EINVAL', 'linux-1.3.60': 'EINVAL', 'pajari-1999': 'EINVAL' },
  },
};

const bindRows = Object.entries(BIND).flatMap(([title, c]) =>
  POLICIES.filter((p) => want(c.expect, p) !== undefined).map((p) => [title, p, want(c.expect, p)!] as const));

describe('UDP bind conflicts', () => {
  it.each(bindRows)('%s: %s answers %s', (title, p, expected) => {
    const { owners, sk, addr, port } = BIND[title]!.build();
    const d = udpOf(p).bind(sk, ip(addr), port ?? 53, hostWith(owners));
    expect(d.errno ?? 'ok', d.rule).toBe(expected);
    expectCited(d.rule);
  });
});

// ---- delivery --------------------------------------------------------------------------------

interface DeliveryCase {
  readonly socks: () => UdpSock[];
  readonly dg: DatagramInfo | (() => DatagramInfo);
  /** A socket name; a+b (each got a copy); a|b (any one of them, all candidates); port-unreachable; dropped. */
  readonly expect: Want<string>;
}

const DELIVERY: Record<string, DeliveryCase> = {
  'unicast to the specific address: the specific socket, created after the wildcard one': {
    socks: () => [usock('any', { local: '0.0.0.0', ...RA }), usock('spec', { local: '10.0.0.2', ...RA })],
    dg: dgram({ dst: '10.0.0.2' }),
    expect: { default: 'spec' },
  },
  'unicast to the specific address: the specific socket, created before the wildcard one': {
    socks: () => [usock('spec', { local: '10.0.0.2', ...RA }), usock('any', { local: '0.0.0.0', ...RA })],
    dg: dgram({ dst: '10.0.0.2' }),
    expect: { default: 'spec' },
  },
  'unicast to another address: the wildcard socket': {
    socks: () => [usock('any', { local: '0.0.0.0', ...RA }), usock('spec', { local: '10.0.0.2', ...RA })],
    dg: dgram({ dst: '10.0.0.1' }),
    expect: { default: 'any' },
  },
  'unicast to a port nobody holds: ICMP port unreachable': {
    socks: () => [usock('other', { local: '0.0.0.0', port: 54 })].filter((s) => s.port === 53),
    dg: dgram({ dst: '10.0.0.2' }),
    expect: { default: 'port-unreachable' },
  },
  'unicast to an address no socket of the port covers: ICMP port unreachable': {
    socks: () => [usock('spec', { local: '10.0.0.2' })],
    dg: dgram({ dst: '10.0.0.1' }),
    expect: { default: 'port-unreachable' },
  },
  // Two sharers of one address: the newest wins on BSD and Linux (chains newest first), illumos the oldest (fanout in
  // bind order), Windows leaves it undetermined; 2.0 cannot bind the pair (not asked)
  'unicast to two sockets sharing 10.0.0.2': {
    socks: () => [usock('old', { local: '10.0.0.2', ...RP }), usock('new', { local: '10.0.0.2', ...RP })],
    dg: dgram({ dst: '10.0.0.2' }),
    expect: { 'linux-2.2': 'new', bsd44: 'new', freebsd: 'new', macos: 'new', illumos: 'old', windows: 'old|new' },
  },
  // XNU keeps the LAST wildcard PCB of the chain (the oldest) [in_pcblookup_hash_locked]
  'unicast to two wildcard sharers': {
    socks: () => [usock('old', { local: '0.0.0.0', ...RP }), usock('new', { local: '0.0.0.0', ...RP })],
    dg: dgram({ dst: '10.0.0.2' }),
    expect: { 'linux-2.2': 'new', 'linux-1.3.60': 'new', bsd44: 'new', freebsd: 'new', macos: 'old', illumos: 'old', windows: 'old|new' },
  },
  'unicast from the connected peer: the connected socket': {
    socks: () => [usock('conn', { local: '10.0.0.2', remote: ['10.0.0.100', 5000], ...RA }), usock('any', { local: '0.0.0.0', ...RA })],
    dg: dgram({ dst: '10.0.0.2', src: '10.0.0.100', sport: 5000 }),
    expect: { default: 'conn' },
  },
  'unicast from another port of the peer: not the connected socket': {
    socks: () => [usock('conn', { local: '10.0.0.2', remote: ['10.0.0.100', 5000], ...RA }), usock('any', { local: '0.0.0.0', ...RA })],
    dg: dgram({ dst: '10.0.0.2', src: '10.0.0.100', sport: 6000 }),
    expect: { default: 'any' },
  },
  'unicast, only a connected socket whose peer did not send it': {
    socks: () => [usock('conn', { local: '10.0.0.2', remote: ['10.0.0.100', 5000] })],
    dg: dgram({ dst: '10.0.0.2', src: '10.0.0.100', sport: 6000 }),
    expect: { default: 'port-unreachable' },
  },
  // FreeBSD SO_REUSEPORT_LB: a member by the datagram's hash modulo the group, in bind order [in_pcblookup_lbgroup]
  'unicast to a SO_REUSEPORT_LB group of three, hash 4': {
    socks: () => ['w1', 'w2', 'w3'].map((n) => usock(n, { local: '0.0.0.0', reuseportLb: true })),
    dg: dgram({ dst: '10.0.0.2', hash: 4 }),
    expect: { freebsd: 'w2' },
  },
  'unicast over IPv6 to the specific address': {
    socks: () => [usock('any6', { local: '::', v6only: true, ...RA }), usock('spec6', { local: 'fd00::1', ...RA })],
    dg: dgram({ dst: 'fd00::1' }),
    expect: { 'linux-2.2': 'spec6', freebsd: 'spec6', macos: 'spec6', illumos: 'spec6', windows: 'spec6', bsd44: 'port-unreachable' },
  },
  'unicast IPv4 to a dual-stack :: socket': {
    socks: () => [usock('dual', { local: '::', family: 'inet6' })],
    dg: dgram({ dst: '10.0.0.2' }),
    expect: { 'linux-2.2': 'dual', freebsd: 'dual', macos: 'dual', illumos: 'dual', windows: 'dual' },
  },
  // Broadcast: every socket bound to the wildcard or the broadcast address gets a copy, never a unicast-bound one
  'subnet broadcast: the wildcard and the broadcast-bound socket each get a copy': {
    socks: () => [
      usock('any', { local: '0.0.0.0', port: 67, ...RP }), usock('bcast', { local: '10.0.0.255', port: 67, ...RP }),
      usock('spec', { local: '10.0.0.2', port: 67, ...RP }),
    ],
    dg: dgram({ dst: '10.0.0.255', dport: 67 }),
    expect: { default: 'any+bcast' },
  },
  'broadcast to a port nobody holds: dropped, no ICMP': {
    socks: () => [usock('spec', { local: '10.0.0.2', port: 67 })],
    dg: dgram({ dst: '10.0.0.255', dport: 67 }),
    expect: { default: 'dropped' },
  },
  // The BSD walk stops after the first receiver (newest socket first) with neither SO_REUSEADDR nor SO_REUSEPORT;
  // illumos copies only when the first match has SO_REUSEADDR; Linux copies to all
  'broadcast when the newest socket has no options': {
    socks: () => {
      const wide = usock('wide', { local: '0.0.0.0', port: 67, ...RA });
      const bcast = usock('bcast', { local: '10.0.0.255', port: 67 });
      // bcast was created after wide (newest in the BSD list) but bound first (first in illumos' specific group)
      return [wide, bcast];
    },
    dg: dgram({ dst: '10.0.0.255', dport: 67 }),
    expect: { default: 'bcast+wide', bsd44: 'bcast', freebsd: 'bcast', macos: 'bcast', illumos: 'bcast' },
  },
  'broadcast when the newest socket has SO_REUSEADDR and the older not': {
    socks: () => [usock('bcast', { local: '10.0.0.255', port: 67 }), usock('wide', { local: '0.0.0.0', port: 67, ...RA })],
    dg: dgram({ dst: '10.0.0.255', dport: 67 }),
    // illumos: the first in the fanout is the specific bcast without SO_REUSEADDR
    expect: { default: 'bcast+wide', illumos: 'bcast' },
  },
  // Multicast: BSDs since IGMPv3 (FreeBSD, XNU), illumos and Windows want the socket's own join on the arrival
  // interface; 4.4BSD, Linux 2.0 and 2.6 (IP_MULTICAST_ALL) deliver to every socket on the port once the host is a member
  'multicast 224.0.0.251: one socket joined, one did not': {
    socks: () => [
      usock('joined', { local: '0.0.0.0', port: 5353, ...RP, joins: [['224.0.0.251', 'eth0']] }),
      usock('idle', { local: '0.0.0.0', port: 5353, ...RP }),
    ],
    dg: dgram({ dst: '224.0.0.251', dport: 5353, hostMember: true }),
    expect: { default: 'idle+joined', freebsd: 'joined', macos: 'joined', illumos: 'joined', windows: 'joined' },
  },
  'multicast joined on eth1, arriving on eth0': {
    socks: () => [usock('joined', { local: '0.0.0.0', port: 5353, ...RP, joins: [['224.0.0.251', 'eth1']] })],
    dg: dgram({ dst: '224.0.0.251', dport: 5353, hostMember: false }),
    expect: { default: 'dropped' },
  },
  'multicast to a group the host is a member of, each sharer joined': {
    socks: () => [
      usock('a', { local: '0.0.0.0', port: 5353, ...RA, joins: [['224.0.0.251', 'eth0']] }),
      usock('b', { local: '224.0.0.251', port: 5353, ...RA, joins: [['224.0.0.251', 'eth0']] }),
      usock('unicast', { local: '10.0.0.2', port: 5353, ...RA, joins: [['224.0.0.251', 'eth0']] }),
    ],
    dg: dgram({ dst: '224.0.0.251', dport: 5353, hostMember: true }),
    expect: { default: 'a+b' },
  },
  'linux-2.2: IP_MULTICAST_ALL off keeps a socket to its own joins': {
    socks: () => [
      usock('joined', { local: '0.0.0.0', port: 5353, ...RA, joins: [['224.0.0.251', 'eth0']] }),
      usock('strict', { local: '0.0.0.0', port: 5353, ...RA, multicastAll: false }),
    ],
    dg: dgram({ dst: '224.0.0.251', dport: 5353, hostMember: true }),
    expect: { 'linux-2.2': 'joined' },
  },
  // IP_MULTICAST_ALL governs IPv4 only: inet6_mc_check lets a socket with no membership through [2.6 net/ipv6/mcast.c]
  'linux-2.2: IP_MULTICAST_ALL off does not restrict IPv6': {
    socks: () => [usock('strict6', { local: '::', port: 5353, v6only: true, multicastAll: false })],
    dg: dgram({ dst: 'ff05::fb', dport: 5353, hostMember: true }),
    expect: { 'linux-2.2': 'strict6' },
  },
  // XNU delivers 224.0.0.1 without a join of the socket's own [udp_input: INADDR_ALLHOSTS_GROUP]
  'multicast to 224.0.0.1, nobody joined': {
    socks: () => [usock('any', { local: '0.0.0.0', port: 9 })],
    dg: dgram({ dst: '224.0.0.1', dport: 9, hostMember: true }),
    expect: { default: 'any', freebsd: 'dropped', illumos: 'dropped', windows: 'dropped' },
  },
  // FreeBSD and XNU filter IPv6 multicast only for sockets that have multicast options [udp6_multi_input, udp6_input]
  'IPv6 multicast ff05::fb to a :: socket without any join': {
    socks: () => [usock('any6', { local: '::', port: 5353, v6only: true })],
    dg: dgram({ dst: 'ff05::fb', dport: 5353, hostMember: true }),
    expect: { 'linux-2.2': 'any6', freebsd: 'any6', macos: 'any6', illumos: 'dropped', windows: 'dropped', bsd44: 'dropped' },
  },
  // XNU's IPv6 loop tests no local address [udp6_input]
  'IPv6 multicast to a socket bound to a unicast address that joined the group': {
    socks: () => [usock('uni6', { local: 'fd00::1', port: 5353, joins: [['ff05::fb', 'eth0']] })],
    dg: dgram({ dst: 'ff05::fb', dport: 5353, hostMember: true }),
    expect: { macos: 'uni6', freebsd: 'dropped', 'linux-2.2': 'dropped', illumos: 'dropped' },
  },
  // illumos: the first match's SO_REUSEADDR sends copies to every later match, whatever their options [ip_fanout_udp_multi_v4]
  'illumos multicast: the first in the fanout has SO_REUSEADDR, a later one not': {
    socks: () => [
      usock('first', { local: '224.0.0.251', port: 5353, ...RA, joins: [['224.0.0.251', 'eth0']] }),
      usock('later', { local: '0.0.0.0', port: 5353, joins: [['224.0.0.251', 'eth0']] }),
    ],
    dg: dgram({ dst: '224.0.0.251', dport: 5353, hostMember: true }),
    expect: { illumos: 'first+later' },
  },
};

function outcome(r: DeliveryResult): string {
  if (r.action !== 'deliver') return r.action === 'drop' ? 'dropped' : 'port-unreachable';
  return r.receivers.map((s) => s.name).sort().join('+');
}

const deliveryRows = Object.entries(DELIVERY).flatMap(([title, c]) =>
  POLICIES.filter((p) => want(c.expect, p) !== undefined).map((p) => [title, p, want(c.expect, p)!] as const));

describe('UDP delivery', () => {
  it.each(deliveryRows)('%s: under %s, %s', (title, p, expected) => {
    const c = DELIVERY[title]!;
    const socks = c.socks();
    const dg = typeof c.dg === 'function' ? c.dg() : c.dg;
    const r = udpOf(p).deliver(dg, socks, hostWith(socks));
    if (expected.includes('|')) {
      const anyOf = expected.split('|');
      expect(r.receivers.length, r.rule).toBe(1);
      expect(anyOf, r.rule).toContain(r.receivers[0]!.name);
      expect(r.candidates.map((s) => s.name).sort(), r.rule).toEqual([...anyOf].sort());
    } else {
      expect(outcome(r), r.rule).toBe(expected.split('+').sort().join('+'));
    }
    expectCited(r.rule);
  });

  it('a unicast datagram never reaches two sockets, and a copy never goes to a socket twice', () => {
    for (const p of POLICIES) {
      for (const [title, c] of Object.entries(DELIVERY)) {
        const socks = c.socks();
        const dg = typeof c.dg === 'function' ? c.dg() : c.dg;
        const r = udpOf(p).deliver(dg, socks, hostWith(socks));
        if (dg.cast === 'unicast') expect(r.receivers.length, `${p}: ${title}`).toBeLessThanOrEqual(1);
        expect(new Set(r.receivers).size, `${p}: ${title}`).toBe(r.receivers.length);
        if (r.action !== 'deliver') expect(r.receivers, `${p}: ${title}`).toEqual([]);
      }
    }
  });

  it('Windows spreads sharers of one address over both by the datagram hash', () => {
    const socks = [usock('a', { local: '10.0.0.2', ...RA }), usock('b', { local: '10.0.0.2', ...RA })];
    const got = new Set([0, 0x7fffffff, 0xffffffff].map((hash) => udpOf('windows').deliver(dgram({ dst: '10.0.0.2', hash }), socks, hostWith(socks)).receivers[0]!.name));
    expect([...got].sort()).toEqual(['a', 'b']);
  });
});

describe('custom policies keep their base UDP rules', () => {
  it('a custom policy over freebsd has freebsd\'s udp rules', async () => {
    const { policyResolver } = await import('../../src/emu/policy/registry.js');
    const p = policyResolver([{ name: 'mine', extends: 'freebsd', rules: { reuseaddr: 'both' } } as never])('mine');
    expect(p.udp).toBe(getPolicy('freebsd').udp);
  });
});
