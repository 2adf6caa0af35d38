// A worker thread of a parallel replay (parallel.ts): replays the capture for its share of the
// policies into the temporary files the main thread created, which the main thread renames once
// every worker has finished (or removes). Progress, the result or the error go back as messages; an 'abort'
// message stops it at the next batch, its temporary files removed.

import { parentPort, workerData } from 'node:worker_threads';
import { CaptureFormatError } from '../pcap/capture-reader.js';
import { OutputError } from '../io/publish.js';
import { NothingReplayed, ReplayAborted, ReplayInputError, replayInProcess } from './replay.js';
import type { FromWorker, ToWorker, WorkerInput } from './parallel.js';

const port = parentPort!;
const input = workerData as WorkerInput;
const ac = new AbortController();
port.on('message', (m: ToWorker) => { if (m.type === 'abort') ac.abort(); });
const post = (m: FromWorker): void => port.postMessage(m);

try {
  const report = await replayInProcess(input.capture, input.scenario, input.policies, {
    outDir: input.outDir, map: new Map(input.map), keepConnections: input.keepConnections, allowNothing: input.allowNothing, strict: input.strict, spool: input.spool ?? undefined, signal: ac.signal,
    onProgress: (done, total) => post({ type: 'progress', done, total }),
  }, new Map(input.outputs));
  post({ type: 'done', report });
} catch (e) {
  if (e instanceof CaptureFormatError) post({ type: 'format-error', file: e.file, offset: e.offset, detail: e.detail });
  else if (e instanceof ReplayAborted) post({ type: 'aborted' });
  else if (e instanceof NothingReplayed) post({ type: 'nothing', capture: e.capture, packets: e.packets, destinations: e.destinations, datagramDestinations: e.datagramDestinations });
  else if (e instanceof ReplayInputError) post({ type: 'input-error', message: e.message });
  else if (e instanceof OutputError) post({ type: 'output-error', path: e.path, code: e.code, message: e.message });
  else post({ type: 'failed', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
} finally {
  port.close();
}
