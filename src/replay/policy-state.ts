// One policy's side of a replay: its decisions (interned), each tracked connection's state by
// slot in typed arrays, and the emulated server's answers waiting for their time (pSlot...).

import { newReplayedSyn, type ReplayedSyn } from '../emu/engine.js';
import type { ServerSpace } from './client-rewrite.js';
import { withAgreement } from '../emu/packet-record.js';
import { recordReference } from './record-reference.js';
import { agreement, type Agreement, type ReplayAgreement } from './agreement.js';

/** Per-policy flags of a replayed connection. */
export const DECIDED = 1, ACCEPTED = 2, BANNER_SENT = 4, FIN_SENT = 8;
/** Kinds of a pending packet of the emulated server. */
export const PENDING_ANSWER = 0, PENDING_SEGMENT = 1;
/** Pending packets per policy: past it, all are written at once (at the capture's current time). */
export const PENDING_MAX = 4096;

/** A decision as Run.replaySyn made it, less what varies per connection (interned per policy). */
export interface Decision {
  readonly result: string;
  readonly candidates: readonly string[];
  readonly comment: string;
  /** The comment's first sentence (who got the connection, without the rule): a repeat's comment in an output (see notes). */
  readonly brief: string;
  /** What a repeat carries for the record (record-reference.ts). */
  readonly reference: string;
  /** Its machine-readable packet record (src/emu/packet-record.ts), a second comment beside comment. */
  readonly record: string;
  readonly reason: string;
  readonly captureId: number;
  readonly serverMac: Uint8Array;
  readonly latencyNs: number;
  readonly banner: Uint8Array;
  readonly accepted: boolean;
  /** comment, brief, reference and record in UTF-8, as an output carries them. */
  readonly commentBytes: Uint8Array;
  readonly briefBytes: Uint8Array;
  readonly referenceBytes: Uint8Array;
  readonly recordBytes: Uint8Array;
}

const utf8 = new TextEncoder();

/**
 * One policy's side of every tracked connection, by slot: its decision and, when accepted, the
 * emulated server's sequence space. Typed arrays: no object per connection.
 */
export class PolicyState {
  readonly flags: Uint8Array;
  readonly decision: Int32Array;
  readonly serverIsn: Int32Array;
  readonly serverTsval: Int32Array;
  readonly t0: Float64Array;
  readonly emuNext: Int32Array;
  readonly emuTsval: Int32Array;
  /** Distinct decisions, and their ids by comment (one comment per decision once the setup is done). */
  readonly decisions: Decision[] = [];
  /** Connections per decision id (the report's results are summed from it at the end). */
  counts: number[] = [];
  /**
   * Decisions that hold for every SYN to a destination (ReplayedSyn.perDestination), by
   * destination index * 65536 + port; -1: no host owns the destination.
   */
  private readonly byDestination = new Map<number, number>();
  /** The last destination forDestination found, and its entry (runs of SYNs go to one destination). */
  private lastDestination = -1;
  private lastForDestination = -2;

  /** byDestination's entry for the destination key, -2 when it has none. */
  forDestination(key: number): number {
    if (key === this.lastDestination) return this.lastForDestination;
    const id = this.byDestination.get(key);
    if (id === undefined) return -2;
    this.lastDestination = key;
    this.lastForDestination = id;
    return id;
  }

  setForDestination(key: number, id: number): void {
    this.byDestination.set(key, id);
    if (key === this.lastDestination) this.lastForDestination = id;
  }
  private readonly byComment = new Map<string, number[]>();
  private lastId = -1;
  /** Run.replaySyn's record, filled again from a slot's state before each call that needs it. */
  readonly syn: ReplayedSyn = newReplayedSyn();
  /** The slot's server space for rewriteClientSegment. */
  readonly space: ServerSpace = { realIsn: -0, emuIsn: -0, emuNext: -0, emuTsval: -0 }; // doubles from the start (see newReplayedSyn)

  /**
   * The emulated server's packets not yet written, in the order they were made: the replay
   * writes each when the capture's time passes it, or just before its connection's next client
   * packet (so an answer never follows what acknowledges it); see Replayer.stamp. Per entry: its
   * slot, kind (PENDING_ANSWER: SYN-ACK or RST; PENDING_SEGMENT: banner or FIN), the time it is
   * due, and the values the engine's call needs (answer: client ISN and TSval; segment: seq, ack,
   * flags, the TSval it echoes). Bounded: PENDING_MAX entries.
   */
  readonly pSlot = new Int32Array(PENDING_MAX);
  readonly pKind = new Uint8Array(PENDING_MAX);
  readonly pTime = new Float64Array(PENDING_MAX);
  readonly pSeq = new Int32Array(PENDING_MAX);
  readonly pAck = new Int32Array(PENDING_MAX);
  readonly pFlags = new Uint8Array(PENDING_MAX);
  readonly pTsecr = new Int32Array(PENDING_MAX);
  pendingCount = 0;
  /** At most the earliest due time of the pending entries (Infinity: none). */
  pendingMin = Infinity;
  /** Per slot: how many of its packets are pending. */
  readonly slotPending: Uint16Array;
  /** The time of the last packet written to this policy's output (ns from the capture's first second). */
  lastTime = 0;

  /** How the policy's decisions compare with what the capture shows (see Replayer.judge). */
  readonly agreement: ReplayAgreement = { agree: 0, disagree: 0, disagreements: [] };
  /** agreement() by decision id and observed id (few of each: computed once per pair). */
  private readonly verdicts = new Map<number, Agreement>();
  private lastVerdictKey = -1;
  private lastVerdict: Agreement | undefined = undefined;

  constructor(private readonly policy: string, capacity: number) {
    this.slotPending = new Uint16Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.decision = new Int32Array(capacity);
    this.serverIsn = new Int32Array(capacity);
    this.serverTsval = new Int32Array(capacity);
    this.t0 = new Float64Array(capacity);
    this.emuNext = new Int32Array(capacity);
    this.emuTsval = new Int32Array(capacity);
  }

  /** The id of the decision in `syn` (just filled by replaySyn). */
  intern(): number {
    const syn = this.syn;
    // Runs of connections get one decision (replaySyn's is cached per destination): try the last first.
    const last = this.decisions[this.lastId];
    if (last !== undefined && last.comment === syn.comment && last.result === syn.result && last.candidates === syn.candidates
      && last.captureId === syn.captureId && last.serverMac === syn.serverMac && last.latencyNs === syn.latencyNs && last.banner === syn.banner
      && last.reason === syn.reason && last.record === syn.record) return this.lastId;
    this.lastId = this.lookup(syn);
    return this.lastId;
  }

  private lookup(syn: ReplayedSyn): number {
    // replaySyn always sets a comment (only a replay's answer goes without one).
    const comment = syn.comment ?? '';
    let ids = this.byComment.get(comment);
    if (ids) {
      for (const id of ids) {
        const d = this.decisions[id]!;
        // Candidates by content: a decision of an SO_REUSEPORT group comes with a list of its own each time.
        if (d.result === syn.result && sameNames(d.candidates, syn.candidates) && d.captureId === syn.captureId && d.serverMac === syn.serverMac
          && d.latencyNs === syn.latencyNs && d.banner === syn.banner && d.reason === syn.reason && d.record === syn.record) return id;
      }
    } else {
      this.byComment.set(comment, (ids = []));
    }
    const id = this.decisions.length;
    const brief = briefOf(comment), reference = recordReference(syn.record);
    this.decisions.push({
      result: syn.result, candidates: syn.candidates, comment, brief, reference, record: syn.record, reason: syn.reason, captureId: syn.captureId,
      serverMac: syn.serverMac, latencyNs: syn.latencyNs, banner: syn.banner, accepted: syn.result !== 'refused' && syn.result !== 'timeout' && syn.result !== 'unreachable',
      commentBytes: utf8.encode(comment), briefBytes: utf8.encode(brief), referenceBytes: utf8.encode(reference), recordBytes: utf8.encode(syn.record),
    });
    ids.push(id);
    this.counts.push(0);
    this.written.push(false);
    return id;
  }

  /** Per decision id: whether this policy's output has its comment and record in full yet. */
  private readonly written: boolean[] = [];
  /** The comment and record of the packet being written (set by notes and verdictNotes), and their UTF-8 (null: none). */
  noteComment: string | undefined = undefined;
  noteRecord: string | undefined = undefined;
  noteCommentBytes: Uint8Array | null = null;
  noteRecordBytes: Uint8Array | null = null;

  /**
   * The comment and record (noteComment, noteRecord) of a packet of decision id written now: the
   * decision's own the first time in the output, then a reference to its record with the
   * comment's first sentence (brief: on a SYN) or no comment (on an answer).
   */
  notes(id: number, brief: boolean): void {
    const d = this.decisions[id]!;
    if (!this.written[id]) {
      this.written[id] = true;
      this.noteComment = d.comment; this.noteCommentBytes = d.commentBytes;
      this.noteRecord = d.record; this.noteRecordBytes = d.recordBytes;
      return;
    }
    this.noteComment = brief ? d.brief : undefined; this.noteCommentBytes = brief ? d.briefBytes : null;
    this.noteRecord = d.reference; this.noteRecordBytes = d.referenceBytes;
  }

  /** No comment and no record on the packet being written. */
  noNotes(): void {
    this.noteComment = undefined; this.noteCommentBytes = null;
    this.noteRecord = undefined; this.noteRecordBytes = null;
  }

  /**
   * As notes, for a packet that carries decision id's verdict against observed (the record with
   * `observed` and `agree`): the emulated answer (with the decision's comment) or the banner
   * (with the verdict's comment); each pair of comment and record is written in full once.
   */
  verdictNotes(id: number, observedId: number, observed: string, banner: boolean): void {
    const v = this.recordWithVerdict(id, observedId, observed);
    if (!(banner ? v.bannerWritten : v.answerWritten)) {
      if (banner) v.bannerWritten = true; else v.answerWritten = true;
      const d = this.decisions[id]!;
      this.noteComment = banner ? v.comment : d.comment; this.noteCommentBytes = banner ? v.commentBytes : d.commentBytes;
      this.noteRecord = v.record; this.noteRecordBytes = v.recordBytes;
      return;
    }
    this.noteComment = undefined; this.noteCommentBytes = null;
    this.noteRecord = v.reference; this.noteRecordBytes = v.referenceBytes;
  }

  /** `syn` as replaySyn leaves it for decision id, less the connection's own values (replayServerIsn's). */
  fill(id: number): ReplayedSyn {
    const d = this.decisions[id]!;
    const syn = this.syn;
    syn.result = d.result; syn.candidates = d.candidates; syn.comment = d.comment; syn.record = d.record; syn.reason = d.reason; syn.captureId = d.captureId;
    syn.serverMac = d.serverMac; syn.latencyNs = d.latencyNs; syn.banner = d.banner;
    return syn;
  }

  /** The report's results: connections per result, in the order each result first came. */
  results(): Record<string, number> {
    const out: Record<string, number> = {};
    this.decisions.forEach((d, id) => { out[d.result] = (out[d.result] ?? 0) + this.counts[id]!; });
    return out;
  }

  /**
   * The time (ns) enqueue and retime take: a field, not an argument (a double passed to a call
   * that is not inlined is a new heap number; see Replayer.now). -0: a double from the start.
   */
  dueAt = -0;

  /** Queues the emulated server's packet for slot, due at dueAt (the caller has made room: pendingCount < PENDING_MAX); seq, ack and tsecr as int32. */
  enqueue(slot: number, kind: number, seq: number, ack: number, flags: number, tsecr: number): void {
    const time = this.dueAt;
    const i = this.pendingCount++;
    this.pSlot[i] = slot; this.pKind[i] = kind; this.pTime[i] = time;
    this.pSeq[i] = seq | 0; this.pAck[i] = ack | 0; this.pFlags[i] = flags; this.pTsecr[i] = tsecr | 0;
    this.slotPending[slot]++;
    if (time < this.pendingMin) this.pendingMin = time;
  }

  /** Moves slot's pending answer (SYN-ACK or RST) to dueAt, when it is still pending (the real server's own answer time). */
  retime(slot: number): void {
    const time = this.dueAt;
    if (this.slotPending[slot] === 0) return;
    for (let i = 0; i < this.pendingCount; i++) {
      if (this.pSlot[i] === slot && this.pKind[i] === PENDING_ANSWER) { this.pTime[i] = time; break; }
    }
    if (time < this.pendingMin) this.pendingMin = time;
  }

  /** The verdict on decision id against observed (its id in the replay's list, -1: unanswered). */
  verdict(id: number, observedId: number, observed: string | undefined): Agreement {
    const key = id * 2097152 + observedId + 1;
    // Most connections end alike: the last pair's verdict first.
    if (key === this.lastVerdictKey) return this.lastVerdict!;
    let v = this.verdicts.get(key);
    if (!v) {
      const d = this.decisions[id]!;
      this.verdicts.set(key, (v = agreement(observed, d, this.policy)));
    }
    this.lastVerdictKey = key;
    this.lastVerdict = v;
    return v;
  }

  /**
   * Decision id's packet record with the verdict against observed (its id, as verdict's), and the
   * verdict in words as a comment; made once per pair.
   */
  recordWithVerdict(id: number, observedId: number, observed: string): VerdictRecord {
    const key = id * 2097152 + observedId + 1;
    // Runs of connections get the same pair (the last one is asked again for its banner).
    if (key === this.lastRecordKey) return this.lastVerdictRecord!;
    let r = this.verdictRecords.get(key);
    if (r === undefined) {
      const v = this.verdict(id, observedId, observed);
      const record = withAgreement(this.decisions[id]!.record, v.agrees, observed);
      const reference = recordReference(record);
      const comment = `bindlab ${this.policy}: ${v.agrees ? 'agrees with' : 'disagrees with'} the capture: ${v.why}`;
      r = {
        record, reference, comment, recordBytes: utf8.encode(record), referenceBytes: utf8.encode(reference), commentBytes: utf8.encode(comment),
        answerWritten: false, bannerWritten: false,
      };
      this.verdictRecords.set(key, r);
    }
    this.lastRecordKey = key;
    this.lastVerdictRecord = r;
    return r;
  }

  private lastRecordKey = -1;
  private lastVerdictRecord: VerdictRecord | null = null;

  private readonly verdictRecords = new Map<number, VerdictRecord>();
}

/** A decision's record with a verdict, its reference and comment, and whether an answer and a banner have carried them in full yet. */
interface VerdictRecord {
  readonly record: string;
  readonly reference: string;
  readonly comment: string;
  readonly recordBytes: Uint8Array;
  readonly referenceBytes: Uint8Array;
  readonly commentBytes: Uint8Array;
  answerWritten: boolean;
  bannerWritten: boolean;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The first sentence of a decision's comment: `bindlab linux: SYN to 10.0.0.1:80 accepted by server/httpd/web`. */
function briefOf(comment: string): string {
  const end = comment.indexOf('. ');
  return end < 0 ? comment : comment.slice(0, end);
}

/** Interned values (client MACs, captured addresses): made once per distinct key, forgotten all at once past a bound. */
export class Interned<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(key: K): V | undefined { return this.map.get(key); }
  set(key: K, value: V): V {
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, value);
    return value;
  }
}

