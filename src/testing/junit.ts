// JUnit XML for CI systems (the Apache Ant format that Jenkins, GitLab and GitHub reporters read;
// test/testing/fixtures/junit.xsd is its schema). One <testsuite> per scenario file; one
// <testcase> per (policy, step with an expectation), plus one per golden capture; a file that did
// not load is one <testcase> with an <error>.

import { hostname } from 'node:os';
import type { ScenarioOutcome, StepFailure, TestSummary } from './suite.js';

export interface JUnitOptions {
  /** When the run started; default now. Written without a time zone, as the format wants. */
  readonly timestamp?: Date;
  readonly hostname?: string;
}

// XML 1.0 allows tab, LF, CR and U+0020 up; anything else would make the file unreadable.
const INVALID_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlEscape(s: string): string {
  return s.replace(INVALID_XML, '\uFFFD').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/** One <testcase>: passed, or with a failure (a check that did not hold) or an error (could not run). */
export interface JUnitCase { name: string; classname: string; failure?: { type: string; message: string; body: string }; error?: { type: string; message: string } }
type Case = JUnitCase;

/** One <testsuite>: its cases and properties. */
export interface JUnitSuite {
  readonly name: string;
  readonly timeMs: number;
  readonly properties: readonly (readonly [string, string])[];
  readonly cases: readonly JUnitCase[];
}

/** "step 4 bind (line 22) expected EADDRINUSE, got ok" */
export function describeFailure(f: StepFailure): string {
  return `step ${f.index} ${f.kind} (line ${f.line}) under ${f.policy}: expected ${f.expected.join(' or ')}, got ${f.got.join(', ')}`;
}

function casesOf(o: ScenarioOutcome): Case[] {
  const classBase = o.file.replace(/\.ya?ml$/, '').replace(/[\\/]/g, '.');
  if (o.error) return [{ name: 'load', classname: classBase, error: { type: 'ScenarioError', message: o.error } }];
  const cases: Case[] = [];
  const steps = o.report ? Object.values(o.report.policies) : [];
  for (const run of steps) {
    for (const r of run.steps) {
      if (r.passed === undefined) continue;
      const c: Case = { name: `step ${r.index} ${r.kind} [${run.policy}]`, classname: `${classBase}.${run.policy}` };
      if (!r.passed) {
        const f = o.failures.find((x) => x.policy === run.policy && x.index === r.index);
        const message = f ? describeFailure(f) : `step ${r.index}: expectation failed`;
        c.failure = { type: 'expectation', message, body: message };
      }
      cases.push(c);
    }
  }
  for (const g of o.golden) {
    const c: Case = { name: `golden capture [${g.policy}]`, classname: `${classBase}.${g.policy}` };
    if (g.status === 'different' || g.status === 'missing' || g.status === 'unreadable') {
      const message = g.status !== 'different' ? g.message ?? `no golden capture ${g.golden}` : `${g.golden}: ${g.difference!.message}`;
      c.failure = { type: 'golden', message, body: message };
    }
    cases.push(c);
  }
  return cases;
}

function isoNoZone(d: Date): string {
  return d.toISOString().slice(0, 19);
}

export function renderJUnit(summary: TestSummary, options: JUnitOptions = {}): string {
  const suites: JUnitSuite[] = summary.scenarios.map((o) => ({
    name: o.file, timeMs: o.timeMs, cases: casesOf(o),
    properties: [...(o.name ? [['scenario', o.name] as const] : []), ['policies', o.policies.join(',')] as const],
  }));
  return renderJUnitSuites(suites, summary.timeMs, options);
}

/** JUnit XML of any suites (bindlab test's, bindlab replay --junit's). */
export function renderJUnitSuites(suites: readonly JUnitSuite[], timeMs: number, options: JUnitOptions = {}): string {
  const ts = isoNoZone(options.timestamp ?? new Date());
  const host = xmlEscape(options.hostname ?? (hostname() || 'localhost'));
  const count = (cs: readonly Case[], k: 'failure' | 'error') => cs.filter((c) => c[k]).length;
  const all = suites.flatMap((s) => s.cases);
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  lines.push(`<testsuites name="bindlab" tests="${all.length}" failures="${count(all, 'failure')}" errors="${count(all, 'error')}" time="${seconds(timeMs)}">`);
  suites.forEach(({ name, timeMs: suiteMs, properties, cases }, id) => {
    lines.push(`  <testsuite name="${xmlEscape(name)}" package="bindlab" id="${id}" tests="${cases.length}" failures="${count(cases, 'failure')}" errors="${count(cases, 'error')}" skipped="0" time="${seconds(suiteMs)}" timestamp="${ts}" hostname="${host}">`);
    lines.push('    <properties>');
    for (const [k, v] of properties) lines.push(`      <property name="${xmlEscape(k)}" value="${xmlEscape(v)}"/>`);
    lines.push('    </properties>');
    for (const c of cases) {
      const open = `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(c.classname)}" time="0.000"`;
      if (c.failure) {
        lines.push(`${open}>`, `      <failure type="${c.failure.type}" message="${xmlEscape(c.failure.message)}">${xmlEscape(c.failure.body)}</failure>`, '    </testcase>');
      } else if (c.error) {
        lines.push(`${open}>`, `      <error type="${c.error.type}" message="${xmlEscape(c.error.message)}">${xmlEscape(c.error.message)}</error>`, '    </testcase>');
      } else lines.push(`${open}/>`);
    }
    lines.push('    <system-out/>', '    <system-err/>', '  </testsuite>');
  });
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
