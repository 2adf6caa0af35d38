// `bindlab verify-kernel`: the comparison (pure, on made-up results: a SO_REUSEPORT group member
// matches, anything else is a difference), and the command on the live kernel: side by side and
// exit 0 on scenarios/reuseport.yaml as root; exit 2 with a clear message when not root.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kernelAvailable, type KernelStepResult } from '../../src/kernel/run-kernel.js';
import { loadScenarioFile, parseScenario } from '../../src/scenario/load.js';
import { compareRuns, renderSideBySide } from '../../src/testing/kernel-compare.js';
import { cli, CLI, ensureBuilt, ROOT } from './helpers.js';
import { FAST } from '../tools.js';

const TEXT = `name: made up
policies: [linux]
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    processes:
      p: { uid: 1000 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
  - socket: a
    process: server/p
  - bind: a
    address: 0.0.0.0:8080
  - connect: { from: client, to: 10.0.0.1:8080, count: 3 }
`;
const S = parseScenario(TEXT, 'made-up.yaml');
const k = (r: Partial<KernelStepResult> & { index: number; result: string }): KernelStepResult => ({ kind: S.steps[r.index]!.kind, ...r });

describe('compareRuns', () => {
  it('a kernel pick within the emulator\'s SO_REUSEPORT group matches; the table says so', () => {
    const c = compareRuns(S, TEXT,
      [k({ index: 0, result: 'ok' }), k({ index: 1, result: 'ok' }), k({ index: 2, result: 'a', results: ['a', 'b', 'b'] })],
      [{ index: 0, result: 'ok' }, { index: 1, result: 'ok' }, { index: 2, result: 'b', results: ['b', 'a', 'b'], candidates: [['a', 'b'], ['a', 'b'], ['a', 'b']] }]);
    expect(c.differences).toEqual([]);
    expect(c.rows.map((r) => r.agree)).toEqual([true, true, true]);
    const table = renderSideBySide(c);
    expect(table).toMatch(/^2 +17 +connect +a, b ×2 +b, a, b \(group a,b\) +=$/m);
    expect(table).toContain('made-up.yaml: the kernel and the linux policy agree on all 3 steps');
  });

  it('a different errno, a pick outside the group, or a missing connection is a difference naming file, step and line', () => {
    const c = compareRuns(S, TEXT,
      [k({ index: 0, result: 'ok' }), k({ index: 1, result: 'EADDRINUSE' }), k({ index: 2, result: 'c', results: ['c', 'a'] })],
      [{ index: 0, result: 'ok' }, { index: 1, result: 'ok' }, { index: 2, result: 'a', results: ['a', 'a', 'a'], candidates: [['a'], ['a'], ['a']] }]);
    expect(c.differences).toEqual([
      'made-up.yaml step 1 (line 15: - bind: a): kernel EADDRINUSE vs emulator ok',
      'made-up.yaml step 2 (line 17: - connect: { from: client, to: 10.0.0.1:8080, count: 3 }): kernel made 2 connections, emulator 3',
      'made-up.yaml step 2 (line 17: - connect: { from: client, to: 10.0.0.1:8080, count: 3 }) connection 1: kernel c vs emulator a (candidates a)',
    ]);
    const table = renderSideBySide(c);
    expect(table).toMatch(/^1 +15 +bind +EADDRINUSE +ok +≠ DIFFERENT$/m);
    expect(table).toContain('made-up.yaml: 2 of 3 steps differ');
  });

  it('a step the kernel did not report is a difference', () => {
    const c = compareRuns(S, TEXT, [k({ index: 0, result: 'ok' })], [{ index: 0, result: 'ok' }, { index: 1, result: 'ok' }, { index: 2, result: 'a' }]);
    expect(c.differences).toHaveLength(2);
    expect(c.differences[0]).toContain('the kernel has no result');
  });
});

const avail = FAST ? { ok: false as const, why: 'BINDLAB_TEST_FAST=1 (npm run test:fast) leaves the kernel out' } : kernelAvailable();

describe('bindlab verify-kernel on the live kernel', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it.skipIf(!avail.ok)('scenarios/reuseport.yaml: the side-by-side table, agreement, exit 0', () => {
    const s = loadScenarioFile(join(ROOT, 'scenarios/reuseport.yaml'));
    const r = cli(['verify-kernel', 'scenarios/reuseport.yaml']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('scenarios/reuseport.yaml: live kernel beside the linux policy');
    expect(r.stdout).toMatch(/^step +line +kind +kernel +linux \(emulated\)/m);
    // One row per step, each agreeing; the first connect is spread over the SO_REUSEPORT group.
    for (const step of s.steps) expect(r.stdout).toMatch(new RegExp(`^${step.index} +${step.pos.line} +${step.kind} .*=$`, 'm'));
    expect(r.stdout).toMatch(/^\d+ +\d+ +connect +.*\(group w1,w2\) +=$/m);
    expect(r.stdout).not.toContain('≠');
    expect(r.stdout).toContain(`scenarios/reuseport.yaml: the kernel and the linux policy agree on all ${s.steps.length} steps`);
  }, 120_000);
  if (!avail.ok) it.skip(`verify-kernel on scenarios/reuseport.yaml needs root on Linux: ${avail.why}`, () => {});

  // As root, the not-root case runs the CLI as nobody (uid 65534) when nobody can read the build.
  // (A checkout in a directory only root may enter, e.g. one from mktemp -d, is not readable by nobody.)
  const nobodyCanRun = (() => {
    if (process.getuid?.() !== 0) return true;
    const probe = spawnSync(process.execPath, ['-e', `require('node:fs').accessSync(${JSON.stringify(CLI)}, 4)`], { uid: 65534, gid: 65534 });
    return probe.status === 0;
  })();
  if (!nobodyCanRun) it.skip('not root: a clear message and exit 2 (skipped: root runs it as nobody, and nobody cannot read this checkout)', () => {});
  it.skipIf(!nobodyCanRun)('not root: a clear message and exit 2', () => {
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = cli(['verify-kernel', 'scenarios/reuseport.yaml'], asNobody);
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'EACCES') return; // cannot switch users here
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^bindlab: verify-kernel needs root on Linux: /);
  });
});
