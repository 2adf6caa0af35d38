#!/usr/bin/env node
// The bindlab command (the package's bin, dist/bin/bindlab.js once bundled): runs the bundled
// command line, dist/bin/cli.cjs, compiled from a V8 code cache when one is there. Compiling the
// bundle's code (yargs, yaml, the emulator: ~1 MB) is most of every command's start-up; from the
// cache, a decisions-only replay starts ~50 ms of CPU sooner on Node 20 (0.17 -> 0.12 s for a capture
// of three packets). Node 22's module.enableCompileCache does the same for ES modules; Node 20 has
// only vm.Script's cachedData, hence a CommonJS bundle run through vm.
//
// The cache: one file per command and install under $XDG_CACHE_HOME/bindlab (else
// ~/.cache/bindlab; at most MAX_CACHE_FILES, the oldest going first), written when the command ends if there was none (or V8 refused it), behind a
// line naming the bundle (a hash of its bytes) and the Node it is for (V8 checks its own version
// and flags and the source's length, not which source it was made from).
// BINDLAB_COMPILE_CACHE=0 turns it off; a cache that cannot be read or written is simply not used.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/** The commands of main.ts: each gets its own cache (the functions it ran); anything else shares one. */
const COMMANDS = new Set(['audit', 'explain', 'init', 'policies', 'replay', 'run', 'test', 'validate', 'verify-kernel', 'wireshark']);

const file = fileURLToPath(new URL('./cli.cjs', import.meta.url));
const source = readFileSync(file, 'utf8');
const cache = cacheFile();
let cached: Buffer | undefined;
if (cache) {
  try {
    const bytes = readFileSync(cache.path);
    const nl = bytes.indexOf(10);
    if (nl > 0 && bytes.toString('latin1', 0, nl) === cache.stamp) cached = bytes.subarray(nl + 1);
  } catch {
    // No cache yet.
  }
}
// On line 1 with the source, so that stack traces keep the bundle's line numbers; __bindlabUrl is
// the bundle's import.meta.url (scripts/bundle.mjs).
const script = new Script(`(function (exports, require, module, __filename, __dirname, __bindlabUrl) {${source}\n})`, { filename: file, cachedData: cached });
if (cache && (cached === undefined || script.cachedDataRejected)) {
  process.once('exit', () => {
    try {
      const data = script.createCachedData();
      mkdirSync(dirname(cache.path), { recursive: true, mode: 0o700 });
      const tmp = `${cache.path}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(`${cache.stamp}\n`, 'latin1'), data]), { mode: 0o600 });
      renameSync(tmp, cache.path);
      prune(dirname(cache.path));
    } catch {
      // An unwritable cache directory: the next start compiles again.
    }
  });
}
const mod = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void).call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file), pathToFileURL(file).href);

/** Cache files kept at most (~0.4-1 MB each): about five installs' worth of commands. */
const MAX_CACHE_FILES = 48;

/**
 * Past MAX_CACHE_FILES, the files written longest ago go: every checkout or install path has
 * files of its own, and clones in temporary directories (CI, npx) would otherwise pile up.
 */
function prune(dir: string): void {
  const names = readdirSync(dir).filter((n) => n.startsWith('cli-') && n.endsWith('.v8'));
  if (names.length <= MAX_CACHE_FILES) return;
  const aged = names.map((n) => ({ n, t: statSync(join(dir, n)).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { n } of aged.slice(0, aged.length - MAX_CACHE_FILES)) rmSync(join(dir, n), { force: true });
}

/** Where this command's cache is and the line that must head it; null when off. */
function cacheFile(): { path: string; stamp: string } | null {
  if (process.env['BINDLAB_COMPILE_CACHE'] === '0') return null;
  try {
    const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
    const arg = process.argv[2] ?? '';
    // The bundle's own bytes, hashed (~2 ms): V8 checks a cache against the source's length only,
    // and npm gives every installed file the same time (1985-10-26), so two builds of one length
    // would otherwise share a cache and run the other build's code.
    const digest = createHash('sha256').update(source).digest('hex').slice(0, 32);
    // Named by the bundle's path too: installs side by side (a global one, a checkout) keep a
    // cache each rather than each rewriting the other's at every start.
    let h = 0x811c9dc5;
    for (let i = 0; i < file.length; i++) h = Math.imul(h ^ file.charCodeAt(i), 0x01000193);
    return {
      path: join(base, 'bindlab', `cli-${COMMANDS.has(arg) ? arg : 'other'}-${(h >>> 0).toString(16).padStart(8, '0')}.v8`),
      stamp: `bindlab cli.cjs ${digest} ${process.version} ${process.arch}`,
    };
  } catch {
    return null;
  }
}
