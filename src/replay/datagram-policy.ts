// One policy's side of a UDP replay (datagram-replayer.ts): its decisions on datagrams,
// interned, with their counts, its verdicts against the capture, and the comments and records of
// the packets it writes (in full once per output, then a reference: docs/wireshark.md, Replays).

import type { HostState, IfaceState } from '../emu/host.js';
import { datagramPacketRecord, withAgreement } from '../emu/packet-record.js';
import type { UdpSocket } from '../emu/udp/tables.js';
import { newReplayedDatagram, type ReplayedDatagram } from '../emu/udp/replayed.js';
import { datagramAgreement, datagramResultClass, type Agreement, type ReplayAgreement } from './agreement.js';
import { recordReference } from './record-reference.js';

/** A decision as replayDatagram made it (interned per policy). */
export interface DatagramDecision {
  readonly result: string;
  readonly candidates: readonly string[];
  readonly comment: string;
  readonly record: string;
  readonly replyFrom: string;
  readonly captureId: number;
  readonly serverMac: Uint8Array;
  readonly reason: string;
  readonly receivers: readonly UdpSocket[];
  readonly host: HostState | null;
  readonly iface: IfaceState | null;
  /** Whether some socket received it (the result is a socket name or `a+b`). */
  readonly received: boolean;
  /** The comment's first sentence and the record's reference (record-reference.ts), for repeats in an output. */
  readonly brief: string;
  readonly reference: string;
  /** Whether this policy's output has the decision's comment and record in full yet. */
  written: boolean;
  /** Its ICMP port unreachable's record, made when first needed, its reference, and whether it is in the output in full. */
  icmpRecord: string;
  icmpReference: string;
  icmpWritten: boolean;
}

/** A decision's record with a verdict, its reference and comment, and whether the output has them in full yet. */
interface VerdictNotes {
  readonly record: string;
  readonly reference: string;
  readonly comment: string;
  written: boolean;
}

/** One policy's datagram decisions, their counts and its verdicts against the capture. */
export class DatagramPolicy {
  readonly decisions: DatagramDecision[] = [];
  readonly counts: number[] = [];
  /** Decisions holding for a whole destination (ReplayedDatagram.perDestination), by destination index * 65536 + port; -1: nobody has it. */
  readonly byDestination = new Map<number, number>();
  /** Decisions holding for a client address and a destination (ReplayedDatagram.perClient), by destination as byDestination, then the client's addrKey. */
  readonly byClient = new Map<number, Map<number | string, number>>();
  /** Entries in byClient's maps (all forgotten past CLIENT_DECISIONS_KEPT). */
  clientDecisions = 0;
  private readonly ids = new Map<string, number>();
  readonly out: ReplayedDatagram = newReplayedDatagram();
  readonly agreement: ReplayAgreement = { agree: 0, disagree: 0, disagreements: [] };
  private readonly verdicts = new Map<number, Agreement>();

  constructor(readonly name: string) {}

  private lastId = -1;

  /** The id of the decision in `out`. */
  intern(): number {
    const o = this.out;
    // Runs of datagrams get one decision: the last one first.
    const last = this.decisions[this.lastId];
    if (last !== undefined && last.result === o.result && last.comment === o.comment && last.record === o.record && last.replyFrom === o.replyFrom
      && last.candidates === o.candidates && last.captureId === o.captureId && last.serverMac === o.serverMac && last.receivers === o.receivers) return this.lastId;
    const key = `${o.result}\n${o.comment}\n${o.record}\n${o.replyFrom}\n${o.candidates.join(',')}\n${o.captureId}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.decisions.push({
        result: o.result, candidates: o.candidates, comment: o.comment, record: o.record, replyFrom: o.replyFrom, captureId: o.captureId,
        serverMac: o.serverMac, reason: o.reason, receivers: o.receivers, host: o.host, iface: o.iface, received: datagramResultClass(o.result) === 'received',
        brief: briefOf(o.comment), reference: o.record === '' ? '' : recordReference(o.record), written: false, icmpRecord: '', icmpReference: '', icmpWritten: false,
      }) - 1;
      this.counts.push(0);
      this.ids.set(key, id);
    }
    this.lastId = id;
    return id;
  }

  /** Decision id's record with the verdict against what the capture shows, and the verdict in words; made once per pair. */
  recordWithVerdict(id: number, observedId: number, observed: string, answeredFrom: string | undefined): VerdictNotes {
    const key = id * 2097152 + observedId + 1;
    let r = this.verdictRecords.get(key);
    if (r === undefined) {
      const v = this.verdict(id, observedId, observed, answeredFrom);
      const rec = this.decisions[id]!.record;
      // The answer's record: the decision's, marked as the answer (a reply), with the verdict.
      const record = rec === '' ? '' : withAgreement(`${rec.slice(0, -1)},"packet":"reply"}`, v.agrees, observed);
      r = {
        record, reference: record === '' ? '' : recordReference(record),
        comment: `bindlab ${this.name}: ${v.agrees ? 'agrees with' : 'disagrees with'} the capture: ${v.why}`, written: false,
      };
      this.verdictRecords.set(key, r);
    }
    return r;
  }

  private readonly verdictRecords = new Map<number, VerdictNotes>();

  /** The comment and record of the packet being written (set by notes and verdictNotes). */
  noteComment: string | undefined = undefined;
  noteRecord: string | undefined = undefined;

  /**
   * The comment and record (noteComment, noteRecord) of the datagram of decision id written now:
   * the decision's own the first time in the output, then the comment's first sentence (who got
   * it, without the rule) and a reference to the record (docs/wireshark.md, Replays).
   */
  notes(id: number): void {
    const d = this.decisions[id]!;
    if (d.record === '') { this.noteComment = d.comment; this.noteRecord = undefined; return; }
    if (!d.written) {
      d.written = true;
      this.noteComment = d.comment;
      this.noteRecord = d.record;
      return;
    }
    this.noteComment = d.brief;
    this.noteRecord = d.reference;
  }

  /** As notes, for a reply that carries decision id's verdict: the verdict's comment and record in full once, then the reference alone. */
  verdictNotes(v: VerdictNotes): void {
    if (v.record === '') { this.noteComment = v.comment; this.noteRecord = undefined; return; }
    if (!v.written) {
      v.written = true;
      this.noteComment = v.comment;
      this.noteRecord = v.record;
      return;
    }
    this.noteComment = undefined;
    this.noteRecord = v.reference;
  }

  /** The comment and record of decision id's ICMP port unreachable to `to` (ADDRESS:PORT): in full once, then the reference alone. */
  icmpNotes(id: number, to: string, v6: boolean): void {
    const d = this.decisions[id]!;
    if (d.icmpRecord === '') {
      d.icmpRecord = datagramPacketRecord(this.name, to, 'port-unreachable', [], d.reason, 'icmp');
      d.icmpReference = recordReference(d.icmpRecord);
    }
    if (!d.icmpWritten) {
      d.icmpWritten = true;
      this.noteComment = `bindlab ${this.name}: ICMP${v6 ? 'v6' : ''} port unreachable for ${to}`;
      this.noteRecord = d.icmpRecord;
      return;
    }
    this.noteComment = undefined;
    this.noteRecord = d.icmpReference;
  }

  /** The verdict on decision id against what the capture shows (observed id, -1: nothing), made once per pair. */
  verdict(id: number, observedId: number, observed: string | undefined, answeredFrom: string | undefined): Agreement {
    const key = id * 2097152 + observedId + 1;
    let v = this.verdicts.get(key);
    if (!v) this.verdicts.set(key, (v = datagramAgreement(observed, answeredFrom, this.decisions[id]!, this.name)));
    return v;
  }

  results(): Record<string, number> {
    const out: Record<string, number> = {};
    this.decisions.forEach((d, id) => { if (this.counts[id]! > 0) out[d.result] = (out[d.result] ?? 0) + this.counts[id]!; });
    return out;
  }
}

/** A comment's first sentence (who got the datagram, without the rule). */
function briefOf(comment: string): string {
  const end = comment.indexOf('. ');
  return end < 0 ? comment : comment.slice(0, end);
}
