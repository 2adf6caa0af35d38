// The emulator's `linux` policy against the live kernel, step by step. One code path for
// `bindlab verify-kernel` and the suite's real-kernel comparison (test/kernel/kernel.test.ts):
// compareWithKernel runs both, compareRuns lines them up, renderSideBySide prints them.
// A connection matches when the kernel's socket is any member of the SO_REUSEPORT group the
// emulator picked from: which member gets it depends on a hash the emulator does not reproduce.

import { runPolicy } from '../emu/engine.js';
import type { StepResult } from '../emu/results.js';
import { kernelAvailable, runOnKernel, type KernelRunOptions, type KernelStepResult } from '../kernel/run-kernel.js';
import type { Scenario, StepKind } from '../scenario/types.js';

export interface KernelComparisonRow {
  readonly index: number;
  readonly kind: StepKind;
  readonly line: number;
  /** The step's first source line, trimmed (empty without source text). */
  readonly source: string;
  /** One result per connection for connect steps, else one. */
  readonly kernel: readonly string[];
  readonly linux: readonly string[];
  /** Connect steps: per connection, the sockets the emulator's pick was made among. */
  readonly candidates?: readonly (readonly string[])[];
  readonly agree: boolean;
}

export interface KernelComparison {
  readonly file: string;
  readonly rows: readonly KernelComparisonRow[];
  /** One line per disagreement, naming file, step, line and both results. */
  readonly differences: readonly string[];
}

/** The emulator side: the same fields the kernel harness reports. */
type EmulatorStep = Pick<StepResult, 'index' | 'result' | 'results' | 'candidates'>;

/** Lines up kernel and emulator results of one scenario (pure; no kernel needed). */
export function compareRuns(scenario: Scenario, text: string, kernel: readonly KernelStepResult[], emulator: readonly EmulatorStep[]): KernelComparison {
  const lines = text.split('\n');
  const rows: KernelComparisonRow[] = [];
  const differences: string[] = [];
  for (const step of scenario.steps) {
    const source = lines[step.pos.line - 1]?.trim() ?? '';
    const where = `${scenario.file} step ${step.index} (line ${step.pos.line}: ${source || step.kind})`;
    const k = kernel.find((x) => x.index === step.index);
    const e = emulator.find((x) => x.index === step.index);
    const kr = k ? k.results ?? [k.result] : [];
    const er = e ? e.results ?? [e.result] : [];
    if (!k || !e) {
      differences.push(`${where}: ${!k ? 'the kernel' : 'the emulator'} has no result`);
      rows.push({ index: step.index, kind: step.kind, line: step.pos.line, source, kernel: kr, linux: er, agree: false });
      continue;
    }
    if (step.kind !== 'connect') {
      const agree = k.result === e.result;
      if (!agree) differences.push(`${where}: kernel ${k.result} vs emulator ${e.result}`);
      rows.push({ index: step.index, kind: step.kind, line: step.pos.line, source, kernel: kr, linux: er, agree });
      continue;
    }
    const candidates = kr.map((_, i) => {
      const c = e.candidates?.[i];
      return c && c.length ? c : [er[i] ?? e.result];
    });
    let agree = kr.length === er.length;
    if (!agree) differences.push(`${where}: kernel made ${kr.length} connections, emulator ${er.length}`);
    kr.forEach((got, i) => {
      if (!candidates[i]!.includes(got)) {
        agree = false;
        differences.push(`${where} connection ${i + 1}: kernel ${got} vs emulator ${er[i]} (candidates ${candidates[i]!.join(',')})`);
      }
    });
    rows.push({ index: step.index, kind: step.kind, line: step.pos.line, source, kernel: kr, linux: er, candidates, agree });
  }
  return { file: scenario.file, rows, differences };
}

/** Runs the scenario on the live kernel and under the `linux` policy and compares them. Needs root on Linux. */
export async function compareWithKernel(scenario: Scenario, text: string, options: KernelRunOptions = {}): Promise<KernelComparison> {
  const avail = kernelAvailable();
  if (!avail.ok) throw new Error(`verify-kernel needs root on Linux: ${avail.why}`);
  const kernel = await runOnKernel(scenario, options);
  const emulator = runPolicy(scenario, 'linux');
  return compareRuns(scenario, text, kernel, emulator.steps);
}

/** Collapses runs of one value: "w1 ×3, w2" for eight connections. */
function summarize(results: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < results.length; ) {
    let j = i;
    while (j < results.length && results[j] === results[i]) j++;
    parts.push(j - i > 1 ? `${results[i]} ×${j - i}` : results[i]!);
    i = j;
  }
  return parts.join(', ') || '-';
}

/** The side-by-side table: step, line, kind, kernel, linux, and = or ≠. */
export function renderSideBySide(c: KernelComparison): string {
  const head = ['step', 'line', 'kind', 'kernel', 'linux (emulated)', ''];
  const body = c.rows.map((r) => {
    const groups = r.candidates?.some((g) => g.length > 1) ? ` (group ${[...new Set(r.candidates.flat())].join(',')})` : '';
    return [String(r.index), String(r.line), r.kind, summarize(r.kernel), summarize(r.linux) + groups, r.agree ? '=' : '≠ DIFFERENT'];
  });
  const widths = head.map((h, i) => body.reduce((w, b) => Math.max(w, b[i]!.length), h.length));
  const fmt = (cells: string[]) => cells.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  const agreeing = c.rows.filter((r) => r.agree).length;
  const verdict = c.differences.length === 0
    ? `${c.file}: the kernel and the linux policy agree on all ${c.rows.length} steps`
    : `${c.file}: ${c.rows.length - agreeing} of ${c.rows.length} steps differ`;
  return [`${c.file}: live kernel beside the linux policy`, fmt(head), ...body.map(fmt), verdict].join('\n');
}
