// The terminal matrix of a run: one row per step, one column per policy. Rows where policies
// disagree are marked; failed expectations are marked in their cell. Colour is optional. On a
// terminal narrower than the matrix, the policies are printed in blocks that fit its width, each
// with the step column again (the nine built-in policies take about 170 columns).

import { formatEndpoint } from '../emu/addr.js';
import type { ScenarioReport } from '../runner.js';
import type { Scenario, Step } from '../scenario/types.js';

export interface MatrixStyle {
  readonly color: boolean;
  /** The terminal's width in columns; the policy columns are split into blocks that fit. Default: no limit. */
  readonly width?: number;
}

const ESC = '\u001b[';
const paint = (on: boolean, code: string, s: string): string => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

/** A short description of a step for the matrix's first column. */
export function stepLabel(step: Step): string {
  switch (step.kind) {
    case 'socket': {
      const opts = Object.entries(step.options).filter(([, v]) => v !== false && v !== undefined)
        .map(([k, v]) => (v === true ? k : `${k}=${v}`));
      return `socket ${step.socket} ${step.host}/${step.process}${step.family === 'inet6' ? ' inet6' : ''}${opts.length ? ` ${opts.join(',')}` : ''}`;
    }
    case 'setsockopt':
      return `setsockopt ${step.socket} ${Object.entries(step.options).map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(',')}`;
    case 'bind': return `bind ${step.socket} ${formatEndpoint(step.address)}`;
    case 'listen': return `listen ${step.socket}`;
    case 'close': return `close ${step.socket}`;
    case 'connect': {
      const from = step.fromProcess ? `${step.from}/${step.fromProcess}` : step.from;
      return `connect ${from} -> ${formatEndpoint(step.to)}${step.count > 1 ? ` x${step.count}` : ''}${step.close !== 'client' ? ` (close: ${step.close})` : ''}`;
    }
    case 'wait': return `wait ${formatDuration(step.durationNs)}`;
    case 'address': return `address ${step.host}/${step.interface} ${step.add ? `+${step.add.text}` : `-${step.del!.text}`}`;
  }
}

export function formatDuration(ns: number): string {
  if (ns % 60e9 === 0) return `${ns / 60e9}m`;
  if (ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

const MAX_LABEL = 52;

/** Renders the matrix of one scenario's report. */
export function renderMatrix(scenario: Scenario, report: ScenarioReport, style: MatrixStyle): string {
  const policies = Object.keys(report.policies);
  const runs = policies.map((p) => report.policies[p]!);
  const header = ['', '#', 'step', ...policies];
  const rows: string[][] = [];
  const marks: { diverges: boolean; failed: boolean[] }[] = [];
  for (const step of scenario.steps) {
    const cells = runs.map((r) => {
      const s = r.steps[step.index]!;
      const all = s.results && s.results.length > 1 ? summarize(s.results) : s.result;
      return s.passed === false ? `${all} ✗ want ${s.expected!.join('|')}` : all;
    });
    const values = runs.map((r) => JSON.stringify(r.steps[step.index]!.results ?? r.steps[step.index]!.result));
    const diverges = new Set(values).size > 1;
    const failed = runs.map((r) => r.steps[step.index]!.passed === false);
    let label = stepLabel(step);
    if (label.length > MAX_LABEL) label = `${label.slice(0, MAX_LABEL - 1)}…`;
    rows.push([diverges ? '≠' : '', String(step.index), label, ...cells]);
    marks.push({ diverges, failed });
  }
  const widths = header.map((h, c) => Math.max(width(h), ...rows.map((r) => width(r[c]!))));
  const out: string[] = [];
  out.push(paint(style.color, '1', report.scenario));
  blocks(widths, style.width).forEach((cols, b) => {
    if (b > 0) out.push('');
    const line = (cells: readonly string[], paintCell?: (c: number, text: string) => string): string =>
      cols.map((c) => {
        const padded = cells[c]! + ' '.repeat(widths[c]! - width(cells[c]!));
        return paintCell ? paintCell(c, padded) : padded;
      }).join('  ').trimEnd();
    out.push(paint(style.color, '1', line(header)));
    rows.forEach((r, i) => {
      const m = marks[i]!;
      out.push(line(r, (c, text) => {
        if (c >= 3) {
          if (m.failed[c - 3]) return paint(style.color, '1;31', text);
          if (m.diverges) return paint(style.color, '1;33', text);
        }
        if (c === 0 && m.diverges) return paint(style.color, '1;33', text);
        return text;
      }));
    });
  });
  out.push('');
  for (const p of policies) {
    const r = report.policies[p]!;
    const e = r.expectations;
    const status = e.failed ? paint(style.color, '1;31', `${e.failed} failed`) : paint(style.color, '32', 'all held');
    out.push(`${p}: expectations ${e.passed} passed, ${status}${r.output ? `; capture ${r.output}` : ''}`);
  }
  out.push('≠ policies disagree on this step;  ✗ expectation failed (want: the expected value)');
  return out.join('\n');
}

/**
 * The column indices of each block: the three step columns, then as many policy columns as fit
 * in `limit` (at least one per block). One block when there is no limit or everything fits.
 */
function blocks(widths: readonly number[], limit: number | undefined): number[][] {
  const fixed = [0, 1, 2];
  const fixedWidth = widths[0]! + widths[1]! + widths[2]! + 4;
  const all: number[][] = [];
  let cur: number[] = [];
  let used = fixedWidth;
  for (let c = 3; c < widths.length; c++) {
    const w = 2 + widths[c]!;
    if (limit !== undefined && cur.length > 0 && used + w > limit) {
      all.push([...fixed, ...cur]);
      cur = [];
      used = fixedWidth;
    }
    cur.push(c);
    used += w;
  }
  all.push([...fixed, ...cur]);
  return all;
}

/** "web x3, api x2" for the results of a connect step with count > 1. */
function summarize(results: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} x${n}`).join(', ');
}

/** Display width: code points (the matrix uses no wide characters). */
function width(s: string): number {
  return [...s].length;
}
