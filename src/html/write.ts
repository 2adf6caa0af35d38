// Writes the HTML report beside (or anywhere relative to) the captures: links are made relative
// to the file's directory. Written to a temporary name and renamed, like the captures.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ReplayReport } from '../replay/replay.js';
import type { Scenario } from '../scenario/types.js';
import { renderReplayHtml } from './replay.js';
import { renderHtmlReport, type HtmlScenarioRun } from './report.js';

export function writeHtmlReport(path: string, runs: readonly HtmlScenarioRun[], command?: string): void {
  const dir = dirname(resolve(path));
  mkdirSync(dir, { recursive: true });
  const page = renderHtmlReport(runs.map((r) => ({ ...r, report: withAbsoluteOutputs(r.report) })), { baseDir: dir, command });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, page);
  renameSync(tmp, path);
}

/** The report with capture paths resolved against the working directory, so relative links are right wherever the page goes. */
function withAbsoluteOutputs(report: HtmlScenarioRun['report']): HtmlScenarioRun['report'] {
  const policies = Object.fromEntries(Object.entries(report.policies).map(([k, p]) => [k, p.output ? { ...p, output: resolve(p.output) } : p]));
  return { ...report, policies };
}

/** The replay page (see replay.ts), written the same way. */
export function writeReplayHtml(path: string, scenario: Scenario, report: ReplayReport, command?: string): void {
  const dir = dirname(resolve(path));
  mkdirSync(dir, { recursive: true });
  const policies = Object.fromEntries(Object.entries(report.policies).map(([k, p]) => [k, p.output ? { ...p, output: resolve(p.output) } : p]));
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, renderReplayHtml(scenario, { ...report, policies }, { baseDir: dir, command }));
  renameSync(tmp, path);
}
