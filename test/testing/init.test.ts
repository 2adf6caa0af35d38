// `bindlab init [DIR]`: a commented starter scenario that validates and runs with every
// expectation holding under every policy it names (all built-in ones); no overwrite without --force.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { runScenario } from '../../src/runner.js';
import { parseScenario } from '../../src/scenario/load.js';
import { STARTER_SCENARIO } from '../../src/testing/starter.js';
import { cli, ensureBuilt, scratch } from './helpers.js';

describe('the starter scenario', () => {
  it('loads, and every expectation holds under every built-in policy', () => {
    const s = parseScenario(STARTER_SCENARIO, 'starter.yaml');
    const report = runScenario(s, { policies: BUILTIN_POLICIES });
    for (const run of Object.values(report.policies)) {
      expect(run.expectations.failed, run.policy).toBe(0);
      expect(run.expectations.passed, run.policy).toBeGreaterThan(5);
    }
  });

  it('is commented: a comment says what the file is and how to run it', () => {
    expect(STARTER_SCENARIO.split('\n').filter((l) => /^\s*#/.test(l)).length).toBeGreaterThanOrEqual(8);
    expect(STARTER_SCENARIO).toContain('bindlab test');
  });
});

describe('bindlab init through the CLI', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it('writes DIR/starter.yaml (making DIR), which validates and passes bindlab test', () => {
    const dir = join(scratch('init'), 'new/dir');
    const r = cli(['init', dir]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(dir, 'starter.yaml')}`);
    expect(readFileSync(join(dir, 'starter.yaml'), 'utf8').replace(/^# yaml-language-server: .*\n/, '')).toBe(`${STARTER_SCENARIO}\n`);
    expect(cli(['validate', join(dir, 'starter.yaml')]).status).toBe(0);
    const t = cli(['test', dir]);
    expect(t.stdout).toMatch(/Expectations: +\d+ passed, 0 failed/);
    expect(t.status).toBe(0);
  });

  it('without DIR writes ./starter.yaml', () => {
    const dir = scratch('init');
    expect(cli(['init'], { cwd: dir }).status).toBe(0);
    expect(existsSync(join(dir, 'starter.yaml'))).toBe(true);
  });

  it('refuses to overwrite (exit 2) unless --force', () => {
    const dir = scratch('init');
    writeFileSync(join(dir, 'starter.yaml'), 'mine\n');
    const r = cli(['init', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('starter.yaml exists; --force overwrites it');
    expect(readFileSync(join(dir, 'starter.yaml'), 'utf8')).toBe('mine\n');
    expect(cli(['init', dir, '--force']).status).toBe(0);
    expect(readFileSync(join(dir, 'starter.yaml'), 'utf8').replace(/^# yaml-language-server: .*\n/, '')).toBe(`${STARTER_SCENARIO}\n`);
  });
});
