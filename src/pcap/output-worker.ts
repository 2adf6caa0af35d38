// The worker side of OutputFile: writes each chunk of shared memory to the file as the capture
// writer hands it over, in order, and reports a write error back through shared memory.

import { writeSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

interface Job { fd: number; shared: SharedArrayBuffer; ctrl: SharedArrayBuffer; error: SharedArrayBuffer; slots: number; chunk: number }

const PRODUCED = 0;
const CONSUMED = 1;
const STATE = 2;
const FAILED = 3;
const LENGTHS = 4;

const job = workerData as Job;
const ctrl = new Int32Array(job.ctrl);
const slots = Array.from({ length: job.slots }, (_, i) => new Uint8Array(job.shared, i * job.chunk, job.chunk));

for (;;) {
  const consumed = Atomics.load(ctrl, CONSUMED);
  if (Atomics.load(ctrl, PRODUCED) === consumed) {
    if (Atomics.load(ctrl, STATE) === 1) break;
    Atomics.wait(ctrl, PRODUCED, consumed, 200);
    continue;
  }
  const slot = consumed % job.slots;
  const len = ctrl[LENGTHS + slot]!;
  try {
    let off = 0;
    while (off < len) off += writeSync(job.fd, slots[slot]!, off, len - off);
  } catch (e) {
    const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).slice(0, 1000);
    new Uint8Array(job.error).set(text);
    Atomics.store(ctrl, FAILED, Math.max(text.length, 1));
    Atomics.notify(ctrl, CONSUMED);
    break;
  }
  Atomics.add(ctrl, CONSUMED, 1);
  Atomics.notify(ctrl, CONSUMED);
}
