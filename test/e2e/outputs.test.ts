// Nothing lost, nothing hangs (issue 17): what bindlab leaves on disk when things go wrong. Outputs
// appear whole and together or not at all; temporaries are exclusive, unpredictably named and
// removed on errors and on SIGINT/SIGTERM; a full disk (a 1 MiB tmpfs, root only), a read-only
// mount, a planted symlink, a damaged golden capture, a year past 275760 and a 200,000-step
// scenario each end in a clear message, never a stack trace or a half-written file.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIp } from '../../src/emu/addr.js';
import { writeTcpFrame } from '../../src/emu/wire/frame.js';
import { TCP_SYN } from '../../src/emu/wire/tcp.js';
import { OutputError, Publication, replaceFile } from '../../src/io/publish.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { PcapWriter } from '../../src/pcap/pcap-writer.js';
import { replayCapture } from '../../src/replay/replay.js';
import { isoTime } from '../../src/replay/time.js';
import { createSpool, removeSpool, reportJson } from '../../src/replay/spool.js';
import { renderMatrix } from '../../src/cli/matrix.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile, parseScenario } from '../../src/scenario/load.js';
import { buildPcapng } from '../pcap/capture-builder.js';
import { conversation } from '../pcap/fixture-captures.js';
import { CLI, ROOT, cli, ensureBuilt, scratch } from '../testing/helpers.js';

const IS_ROOT = process.getuid?.() === 0;
const WEB = join(ROOT, 'test/replay/fixtures/web.yaml');
let tmp = '';

beforeAll(() => {
  ensureBuilt();
  tmp = scratch('outputs');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SCENARIO = `name: two listeners
seed: 4
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24] }
    processes:
      p: { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
  - socket: web
    process: server/p
    options: { SO_REUSEADDR: true }
  - bind: web
    address: 0.0.0.0:8080
  - listen: web
  - connect: { from: client, to: 10.0.0.1:8080 }
    expect: web
`;

/** A scenario whose run takes seconds: one listener, `count` connections. */
const many = (count: number): string => `name: many connections
seed: 1
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    processes:
      p: { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
  - socket: web
    process: server/p
  - bind: web
    address: 0.0.0.0:8080
  - listen: web
  - connect: { from: client, to: 10.0.0.1:8080, count: ${count}, close: server }
`;

function write(dir: string, name: string, text: string | Uint8Array): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const temporaries = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.tmp/.test(f)) : []);
const listing = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

/** A capture of the fixture web conversation `times` times (connections to web.yaml's server). */
function webCapture(path: string, times: number): string {
  const w = new PcapWriter(path, { startEpochSeconds: 1_764_000_000, tsresol: 'us' });
  w.addInterface({ name: 'eth0', linkType: 1, snaplen: 262144 });
  const conv = conversation();
  for (let i = 0; i < times; i++) for (const p of conv) w.packet(0, i * 2e6 + p.t * 1000, p.frame, p.frame.length);
  w.finish();
  return path;
}

/** A capture of `n` SYNs from distinct clients to 10.0.0.1:80 (each one connection of the replay report). */
function synFlood(path: string, n: number): string {
  const w = new PcapWriter(path, { startEpochSeconds: 1_764_000_000, tsresol: 'us' });
  w.addInterface({ name: 'eth0', linkType: 1, snaplen: 262144 });
  const buf = new Uint8Array(128);
  const dst = parseIp('10.0.0.1')!;
  for (let i = 0; i < n; i++) {
    const src = parseIp(`10.${1 + ((i >> 16) & 0xff)}.${(i >> 8) & 0xff}.${i & 0xff}`)!;
    const len = writeTcpFrame(buf, {
      srcMac: Uint8Array.of(2, 0, 0, 0, 0, 0x64), dstMac: Uint8Array.of(2, 0, 0, 0, 0, 1), src, dst, ttl: 64, ipId: i & 0xffff, dontFragment: true,
      seg: { srcPort: 1024 + (i % 60000), dstPort: 80, seq: i, ack: 0, flags: TCP_SYN, window: 64240, urgent: 0, options: [], payload: new Uint8Array(0) },
    });
    w.packet(0, i * 1000, buf, len);
  }
  w.finish();
  return path;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

describe('temporary files', () => {
  it('are created exclusively under an unpredictable name: a symlink planted at the old predictable name is not written through', () => {
    const dir = join(tmp, 'planted');
    const victim = write(dir, 'victim', 'precious\n');
    const out = join(dir, 'x.linux.pcapng');
    // The name the writers used before: <out>.<pid>.tmp, opened with 'w' (which follows links).
    fs.symlinkSync(victim, `${out}.${process.pid}.tmp`);
    const w = new PcapngWriter(out, { startEpochSeconds: 1_000_000 });
    expect(w.tmpPath).toMatch(/x\.linux\.pcapng\.[0-9a-f]{16}\.tmp$/);
    w.addInterface({ name: 'lan', linkType: 1, snaplen: 65535 });
    w.finish();
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(fs.readFileSync(out).subarray(0, 4)).toEqual(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]));
  });

  it('never replace what a symlink at the final name points to, and two of one run never share a final name', () => {
    const dir = join(tmp, 'final-link');
    const victim = write(dir, 'victim', 'precious\n');
    const out = join(dir, 'report.html');
    fs.symlinkSync(victim, out);
    const p = new Publication();
    const a = p.writeFile(out, '<html>');
    expect(() => p.create(out)).toThrow(/two outputs of this run would both be written to/);
    const q = new Publication();
    const b = q.create(join(dir, 'report.html'));
    expect(b.tmpPath).not.toBe(a.tmpPath);
    q.abort();
    p.commit();
    expect(fs.lstatSync(out).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(out, 'utf8')).toBe('<html>');
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(temporaries(dir)).toEqual([]);
  });

  it('test --update replaces a scenario beside it: its permission bits kept, a symlink followed to the file it names', () => {
    const dir = join(tmp, 'update-mode');
    const real = write(dir, 'real.yaml', SCENARIO.replace('expect: web', 'expect: refused'));
    fs.chmodSync(real, 0o640);
    const link = join(dir, 'link.yaml');
    fs.symlinkSync('real.yaml', link);
    const r = cli(['test', link, '--update', '-p', 'linux']);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(real, 'utf8')).toContain('expect: { linux: web, default: refused }');
    expect(fs.statSync(real).mode & 0o777).toBe(0o640);
    expect(temporaries(dir)).toEqual([]);
    replaceFile(real, 'x');
    expect(fs.statSync(real).mode & 0o777).toBe(0o640);
  });
});

describe('one run, one set of outputs', () => {
  it('two scenarios with one file name (a/x.yaml, b/x.yaml) are refused before anything is written', () => {
    const dir = join(tmp, 'same-name');
    const a = write(join(dir, 'a'), 'x.yaml', SCENARIO);
    const b = write(join(dir, 'b'), 'x.yaml', SCENARIO.replace('seed: 4', 'seed: 5'));
    const out = join(dir, 'out');
    const r = cli(['run', a, b, '-p', 'linux', '-o', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${a} and ${b} would both write`);
    expect(r.stderr).toMatch(/x\.linux\.pcapng/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(listing(out)).toEqual([]);
  });

  it('--html naming a directory: exit 2 naming it; no capture of the run published, no temporary left', () => {
    const dir = join(tmp, 'html-dir');
    const sc = write(dir, 's.yaml', SCENARIO);
    const out = join(dir, 'out');
    fs.mkdirSync(join(out, 'r.html'), { recursive: true });
    const r = cli(['run', sc, '-p', 'linux', '-o', out, '--html', join(out, 'r.html')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(out, 'r.html')}: it is a directory`);
    expect(listing(out)).toEqual(['r.html']);
  });

  it('replay --json and --html stream the connections: the same JSON as the report in memory', async () => {
    const capture = webCapture(join(tmp, 'web-40.pcap'), 40);
    const inMemory = await replayCapture(capture, loadScenarioFile(WEB), { policies: ['linux', 'bsd44', 'windows'] });
    const r = cli(['replay', capture, '-s', WEB, '-p', 'linux', '-p', 'bsd44', '-p', 'windows', '--no-output', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${JSON.stringify(inMemory, null, 2)}\n`);
    // The library's spool gives the same text in pieces.
    const spool = createSpool();
    try {
      const spooled = await replayCapture(capture, loadScenarioFile(WEB), { policies: ['linux', 'bsd44', 'windows'], spool });
      expect(spooled.policies['linux']!.connections).toEqual([]);
      const text = [...reportJson(spooled, spool)].join('');
      expect(text).toBe(JSON.stringify(inMemory, null, 2));
    } finally {
      removeSpool(spool);
    }
  }, 60_000);

  it('replay --json and --html keep memory bounded: 100,000 connections under two policies in a 40 MiB heap', () => {
    const capture = synFlood(join(tmp, 'flood.pcap'), 100_000);
    const html = join(tmp, 'flood', 'r.html');
    const r = spawnSync(process.execPath, ['--max-old-space-size=40', CLI, 'replay', capture, '-s', WEB, '-p', 'linux', '-p', 'bsd44', '--no-output', '--json', '--html', html],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 30, timeout: 240_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // Every connection of both policies is in the report.
    expect(r.stdout.split('"index": 99999,').length).toBe(3);
    expect(fs.readFileSync(html, 'utf8')).toContain('Showing the first 500 of 100000 connections');
  }, 300_000);
});

describe('inputs that crashed (exit 70, a stack trace)', () => {
  it('a packet time past year 275760: replay --json gives the year; with output captures, exit 2 with the byte offset', () => {
    const frame = conversation()[1]!.frame; // the SYN of the web connection
    // if_tsresol absent: microseconds. 0xfffffff0 << 32 µs is in the year 584,000-odd.
    const bytes = buildPcapng([{ kind: 'shb', little: true }, { kind: 'idb', linkType: 1 }, { kind: 'epb', iface: 0, hi: 0xfffffff0, lo: 0, data: frame }]);
    const capture = write(join(tmp, 'far'), 'far.pcapng', bytes);
    const json = cli(['replay', capture, '-s', WEB, '-p', 'linux', '--no-output', '--json']);
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const report = JSON.parse(json.stdout) as { policies: Record<string, { connections: { time: string }[] }> };
    const time = report.policies['linux']!.connections[0]!.time;
    expect(time).toMatch(/^\+\d{6}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Number(time.slice(1, 7))).toBeGreaterThan(275760);
    const out = join(tmp, 'far', 'out');
    const withOutput = cli(['replay', capture, '-s', WEB, '-p', 'linux', '-o', out, '--html', join(out, 'r.html')]);
    expect(withOutput.status).toBe(2);
    expect(withOutput.stderr, withOutput.stderr).toMatch(/far\.pcapng: byte \d+: packet time \+\d+-.* is past 2554-07-21T23:34:32\.000000Z, the latest a nanosecond pcapng timestamp can hold/);
    expect(listing(out)).toEqual([]);
  });

  it.each([
    [0, 0, '1970-01-01T00:00:00.000000Z'],
    [1_764_000_000, 123_456_789, '2025-11-24T16:00:00.123456789Z'],
    [253_402_300_799, 0, '9999-12-31T23:59:59.000000Z'],
    [253_402_300_800, 0, '+010000-01-01T00:00:00.000000Z'],
    [-62_167_219_201, 0, '-000001-12-31T23:59:59.000000Z'],
    // The last second JavaScript's Date holds, and past it (our own calendar arithmetic).
    [8.64e12, 0, '+275760-09-13T00:00:00.000000Z'],
    [8.64e12 + 86_400 * 366 + 3_661, 0, '+275761-09-14T01:01:01.000000Z'],
    [-8.64e12 - 86_400, 0, '-271821-04-19T00:00:00.000000Z'],
  ])('isoTime(%d, %d) is %s', (sec, nsec, want) => {
    expect(isoTime(sec, nsec)).toBe(want);
  });

  it.each([
    ['empty', new Uint8Array(0), /golden capture .*: byte 0:/],
    ['truncated', null, /golden capture .*: byte \d+:/],
    ['garbage', new TextEncoder().encode('not a capture at all, just text\n'.repeat(4)), /golden capture .*: byte 0:/],
  ])('test --golden with a %s golden capture: the summary, the byte offset, exit 2', (name, bytes, message) => {
    const dir = join(tmp, `golden-${name}`);
    const sc = write(dir, 's.yaml', SCENARIO);
    const golden = join(dir, 'golden');
    expect(cli(['test', sc, '-p', 'linux', '--golden', golden, '--update']).status).toBe(0);
    const stored = join(golden, 's.linux.pcapng');
    const whole = fs.readFileSync(stored);
    fs.writeFileSync(stored, bytes ?? whole.subarray(0, whole.length - 30));
    const r = cli(['test', sc, '-p', 'linux', '--golden', golden]);
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(message);
    expect(r.stdout).toContain('Scenarios:');
    expect(r.stdout).toContain('1 unreadable');
    expect(r.stderr).not.toContain('internal error');
    // --update replaces the damaged file.
    expect(cli(['test', sc, '-p', 'linux', '--golden', golden, '--update']).status).toBe(0);
    expect(fs.readFileSync(stored).equals(whole)).toBe(true);
  });

  it('a 150,000-step scenario: the matrix is drawn (no spread of every row into Math.max)', () => {
    const one = parseScenario('name: long\nseed: 1\nhosts:\n  h:\n    interfaces:\n      eth0: { addresses: [10.0.0.1/24] }\nsteps:\n  - wait: 1s\n', 'long.yaml');
    // 150,000 arguments overflow V8's stack in Math.max(...rows); the steps are made here, not parsed (quicker).
    const sc = { ...one, steps: Array.from({ length: 150_000 }, (_, index) => ({ ...one.steps[0]!, index })) };
    const report = runScenario(sc, { policies: ['linux'] });
    const matrix = renderMatrix(sc, report, { color: false });
    expect(matrix.split('\n').length).toBeGreaterThan(150_000);
  }, 120_000);

  it('one unreadable folder is reported and the rest of the tree still tested', () => {
    const dir = join(tmp, 'unreadable');
    write(join(dir, 'ok'), 'good.yaml', SCENARIO);
    write(join(dir, 'locked'), 'hidden.yaml', SCENARIO);
    fs.chmodSync(join(dir, 'locked'), 0);
    fs.chmodSync(tmp, 0o755);
    try {
      // Root reads any folder: the command runs as nobody there, from a copy of the bundle in the
      // scratch folder (the checkout may sit where only root can enter, as a `mktemp -d` clone does).
      let r: ReturnType<typeof cli>;
      if (IS_ROOT) {
        const bin = join(tmp, 'bin');
        fs.cpSync(join(ROOT, 'dist/bin'), bin, { recursive: true });
        r = spawnSync(process.execPath, [join(bin, 'bindlab.js'), 'test', dir, '-p', 'linux'],
          { cwd: tmp, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, uid: 65534, gid: 65534, timeout: 300_000 });
      } else {
        r = cli(['test', dir, '-p', 'linux']);
      }
      expect(r.stdout).toMatch(/PASS .*good\.yaml/);
      expect(r.stdout).toMatch(new RegExp(`ERROR cannot read directory ${join(dir, 'locked')}: permission denied \\(EACCES\\)`));
      expect(r.status).toBe(2);
    } finally {
      fs.chmodSync(join(dir, 'locked'), 0o755);
    }
  });
});

describe('signals', () => {
  it.each([['SIGTERM', 143], ['SIGINT', 130]] as const)('run: %s mid-run exits %i, removes its temporaries and publishes nothing', async (signal, code) => {
    const dir = join(tmp, `signal-run-${signal}`);
    const sc = write(dir, 'many.yaml', many(60_000));
    const out = join(dir, 'out');
    const child = spawn(process.execPath, [CLI, 'run', sc, '-p', 'linux', '-p', 'bsd44', '-o', out, '--html', join(out, 'r.html')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    // Mid-run: once the first capture's temporary file is there (or, failing, as soon as the run ends).
    await until(() => temporaries(out).length > 0 || child.exitCode !== null, 60_000);
    expect(child.exitCode, stderr).toBe(null);
    child.kill(signal);
    expect(await exited).toBe(code);
    expect(stderr).toBe(`bindlab: run interrupted; no output written (${signal})\n`);
    expect(listing(out)).toEqual([]);
  }, 120_000);

  it('replay in two threads: SIGTERM exits 143, no temporary left in the output folder', async () => {
    const capture = webCapture(join(tmp, 'long.pcap'), 40_000);
    const out = join(tmp, 'signal-replay');
    const child = spawn(process.execPath, [CLI, 'replay', capture, '-s', WEB, '-p', 'linux', '-p', 'bsd44', '-o', out, '-j', '2'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(await until(() => temporaries(out).length === 2, 60_000)).toBe(true);
    child.kill('SIGTERM');
    const status = await exited;
    if (status === 0) { console.warn('replay finished before the signal: nothing to check'); return; }
    expect(status).toBe(143);
    expect(stderr).toContain('replay interrupted; no output written (SIGTERM)');
    expect(listing(out)).toEqual([]);
  }, 120_000);
});

// A full disk and a read-only mount need mount(2).
const rootOnly = IS_ROOT ? describe : describe.skip;
if (!IS_ROOT) console.log('skipped: the full-disk and read-only-mount tests mount a tmpfs, which needs root');

rootOnly('a full disk (a 1 MiB tmpfs) and a read-only mount', () => {
  let disk = '';
  let ro = '';
  const filler = (): string => join(disk, 'filler');

  /** Fills the tmpfs, then frees `leave` bytes (whole pages). */
  function fill(leave: number): void {
    fs.rmSync(filler(), { force: true });
    const fd = fs.openSync(filler(), 'w');
    const page = Buffer.alloc(4096, 0x55);
    try {
      for (;;) fs.writeSync(fd, page);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    } finally {
      fs.closeSync(fd);
    }
    const size = fs.statSync(filler()).size;
    fs.truncateSync(filler(), Math.max(0, size - leave));
  }

  beforeAll(() => {
    disk = fs.mkdtempSync(join(tmp, 'disk-'));
    ro = fs.mkdtempSync(join(tmp, 'ro-'));
    const a = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'bindlab-full', disk]);
    const b = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'bindlab-ro', ro]);
    if (a.status !== 0 || b.status !== 0) throw new Error(`mount failed: ${a.stderr}${b.stderr}`);
  });
  afterAll(() => {
    spawnSync('umount', [disk]);
    spawnSync('umount', [ro]);
  });

  it('run: the capture that does not fit is named with ENOSPC, exit 2, no temporary left', () => {
    // Under the writer's 1 MiB buffer: the one write is finish()'s, which once left its temporary behind.
    const sc = write(tmp, 'disk-run.yaml', many(400));
    const out = join(disk, 'run');
    fs.mkdirSync(out, { recursive: true });
    fill(64 << 10);
    const r = cli(['run', sc, '-p', 'linux', '-o', out]);
    fs.rmSync(filler());
    expect(listing(out)).toEqual([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`bindlab: cannot write ${join(out, 'disk-run.linux.pcapng')}: no space left on device (ENOSPC)\n`);
  });

  it('--html on a full disk: named, exit 2, no r.html temporary left', () => {
    const sc = write(tmp, 'disk-html.yaml', SCENARIO);
    const out = join(disk, 'html');
    fs.mkdirSync(out, { recursive: true });
    fill(0);
    const r = cli(['run', sc, '-p', 'linux', '--no-capture', '--html', join(out, 'r.html')]);
    fs.rmSync(filler());
    expect(listing(out)).toEqual([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`cannot write ${join(out, 'r.html')}: no space left on device (ENOSPC)`);
  });

  it('test --update on a full disk leaves the scenario whole and says so', () => {
    const dir = join(disk, 'update');
    // Just under three pages; the rewrite needs a fourth.
    const base = SCENARIO.replace('expect: web', 'expect: refused');
    const text = `${base}${'# padding to fill the last page of the file\n'.repeat(Math.floor((12_280 - base.length) / 44))}`;
    const sc = write(dir, 's.yaml', text);
    fill(0);
    const r = cli(['test', sc, '-p', 'linux', '--update']);
    fs.rmSync(filler());
    expect(fs.readFileSync(sc, 'utf8')).toBe(text);
    expect(r.stdout).toContain(`ERROR cannot write ${sc}: no space left on device (ENOSPC); the file is unchanged`);
    expect(r.stdout).toContain('Scenarios:');
    expect(r.status).toBe(2);
    expect(listing(dir)).toEqual(['s.yaml']);
  });

  it.each([['one thread', '1'], ['two threads', '2']])('replay under four policies that do not all fit (%s): every old output stays, none half-new; exit 2 naming the file', (_n, jobs) => {
    const capture = webCapture(join(tmp, `disk-replay-${jobs}.pcap`), 300);
    const out = join(disk, `replay-${jobs}`);
    const policies = ['linux', 'bsd44', 'freebsd', 'windows'];
    for (const p of policies) write(out, `disk-replay-${jobs}.${p}.pcapng`, `stale ${p}\n`);
    // Room for about two of the four outputs.
    const probe = cli(['replay', capture, '-s', WEB, '-p', 'linux', '-o', join(tmp, `probe-${jobs}`)]);
    expect(probe.status, probe.stderr).toBe(0);
    const one = fs.statSync(join(tmp, `probe-${jobs}`, `disk-replay-${jobs}.linux.pcapng`)).size;
    fill(Math.round(one * 2.5));
    const r = cli(['replay', capture, '-s', WEB, ...policies.flatMap((p) => ['-p', p]), '-o', out, '-j', jobs]);
    fs.rmSync(filler());
    expect(listing(out)).toEqual(policies.map((p) => `disk-replay-${jobs}.${p}.pcapng`).sort());
    for (const p of policies) expect(fs.readFileSync(join(out, `disk-replay-${jobs}.${p}.pcapng`), 'utf8')).toBe(`stale ${p}\n`);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^bindlab: cannot write ${out}/disk-replay-${jobs}\\.[a-z0-9]+\\.pcapng: no space left on device \\(ENOSPC\\)\\n$`));
  }, 60_000);

  it('a read-only mount is reported as such, with the directory that could not be made', () => {
    const sc = write(tmp, 'ro.yaml', SCENARIO);
    const out = join(ro, 'out', 'sub');
    const r = cli(['run', sc, '-p', 'linux', '-o', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`bindlab: cannot create directory ${join(ro, 'out')}: read-only file system (EROFS)\n`);
    expect(() => new Publication().create(join(ro, 'x'))).toThrow(OutputError);
  });
});
