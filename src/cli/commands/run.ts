// bindlab run FILE...: every scenario under its policies; the matrix or the JSON report; captures.
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { basename } from 'node:path';
import { scenarioWork } from '../../emu/engine.js';
import { allPassed, captureCollision, policiesFor, resolveArpMacs, runScenarioAsync, type ScenarioReport } from '../../runner.js';
import { Publication } from '../../io/publish.js';
import { loadPolicyFile, loadScenarioFile } from '../../scenario/load.js';
import type { CustomPolicySpec, Scenario } from '../../scenario/types.js';
import { checkPolicies, UsageError, useColor, withSignals, type ExitCode } from '../common.js';
import { renderMatrix } from '../matrix.js';
import { recordPolicies, type Recording } from '../../html/record.js';
import { writeHtmlReport } from '../../html/write.js';
import type { RunArgs } from '../builders.js';
import { progressBar } from '../progress.js';

/** Runs of at least this many steps and connections (all policies together) draw a progress bar. */
const PROGRESS_MIN_UNITS = 10_000;

/** The terminal's width; when stdout is not a terminal, COLUMNS if set (a pager's, `npm start`'s caller's), else no limit. */
export function terminalWidth(): number | undefined {
  if (process.stdout.isTTY) return process.stdout.columns;
  const n = Number(process.env.COLUMNS);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Custom policies from --policy-file FILE... (each file may extend the policies of those before it). */
export function policyFiles(files: readonly string[] | undefined): CustomPolicySpec[] {
  const specs: CustomPolicySpec[] = [];
  for (const f of files ?? []) specs.push(...loadPolicyFile(f, specs));
  return specs;
}

export async function runCommand(argv: RunArgs): Promise<ExitCode> {
  const customs = policyFiles(argv['policy-file']);
  const scenarios: Scenario[] = argv.files.map((f) => loadScenarioFile(f, { customPolicies: customs }));
  for (const sc of scenarios) checkPolicies(argv.policy, [...BUILTIN_POLICIES, ...(sc.customPolicies ?? []).map((c) => c.name)]);
  if (argv.html !== undefined && argv.html.trim() === '') throw new UsageError('--html needs a file name');
  const outDir = argv.capture ? argv.out : null;
  if (outDir) {
    const collision = captureCollision(scenarios, argv.policy, outDir, argv.format);
    if (collision) throw new UsageError(collision);
  }
  const macs = await Promise.all(scenarios.map((sc) => resolveArpMacs(sc).catch((e: Error) => { throw new UsageError(e.message); })));
  // Every scenario's captures and the HTML report appear together once all are whole, or none of them.
  const publication = new Publication();
  const reports: ScenarioReport[] = [];
  try {
    await withSignals('run', async (signal) => {
      const recordings: Map<string, Recording>[] = [];
      for (const [i, sc] of scenarios.entries()) {
        const recorder = argv.html ? recordPolicies() : undefined;
        // A long run (count: in the thousands) shows how far it is, as replay does; only on a terminal.
        const long = scenarioWork(sc) * policiesFor(sc, argv.policy).length >= PROGRESS_MIN_UNITS;
        const bar = argv.progress && long && process.stderr.isTTY ? await progressBar(`run ${basename(sc.file)}`, 'steps and connections') : undefined;
        try {
          reports.push(await runScenarioAsync(sc, { policies: argv.policy, outDir, format: argv.format, macs: macs[i], observe: recorder?.observe, publication, signal,
            onProgress: bar ? (done, total) => bar.update(done, total) : undefined }));
        } finally {
          bar?.stop();
        }
        if (recorder) recordings.push(recorder.finish());
      }
      if (argv.html) {
        writeHtmlReport(argv.html, scenarios.map((scenario, i) => ({ scenario, report: reports[i]!, recordings: recordings[i] })), `bindlab run ${argv.files.join(' ')}`, publication);
      }
      publication.commit();
    });
  } finally {
    publication.abort();
  }
  if (outDir && argv.format === 'pcap') {
    // Nothing lost in silence: say how the pcap output differs from pcapng's.
    const files = reports.flatMap((r) => Object.values(r.policies).flatMap((p) => p.outputs ?? []));
    process.stderr.write(`bindlab: --format pcap: one file per link (classic pcap holds one link type per file), ${files.length} files in ${argv.out}; `
      + 'packet comments (who accepted each SYN, by which rule) and host names exist only in pcapng\n');
  }
  if (argv.json) {
    // One shape however many files: each file's report (the object of docs/report.md) on a line of its own (JSON Lines).
    process.stdout.write(reports.map((r) => `${JSON.stringify(r)}\n`).join(''));
  } else {
    const color = useColor();
    process.stdout.write(`${reports.map((r, i) => renderMatrix(scenarios[i]!, r, { color, width: terminalWidth() })).join('\n\n')}\n`);
  }
  return reports.every(allPassed) ? 0 : 1;
}
