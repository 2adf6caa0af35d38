// The file a capture writer streams into: chunks appended under a temporary name, renamed into
// place by finish() so the final name only ever holds a whole capture; abort() leaves nothing.
// (A worker thread writing chunks from shared memory was tried and measured: no gain on this
// machine's disk or on tmpfs, since the cost is in building the blocks, not in write(2). So was
// write-behind on libuv's thread pool: 509-519 ms against 509-520 ms, min of 9 replays of 1M
// packets, and 8 MiB more per thread.)

import * as fs from 'node:fs';

export class OutputFile {
  readonly tmpPath: string;
  private readonly fd: number;
  private closed = false;

  constructor(readonly finalPath: string) {
    this.tmpPath = `${finalPath}.${process.pid}.tmp`;
    this.fd = fs.openSync(this.tmpPath, 'w');
  }

  /** Appends buf[0..len) to the file. */
  write(buf: Uint8Array, len: number): void {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    let off = 0;
    while (off < len) off += fs.writeSync(this.fd, buf, off, len - off);
  }

  /**
   * Closes and renames the temporary file to its final name. No fsync: the rename is what makes
   * the file appear only when whole; surviving a power cut is not a capture tool's job (tcpdump
   * does not fsync either), and it cost about 15% of a benchmark run.
   */
  finish(): void {
    this.close();
    fs.renameSync(this.tmpPath, this.finalPath);
  }

  /**
   * Closes the temporary file and leaves it under its temporary name: for a caller that renames
   * several outputs together once all of them are whole (a parallel replay), or removes them all.
   */
  close(): void {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    this.closed = true;
    fs.closeSync(this.fd);
  }

  /** Closes and removes the temporary file; the final name is left untouched. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
    try { fs.unlinkSync(this.tmpPath); } catch { /* already gone */ }
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
  private readonly out: OutputFile;

  /** `what` names the format in errors ("pcapng writer"). */
  constructor(readonly finalPath: string, chunkBytes: number | undefined, private readonly what: string) {
    this.buf = Buffer.allocUnsafe(Math.max(chunkBytes ?? 1 << 20, 4096));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.out = new OutputFile(finalPath);
    this.tmpPath = this.out.tmpPath;
  }

  /** Flushes, closes and atomically renames the temporary file to finalPath. */
  finish(): void {
    this.assertOpen();
    this.flush();
    this.closed = true;
    this.out.finish();
  }

  /** Flushes and closes the temporary file without renaming it (see OutputFile.close); returns its path. */
  finishPending(): string {
    this.assertOpen();
    this.flush();
    this.closed = true;
    this.out.close();
    return this.tmpPath;
  }

  /** Closes and removes the temporary file; finalPath is left untouched. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.abort();
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
      this.buf = Buffer.allocUnsafe((n + 3) & ~3);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
  }

  /** Hands the filled part of the buffer to the file. */
  protected flush(): void {
    this.out.write(this.buf, this.pos);
    this.pos = 0;
  }
}
