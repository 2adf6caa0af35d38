// The real-kernel oracle: runs a scenario on this machine's Linux kernel, one network
// namespace per scenario host, and reports the results in the emulator's vocabulary.
// Topology: each interface is a veth whose peer sits on a bridge (one per scenario link)
// in a private "switch" namespace; nothing leaves the namespaces this run creates. The kernel's
// names (namespaces, interfaces) are made from indexes (kernelNames); reports use the scenario's.
// Each scenario process is a Python agent (agent.py) running as the process's uid.

import { execFileSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Agent, pythonPath } from './agents.js';
import { capture, firstLine, run, settleTimeWait, setupProblem, sleep, startTcpdump, stopTcpdump } from './ns-commands.js';
import { DatagramRunner, lateRouterErrors, type KernelDelivery } from './run-udp.js';
import type { ConnectStep, DatagramStep, Host, MembershipStep, Scenario, SockOptions, Step, UdpConnectStep } from '../scenario/types.js';
import { LINUX_TCP_RMEM } from '../emu/policy/fingerprint.js';

/** A fresh namespace's ip_local_port_range low end. */
const DEFAULT_PORT_RANGE_LOW = 32768;

/** Every step the harness runs: the TCP steps and the UDP ones (src/kernel/run-udp.ts). */
export type KernelStep = Step | UdpConnectStep | MembershipStep | DatagramStep;

export interface KernelStepResult {
  readonly index: number;
  readonly kind: KernelStep['kind'];
  /**
   * "ok" or an errno name; for a connect: the accepting socket, "refused", "unreachable" or
   * "timeout"; for a datagram: the receiving socket, `a+b` (each got a copy), port-unreachable,
   * unreachable, dropped, or the send's errno.
   */
  readonly result: string;
  /** Connect and datagram steps: one result per connection or datagram (count). */
  readonly results?: readonly string[];
  /** Datagram steps: per datagram, who received it and where their replies came from. */
  readonly deliveries?: readonly KernelDelivery[];
  /** Bind/listen: the local address the kernel reports ("10.0.0.1:8080", "[::]:33017"). */
  readonly local?: string;
}

export interface KernelRunOptions {
  /** How long a connect waits for SYN-ACK or RST before it counts as unanswered (default 1000 ms). */
  timeoutMs?: number;
  /** Keep the namespaces and agents after the run (for poking with `ip netns exec`). */
  keep?: boolean;
  /** How long a datagram is given to arrive before its sockets are read (default 60 ms; more on a loaded machine). */
  settleMs?: number;
  /**
   * Keep the kernel's per-peer ICMP rate limit (net.ipv4.icmp_ratelimit, net.ipv6.icmp.ratelimit;
   * default true). Its tokens refill with real time, which passes between the harness's steps but
   * not between the emulator's: a long program compares without it on both sides.
   */
  icmpRateLimit?: boolean;
  /** Upper bound for each `wait` step's real sleep (default: no bound; TIME_WAIT needs 61 s). */
  maxWaitMs?: number;
  /** Called with progress lines (topology commands, agent errors). */
  log?: (line: string) => void;
  /** Told before a `wait` step sleeps on the real clock: what it waits for, in words. */
  onWait?: (line: string) => void;
  /**
   * Record what the kernel sends: one tcpdump per interface (TCP, UDP and ICMP; `-i any` was seen to lose
   * segments) writing DIR/<prefix>.kernel.<host>.<interface>.pcap, lo too on hosts that connect;
   * each file is pushed onto `captures`.
   */
  capture?: { readonly dir: string; readonly prefix: string; readonly captures: KernelCaptureFile[] };
  /**
   * Awaited once the hosts' namespaces are configured, before the first step runs (a capture tool
   * started here and awaited until it listens sees every packet of the steps); nsOf gives a host's
   * namespace.
   */
  beforeSteps?: (nsOf: (host: string) => string | undefined) => Promise<void>;
}

/** One interface's capture of the kernel's TCP segments (Ethernet framing) and how to read it. */
export interface KernelCaptureFile {
  readonly host: string;
  readonly path: string;
  /** Where the segments went, as the emulator names its captures: a link name, or HOST/lo. */
  readonly where: string;
  /** The interface's MAC: its own segments are those from it (each segment is kept once, at its sender); null for lo (all). */
  readonly mac: string | null;
}

// ---------------------------------------------------------------------------------------------
// Availability

let available: { ok: true } | { ok: false; why: string } | undefined;

/** Whether this machine can run the oracle: Linux, root, `ip`, python3 and netns creation. */
export function kernelAvailable(): { ok: true } | { ok: false; why: string } {
  if (available) return available;
  available = probe();
  return available;
}

function probe(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: `platform is ${process.platform}, not linux` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { ok: false, why: 'not running as root (network namespaces need CAP_SYS_ADMIN)' };
  }
  try {
    execFileSync('ip', ['-V'], { stdio: 'pipe' });
  } catch {
    return { ok: false, why: 'the `ip` command (iproute2) is not installed' };
  }
  try {
    pythonPath();
  } catch {
    return { ok: false, why: 'python3 is not installed' };
  }
  const ns = `blprobe${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe' });
  } catch (e) {
    return { ok: false, why: `cannot create a network namespace: ${firstLine(e)}` };
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
  } catch {
    /* best effort */
  }
  return { ok: true };
}


// ---------------------------------------------------------------------------------------------
// Cleanup on exit: every run registers its namespaces and agents until it has cleaned up.

const liveRuns = new Set<Topology>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const t of liveRuns) t.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const t of liveRuns) t.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Topology

let runCounter = 0;

/** The kernel's names for one scenario host: its namespace, and an interface name per scenario interface. */
export interface KernelHostNames {
  readonly ns: string;
  readonly ifaces: ReadonlyMap<string, string>;
}

/**
 * Scenario names are free text (anything but spaces and "/"); kernel names are not: an interface
 * name has at most 15 bytes, no ":" or "/", and "lo" is taken in every namespace [net/core/dev.c
 * dev_valid_name]. So every name the kernel sees is made from an index: namespace PREFIX-hI-TEXT
 * (TEXT only for reading), interface ifJ. Reports keep the scenario's names.
 */
export function kernelNames(scenario: Scenario, prefix: string): Map<string, KernelHostNames> {
  return new Map(
    scenario.hosts.map((h, hi) => [
      h.name,
      {
        ns: `${prefix}-h${hi}-${h.name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 32)}`,
        ifaces: new Map(h.interfaces.map((ifc, ii) => [ifc.name, `if${ii}`])),
      },
    ]),
  );
}

/** A scenario the kernel will not take (an address or MAC it refuses): a clear one-line message. */
export class KernelSetupError extends Error {
  override name = 'KernelSetupError';
}

/** POSIX shell quoting of one word. */
const shellWord = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Whether the kernel takes mac for an Ethernet device: not multicast, not all zero [include/linux/etherdevice.h is_valid_ether_addr]. */
function unicastMac(mac: string): boolean {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) return false;
  return (parseInt(mac.slice(0, 2), 16) & 1) === 0 && /[1-9a-fA-F]/.test(mac);
}

class Topology {
  readonly prefix: string;
  readonly switchNs: string;
  readonly names: Map<string, KernelHostNames>;
  readonly hostNs = new Map<string, string>();
  readonly agents: Agent[] = [];
  private created: string[] = [];
  private destroyed = false;

  constructor(readonly scenario: Scenario, private readonly log: (l: string) => void, private readonly icmpRateLimit = true) {
    this.prefix = `bl${process.pid}x${++runCounter}`;
    this.switchNs = `${this.prefix}-sw`;
    this.names = kernelNames(scenario, this.prefix);
    for (const [host, n] of this.names) this.hostNs.set(host, n.ns);
  }

  /** The kernel's name of a scenario interface of host ("" stays "": no device). */
  ifName(host: string, scenarioName: string): string {
    return scenarioName === '' ? '' : (this.names.get(host)?.ifaces.get(scenarioName) ?? scenarioName);
  }

  async build(): Promise<void> {
    const all = [this.switchNs, ...this.hostNs.values()];
    this.created = all;
    await run('ip', ['-batch', '-'], all.map((n) => `netns add ${n}\n`).join(''));

    // The switch: one bridge per link, one veth per interface; the peer lands in the host.
    const links = new Map<string, string>();
    const linkName = (l: string) => {
      if (!links.has(l)) links.set(l, `br${links.size}`);
      return links.get(l)!;
    };
    for (const l of this.scenario.links) linkName(l.name);
    const sw: string[] = [
      'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6',
      'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6',
    ];
    const swIp: string[] = [];
    this.scenario.hosts.forEach((h, hi) =>
      h.interfaces.forEach((ifc, ii) => {
        const br = linkName(ifc.link);
        swIp.push(`link add v${hi}x${ii} type veth peer name ${this.ifName(h.name, ifc.name)} netns ${this.hostNs.get(h.name)}`);
        swIp.push(`link set v${hi}x${ii} master ${br} up`);
      }),
    );
    const bridges = [...links.values()].flatMap((br) => [
      `link add ${br} type bridge stp_state 0 forward_delay 0 mcast_snooping 0`,
      `link set ${br} up`,
    ]);
    await run('ip', ['netns', 'exec', this.switchNs, 'sh', '-ec', sw.join('\n')]);
    await run('ip', ['-n', this.switchNs, '-batch', '-'], [...bridges, ...swIp].join('\n') + '\n');

    await Promise.all(this.scenario.hosts.map((h) => this.setupHost(h)));
  }

  private async setupHost(h: Host): Promise<void> {
    const ns = this.hostNs.get(h.name)!;
    const w = (path: string, v: string | number) => `echo '${v}' > /proc/sys/${path}`;
    const sc = h.sysctl;
    const sys = [
      w('net/ipv4/ip_nonlocal_bind', sc.ipNonlocalBind ? 1 : 0),
      w('net/ipv6/ip_nonlocal_bind', sc.ipNonlocalBind ? 1 : 0),
      // The kernel checks range low >= unprivileged start at every write: lower the start first, raise it last.
      ...(sc.ipUnprivilegedPortStart <= DEFAULT_PORT_RANGE_LOW
        ? [w('net/ipv4/ip_unprivileged_port_start', sc.ipUnprivilegedPortStart), w('net/ipv4/ip_local_port_range', `${sc.ipLocalPortRange[0]} ${sc.ipLocalPortRange[1]}`)]
        : [w('net/ipv4/ip_local_port_range', `${sc.ipLocalPortRange[0]} ${sc.ipLocalPortRange[1]}`), w('net/ipv4/ip_unprivileged_port_start', sc.ipUnprivilegedPortStart)]),
      // The window scale and initial windows come from it (a namespace starts with the host's own).
      w('net/ipv4/tcp_rmem', (sc.tcpRmem ?? LINUX_TCP_RMEM).join(' ')),
      w('net/ipv4/conf/all/promote_secondaries', sc.promoteSecondaries ? 1 : 0),
      w('net/ipv4/conf/default/promote_secondaries', sc.promoteSecondaries ? 1 : 0),
      // The per-peer ICMP rate limit is the kernel's default unless the run turns it off
      // (KernelRunOptions.icmpRateLimit; docs/kernel-observations.md).
      ...(this.icmpRateLimit ? [] : [w('net/ipv4/icmp_ratelimit', 0), w('net/ipv6/icmp/ratelimit', 0)]),
      // Routing (docs/scenario-format.md): forwarding on routers only; rp_filter is conf.all's, every
      // interface's 0, so max(all, IF) is the scenario's (the namespace may inherit another from the machine).
      w('net/ipv4/ip_forward', h.forward ? 1 : 0),
      w('net/ipv6/conf/all/forwarding', h.forward ? 1 : 0),
      w('net/ipv4/conf/all/rp_filter', sc.rpFilter ?? 0),
      w('net/ipv4/conf/default/rp_filter', 0),
      'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do case $f in */all/*) ;; *) echo 0 > $f;; esac; done',
      // Fast failures: one SYN retry, short neighbour resolution, no DAD.
      w('net/ipv4/tcp_syn_retries', 1),
      'for f in /proc/sys/net/ipv4/neigh/*/retrans_time_ms /proc/sys/net/ipv6/neigh/*/retrans_time_ms; do echo 200 > $f; done',
      'for f in /proc/sys/net/ipv6/conf/*/accept_dad; do echo 0 > $f; done',
    ];
    // Each `ip` command with what it does in the scenario's words, for a message if the kernel refuses it.
    const ipc: [string, string][] = [['link set lo up', 'loopback up']];
    for (const ifc of h.interfaces) {
      const dev = this.ifName(h.name, ifc.name);
      const where = `host "${h.name}" interface "${ifc.name}"`;
      // The scenario's name as the interface's alias (`ip link` shows it); too long a one is left out.
      sys.push(`printf '%s' ${shellWord(ifc.name)} > /sys/class/net/${dev}/ifalias || true`);
      if (ifc.mac && unicastMac(ifc.mac)) ipc.push([`link set ${dev} address ${ifc.mac}`, `${where}: MAC ${ifc.mac}`]);
      else if (ifc.mac && ifc.mac !== 'arp') this.log(`${where}: MAC ${ifc.mac} is not unicast; the kernel keeps its own (no bind or connect result depends on it)`);
      for (const c of ifc.addresses) {
        ipc.push([`addr add ${c.text} dev ${dev}${c.addr.family === 6 ? ' nodad' : ''}`, `${where}: address ${c.text}`]);
      }
      ipc.push([`link set ${dev} up`, `${where} up`]);
    }
    // The scenario's routes, in order (each checked by the loader as `ip route add` checks it).
    for (const r of h.routes ?? []) {
      const dev = this.ifName(h.name, r.dev);
      ipc.push([`route add ${r.to.text}${r.via ? ` via ${r.via.text}` : ''} dev ${dev} metric ${r.metric}${r.src ? ` src ${r.src.text}` : ''}`,
        `host "${h.name}" route to ${r.to.text} (line ${r.pos.line})`]);
    }
    // Without routes: a destination in no connected subnet leaves by the first interface (docs/scenario-format.md).
    const first = h.routes === undefined ? h.interfaces[0] : undefined;
    if (first) {
      const dev = this.ifName(h.name, first.name);
      ipc.push([`route add 0.0.0.0/0 dev ${dev}`, `host "${h.name}": default route`]);
      ipc.push([`route add ::/0 dev ${dev}`, `host "${h.name}": IPv6 default route`]);
    }
    const script = `${sys.join('\n')}\nip -batch - <<'EOF'\n${ipc.map(([c]) => c).join('\n')}\nEOF\n`;
    this.log(`[${ns}]\n${script}`);
    try {
      await run('ip', ['netns', 'exec', ns, 'sh', '-ec', script]);
    } catch (e) {
      // ip -batch names the failing line: "Command failed -:3".
      const line = Number(/Command failed -:(\d+)/.exec(String(e))?.[1] ?? 0);
      const what = ipc[line - 1]?.[1];
      throw new KernelSetupError(`the kernel refuses ${what ?? `the setup of host "${h.name}"`}: ${setupProblem(e)}`);
    }
  }

  spawnAgent(host: string, label: string, uid: number): Agent {
    const a = new Agent(label, this.hostNs.get(host)!, uid);
    this.agents.push(a);
    return a;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const a of this.agents) a.kill();
    if (this.created.length) {
      await run('ip', ['-batch', '-', '-force'], this.created.map((n) => `netns del ${n}\n`).join('')).catch((e) =>
        this.log(String(e)),
      );
    }
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const a of this.agents) a.kill();
    for (const n of this.created) {
      try {
        execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The run

/** Options whose value is a scenario interface name, given to the kernel by its own name. */
const INTERFACE_OPTIONS = new Set(['SO_BINDTODEVICE', 'IP_MULTICAST_IF', 'IPV6_MULTICAST_IF']);

function optionList(o: SockOptions): [string, boolean | string][] {
  // Object key order is the file's order: options apply in the order given.
  return Object.entries(o).filter(([, v]) => v !== undefined) as [string, boolean | string][];
}

function epText(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

interface HeldConnection {
  readonly id: number;
  readonly client: Agent;
  readonly socket: string;
}

/**
 * Runs the scenario's steps on the real kernel and returns one result per step.
 * Namespaces and agents are removed afterwards (unless opts.keep), also when a step throws.
 */
export async function runOnKernel(scenario: Scenario, opts: KernelRunOptions = {}): Promise<KernelStepResult[]> {
  const avail = kernelAvailable();
  if (!avail.ok) throw new Error(`real-kernel run impossible: ${avail.why}`);
  installExitHook();
  const log = opts.log ?? (() => {});
  // Through a router on veths the first ICMPv6 error for a SYN comes back inside the connect() call
  // that sent it, while connect() still owns the socket: only a soft error (TcpExtLockDroppedIcmps),
  // and the SYN retransmitted after 1 s gets the error that ends the connect (measured on 6.18;
  // docs/kernel-observations.md §12). On a link with latency the first one does; so that the
  // kernel's answer is seen at all, a scenario with a router waits 1.5 s.
  const timeoutMs = opts.timeoutMs ?? (scenario.hosts.some((h) => h.forward) ? 1500 : 1000);
  const topo = new Topology(scenario, log, opts.icmpRateLimit ?? true);
  liveRuns.add(topo);
  try {
    try {
      await topo.build();
    } catch (e) {
      throw e instanceof KernelSetupError ? e : new KernelSetupError(`cannot build the scenario's network: ${setupProblem(e)}`);
    }

    const dumps: { child: ChildProcess; path: string }[] = [];
    if (opts.capture) {
      const cap = opts.capture;
      await Promise.all(scenario.hosts.map(async (h) => {
        const ns = topo.hostNs.get(h.name)!;
        const stem = `${cap.prefix}.kernel.${h.name.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
        // `ip -o link`: "2: if0@if3: <...> ... link/ether 02:...".
        const macs = new Map<string, string>();
        for (const line of (await capture('ip', ['-n', ns, '-o', 'link'])).split('\n')) {
          const m = /^\d+: ([^:@]+).*link\/ether ([0-9a-f:]{17})/.exec(line);
          if (m) macs.set(m[1]!, m[2]!);
        }
        const devices: { dev: string; where: string; mac: string | null; file: string }[] = h.interfaces.map((i, n) => ({
          dev: topo.ifName(h.name, i.name), where: i.link, mac: macs.get(topo.ifName(h.name, i.name)) ?? null, file: `${stem}.if${n}.pcap`,
        }));
        // A host that connects may connect to itself, over its lo.
        if (scenario.steps.some((st) => st.kind === 'connect' && st.from === h.name)) devices.push({ dev: 'lo', where: `${h.name}/lo`, mac: null, file: `${stem}.lo.pcap` });
        await Promise.all(devices.map(async (d) => {
          const path = resolve(cap.dir, d.file);
          dumps.push({ child: await startTcpdump(ns, path, d.dev), path });
          cap.captures.push({ host: h.name, path, where: d.where, mac: d.mac });
        }));
      }));
    }
    if (opts.beforeSteps) await opts.beforeSteps((host) => topo.hostNs.get(host));
    try {
    // One agent per scenario process, one client agent per connecting (host, uid).
    const procAgents = new Map<string, Agent>();
    for (const h of scenario.hosts) {
      for (const p of h.processes) {
        procAgents.set(`${h.name}/${p.name}`, topo.spawnAgent(h.name, `${h.name}/${p.name}`, p.uid));
      }
    }
    const clientAgents = new Map<string, Agent>();
    const clientOf = (from: string, fromProcess?: string): Agent => {
      const host = scenario.hosts.find((h) => h.name === from)!;
      const uid = fromProcess ? (host.processes.find((p) => p.name === fromProcess)?.uid ?? 0) : 0;
      const key = `${from}#${uid}`;
      let a = clientAgents.get(key);
      if (!a) {
        a = topo.spawnAgent(from, `${from}/client-uid${uid}`, uid);
        clientAgents.set(key, a);
      }
      return a;
    };
    const clientFor = (step: ConnectStep): Agent => clientOf(step.from, step.fromProcess);
    const steps = scenario.steps as readonly KernelStep[];
    for (const s of steps) {
      if (s.kind === 'connect') clientFor(s);
      else if (s.kind === 'datagram' && s.from !== undefined) clientOf(s.from, s.fromProcess);
    }
    // Address steps go through a root agent of the host, which makes the netlink call itself and
    // so reports the kernel's errno (ip prints only extack text such as "Address not found").
    const addressAgents = new Map<string, Agent>();
    for (const s of scenario.steps) {
      if (s.kind === 'address' && !addressAgents.has(s.host)) {
        addressAgents.set(s.host, topo.spawnAgent(s.host, `${s.host}/(address steps)`, 0));
      }
    }
    // A root agent per host reads the ICMP errors that come back for datagrams (run-udp.ts).
    const icmpWatchers = new Map<string, Agent>();
    if (steps.some((s) => s.kind === 'datagram')) {
      for (const h of scenario.hosts) icmpWatchers.set(h.name, topo.spawnAgent(h.name, `${h.name}/(icmp)`, 0));
    }
    // SO_BINDTODEVICE names a scenario interface; the agent needs the kernel's name of it.
    const socketHost = new Map<string, string>();
    const kernelOptions = (host: string, o: SockOptions): [string, boolean | string][] =>
      optionList(o).map(([k, v]) => (INTERFACE_OPTIONS.has(k) && typeof v === 'string' ? [k, topo.ifName(host, v)] : [k, v]));
    await Promise.all(topo.agents.map((a) => a.ready));
    await Promise.all([...icmpWatchers.values()].map((a) => a.request('icmp_watch', {})));


    const socketAgent = new Map<string, Agent>();
    const udp = new DatagramRunner({
      socketAgent: (name) => socketAgent.get(name),
      socketHost: (name) => socketHost.get(name),
      clientAgent: clientOf,
      icmpWatcher: (host) => icmpWatchers.get(host)!,
      ifName: (host, iface) => topo.ifName(host, iface),
      log,
      settleMs: opts.settleMs,
      lateRouterError: lateRouterErrors(scenario),
    });
    const held: HeldConnection[] = [];
    let connId = 0;
    const results: KernelStepResult[] = [];

    const oneConnect = async (step: ConnectStep, client: Agent): Promise<string> => {
      const id = ++connId;
      const servers = [...procAgents.values()].filter((a) => a.listening.size > 0);
      const send = step.send ?? '';
      const accepts = servers.map((a) =>
        a
          .request(
            'accept_poll',
            { wait_ms: timeoutMs + 4000, expect_bytes: Buffer.byteLength(send), close: step.close },
            timeoutMs + 10000,
          )
          .then((r) => ({ agent: a, r })),
      );
      const c = await client.request(
        'connect',
        {
          to: step.to.addr.text,
          port: step.to.port,
          source: step.source?.addr.text,
          source_port: step.source?.port,
          send,
          close: step.close,
          timeout_ms: timeoutMs,
          conn: id,
        },
        timeoutMs + 10000,
      );
      // Any request ends an accept wait that saw nothing; the answers come in order.
      const cancels = servers.map((a) => a.request('nop', {}));
      const got = await Promise.all(accepts);
      await Promise.all(cancels);
      const acc = got.find((g) => typeof g.r['accepted'] === 'string');
      const result = String(c['result']);
      if (result === 'connected') {
        if (!acc) {
          log(`connect ${step.index}: connected but no agent accepted (banner ${JSON.stringify(c['banner'])})`);
          const m = /^bindlab [^/]+\/[^/]+\/(.+)\r\n/.exec(String(c['banner'] ?? ''));
          return m ? m[1]! : 'timeout';
        }
        const name = String(acc.r['accepted']);
        if (step.close === 'none') held.push({ id, client, socket: name });
        // Let the last ACK of the closing handshake land before the next step looks at ports.
        await sleep(5);
        return name;
      }
      if (result === 'refused') return 'refused';
      // The agent tells them apart by the client's neighbour entry (unanswered ARP / ND: unreachable).
      if (result === 'timeout' || result === 'unreachable') return result;
      return result.replace(/^bind:/, ''); // e.g. the source address could not be bound
    };

    const doStep = async (step: KernelStep): Promise<KernelStepResult> => {
      const base = { index: step.index, kind: step.kind };
      switch (step.kind) {
        case 'socket': {
          const a = procAgents.get(`${step.host}/${step.process}`)!;
          const old = socketAgent.get(step.socket);
          if (old && old !== a) await closeSocket(step.socket, old);
          socketAgent.set(step.socket, a);
          socketHost.set(step.socket, step.host);
          a.listening.delete(step.socket);
          if (step.type === 'udp') udp.holds(a);
          const r = await a.request('socket', { name: step.socket, family: step.family, type: step.type ?? 'tcp', options: kernelOptions(step.host, step.options) });
          return { ...base, result: String(r['result']) };
        }
        case 'setsockopt': {
          const a = socketAgent.get(step.socket);
          if (!a) return { ...base, result: 'EBADF' };
          const r = await a.request('setsockopt', { name: step.socket, options: kernelOptions(socketHost.get(step.socket)!, step.options) });
          return { ...base, result: String(r['result']) };
        }
        case 'bind': {
          const a = socketAgent.get(step.socket);
          if (!a) return { ...base, result: 'EBADF' };
          const r = await a.request('bind', { name: step.socket, addr: step.address.addr.text, port: step.address.port });
          const local = Array.isArray(r['local']) ? epText(String(r['local'][0]), Number(r['local'][1])) : undefined;
          return { ...base, result: String(r['result']), ...(local ? { local } : {}) };
        }
        case 'listen': {
          const a = socketAgent.get(step.socket);
          if (!a) return { ...base, result: 'EBADF' };
          const r = await a.request('listen', { name: step.socket, backlog: step.backlog });
          if (r['result'] === 'ok') a.listening.add(step.socket);
          const local = Array.isArray(r['local']) ? epText(String(r['local'][0]), Number(r['local'][1])) : undefined;
          return { ...base, result: String(r['result']), ...(local ? { local } : {}) };
        }
        case 'close': {
          const a = socketAgent.get(step.socket);
          if (!a) return { ...base, result: 'EBADF' };
          return { ...base, result: await closeSocket(step.socket, a) };
        }
        case 'connect': {
          const client = clientFor(step);
          const all: string[] = [];
          for (let i = 0; i < step.count; i++) all.push(await oneConnect(step, client));
          return { ...base, result: all[0] ?? 'timeout', results: all };
        }
        case 'wait': {
          const ms = Math.min(step.durationNs / 1e6, opts.maxWaitMs ?? Infinity);
          if (opts.onWait) {
            // What the sleep is for: the TIME_WAIT sockets it lets run out (or only the clock).
            const tw = (await Promise.all([...topo.hostNs.values()].map((ns) =>
              capture('ip', ['netns', 'exec', ns, 'ss', '-tanH', 'state', 'time-wait']).catch(() => '')))).join('\n').split('\n').filter((l) => l.trim()).length;
            const secs = ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
            opts.onWait(`step ${step.index} (line ${step.pos.line}): wait ${secs} on the real clock, as the scenario's wait: says; `
              + (tw ? `${tw} connection${tw === 1 ? ' is' : 's are'} in TIME_WAIT (60 s on Linux)` : 'no connection is in TIME_WAIT'));
          }
          await sleep(ms);
          await Promise.all([...topo.hostNs.values()].map((ns) => settleTimeWait(ns)));
          return { ...base, result: 'ok' };
        }
        case 'address': {
          const cidr = (step.add ?? step.del)!;
          const r = await addressAgents.get(step.host)!.request('address', {
            verb: step.add ? 'add' : 'del',
            dev: topo.ifName(step.host, step.interface),
            addr: cidr.addr.text,
            prefix: cidr.prefix,
          });
          if (r['result'] !== 'ok') return { ...base, result: String(r['result']) };
          return { ...base, result: 'ok' };
        }
        case 'udp-connect':
          return { ...base, result: await udp.udpConnect(step) };
        case 'join':
        case 'leave':
          return { ...base, result: await udp.membership(step) };
        case 'datagram':
          return { ...base, ...(await udp.datagram(step)) };
      }
    };

    // close(2) of a socket: its established connections are closed by the server first,
    // then their clients answer the FIN, which leaves the server side in TIME_WAIT.
    const closeSocket = async (name: string, a: Agent): Promise<string> => {
      const r = await a.request('close', { name });
      a.listening.delete(name);
      socketAgent.delete(name);
      const mine = held.filter((h) => h.socket === name);
      for (const h of mine) held.splice(held.indexOf(h), 1);
      const byClient = new Map<Agent, number[]>();
      for (const h of mine) byClient.set(h.client, [...(byClient.get(h.client) ?? []), h.id]);
      await Promise.all([...byClient].map(([c, ids]) => c.request('finish', { conns: ids })));
      if (mine.length) await sleep(5);
      return String(r['result']);
    };

    for (const step of steps) results.push(await doStep(step));
    return results;
    } finally {
      await Promise.all(dumps.map((d) => stopTcpdump(d.child, d.path)));
    }
  } finally {
    if (!opts.keep) {
      await topo.destroy();
      liveRuns.delete(topo);
    } else {
      for (const a of topo.agents) a.kill();
      liveRuns.delete(topo);
      log(`kept namespaces ${[...topo.hostNs.values(), topo.switchNs].join(' ')}`);
    }
  }
}
