// `bindlab test --update`: writes the current results into a scenario's failing expectations,
// in place. Only the text of the changed expectation values is replaced (found through the yaml
// Document's node ranges); comments, key order, quoting and line folding elsewhere stay byte for
// byte. Passing expectations are never touched, so a SO_REUSEPORT list stays a list.

import { isMap, isScalar, parseDocument, type Node as YamlNode, type Pair, type YAMLMap } from 'yaml';
import type { ScenarioReport } from '../runner.js';
import { policiesFor } from '../runner.js';
import type { StepResult } from '../emu/results.js';
import type { Scenario } from '../scenario/types.js';

export interface ExpectationChange {
  readonly index: number;
  readonly line: number;
  readonly policy: string;
  /** The acceptable results before and after. */
  readonly from: readonly string[];
  readonly to: readonly string[];
}

interface Edit { readonly start: number; readonly end: number; readonly text: string }

type Value = string | readonly string[];

/** What a step's expectation should say for one policy's result. */
export function expectationValue(r: StepResult): Value {
  if (r.kind !== 'connect') return r.result;
  // Every socket that got or could have got a connection: the whole SO_REUSEPORT group.
  const names: string[] = [];
  const add = (n: string) => { if (!names.includes(n)) names.push(n); };
  (r.results ?? [r.result]).forEach((res, i) => {
    add(res);
    for (const c of r.candidates?.[i] ?? []) add(c);
  });
  return names.length === 1 ? names[0]! : names.sort();
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function scalarText(s: string): string {
  return PLAIN.test(s) && !RESERVED.test(s) ? s : JSON.stringify(s);
}

/** A value in flow style: ok, [w1, w2], { linux: ok, default: EADDRINUSE }. */
function render(v: Value): string {
  return typeof v === 'string' ? scalarText(v) : `[${v.map(scalarText).join(', ')}]`;
}

function asList(v: Value): readonly string[] {
  return typeof v === 'string' ? [v] : v;
}

function keyOf(p: Pair): string | undefined {
  return isScalar(p.key) ? String(p.key.value) : undefined;
}

/** Indentation of the line holding offset `at`, when only spaces precede it. */
function indentAt(text: string, at: number): string {
  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const before = text.slice(lineStart, at);
  return /^ *$/.test(before) ? before : '';
}

/** Rewrites the failing expectations of `report` into `text`; returns the new text and what changed. */
export function rewriteExpectations(text: string, scenario: Scenario, report: ScenarioReport): { text: string; changes: ExpectationChange[] } {
  const doc = parseDocument(text, { keepSourceTokens: false });
  const edits: Edit[] = [];
  const changes: ExpectationChange[] = [];
  const filePolicies = policiesFor(scenario);
  const runs = Object.values(report.policies);

  for (const step of scenario.steps) {
    const failing = runs.filter((run) => run.steps[step.index]?.passed === false);
    if (failing.length === 0) continue;
    const node = doc.getIn(['steps', step.index, 'expect'], true) as YamlNode | undefined;
    if (!node?.range) continue;
    const now = new Map(failing.map((run) => [run.policy, expectationValue(run.steps[step.index]!)] as const));
    for (const run of failing) {
      changes.push({ index: step.index, line: step.pos.line, policy: run.policy, from: run.steps[step.index]!.expected ?? [], to: asList(now.get(run.policy)!) });
    }

    if (isMap(node)) {
      const map = node as YAMLMap;
      // A flow map where every policy of the file would now expect the same thing becomes that one value.
      const old = map.toJSON() as Record<string, Value>;
      const after = filePolicies.map((p) => { const v = now.get(p) ?? old[p] ?? old['default']; return v === undefined ? undefined : render(v); });
      if (map.flow && after.every((v) => v !== undefined && v === after[0])) edits.push({ start: node.range[0], end: node.range[1], text: after[0]! });
      else edits.push(...mapEdits(text, map, now));
      continue;
    }
    // One value for every policy: one value again if they still agree, else a map whose default
    // is the commonest value (the old one on a tie).
    const oldValue = render(node.toJSON() as Value);
    const after = new Map(filePolicies.map((p) => [p, now.has(p) ? render(now.get(p)!) : oldValue] as const));
    for (const [p, v] of now) if (!after.has(p)) after.set(p, render(v));
    const tally = new Map<string, number>();
    for (const v of after.values()) tally.set(v, (tally.get(v) ?? 0) + 1);
    const top = Math.max(...tally.values());
    const fallback = (tally.get(oldValue) ?? 0) === top ? oldValue : [...tally].find(([, n]) => n === top)![0];
    const others = [...after].filter(([, v]) => v !== fallback);
    const replacement = others.length === 0 ? fallback : `{ ${others.map(([p, v]) => `${scalarText(p)}: ${v}`).join(', ')}, default: ${fallback} }`;
    edits.push({ start: node.range[0], end: node.range[1], text: replacement });
  }

  edits.sort((a, b) => b.start - a.start);
  let out = text;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return { text: out, changes };
}

/** Edits to a map expectation: replace the value of a policy's own key, else add a key before `default`. */
function mapEdits(text: string, map: YAMLMap, now: ReadonlyMap<string, Value>): Edit[] {
  const edits: Edit[] = [];
  const added: [string, Value][] = [];
  for (const [policy, v] of now) {
    const pair = map.items.find((p) => keyOf(p) === policy);
    const valueNode = pair?.value as YamlNode | undefined;
    if (valueNode?.range) edits.push({ start: valueNode.range[0], end: valueNode.range[1], text: render(v) });
    else added.push([policy, v]);
  }
  if (added.length === 0) return edits;
  const entries = added.map(([p, v]) => `${scalarText(p)}: ${render(v)}`);
  const def = map.items.find((p) => keyOf(p) === 'default');
  const defKey = def?.key as YamlNode | undefined;
  const last = map.items[map.items.length - 1];
  const lastEnd = (last?.value as YamlNode | undefined)?.range?.[1] ?? (last?.key as YamlNode | undefined)?.range?.[1];
  if (map.flow) {
    if (defKey?.range) edits.push({ start: defKey.range[0], end: defKey.range[0], text: entries.map((e) => `${e}, `).join('') });
    else if (lastEnd !== undefined) edits.push({ start: lastEnd, end: lastEnd, text: entries.map((e) => `, ${e}`).join('') });
  } else {
    const first = map.items[0]?.key as YamlNode | undefined;
    const indent = first?.range ? indentAt(text, first.range[0]) : '';
    if (defKey?.range) edits.push({ start: defKey.range[0], end: defKey.range[0], text: entries.map((e) => `${e}\n${indent}`).join('') });
    else if (lastEnd !== undefined) edits.push({ start: lastEnd, end: lastEnd, text: entries.map((e) => `\n${indent}${e}`).join('') });
  }
  return edits;
}
