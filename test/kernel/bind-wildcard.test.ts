// The Linux selftest's wildcard bind table (test/policy/bind-wildcard.ts) on the real kernel: every
// variant in every mode, each bind's errno as the table says, and the emulator's `linux` policy step
// for step beside it (compareRuns, as `bindlab verify-kernel`). The 132 rows take ~13 s one at a
// time (run concurrently they queue on each other's namespace setup and take twice as long).
// Source: linux tools/testing/selftests/net/bind_wildcard.c. Kernel 6.18.44 agrees on every row.

import { describe, expect, it } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import { kernelAvailable, runOnKernel } from '../../src/kernel/run-kernel.js';
import { parseScenario } from '../../src/scenario/load.js';
import { compareRuns } from '../../src/testing/kernel-compare.js';
import { MODES, VARIANTS, expected, wildcardScenario, type Mode, type Variant } from '../policy/bind-wildcard.js';

const avail = kernelAvailable();
if (!avail.ok) console.log('skipping the bind_wildcard table on the kernel: ' + avail.why);

type Row = [title: string, variant: Variant, mode: Mode];
const rows: Row[] = VARIANTS.flatMap((v) => MODES.map((m): Row => [`${v.name} ${m}`, v, m]));

describe.skipIf(!avail.ok)('bind_wildcard selftest table on the real kernel', () => {
  it.each<Row>(rows)('%s', async (title, v, mode) => {
    const text = wildcardScenario(v, mode);
    const s = parseScenario(text, `bind_wildcard/${title.replace(' ', '.')}.yaml`);
    const kernel = await runOnKernel(s);
    // Bind steps are the odd ones: socket i is created at step 2i and binds at step 2i+1.
    expect(kernel.filter((r) => r.index % 2 === 1).map((r) => r.result)).toEqual(expected(v, mode));
    expect(compareRuns(s, text, kernel, runPolicy(s, 'linux').steps).differences).toEqual([]);
  }, 60_000);
});
