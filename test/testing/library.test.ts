// The library API from the package entry (dist/index.js, as `import ... from 'bindlab'`
// resolves it): typed results of the JSON report's shape, and no CLI side effects: nothing
// printed, no process.exit, errors thrown as ScenarioError.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './helpers.js';

const SCRIPT = `
import { loadScenario, runScenario, testScenarios, renderJUnit, ScenarioError } from 'bindlab';
const out = [];
const realWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = (s) => { out.push(String(s)); return true; };
process.stderr.write = (s) => { out.push(String(s)); return true; };
const realLog = console.log; console.log = console.error = (...a) => out.push(a.join(' '));
let exits = 0;
process.exit = () => { exits++; throw new Error('process.exit called'); };
const report = runScenario(loadScenario('test/testing/fixtures/reuseport.yaml'), { policies: ['linux', 'pajari-1999'] });
let error;
try { loadScenario('scenarios/does-not-exist.yaml'); } catch (e) { error = { isScenarioError: e instanceof ScenarioError, message: e.message }; }
const summary = await testScenarios(['test/testing/fixtures/reuseport.yaml'], { policies: ['linux'] });
const junit = renderJUnit(summary);
realWrite(JSON.stringify({ report, error, printed: out, exits, passed: summary.scenarios[0].failures.length === 0, junit: junit.startsWith('<?xml') }));
`;

describe('the library from the package entry', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it("import { loadScenario, runScenario } from 'bindlab': the JSON report's shape, nothing printed, no exit", () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const got = JSON.parse(r.stdout);
    expect(got.printed).toEqual([]);
    expect(got.exits).toBe(0);
    expect(got.error).toEqual({ isScenarioError: true, message: expect.stringMatching(/^scenarios\/does-not-exist\.yaml:1:1: cannot read scenario/) });
    expect(got.passed).toBe(true);
    expect(got.junit).toBe(true);
    const rep = got.report;
    expect(rep.scenario).toBe('SO_REUSEPORT groups and Linux\'s same-uid rule');
    expect(rep.file).toBe('test/testing/fixtures/reuseport.yaml');
    expect(Object.keys(rep.policies)).toEqual(['linux', 'pajari-1999']);
    const linux = rep.policies.linux;
    expect(linux.steps).toHaveLength(17);
    expect(linux.steps[0]).toMatchObject({ index: 0, kind: 'socket', result: 'ok', passed: true });
    expect(linux.steps[6].kind).toBe('connect');
    expect(linux.steps[6].results).toHaveLength(8);
    expect(linux.expectations).toEqual({ passed: 14, failed: 0 });
    expect(linux.output).toBeUndefined(); // no outDir, no capture written
  });

  it('the exported types type-check a user\'s code (tsc against dist/index.d.ts through the package name)', () => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--types', 'node', '--skipLibCheck', join(ROOT, 'test/testing/fixtures/api-usage.ts')], { cwd: ROOT, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);
});
