// The packet loop of a replay (replay.ts's replayInProcess drives it): each captured packet
// decoded, matched to its tracked connection, decided under each policy at its SYN, written to
// the policies' outputs with the emulated server's answers timed from the capture, and judged
// against what the capture shows the real server did when the connection ends.

import { formatEndpoint, makeIp, parseIp, type IpAddr } from '../emu/addr.js';
import { replayTsval, type Run } from '../emu/engine.js';
import { CaptureFormatError, type CaptureReader } from '../pcap/capture-reader.js';
import type { PcapngWriter } from '../pcap/pcapng-writer.js';
import { packetComments, PcapngReader } from '../pcap/pcapng-reader.js';
import { ConnectionTable } from './connection-table.js';
import { writeClientSegment, type ServerSpace } from './client-rewrite.js';
import { MAX_DISAGREEMENTS_LISTED, type ReplayAgreement } from './agreement.js';
import { ConnectionLog } from './connection-log.js';
import type { SpoolWriter } from './spool.js';
import { isoTime } from './time.js';
import { ACCEPTED, BANNER_SENT, DECIDED, FIN_SENT, Interned, PENDING_ANSWER, PENDING_MAX, PENDING_SEGMENT, PolicyState } from './policy-state.js';
import { DECODE_RESULTS, decodeSegment, newSegment, segmentTsval, SKIP_NOT_TCP, SKIP_REASON, type CapturedSegment, type SkipReason } from './segment.js';
import type { ReplayConnection, ReplayPolicyReport, UnmatchedDestination } from './replay.js';
import type { DatagramReplayer } from './datagram-replayer.js';
import { commitCaptured } from './captured-frame.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktypes.js';
import { ETHERNET_HEADER_LEN } from '../emu/wire/ethernet.js';
import { ServerFrames } from './server-frames.js';

/**
 * Connections tracked at once (their state is ~100 bytes plus ~30 per policy, in typed arrays):
 * past it the oldest goes, its later packets counted as not in a replayed connection (the
 * decision was made at its SYN). Bounds memory on a SYN flood or a port scan: 1M half-open
 * connections replayed under nine policies in two threads peak at 131 MiB.
 */
export const MAX_TRACKED = 32768;
/** Distinct unmatched destinations counted for NothingReplayed's hint. */
const UNMATCHED_KEPT = 4096;
/** The client MAC of frames whose link type has none. */
const NO_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xfe);
const TCP_FIN = 1, TCP_SYN = 2, TCP_RST = 4, TCP_PSH = 8, TCP_ACK = 16;
/** Per slot, in a decisions-only replay (see leanClient): a policy accepted the connection; its client has sent a FIN. */
const CONN_ACCEPTED = 1, CONN_FIN = 2;
const BANNER_PREFIX = [0x62, 0x69, 0x6e, 0x64, 0x6c, 0x61, 0x62, 0x20]; // "bindlab "

const IPV4_NONE = makeIp(4, new Uint8Array(4));

const emptySkips = (): Record<SkipReason, number> => ({
  'not-ip': 0, 'not-tcp': 0, fragment: 0, truncated: 0, malformed: 0, 'not-to-a-scenario-host': 0, 'not-in-a-replayed-connection': 0,
});

/** A hashable key of the address at buf[at]: the IPv4 value as a number, IPv6 as a string. */
function addrKey(buf: Uint8Array, at: number, family: 4 | 6): number | string {
  if (family === 4) return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
  let s = '';
  for (let i = 0; i < 16; i += 2) s += ((buf[at + i]! << 8) | buf[at + i + 1]!).toString(16) + ':';
  return s;
}
export const keyOf = (a: IpAddr): number | string => addrKey(a.bytes, 0, a.family);

/**
 * The packet loop of replayCapture: reads and replays packets synchronously, a batch at a time,
 * so the hot loop is a plain method rather than an async function's. Connections are slots of
 * the connection table; their state lives in typed arrays here and in each policy's PolicyState.
 */
export class Replayer {
  packets = 0;
  attempts = 0;
  replaced = 0;
  readonly skipped = emptySkips();
  private readonly seg = newSegment();
  /** Packets per decodeSegment result (families and SKIP_*). */
  private readonly decoded = new Float64Array(DECODE_RESULTS);
  private readonly tracked = new ConnectionTable(MAX_TRACKED);
  private readonly policies: PolicyState[];
  /** Per slot: the client's MAC (interned), its address and the address it used (IpAddr, interned). */
  private readonly clientMac: Uint8Array[] = new Array<Uint8Array>(MAX_TRACKED).fill(NO_MAC);
  private readonly src: IpAddr[] = new Array<IpAddr>(MAX_TRACKED).fill(IPV4_NONE);
  private readonly wireDst: IpAddr[] = new Array<IpAddr>(MAX_TRACKED).fill(IPV4_NONE);
  /** Per slot: the client's ISN and next sequence number (the highest it has sent, which the emulated server acknowledges). */
  private readonly clientIsn = new Int32Array(MAX_TRACKED);
  private readonly cNext = new Int32Array(MAX_TRACKED);
  /** Per slot: the real server's ISN, once its SYN-ACK (or the client's first ACK) shows it. */
  private readonly realIsn = new Int32Array(MAX_TRACKED);
  private readonly realIsnKnown = new Uint8Array(MAX_TRACKED);
  /** Per slot: what the capture shows the real server did (an index in observedNames, -1: nothing yet). */
  private readonly observed = new Int32Array(MAX_TRACKED);
  private readonly observedNames: string[] = [];
  private readonly observedIds = new Map<string, number>();
  /** The last name observe() looked up, and its id (most connections show the same). */
  private lastObserved: string | undefined = undefined;
  private lastObservedId = -1;
  /** The report's list of connections, when kept (connection-log.ts). */
  readonly log: ConnectionLog | null;
  private readonly wireAddrs = new Interned<number | string, IpAddr>(MAX_TRACKED);
  private readonly macs = new Interned<string, Uint8Array>(4096);
  private lastMac: Uint8Array = NO_MAC;
  /** Whether any policy writes an output. */
  private readonly outputs: boolean;
  /**
   * Decisions only (no output, no list of connections): the packets after a SYN are tracked for
   * what the report says alone (leanClient, leanServer): when the connection ends and what the
   * real server did, not the sequence spaces and timings an output needs.
   */
  private readonly lean: boolean;
  /** Per slot, when lean: CONN_ACCEPTED and CONN_FIN (the same for every policy that accepted). */
  private readonly conn = new Uint8Array(MAX_TRACKED);
  /** Each policy's emulated server frames. */
  private readonly frames: ServerFrames[];
  /** Each scenario address a replayed SYN can go to, numbered (for PolicyState.forDestination). */
  private readonly dstIndex = new Map<IpAddr, number>();
  /** The last SYN's scenario destination: its address key, address and index (attempt). */
  private lastDstKey: number | string = -1;
  private lastDst: IpAddr | undefined = undefined;
  private lastDi = 0;
  /** Per slot: the captured SYN's time, its destination's index, whether the real server's SYN-ACK or RST was seen. */
  private readonly synTime = new Float64Array(MAX_TRACKED);
  private readonly dstOf = new Int32Array(MAX_TRACKED);
  private readonly realAnswered = new Uint8Array(MAX_TRACKED);
  /** Per slot: the connection's index among the attempts. */
  private readonly attemptOf = new Int32Array(MAX_TRACKED);
  /** The scenario addresses by destination index. */
  private readonly dstAddrs: IpAddr[] = [];
  /** The reader when the capture is pcapng (packets may carry comments), else null. */
  private readonly ng: PcapngReader | null;
  /** Per destination index: the capture's last SYN-to-answer time of its real server, ns (-1: none seen yet). */
  private rtt: Float64Array;
  /**
   * Times (ns) handed to the calls below as fields, not arguments: a double passed to a call
   * that is not inlined is boxed in a new heap number (with an output, two or three per packet
   * made ~100 scavenges in 10M packets); a store into a double field allocates nothing. now: the
   * current packet's (clock()); flushAt: flush()'s t; writeAt: writePending()'s. -0: doubles from the start.
   */
  private now = -0;
  private flushAt = -0;
  private writeAt = -0;
  /** Scratch of flush(): the due entries and their times. */
  private readonly due = new Int32Array(PENDING_MAX);
  private readonly dueTime = new Float64Array(PENDING_MAX);

  constructor(private readonly reader: CaptureReader, names: readonly string[], private readonly runs: readonly Run[], private readonly sinks: readonly (PcapngWriter | undefined)[],
    private readonly reports: readonly ReplayPolicyReport[], private readonly hostAddrs: ReadonlyMap<number | string, IpAddr>,
    private readonly keep: boolean, private readonly baseSec: number, spool: readonly SpoolWriter[] | null, private readonly maxSec: number,
    /** The UDP side (datagram-replayer.ts): every packet that is not TCP goes to it. */
    private readonly udp: DatagramReplayer | null = null) {
    this.policies = names.map((name) => new PolicyState(name, MAX_TRACKED));
    this.log = keep ? new ConnectionLog(MAX_TRACKED, names.length, (id, p) => this.policies[p]!.decisions[id]!, reports, spool) : null;
    this.outputs = sinks.some((w) => w !== undefined);
    this.lean = !this.outputs && !keep && maxSec === Infinity;
    this.frames = runs.map((r) => new ServerFrames(r));
    for (const a of hostAddrs.values()) {
      if (this.dstIndex.has(a)) continue;
      this.dstIndex.set(a, this.dstIndex.size);
      this.dstAddrs.push(a);
    }
    this.rtt = new Float64Array(this.dstIndex.size).fill(-1);
    this.ng = reader instanceof PcapngReader ? reader : null;
    // The UDP side's packets go into the same outputs, in time order with the TCP answers pending.
    if (udp) udp.stamp = (p, t) => this.stamp(p, t, -1);
  }

  /**
   * Before a packet of the connection in slot (-1: none) at capture time t goes into policy p's
   * output: writes the emulated server's packets due by then (flush) and returns the packet's
   * time in the output, never before the last one written (a capture slightly out of order stays
   * in order in the output).
   */
  private stamp(p: number, t: number, slot: number): number {
    const ps = this.policies[p]!;
    if (ps.pendingCount > 0 && (ps.pendingMin <= t || (slot >= 0 && ps.slotPending[slot] !== 0))) { this.flushAt = t; this.flush(p, slot, false); }
    const at = t > ps.lastTime ? t : ps.lastTime;
    ps.lastTime = at;
    return at;
  }

  /**
   * Writes policy p's pending packets due by time t (this.flushAt), in time order: those of the
   * connection in slot whatever their time (just before t: they come before the client packet at
   * t that follows them), and with all every one (at t at the latest).
   */
  private flush(p: number, slot: number, all: boolean): void {
    const t = this.flushAt;
    const ps = this.policies[p]!;
    const due = this.due, dueTime = this.dueTime, pTime = ps.pTime, pSlot = ps.pSlot;
    const n = ps.pendingCount;
    if (n === 1) {
      // The usual case (one connection's answer at a time), as the general case below has it.
      let at = pTime[0]!;
      if ((all || pSlot[0] === slot) && at > t) at = pSlot[0] === slot && t - 1 > ps.lastTime ? t - 1 : t;
      if (at > t) { ps.pendingMin = pTime[0]!; return; }
      at = at > ps.lastTime ? at : ps.lastTime;
      ps.lastTime = at;
      this.writeAt = at;
      this.writePending(p, 0);
      ps.pendingCount = 0;
      ps.pendingMin = Infinity;
      return;
    }
    let k = 0;
    for (let i = 0; i < n; i++) {
      let at = pTime[i]!;
      if ((all || pSlot[i] === slot) && at > t) at = pSlot[i] === slot && t - 1 > ps.lastTime ? t - 1 : t;
      if (at > t) continue;
      // Insertion by time, after equal times: a connection's packets keep the order they were made in.
      let j = k++;
      while (j > 0 && dueTime[j - 1]! > at) { due[j] = due[j - 1]!; dueTime[j] = dueTime[j - 1]!; j--; }
      due[j] = i; dueTime[j] = at;
    }
    if (k === 0) { this.recomputeMin(ps); return; }
    for (let j = 0; j < k; j++) {
      const at = dueTime[j]! > ps.lastTime ? dueTime[j]! : ps.lastTime;
      ps.lastTime = at;
      this.writeAt = at;
      this.writePending(p, due[j]!);
      pSlot[due[j]!] = -1; // written
    }
    if (k === n) {
      // All of them written (the usual case: one connection's answer at a time).
      ps.pendingCount = 0;
      ps.pendingMin = Infinity;
      return;
    }
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (pSlot[i]! < 0) continue;
      if (m !== i) {
        pSlot[m] = pSlot[i]!; ps.pKind[m] = ps.pKind[i]!; pTime[m] = pTime[i]!; ps.pSeq[m] = ps.pSeq[i]!; ps.pAck[m] = ps.pAck[i]!;
        ps.pFlags[m] = ps.pFlags[i]!; ps.pTsecr[m] = ps.pTsecr[i]!;
      }
      m++;
    }
    ps.pendingCount = m;
    this.recomputeMin(ps);
  }

  private recomputeMin(ps: PolicyState): void {
    let min = Infinity;
    for (let i = 0; i < ps.pendingCount; i++) if (ps.pTime[i]! < min) min = ps.pTime[i]!;
    ps.pendingMin = min;
  }

  /** Policy p's pending entry i into its output at time this.writeAt. */
  private writePending(p: number, i: number): void {
    const at = this.writeAt;
    const ps = this.policies[p]!;
    const slot = ps.pSlot[i]!;
    ps.slotPending[slot]--;
    const id = ps.decision[slot]!;
    const d = ps.decisions[id]!;
    const frames = this.frames[p]!;
    const tracked = this.tracked;
    const conn = this.attemptOf[slot]!;
    if (frames.conn !== conn) {
      frames.connection(conn, d.serverMac, this.clientMac[slot]!, this.wireDst[slot]!, tracked.serverPort(slot), this.src[slot]!, tracked.clientPort(slot), ps.serverIsn[slot]!);
    }
    const w = this.sinks[p]!;
    w.frameTimeNs = at;
    if (ps.pKind[i] === PENDING_ANSWER) {
      // The answer's record carries the verdict on what the capture has shown so far (the real
      // server's own SYN-ACK or RST, normally: the answer is timed by it); none when it has shown nothing yet.
      // (A repeat of a comment and record written in full before refers to the record: docs/wireshark.md, "Replays".)
      const oid = this.observed[slot]!;
      if (oid >= 0) ps.verdictNotes(id, oid, this.observedNames[oid]!, false);
      else ps.notes(id, false);
      // SYN-ACK when accepted, RST when refused; nothing when dropped (never queued).
      if (d.accepted || d.result === 'refused') {
        frames.answer(w, d.captureId, d.accepted, ps.serverIsn[slot]!, ps.pSeq[i]!, ps.serverTsval[slot]!, ps.pTsecr[i]!, ps.noteCommentBytes, ps.noteRecordBytes);
      }
      return;
    }
    const flags = ps.pFlags[i]!;
    const banner = (flags & TCP_PSH) !== 0;
    // The banner says the verdict again, with what the capture has shown by then (its own banner names the socket, when it has one).
    const oid = banner ? this.observed[slot]! : -1;
    ps.noNotes();
    if (oid >= 0) ps.verdictNotes(id, oid, this.observedNames[oid]!, true);
    const tsval = replayTsval(ps.serverTsval[slot]!, ps.t0[slot]!, at);
    frames.segment(w, d.captureId, ps.pSeq[i]!, ps.pAck[i]!, flags, banner ? d.banner : EMPTY, tsval, ps.pTsecr[i]!, ps.noteCommentBytes, ps.noteRecordBytes);
    ps.emuTsval[slot] = tsval | 0;
  }

  /** Queues an emulated server packet of slot under policy p, making room first when the queue is full. */
  private enqueue(p: number, slot: number, kind: number, time: number, seq: number, ack: number, flags: number, tsecr: number): void {
    const ps = this.policies[p]!;
    if (ps.pendingCount === PENDING_MAX) { this.clock(); this.flushAt = this.now; this.flush(p, -1, true); }
    ps.dueAt = time;
    ps.enqueue(slot, kind, seq | 0, ack | 0, flags, tsecr | 0);
  }

  /** Stops tracking the connection in slot (-1: none), its pending packets written first (the slot's state is about to be reused). */
  private release(slot: number): void {
    if (slot < 0) return;
    for (let p = 0; p < this.policies.length; p++) {
      if (this.policies[p]!.slotPending[slot] !== 0) { this.clock(); this.flushAt = this.now; this.flush(p, slot, false); }
    }
    this.judge(slot);
    this.tracked.delete(slot);
  }

  /** At the end of the capture: every pending packet, at its own time, and the verdicts on the connections still tracked. */
  finish(): void {
    this.flushAt = Infinity;
    for (let p = 0; p < this.policies.length; p++) if (this.policies[p]!.pendingCount > 0) this.flush(p, -1, false);
    for (const slot of this.tracked.slots()) this.judge(slot);
    for (const f of this.frames) f.close();
    this.log?.finish(this.attempts);
    this.udp?.finish();
  }

  /** Each policy's decision on the connection in slot against what the capture showed of it (it ends: nothing more to see). */
  private judge(slot: number): void {
    const oid = this.observed[slot]!;
    const observed = oid >= 0 ? this.observedNames[oid] : undefined;
    const log = this.log;
    for (let p = 0; p < this.policies.length; p++) {
      const ps = this.policies[p]!;
      if ((ps.flags[slot]! & DECIDED) === 0) continue;
      const id = ps.decision[slot]!;
      const v = ps.verdict(id, oid, observed);
      log?.judge(slot, p, v);
      const tally = ps.agreement;
      if (v.agrees) { tally.agree++; continue; }
      tally.disagree++;
      if (tally.disagreements.length >= MAX_DISAGREEMENTS_LISTED) continue;
      const d = ps.decisions[id]!;
      const t = this.synTime[slot]!;
      const sec = Math.floor(t / 1e9);
      tally.disagreements.push({
        index: this.attemptOf[slot]!, time: isoTime(this.baseSec + sec, Math.round(t - sec * 1e9)),
        client: formatEndpoint(this.tracked.clientEndpoint(slot)),
        server: formatEndpoint({ addr: this.dstAddrs[this.dstOf[slot]!]!, port: this.tracked.serverPort(slot) }),
        result: d.result, ...(d.candidates.length > 1 ? { candidates: d.candidates } : {}), observed: observed ?? 'unanswered', why: v.why,
      });
    }
  }

  /** Packets skipped, by reason: those decodeSegment skipped, and the rest. */
  skips(): Record<SkipReason, number> {
    const out = { ...this.skipped };
    for (const [code, reason] of Object.entries(SKIP_REASON)) out[reason] += this.decoded[Number(code)]!;
    const udp = this.udp;
    if (udp) {
      // UDP and the ICMP errors quoting it are the UDP side's: not-tcp counts the rest.
      out['not-tcp'] -= udp.handled;
      for (const [reason, n] of Object.entries(udp.skipped)) out[reason as SkipReason] += n;
    }
    return out;
  }

  /** The current packet's own comments (pcapng), or null when it has none. */
  private inputComments(): string[] | null {
    const ng = this.ng;
    // A comment option and the end of options take 8 bytes at least.
    if (ng === null || ng.optionsEnd - ng.optionsAt < 8) return null;
    const c = packetComments(ng);
    return c.length > 0 ? c : null;
  }

  /** SYNs per destination (address key and port) that no scenario host has; at most UNMATCHED_KEPT destinations are counted. */
  private readonly unmatchedSyns = new Map<string, number>();

  private unmatched(key: number | string, port: number): void {
    const k = `${key}|${port}`;
    const n = this.unmatchedSyns.get(k);
    if (n !== undefined) this.unmatchedSyns.set(k, n + 1);
    else if (this.unmatchedSyns.size < UNMATCHED_KEPT) this.unmatchedSyns.set(k, 1);
  }

  /** The most frequent destinations of SYNs that no scenario host has. */
  topDestinations(): UnmatchedDestination[] {
    return [...this.unmatchedSyns].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, syns]) => {
      const [key, port] = k.split('|') as [string, string];
      const text = /^\d+$/.test(key)
        ? [24, 16, 8, 0].map((s) => (Number(key) >>> s) & 255).join('.')
        : `[${parseIp(key.slice(0, -1))!.text}]`;
      return { destination: `${text}:${port}`, syns };
    });
  }

  /** Policy p's verdicts against the capture. */
  agreement(p: number): ReplayAgreement {
    return this.policies[p]!.agreement;
  }

  /** Policy p's connections per result. */
  results(p: number): Record<string, number> {
    return this.policies[p]!.results();
  }

  private wireAddr(buf: Uint8Array, at: number, fam: 4 | 6, key: number | string): IpAddr {
    return this.wireAddrs.get(key) ?? this.wireAddrs.set(key, makeIp(fam, buf.slice(at, at + (fam === 4 ? 4 : 16))));
  }

  /** The MAC at buf[at] as one interned array (the frame writer keeps headers per MAC object). */
  private mac(buf: Uint8Array, at: number): Uint8Array {
    if (at < 0) return NO_MAC;
    // Most connections of a capture come through one MAC (the client's, or a router's).
    const last = this.lastMac;
    if (last[0] === buf[at] && last[1] === buf[at + 1] && last[2] === buf[at + 2] && last[3] === buf[at + 3] && last[4] === buf[at + 4]
      && last[5] === buf[at + 5]) return last;
    let key = '';
    for (let i = 0; i < 6; i++) key += String.fromCharCode(buf[at + i]!);
    // A copy: Buffer's slice() would be a view of the reader's buffer, which the next read overwrites.
    this.lastMac = this.macs.get(key) ?? this.macs.set(key, Uint8Array.prototype.slice.call(buf, at, at + 6));
    return this.lastMac;
  }

  /**
   * Replays the reader's current packet and up to limit - 1 more, then advances the reader.
   * Returns how many were replayed, negated when the reader returned false (at the end of the
   * capture, or while it waits for its read-ahead: reader.waiting). Nothing but the loop: a
   * store after it would meet no type feedback in the loop's optimized code, and deoptimize it.
   */
  replay(limit: number): number {
    const reader = this.reader;
    let n = 0;
    while (n < limit) {
      this.packet();
      n++;
      if (!reader.next()) return -n;
    }
    return n;
  }

  /** One packet: decoded, matched against the tracked connections, and handed to the path for its kind. */
  private packet(): void {
    const reader = this.reader;
    const seg = this.seg;
    this.packets++;
    const data = reader.data;
    const fam = decodeSegment(reader.linkType, data, reader.offset, reader.offset + reader.caplen, seg);
    // Counted whatever the result (no branch of its own to deoptimize on); skips are summed at the end.
    this.decoded[fam]++;
    if (fam > 6) {
      if (fam === SKIP_NOT_TCP && this.udp !== null) this.udp.packet(this.time());
      return;
    }
    const tracked = this.tracked;
    const found = tracked.lookup(data, fam, seg.srcAt, seg.srcPort, seg.dstAt, seg.dstPort);
    const client = found >= 0 && !tracked.reversed;
    if ((seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && (!client || this.clientIsn[found] !== (seg.seq | 0))) {
      this.attempt(fam as 4 | 6, client ? found : -1, tracked.srcWord, tracked.dstWord, tracked.hash);
    } else if (client) {
      if (this.lean) this.leanClient(found); else this.clientPacket(found);
    } else if (found >= 0) {
      if (this.lean) this.leanServer(found, data); else this.serverPacket(found, data);
    } else {
      this.skipped[this.hostAddrs.has(addrKey(data, seg.dstAt, fam as 4 | 6)) || this.hostAddrs.has(addrKey(data, seg.srcAt, fam as 4 | 6)) ? 'not-in-a-replayed-connection' : 'not-to-a-scenario-host']++;
    }
  }

  /** The real server's packet of the connection in slot: replaced by the emulation; it says what the server did. */
  private serverPacket(slot: number, data: Uint8Array): void {
    const seg = this.seg;
    this.replaced++;
    if ((seg.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) { this.realIsn[slot] = seg.seq | 0; this.realIsnKnown[slot] = 1; }
    if ((seg.flags & (TCP_SYN | TCP_RST)) !== 0 && this.realAnswered[slot] === 0) this.realAnswer(slot);
    // What the real server did: the verdict of each policy when the connection ends.
    this.observe(slot, seg.flags, data, seg.payloadAt, seg.payloadCaptured);
    // The real server's RST ends the connection: it leaves the table now, not when it is the oldest.
    if ((seg.flags & TCP_RST) !== 0) this.release(slot);
  }

  /**
   * serverPacket in a decisions-only replay: what the real server did, and its RST ends the
   * connection. The rest of serverPacket (the real server's ISN and answer time) only times and
   * shifts the packets of an output.
   */
  private leanServer(slot: number, data: Uint8Array): void {
    const seg = this.seg;
    this.replaced++;
    this.observe(slot, seg.flags, data, seg.payloadAt, seg.payloadCaptured);
    if ((seg.flags & TCP_RST) !== 0) this.release(slot);
  }

  /**
   * clientPacket in a decisions-only replay: only when the connection ends. clientPacket ends it
   * under a policy that accepted it at the client's RST, or at its first packet with neither FIN
   * nor payload after its FIN (the last ACK); every policy that accepted sees the same packets,
   * so one state per connection says it for all of them. A connection no policy accepted is not
   * ended by its client.
   */
  private leanClient(slot: number): void {
    const c = this.conn[slot]!;
    if ((c & CONN_ACCEPTED) === 0) return;
    const seg = this.seg;
    const flags = seg.flags;
    if ((flags & TCP_RST) !== 0) this.release(slot);
    else if ((flags & TCP_FIN) !== 0) this.conn[slot] = c | CONN_FIN;
    else if ((c & CONN_FIN) !== 0 && seg.payloadLen === 0) this.release(slot);
  }

  /** The packet's time in ns from the capture's first second, into this.now (see now). */
  private clock(): void {
    const reader = this.reader;
    if (reader.tsSec > this.maxSec) this.tooLate();
    // (s + 0.5) * 1e9 - 5e8 is s * 1e9 exactly (below 2^53), computed in doubles from the first
    // packet on: s * 1e9 in small integers would overflow a few seconds in and deoptimize.
    this.now = Math.max(0, (reader.tsSec - this.baseSec + 0.5) * 1e9 - 5e8 + reader.tsNsec);
  }

  /** The packet's time in ns from the capture's first second. */
  private time(): number {
    this.clock();
    return this.now;
  }

  /** A packet later than an output capture's nanosecond timestamps can say (2554-07-21T23:34:32Z). */
  private tooLate(): never {
    const r = this.reader;
    throw new CaptureFormatError(r.file, r.position, `packet time ${isoTime(r.tsSec, r.tsNsec)} is past ${isoTime(this.maxSec, 0)}, the latest a nanosecond pcapng timestamp can hold; replay with --no-output`);
  }

  /** A SYN without ACK (not a retransmission of a tracked one): every policy decides it, when it is to a scenario host. */
  private attempt(f: 4 | 6, old: number, srcWord: number, dstWord: number, hash: number): void {
    const { reader, runs, sinks, reports, keep, seg, tracked, policies } = this;
    const data = reader.data;
    const dstKey = addrKey(data, seg.dstAt, f);
    // Runs of SYNs go to one address: its lookups are kept from the last SYN to a scenario host.
    const dst = dstKey === this.lastDstKey ? this.lastDst : this.hostAddrs.get(dstKey);
    if (!dst) {
      this.skipped['not-to-a-scenario-host']++;
      this.unmatched(dstKey, seg.dstPort);
      return;
    }
    const P = runs.length;
    this.clock();
    const t = this.now;
    this.release(old); // -1: none (a call either way: a rare branch would deoptimize)
    // A full table lets its oldest connection go: its pending packets first.
    if (tracked.size === tracked.capacity) this.release(tracked.oldestSlot);
    const index = this.attempts++;
    const slot = tracked.add(f, data, seg.srcAt, srcWord, seg.srcPort, seg.dstAt, dstWord, seg.dstPort, hash);
    this.attemptOf[slot] = index;
    // The client's address, MAC and the address it used go into outputs and the report's list;
    // without those, the address only when a policy decides this SYN itself.
    const full = this.outputs || keep;
    let src = full ? this.wireAddr(data, seg.srcAt, f, addrKey(data, seg.srcAt, f)) : null;
    let wireDst = dst;
    let clientMac: Uint8Array = NO_MAC;
    if (this.outputs) {
      wireDst = this.wireAddr(data, seg.dstAt, f, dstKey);
      clientMac = this.mac(data, seg.macAt);
      this.clientMac[slot] = clientMac;
      this.src[slot] = src!;
      this.wireDst[slot] = wireDst;
    }
    this.clientIsn[slot] = seg.seq | 0;
    this.cNext[slot] = (seg.seq + 1 + seg.payloadLen) | 0;
    this.realIsn[slot] = 0;
    this.realIsnKnown[slot] = 0;
    this.observed[slot] = -1;
    this.synTime[slot] = t;
    let di = this.lastDi;
    if (dst !== this.lastDst) {
      di = this.dstIndex.get(dst)!;
      this.lastDst = dst; this.lastDstKey = dstKey; this.lastDi = di;
    }
    this.dstOf[slot] = di;
    this.realAnswered[slot] = 0;
    // The emulated answer comes as long after the SYN as the capture's real server answered the last one (else one link latency).
    const rtt = this.rtt[di]!;
    const log = this.log;
    // The connection MAX_TRACKED older than this one has left the table (judged): its entries are final.
    log?.add(index, slot, reader.tsSec, reader.tsNsec, src!, seg.srcPort, dst, seg.dstPort);
    const dkey = di * 65536 + seg.dstPort;
    let conn = 0;
    for (let p = 0; p < P; p++) {
      const run = runs[p]!;
      const ps = policies[p]!;
      const syn = ps.syn;
      // A decision that holds for the whole destination is made once; else the policy decides this SYN.
      let id = ps.forDestination(dkey);
      if (id === -1) {
        ps.flags[slot] = 0;
        continue;
      }
      const w = sinks[p];
      if (id < 0) {
        src ??= this.wireAddr(data, seg.srcAt, f, addrKey(data, seg.srcAt, f));
        if (!run.replaySyn(t, src, seg.srcPort, dst, seg.dstPort, syn)) {
          ps.setForDestination(dkey, -1);
          ps.flags[slot] = 0;
          continue;
        }
        id = ps.intern();
        if (syn.perDestination) ps.setForDestination(dkey, id);
      } else if (w) {
        // The rest of replaySyn's record only goes into an output.
        ps.fill(id);
        run.replayServerIsn(t, src!, seg.srcPort, dst, seg.dstPort, syn);
      }
      ps.counts[id]++;
      const d = ps.decisions[id]!;
      ps.flags[slot] = DECIDED | (d.accepted ? ACCEPTED : 0);
      if (d.accepted) conn = CONN_ACCEPTED;
      ps.decision[slot] = id;
      if (w) {
        ps.serverIsn[slot] = syn.serverIsn | 0;
        ps.serverTsval[slot] = syn.serverTsval | 0;
        ps.t0[slot] = syn.t0;
        ps.emuNext[slot] = (syn.serverIsn + 1) | 0;
        ps.emuTsval[slot] = syn.serverTsval | 0;
        // The client's SYN goes first, with the decision's comment (as in `run`'s captures), then the answer when it is due.
        const at = this.stamp(p, t, slot);
        ps.notes(id, true);
        w.frameTimeNs = at;
        writeClientPacket(w, syn.captureId, data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, syn.serverMac, ps, null, this.inputComments());
        if (d.result !== 'timeout' && d.result !== 'unreachable') {
          this.enqueue(p, slot, PENDING_ANSWER, at + (rtt >= 0 ? rtt : syn.latencyNs), seg.seq, 0, 0, segmentTsval(data, seg));
        }
      }
      log?.decide(index, p, id);
    }
    this.conn[slot] = conn;
  }

  /** The client's next packet in a replayed connection: kept where the emulated server accepted, answered by it. */
  private clientPacket(slot: number): void {
    const { reader, runs, sinks, seg, policies } = this;
    const data = reader.data;
    const flags = seg.flags;
    const P = runs.length;
    let done = false;
    const cEnd = (seg.seq + seg.payloadLen + ((flags & TCP_FIN) !== 0 ? 1 : 0)) | 0;
    if (((cEnd - this.cNext[slot]!) | 0) > 0) this.cNext[slot] = cEnd;
    if ((flags & TCP_ACK) !== 0 && this.realIsnKnown[slot] === 0) {
      // No SYN-ACK of the real server seen: the client's first ACK acknowledges its ISN + 1.
      this.realIsn[slot] = (seg.ack - 1) | 0;
      this.realIsnKnown[slot] = 1;
    }
    const clientMac = this.clientMac[slot]!;
    // The policy whose output got this packet last, and what its frame depended on then: a
    // policy that would write the same frame copies that block.
    let from = -1;
    let fromAt = -1, fromFlushes = 0, fromTime = -1;
    this.clock();
    const t = this.now;
    let fromIsn = 0, fromNext = 0, fromTsval = 0, fromCapture = -1;
    let fromMac: Uint8Array = NO_MAC;
    for (let p = 0; p < P; p++) {
      const ps = policies[p]!;
      const pf = ps.flags[slot]!;
      if ((pf & DECIDED) === 0) continue;
      const w = sinks[p];
      if ((pf & ACCEPTED) === 0) {
        // A retransmitted SYN still goes out where the server refused or stayed silent.
        if (w && (flags & TCP_SYN) !== 0) {
          const id = ps.decision[slot]!;
          const d = ps.decisions[id]!;
          const at = this.stamp(p, t, slot);
          ps.notes(id, true);
          w.frameTimeNs = at;
          writeClientPacket(w, d.captureId, data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, d.serverMac, ps, null, this.inputComments());
        }
        continue;
      }
      if (w) {
        const d = ps.decisions[ps.decision[slot]!]!;
        // A SYN carries its policy's comment; any other client packet is the same frame in every
        // output where the server's side is the same: copied from the last one written.
        const shared = (flags & TCP_SYN) === 0;
        // The frame depends on the server's MAC and interface and, once moved into the server's
        // sequence space, on its ISN, next sequence number and TSval.
        // The emulated server's packets due first (they may change its TSval).
        const at = this.stamp(p, t, slot);
        const isn = ps.serverIsn[slot]!, next = ps.emuNext[slot]!, tsval = ps.emuTsval[slot]!;
        if (!(shared && from >= 0 && at === fromTime && isn === fromIsn && next === fromNext && tsval === fromTsval && d.captureId === fromCapture
          && sameMac(d.serverMac, fromMac) && w.copyPacket(sinks[from]!, fromAt, fromFlushes))) {
          let space: ServerSpace | null = null;
          if (this.realIsnKnown[slot] !== 0) {
            space = ps.space;
            space.realIsn = this.realIsn[slot]! >>> 0; space.emuIsn = ps.serverIsn[slot]! >>> 0;
            space.emuNext = ps.emuNext[slot]! >>> 0; space.emuTsval = ps.emuTsval[slot]! >>> 0;
          }
          if (!shared) ps.notes(ps.decision[slot]!, true);
          w.frameTimeNs = at;
          writeClientPacket(w, d.captureId, data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, d.serverMac, shared ? null : ps, space,
            this.inputComments());
          if (shared) {
            from = p; fromAt = w.lastPacketAt; fromFlushes = w.flushCount; fromTime = at;
            fromIsn = isn; fromNext = next; fromTsval = tsval; fromCapture = d.captureId; fromMac = d.serverMac;
          }
        }
      }
      if ((flags & TCP_RST) !== 0) { done = true; continue; }
      // The emulated server's banner after the handshake, its FIN after the client's (written only with an output).
      if ((pf & BANNER_SENT) === 0 && (flags & TCP_ACK) !== 0) {
        ps.flags[slot] |= BANNER_SENT;
        const banner = ps.decisions[ps.decision[slot]!]!.banner;
        if (w) this.serverSegment(p, slot, TCP_PSH | TCP_ACK);
        ps.emuNext[slot] = (ps.emuNext[slot]! + banner.length) | 0;
      }
      if ((flags & TCP_FIN) !== 0 && (ps.flags[slot]! & FIN_SENT) === 0) {
        ps.flags[slot] |= FIN_SENT;
        if (w) this.serverSegment(p, slot, TCP_FIN | TCP_ACK);
        ps.emuNext[slot] = (ps.emuNext[slot]! + 1) | 0;
      } else if ((ps.flags[slot]! & FIN_SENT) !== 0 && (flags & TCP_FIN) === 0 && seg.payloadLen === 0) {
        done = true; // the client's last ACK
      }
    }
    if (done) this.release(slot);
  }

  /** Queues the emulated server's next segment (banner or FIN) on the connection in slot under policy p, one link latency after the client's packet (this.now). */
  private serverSegment(p: number, slot: number, flags: number): void {
    const t = this.now;
    const ps = this.policies[p]!;
    const latency = ps.decisions[ps.decision[slot]!]!.latencyNs;
    this.enqueue(p, slot, PENDING_SEGMENT, t + latency, ps.emuNext[slot]!, this.cNext[slot]!, flags, segmentTsval(this.reader.data, this.seg));
  }

  /** The real server's SYN-ACK or RST for the connection in slot: its delay is the capture's RTT to that server, and the emulated answer's time when still pending. */
  private realAnswer(slot: number): void {
    this.realAnswered[slot] = 1;
    this.clock();
    const t = this.now;
    this.rtt[this.dstOf[slot]!] = t - this.synTime[slot]!;
    for (const ps of this.policies) {
      ps.dueAt = t;
      ps.retime(slot);
    }
  }

  /** Records what the real server did from one of its packets. */
  private observe(slot: number, flags: number, data: Uint8Array, at: number, n: number): void {
    const seen = this.observed[slot]! >= 0;
    // Most server packets are bare ACKs or FINs after the handshake: nothing new to learn.
    if (n === 0 && seen && (flags & TCP_SYN) === 0) return;
    let what: string | undefined;
    if ((flags & TCP_RST) !== 0) what = seen ? undefined : 'refused';
    else if (n > BANNER_PREFIX.length && startsWithBanner(data, at)) what = bannerSocket(data, at + BANNER_PREFIX.length, at + n);
    else if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) && !seen) what = 'accepted';
    if (what === undefined) return;
    let id = what === this.lastObserved ? this.lastObservedId : this.observedIds.get(what);
    if (id === undefined) {
      id = this.observedNames.push(what) - 1;
      this.observedIds.set(what, id);
    }
    this.lastObserved = what;
    this.lastObservedId = id;
    this.observed[slot] = id;
    this.log?.observe(slot, what);
  }
}

const EMPTY = new Uint8Array(0);

/** Whether two MACs are the same (each policy's run has its own array of a host's MAC). */
function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] && a[4] === b[4] && a[5] === b[5]);
}

function startsWithBanner(data: Uint8Array, at: number): boolean {
  for (let i = 0; i < BANNER_PREFIX.length; i++) if (data[at + i] !== BANNER_PREFIX[i]) return false;
  return true;
}

/** The last banner seen and its socket name: most banners repeat, so compare bytes before decoding. */
let lastBanner = new Uint8Array(0);
let lastSocket = '';

/** "HOST/PROC/SOCKET\r\n" at data[at, end): the accepting socket's name. */
function bannerSocket(data: Uint8Array, at: number, end: number): string {
  // The last banner again: its bytes, then the line's end (it has no CR or LF of its own).
  const last = lastBanner, len = last.length;
  if (len > 0 && end - at >= len) {
    let i = 0;
    while (i < len && data[at + i] === last[i]) i++;
    if (i === len && (at + len === end || data[at + len] === 0x0d || data[at + len] === 0x0a)) return lastSocket;
  }
  let e = at;
  while (e < end && data[e] !== 0x0d && data[e] !== 0x0a) e++;
  lastBanner = data.slice(at, e);
  const text = Buffer.from(lastBanner).toString('utf8');
  lastSocket = text.slice(text.lastIndexOf('/') + 1);
  return lastSocket;
}

/**
 * A captured client packet into a policy's output at w.frameTimeNs, straight into the writer's buffer: re-framed
 * as Ethernet from the client to the server when the capture's link type is another, then moved
 * into the emulated server's sequence space (space; null for a SYN) with whole checksums; with
 * the comment and record notes has (ps.notes: null for none) after the input packet's own.
 */
function writeClientPacket(w: PcapngWriter, captureId: number, data: Uint8Array, offset: number, caplen: number, linkType: number,
  seg: CapturedSegment, clientMac: Uint8Array, serverMac: Uint8Array, notes: PolicyState | null, space: ServerSpace | null, inputs: readonly string[] | null): void {
  const len = linkType === LINKTYPE_ETHERNET ? caplen : ETHERNET_HEADER_LEN + offset + caplen - seg.ipAt;
  const segEnd = seg.payloadAt + seg.payloadLen;
  if (inputs === null) {
    const comment = notes !== null ? notes.noteCommentBytes : null, record = notes !== null ? notes.noteRecordBytes : null;
    const at = w.reserveFrameBytes(len, comment, record);
    writeClientSegment(w.frameBuffer, w.frameView, at, data, offset, caplen, linkType, seg.ipAt, seg.family, seg.tcpAt, segEnd, serverMac, clientMac, space);
    w.commitFrameAt(captureId, len, comment, record);
    return;
  }
  // The input packet's own comments come first, the decision and its record after them (room for all of them).
  const comment = notes?.noteComment, record = notes?.noteRecord;
  const at = w.reserveFrame(len + 8 * (inputs.length + 2), inputs.join('') + (comment ?? '') + (record ?? ''));
  writeClientSegment(w.frameBuffer, w.frameView, at, data, offset, caplen, linkType, seg.ipAt, seg.family, seg.tcpAt, segEnd, serverMac, clientMac, space);
  commitCaptured(w, captureId, w.frameTimeNs, len, comment, record, inputs);
}
