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
import type { CaptureReader } from '../pcap/capture-reader.js';
import { openCapture } from '../pcap/open-capture.js';
import { LINKTYPE_ETHERNET, SUPPORTED_LINK_TYPES } from '../pcap/linktypes.js';
import { PcapngWriter } from '../pcap/pcapng-writer.js';
import { policiesFor } from '../runner.js';
import type { Scenario } from '../scenario/types.js';
import { addrWord, ConnectionTable, tupleHash, type TupleEntry } from './connection-table.js';
import { rewriteClientSegment, type ServerSpace } from './client-rewrite.js';
import { decodeSegment, newSegment, segmentTsval, type CapturedSegment, type SkipReason } from './segment.js';

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
  readonly results: Record<string, number>;
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

/** Tracked connections: enough for any real capture's concurrent handshakes; the oldest go first. */
const MAX_TRACKED = 65536;
/** Packets between checks of the abort signal, progress reports and yields to the event loop. */
const CHECK_EVERY = 16384;
/** The client MAC of frames whose link type has none. */
const NO_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0xfe);
const TCP_FIN = 1, TCP_SYN = 2, TCP_RST = 4, TCP_PSH = 8, TCP_ACK = 16;
const BANNER_PREFIX = [0x62, 0x69, 0x6e, 0x64, 0x6c, 0x61, 0x62, 0x20]; // "bindlab "

/** One policy's side of a replayed connection: its decision and, when accepted, the emulated server's state. */
class PolicyConn implements ServerSpace {
  /** Filled by Run.replaySyn; false when the policy has no host for the address. */
  decided = false;
  readonly syn: ReplayedSyn = newReplayedSyn();
  accepted = false;
  bannerSent = false;
  finSent = false;
  realIsn = 0;
  emuIsn = 0;
  emuNext = 0;
  emuTsval = 0;
}

/** A replayed connection. Reused: a finished one goes back to a pool for the next SYN. */
class Tracked implements TupleEntry {
  family = 0;
  /** src.bytes and wireDst.bytes: what the table matches packets against. */
  cAddr: Uint8Array = NO_MAC;
  cPort = 0;
  sAddr: Uint8Array = NO_MAC;
  sPort = 0;
  cWord = 0;
  sWord = 0;
  hash = 0;
  older: TupleEntry | null = null;
  newer: TupleEntry | null = null;
  readonly clientMac = new Uint8Array(6);
  src: IpAddr = IPV4_NONE;
  /** The address the client used (before --map). */
  wireDst: IpAddr = IPV4_NONE;
  clientIsn = 0;
  /** The client's next sequence number: the highest it has sent, which the emulated server acknowledges. */
  cNext = 0;
  /** The real server's ISN, once its SYN-ACK (or the client's first ACK) shows it. */
  realIsn = 0;
  realIsnKnown = false;
  /** Per policy, in the order of the replay's policies. */
  readonly perPolicy: PolicyConn[];
  /** Per policy: the report entry, when kept. */
  entries: ReplayConnection[] | null = null;
  observed: string | undefined = undefined;

  constructor(policies: number) {
    this.perPolicy = Array.from({ length: policies }, () => new PolicyConn());
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
    let more = hasFirst;
    while (more) {
      // A batch of packets synchronously (an async function's loop measured 35% slower), then the checks and a yield.
      more = replayer.replay(CHECK_EVERY);
      if (!more) break;
      if (options.signal?.aborted) throw new ReplayAborted();
      options.onProgress?.(reader.position, reader.size);
      await new Promise<void>((r) => setImmediate(r));
      if (options.signal?.aborted) throw new ReplayAborted();
    }
    const { packets, attempts, replaced, skipped } = replayer;
    options.onProgress?.(reader.size, reader.size);
    const policies: Record<string, ReplayPolicyReport> = {};
    policyNames.forEach((name, p) => {
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
 * so the hot loop is a plain method rather than an async function's.
 */
class Replayer {
  packets = 0;
  attempts = 0;
  replaced = 0;
  readonly skipped = emptySkips();
  private readonly seg = newSegment();
  private readonly pool: Tracked[] = [];
  private readonly tracked = new ConnectionTable<Tracked>(MAX_TRACKED, (c) => this.recycle(c));
  /** Captured addresses as IpAddr, made once per distinct address. */
  private readonly wireAddrs = new Map<number | string, IpAddr>();

  constructor(private readonly reader: CaptureReader, private readonly runs: readonly Run[], private readonly sinks: readonly (PcapngWriter | undefined)[],
    private readonly reports: readonly ReplayPolicyReport[], private readonly hostAddrs: ReadonlyMap<number | string, IpAddr>,
    private readonly keep: boolean, private readonly baseSec: number) {}

  private recycle(c: Tracked): void {
    if (this.pool.length < 4096) this.pool.push(c);
  }

  private wireAddr(buf: Uint8Array, at: number, fam: 4 | 6, key: number | string): IpAddr {
    let a = this.wireAddrs.get(key);
    if (!a) {
      a = makeIp(fam, buf.slice(at, at + (fam === 4 ? 4 : 16)));
      if (this.wireAddrs.size > MAX_TRACKED) this.wireAddrs.clear();
      this.wireAddrs.set(key, a);
    }
    return a;
  }

  /** Replays the reader's current packet and up to limit - 1 more; false once the capture has ended. */
  replay(limit: number): boolean {
    for (let n = 0; n < limit; n++) {
      this.packet();
      if (!this.reader.next()) return false;
    }
    return true;
  }

  /** One packet: decoded, matched against the tracked connections, and handed to the path for its kind. */
  private packet(): void {
    const reader = this.reader;
    const seg = this.seg;
    this.packets++;
    const data = reader.data;
    const fam = decodeSegment(reader.linkType, data, reader.offset, reader.offset + reader.caplen, seg);
    if (fam === 0) {
      this.skipped[seg.skip!]++;
      return;
    }
    const addrLen = fam === 4 ? 4 : 16;
    const srcWord = addrWord(data, seg.srcAt, addrLen);
    const dstWord = addrWord(data, seg.dstAt, addrLen);
    const hash = tupleHash(srcWord, seg.srcPort, dstWord, seg.dstPort);
    const tracked = this.tracked;
    const found = tracked.find(data, seg.srcAt, srcWord, seg.srcPort, seg.dstAt, dstWord, seg.dstPort, fam, hash);
    const conn = found !== undefined && !tracked.reversed ? found : undefined;
    if ((seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && (conn === undefined || conn.clientIsn !== seg.seq)) {
      this.attempt(fam as 4 | 6, conn, srcWord, dstWord, hash);
    } else if (conn !== undefined) {
      this.clientPacket(conn);
    } else if (found !== undefined) {
      // The real server's packet: replaced by the emulation; it says what the kernel did.
      this.replaced++;
      if ((seg.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK)) { found.realIsn = seg.seq; found.realIsnKnown = true; }
      observe(found, seg.flags, data, seg.payloadAt, seg.payloadCaptured);
    } else {
      this.skipped[this.hostAddrs.has(addrKey(data, seg.dstAt, fam as 4 | 6)) || this.hostAddrs.has(addrKey(data, seg.srcAt, fam as 4 | 6)) ? 'not-in-a-replayed-connection' : 'not-to-a-scenario-host']++;
    }
  }

  /** The packet's time in ns from the capture's first second. */
  private time(): number {
    const reader = this.reader;
    return Math.max(0, (reader.tsSec - this.baseSec) * 1e9 + reader.tsNsec);
  }

  /** A SYN without ACK (not a retransmission of a tracked one): every policy decides it, when it is to a scenario host. */
  private attempt(f: 4 | 6, old: Tracked | undefined, srcWord: number, dstWord: number, hash: number): void {
    const { reader, runs, sinks, reports, keep, seg, tracked, pool } = this;
    const data = reader.data;
    const dstKey = addrKey(data, seg.dstAt, f);
    const dst = this.hostAddrs.get(dstKey);
    if (!dst) {
      this.skipped['not-to-a-scenario-host']++;
      return;
    }
    const P = runs.length;
    const t = this.time();
    if (old) { tracked.delete(old); this.recycle(old); }
    const src = this.wireAddr(data, seg.srcAt, f, addrKey(data, seg.srcAt, f));
    const wireDst = this.wireAddr(data, seg.dstAt, f, dstKey);
    const index = this.attempts++;
    const conn = pool.pop() ?? new Tracked(P);
    const clientMac = conn.clientMac;
    if (seg.macAt >= 0) for (let i = 0; i < 6; i++) clientMac[i] = data[seg.macAt + i]!;
    else clientMac.set(NO_MAC);
    conn.family = f; conn.cAddr = src.bytes; conn.cPort = seg.srcPort; conn.sAddr = wireDst.bytes; conn.sPort = seg.dstPort; conn.cWord = srcWord; conn.sWord = dstWord; conn.hash = hash;
    conn.src = src; conn.wireDst = wireDst; conn.clientIsn = seg.seq; conn.cNext = (seg.seq + 1 + seg.payloadLen) >>> 0;
    conn.realIsn = 0; conn.realIsnKnown = false; conn.entries = keep ? [] : null; conn.observed = undefined;
    const time = keep ? isoTime(reader.tsSec, reader.tsNsec) : '';
    for (let p = 0; p < P; p++) {
      const run = runs[p]!;
      const pc = conn.perPolicy[p]!;
      const syn = pc.syn;
      pc.decided = run.replaySyn(t, src, seg.srcPort, dst, seg.dstPort, syn);
      if (!pc.decided) continue;
      pc.accepted = syn.result !== 'refused' && syn.result !== 'timeout';
      pc.bannerSent = false; pc.finSent = false;
      pc.realIsn = 0; pc.emuIsn = syn.serverIsn; pc.emuNext = (syn.serverIsn + 1) >>> 0; pc.emuTsval = syn.serverTsval;
      // The client's SYN goes first, with the decision's comment (as in `run`'s captures), then the answer.
      const w = sinks[p];
      if (w) {
        writeClientPacket(w, syn.captureId, t, data, reader.offset, reader.caplen, reader.linkType, seg, clientMac, syn.serverMac, syn.comment, null);
        run.replayAnswer(syn, clientMac, src, seg.srcPort, wireDst, seg.dstPort, seg.seq, segmentTsval(data, seg));
      }
      const rep = reports[p]!;
      rep.results[syn.result] = (rep.results[syn.result] ?? 0) + 1;
      if (keep) {
        const entry: ReplayConnection = { index, time, client: formatEndpoint({ addr: src, port: seg.srcPort }), server: formatEndpoint({ addr: dst, port: seg.dstPort }), result: syn.result };
        if (syn.candidates.length > 1) entry.candidates = syn.candidates;
        rep.connections.push(entry);
        conn.entries!.push(entry);
      }
    }
    tracked.add(conn);
  }

  /** The client's next packet in a replayed connection: kept where the emulated server accepted, answered by it. */
  private clientPacket(conn: Tracked): void {
    const { reader, runs, sinks, seg } = this;
    const data = reader.data;
    const flags = seg.flags;
    const P = runs.length;
    let done = false;
    const cEnd = (seg.seq + seg.payloadLen + ((flags & TCP_FIN) !== 0 ? 1 : 0)) >>> 0;
    if (((cEnd - conn.cNext) | 0) > 0) conn.cNext = cEnd;
    if ((flags & TCP_ACK) !== 0 && !conn.realIsnKnown) {
      // No SYN-ACK of the real server seen: the client's first ACK acknowledges its ISN + 1.
      conn.realIsn = (seg.ack - 1) >>> 0;
      conn.realIsnKnown = true;
    }
    for (let p = 0; p < P; p++) {
      const pc = conn.perPolicy[p]!;
      if (!pc.decided) continue;
      const syn = pc.syn;
      const w = sinks[p];
      if (!pc.accepted) {
        // A retransmitted SYN still goes out where the server refused or stayed silent.
        if (w && (flags & TCP_SYN) !== 0) writeClientPacket(w, syn.captureId, this.time(), data, reader.offset, reader.caplen, reader.linkType, seg, conn.clientMac, syn.serverMac, syn.comment, null);
        continue;
      }
      if (w) {
        pc.realIsn = conn.realIsn;
        writeClientPacket(w, syn.captureId, this.time(), data, reader.offset, reader.caplen, reader.linkType, seg, conn.clientMac, syn.serverMac,
          (flags & TCP_SYN) !== 0 ? syn.comment : undefined, conn.realIsnKnown ? pc : null);
      }
      if ((flags & TCP_RST) !== 0) { done = true; continue; }
      // The emulated server's banner after the handshake, its FIN after the client's (written only with an output).
      if (!pc.bannerSent && (flags & TCP_ACK) !== 0) {
        pc.bannerSent = true;
        if (w) pc.emuTsval = runs[p]!.replayServerSegment(syn, this.time() + syn.latencyNs, conn.clientMac, conn.src, conn.cPort, conn.wireDst, conn.sPort, pc.emuNext, conn.cNext, TCP_PSH | TCP_ACK, syn.banner, segmentTsval(data, seg), undefined);
        pc.emuNext = (pc.emuNext + syn.banner.length) >>> 0;
      }
      if ((flags & TCP_FIN) !== 0 && !pc.finSent) {
        pc.finSent = true;
        if (w) pc.emuTsval = runs[p]!.replayServerSegment(syn, this.time() + syn.latencyNs, conn.clientMac, conn.src, conn.cPort, conn.wireDst, conn.sPort, pc.emuNext, conn.cNext, TCP_FIN | TCP_ACK, EMPTY, segmentTsval(data, seg), undefined);
        pc.emuNext = (pc.emuNext + 1) >>> 0;
      } else if (pc.finSent && (flags & TCP_FIN) === 0 && seg.payloadLen === 0) {
        done = true; // the client's last ACK
      }
    }
    if (done) { this.tracked.delete(conn); this.recycle(conn); }
  }
}

const EMPTY = new Uint8Array(0);

function startsWithBanner(data: Uint8Array, at: number): boolean {
  for (let i = 0; i < BANNER_PREFIX.length; i++) if (data[at + i] !== BANNER_PREFIX[i]) return false;
  return true;
}

/** Records what the real server did from one of its packets. */
function observe(c: Tracked, flags: number, data: Uint8Array, at: number, n: number): void {
  // Most server packets are bare ACKs or FINs after the handshake: nothing new to learn.
  if (n === 0 && c.observed !== undefined && (flags & TCP_SYN) === 0) return;
  let what: string | undefined;
  if ((flags & TCP_RST) !== 0) what = c.observed === undefined ? 'refused' : undefined;
  else if (n > BANNER_PREFIX.length && startsWithBanner(data, at)) what = bannerSocket(data, at + BANNER_PREFIX.length, at + n);
  else if ((flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) && c.observed === undefined) what = 'accepted';
  if (what === undefined) return;
  c.observed = what;
  if (c.entries) for (const e of c.entries) e.observed = what;
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
