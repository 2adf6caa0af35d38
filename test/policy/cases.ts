// What the policy tables share: step builders for YAML one-liners and the check that runs a case
// under a policy and compares every expectation written on its steps.

import { expect } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import type { Policy } from '../../src/emu/policy/types.js';
import type { PolicyRun } from '../../src/emu/results.js';
import { parseScenario } from '../../src/scenario/load.js';

export const RA = 'options: { SO_REUSEADDR: true }';
export const RP = 'options: { SO_REUSEPORT: true }';

export const bind = (name: string, addr: string, exp = 'ok'): string => `- { bind: ${name}, address: "${addr}", expect: ${exp} }`;
export const listen = (name: string, exp = 'ok'): string => `- { listen: ${name}, expect: ${exp} }`;
export const close = (name: string): string => `- { close: ${name}, expect: ok }`;
export const connect = (to: string, exp: string, extra = ''): string =>
  `- { connect: { from: client, to: "${to}"${extra ? `, ${extra}` : ''} }, expect: ${exp} }`;

/** The port a bind or listen step took, from its reason ("bound 0.0.0.0:48807: ..."). */
export const portOf = (reason: string | undefined): number => Number(/(?:bound|listening on) [^ ]*:(\d+)/.exec(reason ?? '')?.[1]);

/**
 * Runs a scenario text under the policy and asserts every expectation written on its steps, with
 * the step's reason shown for each one that does not hold.
 */
export function expectSteps(policy: string | Policy, text: string): PolicyRun {
  const name = typeof policy === 'string' ? policy : policy.name;
  const sc = parseScenario(text, 'case.yaml');
  const run = runPolicy(sc, policy);
  const want: string[] = [];
  const got: string[] = [];
  for (const st of sc.steps) {
    const w = st.expect && (st.expect.byPolicy.get(name) ?? st.expect.fallback);
    if (!w) continue;
    const r = run.steps[st.index]!;
    const all = r.results ?? [r.result];
    want.push(`#${st.index} ${st.kind}: ${w.join('|')}`);
    got.push(`#${st.index} ${st.kind}: ${all.every((x) => w.includes(x)) ? w.join('|') : `${all.join(',')} (${r.reason})`}`);
  }
  expect(got).toEqual(want);
  return run;
}
