// bindlab replay CAPTURE --scenario FILE: a real capture's connection attempts under each policy;
// the replay report (docs/report.md) with --json, else a summary per policy; one capture per policy.
import { parseIp, type IpAddr } from '../../emu/addr.js';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { CaptureFormatError } from '../../pcap/capture-reader.js';
import { NothingReplayed, replayCapture, ReplayInputError, type ReplayDatagram, type ReplayReport } from '../../replay/replay.js';
import { createSpool, datagramSpoolKey, readSpool, removeSpool, reportJson } from '../../replay/spool.js';
import { Publication } from '../../io/publish.js';
import { renderJUnitSuites, type JUnitCase } from '../../testing/junit.js';
import { renderReplaySummary } from '../../replay/summary.js';
import { loadScenarioFile } from '../../scenario/load.js';
import type { Scenario } from '../../scenario/types.js';
import { checkPolicies, UsageError, useColor, withSignals, type ExitCode } from '../common.js';
import type { ReplayArgs } from '../builders.js';
import { progressBar } from '../progress.js';

export function parseMaps(items: readonly string[] | undefined): Map<string, IpAddr> {
  const out = new Map<string, IpAddr>();
  for (const m of items ?? []) {
    const [from, to, ...rest] = m.split('=');
    const f = from ? parseIp(from.replace(/^\[|\]$/g, '')) : null;
    const t = to ? parseIp(to.replace(/^\[|\]$/g, '')) : null;
    // A zone id names an interface of the capturing host: addresses are matched without it.
    const zone = /%[^=\]]*/.exec(m);
    if (zone) throw new UsageError(`--map ${m}: IPv6 zone ids (${zone[0]}) are not written in --map: captured addresses are matched without them; write the address alone`);
    if (rest.length || !f || !t) throw new UsageError(`--map ${m}: want CAPTURED=SCENARIO, two IP addresses`);
    if (f.family !== t.family) throw new UsageError(`--map ${m}: both addresses must be of one family`);
    out.set(f.text, t);
  }
  return out;
}

/**
 * A --map target that no host of the scenario has, nor gets from an address step, is refused
 * before the capture is read (from standard input it may be a while coming). The replay itself
 * checks the finer case: an address its setup steps delete.
 */
export function checkMapTargets(map: ReadonlyMap<string, IpAddr>, scenario: Scenario): void {
  // What the hosts have when the replay starts, at most: their interfaces' addresses and those added before the first connect.
  const known = new Set<string>();
  for (const h of scenario.hosts) for (const i of h.interfaces) for (const c of i.addresses) known.add(c.addr.text);
  const firstConnect = scenario.steps.findIndex((s) => s.kind === 'connect');
  for (const s of scenario.steps.slice(0, firstConnect < 0 ? undefined : firstConnect)) if (s.kind === 'address' && s.add) known.add(s.add.addr.text);
  for (const [from, to] of map) {
    if (known.has(to.text)) continue;
    const list = [...known];
    // The replay's own message for a target its setup steps delete (replay.ts), said before reading.
    throw new UsageError(`--map ${from}=${to.text}: no host of ${scenario.file} has ${to.text} (after its setup steps); its addresses: ${list.slice(0, 12).join(', ')}${list.length > 12 ? `, ... (${list.length})` : ''}`);
  }
}

export async function replayCommand(argv: ReplayArgs): Promise<ExitCode> {
  // yargs hands a lone "-" (standard input) on as "": put it back.
  if (argv.capture === '' && process.argv.includes('-')) argv = { ...argv, capture: '-' };
  checkPolicies(argv.policy);
  if (argv.jobs !== undefined && !(Number.isInteger(argv.jobs) && argv.jobs >= 1)) throw new UsageError(`--jobs ${argv.jobs}: want a whole number of threads, 1 or more`);
  const scenario = loadScenarioFile(argv.scenario);
  const map = parseMaps(argv.map);
  checkMapTargets(map, scenario);
  const bar = argv.progress && process.stderr.isTTY ? await progressBar('replay', 'MiB', (n) => Math.round(n / 1048576 * 10) / 10) : undefined;
  const started = Date.now();
  // The report's connection lists go to a spool on disk and are streamed out (bounded memory).
  const keepConnections = argv.json || Boolean(argv.html);
  const spool = keepConnections ? createSpool() : undefined;
  // The output captures, the HTML page and the JUnit file appear together once all are whole, or none of them.
  const publication = new Publication();
  try {
    let report: ReplayReport | undefined;
    try {
      await withSignals('replay', async (signal) => {
        try {
          report = await replayCapture(argv.capture, scenario, {
            policies: argv.policy, outDir: argv.output ? argv.out : null, map, keepConnections, spool, signal, jobs: argv.jobs, publication,
            strict: argv.strict,
            onProgress: bar ? (done, total) => bar.update(done, total) : undefined,
          });
        } finally {
          bar?.stop();
        }
        if (argv.html) {
          (await import('../../html/write.js')).writeReplayHtml(argv.html, scenario, report, `bindlab replay ${argv.capture} --scenario ${argv.scenario}`,
            publication, (policy) => readSpool(spool!, policy), (policy) => readSpool<ReplayDatagram>(spool!, datagramSpoolKey(policy)));
        }
        if (argv.junit) publication.writeFile(argv.junit, replayJUnit(report, Date.now() - started));
        publication.commit();
      });
    } catch (e) {
      if (e instanceof CaptureFormatError || e instanceof ReplayInputError || e instanceof NothingReplayed) throw new UsageError(e.message);
      throw e;
    } finally {
      publication.abort();
    }
    if (report!.truncated) {
      process.stderr.write(`bindlab: warning: ${report!.truncated.message}; the ${report!.packets} packets before it were replayed (--strict refuses such a capture)\n`);
    }
    if (argv.json) {
      // Piece by piece, waiting whenever the pipe is full: the report is never whole in memory.
      for (const piece of reportJson(report!, spool!)) {
        if (!process.stdout.write(piece)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
      process.stdout.write('\n');
    } else process.stdout.write(`${renderReplaySummary(report!, { color: useColor() })}\n`);
    const disagree = Object.values(report!.policies).some((p) => p.agreement.disagree > 0);
    return argv.check && disagree ? 1 : 0;
  } finally {
    if (spool) removeSpool(spool);
  }
}

/** JUnit XML of a replay: one suite (the capture), one case per policy that fails when it disagrees with the capture. */
export function replayJUnit(report: ReplayReport, timeMs: number): string {
  const classname = `replay.${report.capture.replace(/\.(pcap|pcapng)$/, '').replace(/[\\/.]/g, '_')}`;
  const cases: JUnitCase[] = Object.entries(report.policies).map(([policy, p]) => {
    const a = p.agreement;
    const c: JUnitCase = { name: `${policy} agrees with the capture`, classname };
    if (a.disagree > 0) {
      const message = `${policy} disagrees with the capture on ${a.disagree} of ${a.agree + a.disagree} connections`;
      const listed = a.disagreements.map((d) => `#${d.index} ${d.time} ${d.client} -> ${d.server}: ${d.why}`);
      const more = a.disagree > listed.length ? [`... and ${a.disagree - listed.length} more`] : [];
      c.failure = { type: 'disagreement', message, body: [message, ...listed, ...more].join('\n') };
    }
    return c;
  });
  return renderJUnitSuites([{ name: report.capture, timeMs, cases, properties: [['scenario', report.file], ['policies', Object.keys(report.policies).join(',')]] }], timeMs);
}
