// The UDP side of a replay's packet loop (Replayer hands it every frame decodeSegment found not
// TCP): each datagram to a scenario host is delivered under each policy; the capture's answers
// (a datagram back from the server's port, an ICMP port unreachable quoting the datagram) say
// what the real host did, and each policy's result is judged against them.
//
// Flows are tracked by 4-tuple (a ConnectionTable of their own): the first datagram's direction
// says which end is the client. A datagram back to a client's port from the server's port, from
// that address or another of the same host (a wildcard-bound server answers from the route's
// source), answers the flow's earliest datagram still waiting: one sent at most ANSWER_WINDOW_NS
// before it, not answered yet. Entries wait in a ring until they are final: when their index is
// RING behind the newest, or at the end.

import { formatEndpoint, makeIp, type IpAddr } from '../emu/addr.js';
import type { Run } from '../emu/engine.js';
import type { CaptureReader } from '../pcap/capture-reader.js';
import { MAX_DISAGREEMENTS_LISTED, type ReplayAgreement } from './agreement.js';
import { DatagramPolicy, type DatagramDecision } from './datagram-policy.js';
import { packetComments, PcapngReader } from '../pcap/pcapng-reader.js';
import type { PcapngWriter } from '../pcap/pcapng-writer.js';
import { writeCapturedDatagram } from './datagram-output.js';
import type { SpoolWriter } from './spool.js';
import { addrWord, ConnectionTable, tupleHash } from './connection-table.js';
import { bannerSocketIn, decodeDatagram, DG_FRAGMENT, DG_MALFORMED, DG_OTHER, DG_PORT_UNREACHABLE, DG_TRUNCATED, DG_UDP, newDatagram } from './datagram.js';
import { foldChecksum, sumWords } from '../emu/wire/checksum.js';
import type { ReplayDatagram, ReplayPolicyReport, UnmatchedDestination } from './replay.js';
import { isoTime } from './time.js';

/** UDP flows tracked at once: past it the oldest goes (its datagrams wait for no answer any more). */
export const MAX_FLOWS = 16384;
/** Datagrams whose entries wait to be made (and may still be answered). */
const RING = 16384;
/** A reply or an ICMP error answers a datagram of its flow sent at most this long before it (a DNS client retries after 1 to 5 s). */
export const ANSWER_WINDOW_NS = 3e9;
/** Bytes of each datagram's payload kept for its emulated replies (a DNS query over UDP is at most 512 bytes: RFC 1035 §4.2.1). */
const KEPT_PAYLOAD = 512;
/** Distinct unmatched destinations counted for NothingReplayed's hint. */
const UNMATCHED_KEPT = 4096;
/** Per-client decisions kept per policy (a scan from many addresses must not grow them without bound). */
const CLIENT_DECISIONS_KEPT = 65536;
/** Bytes of a datagram an ICMP error may quote at most (IPv6: the minimum MTU less the error's own headers, RFC 4443 §2.4(c)). */
const QUOTE_MAX = 1280 - 48;
/** The client MAC of frames whose link type has none (as replayer.ts's). */
const NO_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xfe);

/** Skips of UDP and ICMP packets, by the report's reason. */
export interface DatagramSkips {
  fragment: number;
  truncated: number;
  malformed: number;
  'not-to-a-scenario-host': number;
  'not-in-a-replayed-connection': number;
}

export class DatagramReplayer {
  /** Datagrams delivered (to a scenario host). */
  delivered = 0;
  /** Answers of the capture's servers matched to a replayed datagram. */
  answers = 0;
  /** Packets this side took (UDP, or ICMP port unreachable quoting UDP): not counted as not-tcp. */
  handled = 0;
  readonly skipped: DatagramSkips = { fragment: 0, truncated: 0, malformed: 0, 'not-to-a-scenario-host': 0, 'not-in-a-replayed-connection': 0 };
  private readonly dg = newDatagram();
  private readonly flows = new ConnectionTable(MAX_FLOWS);
  private readonly policies: DatagramPolicy[];
  /** Per flow slot: the index of its earliest datagram still waiting for an answer (-1: none), its newest one, the server's host. */
  private readonly head = new Float64Array(MAX_FLOWS).fill(-1);
  private readonly tail = new Float64Array(MAX_FLOWS).fill(-1);
  private readonly hostOf = new Int32Array(MAX_FLOWS);
  /**
   * Flows by client endpoint and server port (a hash of the three: the flow's slot, checked
   * against the table), for answers from another address of the server's host.
   */
  private readonly byClient = new Map<number, number>();
  private readonly clientKeyOf = new Int32Array(MAX_FLOWS);
  /** Scenario host (index) of each address a datagram can go to or come from, by addrKey; scenario addresses by destination index. */
  private readonly hostIndex = new Map<number | string, number>();
  private readonly dstIndex = new Map<IpAddr, number>();
  /** The ring of entries: per datagram (index mod RING). */
  private readonly sec = new Float64Array(RING);
  private readonly nsec = new Int32Array(RING);
  private readonly time = new Float64Array(RING);
  private readonly src: IpAddr[] = new Array<IpAddr>(RING);
  private readonly dst: IpAddr[] = new Array<IpAddr>(RING);
  private readonly sport = new Uint16Array(RING);
  private readonly dport = new Uint16Array(RING);
  private readonly next = new Float64Array(RING);
  private readonly flowOf = new Int32Array(RING);
  private readonly waiting = new Uint8Array(RING);
  /** What the capture shows (an index in observedNames, -1: nothing) and where the answer came from. */
  private readonly observed = new Int32Array(RING);
  private readonly answeredFrom: (string | undefined)[] = new Array<string | undefined>(RING);
  private readonly decision: Int32Array;
  private readonly observedNames: string[] = [];
  private readonly observedIds = new Map<string, number>();
  private finalized = 0;
  private readonly addrs = new Map<number | string, IpAddr>();
  /** Per entry, for its answers in the outputs: the client's MAC (interned), the address it used, the first KEPT_PAYLOAD bytes of its payload. */
  private readonly clientMac: Uint8Array[] = new Array<Uint8Array>(RING).fill(NO_MAC);
  private readonly wireDst: IpAddr[] = new Array<IpAddr>(RING);
  private readonly payload: Uint8Array;
  private readonly payloadLen = new Uint16Array(RING);
  private readonly macs = new Map<string, Uint8Array>();
  private lastMac: Uint8Array = NO_MAC;
  private readonly outputs: boolean;
  private readonly ng: PcapngReader | null;
  /**
   * Before a packet goes into policy p's output at capture time t: the replay's TCP answers due
   * by then are written first, and the time the packet gets (Replayer.stamp). Set by the Replayer.
   */
  stamp: (p: number, t: number) => number = (_p, t) => t;

  constructor(private readonly reader: CaptureReader, names: readonly string[], private readonly runs: readonly Run[],
    private readonly sinks: readonly (PcapngWriter | undefined)[], private readonly reports: readonly ReplayPolicyReport[],
    private readonly hostAddrs: ReadonlyMap<number | string, IpAddr>, private readonly keep: boolean,
    /** Per policy: where its datagrams' entries go instead of the report's lists (spool.ts), or null. */
    private readonly spool: readonly SpoolWriter[] | null) {
    this.policies = names.map((n) => new DatagramPolicy(n));
    this.outputs = sinks.some((w) => w !== undefined);
    // The payloads are kept for the outputs' emulated replies only (8 MiB).
    this.payload = new Uint8Array(this.outputs ? RING * KEPT_PAYLOAD : 0);
    this.ng = reader instanceof PcapngReader ? reader : null;
    this.decision = new Int32Array(RING * names.length);
    const hosts = new Map<string, number>();
    for (const [key, a] of hostAddrs) {
      const host = runs[0]?.replayOwner(a)?.host ?? '';
      if (!hosts.has(host)) hosts.set(host, hosts.size);
      this.hostIndex.set(key, hosts.get(host)!);
      if (!this.dstIndex.has(a)) this.dstIndex.set(a, this.dstIndex.size);
    }
  }

  /** The current packet, which decodeSegment found not TCP: true when it is UDP's (not counted as not-tcp). */
  packet(t: number): boolean {
    const reader = this.reader;
    const dg = this.dg;
    const data = reader.data;
    const kind = decodeDatagram(reader.linkType, data, reader.offset, reader.offset + reader.caplen, dg);
    if (kind === DG_OTHER) return false;
    this.handled++;
    if (kind === DG_FRAGMENT) { this.skipped.fragment++; return true; }
    if (kind === DG_TRUNCATED) { this.skipped.truncated++; return true; }
    if (kind === DG_MALFORMED) { this.skipped.malformed++; return true; }
    const fam = dg.family as 4 | 6;
    const len = fam === 4 ? 4 : 16;
    const srcWord = addrWord(data, dg.srcAt, len), dstWord = addrWord(data, dg.dstAt, len);
    const hash = tupleHash(srcWord, dg.srcPort, dstWord, dg.dstPort);
    const flows = this.flows;
    let slot = flows.find(data, dg.srcAt, srcWord, dg.srcPort, dg.dstAt, dstWord, dg.dstPort, fam, hash);
    if (kind === DG_PORT_UNREACHABLE) {
      // The quoted datagram is the client's to the server, and the ICMP comes from the server's host.
      if (slot >= 0 && !flows.reversed && this.hostIndex.get(addrKey(data, dg.fromAt, fam)) === this.hostOf[slot]) this.answer(slot, t, 'port-unreachable', dg.fromAt, -1);
      else this.skipped['not-in-a-replayed-connection']++;
      return true;
    }
    if (slot >= 0 && flows.reversed) { this.answer(slot, t, this.replyName(), dg.srcAt, dg.srcPort); return true; }
    if (slot < 0) {
      // From another address of the server's host to a client's port: the answer of a wildcard-bound socket.
      const other = this.byClient.get(clientKey(dstWord, dg.dstPort, dg.srcPort));
      if (other !== undefined && this.sameClient(other, data, dg.dstAt, dg.dstPort, dg.srcPort, fam)
        && this.hostIndex.get(addrKey(data, dg.srcAt, fam)) === this.hostOf[other]) {
        this.answer(other, t, this.replyName(), dg.srcAt, dg.srcPort);
        return true;
      }
    }
    const dstKey = addrKey(data, dg.dstAt, fam);
    const dst = this.hostAddrs.get(dstKey);
    if (!dst) {
      if (this.hostIndex.has(addrKey(data, dg.srcAt, fam))) {
        // A scenario host's own datagram out (a resolver asking upstream): its flow is tracked so that
        // the answer coming back is known for one, not taken for a datagram to the host's port.
        if (slot < 0) this.addFlow(fam, srcWord, dstWord, hash, null);
        this.skipped['not-in-a-replayed-connection']++;
      } else {
        this.skipped['not-to-a-scenario-host']++;
        this.unmatched(dstKey, dg.dstPort, fam);
      }
      return true;
    }
    if (slot < 0) slot = this.addFlow(fam, srcWord, dstWord, hash, dstKey);
    this.deliver(slot, t, fam, dst);
    return true;
  }

  /** What a reply's payload shows: the socket its banner names, else "received". */
  private replyName(): string {
    const dg = this.dg;
    return bannerSocketIn(this.reader.data, dg.payloadAt, dg.payloadAt + dg.payloadCaptured) ?? 'received';
  }

  /** Tracks a new flow from the current datagram's source to its destination, a scenario address (dstKey) or, null, none (a host's own datagram out). */
  private addFlow(fam: 4 | 6, srcWord: number, dstWord: number, hash: number, dstKey: number | string | null): number {
    const flows = this.flows, dg = this.dg, data = this.reader.data;
    if (flows.size === flows.capacity) this.dropFlow(flows.oldestSlot);
    const slot = flows.add(fam, data, dg.srcAt, srcWord, dg.srcPort, dg.dstAt, dstWord, dg.dstPort, hash);
    this.head[slot] = -1;
    this.tail[slot] = -1;
    this.hostOf[slot] = dstKey === null ? -1 : this.hostIndex.get(dstKey)!;
    const key = clientKey(srcWord, dg.srcPort, dg.dstPort);
    this.clientKeyOf[slot] = key;
    if (dstKey !== null) this.byClient.set(key, slot);
    return slot;
  }

  /** Forgets the flow in slot: its datagrams wait for no answer any more. */
  private dropFlow(slot: number): void {
    for (let i = this.head[slot]!; i >= 0; i = this.next[i % RING]!) this.waiting[i % RING] = 0;
    const key = this.clientKeyOf[slot]!;
    if (this.byClient.get(key) === slot) this.byClient.delete(key);
    this.flows.delete(slot);
  }

  /** Whether the flow in slot is client buf[at]:port's to the server's port sport. */
  private sameClient(slot: number, buf: Uint8Array, at: number, port: number, sport: number, fam: 4 | 6): boolean {
    return this.flows.serverPort(slot) === sport && this.flows.isClient(slot, fam, buf, at, port);
  }

  /** A new datagram of the flow in slot to the scenario address dst: decided under each policy. */
  private deliver(slot: number, t: number, fam: 4 | 6, dst: IpAddr): void {
    const { reader, dg } = this;
    const index = this.delivered++;
    if (index - RING >= this.finalized) this.finalize(index - RING + 1);
    const r = index % RING;
    const srcKey = addrKey(reader.data, dg.srcAt, fam);
    const src = this.addr(reader.data, dg.srcAt, fam, srcKey);
    this.sec[r] = reader.tsSec; this.nsec[r] = reader.tsNsec; this.time[r] = t;
    this.src[r] = src; this.dst[r] = dst; this.sport[r] = dg.srcPort; this.dport[r] = dg.dstPort;
    this.flowOf[r] = slot; this.next[r] = -1; this.waiting[r] = 1; this.observed[r] = -1; this.answeredFrom[r] = undefined;
    if (this.outputs) this.keepForAnswers(r, fam);
    if (this.tail[slot]! >= 0 && this.waiting[this.tail[slot]! % RING] === 1) this.next[this.tail[slot]! % RING] = index;
    else this.head[slot] = index;
    this.tail[slot] = index;
    const P = this.policies.length;
    const dkey = this.dstIndex.get(dst)! * 65536 + dg.dstPort;
    for (let p = 0; p < P; p++) {
      const ps = this.policies[p]!;
      let id = ps.byDestination.get(dkey) ?? -2;
      let perClient: Map<number | string, number> | undefined;
      if (id === -2 && (perClient = ps.byClient.get(dkey)) !== undefined) id = perClient.get(srcKey) ?? -2;
      if (id === -2) {
        if (!this.runs[p]!.replayDatagram(t, src, dg.srcPort, dst, dg.dstPort, ps.out)) id = -1;
        else id = ps.intern();
        if (id === -1 || ps.out.perDestination) ps.byDestination.set(dkey, id);
        else if (ps.out.perClient) {
          if (ps.clientDecisions >= CLIENT_DECISIONS_KEPT) { ps.byClient.clear(); ps.clientDecisions = 0; }
          if (perClient === undefined) ps.byClient.set(dkey, (perClient = new Map()));
          perClient.set(srcKey, id);
          ps.clientDecisions++;
        }
      }
      this.decision[r * P + p] = id;
      if (id < 0) continue;
      ps.counts[id]++;
      const w = this.sinks[p];
      if (w) this.writeDatagram(p, w, id, r, t);
    }
  }

  /** What an entry's answers in the outputs need: the client's MAC, the address it used, its payload. */
  private keepForAnswers(r: number, fam: 4 | 6): void {
    const { reader, dg } = this;
    const data = reader.data;
    this.clientMac[r] = this.mac(data, dg.macAt);
    this.wireDst[r] = this.addr(data, dg.dstAt, fam);
    const n = Math.min(dg.payloadCaptured, KEPT_PAYLOAD);
    // A loop, not set(subarray()): a query is tens of bytes, and a view per datagram is garbage.
    const payload = this.payload, to = r * KEPT_PAYLOAD, from = dg.payloadAt;
    for (let i = 0; i < n; i++) payload[to + i] = data[from + i]!;
    this.payloadLen[r] = n;
  }

  /** The captured datagram into policy p's output with its decision; the emulated ICMP port unreachable right after it when the policy says so. */
  private writeDatagram(p: number, w: PcapngWriter, id: number, r: number, t: number): void {
    const d = this.policies[p]!.decisions[id]!;
    if (d.captureId < 0) return;
    const { reader, dg } = this;
    const at = this.stamp(p, t);
    const ps = this.policies[p]!;
    ps.notes(id);
    writeCapturedDatagram(w, d.captureId, at, reader.data, reader.offset, reader.caplen, reader.linkType, dg, this.clientMac[r]!, d.serverMac,
      ps.noteComment, ps.noteRecord, this.inputComments());
    // The kernel answers from its receive path, at once (no application in between): right after the datagram.
    if (d.result === 'port-unreachable') {
      const wireDst = this.wireDst[r]!;
      ps.icmpNotes(id, formatEndpoint({ addr: wireDst, port: this.dport[r]! }), wireDst.family === 6);
      this.runs[p]!.replayPortUnreachable(d, at, this.clientMac[r]!, this.src[r]!, this.sport[r]!, wireDst, this.dport[r]!, this.quoted(), ps.noteComment, ps.noteRecord);
    }
  }

  /**
   * The capture's reply to entry r at time t into each output: kept as captured (with the verdict)
   * where the policy agrees that its receiver answered; where the policy's receiver is another, or
   * answers from another address, that receiver's own reply instead; nothing where nobody receives
   * the datagram under the policy (its ICMP port unreachable, if any, went out with the datagram).
   */
  private writeAnswer(r: number, t: number, oid: number): void {
    const { reader, dg } = this;
    const P = this.policies.length;
    const seen = this.observedNames[oid]!;
    const from = this.answeredFrom[r];
    for (let p = 0; p < P; p++) {
      const w = this.sinks[p];
      const id = this.decision[r * P + p]!;
      if (!w || id < 0) continue;
      const ps = this.policies[p]!;
      const d = ps.decisions[id]!;
      if (d.captureId < 0) continue;
      if (d.result === 'unsupported') {
        // No decision to check: the capture's answer as it is.
        writeCapturedDatagram(w, d.captureId, this.stamp(p, t), reader.data, reader.offset, reader.caplen, reader.linkType, dg, d.serverMac, this.clientMac[r]!,
          undefined, undefined, this.inputComments());
        continue;
      }
      if (!d.received || seen === 'port-unreachable') continue;
      const v = ps.recordWithVerdict(id, oid, seen, from);
      const at = this.stamp(p, t);
      if (ps.verdict(id, oid, seen, from).agrees) {
        ps.verdictNotes(v);
        writeCapturedDatagram(w, d.captureId, at, reader.data, reader.offset, reader.caplen, reader.linkType, dg, d.serverMac, this.clientMac[r]!,
          ps.noteComment, ps.noteRecord, this.inputComments());
      } else {
        this.runs[p]!.replayReplies(d, at, this.clientMac[r]!, this.src[r]!, this.sport[r]!, this.wireDst[r]!, this.dst[r]!, this.dport[r]!,
          this.payload.subarray(r * KEPT_PAYLOAD, r * KEPT_PAYLOAD + this.payloadLen[r]!), v.comment, v.record);
      }
    }
  }

  /**
   * The current datagram's IP packet as an ICMP error quotes it: copied as captured (at most
   * QUOTE_MAX bytes; the writer cuts it to what the error may carry), the IPv4 header checksum and,
   * when the quote holds all of it, the UDP checksum made whole (a capture on the sender has them
   * unfinished: checksum offload).
   */
  private quoted(): Uint8Array {
    const { reader, dg } = this;
    const end = Math.min(dg.ipEnd, reader.offset + reader.caplen, dg.ipAt + QUOTE_MAX);
    const q = this.quote;
    const n = end - dg.ipAt;
    q.set(reader.data.subarray(dg.ipAt, end), 0);
    const udpAt = dg.l4At - dg.ipAt;
    if (dg.family === 4) {
      const ihl = (q[0]! & 0x0f) * 4;
      q[10] = 0; q[11] = 0;
      const c = foldChecksum(sumWords(q, 0, ihl));
      q[10] = c >>> 8; q[11] = c;
    }
    if (dg.ipEnd - dg.ipAt <= n) {
      const len = n - udpAt;
      let sum = 17 + len;
      sum = dg.family === 4 ? sumWords(q, 12, 20, sum) : sumWords(q, 8, 40, sum);
      q[udpAt + 6] = 0; q[udpAt + 7] = 0;
      let c = foldChecksum(sumWords(q, udpAt, n, sum));
      if (c === 0) c = 0xffff;
      q[udpAt + 6] = c >>> 8; q[udpAt + 7] = c;
    }
    return q.subarray(0, n);
  }

  private readonly quote = new Uint8Array(QUOTE_MAX);

  /** The current packet's own comments (pcapng), or null when it has none. */
  private inputComments(): string[] | null {
    const ng = this.ng;
    if (ng === null || ng.optionsEnd - ng.optionsAt < 8) return null;
    const c = packetComments(ng);
    return c.length > 0 ? c : null;
  }

  /** The MAC at buf[at] as one interned array. */
  private mac(buf: Uint8Array, at: number): Uint8Array {
    if (at < 0) return NO_MAC;
    // Most datagrams of a capture come through one MAC (the client's, or a router's).
    const last = this.lastMac;
    if (last[0] === buf[at] && last[1] === buf[at + 1] && last[2] === buf[at + 2] && last[3] === buf[at + 3] && last[4] === buf[at + 4]
      && last[5] === buf[at + 5]) return last;
    let key = '';
    for (let i = 0; i < 6; i++) key += String.fromCharCode(buf[at + i]!);
    let m = this.macs.get(key);
    if (!m) {
      if (this.macs.size >= 4096) this.macs.clear();
      this.macs.set(key, (m = Uint8Array.prototype.slice.call(buf, at, at + 6)));
    }
    this.lastMac = m;
    return m;
  }

  /** The capture's answer (what: a socket name, "received" or "port-unreachable") to the flow in slot, from buf[fromAt] (port -1: an ICMP). */
  private answer(slot: number, t: number, what: string, fromAt: number, port: number): void {
    let h = this.head[slot]!;
    // Datagrams sent longer ago than the window have had their answer: none.
    while (h >= 0 && t - this.time[h % RING]! > ANSWER_WINDOW_NS) {
      this.waiting[h % RING] = 0;
      h = this.next[h % RING]!;
    }
    if (h < 0) {
      this.head[slot] = -1;
      this.tail[slot] = -1;
      this.skipped['not-in-a-replayed-connection']++;
      return;
    }
    const r = h % RING;
    this.answers++;
    let id = this.observedIds.get(what);
    if (id === undefined) {
      id = this.observedNames.push(what) - 1;
      this.observedIds.set(what, id);
    }
    this.observed[r] = id;
    const fam = this.dg.family as 4 | 6;
    this.answeredFrom[r] = this.endpointText(fromAt, fam, port);
    this.waiting[r] = 0;
    this.head[slot] = this.next[r]!;
    if (this.head[slot]! < 0) this.tail[slot] = -1;
    if (this.outputs) this.writeAnswer(r, t, id);
  }

  /** At the end of the capture: every entry made and judged. */
  finish(): void {
    this.finalize(this.delivered);
  }

  /** Makes the entries (and verdicts) of every datagram with an index below end not made yet, in order. */
  private finalize(end: number): void {
    const P = this.policies.length;
    for (let i = this.finalized; i < end; i++) {
      const r = i % RING;
      if (this.waiting[r] === 1) {
        // Still waiting: its flow's earliest waiting datagram (every older one is final).
        const slot = this.flowOf[r]!;
        this.waiting[r] = 0;
        if (this.head[slot] === i) {
          this.head[slot] = this.next[r]!;
          if (this.head[slot]! < 0) this.tail[slot] = -1;
        }
      }
      const oid = this.observed[r]!;
      const seen = oid >= 0 ? this.observedNames[oid] : undefined;
      const from = this.answeredFrom[r];
      let entry: { time: string; client: string; server: string } | undefined;
      for (let p = 0; p < P; p++) {
        const id = this.decision[r * P + p]!;
        if (id < 0) continue;
        const ps = this.policies[p]!;
        const d = ps.decisions[id]!;
        const v = ps.verdict(id, oid, seen, from);
        // The entry's words, made only for a list that takes it (most datagrams of a long capture go to none).
        const listed = this.keep || (!v.agrees && d.result !== 'unsupported' && ps.agreement.disagreements.length < MAX_DISAGREEMENTS_LISTED);
        if (listed) {
          entry ??= {
            time: isoTime(this.sec[r]!, this.nsec[r]!), client: formatEndpoint({ addr: this.src[r]!, port: this.sport[r]! }),
            server: formatEndpoint({ addr: this.dst[r]!, port: this.dport[r]! }),
          };
        }
        if (d.result !== 'unsupported') {
          const tally = ps.agreement;
          if (v.agrees) tally.agree++;
          else {
            tally.disagree++;
            if (entry && tally.disagreements.length < MAX_DISAGREEMENTS_LISTED) {
              tally.disagreements.push({ kind: 'datagram', index: i, time: entry.time, client: entry.client, server: entry.server, result: d.result,
                ...(d.candidates.length > 1 ? { candidates: d.candidates } : {}), observed: seen ?? 'unanswered', why: v.why });
            }
          }
        }
        if (!this.keep || !entry) continue;
        const e: ReplayDatagram = { index: i, time: entry.time, client: entry.client, server: entry.server, result: d.result };
        if (d.candidates.length > 1) e.candidates = d.candidates;
        if (d.replyFrom !== '') e.replyFrom = d.replyFrom;
        if (seen !== undefined) e.observed = seen;
        if (from !== undefined) e.answeredFrom = from;
        if (d.result !== 'unsupported') e.agreement = v;
        if (this.spool) this.spool[p]!.add(e);
        else this.reports[p]!.datagrams.push(e);
      }
    }
    this.finalized = Math.max(this.finalized, end);
  }

  /** Datagrams per destination (address and port) that no scenario host has; at most UNMATCHED_KEPT destinations are counted. */
  private readonly unmatchedDatagrams = new Map<string, number>();

  private unmatched(key: number | string, port: number, fam: 4 | 6): void {
    if (this.unmatchedDatagrams.size >= UNMATCHED_KEPT) return;
    const k = formatEndpoint({ addr: this.addr(this.reader.data, this.dg.dstAt, fam, key), port });
    this.unmatchedDatagrams.set(k, (this.unmatchedDatagrams.get(k) ?? 0) + 1);
  }

  /** The most frequent destinations of datagrams that no scenario host has (for NothingReplayed's hint). */
  topDestinations(): UnmatchedDestination[] {
    return [...this.unmatchedDatagrams].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([destination, syns]) => ({ destination, syns }));
  }

  /** Policy p's datagrams per result. */
  results(p: number): Record<string, number> {
    return this.policies[p]!.results();
  }

  /** Policy p's verdicts on datagrams. */
  agreement(p: number): ReplayAgreement {
    return this.policies[p]!.agreement;
  }

  /** "ADDR:PORT" (port -1: the address alone) of the address at the current packet's fromAt, interned (answers come from a few servers). */
  private endpointText(at: number, fam: 4 | 6, port: number): string {
    const data = this.reader.data;
    const key = addrKey(data, at, fam);
    const k = typeof key === 'number' ? key * 65537 + port + 1 : `${key}|${port}`;
    let text = this.endpoints.get(k);
    if (text === undefined) {
      const a = this.addr(data, at, fam, key);
      text = port < 0 ? a.text : formatEndpoint({ addr: a, port });
      if (this.endpoints.size >= 65536) this.endpoints.clear();
      this.endpoints.set(k, text);
    }
    return text;
  }

  private readonly endpoints = new Map<number | string, string>();

  private addr(buf: Uint8Array, at: number, fam: 4 | 6, key = addrKey(buf, at, fam)): IpAddr {
    let a = this.addrs.get(key);
    if (!a) {
      if (this.addrs.size >= 65536) this.addrs.clear();
      this.addrs.set(key, (a = makeIp(fam, buf.slice(at, at + (fam === 4 ? 4 : 16)))));
    }
    return a;
  }
}

/** A hash of a client endpoint (its address word and port) and a server port. */
function clientKey(cWord: number, cPort: number, sPort: number): number {
  return tupleHash(cWord, cPort, sPort, 0x5eed);
}

/** A hashable key of the address at buf[at] (as replayer.ts's: IPv4 a number, IPv6 a string). */
function addrKey(buf: Uint8Array, at: number, family: 4 | 6): number | string {
  if (family === 4) return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
  let s = '';
  for (let i = 0; i < 16; i += 2) s += ((buf[at + i]! << 8) | buf[at + i + 1]!).toString(16) + ':';
  return s;
}
