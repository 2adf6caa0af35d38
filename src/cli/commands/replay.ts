// bindlab replay CAPTURE --scenario FILE: a real capture's connection attempts under each policy;
// the replay report (docs/report.md) with --json, else a summary per policy; one capture per policy.
import { writeFileSync } from 'node:fs';
import { parseIp, type IpAddr } from '../../emu/addr.js';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { CaptureFormatError } from '../../pcap/capture-reader.js';
import { NothingReplayed, replayCapture, ReplayAborted, ReplayInputError, type ReplayReport } from '../../replay/replay.js';
import { renderJUnitSuites, type JUnitCase } from '../../testing/junit.js';
import { renderReplaySummary } from '../../replay/summary.js';
import { loadScenarioFile } from '../../scenario/load.js';
import type { Scenario } from '../../scenario/types.js';
import { checkPolicies, UsageError, useColor, type ExitCode } from '../common.js';
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
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  const bar = argv.progress && process.stderr.isTTY ? await progressBar('replay', 'MiB', (n) => Math.round(n / 1048576 * 10) / 10) : undefined;
  let report: ReplayReport;
  const started = Date.now();
  try {
    report = await replayCapture(argv.capture, scenario, {
      policies: argv.policy, outDir: argv.output ? argv.out : null, map, keepConnections: argv.json || Boolean(argv.html), signal: ac.signal, jobs: argv.jobs,
      strict: argv.strict,
      onProgress: bar ? (done, total) => bar.update(done, total) : undefined,
    });
  } catch (e) {
    if (e instanceof CaptureFormatError || e instanceof ReplayInputError || e instanceof NothingReplayed) throw new UsageError(e.message);
    if (e instanceof ReplayAborted) {
      bar?.stop();
      process.stderr.write(`bindlab: ${e.message}\n`);
      // The outputs are already removed; 128 + SIGINT, as a shell reports an interrupted command.
      process.exit(130);
    }
    throw e;
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigint);
  }
  if (report.truncated) {
    process.stderr.write(`bindlab: warning: ${report.truncated.message}; the ${report.packets} packets before it were replayed (--strict refuses such a capture)\n`);
  }
  if (argv.html) (await import('../../html/write.js')).writeReplayHtml(argv.html, scenario, report, `bindlab replay ${argv.capture} --scenario ${argv.scenario}`);
  if (argv.junit) writeFileSync(argv.junit, replayJUnit(report, Date.now() - started));
  if (argv.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${renderReplaySummary(report, { color: useColor() })}\n`);
  const disagree = Object.values(report.policies).some((p) => p.agreement.disagree > 0);
  return argv.check && disagree ? 1 : 0;
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
