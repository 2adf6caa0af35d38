// Policy `freebsd`: current FreeBSD (14/15, the SMR / inp_hash_wild era). 4.4BSD's newcomer-only
// SO_REUSEADDR, plus the anti-stealing uid rule for non-root binds, SO_REUSEPORT_LB load-balancing
// groups, and the ordered "wild" chain for listener lookup. Rules restated from FreeBSD
// sys/netinet/in_pcb.c (in_pcbbind_setup, in_pcblookup_local, in_pcblookup_lbgroup,
// in_pcblookup_hash_wild_smr, _in_pcbinshash_wild, in_pcbinslbgrouphash, in_pcb_lport_dest).
// IPv6 binds and lookups follow the IPv4 code by analogy: in6_pcb.c was not read (UNCONFIRMED).

import { isWildcard } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, v4View } from './common.js';
import { addr4, bsdBind, bsdListen, deliver, isDualWildcard, v4Capable, v6Capable, type BsdFlavour } from './bsd44.js';
import type { LookupResult, Policy, Sock, SynInfo } from './types.js';
import { bsdUdpRules } from './bsd-udp.js';

const OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>(['SO_REUSEADDR', 'SO_REUSEPORT', 'SO_REUSEPORT_LB', 'IPV6_V6ONLY']);

/** 2*MSL, net.inet.tcp.msl 30 s [sys/netinet/tcp_timer.h TCPTV_MSL]. */
export const FREEBSD_TIME_WAIT_NS = 60e9;

export { FREEBSD_FINGERPRINT } from './fingerprint.js';
import { FREEBSD_FINGERPRINT } from './fingerprint.js';
import { FREEBSD_ROUTING } from './routing-choices.js';

/** net.inet.ip.portrange.first..last: IPPORT_EPHEMERALFIRST..IPPORT_EPHEMERALLAST [sys/netinet/in_pcb.c ipport_firstauto]. */
const EPHEMERAL: readonly [number, number] = [10000, 65535];

/**
 * Newest bind first: in_pcbinshash puts a PCB at the head of its port list, and dual-stack ::
 * PCBs sort after IPv4 ones of the same address in the wild chain
 * [sys/netinet/in_pcb.c in_pcbinshash: CK_LIST_INSERT_HEAD(&phd->phd_pcblist ...), _in_pcbinshash_wild].
 */
const newestBoundFirst = (a: Sock, b: Sock): number => Number(isDualWildcard(a)) - Number(isDualWildcard(b)) || b.boundSeq - a.boundSeq;

/** Sockets whose IPV6_V6ONLY default has been applied; IPV6_V6ONLY defaults to net.inet6.ip6.v6only (1). */
const seen = new WeakSet<Sock>();

/**
 * IPV6_V6ONLY starts as net.inet6.ip6.v6only, default 1 [sys/netinet/in_pcb.c in_pcballoc: V_ip6_v6only]: FreeBSD's own
 * tests/sys/netinet/ip6_v4mapped_test.c udp_v4mapped_sendto expects EINVAL for a v4-mapped sendto on a new inet6 socket
 * until it clears IPV6_V6ONLY.
 */
function initSock(sk: Sock): void {
  if (seen.has(sk)) return;
  seen.add(sk);
  if (sk.family === 'inet6' && sk.port === 0) { sk.opts.v6only = true; sk.ipv6only = true; }
}

export const FREEBSD: BsdFlavour = {
  name: 'freebsd',
  bindCite: 'sys/netinet/in_pcb.c in_pcbbind_setup',
  lookupCite: 'sys/netinet/in_pcb.c in_pcblookup_local',
  order: newestBoundFirst,
  mappedCost: 3,
  hasLb: true,
  // reservedlow..reservedhigh (0..1023) need PRIV_NETINET_RESERVEDPORT [sys/netinet/in_pcb.c in_pcbbind_setup]
  privileged: (sk, _specific, port) => (port <= 1023 && sk.uid !== 0
    ? `port ${port} is in net.inet.ip.portrange.reservedlow..reservedhigh (0..1023) and uid ${sk.uid} lacks PRIV_NETINET_RESERVEDPORT [sys/netinet/in_pcb.c in_pcbbind_setup]` : null),
  // A non-root bind may not overlap an unconnected socket of another uid, whatever the options: "SO_REUSE*
  // can only be used to share a port among sockets owned by the same user" [sys/netinet6/in6_pcb.c
  // in6_pcbbind_avail; tests/sys/netinet/socket_afinet.c multibind_test, IPv4 and IPv6]. An older in_pcbbind_setup
  // let another uid join a wildcard SO_REUSEPORT_LB socket; the current code and test do not (docs/policies/freebsd.md#bind-conflicts).
  uidGuard(sk, t) {
    if (t.remote) return null;
    if (t.uid === sk.uid) return null;
    return `freebsd: ${describe(t)} belongs to uid ${t.uid}; a bind by uid ${sk.uid} (not root) may not overlap it, whatever the options [sys/netinet6/in6_pcb.c in6_pcbbind_avail, as in_pcb.c for IPv4]`;
  },
  tcpBindRefuses: { broadcast: false, cite: 'sys/netinet/tcp_usrreq.c tcp_usr_bind, tcp6_usr_bind: "Must check for multicast addresses and disallow binding to them"' },
  // Random start, then upwards with wrap-around, in portrange.first..last [sys/netinet/in_pcb.c in_pcb_lport_dest]
  ephemeral(host, inUse) {
    const [first, last] = EPHEMERAL;
    const count = last - first + 1;
    let port = first + host.random(last - first);
    for (let i = 0; i < count; i++) {
      port++;
      if (port < first || port > last) port = first;
      if (!inUse(port)) return port;
    }
    return 0;
  },
  ephemeralCite: 'sys/netinet/in_pcb.c in_pcb_lport_dest (portrange.first..last 10000..65535, random start)',
};

/**
 * The flavour for UDP binds: the uid rule exempts no connected PCB, since only a SOCK_STREAM socket's
 * connected owner is let by ("so->so_type != SOCK_STREAM || ... faddr == INADDR_ANY")
 * [sys/netinet/in_pcb.c in_pcbbind_setup; sys/netinet6/in6_pcb.c in6_pcbbind].
 */
const FREEBSD_UDP: BsdFlavour = {
  ...FREEBSD,
  uidGuard(sk, t) {
    if (t.uid === sk.uid) return null;
    return `freebsd: ${describe(t)} belongs to uid ${t.uid}; a datagram socket of uid ${sk.uid} (not root) may not overlap it, connected or not, whatever the options [sys/netinet/in_pcb.c in_pcbbind_setup: so_type != SOCK_STREAM]`;
  },
};

/** A SO_REUSEPORT_LB group: PCBs of one family and exactly one local address, in bind order [in_pcbinslbgrouphash]. */
function lbGroup(all: readonly Sock[], pick: (s: Sock) => boolean): Sock[] {
  // Joined at bind in the version read (in_pcbinshash); a dual-stack :: PCB never joins ("Don't allow IPv4 mapped INET6 wild socket")
  return all.filter((s) => s.opts.reuseportLb && !isDualWildcard(s) && pick(s)).sort((a, b) => a.boundSeq - b.boundSeq);
}

/**
 * The SYN lookup: SO_REUSEPORT_LB groups first (exact address, then wildcard; member by a hash of
 * the connection modulo the group size), then the first match in the wild chain: specific
 * addresses, then wildcard, then dual-stack ::, newest bind first in each
 * [sys/netinet/in_pcb.c in_pcblookup_hash_smr, in_pcblookup_lbgroup, in_pcblookup_hash_wild_smr, _in_pcbinshash_wild].
 * (The locked fallback in_pcblookup_hash_wild_locked keeps the LAST wildcard match instead: the two paths disagree.)
 */
function lookupFreebsd(syn: SynInfo, listeners: readonly Sock[], bound: readonly Sock[]): LookupResult {
  const cite = 'sys/netinet/in_pcb.c in_pcblookup_hash_smr; sys/netinet/tcp_input.c (CLOSED TCB: drop, UNCONFIRMED)';
  const all = [...listeners, ...bound];
  const v4 = syn.dst.family === 4;
  const dst4 = v4 ? addr4(syn.dst) : 0;
  const exact = (s: Sock): boolean => (v4 ? v4Capable(s) && v4View(s) === dst4 : v6Capable(s) && s.local!.text === syn.dst.text);
  const wild = (s: Sock): boolean => (v4 ? v4Capable(s) && v4View(s) === 0 : v6Capable(s) && isWildcard(s.local!));
  for (const [kind, match] of [['exact-address', exact], ['wildcard', wild]] as const) {
    const group = lbGroup(all, match);
    if (group.length > 0) {
      const pick = group[syn.hash % group.length]!;
      return deliver(pick, syn, `${kind} SO_REUSEPORT_LB group of ${group.length}: the connection hash picked`, group,
        'sys/netinet/in_pcb.c in_pcblookup_lbgroup: INP_PCBLBGROUP_PKTHASH % il_inpcnt');
    }
  }
  const chain = all.filter((s) => s.local !== null).sort(newestBoundFirst);
  const best = chain.find(exact) ?? chain.find(wild) ?? null;
  const why = best && exact(best) ? 'first exact-address PCB in the wild chain (newest bind first):'
    : 'first wildcard PCB in the wild chain (newest bind first; dual-stack :: last):';
  return deliver(best, syn, why, [], cite);
}

export const freebsd: Policy = {
  name: 'freebsd',
  title: "FreeBSD 14/15: the newcomer's SO_REUSEADDR, a uid rule against stealing, SO_REUSEPORT_LB groups",
  sources: [
    'FreeBSD sys/netinet/in_pcb.c (mirror fel1x-developer/freebsd-src 2d614aa2) in_pcbbind_setup, in_pcblookup_local, in_pcblookup_lbgroup, in_pcblookup_hash_wild_smr, in_pcblookup_hash_wild_locked, in_pcbinshash, in_pcbinslbgrouphash, in_pcbremlbgrouphash, ipport_* defaults',
    '4.4BSD heritage for listen: no re-check (sys/netinet/tcp_usrreq.c tcp_usr_listen not read: UNCONFIRMED, docs/policies/freebsd.md#listen)',
    'FreeBSD sys/netinet6/in6_pcb.c in6_pcbbind_avail (uid rule: no exemption for SO_REUSEPORT_LB)',
    'FreeBSD\'s own tests (docs/os-tests-and-published-claims.md): tests/sys/netinet/socket_afinet.c multibind_test, bind_connected_port_test; so_reuseport_lb_test.c; ip6_v4mapped_test.c (IPV6_V6ONLY default 1)',
    'UNCONFIRMED: IPv6 lookup (modelled on the IPv4 code and sys/netinet6/in6_pcb.c; docs/policies/freebsd.md#unconfirmed)',
    'UNCONFIRMED: a SYN to a bound-only PCB is dropped (sys/netinet/tcp_input.c CLOSED TCB, believed drop); LB groups joined at bind as in the version read (later FreeBSD restricts them to listeners) (docs/policies/freebsd.md#listener-lookup)',
    'sources disagree: the SMR lookup takes the newest wildcard PCB, the locked fallback (sys/netinet/in_pcb.c in_pcblookup_hash_wild_locked) the oldest; modelled: SMR',
    'UDP: FreeBSD sys/netinet/udp_usrreq.c udp_input, udp_multi_input; sys/netinet6/udp6_usrreq.c udp6_input, udp6_multi_input; in_pcbbind_setup (the SOCK_STREAM clause of the uid rule) (docs/policies/freebsd.md#udp)',
    'UNCONFIRMED: UDP over IPv6 (the order of the IPv6 wild chain; which sockets have multicast options) (docs/policies/freebsd.md#unconfirmed)',
    'the rules in our words: docs/policies/freebsd.md',
  ],
  timeWaitNs: FREEBSD_TIME_WAIT_NS,
  // Each address is an ifaddr of its own; SIOCDIFADDR removes one [sys/netinet/in.c in_control_ioctl, in_difaddr_ioctl]
  ipv4Secondaries: false,
  routing: FREEBSD_ROUTING,
  fingerprint: FREEBSD_FINGERPRINT,
  families: ['inet', 'inet6'],
  setsockopt(sk, option, value, host) {
    initSock(sk);
    return applyOption(sk, option, value, host, OPTIONS, 'FreeBSD sys/kern/uipc_socket.c sosetopt');
  },
  bind(sk, addr, port, host) {
    initSock(sk);
    return bsdBind(sk, addr, port, host, FREEBSD);
  },
  listen(sk, host) {
    initSock(sk);
    return bsdListen(sk, host, FREEBSD, 'sys/netinet/tcp_usrreq.c tcp_usr_listen (UNCONFIRMED: no re-check)');
  },
  listenerOrder: () => 'head',
  groupsReuseport: () => false,
  reuseportPeer: () => null,
  lookup: (syn, listeners, bound) => lookupFreebsd(syn, listeners, bound),
  // UDP: in_pcbbind_setup with the datagram form of the uid rule; udp_input / udp_multi_input (bsd-udp.ts)
  udp: bsdUdpRules('freebsd', FREEBSD_UDP, (sk) => { initSock(sk); return null; }),
};

