// The suite's settings, for a small machine (CI: 2 cores) shared with other work.
//
// Workers: vitest's default on N cores is N - 1 files at a time, one on 2 cores, so the
// real-kernel file (mostly waiting: a TIME_WAIT that must really expire, namespaces, agents)
// held the only worker while the CPU sat idle. The slow files wait on child processes (the
// kernel, tshark, the CLI), so one file more than there are cores keeps both cores busy.
// Forks, not threads: tests spawn processes, change uids and create network namespaces.
//
// Timeouts are guards against a hang, not speed checks (speed is measured by `npm run bench`):
// a test that starts a process gets a minute, whatever the machine is doing; tests doing more
// say so themselves.
//
// BINDLAB_TEST_FAST=1 (`npm run test:fast`): only what needs no root, no kernel, no tshark
// and no browser. Whole files that need them are left out here; files that only partly need
// them skip those parts with a line saying why (test/tools.ts).

import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const FAST = process.env['BINDLAB_TEST_FAST'] === '1';

/** Files that are all root, kernel, tshark or browser. */
const SLOW_TOOL_FILES = [
  'test/kernel/**',
  'test/e2e/captures.test.ts',
  'test/e2e/arp-mac.test.ts',
  'test/replay/tshark.test.ts',
  'test/replay/recorded.test.ts',
  'test/wireshark/tshark.test.ts',
  'test/html/browser.test.ts',
];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(FAST ? SLOW_TOOL_FILES : [])],
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: Math.max(2, availableParallelism() + 1),
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
