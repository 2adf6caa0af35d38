// End to end: every scenario under every policy through the built CLI, and every capture read
// back by tshark. Checks that files open, carry no malformed packets or warnings beyond the
// explainable RST one, have good IPv4/TCP checksums, comment every SYN and RST, and that Follow
// TCP Stream of each accepted connection shows the banner of the socket the JSON report names.
//
// Cost: the CLI runs three times over all scenarios at once (not three times per scenario), and
// tshark once per capture with every check of that capture in the one run (the fields and the
// Follow TCP Stream texts together), never more tshark processes at a time than there are
// cores. tshark cannot take several files in one run without merging them, and merged captures
// of one scenario under two policies share 4-tuples, which tshark then takes for retransmissions.

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../testing/helpers.js';
import { noTshark } from '../tools.js';
import { Sharkd, sharkdAvailable, type SharkFile, type SharkFrame } from '../sharkd.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import type { Scenario } from '../../src/scenario/types.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bin/bindlab.js');
const SCENARIOS = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).sort();
const NO_TSHARK = noTshark();
if (NO_TSHARK) console.log(`captures.test: ${NO_TSHARK}; the capture checks are skipped`);

/** Expert infos of severity warning (0x00600000) or error that are expected, by message. */
const ALLOWED_WARNINGS = new Set([
  // tcp.analysis: every RST is flagged "Connection reset (RST)" at warning level; a refused SYN answers with one.
  'Connection reset (RST)',
]);
const WARNING = 0x00600000;

// ---- Wireshark -------------------------------------------------------------------------------

/** Checksums verified, sequence analysis on (as tshark -o tcp.check_checksum:TRUE ...). */
const PREFS = { 'tcp.check_checksum': 'TRUE', 'ip.check_checksum': 'TRUE', 'tcp.analyze_sequence_numbers': 'TRUE' };
const TSHARK_CHECKS = Object.entries(PREFS).flatMap(([k, v]) => ['-o', `${k}:${v}`]);
const HAS_SHARKD = NO_TSHARK === '' && sharkdAvailable();
if (NO_TSHARK === '' && !HAS_SHARKD) console.log('captures.test: sharkd (wireshark-common) is not installed; each capture is read by a tshark of its own');

type Frame = SharkFrame;

/** The same fields by tshark, one process per file: where sharkd is missing, and to check that sharkd reads as tshark does. */
async function tsharkRead(file: string, followStreams: number): Promise<SharkFile> {
  const fields = ['frame.number', 'frame.comment', 'tcp.flags.syn', 'tcp.flags.reset', 'tcp.stream', '_ws.expert.severity',
    '_ws.expert.message', '_ws.malformed', 'ip.checksum.status', 'tcp.checksum.status', 'icmpv6.checksum.status'];
  const follows = Array.from({ length: followStreams }, (_, s) => ['-z', `follow,tcp,raw,${s}`]).flat();
  const { stdout } = await run('tshark', ['-r', file, ...TSHARK_CHECKS, '-T', 'json', ...fields.flatMap((f) => ['-e', f]), ...follows], { maxBuffer: 1 << 28 });
  // The JSON array ends at the first line that is a lone "]"; the -z texts come after it.
  const end = /^\]$/m.exec(stdout);
  const rows = JSON.parse(end ? stdout.slice(0, end.index + 1) : stdout) as { _source: { layers: Record<string, string[]> } }[];
  const frames = rows.map(({ _source: { layers: l } }): Frame => {
    const flag = (k: string): boolean => (l[k] ?? []).some((v) => v === '1' || v === 'True' || v === 'true');
    const sev = (l['_ws.expert.severity'] ?? []).map(Number);
    const msg = l['_ws.expert.message'] ?? [];
    // tshark -e prints checksum statuses as numbers (1: good); sharkd as their names.
    const status = (k: string) => (l[k] ?? []).map((v) => (v === '1' ? 'Good' : v === '0' ? 'Bad' : v === '2' ? 'Unverified' : v));
    return {
      number: Number(l['frame.number']![0]), comment: (l['frame.comment'] ?? []).join(','), syn: flag('tcp.flags.syn'), rst: flag('tcp.flags.reset'),
      stream: l['tcp.stream'] ? Number(l['tcp.stream'][0]) : null, malformed: '_ws.malformed' in l,
      ipChecksum: status('ip.checksum.status'), tcpChecksum: status('tcp.checksum.status'), icmpv6Checksum: status('icmpv6.checksum.status'),
      experts: sev.map((severity, i) => ({ severity, message: msg[i] ?? '?' })),
    };
  });
  const follow = new Map<number, string>();
  for (const block of (end ? stdout.slice(end.index + 1) : '').split(/^=+\nFollow: tcp,raw\n/m).slice(1)) {
    const m = /^Filter: tcp\.stream eq (\d+)\n/.exec(block);
    if (!m) continue;
    // Raw follow: one hex line per segment (indented when the server sent it) after the two Node lines.
    const hex = block.split('\n').slice(3).filter((x) => /^\s*[0-9a-f]+$/.test(x)).map((x) => x.trim()).join('');
    follow.set(Number(m[1]), Buffer.from(hex, 'hex').toString('latin1'));
  }
  return { frames, follow };
}

let sharkd: Sharkd | null = null;
const tsharkFiles = new Map<string, Promise<SharkFile>>();
/** A capture as Wireshark dissects it, read once, with Follow TCP Stream of streams 0 .. followStreams - 1. */
function dissect(file: string, followStreams = 0): Promise<SharkFile> {
  if (sharkd) return sharkd.read(file, followStreams);
  let p = tsharkFiles.get(file);
  if (!p) tsharkFiles.set(file, (p = tsharkRead(file, followStreams)));
  return p;
}

/** Problems tshark reports in a capture (malformed, warnings beyond the allowed, bad checksums). */
/**
 * Addresses of hosts with interfaces on two links or more: such a host answers by its own route
 * (Linux's weak host model: a reply out of eth1 from eth0's address, its ARP saying "tell
 * <eth0's address>" with eth1's MAC), which Wireshark, keeping one ARP table for the whole
 * capture, calls "Duplicate IP address configured". Expected there, a defect anywhere else.
 */
function multiLinkAddresses(scenario: Scenario): Set<string> {
  const out = new Set<string>();
  for (const h of scenario.hosts) {
    if (new Set(h.interfaces.map((i) => i.link)).size < 2) continue;
    for (const i of h.interfaces) for (const c of i.addresses) out.add(c.addr.text);
  }
  return out;
}

function problems(fs: readonly Frame[], seen: Map<string, number>, multiLink: ReadonlySet<string> = new Set()): string[] {
  const bad: string[] = [];
  for (const f of fs) {
    if (f.malformed) bad.push(`frame ${f.number}: malformed`);
    // A frame comment is an expert info too (severity "comment").
    f.experts.forEach(({ severity: sev, message: msg }) => {
      if (!f.comment.includes(msg)) seen.set(`${sev.toString(16)} ${msg}`, (seen.get(`${sev.toString(16)} ${msg}`) ?? 0) + 1);
      const dup = /^Duplicate IP address configured \((.*)\)$/.exec(msg);
      if (dup && multiLink.has(dup[1]!)) return;
      if (sev >= WARNING && !ALLOWED_WARNINGS.has(msg)) bad.push(`frame ${f.number}: expert 0x${sev.toString(16)} "${msg}"`);
    });
    for (const s of f.ipChecksum) if (s !== 'Good') bad.push(`frame ${f.number}: ip.checksum.status ${s}`);
    for (const s of f.tcpChecksum) if (s !== 'Good') bad.push(`frame ${f.number}: tcp.checksum.status ${s}`);
    for (const s of f.icmpv6Checksum) if (s !== 'Good') bad.push(`frame ${f.number}: icmpv6.checksum.status ${s}`);
  }
  return bad;
}

// ---- the report ------------------------------------------------------------------------------

interface JsonStep { index: number; kind: string; result: string; results?: string[]; reason?: string }
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
      // unreachable: ARP only, unless a router answered the SYN with an ICMP error (scenarios/router.yaml);
      // errno results: nothing sent. refused: SYN + RST; timeout: SYNs only.
      if ((r === 'unreachable' && !/the error reaches/.test(s.reason ?? '')) || /^E[A-Z]+$/.test(r)) continue;
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

/** `bindlab run` over the given scenarios into tmp/sub: its exit code and its JSON reports. */
async function runCli(files: readonly string[], sub: string, extra: readonly string[]): Promise<{ code: number; reports: JsonReport[] }> {
  const r = await run(process.execPath, [CLI, 'run', ...files.map((f) => join('scenarios', f)), '-o', join(tmp, sub), '--json', ...extra], { cwd: ROOT, maxBuffer: 1 << 28 })
    .then((x) => ({ code: 0, stdout: x.stdout }), (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }));
  // One report per file: a JSON array, or one report per line (JSON Lines); nothing when it failed early.
  let reports: JsonReport[] = [];
  try {
    const whole = JSON.parse(r.stdout) as JsonReport | JsonReport[];
    reports = Array.isArray(whole) ? whole : [whole];
  } catch {
    try { reports = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as JsonReport); } catch { /* the exit code says why */ }
  }
  return { code: r.code, reports };
}

/** The streams the JSON report of a scenario implies under a policy (for the one tshark run of its capture). */
const wantOf = (scenario: Scenario, file: string, policy: string) => {
  const run = reports.get(file)?.policies[policy];
  return run ? expectedStreams(scenario, run) : [];
};

describe.skipIf(NO_TSHARK !== '')('captures of every scenario, read back by tshark', () => {
  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'bindlab-captures-'));
    if (HAS_SHARKD) sharkd = new Sharkd(PREFS);
    // Each output directory from one CLI run over every scenario; one scenario's exit code is the
    // run's when it is 0, else (a failure to pin on its scenario) each scenario is run alone again.
    await Promise.all(([['ng', []], ['ng2', []], ['pcap', ['--format', 'pcap']]] as const).map(async ([sub, extra]) => {
      const all = await runCli(SCENARIOS, sub, extra);
      const each = all.code === 0 ? null : await Promise.all(SCENARIOS.map((f) => runCli([f], `${sub}-alone`, extra)));
      SCENARIOS.forEach((f, i) => {
        codes.set(`${sub}/${f}`, each ? each[i]!.code : 0);
        if (sub === 'ng') reports.set(f, each ? each[i]!.reports[0]! : all.reports.find((r) => r.file === `scenarios/${f}`)!);
      });
    }));
  }, 180_000);

  afterAll(async () => {
    await sharkd?.close();
    if (expertSeen.size > 0) {
      console.log(`expert infos seen (severity hex, message, frames):\n${[...expertSeen].sort().map(([k, n]) => `  ${k}  x${n}`).join('\n')}`);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  // sharkd reads each file afresh: the same frames, expert infos and stream texts as tshark -r,
  // also for a capture read after another that has the same 4-tuples (one scenario, two policies).
  it.skipIf(!HAS_SHARKD)('sharkd dissects a capture as tshark does, whatever it read before', async () => {
    const stem = 'reuseport';
    const follow = wantOf(loadScenarioFile(join(ROOT, 'scenarios', `${stem}.yaml`)), `${stem}.yaml`, 'bsd44').length;
    expect(follow).toBeGreaterThan(0);
    const before = await dissect(join(tmp, 'ng', `${stem}.linux.pcapng`), follow);
    const viaSharkd = await sharkd!.read(join(tmp, 'ng', `${stem}.bsd44.pcapng`), follow);
    const viaTshark = await tsharkRead(join(tmp, 'ng', `${stem}.bsd44.pcapng`), follow);
    expect(before.frames.length).toBeGreaterThan(0);
    const norm = (f: SharkFile) => ({ frames: f.frames.map((x) => ({ ...x, experts: [...x.experts].sort((a, b) => a.severity - b.severity || (a.message < b.message ? -1 : 1)) })), follow: [...f.follow].sort((a, b) => a[0] - b[0]) });
    expect(norm(viaSharkd)).toEqual(norm(viaTshark));
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
        const { frames: fs } = await dissect(join(tmp, 'ng', `${stem}.${policy}.pcapng`), wantOf(scenario, file, policy).length);
        // Nothing on the wire only when every connect ended before a packet (an errno, or unreachable without a source: an OS without IPv6).
        const run = reports.get(file)!.policies[policy]!;
        const silent = scenario.steps.every((st) => st.kind !== 'connect' || (run.steps[st.index]!.results ?? [run.steps[st.index]!.result]).every((r) => r === 'unreachable' || /^E[A-Z]+$/.test(r)));
        if (!silent) expect(fs.length).toBeGreaterThan(0);
        expect(problems(fs, expertSeen, multiLinkAddresses(scenario))).toEqual([]);
        const uncommented = fs.filter((f) => (f.syn || f.rst) && f.comment === '').map((f) => f.number);
        expect(uncommented, 'SYN/RST frames without a frame.comment').toEqual([]);
      }, 120_000); // tshark per file: generous on a busy machine

      it('Follow TCP Stream of each accepted connection shows the banner of the socket in the JSON report', async ({ expect }) => {
        const want = expectedStreams(scenario, reports.get(file)!.policies[policy]!);
        // Follow TCP Stream of streams 0 .. want.length - 1, in the same tshark run as the fields.
        const { frames: fs, follow: texts } = await dissect(join(tmp, 'ng', `${stem}.${policy}.pcapng`), want.length);
        const streams = [...new Set(fs.filter((f) => f.stream !== null).map((f) => f.stream!))].sort((a, b) => a - b);
        expect(streams.length, 'one TCP stream per connection attempt that sent a SYN').toBe(want.length);
        const got = want.map((w, i) => {
          const text = texts.get(i) ?? '';
          const banners = [...text.matchAll(/bindlab [^\s]+\/[^\s]+\/[^\s]+/g)].map((m) => m[0]);
          return { step: w.step, result: w.result, banners };
        });
        expect(got).toEqual(want.map((w) => ({ step: w.step, result: w.result, banners: w.banner ? [w.banner] : [] })));
        // A refused connection is a SYN answered by a RST (one copy of each per link it crosses, through routers).
        want.forEach((w, i) => {
          if (w.result !== 'refused') return;
          const s = fs.filter((f) => f.stream === i).map((f) => (f.syn ? 'SYN' : f.rst ? 'RST' : 'other'));
          expect(s.filter((k, j) => j === 0 || k !== s[j - 1])).toEqual(['SYN', 'RST']);
        });
      }, 120_000); // tshark per file: generous on a busy machine

      it('--format pcap output reads clean too', async ({ expect }) => {
        expect(codes.get(`pcap/${file}`)).toBe(0);
        // One file per link (classic pcap holds one link type): together, every frame of the pcapng.
        const links = readdirSync(join(tmp, 'pcap')).filter((n) => n.startsWith(`${stem}.${policy}.`) && n.endsWith('.pcap'));
        expect(links.length).toBeGreaterThan(0);
        const fs = (await Promise.all(links.map((n) => dissect(join(tmp, 'pcap', n))))).flatMap((d) => d.frames);
        const { frames: ng } = await dissect(join(tmp, 'ng', `${stem}.${policy}.pcapng`), wantOf(scenario, file, policy).length);
        expect(fs.length).toBe(ng.length);
        expect(problems(fs, new Map())).toEqual([]);
      }, 120_000); // tshark per file: generous on a busy machine
    });
  });
});

