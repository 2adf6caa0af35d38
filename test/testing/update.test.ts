// `bindlab test --update`: the current results go into failing expectations in place, and the
// rest of the file (comments, blank lines, quotes, folded text, key order) stays byte for byte.
// fixtures/update-before.yaml has wrong expectations of every shape (a scalar wrong for some
// policies or all, block and flow maps with and without the policy's key, a SO_REUSEPORT
// group); fixtures/update-after.yaml is the expected result, checked by hand once.

import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { testScenarioFile } from '../../src/testing/suite.js';
import { cli, ensureBuilt, ROOT, scratch } from './helpers.js';

const FIX = join(import.meta.dirname, 'fixtures');
const BEFORE = readFileSync(join(FIX, 'update-before.yaml'), 'utf8');
const AFTER = readFileSync(join(FIX, 'update-after.yaml'), 'utf8');

function comments(text: string): string[] {
  return text.split('\n').filter((l) => l.includes('#')).map((l) => l.slice(l.indexOf('#')));
}

describe('--update rewrites expectations in place', () => {
  it('fixes every failing expectation and changes nothing else', async () => {
    const file = join(scratch('update'), 'u.yaml');
    writeFileSync(file, BEFORE);
    const o = await testScenarioFile(file, { update: true });
    expect(o.error).toBeUndefined();
    expect(o.failures).toEqual([]);
    expect(o.changes.map((c) => `${c.index} ${c.policy} ${c.from.join('|')} → ${c.to.join('|')}`)).toEqual([
      '0 linux-1.3.60 ok → ENOPROTOOPT',
      '0 pajari-1999 ok → ENOPROTOOPT',
      '1 linux-1.3.60 EADDRINUSE → ok',
      '1 pajari-1999 EADDRINUSE → ok',
      '1 linux EADDRINUSE → ok',
      '2 linux EINVAL → ok',
      '4 linux EADDRINUSE → ok',
      '6 linux w1 → w1|w2',
      '7 pajari-1999 refused → w1',
      '7 linux refused → w1|w2',
    ]);
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(AFTER);
    // The round trip keeps every comment, in order, and the folded description untouched.
    expect(comments(text)).toEqual(comments(BEFORE));
    expect(text).toContain('  A folded description longer than eighty columns, which the yaml package\'s own printer would re-fold, so the update must not print the document again.\n');
  });

  it('the result passes without --update, and a second --update changes nothing', async () => {
    const file = join(scratch('update'), 'u.yaml');
    writeFileSync(file, AFTER);
    const o = await testScenarioFile(file);
    expect(o.failures).toEqual([]);
    expect(o.expectations.failed).toBe(0);
    const again = await testScenarioFile(file, { update: true });
    expect(again.changes).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe(AFTER);
  });

  it('leaves passing files byte for byte alone (scenarios/*.yaml under linux)', async () => {
    const dir = scratch('update');
    for (const f of readdirSync(join(ROOT, 'scenarios')).filter((x) => x.endsWith('.yaml'))) {
      const file = join(dir, f);
      copyFileSync(join(ROOT, 'scenarios', f), file);
      const o = await testScenarioFile(file, { update: true, policies: ['linux'] });
      expect(o.changes, f).toEqual([]);
      expect(readFileSync(file, 'utf8'), f).toBe(readFileSync(join(ROOT, 'scenarios', f), 'utf8'));
    }
  });
});

describe('--update through the CLI', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it('prints what it rewrote and exits 0', () => {
    const file = join(scratch('update'), 'u.yaml');
    writeFileSync(file, BEFORE);
    const r = cli(['test', file, '--update']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('updated step 6 (line 43) linux: w1 → w1|w2');
    expect(r.stdout).toMatch(/Updated: +10 expectations rewritten/);
    expect(readFileSync(file, 'utf8')).toBe(AFTER);
  });
});
