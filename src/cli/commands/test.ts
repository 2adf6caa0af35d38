// bindlab test [PATH...]: every scenario under the paths, every expectation checked; a test
// runner's summary, JUnit XML, golden captures, and --update to accept the current results.
import { existsSync } from 'node:fs';
import { Publication } from '../../io/publish.js';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { renderJUnit, describeFailure } from '../../testing/junit.js';
import { scenarioPassed, summaryExitCode, testScenarios, type ScenarioOutcome, type TestSummary } from '../../testing/suite.js';
import { checkPolicies, UsageError, useColor, type ExitCode } from '../common.js';
import type { TestArgs } from '../builders.js';
import { count } from '../../words.js';

function paint(color: boolean, code: string, text: string): string {
  return color ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function scenarioLines(o: ScenarioOutcome, color: boolean): string[] {
  if (o.error) return o.error.split('\n').map((l) => `${paint(color, '31', 'ERROR')} ${l}`);
  const mark = scenarioPassed(o) ? paint(color, '32', 'PASS') : paint(color, '31', 'FAIL');
  const exp = o.expectations;
  const out = [`${mark} ${o.file} (${count(o.policies.length, 'policy', 'policies')}, ${count(o.steps, 'step')}, ${count(exp.passed + exp.failed, 'expectation')})`];
  for (const f of o.failures) out.push(`  ${describeFailure(f)}`);
  for (const g of o.golden) {
    if (g.status === 'different') out.push(`  golden ${g.golden}: ${g.difference!.message}`);
    else if (g.status === 'missing' || g.status === 'unreadable') out.push(`  golden: ${g.message}`);
    else if (g.status === 'updated') out.push(`  golden ${g.golden}: updated`);
  }
  for (const c of o.changes) out.push(`  updated step ${c.index} (line ${c.line}) ${c.policy}: ${c.from.join('|')} → ${c.to.join('|')}`);
  return out;
}

export function renderSummary(s: TestSummary, color = false): string {
  const lines = s.scenarios.flatMap((o) => scenarioLines(o, color));
  const ran = s.scenarios.filter((o) => !o.error);
  const passed = ran.filter(scenarioPassed).length;
  const invalid = s.scenarios.length - ran.length;
  const sum = (f: (o: ScenarioOutcome) => number) => ran.reduce((n, o) => n + f(o), 0);
  const golden = ran.flatMap((o) => o.golden);
  lines.push('');
  lines.push(`Scenarios:    ${passed} passed, ${ran.length - passed} failed${invalid ? `, ${invalid} invalid` : ''} (${s.scenarios.length})`);
  lines.push(`Steps:        ${count(sum((o) => o.steps), 'step')} in ${count(sum((o) => o.policies.length), 'policy run')}`);
  lines.push(`Expectations: ${sum((o) => o.expectations.passed)} passed, ${sum((o) => o.expectations.failed)} failed`);
  if (golden.length) {
    const n = (st: string) => golden.filter((g) => g.status === st).length;
    lines.push(`Golden:       ${n('same')} same, ${n('different')} different, ${n('missing')} missing${n('unreadable') ? `, ${n('unreadable')} unreadable` : ''}${n('updated') ? `, ${n('updated')} updated` : ''}`);
  }
  const changes = sum((o) => o.changes.length);
  if (changes) lines.push(`Updated:      ${count(changes, 'expectation')} rewritten`);
  lines.push(`Time:         ${(s.timeMs / 1000).toFixed(2)} s`);
  if (s.scenarios.length === 0) lines.push('no scenario files found');
  return lines.join('\n');
}

export async function testCommand(argv: TestArgs): Promise<ExitCode> {
  checkPolicies(argv.policy);
  // A path that is not there is a usage mistake, not a scenario error at line 1.
  for (const p of argv.paths) {
    if (existsSync(p)) continue;
    throw new UsageError(p === 'scenarios' && argv.paths.length === 1
      ? 'no scenarios/ directory here: name scenario files or directories (bindlab test PATH...), or write a starter with bindlab init scenarios'
      : `${p}: no such file or directory`);
  }
  const summary = await testScenarios(argv.paths, { policies: argv.policy, golden: argv.golden, update: argv.update });
  process.stdout.write(`${renderSummary(summary, useColor())}\n`);
  if (argv.junit) {
    // Written beside and renamed: an old report is replaced only by a whole new one.
    const p = new Publication();
    try {
      p.writeFile(argv.junit, renderJUnit(summary));
      p.commit();
    } finally {
      p.abort();
    }
  }
  return summaryExitCode(summary);
}
