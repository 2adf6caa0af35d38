// bindlab explain FILE --policy P --step N: why step N came out as it did under P.
import type { Argv } from 'yargs';
import { policyResolver } from '../../emu/policy/registry.js';
import type { ConflictInfo } from '../../emu/results.js';
import { explainStep, type Explanation } from '../../explain/explain.js';
import { loadScenarioFile } from '../../scenario/load.js';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { checkPolicies, UsageError, type ExitCode } from '../common.js';
import { stepLabel } from '../matrix.js';
import { policyFiles } from './run.js';

export interface ExplainArgs { file: string; policy: string; step: number; json: boolean; 'policy-file'?: string[] }

export function explainBuilder(y: Argv): Argv<ExplainArgs> {
  return y
    .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
    .option('policy', { alias: 'p', type: 'string', demandOption: true, describe: 'the policy (built-in, or custom from the file or --policy-file)' })
    .option('step', { alias: 's', type: 'number', demandOption: true, describe: 'step index, 0-based as in the matrix and the JSON report' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .option('policy-file', { type: 'string', array: true, describe: 'YAML list of custom policies' })
    .example('$0 explain scenarios/pajari-1999.yaml -p linux --step 10', 'why linux refuses the specific bind: the socket it conflicts with')
    .example('$0 explain scenarios/pajari-1999.yaml -p pajari-1999 --step 21', 'every candidate listener for the connection, with its score') as unknown as Argv<ExplainArgs>;
}

export function explainCommand(argv: ExplainArgs): ExitCode {
  const customs = policyFiles(argv['policy-file']);
  const sc = loadScenarioFile(argv.file, { customPolicies: customs });
  checkPolicies([argv.policy], [...BUILTIN_POLICIES, ...(sc.customPolicies ?? []).map((c) => c.name)]);
  if (!Number.isInteger(argv.step) || argv.step < 0 || argv.step >= sc.steps.length) {
    throw new UsageError(`--step ${argv.step}: the scenario has steps 0..${sc.steps.length - 1}`);
  }
  const e = explainStep(sc, policyResolver(sc.customPolicies)(argv.policy), argv.step);
  const label = stepLabel(sc.steps[argv.step]!);
  process.stdout.write(argv.json ? `${JSON.stringify({ label, ...e }, null, 2)}\n` : `${renderExplanation(label, e)}\n`);
  return 0;
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
