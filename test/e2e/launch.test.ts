// The bin (src/cli/launch.ts): the bundled command line compiled from a V8 code cache per command.
// A command prints the same with a cache, without one, from a cache V8 refuses or one made for
// another build; the cache is written once per command, and not at all when turned off.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/bin/bindlab.js');
const SCENARIO = path.join(ROOT, 'scenarios/pajari-1999.yaml');

function bindlab(cacheHome: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, XDG_CACHE_HOME: cacheHome, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the bin\'s compile cache', () => {
  it('is written once per command and gives the same results as compiling afresh, whatever is in it', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-cache-'));
    const first = bindlab(home, ['validate', SCENARIO]);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/ok/);
    // One file per command and install (named by a hash of the bundle's path).
    const files = fs.readdirSync(path.join(home, 'bindlab'));
    expect(files).toEqual([expect.stringMatching(/^cli-validate-[0-9a-f]{8}\.v8$/)]);
    const cache = path.join(home, 'bindlab', files[0]!);
    const made = fs.readFileSync(cache);
    // Headed by the line naming the bundle (a hash of its bytes) and Node it was made by.
    expect(made.toString('latin1', 0, made.indexOf(10))).toMatch(new RegExp(`^bindlab cli.cjs [0-9a-f]{32} ${process.version} ${process.arch}$`));
    expect(bindlab(home, ['validate', SCENARIO])).toEqual(first);
    // Used, not rewritten.
    expect(fs.readFileSync(cache).equals(made)).toBe(true);
    // Another command has a cache of its own.
    expect(bindlab(home, ['--version']).status).toBe(0);
    expect(fs.readdirSync(path.join(home, 'bindlab')).sort()).toEqual([files[0]!.replace('validate', 'other'), files[0]]);
    // Bytes V8 refuses: compiled afresh, the cache made again.
    const header = made.subarray(0, made.indexOf(10) + 1);
    fs.writeFileSync(cache, Buffer.concat([header, Buffer.alloc(5000, 7)]));
    expect(bindlab(home, ['validate', SCENARIO])).toEqual(first);
    expect(fs.readFileSync(cache).equals(made)).toBe(false);
    expect(fs.readFileSync(cache).length).toBeGreaterThan(100_000);
    // A cache made for another build is not used, whatever its bytes.
    fs.writeFileSync(cache, Buffer.concat([Buffer.from('bindlab cli.cjs 1 2 v0 x\n'), made.subarray(header.length)]));
    expect(bindlab(home, ['validate', SCENARIO])).toEqual(first);
    expect(fs.readFileSync(cache).subarray(0, header.length).equals(header)).toBe(true);
    // Errors are the same too (exit code 2, the message).
    const bad = bindlab(home, ['validate', path.join(home, 'none.yaml')]);
    expect(bad.status).toBe(2);
    expect(bindlab(home, ['validate', path.join(home, 'none.yaml')], { BINDLAB_COMPILE_CACHE: '0' })).toEqual(bad);
  }, 60_000);

  it('writes nothing when turned off (BINDLAB_COMPILE_CACHE=0) or when its directory cannot be made', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-cache-'));
    const r = bindlab(home, ['validate', SCENARIO], { BINDLAB_COMPILE_CACHE: '0' });
    expect(r.status).toBe(0);
    expect(fs.readdirSync(home)).toEqual([]);
    // A file where the directory should be.
    fs.writeFileSync(path.join(home, 'bindlab'), '');
    expect(bindlab(home, ['validate', SCENARIO])).toEqual(r);
  }, 60_000);

  it('keeps at most 48 files, dropping those written longest ago (and nothing it did not write)', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-cache-'));
    const dir = path.join(home, 'bindlab');
    fs.mkdirSync(dir);
    // 60 caches of other installs, written one a minute, oldest first; and a file of somebody else's.
    const now = Date.now() / 1000;
    for (let i = 0; i < 60; i++) {
      const f = path.join(dir, `cli-run-${String(i).padStart(8, '0')}.v8`);
      fs.writeFileSync(f, 'x');
      fs.utimesSync(f, now - 3600 + i * 60, now - 3600 + i * 60);
    }
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    expect(bindlab(home, ['validate', SCENARIO]).status).toBe(0);
    const left = fs.readdirSync(dir).sort();
    expect(left.filter((n) => n.endsWith('.v8'))).toHaveLength(48);
    expect(left).toContain('notes.txt');
    expect(left.some((n) => n.startsWith('cli-validate-'))).toBe(true);
    // The 13 oldest went.
    for (let i = 0; i < 13; i++) expect(left).not.toContain(`cli-run-${String(i).padStart(8, '0')}.v8`);
    expect(left).toContain(`cli-run-${String(13).padStart(8, '0')}.v8`);
  }, 60_000);
});
