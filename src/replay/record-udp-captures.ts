// Records the UDP captures of captures/ on this machine's Linux kernel (root): each scenario's
// hosts become network namespaces made for the recording (one veth each, their peers on a bridge
// in a namespace of its own), its UDP sockets are opened and bound in the server's namespace as
// its steps say (udp-recorder.py), its datagram steps are sent from the client's, and tcpdump
// listens on the client's interface. Nothing leaves the namespaces, which are removed afterwards.
//
//   npm run build && node dist/replay/record-udp-captures.js          # every UDP recording
//
// The kernel harness of verify-kernel (src/kernel/run-kernel.ts, which record-captures.ts uses for
// the TCP captures) does not run datagram steps yet; this recorder reads the steps it needs from
// the YAML itself: UDP sockets (options SO_REUSEADDR, SO_REUSEPORT, SO_BROADCAST, IP_PKTINFO),
// binds, waits and datagram steps from a host (`from`, `to`, `data`, `count`, `reply`, `source`).
// Every socket of a host lives in one agent as root (the recording needs no uid: UDP delivery on
// Linux looks at uids only within a SO_REUSEPORT group, which the recordings do not use).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse } from 'yaml';

/** tcpdump (pcap, µs) or dumpcap (pcapng). */
type Tool = 'tcpdump' | 'dumpcap';
interface Recording { readonly scenario: string; readonly out: string; readonly tool: Tool }

export const UDP_RECORDINGS: readonly Recording[] = [
  { scenario: 'captures/dns-aliases.yaml', out: 'captures/dns-aliases.pcap', tool: 'tcpdump' },
  { scenario: 'captures/dns-aliases.yaml', out: 'captures/dns-aliases.pcapng', tool: 'dumpcap' },
  { scenario: 'test/replay/fixtures/udp/udp-reuseport.yaml', out: 'test/replay/fixtures/udp/udp-reuseport.pcap', tool: 'tcpdump' },
];

/** The agent, in src/replay/ (from this module in src/replay/ or dist/replay/ alike). */
const AGENT = join(dirname(fileURLToPath(import.meta.url)), '../../src/replay/udp-recorder.py');

interface RawHost { interfaces: Record<string, { mac?: string; addresses?: string[] }> }
interface RawScenario { hosts: Record<string, RawHost>; steps: Record<string, unknown>[] }

/** "10.0.0.1:53" / "[fd00::1]:53" -> address and port. */
function endpoint(text: string): { addr: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`not ADDRESS:PORT: ${text}`);
  return { addr: m[1]!, port: Number(m[2]) };
}

const sh = (args: string[]): void => {
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr || r.error?.message}`);
};

/** Lines of a child's stdout, awaited one at a time. */
class Lines {
  private buf = '';
  private readonly waiting: ((l: string) => void)[] = [];
  private readonly queued: string[] = [];
  readonly all: string[] = [];
  constructor(child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        this.all.push(line);
        const w = this.waiting.shift();
        if (w) w(line); else this.queued.push(line);
      }
    });
  }
  next(): Promise<string> {
    const q = this.queued.shift();
    return q !== undefined ? Promise.resolve(q) : new Promise((res) => this.waiting.push(res));
  }
}

/**
 * Records the scenario's datagram steps into file with tcpdump on the client host's eth0 (the host
 * of the first datagram step). Returns the agents' logs: each server's "SOCKET <- ADDR:PORT" lines
 * and each datagram's reply as the client saw it.
 */
export async function recordUdpCapture(scenarioFile: string, file: string, tool: Tool = 'tcpdump'): Promise<{ server: string[]; client: string[] }> {
  const sc = parse(readFileSync(scenarioFile, 'utf8')) as RawScenario;
  const tag = `blu${process.pid % 100000}`;
  const hosts = Object.keys(sc.hosts);
  const ns = (h: string): string => `${tag}-${h}`;
  const lan = `${tag}-lan`;
  const created: string[] = [];
  const children: ChildProcess[] = [];
  if (existsSync(file)) unlinkSync(file);
  try {
    for (const n of [lan, ...hosts.map(ns)]) { sh(['ip', 'netns', 'add', n]); created.push(n); }
    sh(['ip', '-n', lan, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    sh(['ip', '-n', lan, 'link', 'set', 'br0', 'up']);
    hosts.forEach((h, i) => {
      const eth = sc.hosts[h]!.interfaces['eth0']!;
      sh(['ip', '-n', lan, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(h)]);
      sh(['ip', '-n', lan, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      if (eth.mac) sh(['ip', '-n', ns(h), 'link', 'set', 'eth0', 'address', eth.mac]);
      // No IPv6 on the link: no router solicitations or MLD reports in the capture.
      sh(['ip', 'netns', 'exec', ns(h), 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      for (const a of eth.addresses ?? []) sh(['ip', '-n', ns(h), 'addr', 'add', a, 'dev', 'eth0']);
      sh(['ip', '-n', ns(h), 'link', 'set', 'eth0', 'up']);
      sh(['ip', '-n', ns(h), 'link', 'set', 'lo', 'up']);
    });
    // Sockets by host, in step order, with their bind.
    const socks = new Map<string, { name: string; host: string; process: string; options: Record<string, boolean>; address?: string; port?: number }>();
    for (const s of sc.steps) {
      if (typeof s['socket'] === 'string') {
        if (s['type'] !== 'udp') throw new Error(`${scenarioFile}: socket ${s['socket']} is not type: udp (this recorder opens UDP sockets only)`);
        const [host, proc] = String(s['process']).split('/') as [string, string];
        socks.set(s['socket'], { name: s['socket'], host, process: proc, options: (s['options'] ?? {}) as Record<string, boolean> });
      } else if (typeof s['bind'] === 'string') {
        const e = endpoint(String(s['address']));
        Object.assign(socks.get(s['bind'])!, { address: e.addr, port: e.port });
      }
    }
    const servers = new Map<string, Lines>();
    for (const h of hosts) {
      const mine = [...socks.values()].filter((s) => s.host === h);
      if (mine.length === 0) continue;
      const child = spawn('ip', ['netns', 'exec', ns(h), 'python3', '-u', AGENT, 'server', h, JSON.stringify(mine)], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      const lines = new Lines(child);
      servers.set(h, lines);
      const first = await lines.next();
      if (first !== 'ready') throw new Error(`${h}'s agent: ${first}`);
    }
    const datagrams = sc.steps.filter((s) => s['datagram'] !== undefined);
    const clientHost = String((datagrams[0]?.['datagram'] as { from?: string } | undefined)?.from ?? 'client').split('/')[0]!;
    const filter = 'udp or icmp or arp';
    const dump = spawn('ip', ['netns', 'exec', ns(clientHost), ...(tool === 'tcpdump'
      ? ['tcpdump', '-U', '--immediate-mode', '-n', '-s', '262144', '-i', 'eth0', '-w', file, filter]
      : ['dumpcap', '-i', 'eth0', '-f', filter, '-w', file])], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(dump);
    await new Promise<void>((res, rej) => {
      let err = '';
      dump.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (/listening on|Capturing on/.test(err)) res(); });
      dump.once('exit', () => rej(new Error(`tcpdump: ${err}`)));
    });
    const clientLog: string[] = [];
    for (const s of sc.steps) {
      if (typeof s['wait'] === 'string') { await new Promise((r) => setTimeout(r, parseFloat(s['wait'] as string) * (String(s['wait']).endsWith('ms') ? 1 : 1000))); continue; }
      const d = s['datagram'] as { from?: string; to: string; data?: string; count?: number; reply?: boolean; source?: string } | undefined;
      if (!d) continue;
      for (const lines of servers.values()) {
        const child = children[[...servers.values()].indexOf(lines)]!;
        child.stdin!.write(d.reply ? 'reply on\n' : 'reply off\n');
        while ((await lines.next()) !== 'ok');
      }
      const to = endpoint(d.to);
      const src = d.source ? (/:\d+$/.test(d.source) ? endpoint(d.source) : { addr: d.source, port: 0 }) : undefined;
      const step = { to: to.addr, port: to.port, data: d.data ?? 'bindlab datagram', count: d.count ?? 1, ...(src ? { source: src.addr, sourcePort: src.port } : {}) };
      const r = spawnSync('ip', ['netns', 'exec', ns(String(d.from ?? 'client').split('/')[0]!), 'python3', AGENT, 'client', JSON.stringify(step)], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`datagram to ${d.to}: ${r.stderr}`);
      clientLog.push(...r.stdout.trim().split('\n').map((l) => `${d.to}: ${l}`));
    }
    // ARP entries expire on their own time: the capture stops soon after the last reply.
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise((res) => dump.once('exit', res));
    dump.kill('SIGINT');
    await exited;
    return { server: [...servers.values()].flatMap((l) => l.all), client: clientLog };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const n of created) spawnSync('ip', ['netns', 'del', n]);
  }
}

// Run as a script (not when imported by the tests).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const only = process.argv.slice(2);
  for (const r of UDP_RECORDINGS) {
    if (only.length > 0 && !only.some((o) => r.out.includes(o))) continue;
    const log = await recordUdpCapture(join(process.cwd(), r.scenario), join(process.cwd(), r.out), r.tool);
    process.stdout.write(`${r.out}: ${statSync(join(process.cwd(), r.out)).size} bytes\n  server: ${log.server.join('; ')}\n  client: ${log.client.join('\n          ')}\n`);
  }
}
