// What the suite may use beyond Node: BINDLAB_TEST_FAST=1 (`npm run test:fast`) leaves out every
// test that needs root, the kernel, tshark or a browser; each such test says why it is skipped.
// vitest.config.ts leaves out the files that need nothing else; the files that only partly
// need them ask here.

import { spawnSync } from 'node:child_process';

/** Set by `npm run test:fast`. */
export const FAST = process.env['BINDLAB_TEST_FAST'] === '1';

/** Why tshark is not used ('' when it is): the fast run, or tshark missing or broken. */
export function noTshark(): string {
  if (FAST) return 'BINDLAB_TEST_FAST=1 (npm run test:fast): tshark checks left out';
  const r = spawnSync('tshark', ['--version'], { stdio: 'ignore' });
  return r.error || r.status !== 0 ? `tshark not runnable (${r.error?.message ?? `exit ${r.status}`}): Wireshark checks skipped` : '';
}
