// bindlab replay as a library: a real capture's connection attempts delivered to a scenario's
// hosts under each policy. The scenario's steps before its first connect set up the sockets;
// every SYN (without ACK) to an address of a scenario host (after --map) is then decided by the
// policy at its captured time. Per policy, an output capture holds the captured client packets
// with the emulated server's answers (SYN-ACK or RST, banner, FIN), annotated like `run`'s.
// The capture is read once, streamed; memory stays bounded (connections are tracked in a capped
// table; the per-connection list of the report is kept only when asked for).

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatEndpoint, makeIp, parseIp, type IpAddr } from '../emu/addr.js';
import { newReplayedSyn, Run, type ReplayedSyn } from '../emu/engine.js';
import { policyResolver } from '../emu/policy/registry.js';
import { copyBytes } from '../emu/wire/copy.js';
import { nextPacket, type CaptureReader } from '../pcap/capture-reader.js';
import { openCapture } from '../pcap/open-capture.js';
import { LINKTYPE_ETHERNET, SUPPORTED_LINK_TYPES } from '../pcap/linktypes.js';
import { PcapngWriter } from '../pcap/pcapng-writer.js';
import { policiesFor } from '../runner.js';
import type { Scenario } from '../scenario/types.js';
import { addrWord, ConnectionTable, tupleHash } from './connection-table.js';
import { rewriteClientSegment, type ServerSpace } from './client-rewrite.js';
import { DECODE_RESULTS, decodeSegment, newSegment, segmentTsval, SKIP_REASON, type CapturedSegment, type SkipReason } from './segment.js';

export interface ReplayOptions {
  /** Policy names; default: the scenario's, else every built-in policy. */
  readonly policies?: readonly string[];
  /** Directory for the output captures; null or undefined writes none. */
  readonly outDir?: string | null;
  /** Captured address -> scenario address (same family), applied to both directions. */
  readonly map?: ReadonlyMap<string, IpAddr>;
  /** Keep one report entry per connection (the JSON report's `connections`). Default true. */
  readonly keepConnections?: boolean;
  /** Called now and then with the bytes read so far and the capture's size. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Aborting stops the replay at the next check: outputs are removed, ReplayAborted is thrown. */
  readonly signal?: AbortSignal;
  /**
   * Threads to share the policies among when writing outputs (1: this thread only). Default: one
   * per core, at most two, when the capture is 32 MiB or more; else 1. Outputs are the same bytes.
   */
  readonly jobs?: number;
}

export interface ReplayConnection {
  readonly index: number;
  /** Captured time of the SYN, ISO 8601 UTC (µs, or ns when the capture has them). */
  readonly time: string;
  readonly client: string;
  /** The scenario address and port (after --map). */
  readonly server: string;
  /** The accepting socket, "refused" or "timeout" (SCENARIO.md's connect vocabulary). */
  readonly result: string;
  /** The SO_REUSEPORT group the pick was made in, when there was a choice. */
  candidates?: readonly string[];
  /** What the capture shows the real server did: the banner's socket name, "accepted", "refused"; absent when it shows nothing. */
  observed?: string;
}

export interface ReplayPolicyReport {
  connections: ReplayConnection[];
  /** Connections per result (socket name, refused, timeout). */
  results: Record<string, number>;
  output?: string;
}

export interface ReplayReport {
  readonly capture: string;
  readonly scenario: string;
  readonly file: string;
  readonly packets: number;
  /** Connection attempts delivered (first SYNs; retransmissions not counted). */
  readonly attempts: number;
  /** Packets not part of any replayed connection, by reason. */
  readonly skipped: Record<SkipReason, number>;
  /** Captured server packets of replayed connections, replaced by the emulated server's. */
  readonly replaced: number;
  readonly policies: Record<string, ReplayPolicyReport>;
}

export class ReplayAborted extends Error {
  override readonly name = 'ReplayAborted';
  constructor() { super('replay interrupted; no output written'); }
}

/** OUT/<capture-stem>.<policy>.pcapng */
export function replayOutputPath(outDir: string, capture: string, policy: string): string {
  return join(outDir, `${basename(capture, extname(capture))}.${policy}.pcapng`);
}

/**
 * Connections tracked at once (their state is ~100 bytes plus ~30 per policy, in typed arrays):
 * past it the oldest goes, its later packets counted as not in a replayed connection (the
 * decision was made at its SYN). Bounds memory on a SYN flood or a port scan: 1M half-open
 * connections replayed under nine policies in two threads peak at 131 MiB.
 */
const MAX_TRACKED = 32768;
/** Packets between checks of the abort signal, progress reports and yields to the event loop. */
const CHECK_EVERY = 16384;
/** The client MAC of frames whose link type has none. */
const NO_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xfe);
const TCP_FIN = 1, TCP_SYN = 2, TCP_RST = 4, TCP_PSH = 8, TCP_ACK = 16;
const BANNER_PREFIX = [0x62, 0x69, 0x6e, 0x64, 0x6c, 0x61, 0x62, 0x20]; // "bindlab "

/** Per-policy flags of a replayed connection. */
const DECIDED = 1, ACCEPTED = 2, BANNER_SENT = 4, FIN_SENT = 8;

/** A decision as Run.replaySyn made it, less what varies per connection (interned per policy). */
interface Decision {
  readonly result: string;
  readonly candidates: readonly string[];
  readonly comment: string;
  readonly reason: string;
  readonly captureId: number;
  readonly serverMac: Uint8Array;
  readonly latencyNs: number;
  readonly banner: Uint8Array;
  readonly accepted: boolean;
}

/**
 * One policy's side of every tracked connection, by slot: its decision and, when accepted, the
 * emulated server's sequence space. Typed arrays: no object per connection.
 */
class PolicyState {
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
  readonly byDestination = new Map<number, number>();
  private readonly byComment = new Map<string, number[]>();
  private lastId = -1;
  /** Run.replaySyn's record, filled again from a slot's state before each call that needs it. */
  readonly syn: ReplayedSyn = newReplayedSyn();
  /** The slot's server space for rewriteClientSegment. */
  readonly space: ServerSpace = { realIsn: -0, emuIsn: -0, emuNext: -0, emuTsval: -0 }; // doubles from the start (see newReplayedSyn)

  constructor(capacity: number) {
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
      && last.reason === syn.reason) return this.lastId;
    this.lastId = this.lookup(syn);
    return this.lastId;
  }

  private lookup(syn: ReplayedSyn): number {
    let ids = this.byComment.get(syn.comment);
    if (ids) {
      for (const id of ids) {
        const d = this.decisions[id]!;
        if (d.result === syn.result && d.candidates === syn.candidates && d.captureId === syn.captureId && d.serverMac === syn.serverMac
          && d.latencyNs === syn.latencyNs && d.banner === syn.banner && d.reason === syn.reason) return id;
      }
    } else {
      this.byComment.set(syn.comment, (ids = []));
    }
    const id = this.decisions.length;
    this.decisions.push({
      result: syn.result, candidates: syn.candidates, comment: syn.comment, reason: syn.reason, captureId: syn.captureId,
      serverMac: syn.serverMac, latencyNs: syn.latencyNs, banner: syn.banner, accepted: syn.result !== 'refused' && syn.result !== 'timeout',
    });
    ids.push(id);
    this.counts.push(0);
    return id;
  }

  /** `syn` as replaySyn leaves it for decision id, less the connection's own values (replayServerIsn's). */
  fill(id: number): ReplayedSyn {
    const d = this.decisions[id]!;
    const syn = this.syn;
    syn.result = d.result; syn.candidates = d.candidates; syn.comment = d.comment; syn.reason = d.reason; syn.captureId = d.captureId;
    syn.serverMac = d.serverMac; syn.latencyNs = d.latencyNs; syn.banner = d.banner;
    return syn;
  }

  /** The report's results: connections per result, in the order each result first came. */
  results(): Record<string, number> {
    const out: Record<string, number> = {};
    this.decisions.forEach((d, id) => { out[d.result] = (out[d.result] ?? 0) + this.counts[id]!; });
    return out;
  }

  /** `syn` as replaySyn left it for the connection in slot. */
  load(slot: number): ReplayedSyn {
    const syn = this.fill(this.decision[slot]!);
    syn.serverIsn = this.serverIsn[slot]! >>> 0; syn.serverTsval = this.serverTsval[slot]! >>> 0; syn.t0 = this.t0[slot]!;
    return syn;
  }
}

/** Interned values (client MACs, captured addresses): made once per distinct key, forgotten all at once past a bound. */
class Interned<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(key: K): V | undefined { return this.map.get(key); }
  set(key: K, value: V): V {
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, value);
    return value;
  }
}

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
const keyOf = (a: IpAddr): number | string => addrKey(a.bytes, 0, a.family);

function isoTime(sec: number, nsec: number): string {
  const iso = new Date(sec * 1000).toISOString().slice(0, 19);
  const frac = nsec % 1000 === 0 ? String(nsec / 1000).padStart(6, '0') : String(nsec).padStart(9, '0');
  return `${iso}.${frac}Z`;
}

/**
 * Replays the capture against the scenario under each policy. Throws CaptureFormatError on bad
 * input, ReplayAborted when options.signal aborts. With outputs for several policies and a large
 * capture, the policies are shared among worker threads (options.jobs; see parallel.ts): each
 * reads the capture itself, and the outputs are renamed into place only when all are whole.
 */
export async function replayCapture(capture: string, scenario: Scenario, options: ReplayOptions = {}): Promise<ReplayReport> {
  const policyNames = policiesFor(scenario, options.policies);
  const jobs = options.outDir ? replayJobs(options.jobs, policyNames.length, capture) : 1;
  if (jobs > 1) {
    const { replayInWorkers } = await import('./parallel.js');
    return replayInWorkers(capture, scenario, policyNames, options, jobs);
  }
  return replayInProcess(capture, scenario, policyNames, options, null);
}

/** Captures smaller than this replay in one thread: a worker's start-up (~0.1 s) would cost more than it saves. */
const PARALLEL_MIN_BYTES = 32 << 20;
/**
 * Each worker is a V8 heap of its own (~40 MiB resident): two keep a replay under the 150 MiB the
 * replay issue sets for any capture (measured 123 MiB for 9 policies over 1M packets); --jobs for more.
 */
const MAX_DEFAULT_JOBS = 2;

/** How many threads to replay in: options.jobs when given, else one per core (at most two) for a large capture. */
function replayJobs(jobs: number | undefined, policies: number, capture: string): number {
  if (policies < 2 || !workerAvailable()) return 1;
  if (jobs !== undefined) return Math.max(1, Math.min(Math.floor(jobs), policies));
  let size = 0;
  try { size = statSync(capture).size; } catch { return 1; }
  if (size < PARALLEL_MIN_BYTES) return 1;
  return Math.min(availableParallelism(), policies, MAX_DEFAULT_JOBS);
}

/** The worker script exists only as compiled JavaScript (under vitest this module is TypeScript): else one thread. */
export const WORKER_URL = new URL('./worker.js', import.meta.url);
let workerChecked: boolean | undefined;
function workerAvailable(): boolean {
  return (workerChecked ??= import.meta.url.endsWith('.js') && existsSync(fileURLToPath(WORKER_URL)));
}

/**
 * replayCapture in this thread for the given policies. With `pending`, the outputs are closed but
 * left under their temporary names, each pushed as [temporary, final] for the caller to rename.
 */
export async function replayInProcess(capture: string, scenario: Scenario, policyNames: readonly string[], options: ReplayOptions,
  pending: [string, string][] | null): Promise<ReplayReport> {
  const keep = options.keepConnections ?? true;
  const firstConnect = scenario.steps.findIndex((s) => s.kind === 'connect');
  const setupEnd = firstConnect < 0 ? scenario.steps.length : firstConnect;
  const reader = openCapture(capture, { linkTypes: SUPPORTED_LINK_TYPES });
  const writers: PcapngWriter[] = [];
  try {
    // Wall-clock base of the outputs: the capture's first second (a float64 holds 104 days of ns).
    const hasFirst = reader.next();
    const baseSec = hasFirst ? reader.tsSec : 0;
    if (options.outDir) mkdirSync(options.outDir, { recursive: true });
    const runs: Run[] = [];
    const sinks: (PcapngWriter | undefined)[] = [];
    // Built-in policies and the scenario's own (as in runScenario).
    const resolve = policyResolver(scenario.customPolicies);
    for (const name of policyNames) {
      const w = options.outDir ? new PcapngWriter(replayOutputPath(options.outDir, capture, name), { startEpochSeconds: Math.max(0, baseSec), tsresol: 'ns', application: 'bindlab replay' }) : undefined;
      if (w) writers.push(w);
      sinks.push(w);
      const run = new Run(scenario, resolve(name), { sink: w });
      run.replaySetup(setupEnd);
      runs.push(run);
    }
    // Scenario addresses (after setup) by key, and --map's captured addresses onto them.
    const hostAddrs = new Map<number | string, IpAddr>();
    const known: IpAddr[] = [];
    for (const h of scenario.hosts) for (const i of h.interfaces) for (const c of i.addresses) known.push(c.addr);
    for (const s of scenario.steps.slice(0, setupEnd)) if (s.kind === 'address' && s.add) known.push(s.add.addr);
    for (const a of known) if (runs[0]?.replayOwner(a)) hostAddrs.set(keyOf(a), a);
    for (const [from, to] of options.map ?? []) {
      const f = parseIp(from);
      if (f && runs[0]?.replayOwner(to)) hostAddrs.set(keyOf(f), to);
    }
    const reports: ReplayPolicyReport[] = policyNames.map(() => ({ connections: [], results: {} }));
    const replayer = new Replayer(reader, runs, sinks, reports, hostAddrs, keep, baseSec);
    // The file's next megabyte is read on the thread pool while this thread replays the last.
    reader.readAhead();
    let more = hasFirst;
    let sinceCheck = 0;
    while (more) {
      // A batch of packets synchronously (an async function's loop measured 35% slower), up to
      // CHECK_EVERY or until the read-ahead must be awaited; the checks and a yield now and then.
      const done = replayer.replay(CHECK_EVERY - sinceCheck);
      sinceCheck += Math.abs(done);
      if (done < 0) {
        if (!reader.waiting) break;
        await reader.refill();
        more = await nextPacket(reader);
      }
      if (sinceCheck < CHECK_EVERY && !options.signal?.aborted) continue;
      sinceCheck = 0;
      if (options.signal?.aborted) throw new ReplayAborted();
      options.onProgress?.(reader.position, reader.size);
      await new Promise<void>((r) => setImmediate(r));
      if (options.signal?.aborted) throw new ReplayAborted();
    }
    const { packets, attempts, replaced } = replayer;
    const skipped = replayer.skips();
    options.onProgress?.(reader.size, reader.size);
    const policies: Record<string, ReplayPolicyReport> = {};
    policyNames.forEach((name, p) => {
      reports[p]!.results = replayer.results(p);
      const w = writers[p];
      if (w) {
        if (pending) pending.push([w.finishPending(), w.finalPath]);
        else w.finish();
        reports[p]!.output = w.finalPath;
      }
      policies[name] = reports[p]!;
    });
    return { capture, scenario: scenario.name, file: scenario.file, packets, attempts, skipped, replaced, policies };
  } catch (e) {
    for (const w of writers) w.abort();
    throw e;
  } finally {
    reader.close();
  }
}

/**
 * The packet loop of replayCapture: reads and replays packets synchronously, a batch at a time,
 * so the hot loop is a plain method rather than an async function's. Connections are slots of
 * the connection table; their state lives in typed arrays here and in each policy's PolicyState.
 */
class Replayer {
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
  /** Per slot, when the report keeps connections: its entries, one per policy that decided it. */
  private readonly entries: (ReplayConnection[] | null)[] = new Array<ReplayConnection[] | null>(MAX_TRACKED).fill(null);
  private readonly wireAddrs = new Interned<number | string, IpAddr>(MAX_TRACKED);
  private readonly macs = new Interned<string, Uint8Array>(4096);
  private lastMac: Uint8Array = NO_MAC;
  /** Whether any policy writes an output. */
  private readonly outputs: boolean;
  /** Each scenario address a replayed SYN can go to, numbered (for PolicyState.byDestination). */
  private readonly dstIndex = new Map<IpAddr, number>();

  constructor(private readonly reader: CaptureReader, private readonly runs: readonly Run[], private readonly sinks: readonly (PcapngWriter | undefined)[],
    private readonly reports: readonly ReplayPolicyReport[], private readonly hostAddrs: ReadonlyMap<number | string, IpAddr>,
    private readonly keep: boolean, private readonly baseSec: number) {
    this.policies = runs.map(() => new PolicyState(MAX_TRACKED));
    this.outputs = sinks.some((w) => w !== undefined);
    for (const a of hostAddrs.values()) if (!this.dstIndex.has(a)) this.dstIndex.set(a, this.dstIndex.size);
  }

  /** Packets skipped, by reason: those decodeSegment skipped, and the rest. */
  skips(): Record<SkipReason, number> {
    const out = { ...this.skipped };
    for (const [code, reason] of Object.entries(SKIP_REASON)) out[reason] += this.decoded[Number(code)]!;
    return out;
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
    if (fam > 6) return;
    const addrLen = fam === 4 ? 4 : 16;
    const srcWord = addrWord(data, seg.srcAt, addrLen);
    const dstWord = addrWord(data, seg.dstAt, addrLen);
    const hash = tupleHash(srcWord, seg.srcPort, dstWord, seg.dstPort);
    const tracked = this.tracked;
    const found = tracked.find(data, seg.srcAt, srcWord, seg.srcPort, seg.dstAt, dstWord, seg.dstPort, fam, hash);
    const client = found >= 0 && !tracked.reversed;
    if ((seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && (!client || this.clientIsn[found] !== (seg.seq | 0))) {
      this.attempt(fam as 4 | 6, client ? found : -1, srcWord, dstWord, hash);
    } else if (client) {
      this.clientPacket(found);
    } else if (found >= 0) {
      // The real server's packet: replaced by the emulation; it says what the kernel did.
      this.replaced++;
      if ((seg.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) { this.realIsn[found] = seg.seq | 0; this.realIsnKnown[found] = 1; }
      // What the real server did only goes into the report's list of connections.
      if (this.keep) this.observe(found, seg.flags, data, seg.payloadAt, seg.payloadCaptured);
    } else {
      this.skipped[this.hostAddrs.has(addrKey(data, seg.dstAt, fam as 4 | 6)) || this.hostAddrs.has(addrKey(data, seg.srcAt, fam as 4 | 6)) ? 'not-in-a-replayed-connection' : 'not-to-a-scenario-host']++;
    }
  }

  /** The packet's time in ns from the capture's first second. */
  private time(): number {
    const reader = this.reader;
    // (s + 0.5) * 1e9 - 5e8 is s * 1e9 exactly (below 2^53), computed in doubles from the first
    // packet on: s * 1e9 in small integers would overflow a few seconds in and deoptimize.
    return Math.max(0, (reader.tsSec - this.baseSec + 0.5) * 1e9 - 5e8 + reader.tsNsec);
  }

  /** A SYN without ACK (not a retransmission of a tracked one): every policy decides it, when it is to a scenario host. */
  private attempt(f: 4 | 6, old: number, srcWord: number, dstWord: number, hash: number): void {
    const { reader, runs, sinks, reports, keep, seg, tracked, policies } = this;
    const data = reader.data;
    const dstKey = addrKey(data, seg.dstAt, f);
    const dst = this.hostAddrs.get(dstKey);
    if (!dst) {
      this.skipped['not-to-a-scenario-host']++;
      return;
    }
    const P = runs.length;
    const t = this.time();
    tracked.delete(old); // -1: none (a call either way: a rare branch would deoptimize)
    const index = this.attempts++;
    const slot = tracked.add(f, data, seg.srcAt, srcWord, seg.srcPort, seg.dstAt, dstWord, seg.dstPort, hash);
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
    const entries = keep ? [] as ReplayConnection[] : null;
    if (keep) this.entries[slot] = entries;
    const time = keep ? isoTime(reader.tsSec, reader.tsNsec) : '';
    const dkey = this.dstIndex.get(dst)! * 65536 + seg.dstPort;
    for (let p = 0; p < P; p++) {
      const run = runs[p]!;
      const ps = policies[p]!;
      const syn = ps.syn;
      // A decision that holds for the whole destination is made once; else the policy decides this SYN.
      let id = ps.byDestination.get(dkey) ?? -2;
      if (id === -1) {
        ps.flags[slot] = 0;
        continue;
      }
      const w = sinks[p];
      if (id < 0) {
        src ??= this.wireAddr(data, seg.srcAt, f, addrKey(data, seg.srcAt, f));
        if (!run.replaySyn(t, src, seg.srcPort, dst, seg.dstPort, syn)) {
          ps.byDestination.set(dkey, -1);
          ps.flags[slot] = 0;
          continue;
        }
        id = ps.intern();
        if (syn.perDestination) ps.byDestination.set(dkey, id);
      } else if (w) {
        // The rest of replaySyn's record only goes into an output.
        ps.fill(id);
        run.replayServerIsn(t, src!, seg.srcPort, dst, seg.dstPort, syn);
      }
      ps.counts[id]++;
      const d = ps.decisions[id]!;
      ps.flags[slot] = DECIDED | (d.accepted ? ACCEPTED : 0);
      ps.decision[slot] = id;
      if (w) {
        ps.serverIsn[slot] = syn.serverIsn | 0;
        ps.serverTsval[slot] = syn.serverTsval | 0;
        ps.t0[slot] = syn.t0;
        ps.emuNext[slot] = (syn.serverIsn + 1) | 0;
        ps.emuTsval[slot] = syn.serverTsval | 0;
        // The client's SYN goes first, with the decision's comment (as in `run`'s captures), then the answer.
        writeClientPacket(w, syn.captureId, t, data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, syn.serverMac, syn.comment, null);
        run.replayAnswer(syn, clientMac, src!, seg.srcPort, wireDst, seg.dstPort, seg.seq, segmentTsval(data, seg));
      }
      if (entries) {
        const rep = reports[p]!;
        const entry: ReplayConnection = { index, time, client: formatEndpoint({ addr: src!, port: seg.srcPort }), server: formatEndpoint({ addr: dst, port: seg.dstPort }), result: d.result };
        if (d.candidates.length > 1) entry.candidates = d.candidates;
        rep.connections.push(entry);
        entries.push(entry);
      }
    }
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
    let fromAt = -1, fromFlushes = 0;
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
          const d = ps.decisions[ps.decision[slot]!]!;
          writeClientPacket(w, d.captureId, this.time(), data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, d.serverMac, d.comment, null);
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
        const isn = ps.serverIsn[slot]!, next = ps.emuNext[slot]!, tsval = ps.emuTsval[slot]!;
        if (!(shared && from >= 0 && isn === fromIsn && next === fromNext && tsval === fromTsval && d.captureId === fromCapture
          && sameMac(d.serverMac, fromMac) && w.copyPacket(sinks[from]!, fromAt, fromFlushes))) {
          let space: ServerSpace | null = null;
          if (this.realIsnKnown[slot] !== 0) {
            space = ps.space;
            space.realIsn = this.realIsn[slot]! >>> 0; space.emuIsn = ps.serverIsn[slot]! >>> 0;
            space.emuNext = ps.emuNext[slot]! >>> 0; space.emuTsval = ps.emuTsval[slot]! >>> 0;
          }
          writeClientPacket(w, d.captureId, this.time(), data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, d.serverMac,
            shared ? undefined : d.comment, space);
          if (shared) {
            from = p; fromAt = w.lastPacketAt; fromFlushes = w.flushCount;
            fromIsn = isn; fromNext = next; fromTsval = tsval; fromCapture = d.captureId; fromMac = d.serverMac;
          }
        }
      }
      if ((flags & TCP_RST) !== 0) { done = true; continue; }
      // The emulated server's banner after the handshake, its FIN after the client's (written only with an output).
      if ((pf & BANNER_SENT) === 0 && (flags & TCP_ACK) !== 0) {
        ps.flags[slot] |= BANNER_SENT;
        const banner = ps.decisions[ps.decision[slot]!]!.banner;
        if (w) this.serverSegment(p, slot, TCP_PSH | TCP_ACK, banner);
        ps.emuNext[slot] = (ps.emuNext[slot]! + banner.length) | 0;
      }
      if ((flags & TCP_FIN) !== 0 && (ps.flags[slot]! & FIN_SENT) === 0) {
        ps.flags[slot] |= FIN_SENT;
        if (w) this.serverSegment(p, slot, TCP_FIN | TCP_ACK, EMPTY);
        ps.emuNext[slot] = (ps.emuNext[slot]! + 1) | 0;
      } else if ((ps.flags[slot]! & FIN_SENT) !== 0 && (flags & TCP_FIN) === 0 && seg.payloadLen === 0) {
        done = true; // the client's last ACK
      }
    }
    if (done) this.tracked.delete(slot);
  }

  /** The emulated server's next segment on the connection in slot under policy p, one link latency after the packet. */
  private serverSegment(p: number, slot: number, flags: number, payload: Uint8Array): void {
    const ps = this.policies[p]!;
    const syn = ps.load(slot);
    const tsval = this.runs[p]!.replayServerSegment(syn, this.time() + syn.latencyNs, this.clientMac[slot]!, this.src[slot]!, this.tracked.clientPort(slot),
      this.wireDst[slot]!, this.tracked.serverPort(slot), ps.emuNext[slot]! >>> 0, this.cNext[slot]! >>> 0, flags, payload, segmentTsval(this.reader.data, this.seg), undefined);
    ps.emuTsval[slot] = tsval | 0;
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
    let id = this.observedIds.get(what);
    if (id === undefined) {
      id = this.observedNames.push(what) - 1;
      this.observedIds.set(what, id);
    }
    this.observed[slot] = id;
    const entries = this.entries[slot];
    if (entries) for (const e of entries) e.observed = what;
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
  let e = at;
  while (e < end && data[e] !== 0x0d && data[e] !== 0x0a) e++;
  const len = e - at;
  if (len === lastBanner.length) {
    let same = true;
    for (let i = 0; i < len; i++) if (data[at + i] !== lastBanner[i]) { same = false; break; }
    if (same) return lastSocket;
  }
  lastBanner = data.slice(at, e);
  const text = Buffer.from(lastBanner).toString('utf8');
  lastSocket = text.slice(text.lastIndexOf('/') + 1);
  return lastSocket;
}

/**
 * A captured client packet into a policy's output, straight into the writer's buffer: re-framed
 * as Ethernet from the client to the server when the capture's link type is another, then moved
 * into the emulated server's sequence space (space; null for a SYN) with whole checksums.
 */
function writeClientPacket(w: PcapngWriter, captureId: number, t: number, data: Uint8Array, offset: number, caplen: number, linkType: number,
  seg: CapturedSegment, clientMac: Uint8Array, serverMac: Uint8Array, comment: string | undefined, space: ServerSpace | null): void {
  const ether = linkType === LINKTYPE_ETHERNET;
  const ipLen = offset + caplen - seg.ipAt;
  const len = ether ? caplen : 14 + ipLen;
  const at = w.reserveFrame(len, comment);
  const buf = w.frameBuffer;
  let ipAt: number;
  if (ether) {
    copyBytes(buf, at, data, offset, offset + caplen);
    ipAt = at + (seg.ipAt - offset);
  } else {
    buf.set(serverMac, at);
    buf.set(clientMac, at + 6);
    buf[at + 12] = seg.family === 4 ? 0x08 : 0x86;
    buf[at + 13] = seg.family === 4 ? 0x00 : 0xdd;
    copyBytes(buf, at + 14, data, seg.ipAt, seg.ipAt + ipLen);
    ipAt = at + 14;
  }
  const shift = ipAt - seg.ipAt;
  rewriteClientSegment(buf, seg.family, ipAt, seg.tcpAt + shift, seg.payloadAt + seg.payloadLen + shift, at + len, space);
  w.commitFrame(captureId, t, len, comment);
}
