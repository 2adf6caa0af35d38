// The HTML page of `bindlab replay --html`: the scenario's hosts, what the capture held, each
// policy's results and how many connections agree with what the capture shows, and the
// connections × policies matrix (≠ where policies disagree; ✗ and the reason where a policy
// disagrees with the capture, ✓ where it agrees), with links to the output captures. No ladders: replay offers no packet hook; its captures have the packets.

import type { Agreement } from '../replay/agreement.js';
import type { ReplayConnection, ReplayDatagram, ReplayReport } from '../replay/replay.js';
import type { Scenario } from '../scenario/types.js';
import { captureHref, renderPage } from './report.js';
import { renderTopology } from './topology.js';
import { html, type Html } from './template.js';

/** Connection rows shown at most; the rest are in the JSON report and the captures. */
export const MAX_REPLAY_ROWS = 500;

/** A policy's result on a connection, marked ✓ or ✗ against the capture with the reason as its title. */
function cell(policy: string, result: string, verdict: Agreement | undefined): Html {
  if (!verdict) return html`<td class="cell" data-policy="${policy}"><span class="r">${result}</span></td>`;
  const mark = verdict.agrees ? '✓' : '✗';
  return html`<td class="${verdict.agrees ? 'cell agree' : 'cell fail'}" data-policy="${policy}" title="${verdict.why}"><span class="r">${result}</span> <span class="${verdict.agrees ? 'ok' : 'x'}" aria-label="${verdict.agrees ? 'agrees with the capture' : 'disagrees with the capture'}">${mark}</span></td>`;
}

/**
 * The UDP datagrams × policies matrix (none when the capture delivered none): the result of each
 * policy (the receiving socket, port-unreachable, dropped...) marked against what the capture shows.
 */
function datagramRows(policies: readonly string[], lists: readonly Iterator<ReplayDatagram>[]): Html | null {
  const rows = [];
  let divergent = 0;
  let n = 0;
  for (;;) {
    const now = lists.map((it) => { const r = it.next(); return r.done ? undefined : r.value; });
    if (now.every((x) => x === undefined)) break;
    const i = n++;
    const results = now.map((d) => d?.result ?? '');
    const div = new Set(results).size > 1;
    if (div) divergent++;
    if (i >= MAX_REPLAY_ROWS) continue;
    const d = now.find((x) => x !== undefined)!;
    const shows = d.observed ? `${d.observed}${d.answeredFrom ? ` (from ${d.answeredFrom})` : ''}` : 'no answer';
    rows.push(html`<tr class="${div ? 'div' : 'same'}"><td class="mk">${div ? html`<span title="policies disagree" aria-label="policies disagree">≠</span>` : null}</td><td class="num">${d.index}</td><th scope="row" class="step">${d.time} ${d.client} → ${d.server}<span class="note">the capture shows: ${shows}</span></th>${now.map((x, k) => cell(policies[k]!, x ? `${x.result}${x.replyFrom ? ` (reply from ${x.replyFrom})` : ''}` : '', x?.agreement))}</tr>`);
  }
  if (n === 0) return null;
  return html`<h2>UDP datagrams</h2>
<p class="legend"><b>${divergent}</b> datagram${divergent === 1 ? '' : 's'} where policies disagree <span class="sw div">≠</span>.${n > MAX_REPLAY_ROWS ? ` Showing the first ${MAX_REPLAY_ROWS} of ${n} datagrams; all are in the JSON report.` : ''}</p>
<div class="scroll"><table class="matrix"><thead><tr><th scope="col" class="mk"><span class="sr">disagreement</span></th><th scope="col" class="num">#</th><th scope="col">datagram</th>${policies.map((p) => html`<th scope="col" class="pol">${p}</th>`)}</tr></thead>
<tbody>${rows}</tbody></table></div>`;
}

/**
 * The page. Each policy's connections come from `connections` (a replay spool read back one at a
 * time) when given, else from the report's lists; only the first MAX_REPLAY_ROWS rows are kept.
 */
export function renderReplayHtml(scenario: Scenario, report: ReplayReport, options: { readonly baseDir: string; readonly command?: string },
  connections?: (policy: string) => Iterable<ReplayConnection>, datagrams?: (policy: string) => Iterable<ReplayDatagram>): string {
  const policies = Object.keys(report.policies);
  const runs = policies.map((p) => report.policies[p]!);
  // Every policy's list in step: the i-th connection of each, as the JSON report's lists are.
  const lists = policies.map((p, k) => (connections ? connections(p) : runs[k]!.connections)[Symbol.iterator]());
  let n = 0;
  let divergent = 0;
  const rows = [];
  for (;;) {
    const now = lists.map((it) => it.next());
    if (now.every((r) => r.done)) break;
    const i = n++;
    const results = now.map((r) => (r.done ? '' : r.value.result));
    const verdicts = now.map((r) => (r.done ? undefined : r.value.agreement));
    const div = new Set(results).size > 1;
    if (div) divergent++;
    if (i >= MAX_REPLAY_ROWS) continue;
    const c = now.find((r) => !r.done)!.value as ReplayConnection;
    rows.push(html`<tr class="${div ? 'div' : 'same'}"><td class="mk">${div ? html`<span title="policies disagree" aria-label="policies disagree">≠</span>` : null}</td><td class="num">${c.index}</td><th scope="row" class="step">${c.time} ${c.client} → ${c.server}${c.observed ? html`<span class="note">the capture shows: ${c.observed}</span>` : null}</th>${results.map((r, k) => cell(policies[k]!, r, verdicts[k]))}</tr>`);
  }
  const shown = Math.min(n, MAX_REPLAY_ROWS);
  const datagramTable = datagramRows(policies, policies.map((p, k) => (datagrams ? datagrams(p) : runs[k]!.datagrams ?? [])[Symbol.iterator]()));
  const skipped = Object.entries(report.skipped).filter(([, v]) => v > 0).map(([k, v]) => `${k}: ${v}`).join(', ');
  // A capture of datagrams alone has no connection table.
  const connectionTable = n === 0 && datagramTable ? null : html`<h2>Connections</h2>
<p class="legend"><span class="sw div">≠</span> policies disagree on the connection; <span class="sw fail">✗</span> the policy disagrees with what the capture shows (✓: agrees; hover for why).${n > shown ? ` Showing the first ${shown} of ${n} connections; all are in the JSON report and the captures.` : ''} The packets are in the captures (no ladder diagrams for replays).
<label class="filter"><input type="checkbox" class="only-div"> only connections where policies disagree</label></p>
<div class="scroll"><table class="matrix"><thead><tr><th scope="col" class="mk"><span class="sr">disagreement</span></th><th scope="col" class="num">#</th><th scope="col">SYN</th>${policies.map((p) => html`<th scope="col" class="pol">${p}</th>`)}</tr></thead>
<tbody>${rows}</tbody></table></div>`;
  const body = html`<section class="scenario" id="s0">
<h1>replay of ${report.capture}</h1>
<p class="meta"><span>scenario <code>${report.file}</code> (${report.scenario})</span> <span>${report.packets} packets</span> <span>${report.attempts} connection attempts</span>${report.datagrams ? html` <span>${report.datagrams} UDP datagrams</span>` : null} <span>${report.replaced} server packets replaced</span>${skipped ? html` <span>skipped ${skipped}</span>` : null}</p>
<ul class="counts" aria-label="summary"><li><b>${divergent}</b> connection${divergent === 1 ? '' : 's'} where policies disagree <span class="sym">≠</span></li>${policies.map((p, k) => {
    const a = runs[k]!.agreement;
    return a ? html`<li class="${a.disagree ? 'bad' : 'good'}">${p} agrees with the capture on <b>${a.agree}</b> of ${a.agree + a.disagree}</li>` : null;
  })}</ul>
<div class="overview"><div class="decisions">
<h2>Results per policy</h2>
<div class="scroll"><table class="matrix"><thead><tr><th scope="col">policy</th><th scope="col">results</th><th scope="col">agree with the capture</th><th scope="col">capture</th></tr></thead><tbody>
${policies.map((p, k) => html`<tr><th scope="row" class="step">${p}</th><td>${Object.entries(runs[k]!.results).map(([r, c]) => `${r} ×${c}`).join(', ')}${Object.keys(runs[k]!.datagramResults ?? {}).length ? `${Object.keys(runs[k]!.results).length ? '; ' : ''}datagrams: ${Object.entries(runs[k]!.datagramResults).map(([r, c]) => `${r} ×${c}`).join(', ')}` : ''}</td><td class="${runs[k]!.agreement?.disagree ? 'cell fail' : 'cell'}">${runs[k]!.agreement ? `${runs[k]!.agreement.agree} of ${runs[k]!.agreement.agree + runs[k]!.agreement.disagree}` : '-'}</td><td>${runs[k]!.output ? html`<a href="${captureHref(options.baseDir, runs[k]!.output!)}" download>${runs[k]!.output!.split(/[\\/]/).pop()}</a>` : 'none'}</td></tr>`)}
</tbody></table></div>
${connectionTable}${datagramTable}</div>
<div class="hosts"><h2>Hosts</h2><div class="scroll">${renderTopology(scenario)}</div></div></div>
</section>`;
  return renderPage(`bindlab replay: ${report.capture}`, body, options.command);
}
