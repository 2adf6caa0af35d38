// UDP rules of the BSD family (issue 18): `bsd44`, `freebsd`, `macos`. bind(2) is the flavour's own
// in_pcbbind (bsd44.ts bsdBind) without TCP's refusal of multicast and broadcast addresses; a
// unicast datagram goes to one PCB found like a SYN's, a broadcast or multicast one to every
// matching PCB of the protocol's list (newest socket first) until one has neither SO_REUSEADDR
// nor SO_REUSEPORT. Restated from 4.4BSD-Lite2 sys/netinet/udp_usrreq.c udp_input; FreeBSD
// sys/netinet/udp_usrreq.c udp_input, udp_multi_input and sys/netinet6/udp6_usrreq.c udp6_input,
// udp6_multi_input; XNU bsd/netinet/udp_usrreq.c udp_input and bsd/netinet6/udp6_usrreq.c udp6_input.

import { isV4Mapped, type IpAddr } from '../addr.js';
import { bsdBind, isDualWildcard, type BsdFlavour } from './bsd44.js';
import { describe, fail } from './common.js';
import type { Decision, HostView, Sock } from './types.js';
import type { DatagramInfo, DeliveryResult, UdpRules, UdpSock } from './udp-types.js';
import {
  delivered, destination, dropped, ipv4Of, joinedHere, local4, local6, localMatch, names, newestBound, newestCreated,
  oldestBound, oneReceiver, portUnreachable, remoteMatch,
} from './udp-common.js';

export type BsdKind = 'bsd44' | 'freebsd' | 'macos';

/** Where each BSD's rules were read: [unicast lookup, multicast/broadcast loop] per IP version. */
const CITE: Record<BsdKind, { readonly v4: readonly [string, string]; readonly v6: readonly [string, string] }> = {
  bsd44: {
    v4: ['4.4BSD-Lite2 sys/netinet/in_pcb.c in_pcblookup; sys/netinet/udp_usrreq.c udp_input', '4.4BSD-Lite2 sys/netinet/udp_usrreq.c udp_input'],
    v6: ['4.4BSD-Lite2 has no IPv6: sys/netinet/udp_usrreq.c udp_input', '4.4BSD-Lite2 has no IPv6: sys/netinet/udp_usrreq.c udp_input'],
  },
  freebsd: {
    v4: ['FreeBSD sys/netinet/in_pcb.c in_pcblookup_hash_smr; sys/netinet/udp_usrreq.c udp_input', 'FreeBSD sys/netinet/udp_usrreq.c udp_multi_input'],
    v6: ['FreeBSD sys/netinet6/in6_pcb.c in6_pcblookup_hash_smr, in6_pcblookup_wild_match (the wild chain ordered as IPv4\'s, UNCONFIRMED); sys/netinet6/udp6_usrreq.c udp6_input', 'FreeBSD sys/netinet6/udp6_usrreq.c udp6_multi_input'],
  },
  macos: {
    v4: ['XNU bsd/netinet/in_pcb.c in_pcblookup_hash_locked; bsd/netinet/udp_usrreq.c udp_input', 'XNU bsd/netinet/udp_usrreq.c udp_input'],
    v6: ['XNU bsd/netinet6/in6_pcb.c in6_pcblookup_hash_locked; bsd/netinet6/udp6_usrreq.c udp6_input', 'XNU bsd/netinet6/udp6_usrreq.c udp6_input'],
  },
};

/** 224.0.0.1, which XNU delivers without a membership of the socket's own. */
const ALL_HOSTS = 0xe0000001;

/**
 * The UDP rules of one BSD. `pre` runs the flavour's own checks before in_pcbbind (4.4BSD's "no
 * interface address at all", FreeBSD's IPV6_V6ONLY default) and may refuse.
 */
export function bsdUdpRules(kind: BsdKind, fl: BsdFlavour, pre?: (sk: Sock, host: HostView) => Decision | null): UdpRules {
  // UDP binds multicast and broadcast addresses: only tcp_usr_bind refuses them [tcp_usrreq.c tcp_usr_bind]; XNU's
  // restricted port on macOS is TCP's only (55555: RPE_FLAG_TCP) [bsd/net/restricted_in_port.c restricted_port_list]
  const { tcpBindRefuses: _tcpOnly, restricted: _tcpPort, ...udp } = fl;
  return {
    bind(sk, addr, port, host) {
      const early = pre?.(sk, host);
      if (early) return early;
      return bsdUdpBind(sk, addr, port, host, udp, kind);
    },
    deliver: (dg, socks) => (dg.cast === 'unicast' ? unicast(kind, dg, socks) : copies(kind, dg, socks)),
    dstAddrOptions: DST_ADDR_OPTIONS[kind],
  };
}

/** IP_PKTINFO and IP_RECVDSTADDR by BSD: which exist, and whether a reply can leave from the address learnt. */
const DST_ADDR_OPTIONS: Record<BsdKind, NonNullable<UdpRules['dstAddrOptions']>> = {
  // 4.4BSD-Lite: IP_RECVDSTADDR (7) only, no IP_PKTINFO (ip_ctloutput's default: ENOPROTOOPT), and
  // udp_output frees a send's control mbuf: no way to pick the source per datagram
  // [4.4BSD-Lite sys/netinet/in.h; sys/netinet/ip_output.c ip_ctloutput; sys/netinet/udp_usrreq.c udp_output]
  bsd44: { pktinfo: false, recvdstaddr: 'receive-only', cite: '4.4BSD-Lite sys/netinet/in.h (IP_RECVDSTADDR only); sys/netinet/ip_output.c ip_ctloutput: default ENOPROTOOPT' },
  // FreeBSD: IP_RECVDSTADDR, and IP_SENDSRCADDR (the same number, as a send's cmsg) sets the source;
  // no IP_PKTINFO [sys/netinet/in.h: IP_SENDSRCADDR IP_RECVDSTADDR; sys/netinet/udp_usrreq.c
  // udp_output: case IP_SENDSRCADDR; sys/netinet/ip_output.c ip_ctloutput: default ENOPROTOOPT]
  freebsd: { pktinfo: false, recvdstaddr: 'reply-from', cite: 'sys/netinet/in.h (IP_RECVDSTADDR, IP_SENDSRCADDR; no IP_PKTINFO); sys/netinet/ip_output.c ip_ctloutput: default ENOPROTOOPT' },
  // XNU: IP_PKTINFO (26, set src on sent dgram) and IP_RECVDSTADDR [bsd/netinet/in.h]; whether its
  // udp_output honours IP_SENDSRCADDR is UNCONFIRMED (not read): a reply by IP_RECVDSTADDR leaves by the route
  macos: { pktinfo: true, recvdstaddr: 'receive-only', cite: 'bsd/netinet/in.h IP_PKTINFO, IP_RECVDSTADDR (IP_SENDSRCADDR on send UNCONFIRMED)' },
};

function bsdUdpBind(sk: UdpSock, addr: IpAddr, port: number, host: HostView, fl: BsdFlavour, kind: BsdKind): Decision {
  // 255.255.255.255 is no interface's address or broadcast address: ifa_ifwithaddr finds none
  // [4.4BSD/FreeBSD/XNU sys/netinet/in_pcb.c in_pcbbind (FreeBSD in_pcbbind_setup): ifa_ifwithaddr]
  if (ipv4Of(addr) === 0xffffffff) {
    return fail('EADDRNOTAVAIL', `${kind}: 255.255.255.255 is no interface's address (bind the wildcard to hear limited broadcasts) [sys/netinet/in_pcb.c in_pcbbind: ifa_ifwithaddr]`);
  }
  return bsdBind(sk, addr, port, host, fl);
}

// ---- unicast ---------------------------------------------------------------------------------

function unicast(kind: BsdKind, dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const v4 = ipv4Of(dg.dst) !== null;
  const [cite] = v4 ? CITE[kind].v4 : CITE[kind].v6;
  const icmp = v4 ? `${kind === 'macos' ? 'XNU bsd' : kind === 'freebsd' ? 'FreeBSD sys' : '4.4BSD-Lite2 sys'}/netinet/udp_usrreq.c udp_input: icmp_error(ICMP_UNREACH_PORT)`
    : `${kind === 'macos' ? 'XNU bsd' : 'FreeBSD sys'}/netinet6/udp6_usrreq.c udp6_input: icmp6_error(ICMP6_DST_UNREACH_NOPORT)`;
  if (kind === 'bsd44') {
    if (!v4) return portUnreachable(dg, icmp);
    return bestMatch44(dg, socks, cite, icmp);
  }
  // A connected PCB whose 4-tuple is the datagram's first [FreeBSD in_pcblookup_hash_exact; XNU in_pcblookup_hash_locked]
  // (connect fixes the local address to the route's source; a wildcard one is taken to match)
  const connected = socks.filter((s) => s.remote !== null && remoteMatch(s, dg) === 'exact' && localMatch(s, dg) !== null);
  if (connected.length > 0) {
    const sk = [...connected].sort(newestBound)[0]!;
    return oneReceiver(sk, [sk], 'connected socket whose peer sent it:', cite);
  }
  const open = socks.filter((s) => s.remote === null && s.local !== null);
  if (dg.note) {
    for (const s of socks) {
      const m = s.remote ? 'connected to another peer' : localMatch(s, dg);
      dg.note(s, m === 'exact' ? 'bound to the destination' : m === 'wild' ? 'bound to the wildcard' : m ?? 'its address does not match');
    }
  }
  const best = kind === 'freebsd' ? freebsdWild(dg, open) : macosWild(dg, open);
  if (!best) return portUnreachable(dg, icmp);
  if ('result' in best) return best.result;
  return oneReceiver(best.sock, [best.sock], best.why, cite);
}

/** 4.4BSD in_pcblookup with INPLOOKUP_WILDCARD: fewest wildcards (local, then foreign), newest socket first on ties. */
function bestMatch44(dg: DatagramInfo, socks: readonly UdpSock[], cite: string, icmp: string): DeliveryResult {
  const dst4 = ipv4Of(dg.dst)!;
  let best: UdpSock | null = null;
  let bestw = 3;
  for (const s of [...socks].sort(newestCreated)) {
    const l = local4(s, dst4);
    const r = remoteMatch(s, dg);
    if (l === null || r === null) { dg.note?.(s, 'its address or peer does not match'); continue; }
    const w = (l === 'wild' ? 1 : 0) + (r === 'none' ? 1 : 0);
    dg.note?.(s, `${w} wildcard${w === 1 ? '' : 's'}`);
    if (w < bestw) { best = s; bestw = w; if (w === 0) break; }
  }
  if (!best) return portUnreachable(dg, icmp);
  return oneReceiver(best, [best], `best match in_pcblookup (${bestw} wildcard${bestw === 1 ? '' : 's'}, newest socket first):`, cite);
}

type Pick = { readonly sock: UdpSock; readonly why: string } | { readonly result: DeliveryResult };

/**
 * FreeBSD after the exact hash: SO_REUSEPORT_LB groups (exact address, then wildcard; member by the
 * datagram's hash modulo the group size), then the wild chain: exact address, then wildcard,
 * newest bind first, dual-stack :: last [sys/netinet/in_pcb.c in_pcblookup_lbgroup, in_pcblookup_hash_wild_smr].
 */
function freebsdWild(dg: DatagramInfo, open: readonly UdpSock[]): Pick | null {
  for (const kind of ['exact', 'wild'] as const) {
    // A group is one family and one local address, in bind order; a dual-stack :: PCB never joins [in_pcbinslbgrouphash]
    const group = open.filter((s) => s.opts.reuseportLb && !isDualWildcard(s) && localMatch(s, dg) === kind).sort(oldestBound);
    if (group.length > 0) {
      const pick = group[dg.hash % group.length]!;
      return { result: delivered([pick], group, `${kind === 'exact' ? 'exact-address' : 'wildcard'} SO_REUSEPORT_LB group of ${group.length} (${names(group)}): the datagram's hash picked ${describe(pick)} [FreeBSD sys/netinet/in_pcb.c in_pcblookup_lbgroup]`) };
    }
  }
  const chain = [...open].sort((a, b) => Number(isDualWildcard(a)) - Number(isDualWildcard(b)) || newestBound(a, b));
  const exact = chain.find((s) => localMatch(s, dg) === 'exact');
  if (exact) return { sock: exact, why: 'first exact-address PCB in the wild chain (newest bind first):' };
  const wild = chain.find((s) => localMatch(s, dg) === 'wild');
  return wild ? { sock: wild, why: 'first wildcard PCB in the wild chain (newest bind first, dual-stack :: last):' } : null;
}

/**
 * XNU after the exact hash: the first unconnected PCB (newest bind first) bound to the destination,
 * else the LAST wildcard AF_INET PCB met (the oldest), else the last dual-stack one
 * [bsd/netinet/in_pcb.c in_pcblookup_hash_locked]; IPv6: the first bound to the destination, else
 * the last :: one ("local_wild = inp") [bsd/netinet6/in6_pcb.c in6_pcblookup_hash_locked].
 */
function macosWild(dg: DatagramInfo, open: readonly UdpSock[]): Pick | null {
  const v4 = ipv4Of(dg.dst) !== null;
  let wild: UdpSock | null = null;
  let dual: UdpSock | null = null;
  for (const s of [...open].sort(newestBound)) {
    const m = localMatch(s, dg);
    if (m === 'exact') return { sock: s, why: 'first exact-address PCB in the chain (newest bind first):' };
    if (m !== 'wild') continue;
    if (v4 && s.family === 'inet6') dual = s;
    else wild = s;
  }
  if (wild) return { sock: wild, why: 'last wildcard PCB in the chain (the oldest bind):' };
  return dual ? { sock: dual, why: 'last wildcard dual-stack :: PCB in the chain (the oldest bind):' } : null;
}

// ---- broadcast and multicast -----------------------------------------------------------------

/**
 * The socket has IPv6 multicast options (in6p_moptions): it joined a group or set a multicast option.
 * bindlab sees joins and IPV6_MULTICAST_LOOP off; options that stay after every group is left, and
 * other multicast options, are not tracked (UNCONFIRMED approximation).
 */
function hasMulticastOptions(s: UdpSock): boolean {
  return s.udp.memberships.length > 0 || !s.udp.multicastLoop;
}

/** Whether a PCB that matches the addresses wants this multicast datagram (the socket's own filter). */
function wantsGroup(kind: BsdKind, s: UdpSock, dg: DatagramInfo, v4: boolean): boolean {
  if (kind === 'bsd44') return true; // no per-socket filter: the host's membership decided in ip_input
  if (!v4) return hasMulticastOptions(s) ? joinedHere(s, dg) : true; // im6o_mc_filter only when in6p_moptions exist
  // XNU: 224.0.0.1 needs no membership of the socket [udp_input: INADDR_ALLHOSTS_GROUP]
  if (kind === 'macos' && ipv4Of(dg.dst) === ALL_HOSTS) return true;
  return joinedHere(s, dg); // inp_moptions NULL or imo_multi_filter != MCAST_PASS: skipped
}

/** Whether the PCB's addresses match: port (given), local wildcard or the destination, and a connected PCB's peer. */
function addressesMatch(kind: BsdKind, s: UdpSock, dg: DatagramInfo, v4: boolean): boolean {
  if (remoteMatch(s, dg) === null) return false;
  if (v4) return local4(s, ipv4Of(dg.dst)!) !== null;
  // XNU's IPv6 loop tests no local address at all (a RIPng-era relaxation) [bsd/netinet6/udp6_usrreq.c udp6_input]
  if (kind === 'macos') return s.family === 'inet6' && s.local !== null && !isV4Mapped(s.local);
  return local6(s, dg.dst) !== null;
}

/**
 * A copy to every matching PCB in the protocol's list, newest socket first, stopping after the
 * first receiver with neither SO_REUSEADDR nor SO_REUSEPORT (nor SO_REUSEPORT_LB on FreeBSD);
 * nobody: dropped without ICMP [udp_input / udp_multi_input / udp6_multi_input].
 */
function copies(kind: BsdKind, dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const v4 = ipv4Of(dg.dst) !== null;
  const [, cite] = v4 ? CITE[kind].v4 : CITE[kind].v6;
  const multicast = dg.cast === 'multicast';
  if (kind === 'bsd44' && !v4) return dropped('4.4BSD-Lite2 has no IPv6', cite);
  // The host must be a member of the group on the arrival interface [4.4BSD ip_input: IN_LOOKUP_MULTI; XNU ip_input,
  // ip6_input: in6m lookup; FreeBSD: the socket filter below needs a join on that interface (IPv6 without options: UNCONFIRMED)]
  if (multicast && !dg.hostMember) return dropped(`host is not a member of ${dg.dst.text} on ${dg.inDevice}`, cite);
  const receivers: UdpSock[] = [];
  let stop: UdpSock | null = null;
  for (const s of [...socks].sort(newestCreated)) {
    if (!addressesMatch(kind, s, dg, v4)) { dg.note?.(s, 'its address or peer does not match'); continue; }
    if (multicast && !wantsGroup(kind, s, dg, v4)) { dg.note?.(s, `it did not join ${dg.dst.text} on ${dg.inDevice}`); continue; }
    receivers.push(s);
    const shares = s.opts.reuseaddr || s.opts.reuseport || (kind === 'freebsd' && s.opts.reuseportLb);
    // "Don't look for additional matches if this one does not have either the SO_REUSEPORT or SO_REUSEADDR socket options set"
    if (!shares) { stop = s; break; }
  }
  const what = `${dg.cast} to ${destination(dg)}`;
  if (receivers.length === 0) return dropped(`${what}: no socket matches`, cite);
  const tail = stop ? `; the walk stops at ${stop.name}, which has neither SO_REUSEADDR nor SO_REUSEPORT` : '';
  return delivered(receivers, receivers, `${what}: a copy to each matching socket, newest socket first (${names(receivers)})${tail} [${cite}]`);
}
