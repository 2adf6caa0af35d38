// Hostile input at the command line: exit 2 with a precise message, never a stack trace (exit 70)
// or a hang; and the progress bar of a long run on a terminal, as replay has.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bin/bindlab.js');
const tmp = mkdtempSync(join(tmpdir(), 'bindlab-inputs-cli-'));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });

beforeAll(() => {
  if (spawnSync(process.execPath, [CLI, '--help']).status !== 0) throw new Error('no dist/bin/bindlab.js: run npm run build');
});

const HEAD = `name: t
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    processes:
      p: {}
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
`;

describe('scenario files that crashed or hung the loader', () => {
  it.each<[string, string, RegExp]>([
    ['an alias cycle in a list', 'name: &a [*a]\nhosts: {}\nsteps: []\n', /^bindlab: .*cycle\.yaml:1:11: alias \*a is inside the value its anchor &a names/],
    ['an alias cycle in a map', 'name: x\nhosts: &h {server: *h}\nsteps: []\n', /^bindlab: .*cycle\.yaml:2:20: alias \*h is inside/],
    ['a billion laughs', `name: lol\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n${[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]`).join('\n')}\nhosts: { x: *l9 }\nsteps: []\n`,
      /^bindlab: .*cycle\.yaml:12:13: YAML aliases expand too far: more than the yaml library's bound of 1000 alias uses \(maxAliasCount\)/],
    ['a count that cannot be meant', `${HEAD}  - connect: { from: client, to: 10.0.0.1:80, count: 2147483647 }\n`,
      /^bindlab: .*cycle\.yaml:12:54: steps\[0\]\.connect\.count: 2147483647 is more than 65535: one client has at most 65535 source ports/],
  ])('%s: exit 2 with file:line:col', (_name, text, message) => {
    const file = join(tmp, 'cycle.yaml');
    writeFileSync(file, text);
    const r = cli(['validate', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/internal error|    at /);
  });
});

describe('explain --step', () => {
  it.each<[string, RegExp]>([
    ['abc', /^bindlab: --step "abc": want a step index, a whole number; the scenario has steps 0\.\.\d+ \(the # column of the matrix\)\n$/],
    ['1.5', /^bindlab: --step "1\.5": want a step index, a whole number; the scenario has steps 0\.\.\d+ \(the # column of the matrix\)\n$/],
    ['-1', /^bindlab: --step "-1": want a step index, a whole number; the scenario has steps 0\.\.\d+ \(the # column of the matrix\)\n$/],
    ['999', /^bindlab: --step 999: the scenario has steps 0\.\.\d+ \(the # column of the matrix\)\n$/],
  ])('--step %s: exit 2 saying what it wants (it printed NaN)', (step, message) => {
    const r = cli(['explain', 'scenarios/pajari-1999.yaml', '-p', 'linux', '--step', step]);
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(2);
  });
});

describe('a long run shows its progress on a terminal', () => {
  it('a bar on stderr on a terminal (script(1) gives the CLI one); none without a terminal or with --no-progress', () => {
    const file = join(tmp, 'long.yaml');
    writeFileSync(file, `${HEAD.replace('name: t', 'name: long\npolicies: [linux, freebsd]')}  - socket: web\n    process: server/p\n  - bind: web\n    address: 0.0.0.0:80\n  - listen: web\n  - connect: { from: client, to: 10.0.0.1:80, count: 6000 }\n    expect: web\n`);
    const args = ['run', file, '--no-capture'];
    if (spawnSync('script', ['--version']).status !== 0) {
      console.log('skipped: script(1) from util-linux is not installed, so the CLI cannot be given a terminal');
      return;
    }
    const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/run long\.yaml \[[^\]]*\] \d+% \| \d+\/12006 steps and connections/);
    const quiet = spawnSync('script', ['-qec', `${command} --no-progress`, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(quiet.stdout).not.toMatch(/steps and connections/);
    const plain = cli(args);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toBe('');
  }, 120_000);
});
