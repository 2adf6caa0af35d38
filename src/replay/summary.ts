// The terminal summary of a replay: per policy, connections per listener, refused, dropped, and
// how many agree with what the capture shows (the disagreeing ones listed, a few per policy);
// what was skipped and why.
import type { ReplayReport } from './replay.js';

const ESC = '\u001b[';
const paint = (on: boolean, code: string, s: string): string => (on ? `${ESC}${code}m${s}${ESC}0m` : s);

export function renderReplaySummary(r: ReplayReport, style: { color: boolean }): string {
  const out: string[] = [];
  out.push(paint(style.color, '1', `${r.capture} under "${r.scenario}"`));
  out.push(`${r.packets} packets, ${r.attempts} connection attempts${r.datagrams > 0 ? `, ${r.datagrams} UDP datagrams` : ''} to scenario hosts, ${r.replaced} server packets replaced`);
  const skipped = Object.entries(r.skipped).filter(([, n]) => n > 0);
  out.push(`skipped: ${skipped.length ? skipped.map(([k, n]) => `${k} ${n}`).join(', ') : 'none'}`);
  const names = Object.keys(r.policies);
  const results = [...new Set(names.flatMap((p) => Object.keys(r.policies[p]!.results)))]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const header = ['policy', ...results, 'agree with the capture', 'output'];
  const rows = names.map((p) => {
    const pr = r.policies[p]!;
    const a = pr.agreement;
    return [p, ...results.map((k) => String(pr.results[k] ?? 0)), `${a.agree} of ${a.agree + a.disagree}`, pr.output ?? '-'];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  // A capture of datagrams alone gets the datagram table alone.
  if (r.attempts > 0 || r.datagrams === 0) out.push(paint(style.color, '1', line(header)), ...rows.map(line));
  if (r.datagrams > 0) out.push(...datagramTable(r, style));
  const what = r.datagrams === 0 ? 'connections' : r.attempts === 0 ? 'datagrams' : 'connections and datagrams';
  for (const p of names) {
    const a = r.policies[p]!.agreement;
    if (a.disagree === 0) continue;
    out.push(paint(style.color, '31', `${p} disagrees with the capture on ${a.disagree} of ${a.agree + a.disagree} ${what}:`));
    for (const d of a.disagreements.slice(0, SHOWN)) out.push(`  ${d.kind === 'datagram' ? 'datagram ' : ''}#${d.index} ${d.client} -> ${d.server}: ${d.why}`);
    if (a.disagree > SHOWN) out.push(`  ... and ${a.disagree - SHOWN} more (the first ${a.disagreements.length} in --json)`);
  }
  return out.join('\n');
}

/** Per policy: UDP datagrams per result (receiving sockets first), and how many agree with the capture. */
function datagramTable(r: ReplayReport, style: { color: boolean }): string[] {
  const names = Object.keys(r.policies);
  const results = [...new Set(names.flatMap((p) => Object.keys(r.policies[p]!.datagramResults)))]
    .sort((a, b) => datagramRank(a) - datagramRank(b) || a.localeCompare(b));
  const header = ['policy (datagrams)', ...results, ...(r.attempts > 0 ? [] : ['agree with the capture', 'output'])];
  const rows = names.map((p) => {
    const pr = r.policies[p]!;
    const a = pr.agreement;
    return [p, ...results.map((k) => String(pr.datagramResults[k] ?? 0)), ...(r.attempts > 0 ? [] : [`${a.agree} of ${a.agree + a.disagree}`, pr.output ?? '-'])];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [paint(style.color, '1', line(header)), ...rows.map(line)];
}

/** Receivers first, then port-unreachable, dropped, unreachable, unsupported. */
const datagramRank = (k: string): number =>
  (k === 'port-unreachable' ? 1 : k === 'dropped' ? 2 : k === 'unreachable' ? 3 : k === 'unsupported' ? 4 : 0);

/** Disagreeing connections shown per policy. */
const SHOWN = 3;

/** Listeners first, then refused, then timeout. */
const rank = (k: string): number => (k === 'refused' ? 1 : k === 'timeout' ? 2 : k === 'unreachable' ? 3 : 0);
