// The replay benchmark (part of `npm run bench`; alone: node dist/bench/replay.js): generates a
// classic pcap of at least 1M packets with the emulator (not committed; a temp dir removed
// afterwards), then times `bindlab replay` on it beside `tcpdump -r CAPTURE -w /dev/null`, both
// as child processes under /usr/bin/time for their peak memory (max RSS). Best of 3 wall times.
// Targets (issue 4): replay at most 2x tcpdump's time (then 1.5x); memory under 150 MiB.
// Every run writes into a directory of its own, removed after it: replacing a large file that
// exists costs its unlink inside the timed rename, which is the file system's time, not ours.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runPolicy, START_EPOCH_SECONDS } from '../emu/engine.js';
import { getPolicy } from '../emu/policy/index.js';
import { PcapWriter } from '../pcap/pcap-writer.js';
import type { CaptureInterface, PacketSink } from '../pcap/sink.js';
import { replayCapture } from '../replay/replay.js';
import { loadScenarioFile, parseScenario } from '../scenario/load.js';
import { benchScenarioText, benchUdpScenarioText } from './scenario.js';

const PACKETS = Number(process.env.BINDLAB_BENCH_REPLAY_PACKETS ?? 1_000_000);
const RUNS = 3;
const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/bindlab.js');

class Counting implements PacketSink {
  packets = 0;
  constructor(private readonly inner: PacketSink) {}
  addInterface(i: CaptureInterface): number { return this.inner.addInterface(i); }
  addName(a: { readonly family: 4 | 6; readonly bytes: Uint8Array }, n: string): void { this.inner.addName(a, n); }
  packet(id: number, t: number, f: Uint8Array, len: number, c?: string): void { this.packets++; this.inner.packet(id, t, f, len, c); }
}

interface Measure { wall: number; maxRssKiB: number; outBytes?: number }

/** Parts of a long capture: each is the bench scenario under another seed (other ports and ISNs), this many packets. */
const PART_PACKETS = 1_000_000;

/** DNS queries per datagram step of the UDP capture (from one client port, each answered). */
const UDP_QUERIES_PER_STEP = 250;

/**
 * A capture of about `packets` packets as traffic that goes on for a long time: parts of
 * PART_PACKETS packets, each the bench scenario under its own seed, one after the other in time.
 * `udp`: the UDP bench scenario's DNS queries and answers instead of TCP connections.
 * Returns the scenario file (the same hosts and sockets for every part; for UDP the setup alone,
 * which is all a replay reads) and the packet count.
 */
export function writeLongCapture(dir: string, packets: number, udp = false): { capture: string; scenarioFile: string; packets: number } {
  const capture = join(dir, `long-${udp ? 'udp-' : ''}${packets}.pcap`);
  const writer = new PcapWriter(capture, { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'us' });
  let offset = 0;
  let last = 0;
  let count = 0;
  let iface = -1;
  // Every part declares its interface: the first declaration stands for all.
  const sink: PacketSink = {
    addInterface: (i) => (iface >= 0 ? iface : (iface = writer.addInterface(i))),
    addName: () => {},
    packet: (id, t, f, len, c) => { count++; last = offset + t; writer.packet(id, offset + t, f, len, c); },
  };
  const partPackets = Math.min(packets, PART_PACKETS);
  const partText = udp
    ? (): string => benchUdpScenarioText(Math.ceil(partPackets / (2 * UDP_QUERIES_PER_STEP)), UDP_QUERIES_PER_STEP)
    : (): string => benchScenarioText(Math.ceil(partPackets / 7.9));
  const scenarioFile = join(dir, udp ? 'long-udp.yaml' : 'long.yaml');
  writeFileSync(scenarioFile, udp ? benchUdpScenarioText(0, 0) : partText());
  for (let part = 0; count < packets; part++) {
    const text = partText().replace('seed: 42', `seed: ${42 + part}`);
    runPolicy(parseScenario(text, scenarioFile), getPolicy('linux'), { sink });
    offset = last + 1e9;
  }
  writer.finish();
  return { capture, scenarioFile, packets: count };
}

/** Bytes in the files of dir (0 when it does not exist). */
function dirBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/**
 * The floor under any replay that writes its output: only writing that many bytes to a new file
 * in dir, 1 MiB per write() as the writers do, best of RUNS (tcpdump -w /dev/null writes nothing).
 */
function measureWrite(bytes: number, dir: string): Measure {
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const file = join(dir, `write-floor-${i}`);
    const t0 = process.hrtime.bigint();
    const fd = openSync(file, 'w');
    for (let left = bytes; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(left, chunk.length));
    closeSync(fd);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
    rmSync(file, { force: true });
  }
  return { wall: best, maxRssKiB: -1 };
}

/** In a child process: replayCapture timed from inside (no Node start-up, no CLI), and the process's peak RSS. */
async function child(capture: string, scenarioFile: string, outDir: string | null): Promise<void> {
  const scenario = loadScenarioFile(scenarioFile);
  const t0 = process.hrtime.bigint();
  await replayCapture(capture, scenario, { policies: ['linux'], outDir, keepConnections: false, jobs: 1 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(`${wall} ${process.resourceUsage().maxRSS}\n`);
}

function measureInProcess(capture: string, scenarioFile: string, outDir: string | null): Measure | string {
  let best: Measure | undefined;
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', capture, scenarioFile, outDir ?? '-'], { encoding: 'utf8' });
    const outBytes = outDir ? dirBytes(outDir) : 0;
    if (outDir) rmSync(outDir, { recursive: true, force: true });
    if (r.status !== 0) return `child failed: ${r.stderr.trim().split('\n').pop()}`;
    const [wall, rss] = r.stdout.trim().split(' ').map(Number) as [number, number];
    if (!best || wall < best.wall) best = { wall, maxRssKiB: rss, outBytes };
  }
  return best!;
}

/** Best wall time of RUNS and the peak RSS of that run, via GNU time; outDir (in args) is removed after each run. */
function measure(cmd: string, args: readonly string[], outDir?: string, runs = RUNS): Measure | string {
  let best: Measure | undefined;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (outDir) rmSync(outDir, { recursive: true, force: true });
    if (r.status !== 0) return `${cmd} failed (${r.status ?? r.signal}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`;
    const rss = Number(r.stderr.trim().split('\n').pop());
    if (!best || wall < best.wall) best = { wall, maxRssKiB: rss };
  }
  return best!;
}

export function benchReplay(): void {
  if (!existsSync('/usr/bin/time')) { console.log('replay bench: /usr/bin/time (GNU time) not found; skipped'); return; }
  const dir = mkdtempSync(join(tmpdir(), 'bindlab-bench-replay-'));
  try {
    // About 8 packets per connection (ARP once per pair): PACKETS / 8 connections, topped up if short.
    const connections = Math.ceil(PACKETS / 7.9);
    const text = benchScenarioText(connections);
    const scenarioFile = join(dir, 'bench.yaml');
    writeFileSync(scenarioFile, text);
    const capture = join(dir, 'bench.pcap');
    const writer = new PcapWriter(capture, { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'us' });
    const sink = new Counting(writer);
    const t0 = process.hrtime.bigint();
    runPolicy(parseScenario(text, scenarioFile), getPolicy('linux'), { sink });
    writer.finish();
    const genS = Number(process.hrtime.bigint() - t0) / 1e9;
    const mb = statSync(capture).size / 1e6;
    console.log(`\nreplay bench: generated ${capture.replace(dir, '$TMP')} (${sink.packets.toLocaleString('en')} packets, ${connections.toLocaleString('en')} connections, ${mb.toFixed(1)} MB) in ${genS.toFixed(1)} s`);
    const tcpdumpArgs = process.getuid?.() === 0 ? ['-Z', 'root', '-r', capture, '-w', '/dev/null'] : ['-r', capture, '-w', '/dev/null'];
    const replay = (label: string, extra: readonly string[]): [string, Measure | string] => {
      const out = join(dir, `o-${label.replace(/\W+/g, '-')}`);
      return [`bindlab replay ${label}`, measure(process.execPath, [CLI, 'replay', capture, '-s', scenarioFile, '--no-progress', '-o', out, ...extra], out)];
    };
    const withOutput = measureInProcess(capture, scenarioFile, join(dir, 'oc'));
    const outBytes = typeof withOutput === 'string' ? 0 : withOutput.outBytes ?? 0;
    const rows: [string, Measure | string][] = [
      ['tcpdump -r CAPTURE -w /dev/null', measure('tcpdump', tcpdumpArgs)],
      ['replayCapture in-process, linux, decisions only', measureInProcess(capture, scenarioFile, null)],
      ['replayCapture in-process, linux, with output', withOutput],
      [`  of which the floor: writing its ${(outBytes / 1e6).toFixed(0)} MB alone`, measureWrite(outBytes, dir)],
      replay('-p linux --no-output', ['-p', 'linux', '--no-output']),
      replay('-p linux', ['-p', 'linux']),
      replay('-p linux -p bsd44 -j 1', ['-p', 'linux', '-p', 'bsd44', '-j', '1']),
      replay('-p linux -p bsd44 (2 threads)', ['-p', 'linux', '-p', 'bsd44']),
      replay('(all 9 policies, 2 threads)', []),
    ];
    const base = rows[0]![1];
    const header = ['command', 'wall s', 'x tcpdump', 'packets/s', 'max RSS MiB'];
    const table = rows.map(([name, m]) => typeof m === 'string' ? [name, m, '', '', '']
      : [name, m.wall.toFixed(3), typeof base === 'string' ? 'n/a' : (m.wall / base.wall).toFixed(2),
        m.maxRssKiB < 0 ? '' : Math.round(sink.packets / m.wall).toLocaleString('en'), m.maxRssKiB < 0 ? '' : (m.maxRssKiB / 1024).toFixed(1)]);
    // The cost of starting: Node itself, and the CLI up to its help text.
    const start = measure(process.execPath, ['-e', '0']);
    const help = measure(process.execPath, [CLI, '--help']);
    const widths = header.map((h, c) => Math.max(h.length, ...table.map((r) => r[c]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    console.log(line(header));
    for (const r of table) console.log(line(r));
    const secs = (m: Measure | string) => (typeof m === 'string' ? m : `${m.wall.toFixed(3)} s`);
    console.log(`best of ${RUNS}; packets/s counts the capture's packets; the bindlab rows include starting Node (${secs(start)}) and loading the CLI (bindlab --help: ${secs(help)}).`);
    console.log('targets: replay <= 2x tcpdump (then 1.5x), max RSS < 150 MiB');
    const decisions = rows[1]![1];
    if (typeof base !== 'string' && typeof decisions !== 'string') {
      const x = decisions.wall / base.wall;
      console.log(`replay (decisions and report, in-process): ${x.toFixed(2)}x tcpdump: ${x <= 1.5 ? 'within 1.5x' : x <= 2 ? 'within 2x, not 1.5x' : 'NOT within 2x'}`);
    }
    const rss = Math.max(...rows.map(([, m]) => (typeof m === 'string' ? 0 : m.maxRssKiB))) / 1024;
    console.log(`peak memory of any row: ${rss.toFixed(1)} MiB: ${rss < 150 ? 'under' : 'NOT under'} 150 MiB`);
    benchLongReplay(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Packets of the long capture whose replay shows that memory does not grow with the capture (0: skipped). */
const LONG_PACKETS = Number(process.env.BINDLAB_BENCH_REPLAY_LONG ?? 10_000_000);

/**
 * Peak memory against the capture's length: `bindlab replay` with outputs on a capture of
 * LONG_PACKETS packets (writeLongCapture), once, beside the 1M rows above: the peak must stay
 * where it is there (finished connections leave the tables; everything else is bounded).
 */
function benchLongReplay(dir: string): void {
  if (LONG_PACKETS <= 0) return;
  const t0 = process.hrtime.bigint();
  const long = writeLongCapture(dir, LONG_PACKETS);
  const genS = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`\nlong capture: ${long.packets.toLocaleString('en')} packets (${(statSync(long.capture).size / 1e6).toFixed(0)} MB, generated in ${genS.toFixed(0)} s); one run each (BINDLAB_BENCH_REPLAY_LONG sets the length)`);
  for (const extra of [['-p', 'linux'], ['-p', 'linux', '-p', 'bsd44']]) {
    const out = join(dir, 'o-long');
    const m = measure(process.execPath, [CLI, 'replay', long.capture, '-s', long.scenarioFile, '--no-progress', '-o', out, ...extra], out, 1);
    const label = `bindlab replay ${extra.join(' ')}, ${(long.packets / 1e6).toFixed(0)}M packets, with output`;
    console.log(typeof m === 'string' ? `${label}: ${m}` : `${label}: ${m.wall.toFixed(1)} s, max RSS ${(m.maxRssKiB / 1024).toFixed(1)} MiB: ${m.maxRssKiB / 1024 < 150 ? 'under' : 'NOT under'} 150 MiB`);
  }
  rmSync(long.capture, { force: true });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  if (process.argv[2] === '--child') await child(process.argv[3]!, process.argv[4]!, process.argv[5] === '-' ? null : process.argv[5]!);
  else benchReplay();
}
