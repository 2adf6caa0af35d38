// replayCapture over worker threads: the policies are dealt out to `jobs` workers (worker.ts), each
// of which reads the capture and replays its policies exactly as one thread would (same bytes:
// a policy's output depends on nothing but the capture, the scenario and that policy). Building
// the outputs is what costs (a replay without them is mostly reading), so this is used only when
// outputs are written. The main thread creates every output's temporary file (io/publish.ts) and
// hands each worker the descriptors of its policies': nothing is renamed into place until every
// worker has finished, and on an error or an abort in any of them (or SIGINT/SIGTERM, which reach
// only this thread) every temporary file is removed here, as in one thread.

import { Worker } from 'node:worker_threads';
import type { IpAddr } from '../emu/addr.js';
import { OutputError, Publication, type PendingFile } from '../io/publish.js';
import { CaptureFormatError } from '../pcap/capture-reader.js';
import type { Scenario } from '../scenario/types.js';
import { NothingReplayed, ReplayAborted, ReplayInputError, replayOutputPath, WORKER_URL, type UnmatchedDestination, type ReplayOptions, type ReplayPolicyReport, type ReplayReport } from './replay.js';

/** What a worker is given (structured-cloned: the scenario is plain data). */
export interface WorkerInput {
  readonly capture: string;
  readonly scenario: Scenario;
  readonly policies: readonly string[];
  readonly outDir: string | null;
  /** Each of its policies' output, created by the main thread (written through the descriptor). */
  readonly outputs: readonly (readonly [string, PendingFile])[];
  readonly map: readonly (readonly [string, IpAddr])[];
  readonly keepConnections: boolean;
  readonly allowNothing: boolean;
  readonly strict: boolean;
  readonly spool: string | null;
}

export type ToWorker = { readonly type: 'abort' };

export type FromWorker =
  | { readonly type: 'progress'; readonly done: number; readonly total: number }
  | { readonly type: 'done'; readonly report: ReplayReport }
  | { readonly type: 'format-error'; readonly file: string; readonly offset: number; readonly detail: string }
  | { readonly type: 'aborted' }
  | { readonly type: 'nothing'; readonly capture: string; readonly packets: number; readonly destinations: readonly UnmatchedDestination[]; readonly datagramDestinations: readonly UnmatchedDestination[] }
  | { readonly type: 'input-error'; readonly message: string }
  | { readonly type: 'failed'; readonly message: string }
  /** A file-system error on an output (a full disk): exit 2 with the file's name, not an internal error. */
  | { readonly type: 'output-error'; readonly path: string; readonly code: string; readonly message: string };

type Outcome = Exclude<FromWorker, { type: 'progress' }>;

/** Policies dealt round-robin: policy i goes to worker i mod jobs. */
function deal(policies: readonly string[], jobs: number): string[][] {
  const groups: string[][] = Array.from({ length: jobs }, () => []);
  policies.forEach((p, i) => groups[i % jobs]!.push(p));
  return groups;
}

export async function replayInWorkers(capture: string, scenario: Scenario, policyNames: readonly string[], options: ReplayOptions,
  jobs: number): Promise<ReplayReport> {
  const groups = deal(policyNames, jobs);
  const publication = options.publication ?? new Publication();
  let published = false;
  try {
    const outputs = new Map<string, PendingFile>();
    for (const name of policyNames) outputs.set(name, publication.create(replayOutputPath(options.outDir!, capture, name)));
    const report = await runWorkers(capture, scenario, policyNames, options, groups, outputs);
    for (const f of outputs.values()) publication.close(f);
    if (!options.publication) publication.commit();
    published = true;
    return report;
  } finally {
    // Every worker has stopped by now: their outputs are this thread's to remove.
    if (!published) publication.abort();
  }
}

async function runWorkers(capture: string, scenario: Scenario, policyNames: readonly string[], options: ReplayOptions, groups: readonly string[][],
  outputs: ReadonlyMap<string, PendingFile>): Promise<ReplayReport> {
  const done = groups.map(() => 0);
  const workers: Worker[] = [];
  const abortAll = (): void => { for (const w of workers) w.postMessage({ type: 'abort' } satisfies ToWorker); };
  const outcomes = groups.map((policies, i) => new Promise<Outcome>((resolve) => {
    const input: WorkerInput = {
      capture, scenario, policies, outDir: options.outDir ?? null, outputs: policies.map((p) => [p, outputs.get(p)!] as const),
      map: [...(options.map ?? [])], keepConnections: options.keepConnections ?? true, spool: options.spool ?? null,
      allowNothing: options.allowNothing ?? false,
      strict: options.strict ?? false,
    };
    const w = new Worker(WORKER_URL, { workerData: input });
    workers.push(w);
    let settled = false;
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      // One worker's failure stops the others: they would only write files to remove.
      if (o.type !== 'done') abortAll();
      resolve(o);
    };
    w.on('message', (m: FromWorker) => {
      if (m.type === 'progress') {
        done[i] = m.done;
        // The slowest worker is how far the replay is.
        options.onProgress?.(Math.min(...done), m.total);
      } else settle(m);
    });
    w.on('error', (e) => settle({ type: 'failed', message: e.stack ?? e.message }));
    w.on('exit', (code) => settle({ type: 'failed', message: `replay worker exited with code ${code} before finishing` }));
  }));
  const onAbort = (): void => abortAll();
  options.signal?.addEventListener('abort', onAbort);
  let results: Outcome[];
  try {
    if (options.signal?.aborted) abortAll();
    results = await Promise.all(outcomes);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  const failure = results.find((r) => r.type !== 'done');
  if (failure) {
    // The capture's own error first, then a file's: the others were only stopped because of it.
    const format = results.find((r) => r.type === 'format-error');
    if (format?.type === 'format-error') throw new CaptureFormatError(format.file, format.offset, format.detail);
    const input = results.find((r) => r.type === 'input-error');
    if (input?.type === 'input-error') throw new ReplayInputError(input.message);
    const nothing = results.find((r) => r.type === 'nothing');
    if (nothing?.type === 'nothing') throw new NothingReplayed(nothing.capture, nothing.packets, nothing.destinations, nothing.datagramDestinations);
    const output = results.find((r) => r.type === 'output-error');
    if (output?.type === 'output-error') throw new OutputError(output.path, output.code, output.message);
    const failed = results.find((r) => r.type === 'failed');
    if (failed?.type === 'failed') throw new Error(failed.message);
    throw new ReplayAborted();
  }
  const reports = results.map((r) => (r as Extract<Outcome, { type: 'done' }>).report);
  const first = reports[0]!;
  const policies: Record<string, ReplayPolicyReport> = {};
  for (const name of policyNames) {
    const from = reports[groups.findIndex((g) => g.includes(name))]!;
    policies[name] = from.policies[name]!;
  }
  return { ...first, policies };
}
