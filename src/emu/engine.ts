// Runs a scenario under one policy on a virtual clock: the socket layer (socket, setsockopt,
// bind, listen, close with the policy's decisions), the hosts' neighbour discovery, and every
// connection's packets, which go to a PacketSink. No file system, no real clock.

import { IPV4_ANY, IPV6_ANY, commonPrefix, formatEndpoint, inSubnet, isLinkLocal6, isLoopback, isV4Mapped, isWildcard, parseIp, v4FromMapped, v4ToMapped, type Cidr, type IpAddr } from './addr.js';
import { HostState, type IfaceState, type LinkState } from './host.js';
import { pickPortLinear, type PortPick } from './port-picker.js';
import { BACK, answersNeighbour, eui64LinkLocal, findRoute, flushOnLastV4, heldElsewhere, longestMatchSource4, receives, replyPath, selectAddr, source6AnyInterface, type ReplyPath } from './routing.js';
import { hopsText, reverseHops, walk, type Hop, type RouteLookup, type Walk } from './forwarding.js';
import { ForwardedFrames } from './forwarded-frames.js';
import { ClientTimeWaits, clientSock } from './client-conns.js';
import { describe } from './policy/common.js';
import { conflictOf } from './conflict-info.js';
import { connectionRecord, ownerView, ownersRecord, type RecordedLookup } from './decision-record.js';
import { displacedListener, lookupPacketRecord, outcomePacketRecord, withStep } from './packet-record.js';
import { getPolicy } from './policy/index.js';
import type { Errno, LookupResult, Policy, Sock, SockOpts } from './policy/types.js';
import type { ConflictInfo, DecisionRecord, PolicyRun, StepResult } from './results.js';
import { Rng, hashString, hashTuple, mix32 } from './rng.js';
import { writeArpFrame, writeNdpFrame, writeTcpFrame, multicastMac } from './wire/frame.js';
import { LINUX_RMEM_MAX, LINUX_TCP_RMEM, linuxEstablishedWindow, linuxInitialWindow, linuxWindowScale, mssForMtu } from './policy/fingerprint.js';
import { Conversation, dataOptionList, optionList, type ConnEnd, type OpenConnection, type SegmentOut } from './conversation.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpOption } from './wire/tcp.js';
import { LINKTYPE_ETHERNET, isInPlaceSink, type InPlaceSink, type PacketSink } from '../pcap/sink.js';
import type {
  ConnectStep, Expectation, OptionName, Scenario, SockOptions, Step,
} from '../scenario/types.js';
import { UDP_OPTION_NAMES } from '../scenario/types.js';
import { UdpLayer } from './udp/layer.js';
import { NumberedCommentWriter } from './numbered-comment.js';
import type { ReplayedArrival, ReplayedDatagram } from './udp/replayed.js';
import { UdpReplay } from './udp/replay.js';
import { isUdpSock } from './udp/tables.js';

/** Captures start at the date of the 1999 post: Mon, 15 Feb 1999 00:17:44 -0800. */
export const START_EPOCH_SECONDS = Date.UTC(1999, 1, 15, 8, 17, 44) / 1000;

/** The Linux client's ARP: 3 requests 1 s apart, then EHOSTUNREACH [net/ipv4/arp.c, neigh mcast_solicit]. */
const ARP_TRIES = 3;
const ARP_RETRANS_NS = 1e9;
/** SYN retransmissions shown before the emulated client gives up (initial RTO 1 s, doubling). */
const SYN_TRIES = 3;
const SYN_RTO_NS = 1e9;
/** Gap between the connections of one step. */
const CONNECT_GAP_NS = 100_000;
/** Ports connect() tries one by one before its 4-tuple key gets a bitmap of its taken ports (port-picker.ts). */
const LINEAR_TRIES = 64;
/** The first octet of every MAC the engine makes up (see Run.macFor). */
export const GENERATED_MAC_OCTET = 0x12;
const BROADCAST: Uint8Array = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC: Uint8Array = new Uint8Array(6);

export interface RunOptions {
  /** Where the frames go; without one only decisions are made (faster). */
  readonly sink?: PacketSink;
  /** MACs for interfaces declared `mac: arp`, keyed "HOST/IFACE". */
  readonly macs?: ReadonlyMap<string, string>;
  /** Told the interface each connect step's SYNs arrive on, as the lookup sees it (for explain). */
  readonly onIngress?: (stepIndex: number, iface: string) => void;
  /**
   * Given the engine's record of every bind, listen and connection decision: the sockets looked
   * at, the rule that fired, the outcome (what `explain` prints). Bypasses the lookup cache, so
   * the policy's own notes on each socket are taken on every connection.
   */
  readonly onDecision?: (record: DecisionRecord) => void;
  /** connect() tries every port in turn, never its bitmaps: the reference the tests compare with (port-picker.ts). */
  readonly linearPortSearch?: boolean;
  /**
   * Told now and then how much of the run is done, in work units: one per step, one per
   * connection of a connect step (scenarioWork counts them all); for a progress bar.
   */
  readonly onProgress?: (unitsDone: number) => void;
  /**
   * net.core.rmem_max for the window scale of Linux connections (default: the kernel's 212992).
   * Not per network namespace on Linux, so verify-kernel passes the machine's own.
   */
  readonly rmemMax?: number;
}

/** A scenario's work units under one policy (see RunOptions.onProgress): a step each, a connect step one per connection. */
export function scenarioWork(scenario: Scenario): number {
  let n = 0;
  for (const s of scenario.steps) n += s.kind === 'connect' ? s.count : 1;
  return n;
}

/** Steps and connections between the yields of Run.slices (powers of two). */
const SLICE_STEPS = 1024;
const SLICE_CONNECTIONS = 4096;

/** Runs every step of the scenario under one policy. */
export function runPolicy(scenario: Scenario, policy: string | Policy, options: RunOptions = {}): PolicyRun {
  const p = typeof policy === 'string' ? getPolicy(policy) : policy;
  return new Run(scenario, p, options).execute();
}

/** runPolicy in slices (see Run.slices): drive it with next() until done; between slices the caller may yield. */
export function runPolicySlices(scenario: Scenario, policy: string | Policy, options: RunOptions = {}): Generator<void, PolicyRun> {
  const p = typeof policy === 'string' ? getPolicy(policy) : policy;
  return new Run(scenario, p, options).slices();
}


interface CachedLookup {
  readonly version: number; readonly result: LookupResult; readonly comment: string;
  /** The decision's machine-readable record (decision-record.ts), written beside the comment. */
  readonly record: string;
  /** result.candidates' names, made once per lookup rather than once per connection. */
  readonly names: readonly string[];
}


/** Whether options hold a datagram option (src/emu/udp/layer.ts sets those). */
function hasUdpOption(options: SockOptions): boolean {
  for (const k in options) if (UDP_OPTIONS.has(k)) return true;
  return false;
}
const UDP_OPTIONS: ReadonlySet<string> = new Set<string>(UDP_OPTION_NAMES);

/** One for the process (a run is often tiny: an audit makes ~100,000). */
const ENCODER = new TextEncoder();

class Run implements SegmentOut {
  private readonly hosts = new Map<string, HostState>();
  private readonly links = new Map<string, LinkState>();
  /** Each host's loopback, made when a connection first goes through it. */
  private readonly loopbacks = new Map<HostState, IfaceState>();
  private readonly sockets = new Map<string, Sock>();
  private readonly sink: PacketSink | undefined;
  /** The sink again when frames can be written into its buffer directly. */
  private readonly inPlace: InPlaceSink | null;
  now = 0;
  /** The step being run (for the decision record). */
  private stepIndex = 0;
  private seq = 1;
  private nextSockId = 1;
  private connIndex = 0;
  /** hashString(seed, 'isn'), made on the first connection. */
  private isnKey: number | undefined;
  /** TIME_WAIT expiry queue in parallel arrays (expiries are added in time order, so a FIFO suffices). */
  private twSocks: Sock[] = [];
  private twHosts: HostState[] = [];
  private twUntil: number[] = [];
  /** Client connections (slots of HostState.addClient) in TIME_WAIT, in their own queue. */
  private readonly clientTimeWaits = new ClientTimeWaits<HostState>();
  private timeWaitHead = 0;
  private readonly lookupCache = new Map<IfaceState, Map<IpAddr, Map<number, CachedLookup>>>();
  private readonly perturb = new Map<string, number>();
  private portMemo: { step: ConnectStep | null; src: IpAddr | null; key: string; hash: number; perturb: number } = { step: null, src: null, key: '', hash: 0, perturb: 0 };
  // One frame buffer for every run (runs never interleave; sinks copy what they keep): the audit makes
  // ~100,000 runs, and a fresh 64 KiB each was a third of its time in allocation and GC.
  readonly frame = SHARED_FRAME;
  private readonly encoder = ENCODER;
  private readonly bannerCache = new Map<Sock, Uint8Array<ArrayBufferLike>>();
  // One mutable segment, option list and frame spec, reused for every packet.
  private readonly seg = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0, options: [] as readonly TcpOption[], payload: new Uint8Array(0) as Uint8Array };
  private readonly spec = { srcMac: ZERO_MAC as Uint8Array, dstMac: ZERO_MAC as Uint8Array, src: IPV4_ANY, dst: IPV4_ANY, ttl: 64, ipId: 0, dontFragment: true, flowLabel: 0, seg: this.seg };
  /** The packets of each connection. */
  private readonly conv: Conversation;

  /** Work units done so far (RunOptions.onProgress). */
  private unitsDone = 0;

  /** The UDP socket layer (src/emu/udp): UDP sockets and datagram steps go there. */
  /** Names of the scenario's UDP sockets: under a policy without UDP rules their steps are `unsupported`. */
  private readonly udpNames: ReadonlySet<string>;

  constructor(private readonly scenario: Scenario, private readonly policy: Policy, private readonly options: RunOptions) {
    this.sink = options.sink;
    this.inPlace = options.sink && isInPlaceSink(options.sink) ? options.sink : null;
    const fp = policy.fingerprint;
    this.conv = new Conversation(fp, this, scenario.seed, options.rmemMax);
    this.buildNetwork();
    this.udpNames = new Set(scenario.steps.flatMap((s) => (s.kind === 'socket' && s.type === 'udp' ? [s.socket] : [])));
  }

  /** Made on first use: most runs (an audit's ~100,000) have no UDP socket. */
  private udpLayer: UdpLayer | undefined;
  /** The UDP datagrams' numbered comments' writer (numbered-comment.ts), made on first use. */
  private numbered: NumberedCommentWriter | undefined;
  private get udp(): UdpLayer {
    return (this.udpLayer ??= this.makeUdpLayer());
  }

  private makeUdpLayer(): UdpLayer {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const run = this;
    return new UdpLayer({
      policy: this.policy, seed: this.scenario.seed, hosts: this.hosts, sockets: this.sockets, frame: this.frame,
      capturing: this.options.sink !== undefined, recording: this.options.onDecision !== undefined,
      get now() { return run.now; },
      set now(v: number) { run.now = v; },
      get stepIndex() { return run.stepIndex; },
      nextSockId: () => this.nextSockId++,
      nextSeq: () => this.seq++,
      egress: (h, d) => this.egress(h, d),
      routeThrough: (h, d, oif) => findRoute(h, d, this.addedAt, this.v4Flushed, oif),
      lookup: this.lookup,
      forwarded: this.forwarded,
      routeIface: (h, d) => findRoute(h, d, this.addedAt, this.v4Flushed)?.iface,
      localSource: (h, d) => this.localSource(h, d),
      loopbackOf: (h) => this.loopbackOf(h),
      emit: (link, t, len, comment, record) => this.raw(link, t, len, comment, record),
      emitNumbered: (link, t, len, comment, n, record) => {
        if (this.sink) (this.numbered ??= new NumberedCommentWriter(this.sink)).packet(link.captureId, t, this.frame, len, comment, n, record);
      },
      record: (r) => this.record(r),
    });
  }

  private buildNetwork(): void {
    const sc = this.scenario;
    const linkSpecs = sc.links.length > 0 ? sc.links : [{ name: 'lan', latencyNs: 100_000 }];
    for (const l of linkSpecs) {
      const link: LinkState = { name: l.name, latencyNs: l.latencyNs, captureId: -1, members: [] };
      this.links.set(l.name, link);
      if (this.sink) link.captureId = this.sink.addInterface({ name: l.name, linkType: LINKTYPE_ETHERNET, snaplen: 262144, description: `bindlab link ${l.name}, ${this.policy.name}` });
    }
    for (const h of sc.hosts) {
      const host = new HostState(h, new Rng(sc.seed, hashString(sc.seed, `ports/${h.name}`)));
      this.hosts.set(h.name, host);
      for (const i of h.interfaces) {
        const link = this.links.get(i.link);
        if (!link) throw new Error(`interface ${h.name}/${i.name} is on unknown link ${i.link}`);
        const macText = this.macFor(h.name, i.name, i.mac);
        const mac = parseMac(macText);
        // The automatic fe80:: address on every interface where the policy has it (Routing.linkLocal: Linux; others UNCONFIRMED, none).
        const iface: IfaceState = { host, name: i.name, mac, macText, addresses: [...i.addresses], link,
          ...(this.policy.routing.linkLocal?.is === 'eui64' && this.policy.families.includes('inet6') ? { linkLocal: eui64LinkLocal(mac) } : {}) };
        host.ifaces.push(iface);
        link.members.push(iface);
        for (const c of i.addresses) this.sink?.addName(c.addr, h.name);
      }
    }
  }

  private macFor(host: string, iface: string, given: string | undefined): string {
    if (given === 'arp') {
      const m = this.options.macs?.get(`${host}/${iface}`);
      if (!m) throw new Error(`interface ${host}/${iface} has mac: arp but no MAC was resolved from the ARP table`);
      return m;
    }
    if (given) return given;
    // Locally administered unicast, derived from the seed and the interface's name. First octet 0x12: the
    // administratively assigned quadrant (IEEE 802c SLAP, second nibble 2), which no vendor is given and
    // Wireshark's manuf and wka tables do not name (02:01-02:20 read as MS-NLB-PhysServer-NN there).
    const h = hashString(this.scenario.seed, `mac/${host}/${iface}`);
    const h2 = mix32(h ^ 0x5bd1e995);
    const b = [GENERATED_MAC_OCTET, h >>> 24, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff, h2 & 0xff];
    return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
  }

  execute(): PolicyRun {
    const it = this.slices();
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * execute() in slices: yields after every SLICE_STEPS steps and every SLICE_CONNECTIONS
   * connections, so a caller can return to the event loop (signals, progress) during a long run.
   */
  *slices(): Generator<void, PolicyRun> {
    const steps: StepResult[] = [];
    let passed = 0;
    let failed = 0;
    const progress = this.options.onProgress;
    for (const step of this.scenario.steps) {
      if ((step.index & (SLICE_STEPS - 1)) === SLICE_STEPS - 1) yield;
      this.expireTimeWaits();
      this.stepIndex = step.index;
      this.recordAt = 0;
      this.recorded = 0;
      let r: StepResult;
      if (step.kind === 'connect' && step.count >= SLICE_CONNECTIONS) r = yield* this.connectSlices(step);
      else r = this.runStep(step);
      // A bind or listen that never reached the policy (a socket not open, already listening) is recorded as such.
      if (this.options.onDecision && this.recorded === 0 && (step.kind === 'bind' || step.kind === 'listen')) {
        const sk = this.sockets.get(step.socket);
        this.record({ step: step.index, kind: step.kind, host: sk?.hostName ?? '', address: step.kind === 'bind' ? formatEndpoint(step.address) : '', candidates: [], result: r.result, rule: r.reason ?? '' });
      }
      this.unitsDone += step.kind === 'connect' ? 0 : 1;
      progress?.(this.unitsDone);
      const expected = expectationFor(step.expect, this.policy.name);
      let res: StepResult = r;
      if (expected) {
        const all = r.results ?? [r.result];
        const ok = all.every((x) => expected.includes(x));
        if (ok) passed++; else failed++;
        res = { ...r, expected, passed: ok };
      }
      steps.push(res);
    }
    return { policy: this.policy.name, steps, expectations: { passed, failed } };
  }

  private runStep(step: Step): StepResult {
    const base = { index: step.index, kind: step.kind };
    switch (step.kind) {
      case 'socket': {
        if (step.type === 'udp') {
          const { result, reason } = this.udp.socket(step.socket, this.hosts.get(step.host)!, step.process, step.family, step.options);
          return { ...base, result, reason };
        }
        const d = this.socket(step.socket, step.host, step.process, step.family, step.options);
        return { ...base, ...d };
      }
      case 'setsockopt': {
        if (!this.policy.udp && this.udpNames.has(step.socket)) return { ...base, ...this.udp.unsupported() };
        const sk = this.sockets.get(step.socket);
        if (!sk) return { ...base, result: 'EBADF', reason: `socket ${step.socket} is not open` };
        return { ...base, ...this.setOptions(sk, step.options) };
      }
      case 'bind': {
        const sk = this.sockets.get(step.socket);
        if (sk && isUdpSock(sk)) return { ...base, ...this.udp.bind(sk, step.address.addr, step.address.port) };
        if (!this.policy.udp && this.udpNames.has(step.socket)) return { ...base, ...this.udp.unsupported() };
        return { ...base, ...this.bind(step.socket, step.address.addr, step.address.port) };
      }
      case 'listen': return { ...base, ...this.listen(step.socket) };
      case 'close': {
        const sk = this.sockets.get(step.socket);
        if (sk && isUdpSock(sk)) return { ...base, ...this.udp.close(sk) };
        if (!this.policy.udp && this.udpNames.has(step.socket)) return { ...base, ...this.udp.unsupported() };
        return { ...base, ...this.close(step.socket) };
      }
      case 'wait':
        this.now += step.durationNs;
        this.expireTimeWaits();
        return { ...base, result: 'ok' };
      case 'address': return { ...base, ...this.address(step.host, step.interface, step.add, step.del) };
      case 'udp-connect': return { ...base, ...this.udp.connect(step) };
      case 'join':
      case 'leave': return { ...base, ...this.udp.join(step) };
      case 'datagram': return { ...base, ...this.udp.datagram(step) };
      case 'connect': {
        const it = this.connectSlices(step);
        for (;;) {
          const r = it.next();
          if (r.done) return r.value;
        }
      }
    }
  }

  /** A connect step's connections, yielding after every SLICE_CONNECTIONS of them (the loop itself is a plain method). */
  private *connectSlices(step: ConnectStep): Generator<void, StepResult> {
    const results: string[] = new Array<string>(step.count);
    const candidates: (readonly string[])[] = new Array<readonly string[]>(step.count);
    this.routeStep = null;
    const reason = this.connectRange(step, results, candidates, 0, Math.min(step.count, SLICE_CONNECTIONS));
    for (let from = SLICE_CONNECTIONS; from < step.count; from += SLICE_CONNECTIONS) {
      yield;
      this.connectRange(step, results, candidates, from, Math.min(step.count, from + SLICE_CONNECTIONS));
    }
    this.unitsDone += step.count;
    return { index: step.index, kind: step.kind, result: results[0]!, results, candidates, reason };
  }

  /** Connections [from, to) of a connect step; returns the first one's reason. */
  private connectRange(step: ConnectStep, results: string[], candidates: (readonly string[])[], from: number, to: number): string {
    let reason = '';
    for (let i = from; i < to; i++) {
      this.recordAt = i;
      results[i] = this.connect(step);
      candidates[i] = this.lastCandidates;
      if (i === 0) reason = this.lastReason;
      this.now += CONNECT_GAP_NS;
      if ((i & 1023) === 1023) {
        this.expireTimeWaits();
        this.options.onProgress?.(this.unitsDone + i + 1);
      }
    }
    return reason;
  }



  // ---- socket layer -------------------------------------------------------------------------

  private socket(name: string, hostName: string, processName: string, family: 'inet' | 'inet6', options: SockOptions): { result: string; reason: string } {
    const host = this.hosts.get(hostName)!;
    if (!this.policy.families.includes(family)) {
      return { result: 'EAFNOSUPPORT', reason: `${this.policy.name} has no ${family} sockets` };
    }
    const opts: SockOpts = { reuseaddr: false, reuseport: false, reuseportLb: false, exclusive: false, v6only: false, freebind: false, device: null };
    const sk: Sock = {
      id: this.nextSockId++, name, kind: 'socket', hostName, processName, uid: host.uids.get(processName) ?? 0, family, opts,
      state: 'CLOSE', local: null, port: 0, ipv6only: false, listener: null, createdSeq: this.seq++, boundSeq: 0, listenSeq: 0,
      group: null, remote: null,
    };
    this.sockets.set(name, sk);
    const d = this.setOptions(sk, options);
    return d.result === 'ok' ? { result: 'ok', reason: `socket ${name} created` } : d;
  }

  /** Options in C order: the datagram ones by the UDP layer, the rest by the policy (src/emu/udp/layer.ts setOptions). */
  private setOptions(sk: Sock, options: SockOptions): { result: string; reason: string } {
    if (isUdpSock(sk) || hasUdpOption(options)) return this.udp.setOptions(sk, options);
    const host = this.hosts.get(sk.hostName)!;
    for (const [k, v] of Object.entries(options)) {
      if (v === undefined) continue;
      const d = this.policy.setsockopt(sk, k as OptionName, v as boolean | string, host);
      if (d.errno) return { result: d.errno, reason: d.rule };
    }
    return { result: 'ok', reason: 'options set' };
  }

  private bind(name: string, addr: IpAddr, port: number): { result: string; reason: string; conflict?: ConflictInfo } {
    const sk = this.sockets.get(name);
    if (!sk) return { result: 'EBADF', reason: `socket ${name} is not open` };
    const host = this.hosts.get(sk.hostName)!;
    // The port's owners as the policy met them (a port-0 bind's port is known only after it).
    const before = this.options.onDecision && port !== 0 ? [...host.owners(port)].map(ownerView) : null;
    const d = this.policy.bind(sk, addr, port, host);
    if (this.options.onDecision) {
      const owners = before ?? (d.port ? [...host.owners(d.port)].map(ownerView) : []);
      this.record(ownersRecord(this.stepIndex, 'bind', sk.hostName, formatEndpoint({ addr, port: d.port ?? port }), owners, d.conflict, d.errno ?? 'ok', d.rule));
    }
    if (d.errno) return { result: d.errno, reason: d.rule, ...conflictOf(d) };
    sk.local = addr;
    sk.port = d.port ?? port;
    sk.boundSeq = this.seq++;
    host.addOwner(sk);
    host.addBound(sk);
    host.markBindMade(sk.port);
    return { result: 'ok', reason: `bound ${formatEndpoint({ addr, port: sk.port })}: ${d.rule}` };
  }

  private listen(name: string): { result: string; reason: string; conflict?: ConflictInfo } {
    const sk = this.sockets.get(name);
    if (!sk) return { result: 'EBADF', reason: `socket ${name} is not open` };
    if (sk.state === 'LISTEN') return { result: 'ok', reason: 'already listening: only the backlog changes' };
    const host = this.hosts.get(sk.hostName)!;
    const before = this.options.onDecision && sk.port !== 0 ? [...host.owners(sk.port)].filter((o) => o !== sk).map(ownerView) : null;
    const d = this.policy.listen(sk, host);
    if (this.options.onDecision) {
      const p = sk.port || d.port || 0;
      const owners = before ?? (p ? [...host.owners(p)].filter((o) => o !== sk).map(ownerView) : []);
      const at = sk.local ? formatEndpoint({ addr: sk.local, port: p }) : `${sk.family === 'inet6' ? '[::]' : '0.0.0.0'}:${p}`;
      this.record(ownersRecord(this.stepIndex, 'listen', sk.hostName, at, owners, d.conflict, d.errno ?? 'ok', d.rule));
    }
    if (d.errno) return { result: d.errno, reason: d.rule, ...conflictOf(d) };
    if (sk.port === 0) {
      sk.local = sk.family === 'inet6' ? IPV6_ANY : IPV4_ANY;
      sk.port = d.port!;
      sk.boundSeq = this.seq++;
      host.addOwner(sk);
      host.markBindMade(sk.port);
    } else {
      host.removeBound(sk);
    }
    sk.state = 'LISTEN';
    sk.listenSeq = this.seq++;
    if (this.policy.groupsReuseport(sk)) {
      const peer = this.policy.reuseportPeer(sk, host.listeners(sk.port));
      if (peer?.group) { peer.group.members.push(sk); sk.group = peer.group; }
      else sk.group = { id: sk.id, members: [sk] };
    }
    host.addListener(sk, this.policy.listenerOrder(sk));
    return { result: 'ok', reason: `listening on ${formatEndpoint({ addr: sk.local!, port: sk.port })}${sk.group && sk.group.members.length > 1 ? ` in a SO_REUSEPORT group of ${sk.group.members.length}` : ''}: ${d.rule}` };
  }

  private close(name: string): { result: string; reason: string } {
    const sk = this.sockets.get(name);
    if (!sk) return { result: 'EBADF', reason: `socket ${name} is not open` };
    const host = this.hosts.get(sk.hostName)!;
    this.sockets.delete(name);
    let closed = 0;
    if (sk.state === 'LISTEN') {
      host.removeListener(sk);
      if (sk.group) {
        // The last member takes the leaver's slot [net/core/sock_reuseport.c reuseport_detach_sock]
        const m = sk.group.members;
        const i = m.indexOf(sk);
        const last = m.pop()!;
        if (last !== sk) m[i] = last;
        sk.group = null;
      }
      // Its established connections are closed by the server side first (docs/scenario-format.md, the close step).
      for (const child of [...host.owners(sk.port)]) {
        if (child.kind === 'child' && child.listener === sk && child.state === 'ESTABLISHED') {
          this.serverCloses(host, child);
          closed++;
        }
      }
    }
    if (sk.port !== 0) { host.removeOwner(sk); host.removeBound(sk); }
    sk.state = 'CLOSE';
    return { result: 'ok', reason: closed ? `closed; ${closed} established connection(s) closed by the server first` : 'closed' };
  }

  /** When an address step added each address (the scenario's own addresses: absent, the oldest, in declared order). */
  private readonly addedAt = new Map<Cidr, number>();
  /** Interfaces whose IPv4 routes went with their last IPv4 address (routing.ts flushOnLastV4). */
  private readonly v4Flushed = new Set<IfaceState>();
  private addSeq = 0;

  private address(hostName: string, ifName: string, add: Scenario['hosts'][number]['interfaces'][number]['addresses'][number] | undefined,
    del: typeof add): { result: string; reason: string } {
    const host = this.hosts.get(hostName)!;
    const iface = host.ifaces.find((i) => i.name === ifName)!;
    if (add) {
      // An address the interface has already: IPv4 with the same prefix length [net/ipv4/devinet.c __inet_insert_ifa:
      // -EEXIST within the subnet] (10.0.0.1/16 beside 10.0.0.1/24 is another address), IPv6 with any
      // [net/ipv6/addrconf.c ipv6_add_addr: ipv6_chk_same_addr → -EEXIST].
      if (iface.addresses.some((c) => c.addr.text === add.addr.text && (add.addr.family === 6 || c.prefix === add.prefix))) {
        return { result: 'EEXIST', reason: `${add.text} is already on ${hostName}/${ifName}` };
      }
      iface.addresses.push(add);
      this.addedAt.set(add, ++this.addSeq);
      this.sink?.addName(add.addr, hostName);
      host.listenerVersion++;
      return { result: 'ok', reason: `${add.text} added to ${hostName}/${ifName}` };
    }
    // Address and prefix length must both match [net/ipv4/devinet.c inet_rtm_deladdr (with IFA_ADDRESS),
    // net/ipv6/addrconf.c inet6_addr_del]: del 10.0.0.5 (a /32) leaves 10.0.0.5/24 in place.
    const i = iface.addresses.findIndex((c) => c.addr.text === del!.addr.text && c.prefix === del!.prefix);
    if (i < 0) return { result: 'EADDRNOTAVAIL', reason: `${del!.text} is not on ${hostName}/${ifName}` };
    const gone = [iface.addresses[i]!];
    // A primary IPv4 address takes its secondaries (later addresses of its subnet and prefix) with it,
    // unless promote_secondaries makes the next one primary [net/ipv4/devinet.c __inet_del_ifa].
    const primary = del!.addr.family === 4 && !iface.addresses.slice(0, i).some((c) => sameSubnet(c, iface.addresses[i]!));
    if (primary && this.policy.ipv4Secondaries && !host.sysctl.promoteSecondaries) {
      for (const c of iface.addresses.slice(i + 1)) if (sameSubnet(iface.addresses[i]!, c)) gone.push(c);
    }
    for (const c of gone) iface.addresses.splice(iface.addresses.indexOf(c), 1);
    // Under Linux the routes go with the interface's last IPv4 address (Routing.lastV4TakesRoutes).
    if (this.policy.routing.lastV4TakesRoutes.is) flushOnLastV4(iface, del!.addr, this.v4Flushed);
    // Other hosts' neighbour entries for the addresses stay (the kernel keeps them until they are
    // probed and fail): see staleNeighbour.
    host.listenerVersion++;
    const also = gone.length > 1 ? `, with its secondaries ${gone.slice(1).map((c) => c.text).join(', ')} (promote_secondaries off)` : '';
    return { result: 'ok', reason: `${del!.text} removed from ${hostName}/${ifName}${also}` };
  }

  private expireTimeWaits(): void {
    this.clientTimeWaits.expire(this.now, expireClient);
    const until = this.twUntil;
    let head = this.timeWaitHead;
    while (head < until.length && until[head]! <= this.now) {
      const sk = this.twSocks[head]!;
      const host = this.twHosts[head]!;
      head++;
      if (sk.state === 'TIME_WAIT') host.removeOwner(sk);
      if (sk.kind === 'child') this.serverTimeWaits.delete(tupleKey(host.name, sk.local!, sk.port, sk.remote!.addr, sk.remote!.port));
    }
    this.timeWaitHead = head;
    if (head > 4096 && head * 2 > until.length) {
      this.twSocks = this.twSocks.slice(head);
      this.twHosts = this.twHosts.slice(head);
      this.twUntil = until.slice(head);
      this.timeWaitHead = 0;
    }
  }

  private enterTimeWait(host: HostState, sk: Sock, at: number): void {
    sk.state = 'TIME_WAIT';
    this.twSocks.push(sk);
    this.twHosts.push(host);
    this.twUntil.push(at + this.policy.timeWaitNs);
    if (sk.kind === 'child') this.serverTimeWaits.set(tupleKey(host.name, sk.local!, sk.port, sk.remote!.addr, sk.remote!.port), sk);
  }

  /** A client connection (a slot of HostState.addClient) goes to TIME_WAIT. */
  private clientTimeWait(host: HostState, slot: number, at: number): void {
    host.clientTimeWait(slot, at);
    this.clientTimeWaits.push(host, slot, host.clientId(slot), at + this.policy.timeWaitNs);
  }

  /** Server-side TIME_WAIT connections by 4-tuple, so a SYN that reuses one finds it without a scan. */
  private readonly serverTimeWaits = new Map<string, Sock>();

  // ---- connections ------------------------------------------------------------------------

  /** Candidates and reason of the last connect() (kept in fields: connect runs per connection). */
  private lastCandidates: readonly string[] = NONE;
  private lastReason = '';

  private unscopedConnect(dst: IpAddr): string {
    return this.outcome('EINVAL', NONE, `${dst.text} is link-local: connect() needs a scope id or a bound device [net/ipv6/tcp_ipv6.c tcp_v6_connect]`);
  }

  outcome(result: string, candidates: readonly string[], reason: string): string {
    this.lastCandidates = candidates;
    this.lastReason = reason;
    if (this.options.onDecision) this.recordConnection(result, reason);
    return result;
  }

  // ---- the decision record (only with RunOptions.onDecision) --------------------------------

  /** Which connection of the current connect step is being made. */
  private recordAt = 0;
  /** Records given for the current step. */
  private recorded = 0;

  private record(r: DecisionRecord): void {
    this.recorded++;
    this.options.onDecision!(r);
  }
  /** The way the current connection's packets went (only when decisions are recorded). */
  private recordPath = '';
  /** The lookup of the current connection, set by decide() when decisions are recorded. */
  private recordedLookup: RecordedLookup | null = null;

  private recordConnection(result: string, rule: string): void {
    const l = this.recordedLookup;
    this.recordedLookup = null;
    this.record(connectionRecord(this.stepIndex, this.recordAt, this.routeClient?.name ?? '', l, result, rule, this.recordPath));
    this.recordPath = '';
  }

  /**
   * The route of the current connect step's connections, found on its first: the client, its
   * egress and the neighbour owning the destination (no step of another kind runs meanwhile, so
   * addresses stay as they are).
   */
  private routeStep: ConnectStep | null = null;
  private routeClient: HostState | null = null;
  /** The destination as routed: a v4-mapped address is IPv4, a wildcard the loopback. */
  private routeDst: IpAddr = IPV4_ANY;
  private routeOut: { iface: IfaceState; src: IpAddr; via: IpAddr | null; text: string } | null = null;
  /** The neighbour the client's route sends to: its gateway, or the destination itself. */
  private routeNext: IpAddr = IPV4_ANY;
  /** A host's route lookup with this run's state (routing.ts findRoute), for forwarding.ts. */
  private readonly lookup: RouteLookup = (h, d) => findRoute(h, d, this.addedAt, this.v4Flushed);
  /** The frames of packets that cross routers (forwarded-frames.ts). */
  private readonly forwarded = new ForwardedFrames(this);
  /** The current connect step's walk through routers, for one source (see forwardWalk). */
  private walkMemo: { step: ConnectStep | null; src: IpAddr | null; walk: Walk | null } = { step: null, src: null, walk: null };
  private routeOwner: IfaceState | undefined = undefined;
  /** Whether the destination is the client host's own (delivered over its loopback, no neighbour discovery). */
  private routeLocal = false;
  /** Why a connect from a given source has no route under strong host send, or null. */
  private routeBlocked: string | null = null;

  /** One connection attempt of a connect step; returns its result. */
  private connect(step: ConnectStep): string {
    if (this.routeStep !== step) {
      const c = this.hosts.get(step.from)!;
      this.routeClient = c;
      let dst = step.to.addr;
      // A kernel without IPv6 has no AF_INET6 socket to connect from: such destinations stay
      // unanswered (as on a link, neighbourOwner), the loopback included.
      const inet6 = this.policy.families.includes('inet6');
      // A v4-mapped destination is plain IPv4 on the wire [net/ipv6/tcp_ipv6.c tcp_v6_connect: ipv6_addr_v4mapped → tcp_v4_connect].
      if (isV4Mapped(dst) && inet6) dst = v4FromMapped(dst);
      // Connecting to the wildcard connects to the loopback [net/ipv4/route.c ip_route_output_key_hash_rcu: !fl4->daddr → INADDR_LOOPBACK;
      // net/ipv6/tcp_ipv6.c tcp_v6_connect: ipv6_addr_any → in6addr_loopback].
      if (isWildcard(dst)) dst = dst.family === 4 ? LOOPBACK_V4 : LOOPBACK_V6;
      this.routeDst = dst;
      // The host's own addresses (127/8 and ::1 included) route over its loopback, before any link
      // [net/ipv4/route.c ip_route_output_key_hash_rcu: RTN_LOCAL → dev_out = net->loopback_dev].
      this.routeLocal = (dst.family === 4 || inet6) && (isLoopback(dst) || c.ifaceOwning(dst) !== undefined);
      if (this.routeLocal) {
        // The source is the local route's: for 127/8, 127.0.0.1 (the lo route's src); else the destination
        // itself, but for an IPv4 secondary its subnet's primary (localSource).
        this.routeOut = { iface: this.loopbackOf(c), src: isLoopback(dst) ? (dst.family === 4 ? LOOPBACK_V4 : LOOPBACK_V6) : this.localSource(c, dst), via: null, text: 'local' };
        this.routeOwner = this.routeOut.iface;
        this.routeNext = dst;
      } else {
        // Strong host send (Windows; XNU's scoped routing): a given source's interface limits the routes.
        const from = step.source && this.policy.routing.send.is === 'source-interface' ? c.ifaceOwning(step.source.addr) : undefined;
        this.routeOut = from ? this.egressThrough(c, dst, from, step.source!.addr) : this.egress(c, dst);
        this.routeBlocked = from && !this.routeOut
          ? `${c.name} has no route to ${dst.text} through ${from.name}, which holds the source ${step.source!.addr.text} (strong host send) [${this.policy.routing.send.cite}]` : null;
        this.routeNext = this.routeOut?.via ?? dst;
        this.routeOwner = this.routeOut ? this.neighbourOwner(c, this.routeOut.iface, this.routeNext) : undefined;
      }
      this.routeStep = step;
    }
    const client = this.routeClient!;
    const dst = this.routeDst;
    const out = this.routeOut;
    if (this.options.onDecision && out && !this.routeLocal) this.recordPath = `${client.name} routes ${dst.text} by ${out.text}`;
    // A `source:` is bound before connect() looks for a route: a foreign one is EADDRNOTAVAIL first
    // [net/ipv4/af_inet.c __inet_bind, net/ipv6/af_inet6.c __inet6_bind; found by the sixth hunt].
    const given = step.source ? (isV4Mapped(step.source.addr) ? v4FromMapped(step.source.addr) : step.source.addr) : null;
    // Under Linux's ip_nonlocal_bind the bind succeeds and the route decides (below; Routing.nonlocalConnect).
    const nonlocal = given !== null && !isWildcard(given) && !client.isLocal(given);
    if (nonlocal && !(this.policy.routing.nonlocalConnect.is && client.sysctl.ipNonlocalBind)) return this.outcome('EADDRNOTAVAIL', NONE, `${given.text} is not an address of ${client.name}`);
    if (!out && this.routeBlocked) return this.outcome('unreachable', NONE, this.routeBlocked);
    if (!out) {
      const has = client.ifaces.some((i) => i.addresses.some((c) => c.addr.family === dst.family));
      return this.outcome('unreachable', NONE, has && this.v4Flushed.size > 0
        ? `${client.name} has no route to ${dst.text} (its routes went with an interface's last IPv4 address): ENETUNREACH [net/ipv4/fib_frontend.c fib_disable_ip]`
        : `host ${client.name} has no address of the destination's family`);
    }
    const cif = out.iface;
    let src = out.src;
    const uid = step.fromProcess ? client.uids.get(step.fromProcess) ?? 0 : 0;
    /** What the client's socket binds to before connecting: the source as given (a wildcard keeps the route's source). */
    let bindAddr = src;
    if (given) {
      const s = given;
      bindAddr = s;
      // Binding the wildcard is always allowed [net/ipv4/af_inet.c __inet_bind]; the route picks the source.
      if (!isWildcard(s)) {
        // A loopback source cannot leave by another device [net/ipv4/route.c ip_route_output_key_hash_rcu:
        // ipv4_is_loopback(fl4->saddr) && !(dev_out->flags & IFF_LOOPBACK) → -EINVAL].
        if (s.family === 4 && isLoopback(s) && !this.routeLocal) return this.outcome('EINVAL', NONE, `source ${s.text} is a loopback address and ${dst.text} is not local [net/ipv4/route.c ip_route_output_key_hash_rcu]`);
        src = s;
      }
    }
    const t0 = this.now;
    let lat = cif.link.latencyNs;
    // The client's local port, before the peer is resolved: connect() binds it first, so running
    // out of ports is EADDRNOTAVAIL even towards a peer nobody answers for [net/ipv4/tcp_ipv4.c tcp_v4_connect:
    // inet_hash_connect before tcp_connect].
    let sport = step.source?.port ?? 0;
    let v6only = false;
    // A link-local destination needs a scope: a scope id (which the format cannot give) or a bound
    // device (connect steps bind none) [net/ipv6/tcp_ipv6.c tcp_v6_connect: IPV6_ADDR_LINKLOCAL,
    // !sk->sk_bound_dev_if → -EINVAL], checked after bind() and before the port is picked.
    const unscoped = isLinkLocal6(dst);
    if (step.source) {
      // bind(source) on a fresh, unbound client socket first: privileged ports, conflicts; port 0
      // is the bind's ephemeral search [net/ipv4/inet_connection_sock.c inet_csk_find_open_port],
      // which an ESTABLISHED or TIME_WAIT socket on the address blocks (EADDRINUSE when none is left).
      // Its own options: a policy's bind may set some (FreeBSD's inet6 sockets start IPV6_V6ONLY), and
      // the shared client options are frozen.
      const made = clientSock(this.nextSockId++, step.from, step.fromProcess ?? '', uid, src, 0, dst, step.to.port, this.seq++);
      const probe: Sock = { ...made, opts: { ...made.opts } };
      probe.state = 'CLOSE';
      probe.local = null;
      probe.remote = null;
      const d = this.policy.bind(probe, bindAddr, sport, client);
      if (d.errno) return this.outcome(d.errno, NONE, d.rule);
      sport = d.port ?? sport;
      v6only = probe.ipv6only;
      // A port bind() took is never shared by connect()'s own choice while anything holds it.
      client.markBindMade(sport);
      // A non-local IPv4 source (ip_nonlocal_bind let bind() take it) has no output route: ENETUNREACH
      // [net/ipv4/route.c ip_route_output_key_hash_rcu: fl4->saddr not local (__ip_dev_find) and no
      // FLOWI_FLAG_ANYSRC → -ENETUNREACH]. IPv6 has no such check and sends the SYN from it
      // [net/ipv6/ip6_output.c ip6_dst_lookup_tail: a given saddr is kept]. Found by the sixth hunt.
      if (nonlocal && dst.family === 4) {
        return this.outcome('unreachable', NONE, `connect() from ${given!.text}, not an address of ${client.name} (bound under ip_nonlocal_bind): ENETUNREACH [net/ipv4/route.c ip_route_output_key_hash_rcu]`);
      }
      if (unscoped) return this.unscopedConnect(dst);
    } else {
      if (unscoped) return this.unscopedConnect(dst);
      sport = this.pickClientPort(client, src, dst, step.to.port, step);
      if (sport === 0) return this.outcome('EADDRNOTAVAIL', NONE, 'no free local port for the connection [net/ipv4/inet_hashtables.c __inet_hash_connect]');
    }
    // A neighbour entry left from before the address went away still sends the SYNs to its old
    // owner, which drops them (not its address): a timeout; the entry's probes fail meanwhile, so
    // the next attempt asks again [net/core/neighbour.c: a STALE entry is used, then probed].
    const next = this.routeNext;
    const stale = this.routeLocal || this.routeOwner ? undefined : this.staleNeighbour(client, cif, next);
    // Then neighbour discovery (none over the loopback), for the gateway when the route has one.
    const sif = this.routeLocal ? cif : stale ?? this.resolve(client, cif, nonlocal ? out.src : src, next, this.routeOwner, step);
    if (!sif) {
      return this.outcome('unreachable', NONE, this.unresolvedWhy(client, cif, next));
    }
    if (stale) client.neighbours.delete(next.text);
    // Past the first neighbour: through routers, or dropped on the way (forwarding.ts walk).
    const fwd = this.routeLocal || stale ? null : this.forwardWalk(step, cif, sif, src, dst, next);
    const arrived = fwd === null ? sif : fwd.kind === 'arrived' ? fwd.at : null;
    const fwdHops = fwd !== null && fwd.hops.length > 1 ? fwd.hops : NO_HOPS;
    const server = (arrived ?? sif).host;
    const cslot = client.addClient(this.nextSockId++, step.fromProcess ?? '', uid, src, sport, dst, step.to.port, this.seq++, v6only, step.source !== undefined);

    // The server's decision.
    const dport = step.to.port;
    // Over the loopback, sockets are matched against the device that holds the address (lo for
    // 127/8 and ::1), as if the SYN had come in there [net/ipv4/route.c ip_route_output_key_hash_rcu,
    // RTN_LOCAL: "make sure orig_oif points to fib result device even though packet rx/tx happens
    // over loopback"; inet_iif() reads it]: a SO_BINDTODEVICE eth0 listener gets eth0's addresses.
    const ingress = this.routeLocal ? server.ifaceOwning(dst) ?? sif : arrived ?? sif;
    if (arrived) this.options.onIngress?.(step.index, ingress.name);
    // A strong host drops a packet for an address its ingress interface does not hold, unless it forwards (routing.ts receives).
    const decision = stale ? this.notMine(server, dst, dport) : arrived === null ? this.unforwarded(fwd!, dst, dport)
      : !this.routeLocal && !receives(this.policy.routing, ingress, dst, server.forward) ? this.notOnIngress(server, ingress, dst, dport)
        : this.decide(server, ingress, src, sport, dst, dport);
    const { result: lk, comment } = decision;
    // One record per decision and step, shared by its connections' packets (the same string: the writer's cache hits).
    if (this.stepRecordOf !== decision.record || this.stepRecordStep !== step.index) {
      this.stepRecordOf = decision.record; this.stepRecordStep = step.index; this.stepRecord = withStep(decision.record, step.index);
    }
    const record = this.stepRecord;
    const cmac = cif.mac;
    const smac = sif.mac;
    const isnKey = (this.isnKey ??= hashString(this.scenario.seed, 'isn'));
    const cIsn = mix32(isnKey ^ this.connIndex * 2 + 1);
    const sIsn = mix32(isnKey ^ this.connIndex * 2 + 2);
    const cTs = mix32(cIsn ^ 0xa5a5a5a5);
    const sTs = mix32(sIsn ^ 0x5a5a5a5a);
    this.connIndex++;
    const fp = this.policy.fingerprint;
    let t = this.now;
    const link = cif.link;
    // The server answers by its own routes, as the policy's Routing.send has it (routing.ts replyPath).
    const path = lk.action === 'drop' ? BACK
      : replyPath(this.policy.routing, server, ingress, dst, src, client, cif, lk.action === 'accept' ? lk.sock!.opts.device : null, this.routeLocal, this.addedAt, this.v4Flushed,
        this.lookup, this.policy.families.includes('inet6'));
    let rlink = link;
    let rsmac = smac;
    let rcmac = cmac;
    if (path.kind === 'other') { rlink = path.out.link; rsmac = path.out.mac; rcmac = path.peer.mac; }
    // Through routers: each direction's links, and one latency for the conversation that covers the longer way.
    const backHops = path.kind === 'routed' ? path.hops : path.kind === 'back' && fwdHops.length > 0 ? reverseHops(fwdHops, src) : NO_HOPS;
    if (this.options.onDecision && !this.routeLocal) this.recordPath += pathWords(fwd, lk.action === 'drop' ? null : path, backHops);
    let clink: { readonly captureId: number; readonly latencyNs: number } = link;
    if (fwdHops.length > 0 || backHops.length > 0) {
      lat = Math.max(pathLatency(fwdHops, link.latencyNs), pathLatency(backHops, rlink.latencyNs));
      clink = { captureId: link.captureId, latencyNs: lat };
    }
    // The path's MTU: the loopback's, or Ethernet's 1500 on a link.
    const mtu = this.routeLocal ? fp.loopbackMtu : ETHERNET_MTU;
    const conv = this.conv;
    conv.begin(t0, mix32(isnKey ^ 0x1d5eed ^ cIsn),
      { host: client.name, tcpRmem: client.sysctl.tcpRmem, mtu }, clink, cmac, smac, src, sport, cIsn, cTs,
      { host: server.name, tcpRmem: server.sysctl.tcpRmem, mtu }, rlink, rsmac, rcmac, dst, dport, sIsn, sTs);
    conv.client.hops = fwdHops;
    conv.server.hops = backHops;
    this.forwarded.delay = 0;
    if (path.kind === 'lost') return this.answerLost(path, link, src, dst, dport, comment, record, lk.rule, cslot, lk.action === 'rst');
    if (fwd !== null && fwd.kind === 'icmp') {
      const ctx = { conv, lookup: this.lookup, v6: this.policy.families.includes('inet6'), routing: this.policy.routing, policy: this.policy.name, writes: this.sink !== undefined,
        synTries: SYN_TRIES, synRtoNs: SYN_RTO_NS, arpTries: ARP_TRIES, arpRetransNs: ARP_RETRANS_NS,
        outcomeRecord: (result: 'unreachable' | 'timeout', rule: string) => withStep(outcomePacketRecord(this.policy.name, formatEndpoint({ addr: dst, port: dport }), result, rule), step.index) };
      return this.forwarded.icmpBack(fwd, ctx, client, src, dst, t, comment, () => client.removeClient(cslot));
    }

    if (lk.action !== 'accept') {
      if (lk.action === 'rst') {
        conv.syn(t, 0, comment, record);
        t += lat + this.forwarded.takeDelay();
        if (path.kind === 'other') t = this.answerNeighbour(path.out, path.peer, dst, src, t);
        conv.rst(t, comment, hashTuple(this.scenario.seed, src.bytes, sport, dst.bytes, dport), record);
        this.now = t + lat + this.forwarded.takeDelay();
        client.removeClient(cslot);
        return this.outcome('refused', NONE, lk.rule);
      }
      // Dropped silently: the client retransmits its SYN, then gives up.
      let rto = SYN_RTO_NS;
      for (let i = 0; i < SYN_TRIES; i++) {
        conv.syn(t, i, i === 0 ? comment : `${comment} (retransmission ${i})`, record);
        t += rto;
        rto *= 2;
      }
      this.now = t;
      client.removeClient(cslot);
      return this.outcome('timeout', NONE, lk.rule);
    }

    const listener = lk.sock!;
    // A connection the client closes first is over within this call, and nothing looks at the
    // server's sockets meanwhile: its child is not made (only its id and order number are used up).
    const close = step.close;
    let child: Sock | null = null;
    if (close === 'client') { this.nextSockId++; this.seq++; }
    else child = this.accept(server, listener, dst, dport, src, sport);
    // Handshake: the server may first ask for the client's address on the link it answers by.
    conv.syn(t, 0, comment, record);
    t += lat + this.forwarded.takeDelay();
    if (path.kind === 'other') t = this.answerNeighbour(path.out, path.peer, dst, src, t);
    conv.synAck(t, comment, record);
    const data = step.send !== undefined && step.send.length > 0 ? this.payloadFor(step.send) : EMPTY;
    // The accepting socket's banner says who answered.
    t = conv.established(t + this.forwarded.takeDelay(), data, this.bannerFor(listener), close);
    if (close === 'server') {
      this.enterTimeWait(server, child!, t);
      client.removeClient(cslot);
    } else if (close === 'client') {
      this.clientTimeWait(client, cslot, t);
    } else {
      this.open.set(child!, { conn: conv.detach(), client, cslot });
    }
    t += lat;
    this.now = t;
    return this.outcome(listener.name, decision.names, lk.rule);
  }

  /** The last decision record with its step (connect), and what it was made from. */
  private stepRecordOf = '';
  private stepRecordStep = -1;
  private stepRecord = '';

  /** Established connections left open (close: none), for a later close of their listener. */
  private readonly open = new Map<Sock, OpenConn>();

  /** The server closes an established connection first: FIN, the client's FIN, the last ACK; then TIME_WAIT. */
  private serverCloses(server: HostState, child: Sock): void {
    const c = this.open.get(child);
    this.open.delete(child);
    if (!c) { server.removeOwner(child); return; }
    this.conv.resume(c.conn);
    const t = this.conv.serverCloses(this.now);
    this.enterTimeWait(server, child, t);
    c.client.removeClient(c.cslot);
    this.now = t + c.conn.client.link.latencyNs;
  }


  /**
   * A connection whose SYN-ACK or RST the server routes where the client is not (routing.ts
   * replyPath): the client's SYNs go unanswered and it times out, as after a silent drop; the
   * server's neighbour discovery on the link it routes to goes unanswered. The listener gets no
   * connection (its request never completes).
   */
  private answerLost(path: ReplyPath & { kind: 'lost' }, link: LinkState, src: IpAddr, dst: IpAddr,
    dport: number, comment: string, record: string, rule: string, cslot: number, rst: boolean): string {
    const t0 = this.now;
    let t = t0;
    const fp = this.policy.fingerprint;
    const lost = `${comment} The answer is lost: ${path.why}.`;
    const lostRule = `${rule}; the answer is lost: ${path.why} [${this.policy.routing.send.cite}]`;
    // The client's SYNs say how the attempt ended (a timeout), not the lookup's pick, whose answer never arrives.
    const lostRecord = record === '' ? record : withStep(outcomePacketRecord(this.policy.name, formatEndpoint({ addr: dst, port: dport }), 'timeout', lostRule), this.stepIndex);
    // Each SYN makes the server answer again, and ask for the client's address on the link it routes
    // to, where nobody has it (nothing to ask over the loopback).
    // Past a gateway that answered, the answer itself goes out (through the routers it reaches) and is lost beyond.
    const hops = path.hops && path.hops.length > 0 && !this.routeLocal ? path.hops : null;
    const out = path.out && !this.routeLocal && !hops ? path.out : null;
    const target = path.target ?? src;
    const note = out ? `bindlab ${this.policy.name}: the answer to ${src.text} leaves by ${out.host.name}/${out.name}; nobody on link ${out.link.name} has ${target.text}` : undefined;
    if (hops) this.conv.server.hops = hops;
    const lat = this.conv.client.link.latencyNs;
    let rto = SYN_RTO_NS;
    for (let i = 0; i < SYN_TRIES; i++) {
      this.conv.syn(t, i, i === 0 ? lost : `${lost} (retransmission ${i})`, lostRecord);
      if (hops) {
        const at = t + lat + this.forwarded.takeDelay();
        const gone = `bindlab ${this.policy.name}: the answer is lost: ${path.why}`;
        if (rst) this.conv.rst(at, gone, hashTuple(this.scenario.seed, src.bytes, this.conv.client.port, dst.bytes, dport));
        else this.conv.synAck(at, gone);
      } else if (out) {
        const len = target.family === 4
          ? writeArpFrame(this.frame, { op: 1, senderMac: out.mac, senderIp: dst, targetMac: ZERO_MAC, targetIp: target, dstMac: BROADCAST })
          : writeNdpFrame(this.frame, { type: 'ns', srcMac: out.mac, src: dst, target });
        this.raw(out.link, t + link.latencyNs, len, note);
      }
      t += rto;
      rto *= 2;
    }
    this.now = t;
    this.routeClient!.removeClient(cslot);
    return this.outcome('timeout', NONE, lostRule);
  }

  /** The server's neighbour discovery for the client's address on another link, answered by the client's interface there (peer); returns the time after. */
  private answerNeighbour(out: IfaceState, peer: IfaceState, local: IpAddr, remote: IpAddr, t: number): number {
    const key = `${out.name} ${remote.text}`;
    const server = out.host;
    if (server.neighbours.get(key)) return t;
    const lat = out.link.latencyNs;
    if (remote.family === 4) {
      this.raw(out.link, t, writeArpFrame(this.frame, { op: 1, senderMac: out.mac, senderIp: local, targetMac: ZERO_MAC, targetIp: remote, dstMac: BROADCAST }), undefined);
      t += lat;
      this.raw(out.link, t, writeArpFrame(this.frame, { op: 2, senderMac: peer.mac, senderIp: remote, targetMac: out.mac, targetIp: local, dstMac: out.mac }), undefined);
    } else {
      this.raw(out.link, t, writeNdpFrame(this.frame, { type: 'ns', srcMac: out.mac, src: local, target: remote }), undefined);
      t += lat;
      this.raw(out.link, t, writeNdpFrame(this.frame, { type: 'na', srcMac: peer.mac, dstMac: out.mac, src: remote, dst: local, target: remote, solicited: true, override: true, router: peer.host.forward }), undefined);
    }
    server.neighbours.set(key, peer.mac);
    return t + lat;
  }

  /** The decision for a SYN, cached while the host's listeners stay the same. */
  private decide(server: HostState, sif: IfaceState, src: IpAddr, sport: number, dst: IpAddr, dport: number): CachedLookup {
    // A SYN for a 4-tuple in TIME_WAIT ends that TIME_WAIT and goes on to the listeners
    // [net/ipv4/tcp_minisocks.c tcp_timewait_state_process: TCP_TW_SYN].
    if (this.serverTimeWaits.size > 0) {
      const tw = this.serverTimeWaits.get(tupleKey(server.name, dst, dport, src, sport));
      if (tw && tw.state === 'TIME_WAIT') {
        server.removeOwner(tw);
        tw.state = 'CLOSE';
      }
    }
    // Cached per ingress interface (hence host), destination address object and port: no key to build.
    let byAddr = this.lookupCache.get(sif);
    if (!byAddr) this.lookupCache.set(sif, (byAddr = new Map()));
    let byPort = byAddr.get(dst);
    if (!byPort) byAddr.set(dst, (byPort = new Map()));
    const hit = byPort.get(dport);
    const recording = this.options.onDecision !== undefined;
    if (hit && !recording && hit.version === server.listenerVersion && hit.result.candidates.length <= 1) return hit;
    const hash = hashTuple(this.scenario.seed, src.bytes, sport, dst.bytes, dport);
    const to = `${dst.family === 6 ? `[${dst.text}]` : dst.text}:${dport}`;
    let result: LookupResult;
    const listeners = server.listeners(dport);
    const bound = server.boundOnly(dport);
    if (recording) {
      // The record: the sockets exactly as given to the policy, and its notes on them.
      const notes = new Map<Sock, string[]>();
      const note = (sk: Sock, words: string): void => { const n = notes.get(sk); if (n) n.push(words); else notes.set(sk, [words]); };
      result = this.policy.lookup({ dst, dport, src, sport, inDevice: sif.name, hash, note }, listeners, bound, server);
      this.recordedLookup = { host: server.name, address: to, ingress: sif.name, sockets: [...listeners, ...bound], result, notes };
    } else {
      result = this.policy.lookup({ dst, dport, src, sport, inDevice: sif.name, hash }, listeners, bound, server);
    }
    const what = result.action === 'accept' ? `accepted by ${server.name}/${result.sock!.processName}/${result.sock!.name}`
      : result.action === 'rst' ? 'refused (RST)' : 'dropped silently';
    const comment = `bindlab ${this.policy.name}: SYN to ${to} ${what}. ${result.rule}`;
    // Who would have had it without the accepting socket's group (a lookup of its own: no notes for explain).
    const displaced = displacedListener(result, listeners, (rest) => this.policy.lookup({ dst, dport, src, sport, inDevice: sif.name, hash }, rest, bound, server));
    const record = lookupPacketRecord(this.policy.name, to, result, displaced);
    const entry = { version: server.listenerVersion, result, comment, record, names: result.candidates.map((s) => s.name) };
    byPort.set(dport, entry);
    return entry;
  }

  /** An accepted connection: a child of the listener holding the port, with its options and owner. */
  private accept(server: HostState, listener: Sock, dst: IpAddr, dport: number, src: IpAddr, sport: number): Sock {
    const local = listener.family === 'inet6' && dst.family === 4 ? v4ToMapped(dst) : dst;
    const child: Sock = {
      id: this.nextSockId++, name: listener.name, kind: 'child', hostName: server.name, processName: listener.processName,
      uid: listener.uid, family: listener.family, opts: { ...listener.opts }, state: 'ESTABLISHED', local, port: dport,
      ipv6only: listener.ipv6only, listener, createdSeq: this.seq++, boundSeq: this.seq, listenSeq: 0, group: null,
      remote: { addr: src, port: sport },
    };
    server.addOwner(child);
    return child;
  }

  /**
   * The client's local port: a keyed hash of (saddr, daddr, dport) plus a per-destination
   * perturbation, even ports first; never a port a bind() holds, and a unique 4-tuple
   * [net/ipv4/inet_hashtables.c __inet_hash_connect].
   */
  private pickClientPort(host: HostState, src: IpAddr, dst: IpAddr, dport: number, from: ConnectStep): number {
    const [low, high] = host.sysctl.ipLocalPortRange;
    // An even count: the last port of an odd-sized range is never tried
    // [net/ipv4/inet_hashtables.c __inet_hash_connect: remaining &= ~1].
    let n = high - low + 1;
    if (n > 1) n &= ~1;
    // A loopback TIME_WAIT of the same 4-tuple this old may be taken over (see Policy.loopbackTimeWaitReuseNs).
    const reuseNs = this.policy.loopbackTimeWaitReuseNs;
    const reuseBefore = reuseNs === undefined ? -Infinity : this.now - reuseNs;
    // The key and its hash are the same for every connection of a step: made once per step.
    // The key, its hash and its perturbation live in the memo while the step lasts; the
    // perturbation goes back to the table when another destination comes.
    let memo = this.portMemo;
    if (memo.step !== from || memo.src !== src) {
      if (memo.step) this.perturb.set(memo.key, memo.perturb);
      const k = HostState.tupleKey(src, dst, dport);
      memo = this.portMemo = { step: from, src, key: k, hash: hashString(this.scenario.seed, k), perturb: this.perturb.get(k) ?? 0 };
    }
    const step = memo.perturb;
    const offset = ((memo.hash + step) % n) & ~1;
    const free = (port: number): boolean => host.clientPortFree(port, src, dst, dport, reuseBefore);
    // The first ports one by one, as the kernel tries them; a key whose ports are that busy gets
    // a bitmap of them (port-picker.ts), with which the same pick skips its taken ports.
    const small = n <= LINEAR_TRIES;
    let pick: PortPick | null = null;
    const linear = small || this.options.linearPortSearch === true;
    if (linear || !host.hasTupleBits(memo.key)) pick = pickPortLinear(low, n, offset, free, linear ? Infinity : LINEAR_TRIES);
    if (pick === null && !linear) {
      const takeover = reuseNs !== undefined && (isLoopback(src) || isLoopback(dst));
      pick = host.tupleBits(memo.key, src, dst, dport).pick(low, n, offset, takeover, free);
    }
    if (pick === null) return 0;
    memo.perturb = step + pick.i + 2;
    return pick.port;
  }

  /**
   * The source of a connection to the host's own address dst: the prefsrc of dst's local route, which
   * for an IPv4 secondary is the primary of its subnet (the first address with its prefix), else dst
   * [net/ipv4/fib_frontend.c fib_add_ifaddr: IFA_F_SECONDARY → prim = inet_ifa_byprefix; net/ipv4/route.c
   * ip_route_output_key_hash_rcu: RTN_LOCAL → fl4->saddr = fib_prefsrc]. Found on 6.18 by the fifth hunt.
   * Only where the policy has Linux's secondaries; an IPv6 address is its own source (RFC 6724 rule 1).
   */
  private localSource(host: HostState, dst: IpAddr): IpAddr {
    if (dst.family !== 4 || !this.policy.ipv4Secondaries) return dst;
    const iface = host.ifaceOwning(dst);
    const own = iface?.addresses.find((a) => a.addr.text === dst.text);
    return (own && iface!.addresses.find((a) => sameSubnet(a, own))?.addr) ?? dst;
  }

  /**
   * The interface a host leaves by for dst and the source address (docs/scenario-format.md: the interface
   * whose subnet holds the destination, else the first; its primary address of the family), as
   * Linux picks them, and the BSDs (the route's interface address); Windows and the IPv6 candidates
   * by the policy's Routing. The most specific subnet holding dst wins [net/ipv4/fib_trie.c: longest
   * prefix match]. IPv4: the source is that subnet's primary, its first address (the connected
   * route's prefsrc) [net/ipv4/fib_frontend.c fib_add_ifaddr]; off every subnet, the interface's
   * first address. IPv6: RFC 6724 among the interface's addresses [net/ipv6/addrconf.c
   * __ipv6_dev_get_saddr]: the destination itself; else one of a scope at least the
   * destination's (global over link-local); then the longest prefix shared with dst, counted up
   * to the address's own prefix length (rule 8); among equals the address added last, which the
   * kernel lists first [net/ipv6/addrconf.c ipv6_link_dev_addr].
   */
  private egress(host: HostState, dst: IpAddr): { iface: IfaceState; src: IpAddr; via: IpAddr | null; text: string } | null {
    const route = findRoute(host, dst, this.addedAt, this.v4Flushed);
    if (!route) return null;
    const { iface, subnet: best, via, text } = route;
    const routing = this.policy.routing;
    // The route's own source (`src:`) first [net/ipv4/route.c ip_route_output_key_hash_rcu: FIB_RES_PREFSRC;
    // net/ipv6/route.c ip6_route_get_saddr: fib6_prefsrc].
    if (route.src) return { iface, src: route.src, via, text };
    if (dst.family === 4) {
      // Windows: the outgoing interface's address nearest the next hop (routing.ts longestMatchSource4);
      // else through a gateway, the address of the outgoing interface on the gateway's subnet
      // [net/ipv4/fib_semantics.c fib_info_update_nhc_saddr → inet_select_addr(dev, gw)].
      const src = routing.source4.is === 'longest-match' ? longestMatchSource4(iface, via ?? dst, dst)
        : best?.addr ?? selectAddr(iface, via ?? dst);
      return src ? { iface, src, via, text } : null;
    }
    // Every interface's addresses are candidates where the policy says so (Routing.source6).
    if (routing.source6.is === 'all-interfaces' && !isLinkLocal6(dst)) {
      const src = source6AnyInterface(host, dst, iface);
      return src ? { iface, src, via, text } : null;
    }
    let pick: Cidr | undefined;
    let pickScore = -1;
    for (const c of iface.addresses) {
      if (c.addr.family !== 6) continue;
      // Scope first (2 = the destination itself, 1 = a scope at least dst's), then rule 8's prefix.
      const scope = c.addr.text === dst.text ? 2 : isLinkLocal6(c.addr) && !isLinkLocal6(dst) ? 0 : 1;
      const score = scope * 256 + Math.min(commonPrefix(c.addr, dst), c.prefix);
      if (score >= pickScore) { pick = c; pickScore = score; }
    }
    return pick ? { iface, src: pick.addr, via, text } : null;
  }

  /** The route for dst through `from`, the interface holding the given source (strong host send: routing.ts findRoute with an output interface). */
  private egressThrough(host: HostState, dst: IpAddr, from: IfaceState, source: IpAddr): { iface: IfaceState; src: IpAddr; via: IpAddr | null; text: string } | null {
    const route = findRoute(host, dst, this.addedAt, this.v4Flushed, from);
    return route ? { iface: route.iface, src: source, via: route.via, text: route.text } : null;
  }

  /** The interface on the client's link that the client's neighbour entry for dst names, when nobody owns dst now. */
  private staleNeighbour(client: HostState, cif: IfaceState, dst: IpAddr): IfaceState | undefined {
    const mac = client.neighbours.get(dst.text);
    if (!mac) return undefined;
    return cif.link.members.find((m) => m.host !== client && m.mac.every((b, i) => b === mac[i]));
  }

  /**
   * The walk of the current step's SYNs from the first neighbour on (forwarding.ts), made once per
   * step and source; null when the first neighbour has the destination and checks no source (one link).
   */
  private forwardWalk(step: ConnectStep, cif: IfaceState, sif: IfaceState, src: IpAddr, dst: IpAddr, next: IpAddr): Walk | null {
    const routing = this.policy.routing;
    if (next === dst && !(routing.rpFilter?.is && sif.host.sysctl.rpFilter)) return null;
    const m = this.walkMemo;
    if (m.step === step && m.src === src) return m.walk;
    const v6 = this.policy.families.includes('inet6');
    const w = walk(routing, { out: cif, next: sif, nextAddr: next }, src, dst, dst.family === 6 ? this.policy.fingerprint.hopLimit : this.policy.fingerprint.ttl, this.lookup, v6);
    this.walkMemo = { step, src, walk: w };
    return w;
  }

  /** The decision for a SYN that never reaches the destination's host (forwarding.ts walk): nobody looks it up. */
  private unforwarded(w: Walk, dst: IpAddr, dport: number): CachedLookup {
    const rule = w.kind === 'arrived' ? '' : w.why;
    const result: LookupResult = { sock: null, candidates: [], action: 'drop', rule };
    const to = formatEndpoint({ addr: dst, port: dport });
    return { version: -1, result, names: [], comment: `bindlab ${this.policy.name}: SYN to ${to} never arrives. ${rule}`,
      record: lookupPacketRecord(this.policy.name, to, result, null) };
  }

  /** A SYN that reaches a host for an address it does not have: dropped (no forwarding) [net/ipv4/ip_input.c ip_route_input_slow: not RTN_LOCAL, forwarding off]. */
  private notMine(server: HostState, dst: IpAddr, dport: number): CachedLookup {
    const rule = `${server.name} no longer has ${dst.text}; the client's neighbour entry still sends there and the SYN is dropped [net/ipv4/ip_input.c, route.c ip_route_input_slow]`;
    const result: LookupResult = { sock: null, candidates: [], action: 'drop', rule };
    return { version: server.listenerVersion, result, names: [],
      comment: `bindlab ${this.policy.name}: SYN to ${dst.family === 6 ? `[${dst.text}]` : dst.text} dropped silently. ${rule}`,
      record: lookupPacketRecord(this.policy.name, formatEndpoint({ addr: dst, port: dport }), result, null) };
  }

  /** A SYN for dst that a strong host drops: it came in on an interface that does not hold dst (routing.ts receives). */
  private notOnIngress(server: HostState, sif: IfaceState, dst: IpAddr, dport: number): CachedLookup {
    const to = formatEndpoint({ addr: dst, port: dport });
    const rule = `${server.name}/${sif.name} does not hold ${dst.text} and ${server.name} does not forward: the strong host model drops the SYN [${this.policy.routing.receive.cite}]`;
    const result: LookupResult = { sock: null, candidates: [], action: 'drop', rule };
    return { version: server.listenerVersion, result, names: [],
      comment: `bindlab ${this.policy.name}: SYN to ${to} dropped silently. ${rule}`,
      record: lookupPacketRecord(this.policy.name, to, result, null) };
  }

  /**
   * The host's loopback: an interface `lo` on a link of its own (captured as HOST/lo, Ethernet with
   * zero MACs as Linux captures lo), for connections to the host's own addresses.
   */
  private loopbackOf(host: HostState): IfaceState {
    let lo = this.loopbacks.get(host);
    if (!lo) {
      const name = `${host.name}/lo`;
      const link: LinkState = { name, latencyNs: LOOPBACK_LATENCY_NS, captureId: -1, members: [] };
      if (this.sink) link.captureId = this.sink.addInterface({ name, linkType: LINKTYPE_ETHERNET, snaplen: 262144, description: `bindlab loopback of ${host.name}, ${this.policy.name}` });
      lo = { host, name: 'lo', mac: ZERO_MAC, macText: '00:00:00:00:00:00', addresses: [], link };
      link.members.push(lo);
      this.loopbacks.set(host, lo);
    }
    return lo;
  }

  /**
   * ARP (IPv4) or neighbour solicitation (IPv6) for dst on the client's link: the interface there
   * that answers for dst by the policy's rule (routing.ts answersNeighbour: Linux's IPv4 for any
   * address of its host, arp_ignore=0; otherwise, and IPv6 always, its own addresses only).
   */
  private neighbourOwner(client: HostState, cif: IfaceState, dst: IpAddr): IfaceState | undefined {
    // A kernel without IPv6 (policy families) does not answer neighbour solicitations.
    const speaks = dst.family === 4 || this.policy.families.includes('inet6');
    for (const m of cif.link.members) {
      if (m.host === client || !speaks) continue;
      if (answersNeighbour(this.policy.routing, m, dst)) return m;
    }
    return undefined;
  }

  /** Why nobody answers neighbour discovery for dst on cif's link (routing.ts heldElsewhere). */
  private unanswered(client: HostState, cif: IfaceState, dst: IpAddr): string {
    return heldElsewhere(this.policy.routing, client, cif, dst) ?? `nobody on link ${cif.link.name} answers for ${dst.text}`;
  }

  /** Why the client's neighbour discovery for `next` went unanswered (naming the route when next is its gateway). */
  private unresolvedWhy(client: HostState, cif: IfaceState, next: IpAddr): string {
    const o = this.routeOut;
    return `${this.unanswered(client, cif, next)}${o?.via ? ` (the gateway of ${o.text})` : ''}`;
  }

  /** Neighbour discovery from cif for dst, which owner (neighbourOwner's) answers; returns owner, or null when nobody answers. */
  private resolve(client: HostState, cif: IfaceState, src: IpAddr, dst: IpAddr, owner: IfaceState | undefined, step: ConnectStep): IfaceState | null {
    const link = cif.link;
    // A request whose sender address the owner has itself is a martian source: no reply
    // [net/ipv4/arp.c arp_process: ip_route_input on the sender fails for a local address].
    if (owner && dst.family === 4 && owner.host.ifaceOwning(src)) owner = undefined;
    if (owner && client.neighbours.has(dst.text)) return owner;
    let t = this.now;
    const lat = link.latencyNs;
    const tries = owner ? 1 : ARP_TRIES;
    const record = owner ? undefined
      : withStep(outcomePacketRecord(this.policy.name, formatEndpoint({ addr: this.routeDst, port: step.to.port }), 'unreachable', this.unresolvedWhy(client, cif, dst)), step.index);
    for (let i = 0; i < tries; i++) {
      const note = owner ? undefined : `bindlab ${this.policy.name}: ${heldElsewhere(this.policy.routing, client, cif, dst) ?? `no host on link ${link.name} has ${dst.text}`}; unanswered`;
      if (dst.family === 4) {
        this.raw(link, t, writeArpFrame(this.frame, { op: 1, senderMac: cif.mac, senderIp: src, targetMac: ZERO_MAC, targetIp: dst, dstMac: BROADCAST }), note, record);
      } else {
        this.raw(link, t, writeNdpFrame(this.frame, { type: 'ns', srcMac: cif.mac, src, target: dst }), note, record);
      }
      if (!owner) t += ARP_RETRANS_NS;
    }
    if (!owner) { this.now = t; return null; }
    t += lat;
    if (dst.family === 4) {
      this.raw(link, t, writeArpFrame(this.frame, { op: 2, senderMac: owner.mac, senderIp: dst, targetMac: cif.mac, targetIp: src, dstMac: cif.mac }), undefined);
    } else {
      this.raw(link, t, writeNdpFrame(this.frame, { type: 'na', srcMac: owner.mac, dstMac: cif.mac, src: dst, dst: src, target: dst, solicited: true, override: true, router: owner.host.forward }), undefined);
    }
    client.neighbours.set(dst.text, owner.mac);
    owner.host.neighbours.set(src.text, cif.mac);
    // The same entries by interface, as a router's hops look them up (forwarded-frames.ts).
    client.neighbours.set(`${cif.name} ${dst.text}`, owner.mac);
    owner.host.neighbours.set(`${owner.name} ${src.text}`, cif.mac);
    this.now = t + lat;
    return owner;
  }

  raw(link: LinkState, t: number, len: number, comment: string | undefined, record?: string): void {
    this.sink?.packet(link.captureId, t, this.frame, len, comment, record);
  }

  /** `link`: what the frame goes out on (a link, or a replayed SYN's record of its link). */
  tcp(link: { readonly captureId: number }, t: number, srcMac: Uint8Array, dstMac: Uint8Array, src: IpAddr, dst: IpAddr, sport: number, dport: number,
    seq: number, ack: number, flags: number, window: number, options: readonly TcpOption[], payload: Uint8Array,
    comment: string | undefined, ipId: number, flowLabel: number, record?: string): void {
    const sink = this.sink;
    if (!sink) return;
    const seg = this.seg;
    seg.srcPort = sport; seg.dstPort = dport; seg.seq = seq >>> 0; seg.ack = ack >>> 0; seg.flags = flags; seg.window = window;
    seg.options = options; seg.payload = payload;
    const spec = this.spec;
    spec.srcMac = srcMac; spec.dstMac = dstMac; spec.src = src; spec.dst = dst;
    spec.ttl = (src.family === 6 ? this.policy.fingerprint.hopLimit : this.policy.fingerprint.ttl) - this.forwarded.ttlDown;
    spec.ipId = ipId;
    spec.flowLabel = flowLabel;
    spec.dontFragment = this.policy.fingerprint.dontFragment;
    const inPlace = this.inPlace;
    if (inPlace) {
      // Straight into the capture writer's buffer: no copy of the frame.
      const at = inPlace.reserveFrame(MAX_TCP_HEADERS + payload.length, comment, record);
      const len = writeTcpFrame(inPlace.frameBuffer, spec, at);
      if (this.forwarded.quoting) this.forwarded.quote(inPlace.frameBuffer, at, len);
      inPlace.commitFrame(link.captureId, t, len, comment, record);
      return;
    }
    const len = writeTcpFrame(this.frame, spec);
    if (this.forwarded.quoting) this.forwarded.quote(this.frame, 0, len);
    sink.packet(link.captureId, t, this.frame, len, comment, record);
  }

  /** SegmentOut: one segment of a connection (the Conversation's), timestamps in its own option. */
  segment(link: { readonly captureId: number }, t: number, from: ConnEnd, to: ConnEnd, seq: number, ack: number, flags: number,
    window: number, options: readonly TcpOption[], payload: Uint8Array, ipId: number, flowLabel: number,
    comment: string | undefined, record?: string): void {
    if (!this.sink) return;
    if (from.hops.length !== 0) {
      this.forwarded.segment(from.hops, from === this.conv.client, t, from, to, seq, ack, flags, window, options, payload, ipId, flowLabel, comment, record);
      return;
    }
    this.tcp(link, t, from.mac, from.dstMac, from.ip, to.ip, from.port, to.port, seq, ack, flags, window, options, payload, comment, ipId, flowLabel, record);
  }

  private readonly payloads = new Map<string, Uint8Array<ArrayBufferLike>>();
  private payloadFor(text: string): Uint8Array {
    let b = this.payloads.get(text);
    if (!b) this.payloads.set(text, (b = this.encoder.encode(text)));
    return b;
  }

  private bannerFor(listener: Sock): Uint8Array {
    let b = this.bannerCache.get(listener);
    if (!b) this.bannerCache.set(listener, (b = this.encoder.encode(`bindlab ${listener.hostName}/${listener.processName}/${listener.name}\r\n`)));
    return b;
  }

  // ---- replay (src/replay): connection attempts from a real capture, delivered to the hosts ------

  /** replaySyn's destination addresses and the host and interface owning each (null: nobody). */
  private readonly replayOwners = new Map<IpAddr, { readonly server: HostState; readonly sif: IfaceState } | null>();

  /** Runs steps [0, end) (a replay's setup: the steps before the first connect) and returns their results. */
  replaySetup(end: number): StepResult[] {
    const out: StepResult[] = [];
    for (const step of this.scenario.steps.slice(0, end)) out.push(this.runStep(step));
    return out;
  }

  /** The host that owns addr now, with the interface holding it, or undefined. */
  replayOwner(addr: IpAddr): { readonly host: string; readonly iface: string } | undefined {
    for (const h of this.hosts.values()) {
      const i = h.ifaceOwning(addr);
      if (i) return { host: h.name, iface: i.name };
    }
    return undefined;
  }

  /**
   * A captured SYN src:sport -> dst:dport delivered at timeNs: the policy's decision. The answer
   * is replayAnswer's, so the caller can write the captured SYN (with the decision's comment)
   * first. Nothing is registered: replayed connections hold no ports. Fills `out` (reused by the
   * caller: no object per SYN); false when no host has dst.
   */
  replaySyn(timeNs: number, src: IpAddr, sport: number, dst: IpAddr, dport: number, out: ReplayedSyn): boolean {
    const owner = this.replayOwnerOf(dst);
    if (!owner) return false;
    const { server, sif } = owner;
    this.now = timeNs;
    if (dst.family === 6 && !this.policy.families.includes('inet6')) {
      // As connect() has it: a kernel without IPv6 answers no neighbour solicitation, so the SYN is never sent (neighbourOwner).
      out.result = 'unreachable'; out.candidates = NONE; out.reason = 'no IPv6';
      out.comment = `bindlab ${this.policy.name}: SYN to [${dst.text}]:${dport} unreachable: ${this.policy.name} has no IPv6, nobody answers the neighbour solicitation for ${dst.text}`;
      out.captureId = sif.link.captureId; out.serverMac = sif.mac; out.latencyNs = sif.link.latencyNs; out.banner = EMPTY; out.perDestination = true;
      this.replayServerIsn(timeNs, src, sport, dst, dport, out);
      return true;
    }
    const decision = this.decide(server, sif, src, sport, dst, dport);
    const lk = decision.result;
    const link = sif.link;
    out.result = lk.action === 'accept' ? lk.sock!.name : lk.action === 'rst' ? 'refused' : 'timeout';
    out.candidates = decision.names; out.comment = decision.comment; out.record = decision.record; out.reason = lk.rule; out.captureId = link.captureId;
    out.serverMac = sif.mac; out.latencyNs = link.latencyNs;
    out.banner = lk.action === 'accept' ? this.bannerFor(lk.sock!) : EMPTY;
    // The same decision for every SYN to dst:dport while nothing changes (as decide's cache has
    // it): no SO_REUSEPORT group chose by the tuple's hash, no TIME_WAIT of a tuple to end.
    out.perDestination = decision.names.length <= 1 && this.serverTimeWaits.size === 0;
    this.replayServerIsn(timeNs, src, sport, dst, dport, out);
    return true;
  }

  /**
   * The emulated server's ISN and first TSval for the replayed connection src:sport -> dst:dport
   * into out, and its start time: for a caller that reuses a per-destination decision.
   */
  replayServerIsn(timeNs: number, src: IpAddr, sport: number, dst: IpAddr, dport: number, out: ReplayedSyn): void {
    // They only show in an output: without a sink, not worth their hashing.
    const sIsn = this.sink ? mix32(hashTuple(this.scenario.seed, src.bytes, sport, dst.bytes, dport) ^ 0x1f1f1f1f) : 0;
    out.serverIsn = sIsn;
    out.serverTsval = this.sink ? mix32(sIsn ^ 0x5a5a5a5a) : 0;
    out.t0 = timeNs;
  }

  /**
   * What the emulated server of a replayed connection puts in its TCP/IP headers, per family:
   * the replay builds its SYN-ACK, RST, banner and FIN from it (replay/server-frames.ts), with
   * replayIpId, replayFlowLabel and replayTsval for the values that vary per connection and segment.
   */
  replayServerProfile(family: 4 | 6): ReplayServerProfile {
    const fp = this.policy.fingerprint;
    const w = this.replayWindows(family);
    return {
      ttl: family === 6 ? fp.hopLimit : fp.ttl, dontFragment: fp.dontFragment,
      synAckWindow: w.initialWindow, window: w.window,
      // The fingerprint's options, as the conversation builds them; the timestamps' values are each segment's own.
      synAckOptions: optionList(fp.synAckOptions, { kind: 'mss', mss: w.mss }, TS_PLACEHOLDER, { kind: 'windowScale', shift: w.scale }),
      dataOptions: dataOptionList(fp, TS_PLACEHOLDER),
    };
  }

  /**
   * The IPv4 ID of the emulated server's segment on a replayed connection whose server ISN is
   * serverIsn: the n-th of its child socket (socket), or its answer to the SYN, sent without one.
   */
  replayIpId(serverIsn: number, socket: boolean, n: number): number {
    const fp = this.policy.fingerprint;
    const base = mix32(serverIsn ^ 0x51d5);
    switch (fp.ipId) {
      case 'per-socket': return !socket && fp.dontFragment ? 0 : (base + n) & 0xffff;
      case 'zero-with-df': return fp.dontFragment ? 0 : (base + n) & 0xffff;
      default: return mix32(base ^ n ^ (socket ? 0x5eed : 0)) & 0xffff;
    }
  }

  /** The IPv6 flow label of the emulated server's segments on a replayed connection (its RST has one of its own). */
  replayFlowLabel(serverIsn: number, rst: boolean): number {
    return this.policy.fingerprint.flowLabel === 'per-direction' ? (mix32(serverIsn ^ (rst ? 0x7e5e7 : 0xf10e)) & 0xfffff) || 1 : 0;
  }

  /**
   * A captured UDP datagram src:sport -> dst:dport delivered at timeNs (issue 18): the policy's
   * decision by its UDP rules over the host's UDP sockets (UdpLayer.replayDeliver), into out
   * (reused by the caller); false when no host has dst. Nothing is written: the caller writes the
   * captured datagram, then replayPortUnreachable and replayReplies write the host's answers.
   */
  replayDatagram(timeNs: number, src: IpAddr, sport: number, dst: IpAddr, dport: number, out: ReplayedDatagram): boolean {
    const owner = this.replayOwnerOf(dst);
    if (!owner) return false;
    const { server, sif } = owner;
    this.now = timeNs;
    if (dst.family === 6 && !this.policy.families.includes('inet6')) {
      // As for a SYN: a kernel without IPv6 answers no neighbour solicitation, so the datagram is never sent.
      out.result = 'unreachable'; out.candidates = NONE; out.reason = 'no IPv6'; out.replyFrom = ''; out.receivers = [];
      out.comment = `bindlab ${this.policy.name}: datagram to [${dst.text}]:${dport} unreachable: ${this.policy.name} has no IPv6, nobody answers the neighbour solicitation for ${dst.text}`;
      out.record = '';
      out.captureId = sif.link.captureId; out.serverMac = sif.mac; out.latencyNs = sif.link.latencyNs; out.host = server; out.iface = sif; out.perDestination = true; out.perClient = true;
      return true;
    }
    (this.udpReplay ??= new UdpReplay(this.udp)).replayDeliver(server, sif, src, sport, dst, dport, out);
    return true;
  }

  /** The ICMP port unreachable for a replayed datagram decided port-unreachable (UdpLayer.replayPortUnreachable); false when rate-limited. */
  replayPortUnreachable(d: ReplayedArrival, timeNs: number, clientMac: Uint8Array, client: IpAddr, sport: number, wireDst: IpAddr, dport: number, quoted: Uint8Array,
    comment: string | undefined, record: string | undefined): boolean {
    return this.udpReplay!.replayPortUnreachable(d, timeNs, clientMac, client, wireDst, quoted, sport, dport, comment, record);
  }

  /** The receivers' replies to a replayed datagram at timeNs (UdpLayer.replayReplies). */
  replayReplies(d: ReplayedArrival, timeNs: number, clientMac: Uint8Array, client: IpAddr, cport: number, wireDst: IpAddr, dst: IpAddr, dport: number,
    query: Uint8Array, verdict: string, record: string): void {
    this.udpReplay!.replayReplies(d, timeNs, clientMac, client, cport, wireDst, dst, dport, query, verdict, record);
  }

  /** The UDP layer's side of a replay (made at the first replayed datagram). */
  private udpReplay: UdpReplay | undefined;

  /** The host and interface owning a replayed packet's destination, found once per address (no step runs after the setup). */
  private replayOwnerOf(dst: IpAddr): { readonly server: HostState; readonly sif: IfaceState } | null {
    let owner = this.replayOwners.get(dst);
    if (owner === undefined) {
      owner = null;
      for (const h of this.hosts.values()) {
        const i = h.ifaceOwning(dst);
        if (i) { owner = { server: h, sif: i }; break; }
      }
      this.replayOwners.set(dst, owner);
    }
    return owner;
  }

  /** A replayed server's header fields per family: Ethernet's MTU and the kernel's default sysctls. */
  private readonly replayEnds = new Map<number, { mss: number; initialWindow: number; window: number; scale: number }>();

  private replayWindows(family: 4 | 6): { mss: number; initialWindow: number; window: number; scale: number } {
    let e = this.replayEnds.get(family);
    if (!e) {
      const fp = this.policy.fingerprint;
      const mss = mssForMtu(ETHERNET_MTU, family);
      if (fp.windowRule === 'linux') {
        const initialWindow = linuxInitialWindow(LINUX_TCP_RMEM[1], mss, true, fp.synOptions.includes('timestamps'));
        const scale = linuxWindowScale(LINUX_TCP_RMEM[2], this.options.rmemMax ?? LINUX_RMEM_MAX);
        e = { mss, initialWindow, scale, window: linuxEstablishedWindow(initialWindow, scale) };
      } else {
        e = { mss, initialWindow: fp.synAckWindow, window: fp.window, scale: fp.windowScale };
      }
      this.replayEnds.set(family, e);
    }
    return e;
  }
}

/** The emulated server's headers on a replayed connection (Run.replayServerProfile). */
export interface ReplayServerProfile {
  /** TTL (IPv4) or hop limit (IPv6). */
  readonly ttl: number;
  /** DF on IPv4. */
  readonly dontFragment: boolean;
  readonly synAckWindow: number;
  /** The SYN-ACK's options in order; a timestamps option among them is TS_PLACEHOLDER, each frame has its own values. */
  readonly synAckOptions: readonly TcpOption[];
  /** The window of the segments after the handshake. */
  readonly window: number;
  /** Their options while the client sends timestamps (none when it does not: a TSecr of 0); timestamps as in synAckOptions. */
  readonly dataOptions: readonly TcpOption[];
}

/** The timestamps option of a ReplayServerProfile's lists: its values are zero, a frame's own take their place. */
export const TS_PLACEHOLDER: TcpOption = { kind: 'timestamps', tsval: 0, tsecr: 0 };

/**
 * The TSval of the emulated server's segment at timeNs on a replayed connection whose SYN-ACK
 * carried serverTsval at t0: a clock of 1 ms ticks, as the conversation's (conversation.ts).
 */
export function replayTsval(serverTsval: number, t0: number, timeNs: number): number {
  return (serverTsval + Math.floor((timeNs - t0) / 1e6)) >>> 0;
}

/** What replaySyn decided and what the replay needs to go on answering for the server. */
export interface ReplayedSyn {
  /** The accepting socket's name, "refused", "timeout" or "unreachable" (a policy without IPv6). */
  result: string;
  candidates: readonly string[];
  /** The packet comment of the decision (as `run` writes it); a replay may leave it out of an answer (undefined). */
  comment: string | undefined;
  /** The decision's machine-readable record (decision-record.ts), written as a second comment. */
  record: string;
  reason: string;
  /** The sink interface of the server's link. */
  captureId: number;
  serverMac: Uint8Array;
  serverIsn: number;
  serverTsval: number;
  t0: number;
  /** The server link's latency: the answer goes out that long after the SYN. */
  latencyNs: number;
  /** The accepting socket's banner; empty unless accepted. */
  banner: Uint8Array;
  /** Whether every SYN to this destination address and port gets this decision (see replaySyn). */
  perDestination: boolean;
}

export const newReplayedSyn = (): ReplayedSyn => ({
  // -0: the number fields start as doubles (uint32s and ns times are), so the first large value
  // changes no field representation (which would deoptimize the code using the record).
  result: '', candidates: NONE, comment: '', record: '', reason: '', captureId: 0, serverMac: ZERO_MAC, serverIsn: -0, serverTsval: -0, t0: -0, latencyNs: -0, banner: EMPTY, perDestination: false,
});

interface OpenConn {
  readonly conn: OpenConnection;
  readonly client: HostState;
  /** The client's connection on its host (HostState.addClient). */
  readonly cslot: number;
}

const EMPTY: Uint8Array = new Uint8Array(0);
const LOOPBACK_V4 = parseIp('127.0.0.1')!;
const LOOPBACK_V6 = parseIp('::1')!;
/** One way over a host's loopback. */
const LOOPBACK_LATENCY_NS = 10_000;
/** An Ethernet link's MTU [RFC 894]. */
const ETHERNET_MTU = 1500;
/** Ethernet (14) + IPv6 (40) + TCP with 40 bytes of options (60): the most a TCP frame adds to its payload. */
const MAX_TCP_HEADERS = 114;
const SHARED_FRAME: Uint8Array = new Uint8Array(65536 + MAX_TCP_HEADERS);
const NONE: readonly string[] = [];
const NO_HOPS: readonly Hop[] = [];

/** For explain: how the SYN crossed routers and how the answer went (after the client's route). */
function pathWords(fwd: Walk | null, path: ReplyPath | null, back: readonly Hop[]): string {
  let w = '';
  if (fwd && (fwd.hops.length > 1 || fwd.kind !== 'arrived')) w += `; the SYN: ${hopsText(fwd.hops)}`;
  if ((fwd && fwd.kind !== 'arrived') || path === null) return `${w}, and no further`;
  if (path.kind === 'routed') w += `; the answer, by ${path.route}: ${hopsText(back)}`;
  else if (back.length > 0) w += `; the answer, the same way back: ${hopsText(back)}`;
  else if (path.kind === 'other') w += `; the answer leaves by ${path.out.host.name}/${path.out.name} (link ${path.out.link.name})`;
  else if (path.kind === 'lost') w += `; the answer is lost: ${path.why}`;
  return w;
}

/** The one-way latency of a path: its links', or the first link's on one link. */
function pathLatency(hops: readonly Hop[], single: number): number {
  if (hops.length === 0) return single;
  let ns = 0;
  for (const h of hops) ns += h.out.link.latencyNs;
  return ns;
}

const expireClient = (host: HostState, slot: number, id: number): void => host.expireClient(slot, id);



const NO_OPTS: readonly TcpOption[] = [];

function parseMac(text: string): Uint8Array {
  let mac = parsedMacs.get(text);
  if (mac === undefined) {
    mac = Uint8Array.from(text.split(':').map((x) => parseInt(x, 16)));
    if (parsedMacs.size >= 4096) parsedMacs.clear();
    parsedMacs.set(text, mac);
  }
  // A copy: each run's interface owns its MAC (an audit makes thousands of runs of one scenario).
  return mac.slice();
}

const parsedMacs = new Map<string, Uint8Array>();

/** A server connection's 4-tuple as a key; a v4-mapped local address counts as its IPv4 address. */
function tupleKey(host: string, local: IpAddr, lport: number, remote: IpAddr, rport: number): string {
  const l = isV4Mapped(local) ? local.text.slice(7) : local.text;
  return `${host}|${l}|${lport}|${remote.text}|${rport}`;
}

/** Whether IPv4 address b is in a's subnet with a's prefix length (what makes b a secondary of a). */
function sameSubnet(a: Cidr, b: Cidr): boolean {
  return a.addr.family === 4 && b.addr.family === 4 && a.prefix === b.prefix && inSubnet(a, b.addr);
}

/** The acceptable results of a step for a policy, or undefined when nothing is expected of it. */
export function expectationFor(e: Expectation | undefined, policy: string): readonly string[] | undefined {
  if (!e) return undefined;
  return e.byPolicy.get(policy) ?? e.fallback;
}

export { describe as describeSocket, isWildcard };
export type { Errno };

/** The engine of one policy's run, for replay (src/replay), which drives it packet by packet. */
export { Run };

