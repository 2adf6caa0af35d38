// User-defined policies: a base plus rule choices (src/emu/policy/custom.ts, rules.ts). A custom
// policy with no changes answers as its base; Linux with the 1999 rule gives the pajari-1999
// answers; policy files; bad rules are errors at file:line:col that list the choices.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import { isCustomPolicy } from '../../src/emu/policy/custom.js';
import { policyResolver } from '../../src/emu/policy/registry.js';
import { BUILTIN_RULES } from '../../src/emu/policy/rules.js';
import { loadPolicyFile, loadScenarioFile, parseScenario } from '../../src/scenario/load.js';
import { ScenarioError } from '../../src/scenario/types.js';
import { scenarioJsonSchema } from '../../src/scenario/write-schema.js';

// The 1999 scenario's cases (SEMANTICS §4): n = 1 refused; n = 4 allows three specifics, refuses the fourth.
const HOSTS = `hosts:
  solo:
    interfaces: { eth0: { addresses: [10.0.0.1/24] } }
    processes: { inetd: { uid: 0 }, faxd: { uid: 0 } }
  multi:
    interfaces: { eth0: { addresses: [10.0.0.11/24, 10.0.0.12/24, 10.0.0.13/24, 10.0.0.14/24] } }
    processes: { inetd: { uid: 0 }, fax: { uid: 0 }, other: { uid: 1000 } }
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24] } }
`;
const RA = 'options: { SO_REUSEADDR: true }';
const listener = (name: string, proc: string, addr: string): string =>
  `  - { socket: ${name}, process: ${proc}, ${RA} }\n  - { bind: ${name}, address: "${addr}" }\n  - { listen: ${name} }\n`;
const STEPS = `steps:
${listener('solo-any', 'solo/inetd', '0.0.0.0:8080')}${listener('solo-spec', 'solo/faxd', '10.0.0.1:8080')}  - { connect: { from: client, to: "10.0.0.1:8080" } }
${listener('any', 'multi/inetd', '0.0.0.0:8080')}${listener('fax12', 'multi/fax', '10.0.0.12:8080')}${listener('fax13', 'multi/fax', '10.0.0.13:8080')}${listener('fax14', 'multi/fax', '10.0.0.14:8080')}${listener('fax11', 'multi/fax', '10.0.0.11:8080')}  - { connect: { from: client, to: "10.0.0.11:8080" } }
  - { connect: { from: client, to: "10.0.0.12:8080" } }
  - { connect: { from: client, to: "10.0.0.13:8080" } }
  - { connect: { from: client, to: "10.0.0.14:8080" } }
  - { connect: { from: client, to: "10.0.0.99:8080" } }
`;
const FIX = '{ name: my-fix, extends: linux, rules: { reuseaddrOverListener: allow-if-multihomed-n-1 } }';
const scenario = (policies: string): string => `name: custom policy round trip\nseed: 3\npolicies: ${policies}\n${HOSTS}${STEPS}`;

const results = (text: string, policy: string): string[] => {
  const sc = parseScenario(text, 'x.yaml');
  return runPolicy(sc, policyResolver(sc.customPolicies)(policy)).steps.map((s) => s.result);
};

describe('custom policies', () => {
  it('Linux with the n-1 rule (reuseaddrOverListener: allow-if-multihomed-n-1) gives the pajari-1999 answers (SEMANTICS §4)', () => {
    const text = scenario(`[pajari-1999, linux, ${FIX}]`);
    const fix = results(text, 'my-fix');
    expect(fix).toEqual(results(text, 'pajari-1999'));
    expect(fix).not.toEqual(results(text, 'linux'));
    // Spot checks: n = 1 refused; fax12..14 bound; the 4th specific refused; each specific gets its address
    const sc = parseScenario(text, 'x.yaml');
    const at = (kind: string, socket: string): string => fix[sc.steps.findIndex((s) => s.kind === kind && 'socket' in s && s.socket === socket)]!;
    expect([at('bind', 'solo-spec'), at('bind', 'fax12'), at('bind', 'fax14'), at('bind', 'fax11')]).toEqual(['EADDRINUSE', 'ok', 'ok', 'EADDRINUSE']);
    expect(fix.slice(-5)).toEqual(['any', 'fax12', 'fax13', 'fax14', 'unreachable']);
  });

  it.each(Object.keys(BUILTIN_RULES).filter((p) => { try { policyResolver()(p); return true; } catch { return false; } }))(
    'a custom policy with no changes answers exactly as its base %s (results and reasons)', (base) => {
      const text = scenario(`[{ name: same, extends: ${base}, rules: {} }]`);
      const sc = parseScenario(text, 'x.yaml');
      const resolve = policyResolver(sc.customPolicies);
      const strip = (p: string): unknown => runPolicy(sc, resolve(p)).steps.map((s) => [s.result, s.reason]);
      expect(strip('same')).toEqual(strip(base));
    });

  it('rules given equal to the base change nothing; changed rules are recorded as overrides', () => {
    const text = scenario(`[{ name: c, extends: pajari-1999, rules: { reuseaddr: both, lookup: linux-score, timeWait: 30s } }]`);
    const sc = parseScenario(text, 'x.yaml');
    const p = policyResolver(sc.customPolicies)('c');
    expect(isCustomPolicy(p) && p.rules.lookup).toBe('linux-score');
    expect(p.timeWaitNs).toBe(30e9);
    expect(p.title).toBe('pajari-1999 with lookup: linux-score, timeWait: 30s');
  });

  it('a custom policy may extend another defined before it, and be expected on by name', () => {
    const text = scenario(`[${FIX}, { name: fix2, extends: my-fix, rules: { uidGuard: other-uid-refused } }]`).replace(
      '  - { connect: { from: client, to: "10.0.0.99:8080" } }', '  - { connect: { from: client, to: "10.0.0.99:8080" }, expect: { fix2: unreachable, my-fix: unreachable } }');
    const sc = parseScenario(text, 'x.yaml');
    expect(sc.policies).toEqual(['my-fix', 'fix2']);
    const run = runPolicy(sc, policyResolver(sc.customPolicies)('fix2'));
    expect(run.expectations).toEqual({ passed: 1, failed: 0 });
  });

  it('reuseport on a base without it: the option exists and groups same-uid listeners', () => {
    const text = `name: rp\npolicies: [{ name: rp, extends: linux-1.3.60, rules: { reuseport: same-uid, listenRecheck: true, lookup: linux-score } }]\n${HOSTS}steps:
  - { socket: a, process: multi/fax, options: { SO_REUSEPORT: true }, expect: ok }
  - { bind: a, address: "0.0.0.0:9000", expect: ok }
  - { listen: a, expect: ok }
  - { socket: b, process: multi/fax, options: { SO_REUSEPORT: true } }
  - { bind: b, address: "0.0.0.0:9000", expect: ok }
  - { listen: b, expect: ok }
  - { socket: c, process: multi/other, options: { SO_REUSEPORT: true } }
  - { bind: c, address: "10.0.0.12:9000", expect: EADDRINUSE }
  - { connect: { from: client, to: "10.0.0.12:9000" }, expect: [a, b] }
`;
    const sc = parseScenario(text, 'x.yaml');
    const run = runPolicy(sc, policyResolver(sc.customPolicies)('rp'));
    expect(run.expectations).toEqual({ passed: 7, failed: 0 });
    expect(run.steps[8]!.candidates).toEqual([['a', 'b']]);
    expect(run.steps[7]!.conflict).toMatchObject({ socket: 'a', state: 'LISTEN', uid: 0, options: ['SO_REUSEPORT'] });
  });

  it('--policy-file: a YAML list of custom policies, usable by scenarios that do not define them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bindlab-custom-'));
    writeFileSync(join(dir, 'fix.yaml'), `- name: my-fix\n  extends: linux\n  rules:\n    reuseaddrOverListener: allow-if-multihomed-n-1\n`);
    writeFileSync(join(dir, 's.yaml'), scenario('[pajari-1999]').replace('steps:', 'steps:\n  - { socket: z, process: solo/inetd, expect: { my-fix: ok } }'));
    const customs = loadPolicyFile(join(dir, 'fix.yaml'));
    expect(customs.map((c) => [c.name, c.extends, c.rules])).toEqual([['my-fix', 'linux', { reuseaddrOverListener: 'allow-if-multihomed-n-1' }]]);
    const sc = loadScenarioFile(join(dir, 's.yaml'), { customPolicies: customs });
    const run = runPolicy(sc, policyResolver(sc.customPolicies)('my-fix'));
    expect(run.expectations).toEqual({ passed: 1, failed: 0 });
    expect(run.steps.slice(1).map((s) => s.result)).toEqual(results(scenario(`[${FIX}]`), 'pajari-1999'));
  });

  const errorOf = (text: string): string => {
    try { parseScenario(text, 'x.yaml'); } catch (e) { if (e instanceof ScenarioError) return e.message; throw e; }
    return 'no error';
  };
  // Each row: the policies entry, the token the error points at, the message ("@" is that token's column).
  it.each([
    ['unknown rule name', '[{ name: f, extends: linux, rules: { reuseadr: both } }]', 'reuseadr',
      'unknown key "reuseadr" in rules; expected one of: reuseaddr, reuseaddrOverListener, sameAddress, reuseport, uidGuard, listenRecheck, lookup, boundOnlySyn, privilegedPorts, timeWait'],
    ['unknown choice', '[{ name: f, extends: linux, rules: { reuseaddr: maybe } }]', 'maybe',
      'policies[0].rules.reuseaddr: expected one of both, newcomer, none, got string "maybe"'],
    ['listenRecheck not a boolean', '[{ name: f, extends: linux, rules: { listenRecheck: yes please } }]', 'yes please',
      'policies[0].rules.listenRecheck: expected a boolean, got string "yes please"'],
    ['timeWait not a duration', '[{ name: f, extends: linux, rules: { timeWait: soon } }]', 'soon',
      'timeWait "soon" is not a duration such as 250ns, 100us, 500ms, 61s, 4m or 1h'],
    ['unknown base', '[{ name: f, extends: solaris, rules: {} }]', 'solaris',
      'extends "solaris" is not a known policy; known policies: '],
    ['base without a rule description', '[{ name: f, extends: windows, rules: {} }]', 'windows',
      'policy "windows" has no rule description and cannot be extended; extendable: linux-1.3.60, pajari-1999, linux-2.2, linux, bsd44, freebsd, macos'],
    ['a built-in name', '[{ name: linux, extends: linux, rules: {} }]', 'linux',
      'custom policy name "linux" is a built-in policy\'s; choose another name'],
    ['missing rules', '[{ name: f, extends: linux }]', '{', 'missing required key "rules" in custom policy'],
    ['neither name nor object', '[42]', '42', 'policies[0]: expected a policy name or a custom policy {name, extends, rules}, got number 42'],
  ])('%s: file:line:col', (_name, policies, token, message) => {
    const want = `x.yaml:3:${11 + policies.indexOf(token)}: ${message}`;
    const got = errorOf(scenario(policies));
    // The list of known policies grows as policies are added: compare up to it.
    if (message.endsWith('known policies: ')) expect(got.slice(0, want.length)).toBe(want);
    else expect(got).toBe(want);
  });

  it('policy file errors name the policy file, line and column', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bindlab-custom-'));
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, '- name: a\n  extends: linux\n  rules:\n    lookup: linux-score\n- name: b\n  extends: a\n  rules:\n    uidGaurd: none\n');
    expect(() => loadPolicyFile(f)).toThrow(`${f}:8:5: unknown key "uidGaurd" in rules; expected one of: reuseaddr,`);
    writeFileSync(f, 'name: a\n');
    expect(() => loadPolicyFile(f)).toThrow(`${f}:1:1: a policy file is a list of custom policies {name, extends, rules}`);
  });

  it('the JSON Schema accepts custom policy objects and rejects unknown rules and choices', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(scenarioJsonSchema());
    const doc = (rules: object): object => ({ name: 'x', policies: ['linux', { name: 'f', extends: 'linux', rules }], hosts: { h: { interfaces: { eth0: { addresses: ['10.0.0.1/24'] } } } }, steps: [{ socket: 's', process: 'h/p' }] });
    expect(validate(doc({ reuseaddr: 'newcomer', listenRecheck: false, timeWait: '30s' }))).toBe(true);
    expect(validate(doc({ reuseadr: 'both' }))).toBe(false);
    expect(validate(doc({ reuseaddr: 'maybe' }))).toBe(false);
  });
});
