// What replay takes in beyond a plain file: a capture cut inside its last record (replayed up to
// the cut with a warning, refused with --strict), gzip-compressed captures, standard input and
// FIFOs (tcpdump -w - | bindlab replay -), and a --map target refused before the capture is read.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const ROOT = path.join(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/bin/bindlab.js');
const REUSEPORT = path.join(ROOT, 'captures/reuseport.pcap');
const SCENARIO = path.join(ROOT, 'captures/reuseport.yaml');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-replay-inputs-'));

beforeAll(() => {
  if (!fs.existsSync(CLI)) throw new Error('no dist/bin/bindlab.js: run npm run build');
});

/** Runs the CLI with `input` on its standard input. */
function cli(args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', input, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Report { packets: number; truncated?: { offset: number; message: string }; policies: Record<string, { connections: { client: string; server: string; result: string }[]; output?: string }> }

const decisions = (r: Report): string[] => Object.entries(r.policies).flatMap(([p, x]) => x.connections.map((c) => `${p} ${c.client} ${c.server} ${c.result}`));

describe('a capture cut inside its last record (a real capture, cut as tcpdump killed would leave it)', () => {
  const whole = fs.readFileSync(REUSEPORT);
  // Cut 10 bytes into the record that starts past byte 900: its header is whole, its data is not.
  const cutAt = (() => {
    let at = 24;
    while (at + 16 + whole.readUInt32LE(at + 8) < 900) at += 16 + whole.readUInt32LE(at + 8);
    return at;
  })();
  const cut = whole.subarray(0, cutAt + 16 + 10);
  const file = path.join(tmp, 'cut.pcap');
  fs.writeFileSync(file, cut);

  it('replays what was read, warns with the byte offset, exits 0; --strict refuses it (exit 2), nothing written', async () => {
    const scenario = loadScenarioFile(SCENARIO);
    const lib = await replayCapture(file, scenario, { policies: ['linux'], outDir: null });
    expect(lib.truncated?.offset).toBe(cutAt);
    const r = cli(['replay', file, '-s', SCENARIO, '-p', 'linux', '-o', path.join(tmp, 'cut-out'), '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.truncated).toEqual({ offset: cutAt, message: `${file}: byte ${cutAt}: truncated packet: record of ${whole.readUInt32LE(cutAt + 8)} bytes, the file ends after 10` });
    expect(r.stderr).toBe(`bindlab: warning: ${report.truncated!.message}; the ${report.packets} packets before it were replayed (--strict refuses such a capture)\n`);
    // The packets before the cut decide as the whole capture's first packets do.
    const full = JSON.parse(cli(['replay', REUSEPORT, '-s', SCENARIO, '-p', 'linux', '--no-output', '--json']).stdout) as Report;
    expect(decisions(full).slice(0, decisions(report).length)).toEqual(decisions(report));
    expect(decisions(report).length).toBeGreaterThan(0);
    const strict = cli(['replay', file, '-s', SCENARIO, '-p', 'linux', '-o', path.join(tmp, 'cut-strict'), '--strict']);
    expect(strict.status).toBe(2);
    expect(strict.stderr).toBe(`bindlab: ${report.truncated!.message}\n`);
    expect(fs.existsSync(path.join(tmp, 'cut-strict')) ? fs.readdirSync(path.join(tmp, 'cut-strict')) : []).toEqual([]);
  }, 120_000);
});

describe('gzip, standard input and FIFOs', () => {
  it('a .pcap.gz replays to the same outputs, byte for byte, as the .pcap (out/reuseport.linux.pcapng)', () => {
    const gz = path.join(tmp, 'reuseport.pcap.gz');
    fs.writeFileSync(gz, gzipSync(fs.readFileSync(REUSEPORT)));
    const a = cli(['replay', REUSEPORT, '-s', SCENARIO, '-p', 'linux', '-p', 'freebsd', '-o', path.join(tmp, 'plain'), '--json']);
    const b = cli(['replay', gz, '-s', SCENARIO, '-p', 'linux', '-p', 'freebsd', '-o', path.join(tmp, 'gz'), '--json']);
    expect([a.status, b.status, b.stderr]).toEqual([0, 0, '']);
    for (const p of ['linux', 'freebsd']) {
      expect(fs.readFileSync(path.join(tmp, 'gz', `reuseport.${p}.pcapng`)).equals(fs.readFileSync(path.join(tmp, 'plain', `reuseport.${p}.pcapng`)))).toBe(true);
    }
    expect(decisions(JSON.parse(b.stdout) as Report)).toEqual(decisions(JSON.parse(a.stdout) as Report));
  }, 120_000);

  it('standard input ("-"), plain or compressed, replays as the file does (out/stdin.<policy>.pcapng)', () => {
    const a = cli(['replay', REUSEPORT, '-s', SCENARIO, '-p', 'linux', '-o', path.join(tmp, 'file'), '--json']);
    const b = cli(['replay', '-', '-s', SCENARIO, '-p', 'linux', '-o', path.join(tmp, 'stdin'), '--json', '-j', '2'], fs.readFileSync(REUSEPORT));
    const c = cli(['replay', '-', '-s', SCENARIO, '-p', 'linux', '--no-output', '--json'], gzipSync(fs.readFileSync(REUSEPORT)));
    expect([b.status, b.stderr, c.status, c.stderr]).toEqual([0, '', 0, '']);
    expect(decisions(JSON.parse(b.stdout) as Report)).toEqual(decisions(JSON.parse(a.stdout) as Report));
    expect(decisions(JSON.parse(c.stdout) as Report)).toEqual(decisions(JSON.parse(a.stdout) as Report));
    expect(fs.readFileSync(path.join(tmp, 'stdin', 'stdin.linux.pcapng')).equals(fs.readFileSync(path.join(tmp, 'file', 'reuseport.linux.pcapng')))).toBe(true);
  }, 120_000);

  it('a FIFO fed slowly, as tcpdump -w - writes live traffic, replays as the file does', async () => {
    const fifo = path.join(tmp, 'live.fifo');
    spawnSync('mkfifo', [fifo]);
    const bytes = fs.readFileSync(REUSEPORT);
    const replay = spawn(process.execPath, [CLI, 'replay', fifo, '-s', SCENARIO, '-p', 'linux', '--no-output', '--json'], { cwd: ROOT });
    let stdout = '';
    replay.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const fd = fs.openSync(fifo, 'w');
    for (let at = 0; at < bytes.length; at += 100) {
      fs.writeSync(fd, bytes.subarray(at, at + 100));
      await new Promise((r) => setTimeout(r, 2));
    }
    fs.closeSync(fd);
    const status = await new Promise<number | null>((resolve) => replay.on('exit', resolve));
    expect(status).toBe(0);
    const file = cli(['replay', REUSEPORT, '-s', SCENARIO, '-p', 'linux', '--no-output', '--json']);
    expect(decisions(JSON.parse(stdout) as Report)).toEqual(decisions(JSON.parse(file.stdout) as Report));
  }, 120_000);

  it('a --map target no scenario host has is exit 2 before standard input is read (it may never end)', async () => {
    const replay = spawn(process.execPath, [CLI, 'replay', '-', '-s', SCENARIO, '--map', '192.168.1.5=10.9.0.77'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    replay.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    // Standard input stays open and empty: only a check made before reading it can end the command.
    const status = await new Promise<number | null>((resolve) => replay.on('exit', resolve));
    replay.stdin.destroy();
    expect(status).toBe(2);
    expect(stderr).toMatch(/^bindlab: --map 192\.168\.1\.5=10\.9\.0\.77: no host of .*reuseport\.yaml has 10\.9\.0\.77 \(after its setup steps\); its addresses: 10\.0\.0\.1, /);
  }, 120_000);

  it('a --map with an IPv6 zone id says so (it said "want two IP addresses")', () => {
    const r = cli(['replay', REUSEPORT, '-s', SCENARIO, '--map', 'fe80::1%eth0=10.0.0.1']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('bindlab: --map fe80::1%eth0=10.0.0.1: IPv6 zone ids (%eth0) are not written in --map: captured addresses are matched without them; write the address alone\n');
  });
});
