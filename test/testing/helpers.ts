// Shared by the tests of bindlab test / verify-kernel / init and the library API: the built
// package (dist/, rebuilt when older than src/; the lock is the one test/e2e uses, so parallel
// test files never build at once), running the CLI, and scratch directories.

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/bin/bindlab.js');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestMtime(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/ with tsc when it is older than src/. */
export function ensureBuilt(): void {
  const lock = join(tmpdir(), `bindlab-build-${basename(ROOT)}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try { mkdirSync(lock); break; } catch {
      if (Date.now() > deadline) { rmSync(lock, { recursive: true, force: true }); continue; }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }
  try {
    const stale = !existsSync(CLI) || statSync(CLI).mtimeMs < newestMtime(join(ROOT, 'src'));
    if (!stale) return;
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { encoding: 'utf8' });
    if (r.status !== 0) console.log(`tsc reported errors (using what it emitted):\n${r.stdout}${r.stderr}`);
    if (!existsSync(CLI)) throw new Error('the build produced no dist/bin/bindlab.js');
  } finally {
    rmdirSync(lock);
  }
}

/** Runs the built CLI from the repository root, stdout a pipe, no colour. */
export function cli(args: readonly string[], opts: { cwd?: string; uid?: number; gid?: number } = {}): SpawnSyncReturns<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env['FORCE_COLOR'];
  return spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', env, uid: opts.uid, gid: opts.gid, timeout: 300_000 });
}

export function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `bindlab-${prefix}-`));
}

/** Whether a command is on PATH. */
export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
