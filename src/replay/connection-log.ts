// The replay report's list of connections, made without an object per connection while the
// replay runs: each connection's fields wait in typed arrays (by its index mod the ring's size)
// until it is final, then become its entries, one per policy that decided it, appended to the
// report's lists or written to a spool (spool.ts). A connection's `observed` can change only
// while the connection table tracks it, and the table evicts in insertion order: once `tracked`
// newer connections have come, it is gone (and judged against the capture), so the ring holds
// tracked + 1 connections.

import { formatEndpoint, type IpAddr } from '../emu/addr.js';
import type { Agreement } from './agreement.js';
import type { ReplayConnection, ReplayPolicyReport } from './replay.js';
import type { SpoolWriter } from './spool.js';
import { isoTime } from './time.js';

/** What an entry needs of a decision. */
interface DecisionView { readonly result: string; readonly candidates: readonly string[] }

export class ConnectionLog {
  private readonly size: number;
  private readonly sec: Float64Array;
  private readonly nsec: Int32Array;
  private readonly sport: Uint16Array;
  private readonly dport: Uint16Array;
  private readonly src: (IpAddr | null)[];
  private readonly dst: (IpAddr | null)[];
  /** Per connection and policy: the decision's id, -1 where the policy did not decide it. */
  private readonly decision: Int32Array;
  /** Per connection: what the capture shows the real server did, null: nothing. */
  private readonly observed: (string | null)[];
  /** Per connection and policy: the decision against what the capture shows, once judged. */
  private readonly verdict: (Agreement | null)[];
  /** Per slot of the connection table: its connection's place in the ring. */
  private readonly placeOf: Int32Array;
  /** Connections made into entries so far (every index below it). */
  private finalized = 0;

  constructor(private readonly tracked: number, private readonly policies: number, private readonly decisionOf: (id: number, policy: number) => DecisionView,
    private readonly reports: readonly ReplayPolicyReport[], private readonly spool: readonly SpoolWriter[] | null) {
    this.size = tracked + 1;
    this.sec = new Float64Array(this.size);
    this.nsec = new Int32Array(this.size);
    this.sport = new Uint16Array(this.size);
    this.dport = new Uint16Array(this.size);
    this.src = new Array<IpAddr | null>(this.size).fill(null);
    this.dst = new Array<IpAddr | null>(this.size).fill(null);
    this.decision = new Int32Array(this.size * policies);
    this.observed = new Array<string | null>(this.size).fill(null);
    this.verdict = new Array<Agreement | null>(this.size * policies).fill(null);
    this.placeOf = new Int32Array(tracked);
  }

  /** Connection `index` begins in table slot `slot` (after the table took the slot: the connection `tracked` older is final now). */
  add(index: number, slot: number, sec: number, nsec: number, src: IpAddr, sport: number, dst: IpAddr, dport: number): void {
    if (index - this.tracked >= this.finalized) this.finalize(index - this.tracked + 1);
    const r = index % this.size;
    this.placeOf[slot] = r;
    this.sec[r] = sec;
    this.nsec[r] = nsec;
    this.src[r] = src;
    this.sport[r] = sport;
    this.dst[r] = dst;
    this.dport[r] = dport;
    this.observed[r] = null;
    this.decision.fill(-1, r * this.policies, r * this.policies + this.policies);
    this.verdict.fill(null, r * this.policies, r * this.policies + this.policies);
  }

  /** Policy p decided connection `index` (decision id). */
  decide(index: number, p: number, id: number): void {
    this.decision[(index % this.size) * this.policies + p] = id;
  }

  /** What the capture shows the real server did on the connection in table slot `slot`. */
  observe(slot: number, what: string): void {
    this.observed[this.placeOf[slot]!] = what;
  }

  /** Policy p's decision on the connection in table slot `slot` against the capture (when the connection ends). */
  judge(slot: number, p: number, v: Agreement): void {
    this.verdict[this.placeOf[slot]! * this.policies + p] = v;
  }

  /** At the end: every connection's entries (`count` connections in all). */
  finish(count: number): void {
    this.finalize(count);
  }

  /** Makes the entries of every connection with an index below `end` not made yet, in order. */
  private finalize(end: number): void {
    const P = this.policies;
    for (let i = this.finalized; i < end; i++) {
      const r = i % this.size;
      const time = isoTime(this.sec[r]!, this.nsec[r]!);
      const client = formatEndpoint({ addr: this.src[r]!, port: this.sport[r]! });
      const server = formatEndpoint({ addr: this.dst[r]!, port: this.dport[r]! });
      const seen = this.observed[r];
      for (let p = 0; p < P; p++) {
        const id = this.decision[r * P + p]!;
        if (id < 0) continue;
        const d = this.decisionOf(id, p);
        const entry: ReplayConnection = { index: i, time, client, server, result: d.result };
        if (d.candidates.length > 1) entry.candidates = d.candidates;
        if (seen !== null) entry.observed = seen;
        const v = this.verdict[r * P + p];
        if (v) entry.agreement = v;
        if (this.spool) this.spool[p]!.add(entry);
        else this.reports[p]!.connections.push(entry);
      }
    }
    this.finalized = Math.max(this.finalized, end);
  }
}
