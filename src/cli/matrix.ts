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
      return `socket ${step.socket} ${step.host}/${step.process}${step.family === 'inet6' ? ' inet6' : ''}${step.type === 'udp' ? ' udp' : ''}${opts.length ? ` ${opts.join(',')}` : ''}`;
    }
    case 'setsockopt':
      return `setsockopt ${step.socket} ${Object.entries(step.options).map(([k, v]) => (v === true ? k : `${k}=${v}`)).join(',')}`;
    case 'bind': return `bind ${step.socket} ${formatEndpoint(step.address)}`;
    case 'listen': return `listen ${step.socket}`;
    case 'close': return `close ${step.socket}`;
    case 'connect': {
      const from = step.fromProcess ? `${step.from}/${step.fromProcess}` : step.from;
      // The source the client binds first, as given: several connects may differ only in it.
      const source = step.source ? ` from ${step.source.port ? formatEndpoint({ addr: step.source.addr, port: step.source.port }) : step.source.addr.family === 6 ? `[${step.source.addr.text}]` : step.source.addr.text}` : '';
      return `connect ${from}${source} -> ${formatEndpoint(step.to)}${step.count > 1 ? ` x${step.count}` : ''}${step.close !== 'client' ? ` (close: ${step.close})` : ''}`;
    }
    case 'wait': return `wait ${formatDuration(step.durationNs)}`;
    case 'address': return `address ${step.host}/${step.interface} ${step.add ? `+${step.add.text}` : `-${step.del!.text}`}`;
    case 'udp-connect': return `connect ${step.socket} -> ${formatEndpoint(step.to)}`;
    case 'join':
    case 'leave': return `${step.kind} ${step.socket} ${step.group.text}${step.interface ? ` on ${step.interface}` : ''}`;
    case 'datagram': {
      const from = step.socket ?? (step.fromProcess ? `${step.from}/${step.fromProcess}` : step.from!);
      const source = step.source ? ` from ${step.source.port ? formatEndpoint({ addr: step.source.addr, port: step.source.port }) : step.source.addr.family === 6 ? `[${step.source.addr.text}]` : step.source.addr.text}` : '';
      return `datagram ${from}${source} -> ${formatEndpoint(step.to)}${step.count > 1 ? ` x${step.count}` : ''}${step.reply ? ' (reply)' : ''}`;
    }
  }
}

export function formatDuration(ns: number): string {
  if (ns % 60e9 === 0) return `${ns / 60e9}m`;
  if (ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

/** The widest the step column gets on a terminal (without a width, labels are never wrapped). */
const MAX_LABEL = 52;
/** The narrowest the step column gets on a narrow terminal before the policy columns go into blocks. */
const MIN_LABEL = 28;

/**
 * Renders the matrix of one scenario's report. Policies whose every cell is the same share one
 * column, their names stacked in the header (nine policies usually make three to five columns);
 * a step's label longer than its column continues on the next line.
 */
/** The largest f(x) of the items, at least `floor`. */
function maxOf<T>(items: readonly T[], f: (x: T) => number, floor: number): number {
  let m = floor;
  for (const x of items) m = Math.max(m, f(x));
  return m;
}

export function renderMatrix(scenario: Scenario, report: ScenarioReport, style: MatrixStyle): string {
  const policies = Object.keys(report.policies);
  const runs = policies.map((p) => report.policies[p]!);
  const cellsOf = runs.map((r) => scenario.steps.map((step) => {
    const s = r.steps[step.index]!;
    const all = s.results && s.results.length > 1 ? summarize(s.results) : s.result;
    return s.passed === false ? `${all} ✗ want ${s.expected!.join('|')}` : all;
  }));
  // One column per distinct behaviour, in the order of its first policy.
  const groups: { names: string[]; cells: string[]; failed: boolean[] }[] = [];
  runs.forEach((r, i) => {
    const cells = cellsOf[i]!;
    const key = cells.join('\u0000');
    const same = groups.find((g) => g.cells.join('\u0000') === key);
    if (same) same.names.push(policies[i]!);
    else groups.push({ names: [policies[i]!], cells, failed: scenario.steps.map((st) => r.steps[st.index]!.passed === false) });
  });
  const headerLines = Math.max(1, ...groups.map((g) => g.names.length));
  const headers: string[][] = Array.from({ length: headerLines }, (_, l) => [l === 0 ? '' : '', l === 0 ? '#' : '', l === 0 ? 'step' : '', ...groups.map((g) => g.names[l] ?? '')]);
  const labels = scenario.steps.map(stepLabel);
  const marks = scenario.steps.map((step) => ({
    diverges: new Set(runs.map((r) => JSON.stringify(r.steps[step.index]!.results ?? r.steps[step.index]!.result))).size > 1,
  }));
  // Loops, not Math.max(...rows): 150,000 arguments (a step each) overflow the call stack.
  const width = (c: number, rows: readonly (readonly string[])[]): number => maxOf(rows, (r) => textWidth(r[c]!), 0);
  const policyWidths = groups.map((g, i) => maxOf(g.cells, textWidth, width(3 + i, headers)));
  const markWidth = marks.some((m) => m.diverges) ? 1 : 0;
  const indexWidth = maxOf(scenario.steps, (s) => String(s.index).length, 1);
  // The step column: as wide as its longest label up to MAX_LABEL, narrower when the terminal needs it.
  const longest = maxOf(labels, textWidth, 4);
  let labelWidth = longest;
  if (style.width !== undefined) {
    labelWidth = Math.min(longest, MAX_LABEL);
    const rest = markWidth + 2 + indexWidth + 2 + policyWidths.reduce((n, w) => n + w + 2, 0);
    labelWidth = Math.max(MIN_LABEL, Math.min(labelWidth, style.width - rest));
  }
  // Each step as one or more lines: its label wrapped at spaces to labelWidth, the cells on the first line.
  const rows: { cells: string[]; step: number }[] = [];
  scenario.steps.forEach((step, i) => {
    const parts = wrap(labels[i]!, labelWidth);
    parts.forEach((part, l) => rows.push({
      step: i,
      cells: l === 0 ? [marks[i]!.diverges ? '≠' : '', String(step.index), part, ...groups.map((g) => g.cells[i]!)] : ['', '', part, ...groups.map(() => '')],
    }));
  });
  const widths = [markWidth, indexWidth, labelWidth, ...policyWidths];
  const out: string[] = [];
  const title = report.file ? `${report.scenario} (${report.file})` : report.scenario;
  for (const l of style.width ? wrap(title, style.width) : [title]) out.push(paint(style.color, '1', l));
  blocks(widths, style.width).forEach((cols, b) => {
    if (b > 0) out.push('');
    const line = (cells: readonly string[], paintCell?: (c: number, text: string) => string): string =>
      cols.map((c) => {
        const padded = cells[c]! + ' '.repeat(Math.max(0, widths[c]! - textWidth(cells[c]!)));
        return paintCell ? paintCell(c, padded) : padded;
      }).join('  ').trimEnd();
    // As many header lines as this block's longest stack of names.
    const stack = Math.max(1, ...cols.filter((c) => c >= 3).map((c) => groups[c - 3]!.names.length));
    for (const h of headers.slice(0, stack)) out.push(paint(style.color, '1', line(h)));
    for (const r of rows) {
      const m = marks[r.step]!;
      out.push(line(r.cells, (c, text) => {
        if (c >= 3 && r.cells[c] !== '') {
          if (groups[c - 3]!.failed[r.step]) return paint(style.color, '1;31', text);
          if (m.diverges) return paint(style.color, '1;33', text);
        }
        if (c === 0 && m.diverges) return paint(style.color, '1;33', text);
        return text;
      }));
    }
  });
  out.push('');
  for (const p of policies) {
    const r = report.policies[p]!;
    const e = r.expectations;
    const status = e.failed ? paint(style.color, '1;31', `${e.failed} failed`) : paint(style.color, '32', 'all held');
    const checked = e.passed + e.failed === 0 ? 'no expectations' : `expectations ${e.passed} passed, ${status}`;
    const captures = r.outputs && r.outputs.length > 1 ? `; captures ${r.outputs.join(', ')}` : r.output ? `; capture ${r.output}` : '';
    out.push(`${p}: ${checked}${captures}`);
  }
  // Say what the marks mean only where they can appear.
  const legend = [
    ...(runs.length > 1 ? ['≠ policies disagree on this step'] : []),
    ...(groups.some((g) => g.names.length > 1) ? ['policies named in one column agree on every step'] : []),
    ...(runs.some((r) => r.expectations.failed > 0) ? ['✗ expectation failed (want: the expected value)'] : []),
  ];
  out.push(...legend);
  return out.join('\n');
}

/** Splits text at spaces into lines of at most `max` columns (a word longer than that is cut). */
function wrap(text: string, max: number): string[] {
  if (textWidth(text) <= max) return [text];
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    let w = word;
    // Continuation lines are indented by two: a word gets at most max - 2 columns.
    const room = Math.max(1, max - 2);
    while (textWidth(w) > room) {
      if (cur) { lines.push(cur); cur = ''; }
      lines.push(`${lines.length ? '  ' : ''}${[...w].slice(0, room).join('')}`);
      w = [...w].slice(room).join('');
    }
    if (!cur) cur = lines.length ? `  ${w}` : w;
    else if (textWidth(cur) + 1 + textWidth(w) <= max) cur += ` ${w}`;
    else { lines.push(cur); cur = `  ${w}`; }
  }
  if (cur) lines.push(cur);
  return lines;
}

/**
 * The column indices of each block: the three step columns, then as many policy columns as fit
 * in `limit` (at least one per block). One block when there is no limit or everything fits.
 */
function blocks(widths: readonly number[], limit: number | undefined): number[][] {
  const fixed = [0, 1, 2];
  const fixedWidth = widths[0]! + 2 + widths[1]! + 2 + widths[2]!;
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
function textWidth(s: string): number {
  return [...s].length;
}
