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
import { parseIp, type IpAddr } from '../emu/addr.js';
import { Run } from '../emu/engine.js';
import { policyResolver } from '../emu/policy/registry.js';
import { Publication, type PendingFile } from '../io/publish.js';
import { nextPacket } from '../pcap/capture-reader.js';
import { isStreamPath, openCaptureStream } from '../pcap/open-capture.js';
import { SUPPORTED_LINK_TYPES } from '../pcap/linktypes.js';
import { PcapngWriter } from '../pcap/pcapng-writer.js';
import { policiesFor } from '../runner.js';
import type { Scenario } from '../scenario/types.js';
import type { Agreement, ReplayAgreement } from './agreement.js';
import type { SkipReason } from './segment.js';
import { datagramSpoolKey, SpoolWriter } from './spool.js';
import { isoTime, MAX_OUTPUT_SEC } from './time.js';
import { keyOf, Replayer } from './replayer.js';
import { DatagramReplayer } from './datagram-replayer.js';
import { MAX_DISAGREEMENTS_LISTED } from './agreement.js';

/** A policy's verdicts on connections and on datagrams, together (connections' disagreements listed first). */
function mergeAgreement(tcp: ReplayAgreement, udp: ReplayAgreement): ReplayAgreement {
  if (udp.agree + udp.disagree === 0) return tcp;
  return {
    agree: tcp.agree + udp.agree, disagree: tcp.disagree + udp.disagree,
    disagreements: [...tcp.disagreements, ...udp.disagreements].slice(0, MAX_DISAGREEMENTS_LISTED),
  };
}

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

/** A UDP datagram of the capture delivered to a scenario host under one policy. */
export interface ReplayDatagram {
  readonly index: number;
  /** Captured time of the datagram, ISO 8601 UTC. */
  readonly time: string;
  readonly client: string;
  /** The scenario address and port (after --map). */
  readonly server: string;
  /**
   * The receiving socket; `a+b` when each got a copy; `port-unreachable`, `dropped`,
   * `unreachable`, or `unsupported` (UDP not modelled under the policy).
   */
  readonly result: string;
  /** The SO_REUSEPORT group the pick was made in, when there was a choice. */
  candidates?: readonly string[];
  /** Where the receiver's reply leaves from under the policy (its bound address, or the route's source). */
  replyFrom?: string;
  /** What the capture shows: the socket the answer names, "received", "port-unreachable"; absent when nothing came back. */
  observed?: string;
  /** Where the capture's answer came from (ADDR:PORT; an ICMP's sender address alone). */
  answeredFrom?: string;
  /** Whether the policy's result agrees with what the capture shows, and why (absent for `unsupported`). */
  agreement?: Agreement;
}

export interface ReplayPolicyReport {
  connections: ReplayConnection[];
  /** Connections per result (socket name, refused, timeout, unreachable). */
  results: Record<string, number>;
  /** UDP datagrams delivered, one entry each (when connections are kept). */
  datagrams: ReplayDatagram[];
  /** Datagrams per result. */
  datagramResults: Record<string, number>;
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
  /** UDP datagrams delivered to scenario hosts. */
  readonly datagrams: number;
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
  constructor(readonly capture: string, readonly packets: number, readonly destinations: readonly UnmatchedDestination[],
    /** Where its UDP datagrams went (`syns` counts datagrams), the most frequent first. */
    readonly datagramDestinations: readonly UnmatchedDestination[] = []) {
    const first = destinations[0] ?? datagramDestinations[0];
    const seen = first
      ? `${destinations.length ? `; the capture's SYNs went to ${destinations.map((d) => `${d.destination} (${d.syns})`).join(', ')}` : ''}${datagramDestinations.length
        ? `; its UDP datagrams went to ${datagramDestinations.map((d) => `${d.destination} (${d.syns})`).join(', ')}` : ''}: map one onto a scenario address with --map ${first.destination.replace(/^\[?(.*?)\]?:\d+$/, '$1')}=ADDRESS`
      : '; it holds no TCP SYN at all, and no UDP datagram';
    super(`${capture}: nothing replayed: none of its ${packets} packets is a connection attempt (or UDP datagram) to an address of a scenario host${seen}`);
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

/** Packets between checks of the abort signal, progress reports and yields to the event loop. */
const CHECK_EVERY = 16384;

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

/**
 * The worker script exists only as compiled JavaScript (under vitest this module is TypeScript;
 * bundled, it is dist/bin/cli.cjs beside dist/bin/worker.js): else one thread.
 */
export const WORKER_URL = new URL('./worker.js', import.meta.url);
let workerChecked: boolean | undefined;
function workerAvailable(): boolean {
  return (workerChecked ??= /\.c?js$/.test(import.meta.url) && existsSync(fileURLToPath(WORKER_URL)));
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
  // The setup ends at the first step that sends traffic (a connect or a datagram step).
  const firstConnect = scenario.steps.findIndex((s) => s.kind === 'connect' || (s.kind as string) === 'datagram');
  const setupEnd = firstConnect < 0 ? scenario.steps.length : firstConnect;
  // With outputs, the capture is read into the WebAssembly memory, where they are built (wasm/packets.ts).
  const reader = await openCaptureStream(capture, { linkTypes: SUPPORTED_LINK_TYPES, truncatedEnd: options.strict ? 'error' : 'stop',
    inWasmMemory: Boolean(options.outDir) || pending !== undefined });
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
    const reports: ReplayPolicyReport[] = policyNames.map(() => ({
      connections: [], results: {}, datagrams: [], datagramResults: {}, agreement: { agree: 0, disagree: 0, disagreements: [] },
    }));
    const spoolWriters = keep && options.spool ? policyNames.map((name) => new SpoolWriter(options.spool!, name)) : null;
    const datagramSpool = keep && options.spool ? policyNames.map((name) => new SpoolWriter(options.spool!, datagramSpoolKey(name))) : null;
    const udp = new DatagramReplayer(reader, policyNames, runs, sinks, reports, hostAddrs, keep, datagramSpool);
    const replayer = new Replayer(reader, policyNames, runs, sinks, reports, hostAddrs, keep, baseSec, spoolWriters, options.outDir ? MAX_OUTPUT_SEC : Infinity, udp);
    // With outputs, the file's next megabyte is read on the thread pool while this thread replays
    // the last. Deciding only, this thread's work per megabyte is small: reading in turn costs less
    // CPU than handing reads to another thread and back (10M packets: 0.96 -> 0.89 s of CPU), and no
    // more time when no core is idle (0.97 -> 0.92 s on a shared 2-core machine).
    if (options.outDir) reader.readAhead();
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
    if (datagramSpool) for (const w of datagramSpool) w.close();
    const { packets, attempts, replaced } = replayer;
    const datagrams = udp.delivered;
    if (attempts === 0 && datagrams === 0 && !options.allowNothing) throw new NothingReplayed(capture, packets, replayer.topDestinations(), udp.topDestinations());
    const skipped = replayer.skips();
    options.onProgress?.(reader.sourcePosition, reader.sourcePosition);
    const policies: Record<string, ReplayPolicyReport> = {};
    policyNames.forEach((name, p) => {
      reports[p]!.results = replayer.results(p);
      reports[p]!.datagramResults = udp.results(p);
      reports[p]!.agreement = mergeAgreement(replayer.agreement(p), udp.agreement(p));
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
    return { capture, scenario: scenario.name, file: scenario.file, packets, attempts, datagrams, skipped, replaced, policies,
      ...(cut ? { truncated: { offset: cut.offset, message: cut.message } } : {}) };
  } finally {
    if (!done) {
      for (const w of writers) w.abort();
      publication?.abort();
    }
    reader.close();
  }
}
