// bindlab policies [NAME] [--rules] [--json]: the catalogue; one policy's rules and routing in
// words with citations, its sources and open points; or every rule choice of the vocabulary.
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { policyResolver } from '../../emu/policy/registry.js';
import { describePolicy, ruleDocs, type PolicyDescription, type RuleDoc } from '../../emu/policy/describe.js';
import { checkPolicies, type ExitCode } from '../common.js';
import { policyFiles } from './run.js';
import type { PoliciesArgs } from '../builders.js';

export function policiesCommand(argv: PoliciesArgs): ExitCode {
  const customs = policyFiles(argv['policy-file']);
  const names = [...BUILTIN_POLICIES, ...customs.map((c) => c.name)];
  const resolve = policyResolver(customs);
  const out = (text: string): void => { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`); };
  if (argv.rules) {
    const docs = ruleDocs(['linux-1.3.60', 'pajari-1999', 'linux-2.2', 'linux', 'bsd44', 'freebsd', 'macos']);
    out(argv.json ? JSON.stringify(docs, null, 2) : renderRules(docs));
    return 0;
  }
  if (argv.name !== undefined) {
    checkPolicies([argv.name], names);
    const d = describePolicy(resolve(argv.name));
    out(argv.json ? JSON.stringify(d, null, 2) : renderPolicy(d));
    return 0;
  }
  const all = names.map((n) => describePolicy(resolve(n)));
  out(argv.json ? JSON.stringify(all, null, 2) : renderCatalogue(all));
  return 0;
}

function renderCatalogue(all: readonly PolicyDescription[]): string {
  const w = Math.max(...all.map((d) => d.name.length));
  return [...all.map((d) => `${d.name.padEnd(w)}  ${d.title}${d.extends ? ` (extends ${d.extends})` : ''}`),
    '', 'bindlab policies NAME: its rules, sources and open points; bindlab policies --rules: the rule vocabulary.'].join('\n');
}

function renderPolicy(d: PolicyDescription): string {
  const lines = [`${d.name}: ${d.title}`];
  if (d.extends) lines.push(`extends ${d.extends}`);
  lines.push('', 'Rules:');
  if (d.rules) {
    for (const r of d.rules) {
      lines.push(`  ${r.changed ? '*' : ' '}${r.rule}: ${r.value}`, `      ${r.means}${r.source ? ` [${r.source}]` : ''}`);
    }
    if (d.extends) lines.push('  (* changed from the base)');
  } else {
    lines.push('  not described in the rule vocabulary (see its sources); it cannot be extended by a custom policy');
  }
  lines.push(`  TIME_WAIT: ${d.timeWaitSeconds} s`, '', 'Routing:');
  for (const r of d.routing) lines.push(`  ${r.aspect}: ${r.value}`, `      ${r.means} [${r.source}]`);
  lines.push('', 'Sources:', ...d.sources.map((s) => `  ${s}`));
  lines.push('', 'UNCONFIRMED / open points:', ...(d.unconfirmed.length ? d.unconfirmed.map((s) => `  - ${s}`) : ['  (none recorded)']));
  return lines.join('\n');
}

function renderRules(docs: readonly RuleDoc[]): string {
  const lines = ['The rule vocabulary: a custom policy is {name, extends: POLICY, rules: {RULE: CHOICE, ...}}', ''];
  for (const d of docs) {
    lines.push(`${d.rule}: ${d.question}`);
    for (const c of d.choices) {
      lines.push(`  ${c.value}${c.usedBy.length ? `  (${c.usedBy.join(', ')})` : ''}`, `      ${c.means}`, `      [${c.source}]`);
    }
    if (d.valueHint) lines.push(`  ${d.valueHint}; ${Object.entries(d.values ?? {}).map(([p, v]) => `${p} ${v}`).join(', ')}`);
    lines.push('');
  }
  return lines.join('\n');
}
