// replayCapture over worker threads: the policies are dealt out to `jobs` workers (worker.ts), each
// of which reads the capture and replays its policies exactly as one thread would (same bytes:
// a policy's output depends on nothing but the capture, the scenario and that policy). Building
// the outputs is what costs (a replay without them is mostly reading), so this is used only when
// outputs are written. Nothing is renamed into place until every worker has finished: on an error
// or an abort in any of them, every temporary file is removed, as in one thread.

import { unlinkSync, renameSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { IpAddr } from '../emu/addr.js';
import { CaptureFormatError } from '../pcap/capture-reader.js';
import type { Scenario } from '../scenario/types.js';
import { NothingReplayed, ReplayAborted, ReplayInputError, WORKER_URL, type UnmatchedDestination, type ReplayOptions, type ReplayPolicyReport, type ReplayReport } from './replay.js';

/** What a worker is given (structured-cloned: the scenario is plain data). */
export interface WorkerInput {
  readonly capture: string;
  readonly scenario: Scenario;
  readonly policies: readonly string[];
  readonly outDir: string | null;
  readonly map: readonly (readonly [string, IpAddr])[];
  readonly keepConnections: boolean;
  readonly allowNothing: boolean;
  readonly strict: boolean;
}

export type ToWorker = { readonly type: 'abort' };

export type FromWorker =
  | { readonly type: 'progress'; readonly done: number; readonly total: number }
  | { readonly type: 'done'; readonly report: ReplayReport; readonly pending: [string, string][] }
  | { readonly type: 'format-error'; readonly file: string; readonly offset: number; readonly detail: string }
  | { readonly type: 'aborted' }
  | { readonly type: 'nothing'; readonly capture: string; readonly packets: number; readonly destinations: readonly UnmatchedDestination[] }
  | { readonly type: 'input-error'; readonly message: string }
  | { readonly type: 'failed'; readonly message: string };

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
  const done = groups.map(() => 0);
  const workers: Worker[] = [];
  const abortAll = (): void => { for (const w of workers) w.postMessage({ type: 'abort' } satisfies ToWorker); };
  const outcomes = groups.map((policies, i) => new Promise<Outcome>((resolve) => {
    const input: WorkerInput = {
      capture, scenario, policies, outDir: options.outDir ?? null, map: [...(options.map ?? [])], keepConnections: options.keepConnections ?? true,
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
  const pending = results.flatMap((r) => (r.type === 'done' ? r.pending : []));
  const failure = results.find((r) => r.type !== 'done');
  if (failure) {
    for (const [tmp] of pending) { try { unlinkSync(tmp); } catch { /* already gone */ } }
    // The capture's own error first: the others were only stopped because of it.
    const format = results.find((r) => r.type === 'format-error');
    if (format?.type === 'format-error') throw new CaptureFormatError(format.file, format.offset, format.detail);
    const input = results.find((r) => r.type === 'input-error');
    if (input?.type === 'input-error') throw new ReplayInputError(input.message);
    const nothing = results.find((r) => r.type === 'nothing');
    if (nothing?.type === 'nothing') throw new NothingReplayed(nothing.capture, nothing.packets, nothing.destinations);
    const failed = results.find((r) => r.type === 'failed');
    if (failed?.type === 'failed') throw new Error(failed.message);
    throw new ReplayAborted();
  }
  for (const [tmp, final] of pending) renameSync(tmp, final);
  const reports = results.map((r) => (r as Extract<Outcome, { type: 'done' }>).report);
  const first = reports[0]!;
  const policies: Record<string, ReplayPolicyReport> = {};
  for (const name of policyNames) {
    const from = reports[groups.findIndex((g) => g.includes(name))]!;
    policies[name] = from.policies[name]!;
  }
  return { ...first, policies };
}
