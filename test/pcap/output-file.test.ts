// OutputFile: chunks appended under a temporary name; finish() renames into place, abort() leaves nothing.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OutputFile } from '../../src/pcap/output-file.js';

const dir = mkdtempSync(join(tmpdir(), 'bindlab-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('OutputFile', () => {
  it('appends chunks byte for byte and shows the file only after finish()', () => {
    const path = join(dir, 'out.bin');
    const out = new OutputFile(path);
    const expected: number[] = [];
    const buf = new Uint8Array(4096);
    for (let i = 0; i < 20; i++) {
      const len = 4096 - i * 13;
      for (let j = 0; j < len; j++) { buf[j] = (i * 31 + j) & 0xff; expected.push(buf[j]!); }
      out.write(buf, len);
    }
    expect(existsSync(path)).toBe(false);
    expect(existsSync(out.tmpPath)).toBe(true);
    out.finish();
    expect(Buffer.compare(readFileSync(path), Buffer.from(expected))).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(() => out.write(buf, 1)).toThrow(/already finished/);
  });

  it('abort() leaves neither the final nor the temporary file', () => {
    const path = join(dir, 'aborted.bin');
    const out = new OutputFile(path);
    out.write(new Uint8Array(100), 100);
    out.abort();
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('aborted'))).toEqual([]);
  });
});
