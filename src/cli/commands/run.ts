// bindlab run FILE...: every scenario under its policies; the matrix or the JSON report; captures.
import type { Argv } from 'yargs';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { allPassed, resolveArpMacs, runScenario, type CaptureFormat, type ScenarioReport } from '../../runner.js';
import { loadPolicyFile, loadScenarioFile } from '../../scenario/load.js';
import type { CustomPolicySpec, Scenario } from '../../scenario/types.js';
import { checkPolicies, UsageError, useColor, type ExitCode } from '../common.js';
import { renderMatrix } from '../matrix.js';
import { recordPolicies, type Recording } from '../../html/record.js';
import { writeHtmlReport } from '../../html/write.js';

export interface RunArgs { files: string[]; policy?: string[]; 'policy-file'?: string[]; out: string; format: CaptureFormat; json: boolean; capture: boolean; html?: string }

/** Custom policies from --policy-file FILE... (each file may extend the policies of those before it). */
export function policyFiles(files: readonly string[] | undefined): CustomPolicySpec[] {
  const specs: CustomPolicySpec[] = [];
  for (const f of files ?? []) specs.push(...loadPolicyFile(f, specs));
  return specs;
}

export function runBuilder(y: Argv): Argv<RunArgs> {
  return y
    .positional('files', { type: 'string', array: true, demandOption: true, describe: 'scenario YAML files' })
    .option('policy', { alias: 'p', type: 'string', array: true, describe: `policies to run (default: the scenario's, else all: ${BUILTIN_POLICIES.join(', ')})` })
    .option('policy-file', { type: 'string', array: true, describe: 'YAML list of custom policies {name, extends, rules} (see bindlab policies --rules)' })
    .option('out', { alias: 'o', type: 'string', default: 'out', describe: 'directory for the captures' })
    .option('format', { choices: ['pcapng', 'pcap'] as const, default: 'pcapng' as const, describe: 'capture format' })
    .option('json', { type: 'boolean', default: false, describe: 'print the JSON report instead of the matrix' })
    .option('capture', { type: 'boolean', default: true, describe: 'write captures (--no-capture: decisions only)' })
    .option('html', { type: 'string', describe: 'also write a self-contained HTML report: hosts, matrix, ladder diagrams, capture links' })
    .example('$0 run scenarios/pajari-1999.yaml', 'all policies; captures in out/')
    .example('$0 run scenarios/reuseport.yaml -p linux --json', 'one policy, the JSON report on stdout')
    .example('$0 run scenarios/*.yaml --format pcap -o /tmp/caps', 'classic pcap files elsewhere')
    .example('$0 run scenarios/pajari-1999.yaml --html out/report.html', 'one page to open in a browser, offline') as unknown as Argv<RunArgs>;
}

export async function runCommand(argv: RunArgs): Promise<ExitCode> {
  const customs = policyFiles(argv['policy-file']);
  const scenarios: Scenario[] = argv.files.map((f) => loadScenarioFile(f, { customPolicies: customs }));
  for (const sc of scenarios) checkPolicies(argv.policy, [...BUILTIN_POLICIES, ...(sc.customPolicies ?? []).map((c) => c.name)]);
  if (argv.html !== undefined && argv.html.trim() === '') throw new UsageError('--html needs a file name');
  const reports: ScenarioReport[] = [];
  const recordings: Map<string, Recording>[] = [];
  for (const sc of scenarios) {
    const macs = await resolveArpMacs(sc).catch((e: Error) => { throw new UsageError(e.message); });
    const recorder = argv.html ? recordPolicies() : undefined;
    reports.push(runScenario(sc, { policies: argv.policy, outDir: argv.capture ? argv.out : null, format: argv.format, macs, observe: recorder?.observe }));
    if (recorder) recordings.push(recorder.finish());
  }
  if (argv.html) {
    writeHtmlReport(argv.html, scenarios.map((scenario, i) => ({ scenario, report: reports[i]!, recordings: recordings[i] })), `bindlab run ${argv.files.join(' ')}`);
  }
  if (argv.json) {
    process.stdout.write(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
  } else {
    const color = useColor();
    process.stdout.write(`${reports.map((r, i) => renderMatrix(scenarios[i]!, r, { color })).join('\n\n')}\n`);
  }
  return reports.every(allPassed) ? 0 : 1;
}
