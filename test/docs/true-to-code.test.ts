// The docs say what the code does (issue 15, item 1): every key the loader accepts is in
// docs/scenario-format.md and its example scenarios load and hold; every field the run and replay
// reports carry is in docs/report.md; docs/rules.md's table is the built-in policies' rule
// choices; each policy's page has the sections the citations point to, its options and its
// TIME_WAIT.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { getPolicy } from '../../src/emu/policy/index.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { BUILTIN_RULES, RULE_SPECS } from '../../src/emu/policy/rules.js';
import { replayCapture } from '../../src/replay/replay.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile, parseScenario } from '../../src/scenario/load.js';
import { SCENARIO_SCHEMA, type Schema } from '../../src/scenario/schema.js';
import { CONNECT_OUTCOMES, ERRNO_NAMES, OPTION_NAMES } from '../../src/scenario/types.js';
import { anchorsOf, ROOT } from './resolve.js';

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const yamlBlocks = (text: string): string[] => [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** Every key a scenario may hold, at any depth (object fields and step kinds; not user-chosen map keys). */
function schemaKeys(s: Schema, out = new Set<string>()): Set<string> {
  switch (s.type) {
    case 'object': for (const [k, f] of Object.entries(s.fields)) { out.add(k); schemaKeys(f.schema, out); } break;
    case 'keyed': for (const v of Object.values(s.variants)) schemaKeys(v, out); break;
    case 'list': schemaKeys(s.items, out); break;
    case 'map': schemaKeys(s.values, out); break;
    case 'anyOf': for (const o of s.options) schemaKeys(o, out); break;
    default: break;
  }
  return out;
}

/** Every key of every object in a JSON value, e.g. "policies.*.steps[].conflict.state" collapsed to the key names. */
function jsonKeys(v: unknown, out = new Set<string>(), skipKeysOf: ReadonlySet<string> = new Set()): Set<string> {
  if (Array.isArray(v)) for (const x of v) jsonKeys(x, out, skipKeysOf);
  else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.add(k);
      // Maps keyed by user names (policies, results per socket) contribute their values' keys only.
      if (skipKeysOf.has(k) && x !== null && typeof x === 'object') for (const y of Object.values(x)) jsonKeys(y, out, skipKeysOf);
      else jsonKeys(x, out, skipKeysOf);
    }
  }
  return out;
}

describe('docs/scenario-format.md', () => {
  const doc = read('docs/scenario-format.md');

  it('names every key the loader accepts, every option, errno and connect outcome', () => {
    // A custom policy's rules are the vocabulary of docs/rules.md (checked below).
    const rules = new Set<string>(RULE_SPECS.map((r) => r.name));
    const missing = [...[...schemaKeys(SCENARIO_SCHEMA)].filter((k) => !rules.has(k)), ...OPTION_NAMES, ...ERRNO_NAMES, ...CONNECT_OUTCOMES, ...BUILTIN_POLICIES]
      .filter((k) => !doc.includes(`\`${k}`));
    expect(missing).toEqual([]);
  });

  it('its complete scenarios load, and every expectation holds under their policies', () => {
    const scenarios = yamlBlocks(doc).filter((b) => /^name:/m.test(b) && /^steps:/m.test(b));
    expect(scenarios.length).toBeGreaterThanOrEqual(1);
    for (const text of scenarios) {
      const report = runScenario(parseScenario(text, 'docs/scenario-format.md'), { outDir: null });
      for (const run of Object.values(report.policies)) expect(run.expectations.failed, run.policy).toBe(0);
    }
  });

  it('its other YAML snippets are YAML, and its step and custom-policy snippets load inside a scenario', () => {
    const host = 'hosts: { server: { interfaces: { eth0: { addresses: [10.0.0.1/24] } }, processes: { p: {} } }, client: { interfaces: { eth0: { addresses: [10.0.0.100/24] } }, processes: { curl: {} } } }';
    for (const block of [...yamlBlocks(doc), ...yamlBlocks(read('docs/rules.md'))]) {
      const y = parse(block) as unknown;
      if (Array.isArray(y) && typeof y[0] === 'object' && y[0] !== null && ('bind' in y[0] || 'connect' in y[0])) {
        // Steps: with the sockets they name created first.
        const names = [...new Set((y as Record<string, unknown>[]).flatMap((s) => (typeof s['bind'] === 'string' ? [s['bind']] : [])))];
        const setup = names.map((n) => `  - { socket: ${n}, process: server/p }`).join('\n');
        const text = `name: snippet\n${host}\nsteps:\n${setup}\n  - { socket: w1, process: server/p }\n  - { socket: w2, process: server/p }\n${block.replace(/^/gm, '  ').replace(/^ {2}- /gm, '  - ')}`;
        expect(() => parseScenario(text, 'snippet.yaml'), block).not.toThrow();
      } else if (y !== null && typeof y === 'object' && 'policies' in y && !('steps' in y)) {
        const text = `name: snippet\n${block}\n${host}\nsteps:\n  - { socket: s, process: server/p }\n`;
        expect(() => parseScenario(text, 'snippet.yaml'), block).not.toThrow();
      }
    }
  });
});

describe('docs/report.md', () => {
  const doc = read('docs/report.md');

  it('names every field of the run report (bind conflicts, connections with choices and expectations included)', () => {
    const keys = new Set<string>();
    for (const file of ['scenarios/pajari-1999.yaml', 'scenarios/reuseport.yaml', 'scenarios/dual-stack.yaml']) {
      const report = runScenario(loadScenarioFile(join(ROOT, file)), { outDir: null });
      jsonKeys({ ...report, policies: { x: { ...Object.values(report.policies)[0]!, output: 'out/x.pcapng' } } }, keys, new Set(['policies']));
      for (const run of Object.values(report.policies)) jsonKeys(run.steps, keys);
    }
    expect(keys.has('conflict') && keys.has('candidates') && keys.has('passed')).toBe(true);
    expect([...keys].filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  });

  it('names every field of the replay report, and every skip reason', async () => {
    const scenario = loadScenarioFile(join(ROOT, 'captures/reuseport.yaml'));
    const report = await replayCapture(join(ROOT, 'captures/reuseport.pcap'), scenario, { policies: ['linux'], outDir: null });
    const keys = jsonKeys(report, new Set(), new Set(['policies', 'results']));
    // Present only when there is an output, and when the capture is cut inside its last record.
    keys.add('output');
    keys.add('truncated');
    expect(keys.has('observed') && keys.has('candidates') && keys.has('not-in-a-replayed-connection')).toBe(true);
    expect([...keys].filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  }, 120_000);
});

describe('docs/rules.md', () => {
  const doc = read('docs/rules.md');

  it('has a section for every rule and names every choice', () => {
    const anchors = anchorsOf(join(ROOT, 'docs/rules.md'));
    for (const spec of RULE_SPECS) {
      expect(anchors.has(spec.name.toLowerCase()), spec.name).toBe(true);
      for (const choice of Object.keys(spec.choices ?? {})) expect(doc, `${spec.name}: ${choice}`).toContain(`\`${choice}\``);
    }
  });

  it("its table is every built-in policy's choices", () => {
    const lines = doc.split('\n').filter((l) => l.startsWith('| '));
    const header = lines[0]!.split('|').slice(2, -1).map((c) => c.trim());
    expect([...header].sort()).toEqual(Object.keys(BUILTIN_RULES).sort());
    for (const spec of RULE_SPECS) {
      const row = lines.find((l) => l.startsWith(`| [${spec.name}]`));
      expect(row, spec.name).toBeDefined();
      const cells = row!.split('|').slice(2, -1).map((c) => c.trim());
      expect(cells, spec.name).toEqual(header.map((p) => String(BUILTIN_RULES[p]!.rules[spec.name])));
    }
  });
});

describe('docs/policies/', () => {
  const SECTIONS = ['bind', 'bind-conflicts', 'listen', 'listener-lookup', 'automatic-ports', 'time_wait', 'routing', 'unconfirmed', 'sources'];

  it.each(BUILTIN_POLICIES)('%s: a page with the sections citations point to, its options and its TIME_WAIT', (name) => {
    const page = `docs/policies/${name}.md`;
    const text = read(page);
    const anchors = anchorsOf(join(ROOT, page));
    expect(SECTIONS.filter((s) => !anchors.has(s) && !(name === 'pajari-1999' && ['bind', 'listen', 'listener-lookup', 'automatic-ports', 'time_wait'].includes(s)))).toEqual([]);
    // The options the policy accepts are named before its first section.
    const intro = text.slice(0, text.indexOf('\n## '));
    const policy = getPolicy(name);
    const scenario = parseScenario(`name: options\nhosts: { h: { interfaces: { eth0: { addresses: [10.0.0.1/24] } }, processes: { p: {} } } }\nsteps:\n${
      OPTION_NAMES.map((o) => `  - { socket: s-${o}, process: h/p, options: { ${o}: ${o === 'SO_BINDTODEVICE' ? 'eth0' : 'true'} } }`).join('\n')}\n`, 'options.yaml');
    const run = runScenario(scenario, { policies: [name], outDir: null }).policies[name]!;
    const accepted = OPTION_NAMES.filter((_, i) => run.steps[i]!.result === 'ok');
    expect(accepted.length).toBeGreaterThan(0);
    if (name !== 'pajari-1999') for (const o of accepted) expect(intro, `${name} accepts ${o}`).toContain(`\`${o}\``);
    // TIME_WAIT in seconds, in its section (pajari-1999 refers to linux-1.3.60's).
    const seconds = `${policy.timeWaitNs / 1e9} s`;
    expect(name === 'pajari-1999' ? text : text.slice(text.indexOf('## TIME_WAIT')), `${name}: TIME_WAIT ${seconds}`).toContain(seconds);
  });
});
