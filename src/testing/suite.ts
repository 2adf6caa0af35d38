// `bindlab test` as a library: find scenario files, run each under its policies, collect every
// failed expectation (step, policy, expected, got), compare captures with golden copies, and on
// request write the current results back (expectations in the YAML, golden captures). Nothing
// here prints or exits; the CLI formats a TestSummary.

import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { fileError, OutputError, replaceFile } from '../io/publish.js';
import { capturePath, policiesFor, resolveArpMacs, runScenario, type ScenarioReport } from '../runner.js';
import { parseScenario } from '../scenario/load.js';
import { ScenarioError, type Scenario, type StepKind } from '../scenario/types.js';
import { compareGolden, updateGoldens, type GoldenDifference } from './golden.js';
import { rewriteExpectations, type ExpectationChange } from './update.js';

export interface StepFailure {
  readonly policy: string;
  readonly index: number;
  readonly kind: StepKind;
  /** Where the step starts in the file. */
  readonly line: number;
  readonly col: number;
  readonly expected: readonly string[];
  /** Every result of the step (one per connection for connect steps with count > 1). */
  readonly got: readonly string[];
}

export interface GoldenCheck {
  readonly policy: string;
  readonly golden: string;
  /** unreadable: the golden file is not a capture bindlab can read (truncated, empty, garbage). */
  readonly status: 'same' | 'different' | 'missing' | 'updated' | 'unreadable';
  readonly difference?: GoldenDifference;
  /** For missing and unreadable: why. */
  readonly message?: string;
}

export interface ScenarioOutcome {
  readonly file: string;
  /** The scenario's name; absent when the file did not load. */
  readonly name?: string;
  /** The file did not load: "file:line:col: what". */
  readonly error?: string;
  readonly policies: readonly string[];
  readonly steps: number;
  readonly expectations: { readonly passed: number; readonly failed: number };
  /** Failed expectations of the final run (after an update: none, unless the update could not fix them). */
  readonly failures: readonly StepFailure[];
  readonly golden: readonly GoldenCheck[];
  /** With update: the expectations rewritten in the file. */
  readonly changes: readonly ExpectationChange[];
  readonly report?: ScenarioReport;
  readonly timeMs: number;
}

export interface TestSummary {
  readonly scenarios: readonly ScenarioOutcome[];
  readonly timeMs: number;
}

export interface TestOptions {
  /** Policies to run instead of each scenario's own. */
  readonly policies?: readonly string[];
  /** Directory of golden captures (<stem>.<policy>.pcapng). */
  readonly golden?: string;
  /** Write the current results: into the files' expectations, and into the golden captures. */
  readonly update?: boolean;
}

const SCENARIO_EXT = /\.ya?ml$/;

/**
 * The scenario files under the given paths: files as given, directories searched recursively,
 * sorted. A search never enters node_modules (a project that installed bindlab would otherwise
 * run the package's own scenarios) nor hidden folders (.git, .cache); a path given by name is
 * searched whatever it is called.
 */
export function collectScenarioFiles(paths: readonly string[]): string[] {
  return findScenarioFiles(paths).files;
}

/** collectScenarioFiles, and the directories that could not be read ("cannot read directory d: permission denied (EACCES)"). */
export function findScenarioFiles(paths: readonly string[]): { files: string[]; unreadable: { path: string; message: string }[] } {
  const out: string[] = [];
  const unreadable: { path: string; message: string }[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      // One unreadable folder is reported; the rest of the tree is still tested.
      unreadable.push({ path: dir, message: fileError(e, 'read directory', dir).message });
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p);
      }
      else if (SCENARIO_EXT.test(e.name)) out.push(p);
    }
  };
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      isDir = false; // reported as unreadable by the loader
    }
    if (isDir) walk(p);
    else out.push(p);
  }
  return { files: out, unreadable };
}

/** The failed expectations of a report, in step order then policy order. */
export function failuresOf(scenario: Scenario, report: ScenarioReport): StepFailure[] {
  const out: StepFailure[] = [];
  for (const step of scenario.steps) {
    for (const run of Object.values(report.policies)) {
      const r = run.steps[step.index];
      if (!r || r.passed !== false) continue;
      out.push({
        policy: run.policy, index: step.index, kind: step.kind, line: step.pos.line, col: step.pos.col,
        expected: r.expected ?? [], got: r.results ?? [r.result],
      });
    }
  }
  return out;
}

function countExpectations(report: ScenarioReport): { passed: number; failed: number } {
  let passed = 0;
  let failed = 0;
  for (const p of Object.values(report.policies)) {
    passed += p.expectations.passed;
    failed += p.expectations.failed;
  }
  return { passed, failed };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as Error).message.replace(/, \w+ '.*'$/, '');
    throw new ScenarioError(file, 1, 1, `cannot read scenario: ${reason}`);
  }
}

/** Runs one scenario file: expectations, golden captures, updates. */
export async function testScenarioFile(file: string, options: TestOptions = {}): Promise<ScenarioOutcome> {
  const t0 = performance.now();
  const empty = { policies: [], steps: 0, expectations: { passed: 0, failed: 0 }, failures: [], golden: [], changes: [] };
  let text: string;
  let scenario: Scenario;
  try {
    text = readText(file);
    scenario = parseScenario(text, file);
  } catch (e) {
    if (e instanceof ScenarioError) return { file, error: e.message, ...empty, timeMs: performance.now() - t0 };
    throw e;
  }
  const policies = policiesFor(scenario, options.policies);
  const macs = await resolveArpMacs(scenario).catch((e: Error) => e);
  if (macs instanceof Error) return { file, name: scenario.name, error: macs.message, ...empty, timeMs: performance.now() - t0 };

  const tmp = options.golden ? mkdtempSync(join(tmpdir(), 'bindlab-golden-')) : null;
  try {
    let report = runScenario(scenario, { policies, outDir: tmp, macs });
    let changes: ExpectationChange[] = [];
    if (options.update && failuresOf(scenario, report).length > 0) {
      const rewritten = rewriteExpectations(text, scenario, report);
      changes = rewritten.changes;
      if (rewritten.text !== text) {
        // Check the new text before it replaces the file: it must load and its expectations hold.
        const again = parseScenario(rewritten.text, file);
        const check = runScenario(again, { policies, outDir: tmp, macs });
        // Beside the file and renamed over it: a full disk leaves the original whole, and says so.
        try {
          replaceFile(file, rewritten.text);
        } catch (e) {
          if (!(e instanceof OutputError)) throw e;
          return { file, name: scenario.name, error: `${e.message}; the file is unchanged`, ...empty, timeMs: performance.now() - t0 };
        }
        scenario = again;
        report = check;
      }
    }
    const golden: GoldenCheck[] = [];
    const updates: [string, string][] = [];
    if (options.golden && tmp) {
      for (const policy of policies) {
        const produced = capturePath(tmp, file, policy, 'pcapng');
        const stored = capturePath(options.golden, file, policy, 'pcapng');
        const cmp = compareGolden(produced, stored);
        if (cmp.status === 'same') golden.push({ policy, golden: stored, status: 'same' });
        else if (options.update) {
          updates.push([produced, stored]);
          golden.push({ policy, golden: stored, status: 'updated' });
        } else if (cmp.status === 'missing' || cmp.status === 'unreadable') golden.push({ policy, golden: stored, status: cmp.status, message: cmp.message });
        else golden.push({ policy, golden: stored, status: 'different', difference: cmp.difference });
      }
      // A scenario's golden captures are stored together (each whole, fsynced) or not at all.
      if (updates.length > 0) updateGoldens(updates);
      // The report names where captures went; they were temporary.
      for (const run of Object.values(report.policies)) delete run.output;
    }
    return {
      file, name: scenario.name, policies, steps: scenario.steps.length, expectations: countExpectations(report),
      failures: failuresOf(scenario, report), golden, changes, report, timeMs: performance.now() - t0,
    };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs every scenario under the paths (see collectScenarioFiles). */
export async function testScenarios(paths: readonly string[], options: TestOptions = {}): Promise<TestSummary> {
  const t0 = performance.now();
  const scenarios: ScenarioOutcome[] = [];
  const { files, unreadable } = findScenarioFiles(paths);
  const empty = { policies: [], steps: 0, expectations: { passed: 0, failed: 0 }, failures: [], golden: [], changes: [], timeMs: 0 };
  for (const u of unreadable) scenarios.push({ file: u.path, error: u.message, ...empty });
  const clash = options.golden ? goldenCollisions(files) : new Map<string, string>();
  for (const f of files) {
    const why = clash.get(f);
    scenarios.push(why ? { file: f, error: why, ...empty } : await testScenarioFile(f, options));
  }
  return { scenarios, timeMs: performance.now() - t0 };
}

/**
 * Scenario files whose golden captures would share names (a/x.yaml and b/x.yaml both compare with
 * DIR/x.<policy>.pcapng), each with the error saying so: neither is tested against the other's.
 */
function goldenCollisions(files: readonly string[]): Map<string, string> {
  const byStem = new Map<string, string[]>();
  for (const f of files) {
    const stem = basename(f, extname(f));
    byStem.set(stem, [...(byStem.get(stem) ?? []), f]);
  }
  const out = new Map<string, string>();
  for (const [stem, group] of byStem) {
    if (group.length < 2) continue;
    for (const f of group) out.set(f, `${f}: its golden captures (${stem}.<policy>.pcapng) would have the names of ${group.filter((g) => g !== f).join(', ')}'s; rename one, or test them with different --golden directories`);
  }
  return out;
}

/** Whether a scenario passed: it loaded, every expectation held, and every golden capture matched or was updated. */
export function scenarioPassed(o: ScenarioOutcome): boolean {
  return !o.error && o.failures.length === 0 && o.golden.every((g) => g.status === 'same' || g.status === 'updated');
}

/** 0 all passed, 1 something failed, 2 a file did not load or a golden capture is unreadable (or no scenario was found). */
export function summaryExitCode(s: TestSummary): 0 | 1 | 2 {
  if (s.scenarios.length === 0 || s.scenarios.some((o) => o.error || o.golden.some((g) => g.status === 'unreadable'))) return 2;
  return s.scenarios.every(scenarioPassed) ? 0 : 1;
}
