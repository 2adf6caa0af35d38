// `bindlab test`: the summary (scenarios, steps, expectations, each failure with step, policy,
// expected and got), exit codes 0/1/2, directories searched, and the JUnit XML validated against
// the format's schema (fixtures/junit.xsd) with xmllint.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderJUnit } from '../../src/testing/junit.js';
import { collectScenarioFiles, summaryExitCode, testScenarios } from '../../src/testing/suite.js';
import { cli, ensureBuilt, have, ROOT, scratch } from './helpers.js';

const XSD = join(import.meta.dirname, 'fixtures/junit.xsd');
// A fixed copy pinned to three policies, so scenario edits and new policies do not change the counts.
const REUSEPORT = readFileSync(join(import.meta.dirname, 'fixtures/reuseport.yaml'), 'utf8');

/** reuseport.yaml with one expectation made wrong for linux: step 4 (bind w2) expects EADDRINUSE. */
const WRONG = REUSEPORT.replace(/^name: .*$/m, 'name: "wrong <expectation> & \\"quotes\\" \\u0007bell"')
  .replace('expect: { linux: ok, default: EADDRINUSE }', 'expect: { linux: EADDRINUSE, default: EADDRINUSE }');

const INVALID = 'name: broken\nhosts:\n  server:\n    interfaces:\n      eth0: { addresses: [10.0.0.300/24] }\nsteps: []\n';

function tree(): string {
  const dir = scratch('test-cmd');
  mkdirSync(join(dir, 'good'));
  mkdirSync(join(dir, 'bad'));
  writeFileSync(join(dir, 'good/reuseport.yaml'), REUSEPORT);
  writeFileSync(join(dir, 'good/README.txt'), 'not a scenario');
  writeFileSync(join(dir, 'bad/wrong.yaml'), WRONG);
  writeFileSync(join(dir, 'bad/invalid.yml'), INVALID);
  return dir;
}

function xmllint(file: string): { ok: boolean; out: string } {
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

describe('bindlab test as a library', () => {
  it('finds *.yaml and *.yml under directories, sorted, and files as given', () => {
    const dir = tree();
    expect(collectScenarioFiles([dir]).map((f) => f.slice(dir.length + 1))).toEqual(['bad/invalid.yml', 'bad/wrong.yaml', 'good/reuseport.yaml']);
    expect(collectScenarioFiles([join(dir, 'good/README.txt')])).toEqual([join(dir, 'good/README.txt')]);
  });

  it('names each failed expectation: step, line, policy, expected, got', async () => {
    const dir = tree();
    const s = await testScenarios([join(dir, 'bad/wrong.yaml')]);
    expect(summaryExitCode(s)).toBe(1);
    const o = s.scenarios[0]!;
    expect(o.failures).toEqual([{ policy: 'linux', index: 4, kind: 'bind', line: 35, col: 5, expected: ['EADDRINUSE'], got: ['ok'] }]);
    expect(o.expectations).toEqual({ passed: 41, failed: 1 });
  });

  it('exit code: 2 when a file does not load, even beside failures; 2 when nothing is found', async () => {
    const dir = tree();
    const s = await testScenarios([dir]);
    expect(s.scenarios.map((o) => Boolean(o.error))).toEqual([true, false, false]);
    expect(s.scenarios[0]!.error).toMatch(/invalid\.yml:5:\d+: .*10\.0\.0\.300/);
    expect(summaryExitCode(s)).toBe(2);
    expect(summaryExitCode(await testScenarios([join(dir, 'good')]))).toBe(0);
    expect(summaryExitCode(await testScenarios([scratch('empty')]))).toBe(2);
  });
});

describe.skipIf(!have('xmllint'))('JUnit XML against the schema (xmllint)', () => {
  it('a run with a pass, a failure and a load error validates, with the right counts and messages', async () => {
    const dir = tree();
    const xml = renderJUnit(await testScenarios([dir]), { timestamp: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), hostname: 'ci' });
    const file = join(dir, 'junit.xml');
    writeFileSync(file, xml);
    const v = xmllint(file);
    expect(v.out).toContain('validates');
    expect(v.ok).toBe(true);
    expect(xml).toMatch(/<testsuites name="bindlab" tests="\d+" failures="1" errors="1"/);
    expect(xml).toContain('timestamp="2026-01-02T03:04:05" hostname="ci"');
    expect(xml).toContain('<failure type="expectation" message="step 4 bind (line 35) under linux: expected EADDRINUSE, got ok">');
    expect(xml).toMatch(/<error type="ScenarioError" message="[^"]*invalid\.yml:5:/);
    // The scenario name's markup characters are escaped and the BEL control character replaced.
    expect(xml).toContain('value="wrong &lt;expectation&gt; &amp; &quot;quotes&quot; \uFFFDbell"');
  });

  it('the schema is really checked: a report without a required attribute does not validate', async () => {
    const dir = tree();
    const file = join(dir, 'broken.xml');
    writeFileSync(file, renderJUnit(await testScenarios([join(dir, 'good')])).replace(/ hostname="[^"]*"/, ''));
    const v = xmllint(file);
    expect(v.ok).toBe(false);
    expect(v.out).toMatch(/hostname.*required/);
  });
});
if (!have('xmllint')) it.skip('JUnit schema validation: xmllint is not installed (apt-get install libxml2-utils)', () => {});

describe('bindlab test through the CLI', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  // Under linux only: policies being written beside this work are not this test's business.
  it('all of scenarios/: PASS lines, a summary, exit 0', () => {
    const r = cli(['test', 'scenarios', '-p', 'linux']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const n = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).length;
    expect(r.stdout).toMatch(/^PASS scenarios\/reuseport\.yaml \(1 policy, \d+ steps, \d+ expectations\)$/m);
    expect(r.stdout).toMatch(new RegExp(`^Scenarios: +${n} passed, 0 failed \\(${n}\\)$`, 'm'));
    expect(r.stdout).toMatch(/^Expectations: +\d+ passed, 0 failed$/m);
  });

  it('no path means scenarios/', () => {
    const r = cli(['test', '-p', 'linux']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Scenarios: +\d+ passed, 0 failed/);
  });

  it('a failed expectation: FAIL, the precise diff, exit 1; --junit writes the file', () => {
    const dir = tree();
    const junit = join(dir, 'out.xml');
    const r = cli(['test', join(dir, 'bad/wrong.yaml'), '--junit', junit]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`FAIL ${join(dir, 'bad/wrong.yaml')}`);
    expect(r.stdout).toContain('  step 4 bind (line 35) under linux: expected EADDRINUSE, got ok');
    expect(r.stdout).toMatch(/Expectations: +41 passed, 1 failed/);
    expect(readFileSync(junit, 'utf8')).toContain('failures="1"');
  });

  it('an invalid file: ERROR with file:line:col, exit 2; an unknown policy: exit 2', () => {
    const dir = tree();
    const r = cli(['test', dir]);
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/^ERROR .*invalid\.yml:5:\d+: /m);
    expect(r.stdout).toMatch(/Scenarios: +1 passed, 1 failed, 1 invalid \(3\)/);
    const p = cli(['test', 'scenarios', '-p', 'nosuch']);
    expect(p.status).toBe(2);
    expect(p.stderr).toContain('unknown policy "nosuch"');
  });

  it('-p limits the policies', () => {
    const r = cli(['test', 'test/testing/fixtures/reuseport.yaml', '-p', 'linux']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('(1 policy, 17 steps, 14 expectations)');
  });
});
