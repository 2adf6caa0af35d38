// The command line through the built binary (dist/bin/bindlab.js): exit codes, the JSON report's
// shape (SCENARIO.md), the matrix's marks, colour only on a TTY, capture names, validate, help.

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../testing/helpers.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bin/bindlab.js');
const ESC = '\u001b[';

/** Runs the CLI with stdout a pipe (not a TTY); NO_COLOR unset unless env says otherwise. */
function cli(args: readonly string[], env: Record<string, string | undefined> = {}): SpawnSyncReturns<string> {
  const e: Record<string, string | undefined> = { ...process.env, FORCE_COLOR: undefined, NO_COLOR: undefined, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: e as NodeJS.ProcessEnv });
}

const GOOD = `name: two listeners
seed: 4
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24] }
    processes:
      p: { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
  - socket: web
    process: server/p
    options: { SO_REUSEADDR: true }
  - bind: web
    address: 0.0.0.0:8080
  - listen: web
  - socket: spec
    process: server/p
    options: { SO_REUSEADDR: true }
  - bind: spec
    address: 10.0.0.2:8080
    note: the Linux family refuses a specific bind under a listening wildcard; the proposal, the BSDs, Windows and illumos allow it
    expect: { linux-1.3.60: EADDRINUSE, linux-2.2: EADDRINUSE, linux: EADDRINUSE, default: ok }
  - connect: { from: client, to: 10.0.0.1:8080 }
    expect: web
`;

// The same scenario with a wrong expectation on step 5 (every policy gives web, none spec).
const WRONG = GOOD.replace(/expect: web\n$/, 'expect: spec\n');

let tmp = '';
const file = (name: string, text: string): string => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'bindlab-cli-'));
}, 60_000);
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe('bindlab run: exit codes', () => {
  it('0 when every expectation holds', () => {
    const r = cli(['run', file('good.yaml', GOOD), '-o', join(tmp, 'out0')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('1 when an expectation fails, and the matrix marks the cell with ✗', () => {
    const r = cli(['run', file('wrong.yaml', WRONG), '-o', join(tmp, 'out1')]);
    expect(r.status).toBe(1);
    const row = r.stdout.split('\n').find((l) => /\b5\s+connect/.test(l));
    expect(row).toBeDefined();
    // Every column (policies with identical results share one) marks the failure.
    const cells = row!.trim().split(/\s{2,}/).slice(2);
    expect(cells.length).toBeGreaterThan(1);
    for (const c of cells) expect(c).toBe('web ✗ want spec');
  });

  it('2 for bad YAML, naming file:line:col on stderr without a stack trace', () => {
    const bad = file('bad.yaml', 'name: x\nhosts:\n  a: [\n');
    const r = cli(['run', bad]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^bindlab: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:1: YAML: .+\n$`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('2 for an invalid value, naming the exact line and column', () => {
    const bad = file('badaddr.yaml', GOOD.replace('address: 10.0.0.2:8080', 'address: 10.0.0.300:8080'));
    const r = cli(['run', bad]);
    expect(r.status).toBe(2);
    // "  - bind: spec\n    address: 10.0.0.300:8080" is line 23; the value starts at column 14.
    expect(r.stderr).toBe(`bindlab: ${bad}:23:14: bind address "10.0.0.300:8080" is not an IPv4 or IPv6 address with a port\n`);
  });

  it('2 for an unknown policy', () => {
    const r = cli(['run', file('good2.yaml', GOOD), '-p', 'plan9', '-o', join(tmp, 'outp')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bindlab: unknown policy "plan9"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('2 for a missing file', () => {
    const r = cli(['run', join(tmp, 'no-such.yaml')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no-such\.yaml:1:1: cannot read scenario: ENOENT/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('bindlab run --json', () => {
  it('prints only the JSON report on stdout, in the shape of SCENARIO.md', () => {
    const f = file('json.yaml', GOOD);
    const out = join(tmp, 'outj');
    const r = cli(['run', f, '-o', out, '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(report.scenario).toBe('two listeners');
    expect(report.file).toBe(f);
    const policies = report.policies as Record<string, Record<string, unknown>>;
    expect(Object.keys(policies)).toEqual([...BUILTIN_POLICIES]);
    for (const [name, run] of Object.entries(policies)) {
      const steps = run.steps as { index: number; kind: string; result: string; results?: string[] }[];
      expect(steps.map((s) => [s.index, s.kind])).toEqual([[0, 'socket'], [1, 'bind'], [2, 'listen'], [3, 'socket'], [4, 'bind'], [5, 'connect']]);
      for (const s of steps) expect(typeof s.result).toBe('string');
      expect(steps[5]!.result).toBe('web');
      expect(steps[5]!.results).toEqual(['web']);
      expect(steps[4]!.result).toBe(['linux-1.3.60', 'linux-2.2', 'linux'].includes(name) ? 'EADDRINUSE' : 'ok');
      expect(run.expectations).toEqual({ passed: 2, failed: 0 });
      expect(run.output).toBe(join(out, `json.${name}.pcapng`));
    }
  });

  it('reports failed expectations in the counts and exits 1', () => {
    const r = cli(['run', file('wrongj.yaml', WRONG), '-o', join(tmp, 'outwj'), '--json']);
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout) as { policies: Record<string, { expectations: { passed: number; failed: number } }> };
    for (const run of Object.values(report.policies)) expect(run.expectations).toEqual({ passed: 1, failed: 1 });
  });
});

describe('bindlab run: the matrix', () => {
  it('marks rows where policies diverge with ≠ and only those', () => {
    const r = cli(['run', file('matrix.yaml', GOOD), '-o', join(tmp, 'outm')]);
    const rows = r.stdout.split('\n');
    const bind = rows.find((l) => /\b4\s+bind spec/.test(l))!;
    const connect = rows.find((l) => /\b5\s+connect/.test(l))!;
    expect(bind.startsWith('≠')).toBe(true);
    expect(connect.startsWith('≠')).toBe(false);
  });

  it('has no ANSI escapes when stdout is not a TTY, nor when NO_COLOR is set', () => {
    const plain = cli(['run', file('c1.yaml', WRONG), '-o', join(tmp, 'outc1')]);
    expect(plain.stdout).not.toContain(ESC);
    const nocolor = cli(['run', file('c2.yaml', WRONG), '-o', join(tmp, 'outc2')], { NO_COLOR: '1', FORCE_COLOR: '1' });
    expect(nocolor.stdout).not.toContain(ESC);
    expect(nocolor.stderr).not.toContain(ESC);
  });

  // On a real terminal (a pty from script(1)) colour is on, unless NO_COLOR is set.
  it.skipIf(spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0)('colours a TTY, but not with NO_COLOR', () => {
    const f = file('tty.yaml', WRONG);
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} run ${JSON.stringify(f)} -o ${JSON.stringify(join(tmp, 'outtty'))}`;
    const env = { ...process.env };
    delete env.NO_COLOR;
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env });
    expect(tty.stdout).toContain(ESC);
    const noColor = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...env, NO_COLOR: '1' } });
    expect(noColor.stdout).toContain('want spec');
    expect(noColor.stdout).not.toContain(ESC);
  });
});

describe('bindlab run: captures', () => {
  it('writes OUT/<stem>.<policy>.pcapng (and OUT/<stem>.<policy>.<link>.pcap with --format pcap, saying so) and leaves no .tmp files', () => {
    const out = join(tmp, 'caps');
    expect(cli(['run', file('named.yaml', GOOD), '-o', out]).status).toBe(0);
    const pcap = cli(['run', file('named.yaml', GOOD), '-o', out, '--format', 'pcap']);
    expect(pcap.status).toBe(0);
    expect(pcap.stderr).toMatch(/^bindlab: --format pcap: one file per link .*packet comments .* exist only in pcapng$/m);
    const names = readdirSync(out).sort();
    expect(names).toEqual(BUILTIN_POLICIES.flatMap((p) => [`named.${p}.lan.pcap`, `named.${p}.pcapng`]).sort());
    for (const n of names) expect(statSync(join(out, n)).size).toBeGreaterThan(0);
    expect(names.filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('-p limits the run to the named policies', () => {
    const out = join(tmp, 'one');
    const r = cli(['run', file('one.yaml', GOOD), '-o', out, '-p', 'linux', '--json']);
    expect(r.status).toBe(0);
    expect(Object.keys((JSON.parse(r.stdout) as { policies: object }).policies)).toEqual(['linux']);
    expect(readdirSync(out)).toEqual(['one.linux.pcapng']);
  });
});

describe('bindlab validate', () => {
  it('exits 0 on the shipped scenarios', () => {
    const files = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).map((f) => join('scenarios', f));
    const r = cli(['validate', ...files]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const f of files) expect(r.stdout).toContain(`${f}: ok`);
  });

  it('exits 2 on a bad file, with file:line:col', () => {
    const bad = file('vbad.yaml', GOOD.replace('address: 0.0.0.0:8080', 'address: 0.0.0.0:80800'));
    const r = cli(['validate', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^bindlab: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('bindlab --help', () => {
  it('lists the commands', () => {
    const r = cli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/run <files\.\.>/);
    expect(r.stdout).toMatch(/validate <files\.\.>/);
  });

  it('shows examples in the top-level help', () => {
    // The brief: "--help lists the commands with examples". The examples are attached only to the
    // subcommands (`bindlab run --help`), so the top-level help has none [src/cli/main.ts].
    const r = cli(['--help']);
    expect(r.stdout).toMatch(/Examples:/);
    expect(r.stdout).toMatch(/bindlab run scenarios\//);
  });

  it('run --help shows the run examples', () => {
    const r = cli(['run', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
    expect(r.stdout).toContain('bindlab run scenarios/pajari-1999.yaml');
  });

  it('starts quickly (wall time printed, not asserted tightly)', () => {
    const t0 = process.hrtime.bigint();
    const r = cli(['--help']);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`bindlab --help took ${ms.toFixed(0)} ms`);
    expect(r.status).toBe(0);
    expect(ms).toBeLessThan(5000);
  });
});

describe('usage mistakes', () => {
  it.each([
    [['frob'], 'bindlab: unknown command "frob"; did you mean run?'],
    [['zzzzz'], 'bindlab: unknown command "zzzzz" (see bindlab --help)'],
    [['run'], 'bindlab: run needs more arguments (see bindlab run --help)'],
    [['run', 'x.yaml', '--bogus'], 'bindlab: run: unknown option --bogus (see bindlab run --help)'],
  ])('bindlab %j: one line saying what is wrong, exit 2', (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(message);
    expect(r.stdout).toBe('');
  });
});
