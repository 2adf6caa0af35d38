// The scaling table of `npm run bench` (issue 14, "no cliffs"): cost that grows with the work.
//  - Emulation: 12 clients each connecting N times (5k .. 25k) to one address, clients closing
//    first, so every port a client used stays in TIME_WAIT and past about 14,000 connections the
//    even half of the range is full: `bindlab run --format pcap -p linux` as a command.
//  - UDP emulation: the UDP bench scenario (DNS queries to a server per alias beside a wildcard
//    cache, every one answered) at two sizes, `bindlab run -p linux` as a command, in classic pcap
//    and in pcapng (its comments are much of UDP's cost): cost linear in datagrams. `--udp-only`:
//    these rows alone (node dist/bench/scaling.js --udp-only).
//  - Replay: captures of 1M and 10M packets (50M with --50m or BINDLAB_BENCH_50M=1, where the
//    disk has room: about 4.5 GB for the capture), `bindlab replay -p linux`, deciding only and
//    writing its output; and 1M packets of DNS over UDP (queries to a server per alias beside a
//    wildcard cache, every one answered) the same two ways.
// Each row: wall seconds, CPU seconds (user + system: the machine may be shared), packets/s,
// peak RSS (GNU time), and the ratio to tools doing the same amount of I/O on the same file:
// tcpdump -r F -w /dev/null (reading) for decisions only, tcpdump -r F -w FILE and
// tcprewrite -i F -o FILE (reading and writing) for rows that write.
// Best of BINDLAB_BENCH_SCALING_RUNS (default 1) runs; files in a temp dir removed afterwards.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeLongCapture } from './replay.js';
import { benchScenarioText, benchUdpScenarioText } from './scenario.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/bindlab.js');
const RUNS = Math.max(1, Number(process.env.BINDLAB_BENCH_SCALING_RUNS ?? 1));
const CLIENTS = 12;
const PER_CLIENT = [5_000, 10_000, 15_000, 20_000, 25_000];
/** UDP emulation: datagram steps of UDP_QUERIES DNS queries each (two packets a query: it and its answer). */
const UDP_STEPS = [320, 1_280];
const UDP_QUERIES = 100;

interface Measure { wall: number; cpu: number; maxRssKiB: number }

/** Best wall time of RUNS under GNU time, with that run's CPU and peak RSS; `after` runs after each (untimed). */
function measure(cmd: string, args: readonly string[], after?: () => void): Measure | string {
  let best: Measure | undefined;
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    after?.();
    if (r.status !== 0) return `${cmd} failed (${r.status ?? r.signal}): ${r.stderr.trim().split('\n').slice(-2).join(' ')}`;
    const [user, sys, rss] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number];
    if (!best || wall < best.wall) best = { wall, cpu: user + sys, maxRssKiB: rss };
  }
  return best!;
}

/** Records in a classic pcap file (walked by record header, 1 MiB at a time). */
export function countPcapPackets(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let filePos = 24;
    let n = 0;
    let little = true;
    const head = Buffer.alloc(24);
    readSync(fd, head, 0, 24, 0);
    const magic = head.readUInt32LE(0);
    if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) little = false;
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, filePos);
      if (got < 16) return n;
      let p = 0;
      while (p + 16 <= got) {
        const caplen = little ? buf.readUInt32LE(p + 8) : buf.readUInt32BE(p + 8);
        if (p + 16 + caplen > got) break;
        p += 16 + caplen;
        n++;
      }
      if (p === 0) throw new Error(`${path}: a record larger than 1 MiB at byte ${filePos}`);
      filePos += p;
    }
  } finally {
    closeSync(fd);
  }
}

/** Enhanced Packet Blocks in a little-endian pcapng file (walked by block length, 1 MiB at a time). */
export function countPcapngPackets(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let filePos = 0;
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, filePos);
      if (got < 12) return n;
      let p = 0;
      while (p + 12 <= got) {
        const len = buf.readUInt32LE(p + 4);
        if (len < 12 || (len & 3) !== 0) throw new Error(`${path}: bad block length ${len} at byte ${filePos + p}`);
        if (p + len > got) break;
        if (buf.readUInt32LE(p) === 6) n++;
        p += len;
      }
      if (p === 0) throw new Error(`${path}: a block larger than 1 MiB at byte ${filePos}`);
      filePos += p;
    }
  } finally {
    closeSync(fd);
  }
}

/** The scaling scenario: CLIENTS clients, each `perClient` connections to 10.0.0.1:8080 (one 4-tuple key per client). */
export function scalingScenarioText(perClient: number, clients = CLIENTS): string {
  // The bench scenario with one connection per client and address, then only the first address, N times.
  return benchScenarioText(2 * clients, clients)
    .replace(/^ {2}- connect: \{ from: client\d+, to: 10\.0\.0\.2:8080, .*\n/gm, '')
    .replace(/^( {2}- connect: \{ from: client\d+, to: 10\.0\.0\.1:8080, send: "[^"]*", count: )1 \}$/gm, `$1${perClient} }`);
}

interface Row { work: string; packets: number; m: Measure | string; vs: [string, Measure | string][] }

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

function print(rows: readonly Row[]): void {
  const header = ['work', 'packets', 'wall s', 'CPU s', 'packets/s', 'peak RSS MiB', 'beside (ratio: ours / theirs)'];
  const body = rows.map((r) => {
    if (typeof r.m === 'string') return [r.work, fmt(r.packets), r.m, '', '', '', ''];
    const m = r.m;
    const vs = r.vs.map(([name, t]) => `${name} ${typeof t === 'string' ? 'failed'
      : `${t.wall.toFixed(2)} s, CPU ${t.cpu.toFixed(2)} s: ${(m.wall / t.wall).toFixed(2)}x wall, ${(m.cpu / t.cpu).toFixed(2)}x CPU`}`).join('; ');
    return [r.work, fmt(r.packets), m.wall.toFixed(2), m.cpu.toFixed(2), fmt(r.packets / m.wall), (m.maxRssKiB / 1024).toFixed(1), vs];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  for (const r of rows) for (const [name, t] of r.vs) if (typeof t === 'string') console.log(`${r.work}: ${name}: ${t}`);
}

export function benchScaling(argv: readonly string[] = process.argv.slice(2)): void {
  if (!existsSync('/usr/bin/time')) { console.log('scaling bench: /usr/bin/time (GNU time) not found; skipped'); return; }
  const with50m = argv.includes('--50m') || process.env.BINDLAB_BENCH_50M === '1';
  // --udp-only: the UDP emulation rows alone (a minute, not the replays' quarter of an hour)
  const udpOnly = argv.includes('--udp-only');
  const dir = mkdtempSync(join(tmpdir(), 'bindlab-bench-scaling-'));
  const root = process.getuid?.() === 0 ? ['-Z', 'root'] : [];
  const copy = join(dir, 'copy.pcap');
  const rmCopy = () => rmSync(copy, { force: true });
  /** The tools beside a row that writes its file: tcpdump and tcprewrite, each reading `file` and writing a copy. */
  const writers = (file: string): [string, Measure | string][] => [
    ['tcpdump -w FILE', measure('tcpdump', [...root, '-r', file, '-w', copy], rmCopy)],
    ['tcprewrite', measure('tcprewrite', ['-i', file, '-o', copy], rmCopy)],
  ];
  console.log(`\nscaling bench: best of ${RUNS} (BINDLAB_BENCH_SCALING_RUNS), files in ${dir}`);
  const rows: Row[] = [];
  /** The two replay rows of a generated capture (deciding only; writing its output), the capture removed after. */
  const replayRows = ({ capture: cap, scenarioFile: sc, packets: got }: { capture: string; scenarioFile: string; packets: number }, what: string): void => {
    const out = join(dir, 'replay-out');
    const rmOut = () => rmSync(out, { recursive: true, force: true });
    const label = `${fmt(got / 1e6)}M ${what}`;
    rows.push({ work: `replay ${label}, -p linux --no-output`, packets: got,
      m: measure(process.execPath, [CLI, 'replay', cap, '-s', sc, '-p', 'linux', '--no-output', '--no-progress'], rmOut),
      vs: [['tcpdump -w /dev/null', measure('tcpdump', [...root, '-r', cap, '-w', '/dev/null'])]] });
    rows.push({ work: `replay ${label}, -p linux (writes its output)`, packets: got,
      m: measure(process.execPath, [CLI, 'replay', cap, '-s', sc, '-p', 'linux', '-o', out, '--no-progress'], rmOut),
      vs: writers(cap) });
    rmSync(cap, { force: true });
  };
  try {
    for (const n of udpOnly ? [] : PER_CLIENT) {
      const sc = join(dir, `clients-${n}.yaml`);
      writeFileSync(sc, scalingScenarioText(n));
      const out = join(dir, `out-${n}`);
      const m = measure(process.execPath, [CLI, 'run', sc, '-p', 'linux', '--format', 'pcap', '-o', out]);
      // The last run's file stays for the tools and the count: classic pcap is one file per link
      // (clients-N.linux.LINK.pcap), and the scenario has one link.
      const name = existsSync(out) ? readdirSync(out).find((f) => f.startsWith(`clients-${n}.linux.`) && f.endsWith('.pcap')) : undefined;
      const file = name ? join(out, name) : '';
      const packets = file ? countPcapPackets(file) : 0;
      rows.push({ work: `run: ${CLIENTS} clients x ${fmt(n)} connections`, packets, m, vs: file ? writers(file) : [] });
      rmSync(out, { recursive: true, force: true });
    }
    for (const steps of UDP_STEPS) {
      const sc = join(dir, `udp-${steps}.yaml`);
      writeFileSync(sc, benchUdpScenarioText(steps, UDP_QUERIES));
      const work = `run: UDP, ${fmt(steps * UDP_QUERIES)} DNS queries answered`;
      for (const format of ['pcap', 'pcapng'] as const) {
        const out = join(dir, `out-udp-${steps}`);
        const m = measure(process.execPath, [CLI, 'run', sc, '-p', 'linux', '--format', format, '-o', out]);
        // pcap: one file per link (udp-N.linux.lan.pcap); pcapng: one file (udp-N.linux.pcapng).
        const name = existsSync(out) ? readdirSync(out).find((f) => f.startsWith(`udp-${steps}.linux.`) && f.endsWith(`.${format}`)) : undefined;
        const file = name ? join(out, name) : '';
        const packets = !file ? 0 : format === 'pcap' ? countPcapPackets(file) : countPcapngPackets(file);
        rows.push({ work: `${work}, ${format}`, packets, m, vs: !file ? [] : format === 'pcap' ? writers(file) : [['tcpdump -w FILE', measure('tcpdump', [...root, '-r', file, '-w', copy], rmCopy)]] });
        rmSync(out, { recursive: true, force: true });
      }
    }
    const sizes = udpOnly ? [] : [1_000_000, 10_000_000, ...(with50m ? [50_000_000] : [])];
    for (const packets of sizes) {
      // About 75 bytes a packet; the capture, an output as large, and a copy by the tools.
      const need = packets * 75 * 3;
      const free = statfsSync(dir).bavail * statfsSync(dir).bsize;
      if (need > free) { console.log(`replay of ${fmt(packets)} packets skipped: needs about ${(need / 1e9).toFixed(1)} GB, ${(free / 1e9).toFixed(1)} GB free`); continue; }
      // The bench scenario in parts of 1M packets, each under a new seed (replay.ts writeLongCapture).
      replayRows(writeLongCapture(dir, packets), 'packets');
    }
    // UDP: DNS queries to a server per alias beside a wildcard cache, each answered (1M packets).
    if (!udpOnly) replayRows(writeLongCapture(dir, 1_000_000, true), 'UDP packets');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  print(rows);
  console.log('packets/s counts the file\'s packets over the wall time; the bindlab rows include starting Node and the CLI.');
  console.log('CPU s is user + system time: on a machine shared with other work, the CPU ratio is the one to read.');
  console.log(`linear: each emulation row should cost about its connections times the 5k row's cost per connection, each UDP row its queries times the smaller one's${with50m ? '' : '; --50m adds a 50M-packet replay'}.`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) benchScaling();
