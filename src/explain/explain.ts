// Why a step came out as it did under one policy. Nothing here decides anything: the scenario is
// run by the engine with its decision record switched on (RunOptions.onDecision), and the records
// of the step (the sockets the bind, listen or lookup looked at, how each was treated, the rule
// that fired and its outcome) are what explain shows. Explain cannot tell another story than the
// engine, because it has no story of its own.

import { runPolicy } from '../emu/engine.js';
import { isCustomPolicy } from '../emu/policy/custom.js';
import { builtinRules, type RuleSet } from '../emu/policy/rules.js';
import type { Policy } from '../emu/policy/types.js';
import type { ConflictInfo, DecisionRecord, StepResult } from '../emu/results.js';
import type { Scenario } from '../scenario/types.js';

export interface Explanation {
  readonly policy: string;
  readonly step: StepResult;
  readonly conflict?: ConflictInfo;
  /** The lookup family of the policy's rule set, when it is described in the rule vocabulary. */
  readonly lookup: RuleSet['lookup'] | null;
  /** The engine's records for the step: one for a bind or listen, one per connection of a connect step. */
  readonly decisions: readonly DecisionRecord[];
}

/** The rule set a policy's lookup follows, if it is described. */
export function rulesOf(p: Policy): RuleSet | undefined {
  return isCustomPolicy(p) ? p.rules : builtinRules(p.name)?.rules;
}

/** Explains step `index` (0-based, as in the JSON report) of the scenario under the policy. */
export function explainStep(scenario: Scenario, policy: Policy, index: number): Explanation {
  if (!scenario.steps[index]) throw new RangeError(`step ${index} does not exist; the scenario has steps 0..${scenario.steps.length - 1}`);
  const decisions: DecisionRecord[] = [];
  // Only the steps up to this one run: later steps cannot change it.
  const run = runPolicy({ ...scenario, steps: scenario.steps.slice(0, index + 1) }, policy, {
    onDecision: (r) => { if (r.step === index) decisions.push(r); },
  });
  const result = run.steps[index]!;
  return { policy: policy.name, step: result, ...(result.conflict ? { conflict: result.conflict } : {}), lookup: rulesOf(policy)?.lookup ?? null, decisions };
}

/** The socket that got connection `i` of the step according to its record (null: refused, dropped, unreachable...). */
export function acceptedBy(d: DecisionRecord): string | null {
  return d.candidates.find((c) => c.verdict === 'accepted')?.socket ?? null;
}
