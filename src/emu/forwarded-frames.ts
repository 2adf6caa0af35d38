// The frames of packets that cross routers (forwarding.ts): one copy of each TCP segment per
// link, each one hop lower in TTL (hop limit) and with the MACs of that link; a router's
// neighbour discovery the first time it sends to a next hop; and the ICMP error a router sends
// back for a SYN it cannot forward, with the client's SYNs until it arrives.

import { isLinkLocal6, type IpAddr } from './addr.js';
import { holds6, type IfaceState, type LinkState, type HostState } from './host.js';
import type { ConnEnd, Conversation } from './conversation.js';
import { neighbourOn, walk, type Hop, type RouteLookup, type Walk } from './forwarding.js';
import { selectAddr, source6AnyInterface } from './routing.js';
import { writeArpFrame, writeNdpFrame } from './wire/frame.js';
import { lowerTtl, writeIcmpErrorFrame } from './wire/icmp-error.js';
import type { TcpOption } from './wire/tcp.js';
import type { Routing } from './policy/types.js';
import { mix32 } from './rng.js';

/** What the engine (Run) gives the forwarded frames. */
export interface ForwardingRun {
  readonly frame: Uint8Array;
  now: number;
  tcp(link: { readonly captureId: number }, t: number, srcMac: Uint8Array, dstMac: Uint8Array, src: IpAddr, dst: IpAddr, sport: number, dport: number,
    seq: number, ack: number, flags: number, window: number, options: readonly TcpOption[], payload: Uint8Array,
    comment: string | undefined, ipId: number, flowLabel: number, record?: string): void;
  raw(link: LinkState, t: number, len: number, comment: string | undefined, record?: string): void;
  outcome(result: string, candidates: readonly string[], reason: string): string;
}

/** The options of icmpBack that stay the same through a run. */
export interface IcmpContext {
  readonly conv: Conversation;
  readonly lookup: RouteLookup;
  readonly v6: boolean;
  /** The policy's routing (neighbour discovery and reverse-path filtering on the way back). */
  readonly routing: Routing;
  readonly policy: string;
  readonly writes: boolean;
  /** The Linux client's SYN schedule: tries and the first RTO (doubling). */
  readonly synTries: number;
  readonly synRtoNs: number;
  /** A router's neighbour resolution: tries and the time between them. */
  readonly arpTries: number;
  readonly arpRetransNs: number;
  /** The packet record of the connection's outcome (decision-record.ts), for its SYNs. */
  readonly outcomeRecord: (result: 'unreachable' | 'timeout', rule: string) => string;
}

const BROADCAST = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC = new Uint8Array(6);
/** Linux's default TTL and hop limit for the ICMP errors it sends (net.ipv4.ip_default_ttl, hop_limit). */
const ICMP_TTL = 64;

export class ForwardedFrames {
  /** How much later than its links' latencies the last packet arrived (a router asked for its next hop first). */
  delay = 0;
  /** How many routers the segment being written has crossed: the TTL is that much lower. */
  ttlDown = 0;
  /** Whether the frame being written is to be kept as the quote of an ICMP error. */
  quoting = false;
  private wantQuote = false;
  private quoted: Uint8Array = new Uint8Array(0);

  constructor(private readonly run: ForwardingRun) {}

  /** The delay so far, cleared. */
  takeDelay(): number {
    const d = this.delay;
    this.delay = 0;
    return d;
  }

  /** Keeps the IP packet of the frame just written at buf[at, at + len). */
  quote(buf: Uint8Array, at: number, len: number): void {
    // A copy: buf may be a Node Buffer (the capture writer's), whose slice() is a view.
    this.quoted = Uint8Array.from(buf.subarray(at + 14, at + len));
  }

  /** One segment over every link of hops: the comment on each copy, the decision's record on the copy at the server. */
  segment(hops: readonly Hop[], fromClient: boolean, t: number, from: ConnEnd, to: ConnEnd, seq: number, ack: number, flags: number,
    window: number, options: readonly TcpOption[], payload: Uint8Array, ipId: number, flowLabel: number,
    comment: string | undefined, record?: string): void {
    const atServer = fromClient ? hops.length - 1 : 0;
    for (let k = 0; k < hops.length; k++) {
      const h = hops[k]!;
      t = this.neighbour(h, from.ip, t);
      this.ttlDown = k;
      this.quoting = this.wantQuote && fromClient && k === hops.length - 1;
      this.run.tcp(h.out.link, t, h.out.mac, h.next.mac, from.ip, to.ip, from.port, to.port, seq, ack, flags, window, options, payload, comment, ipId, flowLabel, k === atServer ? record : undefined);
      t += h.out.link.latencyNs;
    }
    this.ttlDown = 0;
    this.quoting = false;
  }

  /**
   * Neighbour discovery by the sender of hop h for its next hop, unless it has the entry: a request
   * and its answer, after which the packet goes out (the wait is added to `delay`). The request is
   * sent from the packet's source when the sender has it [net/ipv4/arp.c arp_solicit: arp_announce 0;
   * net/ipv6/ndisc.c ndisc_solicit], else from the interface's address on the next hop's subnet; both
   * ends keep the other's MAC (a request's target learns its sender [arp_process: neigh_event_ns]).
   * A forwarding IPv6 host sets the router flag in its advertisement [ndisc_recv_ns: is_router = forwarding].
   */
  neighbour(h: Hop, pktSrc: IpAddr, t: number): number {
    const sender = h.out.host;
    const key = `${h.out.name} ${h.nextAddr.text}`;
    if (sender.neighbours.has(key)) return t;
    // IPv6 without the packet's source on the interface: its link-local address [ndisc_send_ns: ipv6_get_lladdr].
    const own = (pktSrc.family === 4 ? sender.ifaceOwning(pktSrc) !== undefined : holds6(h.out, pktSrc))
      ? pktSrc : pktSrc.family === 6 && h.out.linkLocal ? h.out.linkLocal : selectAddr(h.out, h.nextAddr);
    const lat = h.out.link.latencyNs;
    if (own) {
      const f = this.run.frame;
      if (h.nextAddr.family === 4) {
        this.run.raw(h.out.link, t, writeArpFrame(f, { op: 1, senderMac: h.out.mac, senderIp: own, targetMac: ZERO_MAC, targetIp: h.nextAddr, dstMac: BROADCAST }), undefined);
        this.run.raw(h.out.link, t + lat, writeArpFrame(f, { op: 2, senderMac: h.next.mac, senderIp: h.nextAddr, targetMac: h.out.mac, targetIp: own, dstMac: h.out.mac }), undefined);
      } else {
        this.run.raw(h.out.link, t, writeNdpFrame(f, { type: 'ns', srcMac: h.out.mac, src: own, target: h.nextAddr }), undefined);
        this.run.raw(h.out.link, t + lat, writeNdpFrame(f, { type: 'na', srcMac: h.next.mac, dstMac: h.out.mac, src: h.nextAddr, dst: own, target: h.nextAddr,
          solicited: true, override: true, router: h.next.host.forward }), undefined);
      }
      h.next.host.neighbours.set(`${h.next.name} ${own.text}`, h.out.mac);
    }
    sender.neighbours.set(key, h.next.mac);
    this.delay += 2 * lat;
    return t + 2 * lat;
  }

  /**
   * A SYN that a router answers with an ICMP error (walk w): the client's SYNs up to the router,
   * the router's unanswered neighbour discovery for a next hop that is not there, and the error
   * on its way back by the router's own route to the client. connect() fails when it arrives
   * [net/ipv4/tcp_ipv4.c tcp_v4_err, net/ipv6/tcp_ipv6.c tcp_v6_err: in SYN_SENT the error ends
   * the connect: EHOSTUNREACH or ENETUNREACH, "unreachable"]; when it cannot get back the client
   * times out. `done` lets the client's connection go.
   */
  icmpBack(w: Walk & { kind: 'icmp' }, ctx: IcmpContext, client: HostState, src: IpAddr, dst: IpAddr, t0: number, comment: string,
    done: () => void): string {
    const router = w.at.host;
    const why = w.why;
    let fwdLat = 0;
    for (const h of w.hops) fwdLat += h.out.link.latencyNs;
    const { failed, back, backWalk, icmpSrc } = errorWay(w, ctx, src, dst);
    const reached = backWalk !== null && backWalk.kind === 'arrived' && backWalk.at.host === client;
    let backLat = 0;
    for (const h of backWalk?.hops ?? []) backLat += h.out.link.latencyNs;
    const firstAtRouter = t0 + fwdLat;
    const sendAt = firstAtRouter + (failed ? ctx.arpTries * ctx.arpRetransNs : 0);
    const arrives = sendAt + backLat;
    const lost = back ? backWalk ? (backWalk.kind === 'arrived' ? `it reaches ${backWalk.at.host.name}` : backWalk.why) : `nobody answers for ${back.via?.text ?? src.text} on link ${back.iface.link.name}` : `${router.name} has no route back to ${src.text}`;
    const result = reached ? 'unreachable' : 'timeout';
    const reason = reached
      ? `${why}; the error reaches ${client.name}, whose connect() fails (${w.icmp === 'net-unreachable' ? 'ENETUNREACH' : 'EHOSTUNREACH'}) [net/ipv4/tcp_ipv4.c tcp_v4_err; net/ipv6/tcp_ipv6.c tcp_v6_err]`
      : `${why}; the error does not get back (${lost}), so the client times out`;
    // The client's SYNs say how the attempt ended, as the records of unanswered SYNs do.
    const record = ctx.writes ? ctx.outcomeRecord(result, reason) : '';
    const note = `${comment} ${why}`;
    // The client's SYNs until the error arrives (all of them when it never does); the router's requests between.
    let rto = ctx.synRtoNs;
    let ts = t0;
    let arp = 0;
    for (let i = 0; i < ctx.synTries; i++) {
      if (i > 0 && reached && ts >= arrives) break;
      while (failed && arp < ctx.arpTries && firstAtRouter + arp * ctx.arpRetransNs <= ts) this.unanswered(failed, firstAtRouter + arp++ * ctx.arpRetransNs, ctx);
      // The first SYN is the one the error quotes (on one link it is written without hops).
      this.wantQuote = i === 0;
      this.quoting = i === 0 && ctx.conv.client.hops.length === 0;
      ctx.conv.syn(ts, i, i === 0 ? note : `${note} (retransmission ${i})`, record);
      this.wantQuote = false;
      this.quoting = false;
      if (i === 0) fwdLat += this.takeDelay();
      ts += rto;
      rto *= 2;
    }
    while (failed && arp < ctx.arpTries) this.unanswered(failed, firstAtRouter + arp++ * ctx.arpRetransNs, ctx);
    if (backWalk && icmpSrc && ctx.writes) this.icmpFrames(backWalk.hops, w, icmpSrc, src, sendAt, this.quoted, `bindlab ${ctx.policy}: ${w.at.host.name} answers the SYN: ${w.why}`);
    done();
    this.run.now = reached ? arrives : Math.max(ts, arrives);
    return this.run.outcome(result, [], reason);
  }

  /** A router's unanswered request for a next hop (its neighbour discovery for a forwarded packet: `what`, a SYN or a datagram). */
  unanswered(f: { out: IfaceState; target: IpAddr }, t: number, ctx: { readonly writes: boolean; readonly policy: string }, what = 'a SYN'): void {
    if (!ctx.writes) return;
    const own = selectAddr(f.out, f.target);
    if (!own) return;
    const note = `bindlab ${ctx.policy}: ${f.out.host.name} asks for ${f.target.text} on link ${f.out.link.name} to forward ${what}; nobody answers`;
    const len = f.target.family === 4
      ? writeArpFrame(this.run.frame, { op: 1, senderMac: f.out.mac, senderIp: own, targetMac: ZERO_MAC, targetIp: f.target, dstMac: BROADCAST })
      : writeNdpFrame(this.run.frame, { type: 'ns', srcMac: f.out.mac, src: own, target: f.target });
    this.run.raw(f.out.link, t, len, note);
  }

  /** The ICMP error over each link of its way back (as far as it gets), quoting the packet as the router got it. */
  icmpFrames(hops: readonly Hop[], w: Walk & { kind: 'icmp' }, icmpSrc: IpAddr, dst: IpAddr, t: number, received: Uint8Array, note: string, record?: string): void {
    const ipId = mix32(received.length ^ (received[4]! << 8) ^ received[5]! ^ 0x1c3e) & 0xffff;
    // A next hop that never answers fails after the router lowered the TTL: the error quotes it so
    // [net/ipv4/ip_forward.c ip_forward: ip_decrease_ttl before ip_forward_finish, then
    // net/ipv4/arp.c arp_error_report; net/ipv6/ip6_output.c ip6_forward: hop_limit-- before
    // ndisc_error_report]; seen on 6.18 (scenarios/udp-router.yaml, verify-kernel --capture).
    const quoted = w.icmp === 'host-unreachable' ? lowerTtl(received) : received;
    for (let k = 0; k < hops.length; k++) {
      const h = hops[k]!;
      t = this.neighbour(h, icmpSrc, t);
      const len = writeIcmpErrorFrame(this.run.frame, { srcMac: h.out.mac, dstMac: h.next.mac, src: icmpSrc, dst, ttl: ICMP_TTL - k, ipId, kind: w.icmp, quoted });
      this.run.raw(h.out.link, t, len, note, record);
      t += h.out.link.latencyNs;
    }
    this.delay = 0;
  }
}

/** The way of a router's ICMP error back to the packet's source. */
export interface ErrorWay {
  /** The next hop the router asked for in vain (host unreachable), else null: the error goes at once. */
  readonly failed: { readonly out: IfaceState; readonly target: IpAddr } | null;
  /** The router's route back to src (none: the error is not sent). */
  readonly back: { readonly iface: IfaceState; readonly via: IpAddr | null } | null;
  /** The error's walk from the router, when a first neighbour answers; its source. */
  readonly backWalk: Walk | null;
  readonly icmpSrc: IpAddr | undefined;
}

/**
 * How the ICMP error of a router that cannot forward a packet src → dst (walk w) goes back: by the
 * router's own route to src [net/ipv4/icmp.c __icmp_send → icmp_route_lookup; net/ipv6/icmp.c
 * icmp6_send → icmpv6_route_lookup], to a link-local source out of the interface it came in on,
 * from the route's source (IPv4: the outgoing interface's address toward the next hop; IPv6 the
 * kernel's choice), after the router's neighbour discovery gave up for an unanswered next hop.
 */
export function errorWay(w: Walk & { kind: 'icmp' }, ctx: { readonly lookup: RouteLookup; readonly routing: Routing; readonly v6: boolean }, src: IpAddr, dst: IpAddr): ErrorWay {
  const router = w.at.host;
  let failed: { out: IfaceState; target: IpAddr } | null = null;
  if (w.icmp === 'host-unreachable') {
    const r = ctx.lookup(router, dst)!;
    failed = { out: r.iface, target: r.via ?? dst };
  }
  const back = isLinkLocal6(src) ? { iface: w.at, via: null, src: w.at.linkLocal ?? null } : ctx.lookup(router, src);
  let backWalk: Walk | null = null;
  let icmpSrc: IpAddr | undefined;
  if (back) {
    const nextAddr = back.via ?? src;
    const next = neighbourOn(ctx.routing, back.iface, nextAddr, ctx.v6);
    icmpSrc = back.src ?? (src.family === 4 ? selectAddr(back.iface, nextAddr) : source6AnyInterface(router, src, back.iface) ?? undefined);
    if (next && icmpSrc) backWalk = walk(ctx.routing, { out: back.iface, next, nextAddr }, icmpSrc, src, ICMP_TTL, ctx.lookup, ctx.v6);
  }
  return { failed, back, backWalk, icmpSrc };
}
