// OutputFile: the same bytes whether written synchronously or by the worker thread that takes
// over large outputs; finish() renames into place, abort() leaves nothing. The worker exists only
// in the compiled tree, so this test loads dist/ (npm test builds it first).

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const DIST = resolve(import.meta.dirname, '../../dist/pcap/output-file.js');
const built = existsSync(DIST) && existsSync(resolve(import.meta.dirname, '../../dist/pcap/output-worker.js'));
if (!built) console.log('skipping OutputFile worker tests: dist/ is not built (npm test runs tsc first)');

const dir = mkdtempSync(join(tmpdir(), 'bindlab-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface OutputFileLike { write(buf: Uint8Array, len: number): Uint8Array; finish(): void; abort(): void }
type Ctor = new (path: string, chunk: number) => OutputFileLike;

/** Writes `chunks` chunks of a counting pattern, each a different length, through OutputFile. */
function writePattern(OutputFile: Ctor, path: string, chunks: number, chunk: number): Buffer {
  const out = new OutputFile(path, chunk);
  const expected = Buffer.alloc(chunks * chunk);
  let at = 0;
  let buf: Uint8Array = Buffer.allocUnsafe(chunk);
  for (let i = 0; i < chunks; i++) {
    const len = chunk - (i % 7) * 13;
    for (let j = 0; j < len; j++) buf[j] = (i * 31 + j) & 0xff;
    expected.set(buf.subarray(0, len), at);
    at += len;
    buf = out.write(buf, len);
  }
  out.finish();
  return expected.subarray(0, at);
}

describe.skipIf(!built)('OutputFile', () => {
  it('writes a 12 MiB output (worker thread after 4 MiB) byte for byte, then renames it into place', async () => {
    const { OutputFile } = (await import(pathToFileURL(DIST).href)) as { OutputFile: Ctor };
    const path = join(dir, 'big.bin');
    const expected = writePattern(OutputFile, path, 48, 256 * 1024);
    expect(readFileSync(path).equals(expected)).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('writes a small output synchronously with the same result', async () => {
    const { OutputFile } = (await import(pathToFileURL(DIST).href)) as { OutputFile: Ctor };
    const path = join(dir, 'small.bin');
    const expected = writePattern(OutputFile, path, 3, 64 * 1024);
    expect(readFileSync(path).equals(expected)).toBe(true);
  });

  it('abort() after the worker took over leaves neither the final nor the temporary file', async () => {
    const { OutputFile } = (await import(pathToFileURL(DIST).href)) as { OutputFile: Ctor };
    const path = join(dir, 'aborted.bin');
    const out = new OutputFile(path, 256 * 1024);
    let buf: Uint8Array = Buffer.alloc(256 * 1024, 1);
    for (let i = 0; i < 40; i++) buf = out.write(buf, buf.length);
    // 10 MiB in: the worker has taken over (its chunks are shared memory).
    expect(buf.buffer).toBeInstanceOf(SharedArrayBuffer);
    out.abort();
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('aborted'))).toEqual([]);
  });
});
