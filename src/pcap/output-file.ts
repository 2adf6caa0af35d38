// The file a capture writer streams into: chunks written under a temporary name, renamed into
// place by finish() so the final name only ever holds a whole capture; abort() leaves nothing.
// Every write says its file position, so writes handed to the thread pool (write-behind) may
// finish in any order. (A worker thread writing chunks from shared memory was tried in the first
// session and measured no gain; libuv's thread pool costs no isolate and no copy.)

import * as fs from 'node:fs';

/** Bytes of write-behind buffers under way at once, all writers of this thread together (bounds memory). */
const MAX_BEHIND_BYTES = 8 << 20;
let behindBytes = 0;

export class OutputFile {
  readonly tmpPath: string;
  private readonly fd: number;
  private closed = false;
  /** Bytes written or handed to the thread pool so far: the next write's position. */
  private size = 0;
  /** Writes under way on the thread pool, the first error one of them met, and who waits for them. */
  private behind = 0;
  private behindError: Error | null = null;
  private drained: (() => void) | null = null;
  private closeWhenDrained = false;

  constructor(readonly finalPath: string) {
    this.tmpPath = `${finalPath}.${process.pid}.tmp`;
    this.fd = fs.openSync(this.tmpPath, 'w');
  }

  /** Appends buf[0..len) to the file. */
  write(buf: Uint8Array, len: number): void {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    let off = 0;
    while (off < len) off += fs.writeSync(this.fd, buf, off, len - off, this.size + off);
    this.size += len;
  }

  /**
   * Appends buf[0..len) by a write on the thread pool, if the bytes under way allow; then calls
   * done(buf) on this thread once the buffer is free again, and returns true. Returns false (and
   * writes nothing) when too many bytes are under way: the caller writes in turn instead.
   */
  writeBehind(buf: Uint8Array, len: number, done: (buf: Uint8Array) => void): boolean {
    if (this.closed) throw new Error(`output ${this.finalPath} is already finished or aborted`);
    if (this.behindError) throw this.behindError;
    if (behindBytes + buf.length > MAX_BEHIND_BYTES) return false;
    behindBytes += buf.length;
    this.behind++;
    this.writeAt(buf, 0, len, this.size, done);
    this.size += len;
    return true;
  }

  private writeAt(buf: Uint8Array, off: number, len: number, at: number, done: (buf: Uint8Array) => void): void {
    fs.write(this.fd, buf, off, len, at, (err, n) => {
      if (!err && n < len && !this.closeWhenDrained) {
        this.writeAt(buf, off + n, len - n, at + n, done);
        return;
      }
      if (err) this.behindError ??= new Error(`${this.finalPath}: ${err.message}`);
      behindBytes -= buf.length;
      this.behind--;
      done(buf);
      if (this.behind === 0) {
        if (this.closeWhenDrained) this.closeFd();
        this.drained?.();
      }
    });
  }

  /** Resolves when every write under way has finished; rejects with the first error one met. */
  drain(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const settle = () => { this.drained = null; if (this.behindError) reject(this.behindError); else resolve(); };
      if (this.behind === 0) settle();
      else this.drained = settle;
    });
  }

  /**
   * Closes and renames the temporary file to its final name. No fsync: the rename is what makes
   * the file appear only when whole; surviving a power cut is not a capture tool's job (tcpdump
   * does not fsync either), and it cost about 15% of a benchmark run. Writes behind must have
   * been drained.
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
    if (this.behind !== 0) throw new Error(`output ${this.finalPath} closed with writes under way (drain() first)`);
    if (this.behindError) throw this.behindError;
    this.closed = true;
    fs.closeSync(this.fd);
  }

  /** Closes and removes the temporary file; the final name is left untouched. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.unlinkSync(this.tmpPath); } catch { /* already gone */ }
    // A write on the thread pool still uses the descriptor: close it after (its number could be reused).
    if (this.behind !== 0) this.closeWhenDrained = true;
    else this.closeFd();
  }

  private closeFd(): void {
    try { fs.closeSync(this.fd); } catch { /* already closed */ }
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

  /** Free buffers for write-behind (see writeBehind()), and whether it is on. */
  private spares: Uint8Array[] | null = null;
  private readonly release = (b: Uint8Array): void => {
    if (this.spares && b.length === this.buf.length && this.spares.length < 2) this.spares.push(b);
  };

  /**
   * Turns on write-behind: a full buffer is written by the thread pool while blocks go on being
   * built in another (a few at most; see OutputFile.writeBehind); call drain() before finish().
   */
  writeBehind(): void {
    this.spares ??= [];
  }

  /** Writes the buffer's filled part and waits for every write behind; then finish() or finishPending(). */
  async drain(): Promise<void> {
    this.assertOpen();
    this.flush();
    this.spares = null;
    await this.out.drain();
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

  /** Hands the filled part of the buffer to the file (to the thread pool with write-behind, when it takes it). */
  protected flush(): void {
    const spares = this.spares;
    if (spares && this.pos > 0 && this.out.writeBehind(this.buf, this.pos, this.release)) {
      this.buf = spares.pop() ?? Buffer.allocUnsafe(this.buf.length);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    } else {
      this.out.write(this.buf, this.pos);
    }
    this.pos = 0;
  }
}
