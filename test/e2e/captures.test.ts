// End to end: every scenario under every policy through the built CLI, and every capture read
// back by tshark. Checks that files open, carry no malformed packets or warnings beyond the
// explainable RST one, have good IPv4/TCP checksums, comment every SYN and RST, and that Follow
// TCP Stream of each accepted connection shows the banner of the socket the JSON report names.

import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../testing/helpers.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import type { Scenario } from '../../src/scenario/types.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bin/bindlab.js');
const SCENARIOS = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).sort();
const HAS_TSHARK = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
if (!HAS_TSHARK) console.log('captures.test: tshark is not installed; the capture checks are skipped');

/** Expert infos of severity warning (0x00600000) or error that are expected, by message. */
const ALLOWED_WARNINGS = new Set([
  // tcp.analysis: every RST is flagged "Connection reset (RST)" at warning level; a refused SYN answers with one.
  'Connection reset (RST)',
]);
const WARNING = 0x00600000;

// ---- build -----------------------------------------------------------------------------------

// ---- tshark ----------------------------------------------------------------------------------

const TSHARK_CHECKS = ['-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.analyze_sequence_numbers:TRUE'];

interface Frame {
  number: number;
  comment: string[];
  syn: boolean;
  rst: boolean;
  stream: number | null;
  severities: number[];
  messages: string[];
  malformed: boolean;
  ipChecksum: string[];
  tcpChecksum: string[];
  icmpv6Checksum: string[];
}

const framesCache = new Map<string, Promise<Frame[]>>();
/** The frames of a capture as tshark dissects them (each file is read once). */
function frames(file: string): Promise<Frame[]> {
  let p = framesCache.get(file);
  if (!p) framesCache.set(file, (p = readFrames(file)));
  return p;
}

async function readFrames(file: string): Promise<Frame[]> {
  const fields = ['frame.number', 'frame.comment', 'tcp.flags.syn', 'tcp.flags.reset', 'tcp.stream', '_ws.expert.severity',
    '_ws.expert.message', '_ws.malformed', 'ip.checksum.status', 'tcp.checksum.status', 'icmpv6.checksum.status'];
  const { stdout } = await run('tshark', ['-r', file, ...TSHARK_CHECKS, '-T', 'json', ...fields.flatMap((f) => ['-e', f])], { maxBuffer: 1 << 28 });
  const rows = JSON.parse(stdout) as { _source: { layers: Record<string, string[]> } }[];
  return rows.map(({ _source: { layers: l } }) => {
    const flag = (k: string): boolean => (l[k] ?? []).some((v) => v === '1' || v === 'True' || v === 'true');
    return {
      number: Number(l['frame.number']![0]),
      comment: l['frame.comment'] ?? [],
      syn: flag('tcp.flags.syn'),
      rst: flag('tcp.flags.reset'),
      stream: l['tcp.stream'] ? Number(l['tcp.stream'][0]) : null,
      severities: (l['_ws.expert.severity'] ?? []).map(Number),
      messages: l['_ws.expert.message'] ?? [],
      malformed: '_ws.malformed' in l,
      ipChecksum: l['ip.checksum.status'] ?? [],
      tcpChecksum: l['tcp.checksum.status'] ?? [],
      icmpv6Checksum: l['icmpv6.checksum.status'] ?? [],
    };
  });
}

/** Follow TCP Stream (ascii) of the given streams in one tshark run: stream index -> the text. */
async function follow(file: string, streams: readonly number[]): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (streams.length === 0) return out;
  const { stdout } = await run('tshark', ['-r', file, '-q', ...streams.flatMap((s) => ['-z', `follow,tcp,ascii,${s}`])], { maxBuffer: 1 << 28 });
  for (const block of stdout.split(/^=+\nFollow: tcp,ascii\n/m).slice(1)) {
    const m = /^Filter: tcp\.stream eq (\d+)\n/.exec(block);
    if (m) out.set(Number(m[1]), block.replace(/^=+\n?$/m, ''));
  }
  return out;
}

/** Problems tshark reports in a capture (malformed, warnings beyond the allowed, bad checksums). */
function problems(fs: readonly Frame[], seen: Map<string, number>): string[] {
  const bad: string[] = [];
  for (const f of fs) {
    if (f.malformed) bad.push(`frame ${f.number}: malformed`);
    // Messages and severities are parallel lists; a frame comment is an expert info too (severity "comment").
    f.severities.forEach((sev, i) => {
      const msg = f.messages[i] ?? '?';
      if (!f.comment.includes(msg)) seen.set(`${sev.toString(16)} ${msg}`, (seen.get(`${sev.toString(16)} ${msg}`) ?? 0) + 1);
      if (sev >= WARNING && !ALLOWED_WARNINGS.has(msg)) bad.push(`frame ${f.number}: expert 0x${sev.toString(16)} "${msg}"`);
    });
    for (const s of f.ipChecksum) if (s !== '1') bad.push(`frame ${f.number}: ip.checksum.status ${s}`);
    for (const s of f.tcpChecksum) if (s !== '1') bad.push(`frame ${f.number}: tcp.checksum.status ${s}`);
    for (const s of f.icmpv6Checksum) if (s !== '1') bad.push(`frame ${f.number}: icmpv6.checksum.status ${s}`);
  }
  return bad;
}

// ---- the report ------------------------------------------------------------------------------

interface JsonStep { index: number; kind: string; result: string; results?: string[] }
interface JsonRun { steps: JsonStep[]; expectations: { passed: number; failed: number }; output?: string }
interface JsonReport { scenario: string; file: string; policies: Record<string, JsonRun> }

/** One TCP stream per connection attempt that put a SYN on the wire, in order: [stream index, result]. */
function expectedStreams(scenario: Scenario, run: JsonRun): { step: number; result: string; banner: string | null }[] {
  const owners = new Map<string, string>();
  const out: { step: number; result: string; banner: string | null }[] = [];
  for (const step of scenario.steps) {
    if (step.kind === 'socket') owners.set(step.socket, `${step.host}/${step.process}/${step.socket}`);
    if (step.kind !== 'connect') continue;
    const s = run.steps[step.index]!;
    for (const r of s.results ?? [s.result]) {
      // unreachable: ARP only; errno results: nothing sent. refused: SYN + RST; timeout: SYNs only.
      if (r === 'unreachable' || /^E[A-Z]+$/.test(r)) continue;
      const owner = owners.get(r);
      out.push({ step: step.index, result: r, banner: owner ? `bindlab ${owner}` : null });
    }
  }
  return out;
}

// ---- the tests -------------------------------------------------------------------------------

let tmp = '';
const reports = new Map<string, JsonReport>();
const codes = new Map<string, number>();
const expertSeen = new Map<string, number>();

describe.skipIf(!HAS_TSHARK)('captures of every scenario, read back by tshark', () => {
  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'bindlab-captures-'));
    await Promise.all(SCENARIOS.map(async (f) => {
      for (const [sub, extra] of [['ng', []], ['ng2', []], ['pcap', ['--format', 'pcap']]] as const) {
        const r = await run(process.execPath, [CLI, 'run', join('scenarios', f), '-o', join(tmp, sub), '--json', ...extra], { cwd: ROOT })
          .then((x) => ({ code: 0, stdout: x.stdout }), (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }));
        codes.set(`${sub}/${f}`, r.code);
        if (sub === 'ng') reports.set(f, JSON.parse(r.stdout) as JsonReport);
      }
    }));
  }, 60_000);

  afterAll(() => {
    if (expertSeen.size > 0) {
      console.log(`expert infos seen (severity hex, message, frames):\n${[...expertSeen].sort().map(([k, n]) => `  ${k}  x${n}`).join('\n')}`);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  describe.each(SCENARIOS)('%s', (file) => {
    const scenario = loadScenarioFile(join(ROOT, 'scenarios', file));
    const policies = scenario.policies ?? BUILTIN_POLICIES;

    it('runs with exit code 0 and every expectation of every policy holds', () => {
      expect(codes.get(`ng/${file}`)).toBe(0);
      const report = reports.get(file)!;
      expect(Object.keys(report.policies).sort()).toEqual([...policies].sort());
      const failed = Object.entries(report.policies).flatMap(([p, r]) =>
        r.steps.filter((s) => (s as { passed?: boolean }).passed === false).map((s) => `${p} step ${s.index} ${s.kind}: got ${s.result}`));
      expect(failed).toEqual([]);
      for (const r of Object.values(report.policies)) expect(r.expectations.failed).toBe(0);
    });

    it('same file and seed give byte-identical captures', () => {
      const stem = basename(file, '.yaml');
      for (const p of policies) {
        const a = readFileSync(join(tmp, 'ng', `${stem}.${p}.pcapng`));
        const b = readFileSync(join(tmp, 'ng2', `${stem}.${p}.pcapng`));
        expect(a.equals(b), `${stem}.${p}.pcapng differs between two runs`).toBe(true);
      }
    });

    describe.concurrent.each(policies as string[])('%s', (policy) => {
      const stem = basename(file, '.yaml');

      it('pcapng opens cleanly: no malformed packets, no unexplained warnings, good checksums, comments on SYN and RST', async ({ expect }) => {
        const fs = await frames(join(tmp, 'ng', `${stem}.${policy}.pcapng`));
        expect(fs.length).toBeGreaterThan(0);
        expect(problems(fs, expertSeen)).toEqual([]);
        const uncommented = fs.filter((f) => (f.syn || f.rst) && f.comment.length === 0).map((f) => f.number);
        expect(uncommented, 'SYN/RST frames without a frame.comment').toEqual([]);
      });

      it('Follow TCP Stream of each accepted connection shows the banner of the socket in the JSON report', async ({ expect }) => {
        const path = join(tmp, 'ng', `${stem}.${policy}.pcapng`);
        const fs = await frames(path);
        const want = expectedStreams(scenario, reports.get(file)!.policies[policy]!);
        const streams = [...new Set(fs.filter((f) => f.stream !== null).map((f) => f.stream!))].sort((a, b) => a - b);
        expect(streams.length, 'one TCP stream per connection attempt that sent a SYN').toBe(want.length);
        const texts = await follow(path, streams);
        const got = want.map((w, i) => {
          const text = texts.get(i) ?? '';
          const banners = [...text.matchAll(/bindlab [^\s]+\/[^\s]+\/[^\s]+/g)].map((m) => m[0]);
          return { step: w.step, result: w.result, banners };
        });
        expect(got).toEqual(want.map((w) => ({ step: w.step, result: w.result, banners: w.banner ? [w.banner] : [] })));
        // A refused connection is a SYN answered by a RST.
        want.forEach((w, i) => {
          if (w.result !== 'refused') return;
          const s = fs.filter((f) => f.stream === i);
          expect(s.map((f) => (f.syn ? 'SYN' : f.rst ? 'RST' : 'other'))).toEqual(['SYN', 'RST']);
        });
      });

      it('--format pcap output reads clean too', async ({ expect }) => {
        expect(codes.get(`pcap/${file}`)).toBe(0);
        const fs = await frames(join(tmp, 'pcap', `${stem}.${policy}.pcap`));
        const ng = await frames(join(tmp, 'ng', `${stem}.${policy}.pcapng`));
        expect(fs.length).toBe(ng.length);
        expect(problems(fs, new Map())).toEqual([]);
      });
    });
  });
});

