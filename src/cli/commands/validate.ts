// bindlab validate FILE...: load and check scenario files without running them.
import type { Argv } from 'yargs';
import { loadScenarioFile } from '../../scenario/load.js';
import type { ExitCode } from '../common.js';

export interface ValidateArgs { files: string[] }

export function validateBuilder(y: Argv): Argv<ValidateArgs> {
  return y
    .positional('files', { type: 'string', array: true, demandOption: true, describe: 'scenario YAML files' })
    .example('$0 validate scenarios/*.yaml', 'errors name file:line:col') as unknown as Argv<ValidateArgs>;
}

export function validateCommand(argv: ValidateArgs): ExitCode {
  for (const f of argv.files) {
    const sc = loadScenarioFile(f);
    process.stdout.write(`${f}: ok (${sc.hosts.length} hosts, ${sc.steps.length} steps)\n`);
  }
  return 0;
}
