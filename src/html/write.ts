// Writes the HTML report beside (or anywhere relative to) the captures: links are made relative
// to the file's directory. Written to a temporary name and renamed, like the captures, and with
// them when the caller's publication is given (io/publish.ts).

import { dirname, resolve } from 'node:path';
import { Publication } from '../io/publish.js';
import type { ReplayConnection, ReplayDatagram, ReplayReport } from '../replay/replay.js';
import type { Scenario } from '../scenario/types.js';
import { renderReplayHtml } from './replay.js';
import { renderHtmlReport, type HtmlScenarioRun } from './report.js';

export function writeHtmlReport(path: string, runs: readonly HtmlScenarioRun[], command?: string, publication?: Publication): void {
  const dir = dirname(resolve(path));
  const page = renderHtmlReport(runs.map((r) => ({ ...r, report: withAbsoluteOutputs(r.report) })), { baseDir: dir, command });
  publish(path, page, publication);
}

/** The page as one output of `publication` (the caller commits), else published on its own. */
function publish(path: string, page: string, publication: Publication | undefined): void {
  const p = publication ?? new Publication();
  try {
    p.writeFile(path, page);
    if (!publication) p.commit();
  } finally {
    if (!publication) p.abort();
  }
}

/** The report with capture paths resolved against the working directory, so relative links are right wherever the page goes. */
function withAbsoluteOutputs(report: HtmlScenarioRun['report']): HtmlScenarioRun['report'] {
  const policies = Object.fromEntries(Object.entries(report.policies).map(([k, p]) => [k, p.output ? { ...p, output: resolve(p.output) } : p]));
  return { ...report, policies };
}

/** The replay page (see replay.ts), written the same way. */
export function writeReplayHtml(path: string, scenario: Scenario, report: ReplayReport, command?: string, publication?: Publication,
  connections?: (policy: string) => Iterable<ReplayConnection>, datagrams?: (policy: string) => Iterable<ReplayDatagram>): void {
  const dir = dirname(resolve(path));
  const policies = Object.fromEntries(Object.entries(report.policies).map(([k, p]) => [k, p.output ? { ...p, output: resolve(p.output) } : p]));
  publish(path, renderReplayHtml(scenario, { ...report, policies }, { baseDir: dir, command }, connections, datagrams), publication);
}
