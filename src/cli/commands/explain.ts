// bindlab explain FILE --policy P --step N: why step N came out as it did under P.
import { policyResolver } from '../../emu/policy/registry.js';
import type { ConflictInfo } from '../../emu/results.js';
import { explainStep, type Explanation } from '../../explain/explain.js';
import { loadScenarioFile } from '../../scenario/load.js';
import { excerpt } from '../../scenario/types.js';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { checkPolicies, UsageError, type ExitCode } from '../common.js';
import { stepLabel } from '../matrix.js';
import { policyFiles } from './run.js';
import type { ExplainArgs } from '../builders.js';

export function explainCommand(argv: ExplainArgs): ExitCode {
  const customs = policyFiles(argv['policy-file']);
  const sc = loadScenarioFile(argv.file, { customPolicies: customs });
  checkPolicies([argv.policy], [...BUILTIN_POLICIES, ...(sc.customPolicies ?? []).map((c) => c.name)]);
  const step = stepIndex(argv.step, sc.steps.length);
  const e = explainStep(sc, policyResolver(sc.customPolicies)(argv.policy), step);
  const label = stepLabel(sc.steps[step]!);
  process.stdout.write(argv.json ? `${JSON.stringify({ label, ...e }, null, 2)}\n` : `${renderExplanation(label, e)}\n`);
  return 0;
}

/** --step's text as a step index of a scenario of `steps` steps, or a UsageError saying what it wants. */
export function stepIndex(text: string | number, steps: number): number {
  const given = String(text);
  const range = `the scenario has steps 0..${steps - 1} (the # column of the matrix)`;
  if (!/^\d+$/.test(given.trim())) throw new UsageError(`--step ${JSON.stringify(excerpt(given, 40, false))}: want a step index, a whole number; ${range}`);
  const n = Number(given);
  if (n >= steps) throw new UsageError(`--step ${n}: ${range}`);
  return n;
}

/** One socket in words: "multi/inetd/any (uid 0, LISTEN on 0.0.0.0:8080, SO_REUSEADDR)". */
export function socketWords(c: ConflictInfo): string {
  const where = c.address ? `${c.state === 'bound' ? 'bound to' : `${c.state} on`} ${c.address}` : c.state;
  return `${c.host}/${c.process}/${c.socket} (uid ${c.uid}, ${where}, ${c.options.length ? c.options.join(', ') : 'no options'}${c.kind === 'socket' ? '' : `, ${c.kind === 'child' ? 'an accepted connection' : 'a client connection'}`})`;
}

export function renderExplanation(label: string, e: Explanation): string {
  const s = e.step;
  const lines = [`step ${s.index} (${label}) under ${e.policy}: ${s.results && s.results.length > 1 ? s.results.join(', ') : s.result}`];
  if (s.reason) lines.push(`rule: ${s.reason}`);
  if (e.conflict) lines.push(`conflicting socket: ${socketWords(e.conflict)}`);
  if (e.lookup) {
    const l = e.lookup;
    lines.push(`candidates for ${l.destination} on host ${l.host}${l.lookup ? ` (lookup: ${l.lookup})` : ''}: ${l.how}`);
    if (l.candidates.length === 0) lines.push('  (no socket holds the port)');
    for (const c of l.candidates) {
      lines.push(`  ${c.chosen ? '->' : '  '} ${socketWords(c)}: ${c.score === null ? 'not eligible' : `score ${c.score}`}; ${c.note}`);
    }
  }
  if (s.expected) lines.push(`expected: ${s.expected.join(' or ')} (${s.passed ? 'held' : 'FAILED'})`);
  return lines.join('\n');
}
