#!/usr/bin/env node
// The bindlab command line: thin on purpose. It parses arguments, calls the library, and
// formats what comes back. Exit codes: 0 ran and every expectation held, 1 some expectation
// failed, 2 bad input (the message names file:line:col) or an unreadable file.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { BUILTIN_POLICIES } from '../emu/policy/names.js';
import { allPassed, resolveArpMacs, runScenario, type CaptureFormat, type ScenarioReport } from '../runner.js';
import { loadScenarioFile } from '../scenario/load.js';
import { ScenarioError, type Scenario } from '../scenario/types.js';
import { renderMatrix } from './matrix.js';

/** An input problem: printed without a stack trace, exit 2. */
class UsageError extends Error {}

function useColor(): boolean {
  return Boolean(process.stdout.isTTY) && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
}

function checkPolicies(names: readonly string[] | undefined): void {
  for (const n of names ?? []) {
    if (!(BUILTIN_POLICIES as readonly string[]).includes(n)) {
      throw new UsageError(`unknown policy "${n}"; known policies: ${BUILTIN_POLICIES.join(', ')}`);
    }
  }
}

async function runCommand(argv: { files: string[]; policy?: string[]; out: string; format: CaptureFormat; json: boolean; capture: boolean }): Promise<number> {
  checkPolicies(argv.policy);
  const scenarios: Scenario[] = argv.files.map((f) => loadScenarioFile(f));
  const reports: ScenarioReport[] = [];
  for (const sc of scenarios) {
    const macs = await resolveArpMacs(sc).catch((e: Error) => { throw new UsageError(e.message); });
    reports.push(runScenario(sc, { policies: argv.policy, outDir: argv.capture ? argv.out : null, format: argv.format, macs }));
  }
  if (argv.json) {
    process.stdout.write(`${JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2)}\n`);
  } else {
    const color = useColor();
    process.stdout.write(`${reports.map((r, i) => renderMatrix(scenarios[i]!, r, { color })).join('\n\n')}\n`);
  }
  return reports.every(allPassed) ? 0 : 1;
}

function validateCommand(argv: { files: string[] }): number {
  for (const f of argv.files) {
    const sc = loadScenarioFile(f);
    process.stdout.write(`${f}: ok (${sc.hosts.length} hosts, ${sc.steps.length} steps)\n`);
  }
  return 0;
}

export async function main(args: string[]): Promise<number> {
  let code = 0;
  const parser = yargs(args)
    .scriptName('bindlab')
    .usage('$0 <command> [options]\n\nEmulates how each OS decides bind() conflicts and which listener gets a connection,\nand writes the packets as pcapng per policy.')
    .command('run <files..>', 'run scenarios under each policy: matrix, JSON report, captures', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true, describe: 'scenario YAML files' })
      .option('policy', { alias: 'p', type: 'string', array: true, describe: `policies to run (default: the scenario's, else all: ${BUILTIN_POLICIES.join(', ')})` })
      .option('out', { alias: 'o', type: 'string', default: 'out', describe: 'directory for the captures' })
      .option('format', { choices: ['pcapng', 'pcap'] as const, default: 'pcapng' as const, describe: 'capture format' })
      .option('json', { type: 'boolean', default: false, describe: 'print the JSON report instead of the matrix' })
      .option('capture', { type: 'boolean', default: true, describe: 'write captures (--no-capture: decisions only)' })
      .example('$0 run scenarios/pajari-1999.yaml', 'all policies; captures in out/')
      .example('$0 run scenarios/reuseport.yaml -p linux --json', 'one policy, the JSON report on stdout')
      .example('$0 run scenarios/*.yaml --format pcap -o /tmp/caps', 'classic pcap files elsewhere'),
    async (argv) => { code = await runCommand(argv as never); })
    .command('validate <files..>', 'check scenario files without running them', (y) => y
      .positional('files', { type: 'string', array: true, demandOption: true })
      .example('$0 validate scenarios/*.yaml', ''),
    (argv) => { code = validateCommand(argv as never); })
    .example('$0 run scenarios/pajari-1999.yaml', 'the 1999 question under every policy; captures in out/')
    .example('$0 run scenarios/hijack.yaml -p linux -p pajari-1999 --json', 'two policies, the JSON report on stdout')
    .example('$0 validate scenarios/*.yaml', 'check files; errors name file:line:col')
    .demandCommand(1, 'name a command: run or validate')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .epilogue('Exit codes: 0 every expectation held, 1 an expectation failed, 2 invalid input.\nOpen a capture in Wireshark: wireshark out/pajari-1999.linux.pcapng (packet comments say who accepted each SYN).')
    .fail((msg, err) => { throw err ?? new UsageError(msg); })
    .wrap(Math.min(110, process.stdout.columns || 100));
  await parser.parseAsync();
  return code;
}

main(hideBin(process.argv)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof ScenarioError || e instanceof UsageError) {
      process.stderr.write(`bindlab: ${e.message}\n`);
      process.exitCode = 2;
    } else if (e instanceof Error && 'code' in e && typeof (e as NodeJS.ErrnoException).code === 'string') {
      process.stderr.write(`bindlab: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`bindlab: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 70;
    }
  },
);
