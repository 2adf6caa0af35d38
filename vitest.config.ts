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
import { BaseSequencer, type TestSpecification } from 'vitest/node';

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

/**
 * The longest files first (2026-12-07, a clean clone's run: 195, 81, 84, 41, 78, 36 s): a clean
 * clone has no timings of its own, and vitest then started the audit and the UDP router files
 * three and a half minutes in, alone in the last 80 s. Started first, they run beside the rest.
 * Never three kernel files at once (kernel, udp, udp-router are 1st, 3rd and 5th: the 5th starts
 * only when two earlier ones are done), as before.
 */
const LONGEST_FIRST = [
  'test/kernel/kernel.test.ts',
  'test/audit/audit.test.ts',
  'test/kernel/udp.test.ts',
  'test/e2e/policies-cli.test.ts',
  'test/kernel/udp-router.test.ts',
  'test/e2e/captures.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = LONGEST_FIRST.findIndex((p) => f.moduleId.endsWith(p));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    // (A stable sort: the rest keep the order vitest gives them.)
    return [...(await super.sort(files))].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', ...(FAST ? SLOW_TOOL_FILES : [])],
    pool: 'forks',
    sequence: { sequencer: LongestFirst },
    fileParallelism: true,
    maxWorkers: Math.max(2, availableParallelism() + 1),
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});
