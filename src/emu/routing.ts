// A host's routing table as bindlab models it: the connected route of each address's subnet, the
// scenario's `routes:` of the host, and without them a default route of each family on the host's
// first interface (docs/scenario-format.md; the kernel harness adds the same: src/kernel/run-kernel.ts);
// under Linux the IPv4 routes through an interface go with its last IPv4 address. Used for connects
// (Engine.egress), for the server's answers (replyPath) and for what a host takes in (receives,
// answersNeighbour), each by the policy's Routing (policy/types.ts; the choices and their sources:
// policy/routing-choices.ts); routers: forwarding.ts.

import { commonPrefix, inSubnet, isLinkLocal6, makeIp, type Cidr, type IpAddr } from './addr.js';
import { holds6, ownsLinkLocal, type HostState, type IfaceState } from './host.js';
import type { Routing } from './policy/types.js';
import type { RouteSpec } from '../scenario/types.js';
import { CONNECTED_METRIC } from '../scenario/routes.js';
import { neighbourOn, walk, type Hop, type RouteLookup } from './forwarding.js';

/** The route a packet to dst takes. */
export interface Route {
  /** The interface it leaves by. */
  readonly iface: IfaceState;
  /** The connected subnet that holds dst (none: a declared or the default route). */
  readonly subnet: Cidr | undefined;
  /** The gateway (null: dst is on the link). */
  readonly via: IpAddr | null;
  /** The route's preferred source (`src:`), if it has one. */
  readonly src: IpAddr | null;
  /** The route as `ip route` prints it, for explain and packet comments. */
  readonly text: string;
}

/**
 * The route for dst among the host's routes, only those through oif when one is given (a bound
 * device: the kernel skips routes whose nexthop is another device [net/ipv4/fib_trie.c
 * fib_table_lookup: flp->flowi4_oif != nh->fib_nh_dev->ifindex]). The routes: each address's
 * connected subnet (metric 0 for IPv4, 256 for IPv6 [net/ipv6/addrconf.c IP6_RT_PRIO_ADDRCONF]),
 * the scenario's `routes:`, and when it declares none a default route of each family on the first
 * interface (docs/scenario-format.md). The most specific prefix holding dst wins [net/ipv4/fib_trie.c
 * fib_table_lookup: longest prefix match; net/ipv6/ip6_fib.c fib6_node_lookup], then the lowest
 * metric [fib_trie.c: a leaf's aliases sorted by fa_priority; net/ipv6/route.c rt6_select: by
 * fib6_metric], then the route added first (fib_magic appends: NLM_F_APPEND), which for the
 * scenario's own addresses is the order they are declared in, then its routes [net/ipv4/fib_frontend.c
 * fib_magic; found by the sixth hunt]. IPv4 routes through an interface that lost its last IPv4
 * address are gone (see flushOnLastV4).
 */
export function findRoute(host: HostState, dst: IpAddr, addedAt: ReadonlyMap<Cidr, number>, flushed: ReadonlySet<IfaceState>,
  oif: IfaceState | null = null): Route | null {
  let iface: IfaceState | undefined;
  let best: Cidr | undefined;
  let bestMetric = 0;
  let bestOrder = 0;
  let decl: RouteSpec | undefined;
  const connected = CONNECTED_METRIC[dst.family];
  for (const i of host.ifaces) {
    if (oif && i !== oif) continue;
    for (const c of i.addresses) {
      if (!inSubnet(c, dst)) continue;
      const order = addedAt.get(c) ?? 0;
      if (best === undefined || c.prefix > best.prefix || (c.prefix === best.prefix && i !== iface && order < bestOrder)) {
        best = c; iface = i; bestMetric = connected; bestOrder = order;
      }
    }
  }
  for (const r of host.routes) {
    if (r.to.addr.family !== dst.family || !inSubnet(r.to, dst)) continue;
    const i = host.ifaces.find((x) => x.name === r.dev)!;
    if ((oif && i !== oif) || (dst.family === 4 && flushed.has(i))) continue;
    // Declared routes come after the scenario's addresses and before any an address step adds.
    if (best === undefined || r.to.prefix > best.prefix || (r.to.prefix === best.prefix && (r.metric < bestMetric || (r.metric === bestMetric && bestOrder > 0)))) {
      best = r.to; iface = i; bestMetric = r.metric; bestOrder = 0; decl = r;
    }
  }
  if (iface && best) {
    if (decl) return new FoundRoute(iface, undefined, decl.via ?? null, decl.src ?? null, decl, bestMetric);
    return new FoundRoute(iface, best, null, null, null, bestMetric);
  }
  if (!host.defaultOnFirst) return null;
  const first = host.ifaces[0];
  if (!first || (oif && oif !== first)) return null;
  if (dst.family === 4 && flushed.has(first)) return null;
  return new FoundRoute(first, undefined, null, null, null, 0);
}

/** A route findRoute found; its words (`text`) are made only when asked for (explain, error paths), not per connection. */
class FoundRoute implements Route {
  constructor(readonly iface: IfaceState, readonly subnet: Cidr | undefined, readonly via: IpAddr | null, readonly src: IpAddr | null,
    private readonly decl: RouteSpec | null, private readonly metric: number) {}

  get text(): string {
    if (this.decl) return routeText(this.decl.to, this.decl.via, this.iface, this.decl.metric, this.decl.src);
    if (this.subnet) return routeText(network(this.subnet), undefined, this.iface, this.metric, undefined);
    return `default dev ${this.iface.name} (the host's first interface: it declares no routes:)`;
  }
}

/** A prefix with its host bits cleared: the connected route of an address. */
function network(c: Cidr): Cidr {
  const b = Uint8Array.from(c.addr.bytes);
  for (let i = 0; i < b.length; i++) b[i]! &= 0xff << (8 - Math.max(0, Math.min(8, c.prefix - i * 8))) & 0xff;
  const addr = makeIp(c.addr.family, b);
  return { addr, prefix: c.prefix, text: `${addr.text}/${c.prefix}` };
}

function routeText(to: Cidr, via: IpAddr | undefined, iface: IfaceState, metric: number, src: IpAddr | undefined): string {
  const dest = to.prefix === 0 ? 'default' : to.text;
  return `${dest}${via ? ` via ${via.text}` : ''} dev ${iface.name}${metric ? ` metric ${metric}` : ''}${src ? ` src ${src.text}` : ''}`;
}

/**
 * Whether removing an address took the interface's last IPv4 address: then every IPv4 route
 * through it goes, the default route included, and does not come back with a new address (only
 * that address's own connected route does) [net/ipv4/fib_frontend.c fib_inetaddr_event:
 * NETDEV_DOWN with no ifa_list left → fib_disable_ip → fib_sync_down_dev; found by the sixth hunt].
 */
export function flushOnLastV4(iface: IfaceState, removed: IpAddr, flushed: Set<IfaceState>): void {
  if (removed.family === 4 && !iface.addresses.some((c) => c.addr.family === 4)) flushed.add(iface);
}

/** How the server's answer (SYN-ACK or RST) to a SYN travels. */
export type ReplyPath =
  /** Back out of the interface the SYN came in on, to the client's interface: the common case. */
  | { readonly kind: 'back' }
  /** Out of another interface, on whose link the client host answers neighbour discovery for its address. */
  | { readonly kind: 'other'; readonly out: IfaceState; readonly peer: IfaceState }
  /**
   * Nowhere the client is: the answer is lost and the client times out. `out` is where it went, if
   * anywhere; `target` whom the server asks for there (its gateway; default the client's address);
   * `hops` the links it crossed when a gateway answered and it was lost beyond (forwarding.ts walk).
   */
  | { readonly kind: 'lost'; readonly out: IfaceState | null; readonly why: string; readonly target?: IpAddr; readonly hops?: readonly Hop[] }
  /** Through routers (a route with a gateway): every link it crosses to the client's interface. */
  | { readonly kind: 'routed'; readonly hops: readonly Hop[]; readonly route: string };

export const BACK: ReplyPath = { kind: 'back' };

/**
 * Whether iface answers neighbour discovery for addr: IPv6 only for its own addresses
 * [https://www.rfc-editor.org/rfc/rfc4861#section-7.2.3; net/ipv6/ndisc.c ndisc_recv_ns:
 * ipv6_get_ifaddr(..., dev, ...)], IPv4 by the policy's ARP rule (Routing.arp): any of its
 * host's addresses, or only its own.
 */
export function answersNeighbour(routing: Routing, iface: IfaceState, addr: IpAddr): boolean {
  if (addr.family === 4 && routing.arp.is === 'any-interface') return iface.host.ifaceOwning(addr) !== undefined;
  return addr.family === 6 ? holds6(iface, addr) : iface.addresses.some((c) => c.addr.text === addr.text);
}

/**
 * Why nobody answers neighbour discovery for dst on cif's link when a host there has dst on
 * another interface and does not answer for it on this one (answersNeighbour); null otherwise.
 */
export function heldElsewhere(routing: Routing, client: HostState, cif: IfaceState, dst: IpAddr): string | null {
  for (const m of cif.link.members) {
    const holder = m.host === client ? undefined : m.host.ifaceOwning(dst);
    if (holder && holder !== m && !answersNeighbour(routing, m, dst)) {
      const rule = dst.family === 4 ? routing.arp.cite : 'an interface answers neighbour solicitation for its own addresses, https://www.rfc-editor.org/rfc/rfc4861#section-7.2.3';
      return `nobody on link ${cif.link.name} answers for ${dst.text}: ${m.host.name} has it on ${holder.name}, not on ${m.name}, which answers for its own addresses only [${rule}]`;
    }
  }
  return null;
}

/**
 * Whether a host takes in a packet for its own address dst that arrived on sif (Routing.receive):
 * the weak host model takes it whatever the interface; the strong one only on an interface that
 * holds dst, unless the host forwards [RFC 1122 3.3.4.2; the policies' sources in
 * policy/routing-choices.ts].
 */
export function receives(routing: Routing, sif: IfaceState, dst: IpAddr, forwarding: boolean): boolean {
  return routing.receive.is === 'weak' || forwarding || sif.addresses.some((c) => c.addr.text === dst.text);
}

/**
 * Windows' IPv4 source from an unbound socket among the outgoing interface's addresses: the
 * longest prefix shared with the next hop, then with the destination; ties to the address declared
 * first (UNCONFIRMED) [Microsoft KB 969029]. The next hop is the route's gateway, or the
 * destination itself. Null when the interface has no IPv4 address.
 */
export function longestMatchSource4(out: IfaceState, nextHop: IpAddr, dst: IpAddr): IpAddr | null {
  let pick: IpAddr | null = null;
  let best = -1;
  for (const c of out.addresses) {
    if (c.addr.family !== 4) continue;
    const score = commonPrefix(c.addr, nextHop) * 64 + commonPrefix(c.addr, dst);
    if (score > best) { pick = c.addr; best = score; }
  }
  return pick;
}

/**
 * The path of the server's answer to a SYN from `remote` to its address `local` that came in on
 * `sif`, by the policy's Routing.send. 'route': by the routing table for remote, not by the
 * link the SYN came in on (Linux [net/ipv4/inet_connection_sock.c inet_csk_route_req (SYN-ACK);
 * net/ipv4/tcp_ipv4.c tcp_v4_send_reset → ip_send_unicast_reply (RST);
 * net/ipv6/inet6_connection_sock.c inet6_csk_route_req, net/ipv6/tcp_ipv6.c tcp_v6_send_response],
 * the BSDs' ip_output on the destination alone). 'source-interface': only by routes through the
 * interface that holds `local`, the answer's source (the strong host send model; XNU's scoped
 * routing), where bindlab's default route counts only on the host's first interface.
 * A Linux listener bound to a device answers out of it (oif = sk_bound_dev_if,
 * through ireq->ir_iif [net/ipv4/inet_connection_sock.c inet_csk_route_req: flowi4_init_output
 * with ireq->ir_iif; include/net/inet_sock.h inet_request_bound_dev_if]); with no route through
 * the device IPv4 assumes the destination is on its link [net/ipv4/route.c
 * ip_route_output_key_hash_rcu: "Apparently, routing tables are wrong. Assume, that the
 * destination is on link."], IPv6 has no route [net/ipv6/route.c ip6_pol_route: ip6_null_entry].
 * An unbound socket answers a link-local peer out of the SYN's interface [net/ipv6/tcp_ipv6.c
 * tcp_v6_init_req: ir_iif = tcp_v6_iif for IPV6_ADDR_LINKLOCAL; tcp_v6_send_response:
 * rt6_need_strict]. `loopback`: the connection came over the server's loopback (its own address),
 * where only a route through the bound device may carry the answer back: the local route of
 * `remote` is on the device holding it [net/ipv4/fib_frontend.c fib_add_ifaddr: RTN_LOCAL on
 * ifa->ifa_dev->dev]. Found against 6.18 by the sixth hunt (docs/kernel-observations.md §11).
 */
export function replyPath(routing: Routing, server: HostState, sif: IfaceState, local: IpAddr, remote: IpAddr, client: HostState, cif: IfaceState,
  device: string | null, loopback: boolean, addedAt: ReadonlyMap<Cidr, number>, flushed: ReadonlySet<IfaceState>, lookup: RouteLookup, v6: boolean): ReplyPath {
  const bound = device === null ? null : server.ifaces.find((i) => i.name === device) ?? null;
  // Strong host send: the answer's routes are those through the interface holding its source.
  const oif = bound ?? (routing.send.is === 'source-interface' && !loopback ? server.ifaceOwning(local) ?? null : null);
  // A source the client does not have (bound under ip_nonlocal_bind: IPv6 sends the SYN from it,
  // see Engine.connect): nobody answers the server's neighbour solicitation for it.
  if (!client.isLocal(remote) && !ownsLinkLocal(client, remote)) {
    const out = loopback ? null : findRoute(server, remote, addedAt, flushed, oif)?.iface ?? bound;
    return { kind: 'lost', out, why: `${client.name} does not have ${remote.text} (a non-local source), so nobody answers for it` };
  }
  if (loopback) {
    // Over the loopback sif is the device that holds the destination; the answer goes to the
    // client's source, a local address: reached unless the bound device does not hold it.
    if (!bound) return BACK;
    return bound.addresses.some((c) => c.addr.text === remote.text) || (device === 'lo' && remote.family === 4 && remote.bytes[0] === 127)
      ? BACK : { kind: 'lost', out: bound, why: `the listener is bound to ${device}, which does not hold ${remote.text}: the answer leaves by ${device}, not over the loopback` };
  }
  let out: IfaceState | null;
  let route: Route | null = null;
  if (bound) {
    route = findRoute(server, remote, addedAt, flushed, bound);
    out = route?.iface ?? (remote.family === 4 ? bound : null);
    if (!out) return { kind: 'lost', out: null, why: `no IPv6 route to ${remote.text} through ${device}, the listener's device` };
  } else if (remote.family === 6 && isLinkLocal6(remote)) {
    out = sif;
  } else {
    route = findRoute(server, remote, addedAt, flushed, oif);
    out = route?.iface ?? null;
    if (!out) {
      return { kind: 'lost', out: null, why: oif ? `${server.name} has no route to ${remote.text} through ${oif.name}, which holds ${local.text} (strong host send)` : `${server.name} has no route to ${remote.text}` };
    }
  }
  // A route with a gateway: the answer goes to the gateway and on through the routers (forwarding.ts walk).
  if (route?.via) {
    const next = neighbourOn(routing, out, route.via, v6);
    if (!next) return { kind: 'lost', out, target: route.via, why: `${server.name} routes ${remote.text} by ${route.text}, and nobody on link ${out.link.name} answers for ${route.via.text}` };
    const w = walk(routing, { out, next, nextAddr: route.via }, local, remote, 64, lookup, v6);
    if (w.kind === 'arrived' && w.at.host === client) return { kind: 'routed', hops: w.hops, route: route.text };
    return { kind: 'lost', out, hops: w.hops, why: w.kind === 'arrived' ? `the answer by ${route.text} reaches ${w.at.host.name}, not ${client.name}` : `the answer by ${route.text}: ${w.why}` };
  }
  // The client answers the server's neighbour discovery for remote on out's link by its own rule.
  const peer = out.link.members.find((m) => m.host === client && answersNeighbour(routing, m, remote));
  if (peer && out === sif && peer === cif) return BACK;
  if (peer) return { kind: 'other', out, peer };
  const there = out.link.members.find((m) => m.host === client);
  return { kind: 'lost', out, why: `${server.name} routes ${remote.text} out of ${out.name} (link ${out.link.name}), where ${there ? `${client.name}/${there.name} does not answer for it` : `${client.name} is not`}` };
}

/** An IPv6 address's scope as the kernel ranks it [net/ipv6/addrconf_core.c __ipv6_addr_type]: link-local 2, global (ULAs too) 14. */
function scope6(a: IpAddr): number {
  return isLinkLocal6(a) ? 2 : a.bytes[0] === 0 && a.bytes.slice(1, 15).every((b) => b === 0) && a.bytes[15] === 1 ? 1 : 14;
}

/** The label of RFC 6724's default policy table, which Linux uses [net/ipv6/addrlabel.c ip6addrlbl_init_table]. */
function label6(a: IpAddr): number {
  const b = a.bytes;
  const zeros = (n: number): boolean => b.slice(0, n).every((x) => x === 0);
  if (zeros(15) && b[15] === 1) return 0;
  if (zeros(10) && b[10] === 0xff && b[11] === 0xff) return 4;
  if (zeros(12)) return 3;
  if (b[0] === 0x20 && b[1] === 0x02) return 2;
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return 5;
  if ((b[0]! & 0xfe) === 0xfc) return 13;
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 11;
  if (b[0] === 0x3f && b[1] === 0xfe) return 12;
  return 1;
}


/**
 * Linux's IPv6 source for a destination of more than link scope: every interface's addresses are
 * candidates, not only the outgoing interface's [net/ipv6/addrconf.c ipv6_dev_get_saddr:
 * for_each_netdev unless the destination is link-local or multicast], ranked by RFC 6724's rules
 * as ipv6_get_saddr_eval does: 1 the destination itself; 2 scope (the smallest at least the
 * destination's, else the largest); 5 the outgoing interface's; 6 the label matches the
 * destination's; 8 the longest prefix shared with it, up to the address's prefix length. Ties go to
 * the first seen: interfaces in order, on each the address added last (the kernel lists it first
 * [ipv6_link_dev_addr]). Found by the sixth hunt: a host whose outgoing interface has no global
 * address still connects, from another interface's.
 */
export function source6AnyInterface(host: HostState, dst: IpAddr, out: IfaceState): IpAddr | null {
  const dScope = scope6(dst);
  const dLabel = label6(dst);
  let pick: IpAddr | null = null;
  let best: number[] = [];
  for (const i of host.ifaces) {
    // The automatic link-local address is the interface's oldest (made when it came up).
    for (let k = i.addresses.length - 1; k >= -1; k--) {
      const c = k >= 0 ? i.addresses[k]! : i.linkLocal ? { addr: i.linkLocal, prefix: 64 } : null;
      if (c === null || c.addr.family !== 6) continue;
      const s = scope6(c.addr);
      const score = [c.addr.text === dst.text ? 1 : 0, s >= dScope ? -s : s - 128, i === out ? 1 : 0,
        label6(c.addr) === dLabel ? 1 : 0, Math.min(commonPrefix(c.addr, dst), c.prefix)];
      let better = pick === null;
      for (let r = 0; !better && r < score.length; r++) {
        if (score[r]! > best[r]!) better = true;
        else if (score[r]! < best[r]!) break;
      }
      if (better) { pick = c.addr; best = score; }
    }
  }
  return pick;
}

/**
 * The address a host sends from on iface toward `near` when nothing else says (IPv4: the primary
 * address of the subnet holding near, else the interface's first [net/ipv4/devinet.c
 * inet_select_addr]; IPv6 alike, for the neighbour solicitations of forwarded packets, which the
 * kernel sends from the link-local address bindlab does not model).
 */
export function selectAddr(iface: IfaceState, near: IpAddr): IpAddr | undefined {
  let first: IpAddr | undefined;
  for (const c of iface.addresses) {
    if (c.addr.family !== near.family) continue;
    if (inSubnet(c, near)) return c.addr;
    first ??= c.addr;
  }
  return first;
}

/**
 * The link-local address Linux gives an Ethernet interface when it comes up: fe80::/64 with the
 * modified EUI-64 of its MAC (the universal/local bit flipped, ff:fe in the middle), the default
 * addr_gen_mode 0 [net/ipv6/addrconf.c addrconf_addr_gen → ipv6_generate_eui64, addrconf_ifid_eui48;
 * RFC 4291 appendix A]. Seen on 6.18 in the harness's namespaces.
 */
export function eui64LinkLocal(mac: Uint8Array): IpAddr {
  // Memoised by MAC: every run of a scenario (an audit makes ~100,000) derives the same ones.
  const key = ((mac[0]! * 256 + mac[1]!) * 256 + mac[2]!) * 16777216 + ((mac[3]! << 16) | (mac[4]! << 8) | mac[5]!);
  const known = LINK_LOCAL_BY_MAC.get(key);
  if (known !== undefined) return known;
  if (LINK_LOCAL_BY_MAC.size >= 4096) LINK_LOCAL_BY_MAC.clear();
  const ll = eui64Of(mac);
  LINK_LOCAL_BY_MAC.set(key, ll);
  return ll;
}

const LINK_LOCAL_BY_MAC = new Map<number, IpAddr>();

function eui64Of(mac: Uint8Array): IpAddr {
  const b = new Uint8Array(16);
  b[0] = 0xfe; b[1] = 0x80;
  b[8] = mac[0]! ^ 0x02; b[9] = mac[1]!; b[10] = mac[2]!; b[11] = 0xff; b[12] = 0xfe; b[13] = mac[3]!; b[14] = mac[4]!; b[15] = mac[5]!;
  return makeIp(6, b);
}
