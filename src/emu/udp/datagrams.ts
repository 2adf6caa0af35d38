// Datagram steps (issue 18) for the UDP socket layer (layer.ts): each datagram's route and source,
// ARP/NDP, delivery at each host it reaches (the policy's `udp.deliver`), ICMP port unreachable,
// and each receiver's reply from the source address its OS picks. What is the same for every
// datagram of a step is worked out once (step-memo.ts); a step of one datagram, or one that
// explain records, works everything out for each.

import { formatEndpoint, isMulticast, isV4Mapped, isWildcard, type IpAddr } from '../addr.js';
import type { IfaceState } from '../host.js';
import { NumberedComment } from '../numbered-comment.js';
import { datagramPacketRecord, withStep } from '../packet-record.js';
import { describe } from '../policy/common.js';
import type { DeliveryResult } from '../policy/udp-types.js';
import type { DatagramDelivery } from '../results.js';
import { hashString, hashTuple } from '../rng.js';
import { multicastMac } from '../wire/frame.js';
import { writeUdpFrame } from '../wire/udp.js';
import { writePortUnreachableFrame } from '../wire/icmp.js';
import { hopsText, type Hop, type Walk } from '../forwarding.js';
import type { DatagramStep } from '../../scenario/types.js';
import { dnsQuery } from './dns.js';
import type { UdpLayer, Outcome } from './layer.js';
import { neighbour, neighbourAt } from './neighbours.js';
import { LOOPBACK_V4, LOOPBACK_V6, carry, datagramRoute, firstHop, hopsLatency, isBroadcastAt, portUnreachableBack, routerAsks, routerError, sendRouterError, sendScope, strongHostDrop, walkPast, wire } from './routed.js';
import { StepMemo, type Arrival, type Decisions, type Planned, type ReplyPlan, type SendPlan, type Words } from './step-memo.js';
import { isUdpSock, type UdpSocket } from './tables.js';

const BROADCAST_MAC = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC = new Uint8Array(6);
/** Gap between the datagrams of one step, and between the replies to one datagram. */
const DATAGRAM_GAP_NS = 100_000;
const REPLY_GAP_NS = 1_000;
/** The TTL / hop limit of multicast: IP_MULTICAST_TTL and IPV6_MULTICAST_HOPS default to 1 [net/ipv4/af_inet.c inet_create: mc_ttl = 1; net/ipv6/af_inet6.c inet6_create: IPV6_DEFAULT_MCASTHOPS]. */
const MULTICAST_TTL = 1;
const NO_HOPS: readonly Hop[] = [];
const NOBODY: readonly UdpSocket[] = [];
const NO_ICMP: { arrival: Arrival; t: number }[] = [];

const ep = (addr: IpAddr, port: number): string => formatEndpoint({ addr, port });

/** One datagram's fate: the step's result word, the receivers, the replies' sources, why. */
interface Sent {
  readonly result: string;
  readonly receivers: readonly UdpSocket[];
  readonly replyFrom: readonly string[];
  readonly reason: string;
  /** Results this policy could as well have given: a SO_REUSEPORT group's members for a pick from it, else [result]. */
  readonly candidates: readonly string[];
}

export type DatagramOutcome = Outcome & { results: string[]; deliveries: DatagramDelivery[]; candidates: (readonly string[])[] };

export class Datagrams {
  constructor(private readonly layer: UdpLayer) {}

  /** A datagram step: every datagram's result, its receivers and the sources of their replies. */
  datagram(step: DatagramStep): DatagramOutcome {
    const layer = this.layer;
    const ctx = layer.ctx;
    // A step that sends nothing has that result for each of its datagrams.
    const none = (o: Outcome): DatagramOutcome => ({
      ...o, results: new Array<string>(step.count).fill(o.result),
      deliveries: Array.from({ length: step.count }, () => ({ receivers: [] })), candidates: new Array<readonly string[]>(step.count).fill([]),
    });
    if (!layer.rules) return none(layer.unsupported());
    let sk: UdpSocket;
    let fresh = false;
    if (step.socket !== undefined) {
      const s = ctx.sockets.get(step.socket);
      if (!s || !isUdpSock(s)) return none({ result: 'EBADF', reason: `socket ${step.socket} is not open` });
      sk = s;
    } else {
      const host = ctx.hosts.get(step.from!)!;
      // A fresh socket of the destination's family (a v4-mapped destination is IPv4)
      const family = wire(step.to.addr).family === 6 ? 'inet6' : 'inet';
      // Named for what it is in explain and the captures' comments: the sender's own fresh socket.
      const made = layer.socket('(sendto socket)', host, step.fromProcess ?? '', family, {}, 'client');
      if (!made.sock) return none(made);
      sk = made.sock;
      // A tool's socket (dig, nc -u -b, a DHCP client): it may send to a broadcast address, as the
      // kernel harness's fresh sockets do; a scenario socket needs SO_BROADCAST set by its steps.
      sk.udp.broadcast = true;
      fresh = true;
      if (step.source) {
        const d = layer.bind(sk, wire(step.source.addr), step.source.port ?? 0);
        if (d.result !== 'ok') { layer.leaveGroup(sk); return none(d); }
      }
    }
    const failed = layer.autobind(sk);
    if (failed) return none(failed);
    const results: string[] = [];
    const deliveries: DatagramDelivery[] = [];
    const candidates: (readonly string[])[] = [];
    let reason = '';
    // explain records each datagram's decision afresh; one datagram has nothing to share
    const memo = ctx.recording || step.count < 2 ? null : new StepMemo();
    for (let i = 0; i < step.count; i++) {
      const s = this.send(sk, step, i, memo);
      results.push(s.result);
      deliveries.push(this.delivery(s, step.reply === true, memo));
      candidates.push(s.candidates);
      if (i === 0) reason = s.reason;
      ctx.now += DATAGRAM_GAP_NS;
    }
    // Routers' errors, in the order they leave (routed.ts sendRouterError); the step ends when the last is in.
    for (const p of layer.routerErrors.splice(0).sort((a, b) => a.at + a.e.waitNs - (b.at + b.e.waitNs))) {
      ctx.now = Math.max(ctx.now, sendRouterError(ctx, p) + DATAGRAM_GAP_NS);
    }
    if (fresh) {
      // The fresh socket is closed after the step (not through close(): it has no scenario name).
      layer.tablesOf(ctx.hosts.get(sk.hostName)!).remove(sk);
      layer.leaveGroup(sk);
    }
    return { result: results[0]!, reason, results, deliveries, candidates };
  }

  /** A datagram's entry in the step's result; the last one again while the receivers and replies are the same. */
  private delivery(s: Sent, reply: boolean, memo: StepMemo | null): DatagramDelivery {
    const last = memo?.delivery;
    if (last && memo!.deliveryReceivers === s.receivers && (!reply || sameStrings(last.replyFrom!, s.replyFrom))) return last;
    const d: DatagramDelivery = {
      receivers: s.receivers.map((r) => `${r.hostName}/${r.processName}/${r.name}`),
      ...(reply ? { replyFrom: [...s.replyFrom] } : {}),
    };
    if (memo) { memo.delivery = d; memo.deliveryReceivers = s.receivers; }
    return d;
  }

  /** How a step's datagrams from sk leave: the route and source, and where they arrive when no neighbour decides that; or why none leaves. */
  private plan(sk: UdpSocket, step: DatagramStep): SendPlan {
    const layer = this.layer;
    const ctx = layer.ctx;
    const host = ctx.hosts.get(sk.hostName)!;
    const fp = ctx.policy.fingerprint;
    let dst = wire(step.to.addr);
    const dport = step.to.port;
    const to = ep(dst, dport);
    const refused = (result: string, reason: string): SendPlan => ({ host, dst, dport, to, fail: { result, reason } });
    // A v4-mapped destination from an IPv6-only socket [net/ipv6/udp.c udpv6_sendmsg: ipv6_only_sock → -ENETUNREACH]
    if (isV4Mapped(step.to.addr) && sk.ipv6only) return refused('ENETUNREACH', 'an IPv6-only socket cannot send to a v4-mapped address [net/ipv6/udp.c udpv6_sendmsg]');
    // sendto(0.0.0.0 / ::) goes to the loopback [net/ipv4/route.c ip_route_output_key_hash_rcu: !daddr → loopback]
    if (isWildcard(dst)) dst = dst.family === 4 ? LOOPBACK_V4 : LOOPBACK_V6;
    const route = datagramRoute(ctx, host, sk, dst, step.interface ?? (isMulticast(dst) ? sk.multicastIf : null));
    if ('errno' in route) return refused(route.errno, route.reason);
    // A v4-mapped source toward IPv6, once the route is found [net/ipv6/ip6_output.c ip6_dst_lookup_tail: the route's error first]
    const mapped = layer.mappedToV6(sk, step.to.addr);
    if (mapped) return refused(mapped.result, mapped.reason);
    const { cast, iface: out, src } = route;
    // Broadcast needs SO_BROADCAST [net/ipv4/udp.c udp_sendmsg: RTCF_BROADCAST && !SOCK_BROADCAST → -EACCES]
    if (cast === 'broadcast' && !sk.udp.broadcast) {
      return refused('EACCES', `${dst.text} is a broadcast address and the sending socket lacks SO_BROADCAST [net/ipv4/udp.c udp_sendmsg]`);
    }
    const ttl = cast === 'multicast' ? MULTICAST_TTL : dst.family === 6 ? fp.hopLimit : fp.ttl;
    // Where it arrives, and with what destination MAC, when its neighbour does not decide that.
    let arrivals: Arrival[] | null = null;
    let dstMac: Uint8Array = ZERO_MAC;
    if (route.local) {
      // Over the loopback, the sockets see the device holding the address [net/ipv4/route.c ip_route_output_key_hash_rcu: RTN_LOCAL orig_oif]
      const holder = host.ifaceOwning(dst);
      arrivals = [{ host, iface: out, inDevice: holder?.name ?? 'lo' }];
    } else if (cast !== 'unicast') {
      dstMac = cast === 'broadcast' ? BROADCAST_MAC : multicastMac(dst);
      arrivals = [];
      // Only on the sender's link: routers do not forward them. A broadcast is delivered to the
      // router itself [net/ipv4/route.c ip_route_input_slow: RTN_BROADCAST → local; a directed one
      // is forwarded only with bc_forwarding, default 0; RFC 1812 §5.3.5.1], multicast only by a
      // multicast routing daemon [ip_route_input_mc: IN_DEV_MFORWARD, set by net/ipv4/ipmr.c MRT_INIT]
      for (const m of out.link.members) if (m.host !== host) arrivals.push({ host: m.host, iface: m, inDevice: m.name });
      // Broadcast always comes back to the sending host; multicast unless IP_MULTICAST_LOOP is off
      // [net/ipv4/ip_output.c ip_mc_output: RTCF_BROADCAST clone; sk_mc_loop; net/ipv6/ip6_output.c ip6_finish_output2]
      if (cast === 'broadcast' || sk.udp.multicastLoop) arrivals.push({ host, iface: out, inDevice: out.name, loopedFrom: sk });
    }
    const sport = sk.port;
    return {
      host, dst, dport, to, fail: null, cast, local: route.local, out, src, next: route.via ?? dst, sport, ttl,
      hash: hashTuple(ctx.seed, src.bytes, sport, dst.bytes, dport), arrivals, dstMac,
    };
  }

  /** A datagram the plan refuses, or whose next hop nobody answers: recorded for explain when `record`. */
  private refused(p: SendPlan, index: number, result: string, reason: string, record: boolean): Sent {
    const ctx = this.layer.ctx;
    if (record && ctx.recording) ctx.record({ step: ctx.stepIndex, connection: index, kind: 'route', host: p.host.name, address: p.to, candidates: [], result, rule: reason });
    return { result, receivers: NOBODY, replyFrom: [], reason, candidates: [result] };
  }

  /** One datagram from sk: route, neighbour, the frame, delivery at each host it reaches, ICMP and replies. */
  private send(sk: UdpSocket, step: DatagramStep, index: number, memo: StepMemo | null): Sent {
    const layer = this.layer;
    const ctx = layer.ctx;
    const fp = ctx.policy.fingerprint;
    const p = memo ? (memo.plan ??= this.plan(sk, step)) : this.plan(sk, step);
    if (p.fail) return this.refused(p, index, p.fail.result, p.fail.reason, true);
    const { host, dst, dport, to, cast, out, src, sport, ttl } = p;
    const link = out.link;
    const lat = link.latencyNs;
    let arrivals: readonly Arrival[];
    let dstMac = p.dstMac;
    /** The links a unicast datagram crosses (routed.ts); a walk that ends short of a host taking it; why a strong host does not. */
    let hops: readonly Hop[] = NO_HOPS;
    let stopped: (Walk & { kind: 'dropped' | 'icmp' }) | null = null;
    let notTaken: string | null = null;
    if (p.arrivals) arrivals = p.arrivals;
    else {
      // To the route's gateway, or to dst on the link; then on through routers (routed.ts).
      const next = p.next;
      const owner = neighbour(ctx, host, out, src, next, index, to, memo ? memo.answerers : null);
      if (!owner) return this.refused(p, index, 'unreachable', `no host on link ${link.name} answers for ${next.text}${next === dst ? '' : ` (the gateway to ${dst.text})`}; the datagram is never sent [net/core/neighbour.c, net/ipv4/arp.c]`, false);
      dstMac = owner.mac;
      const w = walkPast(ctx, out, owner, next, src, dst, ttl);
      if (w === null) arrivals = this.arrivalsAt(owner, memo);
      else {
        const there: Arrival[] = [];
        hops = w.hops;
        if (w.kind !== 'arrived') stopped = w;
        else if ((notTaken = strongHostDrop(ctx, w.at, dst)) === null) {
          // A directed broadcast of the last router's subnet is that router's own, not forwarded
          // [net/ipv4/route.c ip_route_input_slow: RTN_BROADCAST → brd_input; bc_forwarding 0]
          there.push({ host: w.at.host, iface: w.at, inDevice: w.at.name, ...(isBroadcastAt(w.at.host, dst) ? { cast: 'broadcast' as const } : {}) });
        }
        arrivals = there;
      }
    }
    const t0 = ctx.now;
    // Each host's decision, before any frame: the datagram's own comment says what came of it.
    const dec = memo && memo.arrivals === arrivals ? memo.decisions! : this.decide(p, arrivals, index, memo);
    const { decided, receivers, unreachable } = dec;
    // When it arrives (the routers' neighbour discovery, written with the frames, adds to it: see `late`).
    const arrives = t0 + (hops.length > 1 ? hopsLatency(hops) : lat);
    // A router's ICMP error (routed.ts), decided as it arrives there.
    const routerErr = stopped?.kind === 'icmp' ? routerError(ctx, layer.icmp, layer.resolving, stopped, host, src, dst, arrives) : null;
    // ICMP port unreachable from each host that had nobody for a unicast, as its per-peer rate
    // limit lets it: a withheld one leaves the sender with nothing, `dropped` [net/ipv4/icmp.c
    // icmpv4_xrlim_allow; net/ipv6/icmp.c icmpv6_xrlim_allow]
    let t = arrives;
    const icmpAt = unreachable.length > 0 ? [] as { arrival: Arrival; t: number }[] : NO_ICMP;
    for (const { arrival } of unreachable) {
      if (!layer.icmp.allowed(arrival.host, src, p.local, t)) continue;
      icmpAt.push({ arrival, t });
      t += REPLY_GAP_NS;
    }
    const words = this.words(p, dec, icmpAt.length > 0, hops, routerErr, stopped, notTaken);
    const { result } = words;
    // The datagram itself.
    const payload = this.payload(step, index, memo);
    const ipId = layer.datagramIpId(sk, src, dst, 17, memo);
    const spec = { srcMac: out.mac, dstMac, src, dst, ttl, ipId, dontFragment: fp.dontFragment, srcPort: sport, dstPort: dport, payload };
    /** How much later than `arrives` it got there: the routers' neighbour discovery. */
    let late = 0;
    if (hops.length > 0) late = carry(ctx, hops, t0, { kind: 'udp', spec }, words.comment?.text(index + 1) ?? '', words.record) - arrives;
    else if (words.comment) ctx.emitNumbered(link, t0, writeUdpFrame(ctx.frame, spec), words.comment, index + 1, words.record);
    // The datagram as the last host got it: what an ICMP error quotes.
    const lastTtl = ttl - Math.max(0, hops.length - 1);
    // A router's error is written once the step's datagrams are out: they do not wait for it (datagram()).
    if (routerErr) {
      routerAsks(ctx, routerErr, arrives + late, 0);
      const errRecord = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, to, result, [], routerErr.why, 'icmp'), ctx.stepIndex) : undefined;
      layer.routerErrors.push({ e: routerErr, src, at: arrives + late, quoted: layer.quote(src, dst, sport, dport, payload, lastTtl, ipId, fp.dontFragment), index, record: errRecord });
    }
    t += late;
    // The ICMP errors the rate limit let go.
    let quoted: Uint8Array | null = null;
    for (const { arrival, t: at } of icmpAt) {
      if (!ctx.capturing && hops.length <= 1) continue;
      quoted ??= layer.quote(src, dst, sport, dport, payload, lastTtl, ipId, fp.dontFragment);
      const f = { srcMac: arrival.iface.mac, dstMac: out.mac, src: dst, dst: src, ttl: dst.family === 6 ? fp.hopLimit : fp.ttl, ipId: layer.datagramIpId(null, dst, src, 1, memo), dontFragment: false, tos: dst.family === 6 ? 0 : 0xc0 };
      const note = `bindlab ${ctx.policy.name}: ICMP${dst.family === 6 ? 'v6' : ''} port unreachable for ${to}`;
      const rec = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, to, 'port-unreachable', [], unreachable[0]!.res.rule, 'icmp'), ctx.stepIndex) : undefined;
      // Through routers it goes back by the host's own route (routed.ts); on one link straight back.
      if (hops.length > 1) t = Math.max(t, portUnreachableBack(ctx, arrival.iface, dst, src, at + late, f, quoted, note, rec));
      else ctx.emit(arrival.iface.link, at, writePortUnreachableFrame(ctx.frame, f, quoted), note, rec);
    }
    const replyFrom: string[] = [];
    if (step.reply) {
      for (const { arrival, res } of decided) {
        for (const r of res.receivers as readonly UdpSocket[]) {
          const from = this.reply(r, arrival, p, sk, t, payload, index, memo);
          replyFrom.push(from.at);
          t = from.t + REPLY_GAP_NS;
        }
      }
    }
    ctx.now = Math.max(ctx.now, t + lat);
    return { result, receivers, replyFrom, reason: words.reason, candidates: words.candidates };
  }

  /** The arrival at the neighbour that has the datagram's destination itself (no router between). */
  private arrivalsAt(owner: IfaceState, memo: StepMemo | null): readonly Arrival[] {
    if (memo && memo.owner === owner) return memo.ownerArrivals;
    const arrivals: readonly Arrival[] = [{ host: owner.host, iface: owner, inDevice: owner.name }];
    if (memo) { memo.owner = owner; memo.ownerArrivals = arrivals; }
    return arrivals;
  }

  /** Each host's decision on the datagram (UdpLayer.deliverAt), kept for the step's next datagrams to the same arrivals. */
  private decide(p: Planned, arrivals: readonly Arrival[], index: number, memo: StepMemo | null): Decisions {
    const decided: { arrival: Arrival; res: DeliveryResult }[] = [];
    for (const a of arrivals) {
      const res = this.layer.deliverAt(a, a.cast ?? p.cast, p.src, p.sport, p.dst, p.dport, p.hash, index, p.to);
      if (res) decided.push({ arrival: a, res });
    }
    const receivers = decided.length === 1 ? decided[0]!.res.receivers as readonly UdpSocket[] : decided.flatMap((d) => d.res.receivers as readonly UdpSocket[]);
    const dec: Decisions = { decided, receivers, unreachable: decided.filter((d) => d.res.action === 'port-unreachable'), words: [undefined, undefined] };
    if (memo) { memo.arrivals = arrivals; memo.decisions = dec; }
    return dec;
  }

  /** What the datagram's packet and the step's result say (kept with the decisions when no router was crossed). */
  private words(p: Planned, dec: Decisions, icmpSent: boolean, hops: readonly Hop[], routerErr: ReturnType<typeof routerError> | null,
    stopped: (Walk & { kind: 'dropped' | 'icmp' }) | null, notTaken: string | null): Words {
    const direct = hops.length === 0 && stopped === null && notTaken === null;
    const kept = direct ? dec.words[icmpSent ? 1 : 0] : undefined;
    if (kept) return kept;
    const ctx = this.layer.ctx;
    const { decided, receivers, unreachable } = dec;
    const to = p.to;
    const result = receivers.length > 0 ? receivers.map((r) => r.name).sort().join('+') : icmpSent ? 'port-unreachable' : routerErr?.reached ? 'unreachable' : 'dropped';
    const withheld = receivers.length === 0 && unreachable.length > 0 && !icmpSent
      ? `; the ICMP port unreachable is withheld by the per-peer rate limit, the sender sees nothing [net/ipv4/icmp.c icmpv4_xrlim_allow; net/ipv6/icmp.c icmpv6_xrlim_allow]` : '';
    // Through routers the reason starts with the way it went (forwarding.ts hopsText; a loop cut short).
    const way = hops.length > 6 ? `${hopsText(hops.slice(0, 4))} → … (${hops.length} links in all)` : hopsText(hops);
    const reason = (hops.length > 1 ? `${way}: ` : '') + (routerErr ? routerErr.why : stopped ? stopped.why : notTaken ? notTaken
      : decided.length === 1 ? decided[0]!.res.rule
      : decided.length === 0 ? `no host on link ${p.out.link.name} takes ${to} [net/ipv4/ip_input.c ip_rcv_finish]`
      : decided.map((d) => `${d.arrival.host.name}: ${d.res.rule}`).join('; ')) + withheld;
    const who = receivers.length ? `received by ${receivers.map((r) => describe(r)).join(' and ')}` : result === 'port-unreachable' ? 'refused: nobody takes it, ICMP port unreachable'
      : withheld ? 'dropped: nobody takes it, its ICMP rate-limited' : stopped || notTaken ? `${result === 'unreachable' ? 'answered by a router' : 'dropped'} on its way` : 'dropped: nobody takes it';
    // One receiver picked from a group: any member was as likely; else the result itself.
    const only = decided.length === 1 && receivers.length === 1 ? decided[0]!.res.candidates : [];
    const words: Words = {
      result, reason,
      comment: ctx.capturing ? new NumberedComment(`bindlab ${ctx.policy.name}: datagram `, ` to ${to} ${who}. ${reason}`) : null,
      record: ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, to, receivers.length ? 'received' : result, receivers, reason), ctx.stepIndex) : undefined,
      candidates: only.length > 1 ? only.map((s) => s.name) : [result],
    };
    if (direct) dec.words[icmpSent ? 1 : 0] = words;
    return words;
  }

  /**
   * The datagram's payload: a `query:` step sends a DNS query whose ID is the seed's for this step
   * and datagram, else the step's data. With a memo, one buffer for the step, each query's ID put
   * in (dnsQuery writes it in the first two bytes, nothing else depends on it); nothing keeps a
   * payload past its datagram (ICMP quotes and replies copy it).
   */
  private payload(step: DatagramStep, index: number, memo: StepMemo | null): Uint8Array {
    const ctx = this.layer.ctx;
    if (!step.query) return memo ? (memo.payload ??= this.layer.encode(step.data ?? '')) : this.layer.encode(step.data ?? '');
    const id = hashString(ctx.seed, `dns id ${ctx.stepIndex} ${index}`) & 0xffff;
    if (!memo) return dnsQuery(id, step.query.name, step.query.qtype);
    const q = (memo.payload ??= dnsQuery(0, step.query.name, step.query.qtype));
    q[0] = id >> 8;
    q[1] = id & 0xff;
    return q;
  }

  /**
   * A receiver's answer (`bindlab HOST/PROC/SOCKET\r\n`) from the source its OS picks: its bound
   * address; with IP_PKTINFO the address the datagram came to; else the route's source toward the
   * sender [net/ipv4/udp.c udp_sendmsg: inet_saddr, ipc.addr from IP_PKTINFO's ipi_spec_dst
   * (fib_compute_spec_dst), else ip_route_output_flow's saddr]. Delivered at the sender like any
   * datagram (a sender connected elsewhere refuses it: ICMP port unreachable back). `at` is the
   * source as the sending socket sees it: `none` when the reply never reaches that socket (it is
   * connected to another peer, bound to a group or broadcast address, or nothing came back), as a
   * recvfrom() on it would tell [net/ipv4/udp.c __udp4_lib_lookup: the reply's lookup picks another
   * socket or none].
   */
  private reply(r: UdpSocket, arrival: Arrival, d: Planned, sender: UdpSocket, t: number, query: Uint8Array, index: number, memo: StepMemo | null): { at: string; t: number } {
    const layer = this.layer;
    const ctx = layer.ctx;
    const p = memo?.replies.get(r) ?? this.replyPlan(r, arrival, d, sender, memo);
    const src = p.src;
    const out = p.out;
    if (!src || !out) return { at: 'none', t };
    const client = d.src;
    const cport = d.sport;
    const port = r.port;
    const h = arrival.host;
    const fp = ctx.policy.fingerprint;
    const payload = this.answer(p, r, query);
    // The path back: the loopback, or the route toward the sender (by the policy's Routing.send:
    // routed.ts sendScope), a neighbour there, and on through routers.
    let peer: IfaceState | null;
    let w: Walk | null = null;
    if (p.back) peer = out;
    else {
      peer = neighbourAt(ctx, h, out, src, p.next!, t, memo ? memo.answerers : null);
      t = ctx.now > t ? ctx.now : t;
      if (peer) w = walkPast(ctx, out, peer, p.next!, src, client, p.ttl);
    }
    const routed = w !== null && w.hops.length > 1;
    const stuck = w !== null && w.kind === 'icmp' ? w : null;
    const ipId = routed || stuck || ctx.capturing ? layer.datagramIpId(r, src, client, 17, memo) : 0;
    const spec = { srcMac: out.mac, dstMac: peer ? peer.mac : BROADCAST_MAC, src, dst: client, ttl: p.ttl, ipId, dontFragment: fp.dontFragment, srcPort: port, dstPort: cport, payload };
    const reachedAt = routed ? carry(ctx, w!.hops, t, { kind: 'udp', spec }, p.comment, p.record) : t + out.link.latencyNs;
    if (!routed && ctx.capturing) ctx.emit(out.link, t, writeUdpFrame(ctx.frame, spec), p.comment, p.record);
    // A router that cannot forward the reply answers its sender, after the step's datagrams (routed.ts).
    if (stuck) {
      const e = routerError(ctx, layer.icmp, layer.resolving, stuck, h, src, client, reachedAt);
      routerAsks(ctx, e, reachedAt, 0);
      const quoted = layer.quote(src, client, port, cport, payload, p.ttl - (stuck.hops.length - 1), ipId, fp.dontFragment);
      const errRecord = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, ep(client, cport), 'dropped', [], e.why, 'icmp'), ctx.stepIndex) : undefined;
      layer.routerErrors.push({ e, src, at: reachedAt, quoted, index, record: errRecord });
    }
    if (!peer) return { at: 'none', t };
    // Where it arrives: the loopback's host, or the end of its walk, where a strong host may not take it (routed.ts).
    const end = p.back ? peer : w === null ? peer : w.kind === 'arrived' ? w.at : null;
    const there = end && (p.back || strongHostDrop(ctx, end, client) === null) ? end : null;
    if (!there) return { at: 'none', t };
    // Delivered at the sender's host like any datagram.
    let res = p.res;
    if (p.there !== there) {
      const clientHost = ctx.hosts.get(sender.hostName)!;
      res = layer.deliverAt({ host: there.host, iface: there, inDevice: p.back ? (clientHost.ifaceOwning(client)?.name ?? 'lo') : there.name }, 'unicast', src, port, client, cport,
        hashTuple(ctx.seed, src.bytes, port, client.bytes, cport), index, ep(client, cport), 'reply');
      p.there = there;
      p.res = res;
    }
    if (res && res.action === 'port-unreachable' && ctx.capturing && layer.icmp.allowed(there.host, src, p.back, t)) {
      const q = layer.quote(src, client, port, cport, payload, p.ttl - (routed ? w!.hops.length - 1 : 0), 0, fp.dontFragment);
      const f = { srcMac: there.mac, dstMac: out.mac, src: client, dst: src, ttl: p.ttl, ipId: layer.datagramIpId(null, client, src, 1, memo), dontFragment: false, tos: client.family === 6 ? 0 : 0xc0 };
      const note = `bindlab ${ctx.policy.name}: the sender refuses ${r.name}'s reply from ${p.at}: ICMP port unreachable. ${res.rule}`;
      const rec = withStep(datagramPacketRecord(ctx.policy.name, ep(client, cport), 'port-unreachable', [], res.rule, 'icmp'), ctx.stepIndex);
      if (routed) portUnreachableBack(ctx, there, client, src, t + hopsLatency(w!.hops), f, q, note, rec);
      else ctx.emit(there.link, t + out.link.latencyNs, writePortUnreachableFrame(ctx.frame, f, q), note, rec);
    }
    return { at: res && res.receivers.includes(sender) ? p.at : 'none', t };
  }

  /** Where r's reply to the step's sender leaves from and by which way, what its packets say (reply); kept for the step. */
  private replyPlan(r: UdpSocket, arrival: Arrival, d: Planned, sender: UdpSocket, memo: StepMemo | null): ReplyPlan {
    const layer = this.layer;
    const ctx = layer.ctx;
    const clientHost = ctx.hosts.get(sender.hostName)!;
    const client = d.src;
    const h = arrival.host;
    const fp = ctx.policy.fingerprint;
    const back = d.local || h === clientHost;
    const route = back ? null : ctx.egress(h, client);
    const { src, how } = layer.replySource(r, h, d.cast, back, route, d.dst, client);
    let out: IfaceState | null = null;
    let next: IpAddr | null = null;
    let at = 'none';
    let comment = '';
    if (src) {
      at = ep(src, r.port);
      comment = layer.replyComment(r, at, how, d.cast, src, d.dst, d.dport);
      if (back) out = ctx.loopbackOf(h);
      else if (route) {
        const oif = sendScope(ctx, h, src);
        const first = oif && oif !== route.iface ? firstHop(ctx, h, client, oif) : { iface: route.iface, next: route.via ?? client };
        if (first) { out = first.iface; next = first.next; }
      }
    }
    const record = ctx.capturing && out ? withStep(datagramPacketRecord(ctx.policy.name, ep(client, d.sport), 'received', [r], comment, 'reply'), ctx.stepIndex) : undefined;
    const plan: ReplyPlan = {
      src, at, comment, record, ttl: client.family === 6 ? fp.hopLimit : fp.ttl, back, out, next,
      query: null, answer: null, answerIsDns: false, there: null, res: null,
    };
    memo?.replies.set(r, plan);
    return plan;
  }

  /**
   * r's answer to query (UdpLayer.replyPayload): the last one again when the query differs at most
   * in its first two bytes, a DNS query's ID, which the answer echoes there and nothing else of it
   * depends on (dns.ts parseDnsQuery, dnsTxtResponse); the banner answers anything else.
   */
  private answer(p: ReplyPlan, r: UdpSocket, query: Uint8Array): Uint8Array {
    const q = p.query;
    if (q !== null && sameAfterId(q, query)) {
      const a = p.answer!;
      if (p.answerIsDns) { a[0] = query[0]!; a[1] = query[1]!; }
      return a;
    }
    const { payload, dns } = this.layer.replyPayloadOf(r, query);
    p.query = query.slice();
    p.answer = payload;
    p.answerIsDns = dns;
    return payload;
  }
}

/** Whether a and b are the same bytes but for the first two. */
function sameAfterId(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 2; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

