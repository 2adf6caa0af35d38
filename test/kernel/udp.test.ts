// The real-kernel oracle's datagram steps: the UDP kernel facts (test/kernel/udp-facts.ts), each
// a scenario whose expectations Linux 6.18 must meet in the namespaces, replies' sources included;
// then the emulator's linux policy beside the kernel on those facts and on seeded random UDP
// programs (test/kernel/random-udp-programs.ts), through verify-kernel's comparison.
import { describe, expect, it } from 'vitest';
import { audit } from '../../src/audit/audit.js';
import { runPolicy } from '../../src/emu/engine.js';
import { getPolicy } from '../../src/emu/policy/index.js';
import type { Policy } from '../../src/emu/policy/types.js';
import { kernelAvailable, runOnKernel, type KernelStep } from '../../src/kernel/run-kernel.js';
import { receiverOrder, receiverText } from '../../src/kernel/run-udp.js';
import { parseScenario } from '../../src/scenario/load.js';
import type { Scenario } from '../../src/scenario/types.js';
import { compareRuns, compareWithKernel } from '../../src/testing/kernel-compare.js';
import { randomUdpProgram } from './random-udp-programs.js';
import { RATE_LIMITED, REPLY_SOURCES, UDP_FACTS, UNHEARD_REPLY } from './udp-facts.js';
import { KNOWN_BUGS, knownCause } from './udp-known.js';
import { linuxWithoutIcmpLimit, pool } from './kernel-helpers.js';

const avail = kernelAvailable();
if (!avail.ok) console.log('skipping the UDP kernel facts: ' + avail.why);

describe('receivers as the emulator writes them', () => {
  it('lists copies by name, joined with +', () => {
    expect(receiverText(['m2', 'g', 'm1'])).toBe('g+m1+m2');
    expect(receiverOrder(['b', 'a'])).toEqual(['a', 'b']);
    expect(receiverText(['only'])).toBe('only');
  });
});

describe.skipIf(!avail.ok)('the harness reproduces the UDP kernel facts', () => {
  it.each(UDP_FACTS.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    const r = await runOnKernel(f.scenario);
    const steps = f.scenario.steps as readonly KernelStep[];
    expect(r.map((x) => x.index)).toEqual(steps.map((s) => s.index));
    const wrong: string[] = [];
    for (const s of steps) {
      const want = s.expect?.fallback;
      const got = r[s.index]!;
      for (const res of got.results ?? [got.result]) {
        if (want && !want.includes(res)) wrong.push(`step ${s.index} (${s.kind}): kernel ${res}, expected ${want.join('|')}`);
      }
    }
    expect(wrong).toEqual([]);
    // Each datagram's deliveries name its receivers as HOST/PROCESS/SOCKET, the result by socket name.
    for (const got of r.filter((x) => x.kind === 'datagram')) {
      got.deliveries!.forEach((d, i) => {
        if (d.receivers.length) expect(receiverText(d.receivers.map((x) => x.split('/')[2]!))).toBe(got.results![i]);
        expect(d.receivers.every((x) => /^(server|client)\/(root|alice|bob)\/[^/]+$/.test(x))).toBe(true);
      });
    }
    if (f.name.startsWith('ICMP errors')) {
      for (const [i, want] of RATE_LIMITED) expect(r[i]!.results, `step ${i}`).toEqual(want);
    }
    if (f.name.startsWith('a connected socket hears only its peer')) expect(r.at(-1)!.deliveries?.[0]?.replyFrom).toEqual(UNHEARD_REPLY);
    if (f.name.startsWith('replies')) {
      for (const [i, from] of REPLY_SOURCES) expect(r[i]!.deliveries?.[0]?.replyFrom, `step ${i}`).toEqual(from);
    }
  }, 120_000);
});

if (!avail.ok) it.skip(`real kernel: ${avail.why}`, () => {});

// ---------------------------------------------------------------------------------------------
// The emulator's linux policy beside the kernel.

/** Why the emulator cannot be compared on UDP yet (the loader or the linux policy's UDP rules missing), or null. */
function emulatorUdpMissing(): string | null {
  let s: Scenario;
  try {
    s = parseScenario(randomUdpProgram(1), 'probe.yaml');
  } catch (e) {
    return `the scenario loader does not read UDP programs: ${String((e as Error).message).split('\n')[0]}`;
  }
  const r = runPolicy(s, 'linux').steps.find((x) => x.kind === 'datagram');
  return r?.result === 'unsupported' ? `the linux policy does not model UDP (${r.reason ?? 'unsupported'})` : null;
}

const PARALLEL = Number(process.env['BINDLAB_KERNEL_PARALLEL'] ?? 3);
const UDP_PROGRAMS = Number(process.env['BINDLAB_KERNEL_UDP_PROGRAMS'] ?? 60);
const missing = avail.ok ? emulatorUdpMissing() : null;
if (missing) console.log(`skipping the UDP comparison with the emulator: ${missing}`);

/** Sorts differences into known emulator bugs (counted) and unexplained ones (returned). */
function triage(s: Scenario, policy: Policy, diffs: readonly string[], known: Map<string, string[]>): string[] {
  const unexplained: string[] = [];
  for (const d of diffs) {
    const cause = knownCause(s, policy, d);
    if (cause) known.set(cause, [...(known.get(cause) ?? []), d]);
    else unexplained.push(d);
  }
  return unexplained;
}

function sayKnown(known: Map<string, string[]>): void {
  for (const b of KNOWN_BUGS) {
    const ds = known.get(b.id);
    if (ds) console.log(`known emulator bug ${b.id} (${ds.length}): ${b.what}\n  e.g. ${ds[0]}`);
  }
}

describe.skipIf(!avail.ok || missing !== null)('emulator linux vs the real kernel on UDP', () => {
  it('agrees on the UDP kernel facts but for known emulator bugs', async () => {
    const unexplained: string[] = [];
    const known = new Map<string, string[]>();
    const linux = getPolicy('linux');
    let steps = 0;
    await pool(UDP_FACTS, PARALLEL, async (f) => {
      const kernel = await runOnKernel(f.scenario);
      const text = (f.scenario.steps as readonly KernelStep[]).map((s) => `  - ${s.kind}`).join('\n');
      const cmp = compareRuns(f.scenario, text, kernel, runPolicy(f.scenario, linux).steps);
      steps += cmp.rows.length;
      unexplained.push(...triage(f.scenario, linux, cmp.differences, known));
    });
    console.log(`compared ${UDP_FACTS.length} UDP facts (${steps} steps) with the kernel: ${[...known.values()].flat().length} differences from known emulator bugs, ${unexplained.length} unexplained`);
    sayKnown(known);
    expect(unexplained).toEqual([]);
  }, 300_000);

  it('the UDP audit\'s findings under linux (another uid taking datagrams) hold on the kernel', async () => {
    const findings = audit(getPolicy('linux'), { udp: true }).findings;
    expect(findings.length).toBeGreaterThan(0);
    const wrong: string[] = [];
    await pool(findings, PARALLEL, async (f) => {
      const s = parseScenario(f.scenario, f.file);
      const r = await runOnKernel(s);
      for (const st of s.steps) {
        const want = st.expect?.fallback;
        if (want && !want.includes(r[st.index]!.result)) wrong.push(`${f.file} step ${st.index}: kernel ${r[st.index]!.result}, the finding says ${want.join('|')}`);
      }
    });
    console.log(`${findings.length} UDP audit findings run on the kernel, ${wrong.length} steps differ`);
    expect(wrong).toEqual([]);
  }, 600_000);

  it(`agrees on ${UDP_PROGRAMS} random UDP programs but for known emulator bugs`, async () => {
    const diffs: string[] = [];
    const known = new Map<string, string[]>();
    const policy = linuxWithoutIcmpLimit();
    let steps = 0;
    let datagrams = 0;
    const t0 = Date.now();
    const seeds = Array.from({ length: UDP_PROGRAMS }, (_, i) => i + 1);
    await pool(seeds, PARALLEL, async (seed) => {
      const text = randomUdpProgram(seed);
      const s = parseScenario(text, `udp seed ${seed}`);
      const cmp = await compareWithKernel(s, text, { icmpRateLimit: false, policy });
      steps += cmp.rows.length;
      datagrams += cmp.rows.filter((r) => r.kind === 'datagram').reduce((n, r) => n + r.kernel.length, 0);
      diffs.push(...triage(s, policy, cmp.differences, known));
    });
    const k = [...known.values()].flat().length;
    console.log(`compared ${UDP_PROGRAMS} random UDP programs (${steps} steps, ${datagrams} datagrams) with the kernel in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${k} differences from known emulator bugs, ${diffs.length} unexplained`);
    sayKnown(known);
    if (diffs.length) console.log(diffs.join('\n'));
    expect(diffs).toEqual([]);
  }, 1_200_000);
});
