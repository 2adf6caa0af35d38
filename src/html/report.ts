// The HTML report of a run: one self-contained page (inline styles, no scripts, nothing fetched)
// made from the same ScenarioReport as `--json` plus each policy's recorded packets. Sections:
// the hosts, the decision matrix (steps × policies; ≠ where policies disagree, ✗ where an
// expectation failed), per policy the ladder diagrams of the first connections and a link to its
// capture, and the explanation of every cell (the rule that fired).

import { posix, relative, sep } from 'node:path';
import { formatEndpoint } from '../emu/addr.js';
import type { StepResult } from '../emu/results.js';
import type { ScenarioReport } from '../runner.js';
import type { ConnectStep, DatagramStep, Scenario } from '../scenario/types.js';
import { count } from '../words.js';
import { stepLabel } from '../cli/matrix.js';
import { renderLadder, type LadderLabels } from './ladder.js';
import type { RecordedConnection, Recording } from './record.js';
import { renderTopology } from './topology.js';
import { html, raw, slug, type Html } from './template.js';

export interface HtmlScenarioRun {
  readonly scenario: Scenario;
  readonly report: ScenarioReport;
  /** Each policy's recorded packets; a policy without one gets no ladders. */
  readonly recordings?: ReadonlyMap<string, Recording>;
}

export interface HtmlReportOptions {
  /** Directory the HTML file is written to: capture links are relative to it. */
  readonly baseDir: string;
  /** The command line, shown at the bottom. */
  readonly command?: string;
}

/** Colours of the page; every text/background pair used is at least 4.5:1 (WCAG AA), see the test. */
export const PALETTE = {
  text: '#1f2328', muted: '#57606a', bg: '#ffffff', panel: '#f6f8fa', line: '#d0d7de', link: '#0550ae',
  divBg: '#fff1c2', divText: '#5c3c00', failBg: '#ffe4e8', failText: '#a0111f', passText: '#116329',
  rst: '#b42318', unanswered: '#8a4b00', data: '#0b4f8a', targetBg: '#ddf4ff',
} as const;

/** Text/background pairs the page uses (for the contrast test). */
export const COLOUR_PAIRS: readonly (readonly [keyof typeof PALETTE, keyof typeof PALETTE])[] = [
  ['text', 'bg'], ['muted', 'bg'], ['text', 'panel'], ['muted', 'panel'], ['link', 'bg'], ['link', 'panel'],
  ['divText', 'divBg'], ['text', 'divBg'], ['passText', 'divBg'], ['failText', 'failBg'], ['passText', 'bg'],
  ['rst', 'bg'], ['unanswered', 'bg'], ['data', 'bg'], ['text', 'targetBg'], ['link', 'targetBg'], ['failText', 'bg'],
];

const CONNECT_OUTCOMES = new Set(['refused', 'unreachable', 'timeout', 'port-unreachable', 'dropped', 'unsupported']);

/** The cell text of a step: its result, or "web x3, api x2" for several connections. */
export function cellText(s: StepResult): string {
  if (!s.results || s.results.length <= 1) return s.result;
  const counts = new Map<string, number>();
  for (const r of s.results) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} x${n}`).join(', ');
}

/** Whether the policies disagree on a step (same comparison as the terminal matrix). */
export function diverges(report: ScenarioReport, index: number): boolean {
  const values = Object.values(report.policies).map((r) => JSON.stringify(r.steps[index]!.results ?? r.steps[index]!.result));
  return new Set(values).size > 1;
}

/** A capture's path as a relative URL from the page's directory. */
export function captureHref(baseDir: string, output: string): string {
  return relative(baseDir, output).split(sep).map(encodeURIComponent).join(posix.sep);
}

/** The conflicting socket, when the engine names one (StepResult.conflict: host, process, socket, state, address, options). */
function conflictOf(s: StepResult): string | undefined {
  const c = (s as { conflict?: unknown }).conflict;
  if (c === undefined || c === null || c === '') return undefined;
  if (typeof c !== 'object') return String(c);
  const o = c as { host?: unknown; process?: unknown; socket?: unknown; state?: unknown; address?: unknown; uid?: unknown; options?: unknown };
  const who = [o.host, o.process, o.socket].filter((x) => x !== undefined).map(String).join('/');
  const opts = Array.isArray(o.options) && o.options.length ? o.options.map(String).join(',') : '';
  const detail = [o.state, o.address, o.uid !== undefined ? `uid ${String(o.uid)}` : undefined, opts || undefined].filter((x) => x !== undefined && x !== null && x !== '').map(String).join(', ');
  return `${who}${detail ? ` (${detail})` : ''}`;
}

export function renderHtmlReport(runs: readonly HtmlScenarioRun[], options: HtmlReportOptions): string {
  const title = runs.length === 1 ? `bindlab: ${runs[0]!.report.scenario}` : `bindlab: ${runs.length} scenarios`;
  const body = runs.map((r, n) => renderScenario(r, n, options));
  const nav = runs.length > 1 ? html`<nav><ol>${runs.map((r, n) => html`<li><a href="#s${n}">${r.report.scenario}</a></li>`)}</ol></nav>` : null;
  return renderPage(title, body, options.command, nav);
}

/** The page around a body: head with the inline style sheet, header, footer. */
export function renderPage(title: string, body: Html | readonly Html[], command?: string, nav: Html | null = null): string {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="bindlab">
<title>${title}</title>
<style>${raw(css())}</style>
</head>
<body>
<header class="top"><p class="brand">bindlab report</p>${nav}</header>
<main>${body}</main>
<footer><p>Made by bindlab${command ? html` (<code>${command}</code>)` : null}. One file: no scripts, nothing fetched. Hover or focus an arrow for its packet and the decision comment written in the capture.</p></footer>
</body>
</html>
`;
  return page.text;
}

function renderScenario(run: HtmlScenarioRun, n: number, options: HtmlReportOptions): Html {
  const { scenario, report } = run;
  const policies = Object.keys(report.policies);
  const runsByPolicy = policies.map((p) => report.policies[p]!);
  const divergent = scenario.steps.filter((s) => diverges(report, s.index)).length;
  const passed = runsByPolicy.reduce((a, r) => a + r.expectations.passed, 0);
  const failed = runsByPolicy.reduce((a, r) => a + r.expectations.failed, 0);
  const id = `s${n}`;
  const whyId = (step: number, p: number): string => `${id}-why-${step}-${p}`;

  const headRow = html`<tr><th scope="col" class="mk"><span class="sr">disagreement</span></th><th scope="col" class="num">#</th><th scope="col">step</th>${policies.map((p, k) => html`<th scope="col" class="pol"><a href="#${id}-p${k}">${p}</a></th>`)}</tr>`;
  const rows = scenario.steps.map((step) => {
    const div = diverges(report, step.index);
    const cells = runsByPolicy.map((r, k) => {
      const s = r.steps[step.index]!;
      const mark = s.passed === false ? html` <span class="x" aria-label="expectation failed">✗ want ${s.expected!.join('|')}</span>`
        : s.passed === true ? html` <span class="ok" aria-label="as expected">✓</span>` : null;
      const cls = s.passed === false ? 'cell fail' : 'cell';
      return html`<td class="${cls}" data-policy="${policies[k]}" data-result="${s.result}"><a href="#${whyId(step.index, k)}" title="${s.reason ?? ''}"><span class="r">${cellText(s)}</span>${mark}</a></td>`;
    });
    return html`<tr class="${div ? 'div' : 'same'}" id="${id}-step-${step.index}"><td class="mk">${div ? html`<span title="policies disagree" aria-label="policies disagree">≠</span>` : null}</td><td class="num">${step.index}</td><th scope="row" class="step">${stepLabel(step)}${step.note ? html`<span class="note">${step.note}</span>` : null}</th>${cells}</tr>`;
  });
  const foot = html`<tr><td class="mk"></td><td class="num"></td><th scope="row">expectations</th>${runsByPolicy.map((r) => html`<td class="${r.expectations.failed ? 'cell fail' : 'cell'}">${r.expectations.passed} ✓${r.expectations.failed ? html` · <span class="x">${r.expectations.failed} ✗</span>` : ' · 0 ✗'}</td>`)}</tr>`;

  const explanations = scenario.steps.map((step) => html`<div class="why" id="${id}-why-${step.index}">
<h4><a href="#${id}-step-${step.index}">#${step.index}</a> ${stepLabel(step)}</h4><dl>${runsByPolicy.map((r, k) => {
    const s = r.steps[step.index]!;
    const conflict = conflictOf(s);
    const verdict = s.passed === false ? html` <span class="x">✗ expected ${s.expected!.join(' or ')}</span>` : s.passed === true ? html` <span class="ok">✓ as expected</span>` : null;
    return html`<div class="reason" id="${whyId(step.index, k)}"><dt>${policies[k]}</dt><dd><b>${cellText(s)}</b>${verdict}${s.reason ? html` — ${s.reason}` : null}${conflict ? html`<br><span class="conflict">conflicting socket: <b>${conflict}</b></span>` : null}</dd></div>`;
  })}</dl></div>`);

  return html`<section class="scenario" id="${id}">
<h1>${report.scenario}</h1>
${report.description ? html`<p class="desc">${report.description}</p>` : null}
<p class="meta"><span>file <code>${report.file}</code></span> <span>seed ${scenario.seed}</span> <span>${count(scenario.steps.length, 'step')}</span> <span>${count(policies.length, 'policy', 'policies')}</span></p>
<ul class="counts" aria-label="summary">
<li><b>${divergent}</b> step${divergent === 1 ? '' : 's'} where policies disagree <span class="sym">≠</span></li>
<li><b>${passed}</b> expectations held <span class="sym ok">✓</span></li>
<li class="${failed ? 'bad' : ''}"><b>${failed}</b> expectation${failed === 1 ? '' : 's'} failed <span class="sym x">✗</span></li>
</ul>
<div class="overview"><div class="decisions">
<h2 id="${id}-matrix">Decisions</h2>
<p class="legend"><span class="sw div">≠</span> policies disagree on the step · <span class="sw fail">✗ want …</span> expectation failed · <span class="ok">✓</span> expectation held · no mark: nothing expected. Each cell links to its explanation.
<label class="filter"><input type="checkbox" class="only-div"> only steps where policies disagree</label></p>
<div class="scroll"><table class="matrix">
<thead>${headRow}</thead>
<tbody>${rows}</tbody>
<tfoot>${foot}</tfoot>
</table></div></div>
<div class="hosts"><h2>Hosts</h2>
<div class="scroll">${renderTopology(scenario)}</div></div></div>
<h2>Connections</h2>
${policies.map((p, k) => renderPolicy(run, p, k, id, options))}
${renderSharedLadders(run, id)}
<h2>Why: the rule behind every cell</h2>
<div class="whys">${explanations}</div>
</section>`;
}

interface Attempt { readonly step: ConnectStep | DatagramStep; readonly k: number; readonly count: number; readonly result: string }

/** Pairs recorded attempts with the report's connections, in order, by destination address and port. */
function pairAttempts(scenario: Scenario, steps: readonly StepResult[], conns: readonly RecordedConnection[]): (Attempt | undefined)[] {
  const entries: Attempt[] = [];
  for (const step of scenario.steps) {
    if (step.kind !== 'connect' && step.kind !== 'datagram') continue;
    const s = steps[step.index]!;
    const results = s.results ?? [s.result];
    // A datagram a send refused (an errno) or a policy without UDP never went out: no attempt to pair it with.
    results.forEach((result, k) => {
      if (step.kind === 'datagram' && (/^E[A-Z0-9]+$/.test(result) || result === 'unsupported')) return;
      entries.push({ step, k, count: results.length, result });
    });
  }
  let j = 0;
  return conns.map((c) => {
    for (let i = j; i < entries.length; i++) {
      const e = entries[i]!;
      const to = e.step.to;
      const addr = to.addr.text.startsWith('::ffff:') && !c.server.includes(':') ? to.addr.text.slice(7) : to.addr.text;
      if (addr === c.server && (c.serverPort === undefined || c.serverPort === to.port)) { j = i + 1; return e; }
    }
    return undefined;
  });
}

/** Who owns a socket name at a step: the latest socket step of that name before it. */
function ownerOf(scenario: Scenario, name: string, before: number): string | undefined {
  let owner: string | undefined;
  for (const s of scenario.steps) {
    if (s.index >= before) break;
    if (s.kind === 'socket' && s.socket === name) owner = `${s.host}/${s.process}`;
  }
  return owner;
}

function hostOwning(scenario: Scenario, addr: string): string | undefined {
  for (const s of scenario.steps) if (s.kind === 'address' && s.add?.addr.text === addr) return s.host;
  return scenario.hosts.find((h) => h.interfaces.some((i) => i.addresses.some((c) => c.addr.text === addr)))?.name;
}

function ep(ip: string, port: number | undefined): string {
  if (port === undefined) return ip;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function labelsFor(scenario: Scenario, policy: string, conn: RecordedConnection, a: Attempt | undefined): LadderLabels {
  const result = a?.result;
  const serverHost = hostOwning(scenario, conn.server) ?? 'nobody';
  const from = a ? (a.step.kind === 'datagram' && a.step.socket !== undefined ? a.step.socket : a.step.fromProcess ? `${a.step.from}/${a.step.fromProcess}` : a.step.from!) : 'client';
  const udp = a?.step.kind === 'datagram';
  const accepted = result !== undefined && !CONNECT_OUTCOMES.has(result) && !/^E[A-Z0-9]+$/.test(result);
  const owner = accepted && !result.includes('+') ? ownerOf(scenario, result, a!.step.index) : undefined;
  const nd = conn.server.includes(':') ? 'neighbour solicitation' : 'ARP';
  const outcome = result === undefined ? 'not matched to a step'
    : udp && accepted ? `received by ${result.split('+').join(' and ')}${owner && !result.includes('+') ? ` (${owner})` : ''}`
    : result === 'port-unreachable' ? `port unreachable: ICMP from ${serverHost}`
    : result === 'dropped' ? 'dropped: nobody takes it, no ICMP'
    : accepted ? `accepted by ${result}${owner ? ` (${owner})` : ''}`
    : result === 'refused' ? `refused: RST from ${serverHost}`
    : result === 'timeout' ? 'timeout: the SYN is dropped, no answer'
    : result === 'unreachable' ? `unreachable: nobody answers ${nd} for ${conn.server}`
    : result;
  const where = a ? `step ${a.step.index}${a.count > 1 ? `, ${a.step.kind === 'datagram' ? 'datagram' : 'connection'} ${a.k + 1} of ${a.count}` : ''}` : `attempt ${conn.ordinal + 1}`;
  return {
    client: [from, ep(conn.client, conn.clientPort)],
    server: [accepted ? `${owner ?? serverHost} ▸ ${result}` : serverHost, ep(conn.server, conn.serverPort)],
    outcome,
    failed: !accepted,
    title: `${policy}, ${where}: ${from} ${ep(conn.client, conn.clientPort)} to ${ep(conn.server, conn.serverPort)}: ${outcome}`,
  };
}

function renderPolicy(run: HtmlScenarioRun, policy: string, k: number, id: string, options: HtmlReportOptions): Html {
  const pr = run.report.policies[policy]!;
  const rec = run.recordings?.get(policy);
  const capture = pr.output
    ? html`capture <a class="cap" href="${captureHref(options.baseDir, pr.output)}" download>${pr.output.split(/[\\/]/).pop()}</a>`
    : html`<span class="muted">no capture written</span>`;
  const e = pr.expectations;
  const shown = !rec ? 'no packets were recorded'
    : rec.attempts > rec.connections.length
      ? `showing the first ${rec.connections.length} of ${rec.attempts} connection attempts (${rec.packets} packets); the rest are in the capture`
      : `${rec.attempts} connection attempt${rec.attempts === 1 ? '' : 's'}, ${rec.packets} packets`;
  return html`<section class="policy" id="${id}-p${k}" data-policy="${slug(policy)}">
<h3>${policy}</h3>
<p class="pmeta"><span class="${e.failed ? 'x' : 'ok'}">${e.passed} expectations held, ${e.failed} failed ${e.failed ? '✗' : '✓'}</span> · ${capture} · ${shown}</p>
</section>`;
}

/** One attempt of one policy, drawn: its pairing with the step, its labels, and what the diagram shows. */
interface PolicyLadder { readonly policy: string; readonly k: number; readonly conn: RecordedConnection; readonly attempt: Attempt | undefined; readonly labels: LadderLabels; readonly shape: string }

/**
 * Every connection attempt once, with the policies that share its ladder: policies whose diagram
 * of an attempt is the same (the packets, their direction and labels, the outcome) share one
 * figure captioned with their names; the hover texts are the first policy's packets. An attempt
 * that failed as its expectation said is drawn apart from a problem (a failed expectation).
 */
function renderSharedLadders(run: HtmlScenarioRun, id: string): Html {
  const policies = Object.keys(run.report.policies);
  const byAttempt = new Map<string, PolicyLadder[]>();
  policies.forEach((policy, k) => {
    const rec = run.recordings?.get(policy);
    if (!rec) return;
    const pr = run.report.policies[policy]!;
    const pairs = pairAttempts(run.scenario, pr.steps, rec.connections);
    rec.connections.forEach((conn, i) => {
      const attempt = pairs[i];
      const step = attempt ? pr.steps[attempt.step.index] : undefined;
      const base = labelsFor(run.scenario, policy, conn, attempt);
      const labels: LadderLabels = { ...base, expected: base.failed && step?.passed === true };
      const shape = JSON.stringify([labels.client, labels.server, labels.outcome, labels.failed, labels.expected,
        conn.packets.map((p) => [p.toServer, p.label, p.kind, p.flags, p.len, p.preview, p.timeNs - (conn.packets[0]?.timeNs ?? 0)])]);
      const key = attempt ? `${attempt.step.index}/${attempt.k}` : `attempt ${conn.ordinal}`;
      let list = byAttempt.get(key);
      if (!list) byAttempt.set(key, (list = []));
      list.push({ policy, k, conn, attempt, labels, shape });
    });
  });
  if (byAttempt.size === 0) return html`<p class="muted">No connection attempts.</p>`;
  const figures: Html[] = [];
  for (const ladders of byAttempt.values()) {
    const groups: PolicyLadder[][] = [];
    for (const l of ladders) {
      const g = groups.find((x) => x[0]!.shape === l.shape);
      if (g) g.push(l); else groups.push([l]);
    }
    for (const g of groups) {
      const first = g[0]!;
      const a = first.attempt;
      const names = g.map((l) => l.policy);
      const step = a ? run.report.policies[first.policy]!.steps[a.step.index] : undefined;
      const cls = step?.passed === false ? 'bad' : !first.labels.failed ? 'good' : first.labels.expected ? 'expected' : 'refusal';
      const where = a ? html`<a href="#${id}-why-${a.step.index}-${first.k}">step #${a.step.index}</a>${a.count > 1 ? ` (${a.k + 1}/${a.count})` : ''} · ${stepLabel(a.step)}` : html`attempt ${first.conn.ordinal + 1}`;
      const labels: LadderLabels = { ...first.labels, title: first.labels.title.replace(first.policy, names.join(', ')) };
      figures.push(html`<figure class="conn ${cls}" data-policies="${names.join(' ')}"><figcaption>${where}<br><span class="pols">${names.length === policies.length ? 'every policy' : names.join(', ')}</span></figcaption>${renderLadder(first.conn, labels)}</figure>`);
    }
  }
  return html`<p class="legend"><span class="sw good">✓</span> accepted · <span class="sw expected">○</span> refused, dropped or unreachable as the scenario expected · <span class="sw refusal">✗</span> refused, dropped or unreachable, nothing expected · <span class="sw bad">✗</span> an expectation failed. Policies that draw an attempt alike share its diagram.</p>
<div class="ladders">${figures}</div>`;
}

function css(): string {
  const c = PALETTE;
  return `
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:${c.text};background:${c.bg}}
header.top{background:${c.text};color:#fff;padding:8px 24px}
header.top .brand{margin:0;font-weight:600;letter-spacing:.02em}
header.top a{color:#fff}
main{padding:8px 24px 24px;max-width:1500px}
h1{font-size:22px;margin:14px 0 4px}
h2{font-size:17px;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid ${c.line}}
h3{font-size:15px;margin:18px 0 2px}
h4{font-size:13px;margin:10px 0 4px}
a{color:${c.link}}
code{font:12.5px ui-monospace,"DejaVu Sans Mono",Menlo,monospace}
.desc{max-width:95ch;margin:4px 0}
.meta span{margin-right:14px;color:${c.muted}}
.muted{color:${c.muted}}
.counts{display:flex;gap:10px;list-style:none;padding:0;margin:10px 0;flex-wrap:wrap}
.counts li{background:${c.panel};border:1px solid ${c.line};border-radius:6px;padding:5px 12px}
.counts li.bad{background:${c.failBg};color:${c.failText};border-color:${c.failText}}
.sym{font-weight:700;margin-left:4px}
.scroll{overflow-x:auto}
.overview{display:flex;flex-wrap:wrap;gap:0 36px;align-items:flex-start}
.overview>div{min-width:0;max-width:100%}
.overview>.hosts{flex:1 1 420px}
.hosts svg{max-width:100%;height:auto}
.legend{max-width:80ch}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
.topology .host rect{fill:${c.panel};stroke:#8c959f}
.topology .hn{font-weight:700;font-size:14px;fill:${c.text}}
.topology text{font-size:12px;fill:${c.text}}
.topology .addr{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:11.5px}
.topology .alias{fill:${c.muted}}
.topology .if{font-weight:600}
.topology .bus{stroke:${c.text};stroke-width:3}
.topology .drop{stroke:#8c959f;stroke-width:1.5}
.topology .tap{fill:${c.text}}
.topology .busname{font-size:11px;fill:${c.muted}}
.legend{color:${c.text};font-size:13px}
.sw{display:inline-block;padding:0 5px;border-radius:3px}
.sw.div{background:${c.divBg};color:${c.divText};font-weight:700}
.sw.fail{background:${c.failBg};color:${c.failText};font-weight:700}
.filter{margin-left:14px;white-space:nowrap}
body:has(.only-div:checked) .matrix tbody tr.same{display:none}
.matrix{border-collapse:collapse;font-size:13px}
.matrix th,.matrix td{border:1px solid ${c.line};padding:3px 8px;text-align:left;vertical-align:top}
.matrix thead th{background:${c.panel};position:sticky;top:0}
.matrix th.step{font-weight:400;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;max-width:46ch}
.matrix .note{display:block;font-family:system-ui,sans-serif;color:${c.muted};font-size:11.5px}
.matrix .num{color:${c.muted};text-align:right}
.matrix .mk{width:1.6em;text-align:center;font-weight:700;color:${c.divText}}
.matrix tr.div td,.matrix tr.div th{background:${c.divBg}}
.matrix td.cell a{color:inherit;text-decoration:none;display:block}
.matrix td.cell a:hover .r,.matrix td.cell a:focus .r{text-decoration:underline}
.matrix td.cell .r{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.matrix tr.div td.cell{font-weight:600}
.matrix td.fail,.matrix tr.div td.fail{background:${c.failBg};color:${c.failText};font-weight:700;outline:2px solid ${c.failText};outline-offset:-2px}
.matrix tfoot td,.matrix tfoot th{background:${c.panel};font-weight:600}
.ok{color:${c.passText};font-weight:700}
.x{color:${c.failText};font-weight:700}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.policy{margin-bottom:10px}
.pmeta{margin:2px 0 8px;color:${c.text}}
.ladders{display:flex;flex-wrap:wrap;gap:12px}
figure.conn{margin:0;border:1px solid ${c.line};border-radius:6px;padding:6px 6px 2px;background:${c.bg}}
figure.conn.bad{border-color:${c.failText};border-width:2px}
figure.conn.refusal{border-color:#d4a72c}
figure.conn.expected{border-style:dashed;border-color:#8c959f}
figure.conn .pols{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:${c.muted}}
.sw.good{color:${c.passText}}.sw.expected{color:${c.muted}}.sw.refusal{color:#9a6700}.sw.bad{color:${c.failText}}
figure.conn figcaption{font-size:12px;color:${c.text};max-width:${420}px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
figure.conn figcaption{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.ladder{display:block}
.ladder .box rect{fill:${c.panel};stroke:#8c959f}
.ladder .box.silent rect{stroke-dasharray:4 3}
.ladder .b1{font-size:12px;font-weight:700;fill:${c.text}}
.ladder .b2{font-size:11px;fill:${c.text};font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.ladder .life{stroke:#8c959f;stroke-width:1.5;stroke-dasharray:2 3}
.ladder .pkt line{stroke:${c.text};stroke-width:1.5}
.ladder .pkt polygon{fill:${c.text}}
.ladder .pkt .lbl{font-size:11.5px;fill:${c.text}}
.ladder .pkt .t{font-size:10.5px;fill:${c.muted};font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.ladder .pkt .pv{font-size:10.5px;fill:${c.data};font-family:ui-monospace,"DejaVu Sans Mono",monospace}
.ladder .pkt.data line{stroke:${c.data}}
.ladder .pkt.data polygon,.ladder .pkt.data .lbl{fill:${c.data}}
.ladder .pkt.ctl .lbl{font-weight:700}
.ladder .pkt.nd line{stroke:${c.muted};stroke-dasharray:5 3}
.ladder .pkt.nd polygon,.ladder .pkt.nd .lbl{fill:${c.muted}}
.ladder .pkt.rst line{stroke:${c.rst};stroke-width:2.5}
.ladder .pkt.rst polygon,.ladder .pkt.rst .lbl{fill:${c.rst};font-weight:700}
.ladder .pkt.unanswered line{stroke:${c.unanswered};stroke-dasharray:5 3;stroke-width:2}
.ladder .pkt.unanswered polygon,.ladder .pkt.unanswered .lbl,.ladder .pkt .x{fill:${c.unanswered};font-weight:700}
.ladder .pkt .x{font-size:11px}
.ladder .pkt:hover line,.ladder .pkt:focus line{stroke-width:3.5}
.ladder .pkt:focus{outline:none}
.ladder .outcome{font-size:12px;font-weight:700}
.ladder .outcome.good{fill:${c.passText}}
.ladder .outcome.bad{fill:${c.failText}}
.ladder .outcome.expected{fill:${c.muted}}
.whys{columns:2 520px;column-gap:28px}
.why{break-inside:avoid;border-top:1px solid ${c.line};padding-top:2px}
.why dl{margin:0}
.why .reason{display:grid;grid-template-columns:9.5em 1fr;gap:6px;padding:1px 4px;border-radius:4px}
.why dt{font-weight:600;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px;overflow-wrap:anywhere}
.why dd{margin:0;font-size:12.5px}
.why .reason:target{background:${c.targetBg};outline:2px solid ${c.link}}
.conflict{color:${c.text}}
footer{padding:10px 24px 30px;color:${c.muted};font-size:12.5px;border-top:1px solid ${c.line}}
@media print{.filter{display:none}.matrix thead th{position:static}}
`;
}
