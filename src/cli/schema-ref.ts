// The `$schema` comment of a scenario file the CLI writes (init's starter, audit's findings): the
// path from the file's directory to this package's schema/scenario.schema.json, so that editors
// find the schema wherever the file is written and wherever bindlab is installed.

import { relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's scenario schema; this module is two levels below the package root (dist/cli, or dist/bin once bundled). */
export function scenarioSchemaPath(): string {
  return fileURLToPath(new URL('../../schema/scenario.schema.json', import.meta.url));
}

/** "# yaml-language-server: $schema=../node_modules/bindlab/schema/scenario.schema.json" for a file written in `dir`. */
export function schemaComment(dir: string): string {
  let rel = relative(resolve(dir), scenarioSchemaPath()).split(sep).join('/');
  if (!rel.startsWith('.')) rel = `./${rel}`;
  return `# yaml-language-server: $schema=${rel}`;
}
