// How a packet crosses routers: from the interface that first receives it, hop by hop through
// hosts that forward (`forward: true`), to the host that has its destination, or to where it is
// dropped or answered with an ICMP error. Pure: the engine writes the frames (one per hop, the
// TTL or hop limit one lower each time) and the neighbour discovery on each link.

import { isLinkLocal6, type IpAddr } from './addr.js';
import { ownsLinkLocal, type HostState, type IfaceState } from './host.js';
import { answersNeighbour, type Route } from './routing.js';
import type { Routing } from './policy/types.js';

/** One link a packet crosses: out of `out`, into `next` (whose address `nextAddr` was resolved). */
export interface Hop {
  readonly out: IfaceState;
  readonly next: IfaceState;
  readonly nextAddr: IpAddr;
}

/** The ICMP errors a Linux router sends for a packet it cannot forward. */
export type IcmpKind = 'net-unreachable' | 'host-unreachable' | 'time-exceeded' | 'beyond-scope';

export type Walk =
  /** Reached the host of `at`, which has the destination; `at` is the interface it came in on. */
  | { readonly kind: 'arrived'; readonly hops: readonly Hop[]; readonly at: IfaceState }
  /** Dropped without a word (the sender times out). */
  | { readonly kind: 'dropped'; readonly hops: readonly Hop[]; readonly why: string }
  /** The router that received it on `at` answers with an ICMP error to the source. */
  | { readonly kind: 'icmp'; readonly hops: readonly Hop[]; readonly at: IfaceState; readonly icmp: IcmpKind; readonly why: string };

/** A host's route lookup (routing.ts findRoute with the run's state). */
export type RouteLookup = (host: HostState, dst: IpAddr) => Route | null;

/**
 * The member of out's link that answers neighbour discovery for addr, by the policy's rule
 * (routing.ts answersNeighbour: Linux's IPv4 for any address of its host, arp_ignore=0; otherwise,
 * and IPv6 always, the interface's own addresses). `v6` false: the hosts speak no IPv6 (the policy's families).
 */
export function neighbourOn(routing: Routing, out: IfaceState, addr: IpAddr, v6 = true): IfaceState | undefined {
  if (addr.family === 6 && !v6) return undefined;
  for (const m of out.link.members) {
    if (m.host === out.host) continue;
    if (answersNeighbour(routing, m, addr)) return m;
  }
  return undefined;
}

/**
 * Reverse-path filtering of an IPv4 packet from src arriving on `at` [net/ipv4/fib_frontend.c
 * fib_validate_source, called from ip_route_input_slow for local delivery and forwarding alike]:
 * where the policy has rp_filter (Routing.rpFilter), with rp_filter = max(conf.all, conf.IF) (the
 * scenario sets all; every interface's is 0), 1 (strict)
 * drops it unless the host's route back to src leaves by `at`, 2 (loose) unless some route back
 * exists (RFC 3704; Documentation/networking/ip-sysctl.rst rp_filter). IPv6 has no rp_filter.
 * Returns why it is dropped, or null.
 */
export function reversePathDrop(routing: Routing, at: IfaceState, src: IpAddr, lookup: RouteLookup): string | null {
  const rp = at.host.sysctl.rpFilter ?? 0;
  if (src.family !== 4 || rp === 0 || routing.rpFilter?.is !== true) return null;
  const back = lookup(at.host, src);
  if (!back) return `${at.host.name} has no route back to ${src.text} and rp_filter is ${rp}: a martian source, dropped [net/ipv4/fib_frontend.c fib_validate_source]`;
  if (rp === 1 && back.iface !== at) {
    return `${at.host.name}'s route back to ${src.text} leaves by ${back.iface.name} (${back.text}), not ${at.name} where the packet came in, and rp_filter is 1 (strict): dropped [net/ipv4/fib_frontend.c fib_validate_source]`;
  }
  return null;
}

/** The most hops a walk follows: the TTL runs out first on any loop (Linux's default TTL and hop limit are 64). */
const MAX_HOPS = 255;

/**
 * The walk of a packet src → dst whose first hop is `first` (out of the sender, into a neighbour),
 * sent with TTL (or hop limit) `ttl`. At each host: its own address is delivered (after
 * rp_filter) [net/ipv4/route.c ip_route_input_slow: RTN_LOCAL; net/ipv6/route.c ip6_route_input];
 * a host that does not forward drops it [ip_route_input_slow: !IN_DEV_FORWARD → no_route, and
 * ip_error sends nothing without forwarding; net/ipv6/ip6_output.c ip6_forward: devconf_all->forwarding
 * 0 → drop]; a router checks the source (rp_filter), answers a TTL of 1 with time exceeded
 * [net/ipv4/ip_forward.c ip_forward: ip_hdr(skb)->ttl <= 1 → ICMP_TIME_EXCEEDED; ip6_forward:
 * hop_limit <= 1 → ICMPV6_TIME_EXCEED], no route with net unreachable [ip_route_input_slow:
 * -ENETUNREACH → ip_error: ICMP_NET_UNREACH; net/ipv6/route.c ip6_pkt_discard: ICMPV6_NOROUTE],
 * an unanswered next hop with host unreachable [net/ipv4/arp.c arp_error_report: ICMP_HOST_UNREACH;
 * net/ipv6/ndisc.c ndisc_error_report: ICMPV6_ADDR_UNREACH], else decrements the TTL and sends it on
 * by its own route [ip_forward: ip_decrease_ttl; ip6_forward: hop_limit--]. Reverse-path
 * filtering where the policy has it (Routing.rpFilter: Linux's rp_filter; the others UNCONFIRMED,
 * not applied).
 */
export function walk(routing: Routing, first: Hop, src: IpAddr, dst: IpAddr, ttl: number, lookup: RouteLookup, v6 = true): Walk {
  const hops: Hop[] = [first];
  let at = first.next;
  for (;;) {
    const h = at.host;
    if (h.isLocal(dst) || ownsLinkLocal(h, dst)) {
      const rp = reversePathDrop(routing, at, src, lookup);
      return rp ? { kind: 'dropped', hops, why: rp } : { kind: 'arrived', hops, at };
    }
    if (!h.forward) {
      return { kind: 'dropped', hops, why: `${h.name} does not have ${dst.text} and does not forward (forward: false): dropped [net/ipv4/route.c ip_route_input_slow: !IN_DEV_FORWARD; net/ipv6/ip6_output.c ip6_forward]` };
    }
    const rp = reversePathDrop(routing, at, src, lookup);
    if (rp) return { kind: 'dropped', hops, why: rp };
    if (src.family === 6 && isLinkLocal6(src)) {
      return { kind: 'icmp', hops, at, icmp: 'beyond-scope', why: `${h.name} does not forward a packet from the link-local ${src.text} and answers beyond scope of source address [net/ipv6/ip6_output.c ip6_forward: IPV6_ADDR_LINKLOCAL → ICMPV6_NOT_NEIGHBOUR]` };
    }
    if (ttl <= 1 || hops.length >= MAX_HOPS) {
      return { kind: 'icmp', hops, at, icmp: 'time-exceeded', why: `the ${dst.family === 4 ? 'TTL' : 'hop limit'} ran out at ${h.name}, which answers time exceeded [net/ipv4/ip_forward.c ip_forward; net/ipv6/ip6_output.c ip6_forward]` };
    }
    const route = lookup(h, dst);
    if (!route) {
      return { kind: 'icmp', hops, at, icmp: 'net-unreachable', why: `${h.name} has no route to ${dst.text} and answers ${dst.family === 4 ? 'net unreachable' : 'no route to destination'} [net/ipv4/route.c ip_route_input_slow → ip_error; net/ipv6/route.c ip6_pkt_discard]` };
    }
    const nextAddr = route.via ?? dst;
    const next = neighbourOn(routing, route.iface, nextAddr, v6);
    if (!next) {
      return { kind: 'icmp', hops, at, icmp: 'host-unreachable', why: `${h.name} routes ${dst.text} by ${route.text}, but nobody on link ${route.iface.link.name} answers for ${nextAddr.text}: ${dst.family === 4 ? 'host' : 'address'} unreachable [net/ipv4/arp.c arp_error_report; net/ipv6/ndisc.c ndisc_error_report]` };
    }
    hops.push({ out: route.iface, next, nextAddr });
    ttl--;
    at = next;
  }
}

/** The hosts a walk crossed, as "client → router → server", for explain. */
export function hopsText(hops: readonly Hop[]): string {
  if (hops.length === 0) return '';
  return [hops[0]!.out.host.name, ...hops.map((h) => `${h.next.host.name} (${h.next.name})`)].join(' → ');
}

/**
 * The links of a path the other way round (a policy that answers by the way the SYN came, not by
 * its routing table): the last hop's next-hop address is `origin`, the packet's first sender;
 * each router's is the address of the interface it sends to.
 */
export function reverseHops(hops: readonly Hop[], origin: IpAddr): Hop[] {
  const out: Hop[] = [];
  for (let k = hops.length - 1; k >= 0; k--) {
    const h = hops[k]!;
    const nextAddr = k === 0 ? origin : h.out.addresses.find((c) => c.addr.family === origin.family)?.addr ?? origin;
    out.push({ out: h.next, next: h.out, nextAddr });
  }
  return out;
}
