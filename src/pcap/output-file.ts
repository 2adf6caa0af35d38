// The file a capture writer streams into: chunks appended under a temporary name, renamed into
// place by finish() so the final name only ever holds a whole capture; abort() leaves nothing.
// Small outputs are written synchronously. Once an output passes a few MiB, a worker thread takes
// over the writes through chunks of shared memory, so copying into the page cache runs on the
// other core while the emulator keeps filling the next chunk. The bytes and their order are the
// same either way.

import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Bytes written synchronously before the worker thread takes over. */
const WORKER_AFTER_BYTES = 4 << 20;
/** Chunks in flight between the writer and the worker. */
const SLOTS = 4;
// Control words in shared memory.
const PRODUCED = 0;
const CONSUMED = 1;
const STATE = 2; // 0 running, 1 finishing
const FAILED = 3; // 0 ok, else the length of the error text
const LENGTHS = 4; // one per slot

const WORKER_URL = new URL('./output-worker.js', import.meta.url);

export class OutputFile {
  readonly tmpPath: string;
  private readonly fd: number;
  private written = 0;
  private closed = false;
  private worker: Worker | null = null;
  private ctrl: Int32Array | null = null;
  private slots: Uint8Array[] = [];
  private errorText: Uint8Array | null = null;

  constructor(readonly finalPath: string, private readonly chunkBytes: number) {
    this.tmpPath = `${finalPath}.${process.pid}.tmp`;
    this.fd = fs.openSync(this.tmpPath, 'w');
  }

  /**
   * Takes buf[0..len) for the file and returns the buffer to go on filling: the same one when
   * writing synchronously, the next free chunk of shared memory when the worker writes.
   */
  write(buf: Uint8Array, len: number): Uint8Array {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    if (len === 0) return buf;
    this.written += len;
    const slot = this.slots.indexOf(buf);
    if (slot < 0) {
      // A buffer of the caller's own (the first chunks, or one grown for a huge block).
      if (this.ctrl) this.drain();
      this.writeSync(buf, len);
      if (!this.ctrl && this.written >= WORKER_AFTER_BYTES && buf.length === this.chunkBytes) this.startWorker();
      return this.ctrl ? this.nextSlot() : buf;
    }
    const ctrl = this.ctrl!;
    ctrl[LENGTHS + slot] = len;
    Atomics.add(ctrl, PRODUCED, 1);
    Atomics.notify(ctrl, PRODUCED);
    this.checkFailed();
    return this.nextSlot();
  }

  /** Writes what is left, closes, and renames the temporary file to its final name. */
  finish(): void {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    try {
      this.drain();
    } catch (e) {
      this.abort();
      throw e;
    }
    this.stopWorker();
    this.closed = true;
    fs.closeSync(this.fd);
    fs.renameSync(this.tmpPath, this.finalPath);
  }

  /** Stops, closes and removes the temporary file; the final name is left untouched. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWorker();
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    try { fs.unlinkSync(this.tmpPath); } catch { /* already gone */ }
  }

  private writeSync(buf: Uint8Array, len: number): void {
    let off = 0;
    while (off < len) off += fs.writeSync(this.fd, buf, off, len - off);
  }

  private startWorker(): void {
    // Tests run the TypeScript sources, where no compiled worker exists: stay synchronous there.
    if (!fs.existsSync(fileURLToPath(WORKER_URL))) return;
    const shared = new SharedArrayBuffer(SLOTS * this.chunkBytes);
    this.slots = Array.from({ length: SLOTS }, (_, i) => new Uint8Array(shared, i * this.chunkBytes, this.chunkBytes));
    this.ctrl = new Int32Array(new SharedArrayBuffer(4 * (LENGTHS + SLOTS)));
    const errorShared = new SharedArrayBuffer(1024);
    this.errorText = new Uint8Array(errorShared);
    this.worker = new Worker(WORKER_URL, { workerData: { fd: this.fd, shared, ctrl: this.ctrl.buffer, error: errorShared, slots: SLOTS, chunk: this.chunkBytes } });
    this.worker.unref();
  }

  /** The chunk after the last one handed over, once the worker has written it out. */
  private nextSlot(): Uint8Array {
    const ctrl = this.ctrl!;
    const produced = Atomics.load(ctrl, PRODUCED);
    for (;;) {
      const consumed = Atomics.load(ctrl, CONSUMED);
      if (produced - consumed < SLOTS) break;
      this.checkFailed();
      Atomics.wait(ctrl, CONSUMED, consumed, 1000);
    }
    return this.slots[produced % SLOTS]!;
  }

  /** Waits until the worker has written every chunk handed to it. */
  private drain(): void {
    const ctrl = this.ctrl;
    if (!ctrl) return;
    for (;;) {
      this.checkFailed();
      const consumed = Atomics.load(ctrl, CONSUMED);
      if (consumed === Atomics.load(ctrl, PRODUCED)) return;
      Atomics.wait(ctrl, CONSUMED, consumed, 1000);
    }
  }

  private checkFailed(): void {
    const ctrl = this.ctrl;
    if (!ctrl) return;
    const n = Atomics.load(ctrl, FAILED);
    if (n === 0) return;
    throw new Error(`writing ${this.tmpPath} failed: ${new TextDecoder().decode(this.errorText!.slice(0, n))}`);
  }

  private stopWorker(): void {
    if (!this.worker) return;
    Atomics.store(this.ctrl!, STATE, 1);
    Atomics.notify(this.ctrl!, PRODUCED);
    void this.worker.terminate();
    this.worker = null;
  }
}
