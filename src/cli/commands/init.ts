// bindlab init [DIR]: writes a commented starter scenario to DIR/starter.yaml.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Argv } from 'yargs';
import { STARTER_FILE, STARTER_SCENARIO } from '../../testing/starter.js';
import { UsageError, type ExitCode } from '../common.js';

export interface InitArgs { dir: string; force: boolean }

export function initBuilder(y: Argv): Argv<InitArgs> {
  return y
    .positional('dir', { type: 'string', default: '.', describe: `directory for ${STARTER_FILE} (created if missing)` })
    .option('force', { type: 'boolean', default: false, describe: `overwrite an existing ${STARTER_FILE}` })
    .example('$0 init scenarios', `writes scenarios/${STARTER_FILE}`) as unknown as Argv<InitArgs>;
}

export function initCommand(argv: InitArgs): ExitCode {
  const path = join(argv.dir, STARTER_FILE);
  if (existsSync(path) && !argv.force) throw new UsageError(`${path} exists; --force overwrites it`);
  mkdirSync(argv.dir, { recursive: true });
  writeFileSync(path, STARTER_SCENARIO.endsWith('\n') ? STARTER_SCENARIO : `${STARTER_SCENARIO}\n`);
  process.stdout.write(`wrote ${path}\nnext: bindlab run ${path}   (the matrix; captures in out/)\n      bindlab test ${argv.dir}   (every expectation checked)\n`);
  return 0;
}
