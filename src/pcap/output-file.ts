// The file a capture writer streams into: chunks appended under a temporary name (see
// io/publish.ts), renamed into place when whole so the final name only ever holds a whole capture;
// abort() leaves nothing.
// (A worker thread writing chunks from shared memory was tried and measured: no gain on this
// machine's disk or on tmpfs, since the cost is in building the blocks, not in write(2). So was
// write-behind on libuv's thread pool: 509-519 ms against 509-520 ms, min of 9 replays of 1M
// packets, and 8 MiB more per thread.
// Measured again 2026-12-07 on 10M packets (`replay -p linux -o DIR`, 1.13 GB out), once blocks
// had got cheap: a worker writing 2 or 4 rotating 1 MiB SharedArrayBuffer chunks, the main thread
// waiting with Atomics.wait only when all were full (it waited ~10 ms in all), same bytes. perf:
// the main thread's CPU 3.74 -> 3.19 s, the writer thread 0.74 s (mostly the kernel's copy into
// the page cache), total CPU up ~0.15 s. Wall time, least of 3-4 alternating runs against the
// synchronous build, in 5 sets at load 2.6-5.2 on 2 cores (other sessions at work, ~7% idle):
// sync 3.56-4.18 s, 4 chunks 3.61-4.08 s, 2 chunks 4.21-4.31 s; tcpdump -w FILE 1.49-1.58 s.
// No gain: the second core that the write would move to is busy. On the quiet machine the same
// evening (load ~2, 3 rounds): 4 chunks 2.96-3.06 s wall (3.64 s CPU) against 3.16-3.59 s (3.47 s
// CPU), tcpdump 1.46 s: 2.03x instead of 2.16x, for more CPU, ~12 MiB more and a thread per output.
// Kept synchronous.)

import { Publication, writeAll, type PendingFile } from '../io/publish.js';
import { bytes, inMemory, release } from '../wasm/packets.js';

/**
 * Where an output goes: a path (the file is its own publication, renamed by finish()), a file of
 * the caller's publication (renamed with the run's other outputs by the caller's commit()), or a
 * pending file whose descriptor another thread owns (a parallel replay's worker: finish() only
 * flushes, abort() only stops; the main thread renames or removes).
 */
export type OutputTarget = string | { readonly publication: Publication; readonly path: string } | { readonly pending: PendingFile };

export class OutputFile {
  readonly tmpPath: string;
  readonly finalPath: string;
  private readonly file: PendingFile;
  /** The publication this file is part of; null when another thread owns it. */
  private readonly publication: Publication | null;
  /** Whether this file is its own publication (finish() commits it). */
  private readonly own: boolean;
  private closed = false;

  constructor(target: OutputTarget) {
    if (typeof target === 'string') {
      this.publication = new Publication();
      this.own = true;
      this.file = this.publication.create(target);
    } else if ('pending' in target) {
      this.publication = null;
      this.own = false;
      this.file = target.pending;
    } else {
      this.publication = target.publication;
      this.own = false;
      this.file = target.publication.create(target.path);
    }
    this.finalPath = this.file.finalPath;
    this.tmpPath = this.file.tmpPath;
  }

  /** Appends buf[0..len) to the file; a failure (a full disk) names the output. */
  write(buf: Uint8Array, len: number): void {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    writeAll(this.file, buf, 0, len);
  }

  /**
   * Closes the file; as its own publication, renames it into place. No fsync for captures: the
   * rename is what makes the file appear only when whole; surviving a power cut is not a capture
   * tool's job (tcpdump does not fsync either), and it cost about 15% of a benchmark run.
   */
  finish(): void {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    this.closed = true;
    if (this.own) this.publication!.commit();
    else this.publication?.close(this.file);
  }

  /** Stops writing and removes the temporary file (when this thread owns it); the final name is left untouched. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.own) this.publication!.abort();
    else this.publication?.discard(this.file);
  }
}

/**
 * What both capture writers share: one preallocated buffer that blocks are built in, flushed to
 * an OutputFile when full, and finish()/abort() with the temporary-name-then-rename rule.
 */
export abstract class BufferedOutput {
  readonly tmpPath: string;
  protected buf: Uint8Array;
  protected view: DataView;
  protected pos = 0;
  protected closed = false;
  /**
   * Whether buf is in the WebAssembly memory (then wasm/packets.ts's functions can build blocks
   * in it), and its address there (fields: a typed array's .buffer and .byteOffset are slow reads).
   */
  protected bufInMemory = false;
  protected bufBase = 0;
  private readonly out: OutputFile;

  readonly finalPath: string;

  /** `what` names the format in errors ("pcapng writer"). */
  constructor(target: OutputTarget, chunkBytes: number | undefined, private readonly what: string) {
    // In the WebAssembly memory when there is room: blocks are built there (wasm/packets.ts).
    this.buf = bytes(Math.max(chunkBytes ?? 1 << 20, 4096));
    this.bufInMemory = inMemory(this.buf);
    this.bufBase = this.buf.byteOffset;
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.out = new OutputFile(target);
    this.tmpPath = this.out.tmpPath;
    this.finalPath = this.out.finalPath;
  }

  /** Flushes and closes; renames the temporary file to finalPath unless a publication of the caller's does that. */
  finish(): void {
    this.assertOpen();
    try {
      this.flush();
    } catch (e) {
      this.abort();
      throw e;
    }
    this.closed = true;
    this.dropBuffer();
    this.out.finish();
  }

  /** Closes and removes the temporary file; finalPath is left untouched. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropBuffer();
    this.out.abort();
  }

  /** Once closed: the buffer goes back (nothing writes into it again). */
  protected dropBuffer(): void {
    release(this.buf);
    this.buf = new Uint8Array(0);
    this.bufInMemory = false;
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  protected assertOpen(): void {
    if (this.closed) throw new Error(`${this.what} for ${this.finalPath} is already finished or aborted`);
  }

  /** Room for n more bytes at pos. */
  protected reserve(n: number): void {
    if (this.pos + n > this.buf.length) this.makeRoom(n);
  }

  /** Flushes, and grows the buffer when one block is larger than all of it. */
  protected makeRoom(n: number): void {
    this.flush();
    if (n > this.buf.length) {
      release(this.buf);
      this.buf = bytes((n + 3) & ~3);
      this.bufInMemory = inMemory(this.buf);
      this.bufBase = this.buf.byteOffset;
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
  }

  /** Hands the filled part of the buffer to the file. */
  protected flush(): void {
    this.out.write(this.buf, this.pos);
    this.pos = 0;
  }
}
