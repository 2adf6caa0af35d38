// An internal error's stack as a bug report wants it: the command line runs as one bundle
// (dist/bin/cli.cjs, its worker dist/bin/worker.js) whose whitespace is minified, so a frame there
// says little ("cli.cjs:443:7070"); each such frame is given its place in the compiled module it
// came from (dist/replay/client-rewrite.js:29:1) by the bundle's source map (scripts/bundle.mjs
// writes it beside the bundle). Frames without a map, or that the map does not cover, stay as
// they are. Only read when an internal error is printed: nothing at start-up.

import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A position in a bundled file of dist/bin: path (or file: URL), line, column (1-based). */
const FRAME = /((?:file:\/\/)?[^\s()]*[\\/]dist[\\/]bin[\\/][^\s():\\/]+\.c?js):(\d+):(\d+)/g;

/** The stack with each frame in the bundle mapped to its compiled module's file, line and column. */
export function readableStack(stack: string): string {
  const maps = new Map<string, SourceMap | null>();
  return stack.replace(FRAME, (whole: string, file: string, line: string, col: string) => {
    const path = file.startsWith('file://') ? fileURLToPath(file) : file;
    let map = maps.get(path);
    if (map === undefined) {
      try {
        map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')));
      } catch {
        map = null;
      }
      maps.set(path, map);
    }
    if (map === null) return whole;
    const e = map.findEntry(Number(line) - 1, Number(col) - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
    if (e.originalSource === undefined || e.originalLine === undefined || e.originalColumn === undefined) return whole;
    const src = e.originalSource.startsWith('file://') ? fileURLToPath(e.originalSource) : resolve(dirname(path), e.originalSource);
    return `${src}:${e.originalLine + 1}:${e.originalColumn + 1}`;
  });
}
