// An internal error's stack names the compiled modules, not the minified bundle's one long line
// (src/cli/stack.ts): a frame in dist/bin/cli.cjs becomes the file, line and column it came from,
// through the bundle's source map; frames elsewhere, or without a map, are left as they are.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readableStack } from '../../src/cli/stack.js';

const ROOT = path.join(import.meta.dirname, '../..');
const BUNDLE = path.join(ROOT, 'dist/bin/cli.cjs');

/** Where text first is in a file: 1-based line and column. */
function find(file: string, text: string): { line: number; col: number } {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const line = lines.findIndex((l) => l.includes(text));
  expect(line).toBeGreaterThanOrEqual(0);
  return { line: line + 1, col: lines[line]!.indexOf(text) + 1 };
}

describe('readableStack', () => {
  it('maps the bundle\'s frames to the compiled modules', () => {
    const inBundle = find(BUNDLE, 'function mapSeq(');
    const inModule = find(path.join(ROOT, 'dist/replay/client-rewrite.js'), 'function mapSeq(');
    const stack = [
      'Error: something broke',
      `    at mapSeq (${BUNDLE}:${inBundle.line}:${inBundle.col})`,
      `    at ${pathToFileURL(BUNDLE).href}:${inBundle.line}:${inBundle.col}`,
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      '    at thing (/nowhere/dist/bin/gone.cjs:3:4)',
    ].join('\n');
    const want = `${path.join(ROOT, 'dist/replay/client-rewrite.js')}:${inModule.line}:${inModule.col}`;
    expect(readableStack(stack).split('\n')).toEqual([
      'Error: something broke',
      `    at mapSeq (${want})`,
      `    at ${want}`,
      '    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
      '    at thing (/nowhere/dist/bin/gone.cjs:3:4)',
    ]);
  });
});
