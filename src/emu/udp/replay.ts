// A replay's captured datagrams at a scenario host (src/replay): the UDP layer's delivery, reply
// source and ICMP error for a datagram that did not come from a scenario socket but from the
// capture; the replay writes the captured packets, these write the host's answers.

import { formatEndpoint, type IpAddr } from '../addr.js';
import type { HostState, IfaceState } from '../host.js';
import { datagramPacketRecord } from '../packet-record.js';
import { describe } from '../policy/common.js';
import { hashTuple } from '../rng.js';
import { writeUdpFrame } from '../wire/udp.js';
import { quotedLength, writePortUnreachableFrame } from '../wire/icmp.js';
import type { UdpLayer } from './layer.js';
import type { ReplayedArrival, ReplayedDatagram } from './replayed.js';
import type { UdpSocket } from './tables.js';

const NO_NAMES: readonly string[] = [];
const NO_SOCKETS: readonly UdpSocket[] = [];
/** Gap between the replies of several receivers to one datagram (as layer.ts's REPLY_GAP_NS). */
const REPLY_GAP_NS = 1_000;
const ep = (addr: IpAddr, port: number): string => formatEndpoint({ addr, port });

export class UdpReplay {
  constructor(private readonly layer: UdpLayer) {}


  /**
   * A captured datagram src:sport -> dst:dport that arrived at host on iface (dst one of its
   * addresses) at the run's `now`: who takes it under the policy, where each receiver's reply
   * would leave from, into out (the caller's, reused: no object per datagram). Writes nothing.
   */
  replayDeliver(host: HostState, iface: IfaceState, src: IpAddr, sport: number, dst: IpAddr, dport: number, out: ReplayedDatagram): void {
    const ctx = this.layer.ctx;
    const name = ctx.policy.name;
    const to = ep(dst, dport);
    out.host = host; out.iface = iface; out.captureId = iface.link.captureId; out.serverMac = iface.mac; out.latencyNs = iface.link.latencyNs;
    if (!this.layer.rules) {
      const u = this.layer.unsupported();
      out.result = u.result; out.reason = u.reason; out.candidates = NO_NAMES; out.receivers = NO_SOCKETS; out.replyFrom = ''; out.perDestination = true; out.perClient = true;
      out.comment = `bindlab ${name}: datagram to ${to}: ${u.reason}`;
      out.record = '';
      return;
    }
    const res = this.layer.deliverAt({ host, iface, inDevice: iface.name }, 'unicast', src, sport, dst, dport, hashTuple(ctx.seed, src.bytes, sport, dst.bytes, dport), 0, to)!;
    const receivers = res.receivers as UdpSocket[];
    const result = receivers.length ? receivers.map((r) => r.name).sort().join('+') : res.action === 'port-unreachable' ? 'port-unreachable' : 'dropped';
    const word = receivers.length ? 'received' : result;
    const who = receivers.length ? `received by ${receivers.map((r) => describe(r)).join(' and ')}` : result === 'port-unreachable' ? 'refused: nobody takes it, ICMP port unreachable' : 'dropped: nobody takes it';
    out.result = result;
    out.reason = res.rule;
    out.candidates = res.candidates.length > 1 ? res.candidates.map((c) => c.name) : NO_NAMES;
    out.receivers = receivers;
    out.comment = `bindlab ${name}: datagram to ${to} ${who}. ${res.rule}`;
    out.record = datagramPacketRecord(name, to, word, receivers, res.rule);
    let clientFree = true;
    out.replyFrom = '';
    for (const r of receivers) {
      const s = this.layer.replySource(r, host, 'unicast', false, ctx.egress(host, src), dst, src);
      if (out.replyFrom === '') out.replyFrom = ep(s.src ?? dst, r.port);
      if (s.how === 'the route\'s source toward the sender') clientFree = false;
    }
    // A SO_REUSEPORT pick (by the tuple's hash) or a connected socket (it takes its peer's only): decided per datagram;
    // a reply source that depends on the client (the route's source toward it): per client address.
    out.perClient = res.candidates.length <= 1 && !this.layer.tablesOf(host).owners(dport).some((sk) => sk.remote !== null);
    out.perDestination = out.perClient && clientFree;
  }

  /**
   * The ICMP (ICMPv6) port unreachable of d's host for a replayed datagram at t, from wireDst (the
   * address the client used) to the client, quoting `quoted` (the datagram's IP packet as
   * captured, checksums whole), on the link it came in by, with the replay's comment and record;
   * false when the policy's rate limit holds it back.
   */
  replayPortUnreachable(d: ReplayedArrival, t: number, clientMac: Uint8Array, client: IpAddr, wireDst: IpAddr, quoted: Uint8Array, sport: number, dport: number,
    comment: string | undefined, record: string | undefined): boolean {
    const ctx = this.layer.ctx;
    const iface = d.iface!;
    if (!this.layer.icmp.allowed(d.host!, client, false, t)) return false;
    const fp = ctx.policy.fingerprint;
    const v6 = client.family === 6;
    const q = quoted.subarray(0, quotedLength(client.family, quoted.length));
    const f = { srcMac: iface.mac, dstMac: clientMac, src: wireDst, dst: client, ttl: v6 ? fp.hopLimit : fp.ttl,
      // As the layer's own ICMP errors: the IPv4 id of a packet sent without a socket (layer.ts datagramIpId).
      ipId: this.layer.datagramIpId(null, wireDst, client, 1), dontFragment: false, tos: v6 ? 0 : 0xc0 };
    const len = writePortUnreachableFrame(ctx.frame, f, q);
    ctx.emit(iface.link, t, len, comment, record);
    return true;
  }

  /**
   * Each receiver's reply to a replayed datagram at t (the time of the capture's reply): its banner
   * (a DNS response holding it for a DNS query) from the source its OS picks (the address the
   * datagram came to when the scenario has no route back to the client), with `verdict` after the
   * reply's own comment and `record` (the decision's, with the verdict).
   */
  replayReplies(d: ReplayedArrival, t: number, clientMac: Uint8Array, client: IpAddr, cport: number, wireDst: IpAddr, dst: IpAddr, dport: number,
    query: Uint8Array, verdict: string, record: string): void {
    const ctx = this.layer.ctx;
    const host = d.host!, iface = d.iface!;
    const fp = ctx.policy.fingerprint;
    const route = ctx.egress(host, client);
    for (const r of d.receivers) {
      const s = this.layer.replySource(r, host, 'unicast', false, route, dst, client);
      // The address the client used (before --map) when the reply leaves from the one the datagram came to.
      const src = s.src === undefined || s.src.text === dst.text ? wireDst : s.src;
      const at = ep(src, r.port);
      const payload = this.layer.replyPayload(r, query);
      const len = writeUdpFrame(ctx.frame, { srcMac: iface.mac, dstMac: clientMac, src, dst: client, ttl: client.family === 6 ? fp.hopLimit : fp.ttl,
        ipId: this.layer.datagramIpId(r, src, client, 17), dontFragment: fp.dontFragment, srcPort: r.port, dstPort: cport, payload });
      const comment = `${this.layer.replyComment(r, at, s.src ? s.how : 'the address it came to (the scenario has no route back to the client)', 'unicast', src, wireDst, dport)}. ${verdict}`;
      ctx.emit(iface.link, t, len, comment, record === '' ? undefined : record);
      t += REPLY_GAP_NS;
    }
  }
}
