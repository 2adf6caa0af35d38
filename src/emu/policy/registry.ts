// Resolves policy names for a run: the built-in catalogue plus the scenario's custom policies
// (each built from its base and rule choices, in definition order, so one may extend another).

import type { CustomPolicySpec } from '../../scenario/types.js';
import { customPolicy, isCustomPolicy } from './custom.js';
import { getPolicy } from './index.js';
import { builtinRules } from './rules.js';
import type { Policy } from './types.js';

export type PolicyResolver = (name: string) => Policy;

/** A resolver over the built-in policies and `customs`; unknown names throw as getPolicy does. */
export function policyResolver(customs: readonly CustomPolicySpec[] = []): PolicyResolver {
  const built = new Map<string, Policy>();
  const resolve = (name: string): Policy => {
    const have = built.get(name);
    if (have) return have;
    const spec = customs.find((c) => c.name === name);
    if (!spec) return getPolicy(name);
    const base = resolve(spec.extends);
    const baseRules = isCustomPolicy(base) ? base.rules : builtinRules(base.name)?.rules;
    if (!baseRules) throw new Error(`policy "${spec.extends}" has no rule description and cannot be extended`);
    const p = customPolicy(base, baseRules, spec.rules, spec.name, spec.title);
    built.set(name, p);
    return p;
  };
  return resolve;
}
