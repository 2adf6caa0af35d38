// bindlab audit --policy P [--addresses N] [--udp] [--out DIR] [--json]: every small configuration
// under P (TCP listeners, or with --udp datagram sockets); hijacks and refused multi-homed setups,
// each with a scenario file that reproduces it.
// Exit 0 nothing found, 1 something found, 2 bad input.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { audit, type AuditReport } from '../../audit/audit.js';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { policyResolver } from '../../emu/policy/registry.js';
import type { CustomPolicySpec } from '../../scenario/types.js';
import { checkPolicies, UsageError, type ExitCode } from '../common.js';
import { policyFiles } from './run.js';
import { schemaComment } from '../schema-ref.js';
import { count } from '../../words.js';
import type { AuditArgs } from '../builders.js';

/** The custom policies a finding's scenario must define, as a YAML flow list ending with the policy's name. */
function policiesYaml(name: string, customs: readonly CustomPolicySpec[]): string {
  const chain: CustomPolicySpec[] = [];
  for (let n: string | undefined = name; n !== undefined;) {
    const spec: CustomPolicySpec | undefined = customs.find((c) => c.name === n);
    if (!spec) break;
    chain.unshift(spec);
    n = spec.extends;
  }
  if (chain.length === 0) return `[${name}]`;
  const obj = (c: CustomPolicySpec): string => `{ name: ${c.name}, extends: ${c.extends}, rules: { ${Object.entries(c.rules).map(([k, v]) => `${k}: ${String(v)}`).join(', ')} } }`;
  return `[${chain.map(obj).join(', ')}]`;
}

export function auditCommand(argv: AuditArgs): ExitCode {
  const customs = policyFiles(argv['policy-file']);
  checkPolicies([argv.policy], [...BUILTIN_POLICIES, ...customs.map((c) => c.name)]);
  if (!Number.isInteger(argv.addresses) || argv.addresses < 1 || argv.addresses > 3) throw new UsageError(`--addresses ${argv.addresses}: give 1, 2 or 3`);
  if (!Number.isInteger(argv.sockets) || argv.sockets < 2 || argv.sockets > 3) throw new UsageError(`--sockets ${argv.sockets}: give 2 or 3`);
  const policy = policyResolver(customs)(argv.policy);
  if (argv.udp && !policy.udp) throw new UsageError(`--udp: ${argv.policy} has no UDP rules (UDP is not modelled under it)`);
  const report = audit(policy, { addresses: argv.addresses, sockets: argv.sockets, policiesYaml: policiesYaml(argv.policy, customs), udp: argv.udp });
  if (argv.out) {
    mkdirSync(argv.out, { recursive: true });
    const schema = schemaComment(argv.out);
    for (const f of report.findings) writeFileSync(join(argv.out, f.file), `${schema}\n${f.scenario}`);
  }
  process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderAudit(report, argv.show, argv.out)}\n`);
  return report.findings.length ? 1 : 0;
}

export function renderAudit(r: AuditReport, show: number, out?: string): string {
  const lines = [
    `bindlab audit ${r.policy}${r.udp ? ' (UDP)' : ''}: 1..${r.addresses} addresses, 2 uids, 2..${r.sockets} ${r.udp ? 'datagram ' : ''}sockets, options ${r.options.length ? r.options.join(', ') : '(none)'}`,
    `explored ${r.configurations.toLocaleString('en-US')} configurations in ${r.seconds.toFixed(1)} s`,
    `hijacks: ${r.hijacks ? `${r.hijacks} configurations, ${r.findings.filter((f) => f.kind === 'hijack').length} distinct` : 'none'}`,
    `multi-homed setup (one wildcard + specific ${r.udp ? 'sockets' : 'listeners'} of one uid): ${r.multihomed.map((m) => `n=${m.n} ${m.permittedWith ? `permitted (${m.permittedWith.map((o) => o.join('+') || '-').join(' / ')})` : 'REFUSED'}`).join('; ') || 'not explored (one address)'}`,
  ];
  if (r.findings.length === 0) return [...lines, 'nothing found'].join('\n');
  lines.push('', `${count(r.findings.length, 'finding')}${out ? `, scenario files in ${out}/` : ' (--out DIR writes each as a scenario file)'}:`);
  r.findings.forEach((f, i) => lines.push(`  ${i + 1}. [${f.kind}] ${f.summary}${f.occurrences > 1 ? ` (${f.occurrences} configurations)` : ''}`));
  for (const f of r.findings.slice(0, show)) lines.push('', `--- ${f.file}`, f.scenario.trimEnd());
  return lines.join('\n');
}
