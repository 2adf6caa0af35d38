// The terminal summary of a replay: per policy, connections per listener, refused, dropped; what
// was skipped and why.
import type { ReplayReport } from './replay.js';

const ESC = '\u001b[';
const paint = (on: boolean, code: string, s: string): string => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

export function renderReplaySummary(r: ReplayReport, style: { color: boolean }): string {
  const out: string[] = [];
  out.push(paint(style.color, '1', `${r.capture} under "${r.scenario}"`));
  out.push(`${r.packets} packets, ${r.attempts} connection attempts to scenario hosts, ${r.replaced} server packets replaced`);
  const skipped = Object.entries(r.skipped).filter(([, n]) => n > 0);
  out.push(`skipped: ${skipped.length ? skipped.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`);
  const names = Object.keys(r.policies);
  const results = [...new Set(names.flatMap((p) => Object.keys(r.policies[p]!.results)))]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const header = ['policy', ...results, 'output'];
  const rows = names.map((p) => {
    const pr = r.policies[p]!;
    return [p, ...results.map((k) => String(pr.results[k] ?? 0)), pr.output ?? '-'];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  out.push(paint(style.color, '1', line(header)));
  for (const row of rows) out.push(line(row));
  return out.join('\n');
}

/** Listeners first, then refused, then timeout. */
const rank = (k: string): number => (k === 'refused' ? 1 : k === 'timeout' ? 2 : 0);
