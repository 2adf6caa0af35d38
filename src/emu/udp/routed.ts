// UDP datagrams past the sender's link and by each policy's Routing (src/emu/udp/layer.ts hands
// them here). Past the sender's first neighbour a unicast datagram walks hop by hop as a SYN does,
// on the same code (forwarding.ts walk, forwarded-frames.ts): one copy per link, a TTL (hop limit)
// one lower per router, the routers' neighbour discovery, rp_filter, and an ICMP error from a router
// that cannot forward it. A strong host drops a datagram that came in on an interface without its
// address; replies and ICMP errors leave by the policy's Routing.send. Broadcast and multicast are
// never forwarded: layer.ts delivers them on the sender's link only (cited there).

import { isLoopback, isMulticast, isV4Mapped, isWildcard, parseIp, v4FromMapped, type IpAddr } from '../addr.js';
import { isBroadcastOf, type HostState, type IfaceState } from '../host.js';
import { errorWay, type ErrorWay } from '../forwarded-frames.js';
import { walk, type Hop, type Walk } from '../forwarding.js';
import { receives } from '../routing.js';
import { writePortUnreachableFrame } from '../wire/icmp.js';
import { writeUdpFrame, type IpSpec, type UdpFrameSpec } from '../wire/udp.js';
import type { UdpContext } from './context.js';
import { neighbourAt } from './neighbours.js';
import type { IcmpLimiter } from './side-packets.js';
import type { UdpSocket } from './tables.js';

export const LIMITED_BROADCAST = parseIp('255.255.255.255')!;
export const LOOPBACK_V4 = parseIp('127.0.0.1')!;
export const LOOPBACK_V6 = parseIp('::1')!;

/** The address a v4-mapped one stands for on the wire (IPv4); any other as it is. */
export const wire = (a: IpAddr): IpAddr => (isV4Mapped(a) ? v4FromMapped(a) : a);

/** A router's neighbour resolution before it gives up: Linux's mcast_solicit 3, retrans_time 1 s (as for connects). */
const ARP_TRIES = 3;
const ARP_RETRANS_NS = 1e9;

/** One packet to carry over a path's links: a datagram, or an ICMP port unreachable quoting one. */
export type Carried =
  | { readonly kind: 'udp'; readonly spec: UdpFrameSpec }
  | { readonly kind: 'port-unreachable'; readonly spec: IpSpec; readonly quoted: Uint8Array };

/** The walk of a packet src → dst whose first hop is out → owner (resolved for nextAddr), with the run's routes (forwarding.ts walk). */
export function walkFrom(ctx: UdpContext, out: IfaceState, owner: IfaceState, nextAddr: IpAddr, src: IpAddr, dst: IpAddr, ttl: number): Walk {
  return walk(ctx.policy.routing, { out, next: owner, nextAddr }, src, dst, ttl, ctx.lookup, ctx.policy.families.includes('inet6'));
}

/**
 * walkFrom, or null when there is nothing to walk: the first neighbour has dst itself (no gateway)
 * and checks no source, so the packet arrives there (as for SYNs: engine.ts forwardWalk).
 */
export function walkPast(ctx: UdpContext, out: IfaceState, owner: IfaceState, nextAddr: IpAddr, src: IpAddr, dst: IpAddr, ttl: number): Walk | null {
  if (nextAddr === dst && !(ctx.policy.routing.rpFilter?.is && owner.host.sysctl.rpFilter)) return null;
  return walkFrom(ctx, out, owner, nextAddr, src, dst, ttl);
}

/**
 * The packet over every link of hops from time t: a router's neighbour discovery for its next hop
 * first, the first time (forwarded-frames.ts, as for SYNs; the sender's own is done), then its copy
 * with that link's MACs and a TTL one lower per router [net/ipv4/ip_forward.c ip_forward:
 * ip_decrease_ttl; net/ipv6/ip6_output.c ip6_forward: hop_limit--]. The comment and the record
 * go on every copy: each link's capture shows what became of it. Returns when it arrives past the
 * last link.
 */
export function carry(ctx: UdpContext, hops: readonly Hop[], t: number, p: Carried, comment: string | undefined, record?: string): number {
  for (let k = 0; k < hops.length; k++) {
    const h = hops[k]!;
    if (k > 0) t = ctx.forwarded.neighbour(h, p.spec.src, t);
    if (ctx.capturing) {
      const spec = { ...p.spec, srcMac: h.out.mac, dstMac: h.next.mac, ttl: p.spec.ttl - k };
      const len = p.kind === 'udp' ? writeUdpFrame(ctx.frame, spec as UdpFrameSpec) : writePortUnreachableFrame(ctx.frame, spec, p.quoted);
      ctx.emit(h.out.link, t, len, comment, record);
    }
    t += h.out.link.latencyNs;
  }
  ctx.forwarded.takeDelay();
  return t;
}

/**
 * Why a host does not take a datagram for its address dst that came in on `at`, or null: the
 * strong host model takes it only on an interface that holds dst, unless the host forwards
 * (routing.ts receives; Windows [policy/routing-choices.ts WINDOWS_ROUTING.receive]).
 */
export function strongHostDrop(ctx: UdpContext, at: IfaceState, dst: IpAddr): string | null {
  const routing = ctx.policy.routing;
  if (receives(routing, at, dst, at.host.forward)) return null;
  return `${at.host.name}/${at.name} does not hold ${dst.text} and ${at.host.name} does not forward: the strong host model drops the datagram [${routing.receive.cite}]`;
}

/**
 * The interface a host's packet from src must leave by, or null: any route. Strong host send
 * (Routing.send 'source-interface') takes only routes through the interface holding the source
 * [Windows: the policy's cite; XNU bsd/netinet/udp_usrreq.c udp_output: IPOAF_SELECT_SRCIF →
 * bsd/netinet/ip_output.c in_selectsrcif].
 */
export function sendScope(ctx: UdpContext, host: HostState, src: IpAddr): IfaceState | null {
  return ctx.policy.routing.send.is === 'source-interface' ? host.ifaceOwning(src) ?? null : null;
}

/** Where a host's packet from src to dst goes first: its route (by the policy's Routing.send) and next hop; null: no route. */
export function firstHop(ctx: UdpContext, host: HostState, dst: IpAddr, oif: IfaceState | null): { iface: IfaceState; next: IpAddr } | null {
  const r = oif ? ctx.routeThrough(host, dst, oif) : ctx.lookup(host, dst);
  return r ? { iface: r.iface, next: r.via ?? dst } : null;
}

/** What becomes of a router's ICMP error (routerError), decided before any frame is written. */
export interface RouterError {
  readonly w: Walk & { kind: 'icmp' };
  readonly way: ErrorWay;
  /** How long after the datagram reached the router the error leaves (its neighbour discovery failing). */
  readonly waitNs: number;
  /** Whether the router asks for the silent next hop itself (no resolution of it under way already). */
  readonly asks: boolean;
  /** Whether the router's rate limit lets it go (and it has a way back at all). */
  readonly sent: boolean;
  /** Whether it gets back to the sender. */
  readonly reached: boolean;
  readonly why: string;
}

/**
 * A router's ICMP error for a datagram it cannot forward (walk w), which reaches the router at
 * `at`: sent after its neighbour discovery gave up when the next hop is silent (a datagram that
 * comes while the router is still asking waits in the neighbour's queue and fails with it
 * [net/core/neighbour.c __neigh_event_send: NUD_INCOMPLETE queues; neigh_invalidate reports every
 * queued packet]; `resolving` holds when each resolution under way fails), by its own route
 * back (forwarded-frames.ts errorWay: as for SYNs), within its per-peer ICMP rate limit
 * [net/ipv4/icmp.c icmpv4_xrlim_allow; net/ipv6/icmp.c icmpv6_xrlim_allow] (a net unreachable
 * also within ip_error's: IcmpLimiter.allowedRouteError). An unconnected
 * sender's socket learns nothing [net/ipv4/udp.c __udp4_lib_err: not connected, no IP_RECVERR],
 * but the error is on the wire: the step's result is `unreachable` when it gets back, else `dropped`.
 */
export function routerError(ctx: UdpContext, icmp: IcmpLimiter, resolving: Map<string, number>, w: Walk & { kind: 'icmp' }, sender: HostState,
  src: IpAddr, dst: IpAddr, at: number): RouterError {
  const router = w.at.host;
  const way = errorWay(w, { lookup: ctx.lookup, routing: ctx.policy.routing, v6: ctx.policy.families.includes('inet6') }, src, dst);
  let sendAt = at;
  let asks = false;
  if (way.failed) {
    const key = `${router.name} ${way.failed.out.name} ${way.failed.target.text}`;
    const failsAt = resolving.get(key);
    if (failsAt !== undefined && at < failsAt) sendAt = failsAt;
    else {
      sendAt = at + ARP_TRIES * ARP_RETRANS_NS;
      resolving.set(key, sendAt);
      asks = true;
    }
  }
  const bw = way.backWalk;
  const sent = bw !== null && way.icmpSrc !== undefined && (w.icmp === 'net-unreachable' ? icmp.allowedRouteError(router, src, sendAt) : icmp.allowed(router, src, false, sendAt));
  const reached = sent && bw.kind === 'arrived' && bw.at.host === sender;
  const lost = !way.back ? `${router.name} has no route back to ${src.text}`
    : !bw || !way.icmpSrc ? `nobody answers for ${way.back.via?.text ?? src.text} on link ${way.back.iface.link.name}`
      : !sent ? `${router.name}'s ICMP rate limit withholds it [net/ipv4/icmp.c icmpv4_xrlim_allow; net/ipv6/icmp.c icmpv6_xrlim_allow]`
        : bw.kind === 'arrived' ? `it reaches ${bw.at.host.name}` : bw.why;
  const why = reached ? `${w.why}; the error gets back to ${sender.name}` : `${w.why}; the error does not get back (${lost})`;
  return { w, way, waitNs: sendAt - at, asks, sent, reached, why };
}

/** A router's error to write once its step's datagrams are sent (they do not wait for it): see sendRouterError. */
export interface PendingRouterError {
  readonly e: RouterError;
  readonly src: IpAddr;
  /** When the datagram reached the router. */
  readonly at: number;
  readonly quoted: Uint8Array;
  readonly index: number;
  readonly record: string | undefined;
}

/**
 * The frames of a router's error (routerError) for a datagram that reached the router at `at`:
 * its unanswered requests for a silent next hop after the first (forwarded-frames.ts unanswered;
 * the first goes as the datagram arrives: routerAsks), then the error
 * over each link back (icmpFrames), quoting the datagram as the router got it. Returns when the
 * error arrives (or would have).
 */
export function sendRouterError(ctx: UdpContext, p: PendingRouterError): number {
  const { e, src, at } = p;
  for (let i = 1; i < ARP_TRIES; i++) routerAsks(ctx, e, at, i);
  let t = at + e.waitNs;
  const bw = e.way.backWalk;
  if (!e.sent || !bw) return t;
  ctx.forwarded.icmpFrames(bw.hops, e.w, e.way.icmpSrc!, src, t, p.quoted, `bindlab ${ctx.policy.name}: ${e.w.at.host.name} answers datagram ${p.index + 1}: ${e.w.why}`, p.record);
  for (const h of bw.hops) t += h.out.link.latencyNs;
  return t;
}

/** The router's request number `i` (from 0) for the silent next hop of e, when it is the one asking: at `at`, then 1 s apart. */
export function routerAsks(ctx: UdpContext, e: RouterError, at: number, i: number): void {
  if (e.way.failed && e.asks) ctx.forwarded.unanswered(e.way.failed, at + i * ARP_RETRANS_NS, { writes: ctx.capturing, policy: ctx.policy.name }, 'a datagram');
}

/** The time a packet takes over hops' links, without the routers' neighbour discovery. */
export function hopsLatency(hops: readonly Hop[]): number {
  let ns = 0;
  for (const h of hops) ns += h.out.link.latencyNs;
  return ns;
}

/**
 * The ICMP port unreachable of host h for a datagram src → dst that came to it through routers
 * (on `at`): by h's route back to src, out of the arrival interface where the policy scopes its
 * answers to it (XNU [bsd/netinet/ip_icmp.c icmp_send: IPOAF_BOUND_IF with rcvif]; Windows' strong
 * host send, the arrival interface holding dst), else by the table [net/ipv4/icmp.c __icmp_send →
 * icmp_route_lookup]; hop by hop as any packet. Returns when it arrives (or would have).
 */
export function portUnreachableBack(ctx: UdpContext, at: IfaceState, dst: IpAddr, src: IpAddr, t: number, spec: IpSpec, quoted: Uint8Array, comment: string, record?: string): number {
  const h = at.host;
  const first = firstHop(ctx, h, src, ctx.policy.routing.send.is === 'source-interface' ? at : null);
  if (!first) return t;
  const peer = neighbourAt(ctx, h, first.iface, dst, first.next, t);
  if (!peer) return t;
  t = Math.max(t, ctx.now);
  const w = walkFrom(ctx, first.iface, peer, first.next, dst, src, spec.ttl);
  return carry(ctx, w.hops, t, { kind: 'port-unreachable', spec, quoted }, comment, record);
}

/**
 * The source a socket's datagram to dst leaves from, its interface, its gateway and its kind: bound
 * address, else the route's [net/ipv4/udp.c udp_sendmsg: ip_route_output_flow; net/ipv6/udp.c
 * udpv6_sendmsg]; a unicast from a bound address by the policy's Routing.send (sendScope).
 */
export function datagramRoute(ctx: UdpContext, host: HostState, sk: UdpSocket, dst: IpAddr, oifName: string | null):
{ cast: 'unicast' | 'broadcast' | 'multicast'; local: boolean; iface: IfaceState; src: IpAddr; via?: IpAddr | null } | { errno: string; reason: string } {
  // An IPv6 source toward an IPv4 (v4-mapped) destination is no source: an AF_INET6 socket whose
  // IPv6 address came from connect() has no IPv4 one (ip6_datagram_dst_update sets inet_rcv_saddr
  // to LOOPBACK4_IPV6 and leaves inet_saddr 0), so udp_sendmsg's route picks it [net/ipv6/datagram.c
  // ip6_datagram_dst_update; net/ipv4/udp.c udp_sendmsg] (one bound to an IPv6 address is IPv6-only:
  // refused before). Seen on 6.18: sent from the route's IPv4 source; other OSes UNCONFIRMED.
  const bound = sk.local && !isWildcard(sk.local) && wire(sk.local).family === dst.family ? wire(sk.local) : null;
  const multicast = isMulticast(dst);
  const broadcast = dst.family === 4 && isBroadcastAt(host, dst);
  // A socket bound to a broadcast or multicast address sends from the route's source [net/ipv4/af_inet.c __inet_bind: RTN_MULTICAST/RTN_BROADCAST → inet_saddr = 0]
  const specific = bound && !isMulticast(bound) && !(bound.family === 4 && isBroadcastAt(host, bound)) ? bound : null;
  const cast = multicast ? 'multicast' : broadcast ? 'broadcast' : 'unicast';
  if (cast === 'unicast' && (isLoopback(dst) || host.ifaceOwning(dst))) {
    // An IPv6 socket bound to a device reaches the host's own address only on that device: the
    // local route is the address's device's, the lookup is held to the bound one [net/ipv6/route.c
    // ip6_pol_route_output → rt6_device_match: RT6_LOOKUP_F_IFACE, no match → ip6_null_entry, -ENETUNREACH]
    const holder = dst.family === 6 && !isLoopback(dst) ? host.ifaceOwning(dst) : undefined;
    if (holder && sk.opts.device && holder.name !== sk.opts.device) {
      return { errno: 'ENETUNREACH', reason: `${sk.name} is bound to device ${sk.opts.device} and ${dst.text} is ${host.name}'s own address on ${holder.name} [net/ipv6/route.c ip6_pol_route_output, rt6_device_match]` };
    }
    const src = specific ?? (isLoopback(dst) ? (dst.family === 4 ? LOOPBACK_V4 : LOOPBACK_V6) : ctx.localSource(host, dst));
    return { cast, local: true, iface: ctx.loopbackOf(host), src };
  }
  if (cast !== 'unicast') {
    const name = oifName ?? sk.opts.device;
    // A subnet broadcast leaves by the interface of that subnet; 255.255.255.255 and groups by the route
    const iface = name ? host.ifaces.find((i) => i.name === name)
      : broadcast && dst.text !== LIMITED_BROADCAST.text ? host.ifaces.find((i) => i.addresses.some((c) => c.addr.family === 4 && isBroadcastOf(c, dst)))
      : ctx.routeIface(host, dst);
    if (!iface) return { errno: 'ENETUNREACH', reason: `${host.name} has no route to ${dst.text} [net/ipv4/route.c ip_route_output_key_hash_rcu]` };
    const own = broadcast ? iface.addresses.find((c) => c.addr.family === 4 && isBroadcastOf(c, dst))?.addr : undefined;
    const src = specific ?? own ?? iface.addresses.find((c) => c.addr.family === dst.family)?.addr;
    if (!src) return { errno: 'EADDRNOTAVAIL', reason: `${host.name}/${iface.name} has no IPv${dst.family} address to send from [net/ipv4/route.c inet_select_addr]` };
    return { cast, local: false, iface, src };
  }
  const r = ctx.egress(host, dst);
  if (!r) return { errno: 'ENETUNREACH', reason: `${host.name} has no route to ${dst.text} [net/ipv4/route.c ip_route_output_key_hash_rcu; net/ipv6/route.c ip6_route_output]` };
  // Strong host send: a bound source's interface limits the routes (sendScope)
  const oif = specific ? sendScope(ctx, host, specific) : null;
  if (oif && oif !== r.iface) {
    const s = ctx.routeThrough(host, dst, oif);
    if (!s) return { errno: 'EHOSTUNREACH', reason: `${host.name} has no route to ${dst.text} through ${oif.name}, which holds the source ${specific!.text} (strong host send) [${ctx.policy.routing.send.cite}; bsd/netinet/ip_output.c ip_output: no route → EHOSTUNREACH; Windows' errno UNCONFIRMED]` };
    return { cast, local: false, iface: s.iface, src: specific!, via: s.via };
  }
  return { cast, local: false, iface: r.iface, src: specific ?? r.src, via: r.via };
}


/** 255.255.255.255 or a broadcast address of one of the host's IPv4 subnets (a /31 or /32 has none). */
export function isBroadcastAt(host: HostState, a: IpAddr): boolean {
  return a.text === LIMITED_BROADCAST.text || host.ifaces.some((i) => i.addresses.some((c) => c.addr.family === 4 && c.prefix < 31 && isBroadcastOf(c, a)));
}
