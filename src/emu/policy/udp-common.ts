// Helpers the UDP rules of several policies share (issue 18): how a datagram's addresses meet a
// socket's, group memberships, and the three outcomes of a delivery. The decisions themselves
// stay in each family's file (bsd-udp.ts, illumos-udp.ts, windows-udp.ts, linux-old-udp.ts).

import { isV4Mapped, isWildcard, v4FromMapped, type IpAddr } from '../addr.js';
import { describe, u32 } from './common.js';
import type { DatagramInfo, DeliveryResult, UdpSock } from './udp-types.js';

/** An address as its IPv4 uint32 when it is IPv4 or v4-mapped; null for a real IPv6 address. */
export function ipv4Of(a: IpAddr): number | null {
  if (a.family === 4) return u32(a.bytes, 0);
  return isV4Mapped(a) ? u32(a.bytes, 12) : null;
}

/** The same address, IPv4 form for a v4-mapped one (so 10.0.0.1 and ::ffff:10.0.0.1 compare equal). */
export function plain(a: IpAddr): string {
  return a.family === 6 && isV4Mapped(a) ? v4FromMapped(a).text : a.text;
}

/**
 * How a socket's local address meets an IPv4 destination: 'exact' (bound to it, or v4-mapped),
 * 'wild' (0.0.0.0, ::ffff:0.0.0.0, or :: on a socket that is not IPv6-only), null (no match).
 */
export function local4(sk: UdpSock, dst4: number): 'exact' | 'wild' | null {
  const a = sk.local;
  if (a === null) return null;
  if (sk.family === 'inet6' && sk.ipv6only) return null;
  const v4 = ipv4Of(a);
  if (v4 === null) return isWildcard(a) ? 'wild' : null;
  return v4 === 0 ? 'wild' : v4 === dst4 ? 'exact' : null;
}

/** How an inet6 socket's local address meets an IPv6 destination ('exact', 'wild' for ::, null). */
export function local6(sk: UdpSock, dst: IpAddr): 'exact' | 'wild' | null {
  const a = sk.local;
  if (a === null || sk.family !== 'inet6' || isV4Mapped(a)) return null;
  if (isWildcard(a)) return 'wild';
  return a.text === dst.text ? 'exact' : null;
}

/** The local match for the datagram's family. */
export function localMatch(sk: UdpSock, dg: DatagramInfo): 'exact' | 'wild' | null {
  const d4 = ipv4Of(dg.dst);
  return d4 !== null ? local4(sk, d4) : local6(sk, dg.dst);
}

/** A connected socket takes only its peer's datagrams: 'exact' when the peer sent it, null when another did, 'none' when unconnected. */
export function remoteMatch(sk: UdpSock, dg: DatagramInfo): 'exact' | 'none' | null {
  const r = sk.remote;
  if (r === null) return 'none';
  return plain(r.addr) === plain(dg.src) && r.port === dg.sport ? 'exact' : null;
}

/** Whether the socket joined the datagram's group on the interface it came in on (IPv4 groups compared in IPv4 form). */
export function joinedHere(sk: UdpSock, dg: DatagramInfo): boolean {
  const group = plain(dg.dst);
  // The host's own multicast looped back arrives as "lo" in bindlab; a membership on any interface counts then
  const anyDevice = dg.loopedFrom !== undefined && dg.inDevice === 'lo';
  return sk.udp.memberships.some((m) => plain(m.group) === group && (anyDevice || m.device === dg.inDevice));
}

/** "dst:port" for rule texts. */
export function destination(dg: DatagramInfo): string {
  return dg.dst.family === 6 ? `[${dg.dst.text}]:${dg.dport}` : `${dg.dst.text}:${dg.dport}`;
}

export function names(socks: readonly UdpSock[]): string {
  return socks.map((s) => s.name).join(', ');
}

/** One socket (unicast) or each of several (copies) receives the datagram. */
export function delivered(receivers: readonly UdpSock[], candidates: readonly UdpSock[], rule: string): DeliveryResult {
  return { receivers, candidates, action: 'deliver', rule };
}

/** Nobody takes a unicast datagram: ICMP (ICMPv6) port unreachable goes back. */
export function portUnreachable(dg: DatagramInfo, cite: string): DeliveryResult {
  return { receivers: [], candidates: [], action: 'port-unreachable', rule: `no socket takes ${destination(dg)}: ICMP port unreachable [${cite}]` };
}

/** Nobody takes it and no ICMP answers (broadcast, multicast, a group the host is not in). */
export function dropped(why: string, cite: string, candidates: readonly UdpSock[] = []): DeliveryResult {
  return { receivers: [], candidates, action: 'drop', rule: `${why}: dropped, no ICMP [${cite}]` };
}

/** The one receiver of a unicast datagram, in words. */
export function oneReceiver(sk: UdpSock, candidates: readonly UdpSock[], why: string, cite: string): DeliveryResult {
  return delivered([sk], candidates.length ? candidates : [sk], `${why} ${describe(sk)} [${cite}]`);
}

/** Newest socket() first: the BSDs' PCB list (in_pcballoc inserts at the head). */
export const newestCreated = (a: UdpSock, b: UdpSock): number => b.createdSeq - a.createdSeq;
/** Newest bind first. */
export const newestBound = (a: UdpSock, b: UdpSock): number => b.boundSeq - a.boundSeq;
/** Oldest bind first. */
export const oldestBound = (a: UdpSock, b: UdpSock): number => a.boundSeq - b.boundSeq;
