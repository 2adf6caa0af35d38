// bindlab init [DIR]: writes a commented starter scenario to DIR/starter.yaml.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STARTER_FILE, STARTER_SCENARIO } from '../../testing/starter.js';
import { UsageError, type ExitCode } from '../common.js';
import { schemaComment } from '../schema-ref.js';
import type { InitArgs } from '../builders.js';

export function initCommand(argv: InitArgs): ExitCode {
  const path = join(argv.dir, STARTER_FILE);
  if (existsSync(path) && !argv.force) throw new UsageError(`${path} exists; --force overwrites it`);
  mkdirSync(argv.dir, { recursive: true });
  // The schema comment first: editors then complete and check the file, wherever it and bindlab are.
  const text = `${schemaComment(argv.dir)}\n${STARTER_SCENARIO}`;
  writeFileSync(path, text.endsWith('\n') ? text : `${text}\n`);
  process.stdout.write(`wrote ${path}\nnext: bindlab run ${path}   (the matrix; captures in out/)\n      bindlab test ${argv.dir}   (every expectation checked)\n`);
  return 0;
}
