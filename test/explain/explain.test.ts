// explain reads the engine's own decision record (issue 15 item 2): for every step of every
// shipped scenario under every policy, what explain says was picked is what the engine picked,
// and the rendered text marks exactly that socket. Plus the cases that contradicted the engine
// before: the windows and illumos pick marked "not eligible", and "ties go to the oldest bind".

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderExplanation } from '../../src/cli/commands/explain.js';
import { stepLabel } from '../../src/cli/matrix.js';
import { runPolicy } from '../../src/emu/engine.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { getPolicy } from '../../src/emu/policy/index.js';
import { RULE_SPECS } from '../../src/emu/policy/rules.js';
import { acceptedBy, explainStep } from '../../src/explain/explain.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const DIR = join(import.meta.dirname, '../../scenarios');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

describe('explain agrees with the engine by construction', () => {
  it.each(FILES)('%s: every step under every policy', (f) => {
    const sc = loadScenarioFile(join(DIR, f));
    for (const name of BUILTIN_POLICIES) {
      const engine = runPolicy(sc, getPolicy(name));
      for (const step of sc.steps) {
        const e = explainStep(sc, getPolicy(name), step.index);
        const want = engine.steps[step.index]!;
        const where = `${f} step ${step.index} under ${name}`;
        expect(e.step.result, where).toBe(want.result);
        if (step.kind === 'connect') {
          const results = want.results ?? [want.result];
          expect(e.decisions.map((d) => d.result), where).toEqual(results);
          e.decisions.forEach((d, i) => {
            // The socket the record says accepted is the engine's result, and only a result that is a socket has one.
            const accepted = acceptedBy(d);
            expect(accepted ?? d.result, `${where} connection ${i}`).toBe(results[i]);
            expect(d.candidates.filter((c) => c.verdict === 'accepted').length, `${where} connection ${i}`).toBe(accepted ? 1 : 0);
            // The SO_REUSEPORT group the engine picked from is the record's accepted plus group members.
            const group = d.candidates.filter((c) => c.verdict === 'accepted' || c.verdict === 'group').map((c) => c.socket).sort();
            if (accepted) expect(group, `${where} connection ${i}`).toEqual([...want.candidates![i]!].sort());
          });
          // The text marks exactly the engine's pick of the first connection with "->".
          const text = renderExplanation(stepLabel(step), e);
          const marked = [...text.matchAll(/^ {2}-> \S+?\/\S+?\/(\S+) /gm)].map((m) => m[1]);
          if (results[0] !== undefined && e.decisions[0] && acceptedBy(e.decisions[0])) expect(marked[0], where).toBe(results[0]);
          expect(text, where).not.toMatch(/not eligible; address matches/);
        } else if (step.kind === 'bind' || step.kind === 'listen') {
          expect(e.decisions, where).toHaveLength(1);
          const d = e.decisions[0]!;
          expect(d.result, where).toBe(want.result);
          const conflict = d.candidates.find((c) => c.verdict === 'conflict');
          if (want.conflict) expect(conflict && { ...conflict, verdict: undefined, notes: undefined }, where).toEqual({ ...want.conflict, verdict: undefined, notes: undefined });
          else expect(conflict, where).toBeUndefined();
          if (want.result === 'ok') expect(d.candidates.every((c) => c.verdict === 'coexists'), where).toBe(true);
        }
      }
    }
  }, 300_000);
});

describe('the cases that contradicted the engine', () => {
  const sc = loadScenarioFile(join(DIR, 'pajari-1999.yaml'));

  it.each(['windows', 'illumos', 'pajari-1999', 'bsd44', 'linux'])('pajari-1999 step 21 under %s: the chosen socket is marked chosen, never "not eligible"', (name) => {
    const e = explainStep(sc, getPolicy(name), 21);
    const text = renderExplanation(stepLabel(sc.steps[21]!), e);
    expect(text).toMatch(new RegExp(`^ {2}-> multi/\\w+/${e.step.result} .*: got the connection`, 'm'));
    expect(text).not.toContain('not eligible');
  });

  it('pajari-1999 (2.0 get_sock): the tie rule said is the tie rule applied, newest bind first', () => {
    expect(RULE_SPECS.find((r) => r.name === 'lookup')!.choices!['most-specific']!.means).toMatch(/ties go to the newest bind/);
    expect(JSON.stringify(RULE_SPECS)).not.toMatch(/ties go to the oldest bind/);
    const text = renderExplanation(stepLabel(sc.steps[21]!), explainStep(sc, getPolicy('pajari-1999'), 21));
    expect(text).not.toMatch(/oldest/);
    expect(text).toMatch(/multi\/inetd\/any .*: not picked; score 0 \(wildcard\), below the best match's 1/);
  });
});

describe('explain shows which way a connection went (routes and routers)', () => {
  const sc = loadScenarioFile(join(DIR, 'asymmetric-return.yaml'));
  const router = loadScenarioFile(join(DIR, 'router.yaml'));
  it.each([
    [sc, 15, 'path: client routes 10.1.0.1 by default via 10.2.0.254 dev eth0; the SYN: client → router (eth2) → plain (eth1); the answer, by default via 10.0.0.254 dev eth0: plain → router (eth0) → client (eth0)'],
    // A connect that times out: where the SYN stopped, and why (the rule).
    [sc, 18, 'path: client routes 10.1.0.3 by default via 10.2.0.254 dev eth0; the SYN: client → router (eth2) → strict (eth1), and no further'],
    [router, 14, 'path: client routes 10.2.0.1 by 10.2.0.0/16 via 10.1.0.253 dev eth0; the SYN: client → host (eth0), and no further'],
    [router, 9, 'path: client routes 10.9.0.1 by default via 10.1.0.254 dev eth0; the SYN: client → router (eth1), and no further'],
  ] as const)('%#: step %i', (scenario, step, line) => {
    const text = renderExplanation(stepLabel(scenario.steps[step]!), explainStep(scenario, getPolicy('linux'), step));
    expect(text.split('\n')).toContain(`  ${line}`);
  });
});
