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

/** server: eth0 (10.0.0.1, 10.0.0.2, fd00::1) on lan, eth1 (10.0.1.1) on lan2; client likewise. */
export const TWO_LINK_HOSTS = `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, fd00::1/64] }
      eth1: { addresses: [10.0.1.1/24], link: lan2 }
    processes: { root: { uid: 0 }, a: { uid: 1000 }, a2: { uid: 1000 }, b: { uid: 1001 } }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
      eth1: { addresses: [10.0.1.100/24], link: lan2 }`;
export const TWO_LINKS = 'links: { lan: { latency: 100us }, lan2: { latency: 100us } }';

/** solo: one address (n = 1); duo: n = 2; multi: n = 4; all on one link with the client. */
const PROCS = 'processes: { root: { uid: 0 }, a: { uid: 1000 }, b: { uid: 1001 } }';
export const N_ADDRESS_HOSTS = `
  solo:
    interfaces: { eth0: { addresses: [10.0.0.1/24] } }
    ${PROCS}
  duo:
    interfaces: { eth0: { addresses: [10.0.0.21/24, 10.0.0.22/24] } }
    ${PROCS}
  multi:
    interfaces: { eth0: { addresses: [10.0.0.11/24, 10.0.0.12/24, 10.0.0.13/24, 10.0.0.14/24] } }
    ${PROCS}
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24] } }`;

/** A scenario text: the hosts, optional top-level lines (links), and the steps. */
export function caseText(policy: string, hosts: string, steps: readonly string[], opts: { seed?: number; top?: string } = {}): string {
  return `name: ${policy} policy case\nseed: ${opts.seed ?? 5}\n${opts.top ? `${opts.top}\n` : ''}hosts:${hosts}\nsteps:\n${steps.map((s) => `  ${s}`).join('\n')}\n`;
}

/** Sockets of the host `server` (process root unless named). */
export const sock = (name: string, proc = 'root', opts = ''): string => `- { socket: ${name}, process: server/${proc}${opts ? `, ${opts}` : ''} }`;
export const sock6 = (name: string, opts = ''): string => `- { socket: ${name}, process: server/root, family: inet6${opts ? `, ${opts}` : ''} }`;
export const listening = (name: string, addr: string, proc = 'root', opts = ''): string[] => [sock(name, proc, opts), bind(name, addr), listen(name)];

/** Sockets anywhere: `where` is HOST/PROC ("multi/a"); listeners set SO_REUSEADDR unless told. */
export const sockAt = (name: string, where: string, opts = ''): string => `- { socket: ${name}, process: ${where}${opts ? `, ${opts}` : ''} }`;
export const listeningAt = (name: string, where: string, addr: string, opts = RA): string[] => [sockAt(name, where, opts), bind(name, addr), listen(name)];
