// bindlab replay CAPTURE --scenario FILE: a real capture's connection attempts under each policy;
// the replay report (SCENARIO.md) with --json, else a summary per policy; one capture per policy.
import type { Argv } from 'yargs';
import { parseIp, type IpAddr } from '../../emu/addr.js';
import { BUILTIN_POLICIES } from '../../emu/policy/names.js';
import { CaptureFormatError } from '../../pcap/capture-reader.js';
import { replayCapture, ReplayAborted, type ReplayReport } from '../../replay/replay.js';
import { renderReplaySummary } from '../../replay/summary.js';
import { loadScenarioFile } from '../../scenario/load.js';
import { checkPolicies, UsageError, useColor, type ExitCode } from '../common.js';
import { writeReplayHtml } from '../../html/write.js';

export interface ReplayArgs { capture: string; scenario: string; policy?: string[]; out: string; map?: string[]; json: boolean; output: boolean; progress: boolean; html?: string }

export function replayBuilder(y: Argv): Argv<ReplayArgs> {
  return y
    .positional('capture', { type: 'string', demandOption: true, describe: 'pcap or pcapng file' })
    .option('scenario', { alias: 's', type: 'string', demandOption: true, describe: 'scenario whose steps before the first connect set up the hosts' })
    .option('policy', { alias: 'p', type: 'string', array: true, describe: `policies (default: the scenario's, else all: ${BUILTIN_POLICIES.join(', ')})` })
    .option('out', { alias: 'o', type: 'string', default: 'out', describe: 'directory for the output captures' })
    .option('map', { type: 'string', array: true, describe: 'CAPTURED=SCENARIO address mapping, e.g. 192.168.1.5=10.0.0.1 (repeatable)' })
    .option('output', { type: 'boolean', default: true, describe: 'write a capture per policy (--no-output: decisions only)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the replay report (JSON) instead of the summary' })
    .option('html', { type: 'string', describe: 'also write a self-contained HTML page: hosts, connections x policies, capture links' })
    .option('progress', { type: 'boolean', default: true, describe: 'progress bar on stderr when it is a terminal' })
    .example('$0 replay captures/reuseport.pcap -s captures/reuseport.yaml -p linux', 'what linux does with the captured connections')
    .example('$0 replay web.pcapng -s scenarios/pajari-1999.yaml --map 192.168.1.5=10.0.0.2 --json', 'map a real address onto a scenario alias') as unknown as Argv<ReplayArgs>;
}

export function parseMaps(items: readonly string[] | undefined): Map<string, IpAddr> {
  const out = new Map<string, IpAddr>();
  for (const m of items ?? []) {
    const [from, to, ...rest] = m.split('=');
    const f = from ? parseIp(from.replace(/^\[|\]$/g, '')) : null;
    const t = to ? parseIp(to.replace(/^\[|\]$/g, '')) : null;
    if (rest.length || !f || !t) throw new UsageError(`--map ${m}: want CAPTURED=SCENARIO, two IP addresses`);
    if (f.family !== t.family) throw new UsageError(`--map ${m}: both addresses must be of one family`);
    out.set(f.text, t);
  }
  return out;
}

export async function replayCommand(argv: ReplayArgs): Promise<ExitCode> {
  checkPolicies(argv.policy);
  const scenario = loadScenarioFile(argv.scenario);
  const map = parseMaps(argv.map);
  const ac = new AbortController();
  const onSigint = (): void => ac.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  const bar = argv.progress && process.stderr.isTTY ? await progressBar() : undefined;
  let report: ReplayReport;
  try {
    report = await replayCapture(argv.capture, scenario, {
      policies: argv.policy, outDir: argv.output ? argv.out : null, map, keepConnections: argv.json || Boolean(argv.html), signal: ac.signal,
      onProgress: bar ? (done, total) => bar.update(done, total) : undefined,
    });
  } catch (e) {
    if (e instanceof CaptureFormatError) throw new UsageError(e.message);
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
  if (argv.html) writeReplayHtml(argv.html, scenario, report, `bindlab replay ${argv.capture} --scenario ${argv.scenario}`);
  if (argv.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${renderReplaySummary(report, { color: useColor() })}\n`);
  return 0;
}

/** A cli-progress bar over the capture's bytes. */
async function progressBar(): Promise<{ update(done: number, total: number): void; stop(): void }> {
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar({ format: 'replay [{bar}] {percentage}% | {value}/{total} MiB | eta {eta}s', hideCursor: true, clearOnComplete: true, stream: process.stderr }, Presets.shades_classic);
  let started = false;
  let stopped = false;
  return {
    update(done, total) {
      const mib = (n: number) => Math.round(n / 1048576 * 10) / 10;
      if (!started) { bar.start(mib(total), 0); started = true; }
      bar.update(mib(done));
    },
    stop() { if (started && !stopped) { stopped = true; bar.stop(); } },
  };
}
