// Why a step came out as it did under one policy: the rule that fired, the socket a bind or
// listen conflicted with, or for a connection every candidate socket with its score. The
// candidates are read from the hosts' socket tables just before the step (the scenario run up
// to the step before), then scored the way the policy's lookup family scores them.

import type { IpAddr } from '../emu/addr.js';
import { runPolicy } from '../emu/engine.js';
import { conflictInfo } from '../emu/conflict-info.js';
import { HostState } from '../emu/host.js';
import { v4View } from '../emu/policy/common.js';
import { isCustomPolicy } from '../emu/policy/custom.js';
import { builtinRules, type RuleSet } from '../emu/policy/rules.js';
import type { HostView, Policy, Sock } from '../emu/policy/types.js';
import type { ConflictInfo, StepResult } from '../emu/results.js';
import type { Scenario } from '../scenario/types.js';

export interface Candidate extends ConflictInfo {
  /** The score in the policy's terms (higher wins for linux-score; fewer wildcards win for the others); null: not eligible. */
  readonly score: number | null;
  /** Why it scored so, in words. */
  readonly note: string;
  /** Whether it got the connection. */
  readonly chosen: boolean;
}

export interface LookupExplanation {
  readonly host: string;
  readonly destination: string;
  /** The lookup family the scores are in, or null when the policy has no rule description. */
  readonly lookup: RuleSet['lookup'] | null;
  readonly how: string;
  readonly candidates: readonly Candidate[];
}

export interface Explanation {
  readonly policy: string;
  readonly step: StepResult;
  readonly conflict?: ConflictInfo;
  readonly lookup?: LookupExplanation;
}

/** The rule set a policy's lookup follows, if it is described. */
export function rulesOf(p: Policy): RuleSet | undefined {
  return isCustomPolicy(p) ? p.rules : builtinRules(p.name)?.rules;
}

/** Explains step `index` (0-based, as in the JSON report) of the scenario under the policy. */
export function explainStep(scenario: Scenario, policy: Policy, index: number): Explanation {
  const step = scenario.steps[index];
  if (!step) throw new RangeError(`step ${index} does not exist; the scenario has steps 0..${scenario.steps.length - 1}`);
  // The interface the step's SYNs arrive on, as the engine decided it (a host answers ARP on any
  // of its interfaces for any of its addresses: not always the one that holds the address).
  let ingress: string | undefined;
  const run = runPolicy(scenario, policy, { onIngress: (i, iface) => { if (i === index) ingress ??= iface; } });
  const result = run.steps[index]!;
  const out: Explanation = { policy: policy.name, step: result, ...(result.conflict ? { conflict: result.conflict } : {}) };
  if (step.kind !== 'connect') return out;
  const hosts = hostsBefore(scenario, policy, index);
  const dst = step.to.addr;
  const server = [...hosts.values()].find((h) => h.ifaceOwning(dst) !== undefined);
  const destination = `${dst.family === 6 ? `[${dst.text}]` : dst.text}:${step.to.port}`;
  const rules = rulesOf(policy);
  if (!server) {
    return { ...out, lookup: { host: '(none)', destination, lookup: rules?.lookup ?? null, how: 'no host with a socket owns the address', candidates: [] } };
  }
  return { ...out, lookup: scoreCandidates(server, dst, step.to.port, rules, result, ingress) };
}

/** The hosts (by name) as they are just before step `index`, seen through the policy calls of a run of the steps before it. */
function hostsBefore(scenario: Scenario, policy: Policy, index: number): Map<string, HostState> {
  const hosts = new Map<string, HostState>();
  const seen = (h: HostView): void => { if (h instanceof HostState) hosts.set(h.name, h); };
  const spy: Policy = {
    ...policy,
    setsockopt: (sk, o, v, h) => { seen(h); return policy.setsockopt(sk, o, v, h); },
    bind: (sk, a, p, h) => { seen(h); return policy.bind(sk, a, p, h); },
    listen: (sk, h) => { seen(h); return policy.listen(sk, h); },
    lookup: (syn, l, b, h) => { seen(h); return policy.lookup(syn, l, b, h); },
    listenerOrder: (sk) => policy.listenerOrder(sk),
    reuseportPeer: (sk, l) => policy.reuseportPeer(sk, l),
    groupsReuseport: (sk) => policy.groupsReuseport(sk),
  };
  runPolicy({ ...scenario, steps: scenario.steps.slice(0, index) }, spy);
  return hosts;
}

function scoreCandidates(host: HostState, dst: IpAddr, port: number, rules: RuleSet | undefined, result: StepResult, ingress: string | undefined): LookupExplanation {
  const listeners = host.listeners(port);
  const bound = host.boundOnly(port);
  const destination = `${dst.family === 6 ? `[${dst.text}]` : dst.text}:${port}`;
  const inDevice = ingress ?? host.ifaceOwning(dst)?.name ?? '';
  const dst4 = dst.family === 4 ? v4View({ local: dst } as Sock) : -1;
  const chosen = new Set(result.results ?? [result.result]);
  const cand = (sk: Sock, score: number | null, note: string): Candidate => ({ ...conflictInfo(sk), score, note, chosen: chosen.has(sk.name) && sk.state === 'LISTEN' });
  const match = (sk: Sock): 'exact' | 'wildcard' | null => {
    if (!sk.local) return null;
    if (dst.family === 4) {
      if (sk.ipv6only) return null;
      const a = v4View(sk);
      return a === dst4 ? 'exact' : a === 0 ? 'wildcard' : null;
    }
    if (sk.family !== 'inet6') return null;
    return sk.local.text === dst.text ? 'exact' : sk.local.text === '::' ? 'wildcard' : null;
  };
  const lookup = rules?.lookup ?? null;
  if (lookup === 'linux-score') {
    // compute_score: exact-address listeners in a first pass, wildcard ones in a second; device +1, AF_INET +1 for IPv4
    // [net/ipv4/inet_hashtables.c __inet_lookup_listener, compute_score]
    const candidates = listeners.map((sk) => {
      const m = match(sk);
      if (!m) return cand(sk, null, 'its address does not match');
      if (sk.opts.device && sk.opts.device !== inDevice) return cand(sk, null, `bound to device ${sk.opts.device}, the SYN arrives on ${inDevice}`);
      const score = (sk.opts.device ? 2 : 1) + (dst.family === 4 && sk.family === 'inet' ? 1 : 0);
      const group = sk.group && sk.group.members.length > 1 ? `; SO_REUSEPORT group of ${sk.group.members.length}, one picked by the connection hash` : '';
      return cand(sk, score, `${m === 'exact' ? 'exact-address pass (tried first)' : 'wildcard pass (only if no exact-address listener)'}${sk.opts.device ? ', device-bound' : ''}${group}`);
    });
    return { host: host.name, destination, lookup, how: 'listeners only, in list order; exact-address listeners first, then wildcard ones; within a pass the highest score wins', candidates };
  }
  if (lookup === 'bsd-best-match' || lookup === 'most-specific') {
    const all = [...listeners, ...(rules!.boundOnlySyn === 'invisible' ? [] : bound)];
    const candidates = all.map((sk) => {
      const m = match(sk);
      if (!m) return cand(sk, null, 'its address does not match');
      const listening = sk.state === 'LISTEN' ? '' : `; bound but not listening: a SYN it wins gets ${rules!.boundOnlySyn === 'drop' ? 'dropped' : 'RST'}`;
      return cand(sk, m === 'exact' ? 0 : 1, `${m === 'exact' ? 'exact address: 0 wildcards' : 'wildcard address: 1 wildcard'}${listening}`);
    });
    const how = lookup === 'bsd-best-match'
      ? 'every socket of the port; fewest wildcards wins, ties go to the newest socket [4.4BSD in_pcblookup]'
      : 'every socket of the port; a specific match beats a wildcard one, ties go to the oldest bind [2.0 get_sock]';
    return { host: host.name, destination, lookup, how, candidates };
  }
  const candidates = [...listeners, ...bound].map((sk) => cand(sk, null, match(sk) ? 'address matches' : 'its address does not match'));
  return { host: host.name, destination, lookup: null, how: 'this policy has no rule description: sockets of the port listed without scores', candidates };
}
