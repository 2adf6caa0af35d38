// bindlab validate FILE...: load and check scenario files without running them.
import { loadScenarioFile } from '../../scenario/load.js';
import type { ExitCode } from '../common.js';
import { count } from '../../words.js';
import type { ValidateArgs } from '../builders.js';

export function validateCommand(argv: ValidateArgs): ExitCode {
  for (const f of argv.files) {
    const sc = loadScenarioFile(f);
    process.stdout.write(`${f}: ok (${count(sc.hosts.length, 'host')}, ${count(sc.steps.length, 'step')})\n`);
  }
  return 0;
}
