// bindlab explain FILE --policy P --step N: why step N came out as it did under P.
import { policyResolver } from '../../emu/policy/registry.js';
import type { ConflictInfo, DecisionCandidate, DecisionRecord } from '../../emu/results.js';
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

const VERDICT: Record<DecisionCandidate['verdict'], string> = {
  accepted: 'got the connection',
  'answer-lost': 'picked by the lookup, but its answer never reaches the client (the client times out)',
  group: 'in the group the pick was made among',
  'passed-over': 'not picked',
  conflict: 'the conflict',
  coexists: 'holds the port beside it',
  'not-named': 'holds the port (the refusal names another socket)',
};

/** One decision of the engine in words: the sockets it looked at, each with how it was treated and the policy's notes. */
function decisionLines(d: DecisionRecord, lookup: string | null): string[] {
  const lines: string[] = [];
  if (d.kind === 'lookup' && d.packet) {
    // A UDP delivery: a step's datagram, or a receiver's reply arriving at the sender.
    const what = d.packet === 'reply' ? `datagram ${(d.connection ?? 0) + 1}'s reply` : `datagram ${(d.connection ?? 0) + 1}`;
    lines.push(`${what} to ${d.address} on host ${d.host} (arriving on ${d.ingress}): ${d.result}`);
    if (d.candidates.length === 0) lines.push('  no UDP socket holds the port');
  } else if (d.kind === 'lookup') {
    lines.push(`${d.connection !== undefined ? `connection ${d.connection}: ` : ''}the SYN to ${d.address} on host ${d.host} (arriving on ${d.ingress})${lookup ? `, lookup ${lookup}` : ''}: ${d.result}`);
    if (d.candidates.length === 0) lines.push('  no socket holds the port');
  } else if (d.kind === 'route') {
    lines.push(`${d.connection !== undefined ? `connection ${d.connection}: ` : ''}${d.result} before any server looked: ${d.rule}`);
    return lines;
  } else {
    lines.push(`${d.kind} ${d.address} on host ${d.host}: ${d.result}; ${d.candidates.length === 0 ? 'nothing else holds the port' : 'sockets holding the port:'}`);
  }
  for (const c of d.candidates) {
    const mark = c.verdict === 'accepted' || c.verdict === 'conflict' || c.verdict === 'answer-lost' ? '->' : c.verdict === 'group' ? ' +' : '  ';
    const verdict = d.packet && c.verdict === 'accepted' ? 'received it' : VERDICT[c.verdict];
    lines.push(`  ${mark} ${socketWords(c)}: ${verdict}${c.notes ? `; ${c.notes.join('; ')}` : ''}`);
  }
  return lines;
}

export function renderExplanation(label: string, e: Explanation): string {
  const s = e.step;
  const lines = [`step ${s.index} (${label}) under ${e.policy}: ${s.results && s.results.length > 1 ? s.results.join(', ') : s.result}`];
  if (s.reason) lines.push(`rule: ${s.reason}`);
  if (e.conflict) lines.push(`conflicting socket: ${socketWords(e.conflict)}`);
  // A connect step of many connections: the first of each outcome and rule.
  const seen = new Set<string>();
  const shown = e.decisions.filter((d) => !seen.has(`${d.result}\u0000${d.rule}`) && seen.add(`${d.result}\u0000${d.rule}`));
  for (const d of shown) {
    lines.push(...decisionLines(d, e.lookup));
    if (d.path) lines.push(`  path: ${d.path}`);
    if (d.kind === 'lookup' && d !== e.decisions[0] && d.rule !== s.reason) lines.push(`  rule: ${d.rule}`);
  }
  if (shown.length < e.decisions.length) lines.push(`(${e.decisions.length - shown.length} more ${s.kind === 'datagram' ? 'deliveries' : 'connections'} decided alike)`);
  if (s.expected) lines.push(`expected: ${s.expected.join(' or ')} (${s.passed ? 'held' : 'FAILED'})`);
  return lines.join('\n');
}
