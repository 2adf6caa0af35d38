// A worker thread of a parallel replay (parallel.ts): replays the capture for its share of the
// policies, closing its outputs under their temporary names for the main thread to rename once
// every worker has finished. Progress, the result or the error go back as messages; an 'abort'
// message stops it at the next batch, its temporary files removed.

import { parentPort, workerData } from 'node:worker_threads';
import { CaptureFormatError } from '../pcap/capture-reader.js';
import { NothingReplayed, ReplayAborted, ReplayInputError, replayInProcess } from './replay.js';
import type { FromWorker, ToWorker, WorkerInput } from './parallel.js';

const port = parentPort!;
const input = workerData as WorkerInput;
const ac = new AbortController();
port.on('message', (m: ToWorker) => { if (m.type === 'abort') ac.abort(); });
const post = (m: FromWorker): void => port.postMessage(m);

try {
  const pending: [string, string][] = [];
  const report = await replayInProcess(input.capture, input.scenario, input.policies, {
    outDir: input.outDir, map: new Map(input.map), keepConnections: input.keepConnections, allowNothing: input.allowNothing, strict: input.strict, signal: ac.signal,
    onProgress: (done, total) => post({ type: 'progress', done, total }),
  }, pending);
  post({ type: 'done', report, pending });
} catch (e) {
  if (e instanceof CaptureFormatError) post({ type: 'format-error', file: e.file, offset: e.offset, detail: e.detail });
  else if (e instanceof ReplayAborted) post({ type: 'aborted' });
  else if (e instanceof NothingReplayed) post({ type: 'nothing', capture: e.capture, packets: e.packets, destinations: e.destinations });
  else if (e instanceof ReplayInputError) post({ type: 'input-error', message: e.message });
  else post({ type: 'failed', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
} finally {
  port.close();
}
