// A policy as plain data for `bindlab policies`: title, rules in words with citations, sources
// and the points its sources leave open (UNCONFIRMED).

import { isCustomPolicy } from './custom.js';
import { builtinRules, RULE_SPECS, type RuleName, type RuleSet } from './rules.js';
import type { Policy } from './types.js';

export interface RuleLine {
  readonly rule: RuleName;
  readonly value: string;
  readonly means: string;
  readonly source: string;
  /** Custom policies: whether the user changed it from the base. */
  readonly changed?: boolean;
}

export interface PolicyDescription {
  readonly name: string;
  readonly title: string;
  /** Custom policies: the base. */
  readonly extends?: string;
  /** Absent when the policy is not described in the rule vocabulary. */
  readonly rules?: readonly RuleLine[];
  readonly sources: readonly string[];
  readonly unconfirmed: readonly string[];
  readonly timeWaitSeconds: number;
}

function ruleLines(rules: RuleSet, changed?: Partial<RuleSet>): RuleLine[] {
  return RULE_SPECS.map((spec) => {
    const value = String(rules[spec.name]);
    const c = spec.choices?.[value];
    return {
      rule: spec.name, value,
      means: c?.means ?? spec.question,
      source: c?.source ?? '',
      ...(changed ? { changed: spec.name in changed } : {}),
    };
  });
}

export function describePolicy(p: Policy): PolicyDescription {
  const custom = isCustomPolicy(p) ? p : undefined;
  const builtin = builtinRules(custom ? custom.extends : p.name);
  const rules = custom ? ruleLines(custom.rules, custom.overrides) : builtin ? ruleLines(builtin.rules) : undefined;
  const notes = [...(builtin?.notes ?? []), ...p.sources.filter((s) => /UNCONFIRMED/.test(s))];
  return {
    name: p.name, title: p.title,
    ...(custom ? { extends: custom.extends } : {}),
    ...(rules ? { rules } : {}),
    sources: p.sources,
    unconfirmed: [...new Set(notes)],
    timeWaitSeconds: p.timeWaitNs / 1e9,
  };
}

export interface RuleDoc {
  readonly rule: RuleName;
  readonly question: string;
  readonly choices: readonly { readonly value: string; readonly means: string; readonly source: string; readonly usedBy: readonly string[] }[];
  readonly valueHint?: string;
  /** For rules without enumerated choices: each described policy's value. */
  readonly values?: Readonly<Record<string, string>>;
}

/** Every rule and choice, with the described policies (among `names`) that make it. */
export function ruleDocs(names: readonly string[]): RuleDoc[] {
  const described = names.filter((n) => builtinRules(n) !== undefined);
  return RULE_SPECS.map((spec) => ({
    rule: spec.name, question: spec.question,
    choices: Object.entries(spec.choices ?? {}).map(([value, c]) => ({
      value, means: c.means, source: c.source,
      usedBy: described.filter((n) => String(builtinRules(n)!.rules[spec.name]) === value),
    })),
    ...(spec.valueHint ? { valueHint: spec.valueHint, values: Object.fromEntries(described.map((n) => [n, String(builtinRules(n)!.rules[spec.name])])) } : {}),
  }));
}
