// bindlab validate FILE...: load and check scenario files without running them. Every file is
// checked, and every independent problem of each is reported (one per line, file:line:col).
import { loadScenarioFile } from '../../scenario/load.js';
import { ScenarioError, ScenarioErrors } from '../../scenario/types.js';
import type { ExitCode } from '../common.js';
import type { ValidateArgs } from '../builders.js';
import { count } from '../../words.js';

export function validateCommand(argv: ValidateArgs): ExitCode {
  let bad = 0;
  let problems = 0;
  for (const f of argv.files) {
    try {
      const sc = loadScenarioFile(f);
      process.stdout.write(`${f}: ok (${count(sc.hosts.length, 'host')}, ${count(sc.steps.length, 'step')})\n`);
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      bad++;
      const all = e instanceof ScenarioErrors ? e.errors : [e];
      const omitted = e instanceof ScenarioErrors ? e.omitted : 0;
      problems += all.length + omitted;
      for (const one of all) process.stderr.write(`bindlab: ${one.message}\n`);
      if (omitted) process.stderr.write(`bindlab: ${f}: ... and ${omitted} more problems\n`);
    }
  }
  if (bad > 0 && argv.files.length > 1) {
    process.stderr.write(`bindlab: ${count(problems, 'problem')} in ${count(bad, 'file')} of ${argv.files.length}\n`);
  }
  return bad > 0 ? 2 : 0;
}
