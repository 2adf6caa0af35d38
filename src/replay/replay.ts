// bindlab replay as a library: a real capture's connection attempts delivered to a scenario's
// hosts under each policy. The scenario's steps before its first connect set up the sockets;
// every SYN (without ACK) to an address of a scenario host (after --map) is then decided by the
// policy at its captured time. Per policy, an output capture holds the captured client packets
// with the emulated server's answers (SYN-ACK or RST, banner, FIN), annotated like `run`'s.
// The capture is read once, streamed; memory stays bounded (connections are tracked in a capped
// table; the per-connection list of the report is kept only when asked for).

import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatEndpoint, makeIp, parseIp, type IpAddr } from '../emu/addr.js';
import { Run } from '../emu/engine.js';
import { policyResolver } from '../emu/policy/registry.js';
import { Publication, type PendingFile } from '../io/publish.js';
import { copyBytes } from '../emu/wire/copy.js';
import { CaptureFormatError, nextPacket, type CaptureReader } from '../pcap/capture-reader.js';
import { isStreamPath, openCaptureStream } from '../pcap/open-capture.js';
import { LINKTYPE_ETHERNET, SUPPORTED_LINK_TYPES } from '../pcap/linktypes.js';
import { PcapngWriter } from '../pcap/pcapng-writer.js';
import { packetComments, PcapngReader } from '../pcap/pcapng-reader.js';
import { policiesFor } from '../runner.js';
import type { Scenario } from '../scenario/types.js';
import { addrWord, ConnectionTable, tupleHash } from './connection-table.js';
import { rewriteClientSegment, type ServerSpace } from './client-rewrite.js';
import { ConnectionLog } from './connection-log.js';
import { SpoolWriter } from './spool.js';
import { isoTime, MAX_OUTPUT_SEC } from './time.js';
import { MAX_DISAGREEMENTS_LISTED, type Agreement, type ReplayAgreement } from './agreement.js';
import { ACCEPTED, BANNER_SENT, DECIDED, FIN_SENT, Interned, PENDING_ANSWER, PENDING_MAX, PENDING_SEGMENT, PolicyState } from './policy-state.js';
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
  /**
   * A capture that ends inside its last record (tcpdump killed, a full disk): false (the default)
   * replays the packets before the cut and reports it in `truncated`; true refuses the capture.
   */
  readonly strict?: boolean;
  /** Called now and then with the bytes read so far and the capture's size (NaN for a pipe). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Aborting stops the replay at the next check: outputs are removed, ReplayAborted is thrown. */
  readonly signal?: AbortSignal;
  /**
   * A directory (spool.ts's createSpool) to write each policy's connections into, as the JSON
   * report prints them, instead of the report's lists (left empty): memory stays bounded for any
   * capture. Read them back with readSpool or reportJson.
   */
  readonly spool?: string;
  /**
   * The outputs join this publication and are renamed into place by the caller's commit() (the
   * CLI publishes the captures and the HTML report together); else they are published together
   * when the replay ends.
   */
  readonly publication?: Publication;
  /**
   * Threads to share the policies among when writing outputs (1: this thread only). Default: one
   * per core, at most two, when the capture is 32 MiB or more; else 1. Outputs are the same bytes.
   */
  readonly jobs?: number;
  /** A capture with no connection attempt to a scenario host is a NothingReplayed error unless this is true. */
  readonly allowNothing?: boolean;
}

export interface ReplayConnection {
  readonly index: number;
  /** Captured time of the SYN, ISO 8601 UTC (µs, or ns when the capture has them). */
  readonly time: string;
  readonly client: string;
  /** The scenario address and port (after --map). */
  readonly server: string;
  /** The accepting socket, "refused" or "timeout" (a connect step's vocabulary, docs/report.md). */
  readonly result: string;
  /** The SO_REUSEPORT group the pick was made in, when there was a choice. */
  candidates?: readonly string[];
  /** What the capture shows the real server did: the banner's socket name, "accepted", "refused"; absent when it shows nothing. */
  observed?: string;
  /** Whether the policy's result agrees with what the capture shows (agreement.ts), and why. */
  agreement?: Agreement;
}

export interface ReplayPolicyReport {
  connections: ReplayConnection[];
  /** Connections per result (socket name, refused, timeout, unreachable). */
  results: Record<string, number>;
  /** How many connections agree with what the capture shows, how many do not, and the first of those. */
  agreement: ReplayAgreement;
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
  /** Where the capture ends inside its last record, when it does (see ReplayOptions.strict): the packets before it were replayed. */
  readonly truncated?: { readonly offset: number; readonly message: string };
}

/** The replay's input does not fit the scenario (a --map target no host owns): nothing was written. */
export class ReplayInputError extends Error {
  override readonly name = 'ReplayInputError';
}

/** SYNs to an address and port that no scenario host has, and how many (the most frequent first). */
export interface UnmatchedDestination { readonly destination: string; readonly syns: number }

/** Not one connection attempt in the capture went to a scenario host: nothing was written. */
export class NothingReplayed extends Error {
  override readonly name = 'NothingReplayed';
  constructor(readonly capture: string, readonly packets: number, readonly destinations: readonly UnmatchedDestination[]) {
    const seen = destinations.length
      ? `; the capture's SYNs went to ${destinations.map((d) => `${d.destination} (${d.syns})`).join(', ')}: map one onto a scenario address with --map ${destinations[0]!.destination.replace(/^\[?(.*?)\]?:\d+$/, '$1')}=ADDRESS`
      : '; it holds no TCP SYN at all';
    super(`${capture}: nothing replayed: none of its ${packets} packets is a connection attempt to an address of a scenario host${seen}`);
  }
}

export { isoTime, MAX_OUTPUT_SEC };

export class ReplayAborted extends Error {
  override readonly name = 'ReplayAborted';
  constructor() { super('replay interrupted; no output written'); }
}

/** OUT/<capture-stem>.<policy>.pcapng (x.pcap.gz's stem is x; standard input's, "-", is stdin). */
export function replayOutputPath(outDir: string, capture: string, policy: string): string {
  const name = capture === '-' ? 'stdin' : basename(capture).replace(/\.gz$/i, '');
  return join(outDir, `${basename(name, extname(name))}.${policy}.pcapng`);
}

/**
 * Connections tracked at once (their state is ~100 bytes plus ~30 per policy, in typed arrays):
 * past it the oldest goes, its later packets counted as not in a replayed connection (the
 * decision was made at its SYN). Bounds memory on a SYN flood or a port scan: 1M half-open
 * connections replayed under nine policies in two threads peak at 131 MiB.
 */
const MAX_TRACKED = 32768;
/** Distinct unmatched destinations counted for NothingReplayed's hint. */
const UNMATCHED_KEPT = 4096;
/** Packets between checks of the abort signal, progress reports and yields to the event loop. */
const CHECK_EVERY = 16384;
/** The client MAC of frames whose link type has none. */
const NO_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xfe);
const TCP_FIN = 1, TCP_SYN = 2, TCP_RST = 4, TCP_PSH = 8, TCP_ACK = 16;
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
const keyOf = (a: IpAddr): number | string => addrKey(a.bytes, 0, a.family);


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
  return replayInProcess(capture, scenario, policyNames, options);
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
  // Each worker reads the capture itself: standard input or a FIFO can be read once only.
  if (policies < 2 || !workerAvailable() || isStreamPath(capture)) return 1;
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
 * replayCapture in this thread for the given policies. With `pending` (a worker of a parallel
 * replay), each policy's output is written into the pending file the main thread created for it,
 * which the main thread renames or removes; else the outputs are published together at the end
 * (by options.publication's owner when given).
 */
export async function replayInProcess(capture: string, scenario: Scenario, policyNames: readonly string[], options: ReplayOptions,
  pending?: ReadonlyMap<string, PendingFile>): Promise<ReplayReport> {
  const keep = options.keepConnections ?? true;
  const firstConnect = scenario.steps.findIndex((s) => s.kind === 'connect');
  const setupEnd = firstConnect < 0 ? scenario.steps.length : firstConnect;
  const reader = await openCaptureStream(capture, { linkTypes: SUPPORTED_LINK_TYPES, truncatedEnd: options.strict ? 'error' : 'stop' });
  const writers: PcapngWriter[] = [];
  const publication = options.outDir && !pending ? options.publication ?? new Publication() : null;
  let done = false;
  try {
    // Wall-clock base of the outputs: the capture's first second (a float64 holds 104 days of ns).
    // (A stream's first packet may have to be waited for.)
    const hasFirst = await nextPacket(reader);
    const baseSec = hasFirst ? reader.tsSec : 0;
    const runs: Run[] = [];
    const sinks: (PcapngWriter | undefined)[] = [];
    // Built-in policies and the scenario's own (as in runScenario).
    const resolve = policyResolver(scenario.customPolicies);
    for (const name of policyNames) {
      const target = pending?.get(name);
      const writerOpts = { startEpochSeconds: Math.max(0, baseSec), tsresol: 'ns' as const, application: 'bindlab replay' };
      const w = target ? new PcapngWriter({ pending: target }, writerOpts)
        : publication && options.outDir ? new PcapngWriter({ publication, path: replayOutputPath(options.outDir, capture, name) }, writerOpts) : undefined;
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
      // A target nobody owns would replay nothing for that address, silently: refused up front.
      if (runs.length > 0 && !runs[0]!.replayOwner(to)) {
        throw new ReplayInputError(`--map ${from}=${to.text}: no host of ${scenario.file} has ${to.text} (after its setup steps); its addresses: ${known.map((a) => a.text).join(', ')}`);
      }
      if (f) hostAddrs.set(keyOf(f), to);
    }
    const reports: ReplayPolicyReport[] = policyNames.map(() => ({ connections: [], results: {}, agreement: { agree: 0, disagree: 0, disagreements: [] } }));
    const spoolWriters = keep && options.spool ? policyNames.map((name) => new SpoolWriter(options.spool!, name)) : null;
    const replayer = new Replayer(reader, policyNames, runs, sinks, reports, hostAddrs, keep, baseSec, spoolWriters, options.outDir ? MAX_OUTPUT_SEC : Infinity);
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
      options.onProgress?.(reader.sourcePosition, reader.sourceSize);
      await new Promise<void>((r) => setImmediate(r));
      if (options.signal?.aborted) throw new ReplayAborted();
    }
    replayer.finish();
    if (spoolWriters) for (const w of spoolWriters) w.close();
    const { packets, attempts, replaced } = replayer;
    if (attempts === 0 && !options.allowNothing) throw new NothingReplayed(capture, packets, replayer.topDestinations());
    const skipped = replayer.skips();
    options.onProgress?.(reader.sourcePosition, reader.sourcePosition);
    const policies: Record<string, ReplayPolicyReport> = {};
    policyNames.forEach((name, p) => {
      reports[p]!.results = replayer.results(p);
      reports[p]!.agreement = replayer.agreement(p);
      const w = writers[p];
      if (w) {
        w.finish();
        reports[p]!.output = w.finalPath;
      }
      policies[name] = reports[p]!;
    });
    const cut = reader.truncation;
    // Every policy's output is whole: all of them into place at once (or by the caller, with its other outputs).
    if (publication && !options.publication) publication.commit();
    done = true;
    return { capture, scenario: scenario.name, file: scenario.file, packets, attempts, skipped, replaced, policies,
      ...(cut ? { truncated: { offset: cut.offset, message: cut.message } } : {}) };
  } finally {
    if (!done) {
      for (const w of writers) w.abort();
      publication?.abort();
    }
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
  /** The report's list of connections, when kept (connection-log.ts). */
  readonly log: ConnectionLog | null;
  private readonly wireAddrs = new Interned<number | string, IpAddr>(MAX_TRACKED);
  private readonly macs = new Interned<string, Uint8Array>(4096);
  private lastMac: Uint8Array = NO_MAC;
  /** Whether any policy writes an output. */
  private readonly outputs: boolean;
  /** Each scenario address a replayed SYN can go to, numbered (for PolicyState.byDestination). */
  private readonly dstIndex = new Map<IpAddr, number>();
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
  /** Scratch of flush(): the due entries and their times. */
  private readonly due = new Int32Array(PENDING_MAX);
  private readonly dueTime = new Float64Array(PENDING_MAX);

  constructor(private readonly reader: CaptureReader, names: readonly string[], private readonly runs: readonly Run[], private readonly sinks: readonly (PcapngWriter | undefined)[],
    private readonly reports: readonly ReplayPolicyReport[], private readonly hostAddrs: ReadonlyMap<number | string, IpAddr>,
    private readonly keep: boolean, private readonly baseSec: number, spool: readonly SpoolWriter[] | null, private readonly maxSec: number) {
    this.policies = names.map((name) => new PolicyState(name, MAX_TRACKED));
    this.log = keep ? new ConnectionLog(MAX_TRACKED, names.length, (id, p) => this.policies[p]!.decisions[id]!, reports, spool) : null;
    this.outputs = sinks.some((w) => w !== undefined);
    for (const a of hostAddrs.values()) {
      if (this.dstIndex.has(a)) continue;
      this.dstIndex.set(a, this.dstIndex.size);
      this.dstAddrs.push(a);
    }
    this.rtt = new Float64Array(this.dstIndex.size).fill(-1);
    this.ng = reader instanceof PcapngReader ? reader : null;
  }

  /**
   * Before a packet of the connection in slot (-1: none) at capture time t goes into policy p's
   * output: writes the emulated server's packets due by then (flush) and returns the packet's
   * time in the output, never before the last one written (a capture slightly out of order stays
   * in order in the output).
   */
  private stamp(p: number, t: number, slot: number): number {
    const ps = this.policies[p]!;
    if (ps.pendingCount > 0 && (ps.pendingMin <= t || (slot >= 0 && ps.slotPending[slot] !== 0))) this.flush(p, t, slot, false);
    const at = t > ps.lastTime ? t : ps.lastTime;
    ps.lastTime = at;
    return at;
  }

  /**
   * Writes policy p's pending packets due by time t, in time order: those of the connection in
   * slot whatever their time (just before t: they come before the client packet at t that follows
   * them), and with all every one (at t at the latest).
   */
  private flush(p: number, t: number, slot: number, all: boolean): void {
    const ps = this.policies[p]!;
    const due = this.due, dueTime = this.dueTime, pTime = ps.pTime, pSlot = ps.pSlot;
    const n = ps.pendingCount;
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
      this.writePending(p, due[j]!, at);
      pSlot[due[j]!] = -1; // written
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

  /** Policy p's pending entry i into its output at time at. */
  private writePending(p: number, i: number, at: number): void {
    const ps = this.policies[p]!;
    const slot = ps.pSlot[i]!;
    ps.slotPending[slot]--;
    const syn = ps.load(slot);
    const run = this.runs[p]!;
    const tracked = this.tracked;
    if (ps.pKind[i] === PENDING_ANSWER) {
      // The answer's record carries the verdict on what the capture has shown so far (the real
      // server's own SYN-ACK or RST, normally: the answer is timed by it); none when it has shown nothing yet.
      const oid = this.observed[slot]!;
      if (oid >= 0) syn.record = ps.recordWithVerdict(ps.decision[slot]!, oid, this.observedNames[oid]!).record;
      run.replayAnswer(syn, at, this.clientMac[slot]!, this.src[slot]!, tracked.clientPort(slot), this.wireDst[slot]!, tracked.serverPort(slot),
        ps.pSeq[i]! >>> 0, ps.pTsecr[i]! >>> 0);
      return;
    }
    const flags = ps.pFlags[i]!;
    const banner = (flags & TCP_PSH) !== 0;
    const payload = banner ? syn.banner : EMPTY;
    // The banner says the verdict again, with what the capture has shown by then (its own banner names the socket, when it has one).
    const oid = banner ? this.observed[slot]! : -1;
    const verdict = oid >= 0 ? ps.recordWithVerdict(ps.decision[slot]!, oid, this.observedNames[oid]!) : null;
    const tsval = run.replayServerSegment(syn, at, this.clientMac[slot]!, this.src[slot]!, tracked.clientPort(slot), this.wireDst[slot]!,
      tracked.serverPort(slot), ps.pSeq[i]! >>> 0, ps.pAck[i]! >>> 0, flags, payload, ps.pTsecr[i]! >>> 0, verdict?.comment, verdict?.record);
    ps.emuTsval[slot] = tsval | 0;
  }

  /** Queues an emulated server packet of slot under policy p, making room first when the queue is full. */
  private enqueue(p: number, slot: number, kind: number, time: number, seq: number, ack: number, flags: number, tsecr: number): void {
    const ps = this.policies[p]!;
    if (ps.pendingCount === PENDING_MAX) this.flush(p, this.time(), -1, true);
    ps.enqueue(slot, kind, time, seq, ack, flags, tsecr);
  }

  /** Stops tracking the connection in slot (-1: none), its pending packets written first (the slot's state is about to be reused). */
  private release(slot: number): void {
    if (slot < 0) return;
    for (let p = 0; p < this.policies.length; p++) {
      if (this.policies[p]!.slotPending[slot] !== 0) this.flush(p, this.time(), slot, false);
    }
    this.judge(slot);
    this.tracked.delete(slot);
  }

  /** At the end of the capture: every pending packet, at its own time, and the verdicts on the connections still tracked. */
  finish(): void {
    for (let p = 0; p < this.policies.length; p++) if (this.policies[p]!.pendingCount > 0) this.flush(p, Infinity, -1, false);
    for (const slot of this.tracked.slots()) this.judge(slot);
    this.log?.finish(this.attempts);
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
      if ((seg.flags & (TCP_SYN | TCP_RST)) !== 0 && this.realAnswered[found] === 0) this.realAnswer(found);
      // What the real server did: the verdict of each policy when the connection ends.
      this.observe(found, seg.flags, data, seg.payloadAt, seg.payloadCaptured);
      // The real server's RST ends the connection: it leaves the table now, not when it is the oldest.
      if ((seg.flags & TCP_RST) !== 0) this.release(found);
    } else {
      this.skipped[this.hostAddrs.has(addrKey(data, seg.dstAt, fam as 4 | 6)) || this.hostAddrs.has(addrKey(data, seg.srcAt, fam as 4 | 6)) ? 'not-in-a-replayed-connection' : 'not-to-a-scenario-host']++;
    }
  }

  /** The packet's time in ns from the capture's first second. */
  private time(): number {
    const reader = this.reader;
    if (reader.tsSec > this.maxSec) this.tooLate();
    // (s + 0.5) * 1e9 - 5e8 is s * 1e9 exactly (below 2^53), computed in doubles from the first
    // packet on: s * 1e9 in small integers would overflow a few seconds in and deoptimize.
    return Math.max(0, (reader.tsSec - this.baseSec + 0.5) * 1e9 - 5e8 + reader.tsNsec);
  }

  /** A packet later than an output capture's nanosecond timestamps can say (2554-07-21T23:34:32Z). */
  private tooLate(): never {
    const r = this.reader;
    throw new CaptureFormatError(r.file, r.position, `packet time ${isoTime(r.tsSec, r.tsNsec)} is past ${isoTime(MAX_OUTPUT_SEC, 0)}, the latest a nanosecond pcapng timestamp can hold; replay with --no-output`);
  }

  /** A SYN without ACK (not a retransmission of a tracked one): every policy decides it, when it is to a scenario host. */
  private attempt(f: 4 | 6, old: number, srcWord: number, dstWord: number, hash: number): void {
    const { reader, runs, sinks, reports, keep, seg, tracked, policies } = this;
    const data = reader.data;
    const dstKey = addrKey(data, seg.dstAt, f);
    const dst = this.hostAddrs.get(dstKey);
    if (!dst) {
      this.skipped['not-to-a-scenario-host']++;
      this.unmatched(dstKey, seg.dstPort);
      return;
    }
    const P = runs.length;
    const t = this.time();
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
    const di = this.dstIndex.get(dst)!;
    this.dstOf[slot] = di;
    this.realAnswered[slot] = 0;
    // The emulated answer comes as long after the SYN as the capture's real server answered the last one (else one link latency).
    const rtt = this.rtt[di]!;
    const log = this.log;
    // The connection MAX_TRACKED older than this one has left the table (judged): its entries are final.
    log?.add(index, slot, reader.tsSec, reader.tsNsec, src!, seg.srcPort, dst, seg.dstPort);
    const dkey = di * 65536 + seg.dstPort;
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
        // The client's SYN goes first, with the decision's comment (as in `run`'s captures), then the answer when it is due.
        const at = this.stamp(p, t, slot);
        writeClientPacket(w, syn.captureId, at, data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, syn.serverMac, syn.comment, syn.record, null, this.inputComments());
        if (d.result !== 'timeout' && d.result !== 'unreachable') {
          this.enqueue(p, slot, PENDING_ANSWER, at + (rtt >= 0 ? rtt : syn.latencyNs), seg.seq, 0, 0, segmentTsval(data, seg));
        }
      }
      log?.decide(index, p, id);
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
    let fromAt = -1, fromFlushes = 0, fromTime = -1;
    const t = this.time();
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
          writeClientPacket(w, d.captureId, this.stamp(p, this.time(), slot), data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, d.serverMac, d.comment, d.record, null,
            this.inputComments());
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
          writeClientPacket(w, d.captureId, at, data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, d.serverMac,
            shared ? undefined : d.comment, shared ? undefined : d.record, space, this.inputComments());
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
        if (w) this.serverSegment(p, slot, t, TCP_PSH | TCP_ACK);
        ps.emuNext[slot] = (ps.emuNext[slot]! + banner.length) | 0;
      }
      if ((flags & TCP_FIN) !== 0 && (ps.flags[slot]! & FIN_SENT) === 0) {
        ps.flags[slot] |= FIN_SENT;
        if (w) this.serverSegment(p, slot, t, TCP_FIN | TCP_ACK);
        ps.emuNext[slot] = (ps.emuNext[slot]! + 1) | 0;
      } else if ((ps.flags[slot]! & FIN_SENT) !== 0 && (flags & TCP_FIN) === 0 && seg.payloadLen === 0) {
        done = true; // the client's last ACK
      }
    }
    if (done) this.release(slot);
  }

  /** Queues the emulated server's next segment (banner or FIN) on the connection in slot under policy p, one link latency after the client's packet at t. */
  private serverSegment(p: number, slot: number, t: number, flags: number): void {
    const ps = this.policies[p]!;
    const latency = ps.decisions[ps.decision[slot]!]!.latencyNs;
    this.enqueue(p, slot, PENDING_SEGMENT, t + latency, ps.emuNext[slot]!, this.cNext[slot]!, flags, segmentTsval(this.reader.data, this.seg));
  }

  /** The real server's SYN-ACK or RST for the connection in slot: its delay is the capture's RTT to that server, and the emulated answer's time when still pending. */
  private realAnswer(slot: number): void {
    this.realAnswered[slot] = 1;
    const t = this.time();
    this.rtt[this.dstOf[slot]!] = t - this.synTime[slot]!;
    for (const ps of this.policies) ps.retime(slot, t);
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
  seg: CapturedSegment, clientMac: Uint8Array, serverMac: Uint8Array, comment: string | undefined, record: string | undefined,
  space: ServerSpace | null, inputs: readonly string[] | null): void {
  const ether = linkType === LINKTYPE_ETHERNET;
  const ipLen = offset + caplen - seg.ipAt;
  const len = ether ? caplen : 14 + ipLen;
  // The input packet's own comments come first, the decision and its record after them (room for all of them).
  const at = inputs ? w.reserveFrame(len + 8 * (inputs.length + 2), inputs.join('') + (comment ?? '') + (record ?? '')) : w.reserveFrame(len, comment, record);
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
  if (!inputs) {
    w.commitFrame(captureId, t, len, comment, record);
    return;
  }
  w.commitFrame(captureId, t, len, inputs[0]);
  for (let i = 1; i < inputs.length; i++) w.appendComment(inputs[i]!);
  if (comment !== undefined) w.appendComment(comment);
  if (record !== undefined) w.appendComment(record);
}
