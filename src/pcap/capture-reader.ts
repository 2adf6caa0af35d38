// What the two capture readers share: the record they expose, their error, their options, and
// the input they stream from (a file through one preallocated buffer, two taking turns with
// read-ahead; or bytes in memory).
// Readers know nothing of scenarios, policies or what the packets mean.

import * as fs from 'node:fs';
import { bytes, release } from '../wasm/packets.js';

/** The largest captured length a reader accepts (libpcap's MAXIMUM_SNAPLEN, 256 KiB). */
export const MAX_CAPLEN = 262144;

/**
 * The largest pcapng block read into memory: libpcap's bound (sf-pcapng.c INITIAL_MAX_BLOCKSIZE,
 * 16 MiB; it refuses a larger block). A packet block of large options or a section header with a
 * long comment may pass the read buffer's megabyte: the buffer grows to hold it, up to this.
 */
export const MAX_BLOCK_BYTES = 16 << 20;

/**
 * A capture file that cannot be read as what it claims to be. `offset` is the byte offset in
 * the file of the header, record or block at fault; the message names file and offset:
 * `x.pcap: byte 24: truncated record header (7 of 16 bytes)`.
 */
export class CaptureFormatError extends Error {
  override readonly name = 'CaptureFormatError';
  constructor(readonly file: string, readonly offset: number, readonly detail: string) {
    super(`${file}: byte ${offset}: ${detail}`);
  }
}

export interface CaptureReaderOptions {
  /** Size of the buffer the file streams through (read-ahead: two of twice that size). Default 1 MiB; at least 512 KiB. */
  readonly bufferBytes?: number;
  /**
   * Link types the caller can decode; an interface of any other is a CaptureFormatError at its
   * header. Default: every link type (the caller decides).
   */
  readonly linkTypes?: readonly number[];
  /**
   * A file's or stream's buffers in the WebAssembly memory when there is room there (wasm/packets.ts):
   * a replay that writes outputs builds them from there. Default false (ordinary buffers).
   */
  readonly inWasmMemory?: boolean;
  /** Name used in error messages for in-memory input. Default "<memory>". */
  readonly name?: string;
  /**
   * A file that ends inside its last record (tcpdump killed, a full disk): 'error' (the default)
   * throws a CaptureFormatError there; 'stop' ends the packets before it, as tshark and libpcap
   * read such a file, and keeps the error in the reader's `truncation` for a warning.
   */
  readonly truncatedEnd?: 'error' | 'stop';
}

/**
 * A streaming capture reader: call next() until it returns false; after each true, the fields
 * describe the current packet, whose bytes are data[offset, offset + caplen). `data` is the
 * reader's own buffer: the bytes (and data itself) are valid only until the next call to next().
 * No object is created per packet. Errors are CaptureFormatError with the byte offset.
 */
export interface CaptureReader {
  readonly file: string;
  readonly format: 'pcap' | 'pcapng';
  /** Advances to the next packet; false at the end of the file. */
  next(): boolean;
  /** The buffer that holds the current packet. */
  readonly data: Uint8Array;
  /** Where the current packet's bytes start in data. */
  readonly offset: number;
  /** Bytes captured (present in data). */
  readonly caplen: number;
  /** Length of the packet on the wire. */
  readonly origLen: number;
  /** Timestamp: whole seconds since 1970-01-01T00:00:00Z (a negative if_tsoffset may make it < 0). */
  readonly tsSec: number;
  /** Timestamp: nanoseconds within the second, 0..999999999 (truncated from finer resolutions). */
  readonly tsNsec: number;
  /** LINKTYPE_* of the packet's interface. */
  readonly linkType: number;
  /** Snapshot length of the packet's interface (0 in pcapng means none; reported as MAX_CAPLEN). */
  readonly snaplen: number;
  /** Interface index within its section (pcapng); 0 for classic pcap. */
  readonly interfaceId: number;
  /** Section number, 0-based (pcapng); 0 for classic pcap. */
  readonly section: number;
  /** Byte offset in the file of the current packet's record header or block. */
  readonly recordOffset: number;
  /** 0-based index of the current packet in the file. */
  readonly index: number;
  /** Bytes of the capture consumed so far (after decompression). */
  readonly position: number;
  /** Total size of the capture in bytes; NaN when it is not known before the end (a pipe, a compressed file). */
  readonly size: number;
  /** For progress: bytes of the input read so far (of the compressed file, when it is), and its size (NaN for a pipe). */
  readonly sourcePosition: number;
  readonly sourceSize: number;
  /** With truncatedEnd 'stop': the error of a last record the file ends inside, once next() has returned false there; else null. */
  readonly truncation: CaptureFormatError | null;
  /**
   * Turns on read-ahead: the next part of the file is read on libuv's thread pool while the
   * caller works through the buffered part. From then on next() may also return false because
   * that read is still under way: `waiting` tells, and the caller awaits refill() and calls
   * next() again. In-memory input has nothing to read ahead (never waits).
   */
  readAhead(): void;
  /** True when the last next() returned false only because the read ahead had not been taken in yet. */
  readonly waiting: boolean;
  /** Takes in the read ahead (waiting for it to finish) and starts the next one. */
  refill(): Promise<void>;
  /** Closes the file; next() then returns false. Safe to call twice. */
  close(): void;
}

/** Reads packets until one is there, awaiting the read-ahead when the reader waits for it; false at the end. */
export async function nextPacket(reader: CaptureReader): Promise<boolean> {
  while (!reader.next()) {
    if (!reader.waiting) return false;
    await reader.refill();
  }
  return true;
}

/** Bytes of the first read of a file (see ChunkedInput.ensure). */
const FIRST_READ = 32768;

/**
 * The input of a reader: a window buf[start, end) over the file, refilled from the file by
 * ensure(). Bytes before `start` are consumed; a refill moves the unconsumed tail to buf[0]
 * (a copy only when a record straddles two reads, never per packet).
 *
 * With read-ahead (readAhead()), two buffers of twice the window's size take turns: while the
 * reader parses one, the thread pool reads the next `capacity` bytes of the file into the upper
 * half of the other. ensure() then never reads: when the window lacks bytes it sets `waiting`
 * and returns false; refill() awaits the read, puts the window's unconsumed tail just before
 * the new bytes (the tail is shorter than one record, so it fits the lower half) and swaps.
 */
export class ChunkedInput {
  buf: Uint8Array;
  view: DataView;
  start = 0;
  end = 0;
  /** File offset of buf[0]. */
  base = 0;
  /** NaN for a stream (see ByteStream). */
  readonly size: number;
  /** The buffer's size (half the buffers' with read-ahead): ensure() of more grows it, up to MAX_BLOCK_BYTES. */
  capacity: number;
  /** See CaptureReader.waiting. */
  waiting = false;
  /** False for a stream: bytes come in order only, so skipping is reading, and the size is not known. */
  readonly seekable: boolean;
  private fd: number;
  private eof: boolean;
  /** A stream's source, and how many bytes a refill must make available. */
  private readonly stream: ByteStream | null = null;
  private wanted = 0;
  /** A compressed stream that ended before its gzip trailer (a file cut short). */
  cutShort = false;
  /** Read-ahead: the buffer not in use, the read into it (bytes read) and that read's file offset. */
  private spare: Uint8Array | null = null;
  private ahead: Promise<number> | null = null;
  private aheadAt = -1;

  /** Whether buffers come from the WebAssembly memory (see CaptureReaderOptions.inWasmMemory). */
  private readonly wasm: boolean;

  constructor(readonly file: string, source: string | Uint8Array | ByteStream, bufferBytes: number | undefined, inWasmMemory = false) {
    this.wasm = inWasmMemory;
    this.seekable = !(source instanceof ByteStream);
    if (source instanceof ByteStream) {
      // Streamed (a pipe, or a decompressor): every byte arrives through refill(), never synchronously.
      this.stream = source;
      this.fd = -1;
      this.size = NaN;
      this.buf = this.alloc(Math.max(bufferBytes ?? 1 << 20, 1 << 19));
      this.capacity = this.buf.length;
      this.eof = false;
    } else if (typeof source === 'string') {
      this.fd = fs.openSync(source, 'r');
      try {
        this.size = fs.fstatSync(this.fd).size;
      } catch (e) {
        fs.closeSync(this.fd);
        throw e;
      }
      this.buf = this.alloc(Math.max(bufferBytes ?? 1 << 20, 1 << 19));
      this.capacity = this.buf.length;
      this.eof = false;
    } else {
      this.fd = -1;
      this.size = source.length;
      this.buf = source;
      this.capacity = source.length;
      this.end = source.length;
      this.eof = true;
    }
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** A buffer of n bytes, in the WebAssembly memory when asked for and there is room (released at close, or collected). */
  private alloc(n: number): Buffer {
    return this.wasm ? bytes(n) : Buffer.allocUnsafe(n);
  }

  /** File offset of buf[start]. */
  get position(): number {
    return this.base + this.start;
  }

  /** Bytes available from start. */
  get available(): number {
    return this.end - this.start;
  }

  /** Makes at least n bytes available from start (n ≤ MAX_BLOCK_BYTES); returns whether it could. */
  ensure(n: number): boolean {
    if (this.end - this.start >= n) return true;
    if (this.eof) return false;
    if (this.stream) {
      // More comes only through refill(); a stream never runs synchronously.
      this.wanted = n;
      this.waiting = true;
      return false;
    }
    if (this.spare) {
      if (n > this.capacity) this.wanted = n;
      // Read-ahead: more of the file is coming unless the window already reaches its end.
      this.waiting = this.base + this.end < this.size;
      return false;
    }
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.base += this.start;
      this.end -= this.start;
      this.start = 0;
    }
    if (n > this.buf.length) this.grow(n, 1);
    while (this.end < n) {
      // The file's first read is small (FIRST_READ): the first packets come sooner, and a reader
      // with read-ahead meets its refill path within its first packets rather than after a
      // megabyte, when the JIT has optimized next() without it (and would deoptimize there).
      const want = this.base + this.end === 0 ? Math.max(n, Math.min(FIRST_READ, this.buf.length)) : this.buf.length - this.end;
      const got = fs.readSync(this.fd, this.buf, this.end, want, this.base + this.end);
      if (got === 0) {
        this.eof = true;
        return false;
      }
      this.end += got;
    }
    return true;
  }

  /** A buffer of at least n bytes (times `factor`) holding the window's bytes at its start; capacity follows. */
  private grow(n: number, factor: number): void {
    let cap = this.capacity;
    while (cap < n) cap *= 2;
    const next = this.alloc(cap * factor);
    next.set(this.buf.subarray(this.start, this.end), 0);
    this.base += this.start;
    this.end -= this.start;
    this.start = 0;
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
    this.capacity = cap;
  }

  /** Starts reading ahead (see the class comment); a no-op for bytes in memory or a stream, or when on already. */
  readAhead(): void {
    if (this.fd < 0 || this.spare || this.eof) return;
    this.spare = this.alloc(2 * this.capacity);
    this.readInto(this.spare, this.base + this.end);
  }

  /** Takes in the read ahead into the window and starts the next read (see the class comment). */
  async refill(): Promise<void> {
    if (this.stream) return this.refillStream();
    const wanted = this.waiting;
    this.waiting = false;
    const big = this.wanted;
    this.wanted = 0;
    const next = this.spare;
    // Only when ensure() asked for it: then the window's tail is less than one record.
    if (!wanted || !next || this.eof) return;
    const from = this.base + this.end;
    let got = await this.ahead!;
    // A skip() past the window moved the file position since the read began: read again there.
    if (this.aheadAt !== from && this.fd >= 0) {
      this.readInto(next, from);
      got = await this.ahead!;
    }
    // Closed while the read was on its way: its buffers have gone back (close()), nothing more to take in.
    if (this.fd < 0) return;
    this.ahead = null;
    const cap = this.capacity;
    const tail = this.end - this.start;
    // The tail is less than one record, and a record is at most capacity bytes: it fits below.
    next.set(this.buf.subarray(this.start, this.end), cap - tail);
    const old = this.buf;
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
    this.base = from - cap;
    this.start = cap - tail;
    this.end = cap + got;
    if (big > this.end - this.start && big > cap && got > 0 && from + got < this.size) {
      // A block larger than the buffers: grow both, read the rest of it now, and read ahead from there.
      this.grow(big, 2);
      const fd = this.fd;
      while (this.end - this.start < big) {
        const n = await new Promise<number>((resolve, reject) => {
          fs.read(fd, this.buf, this.end, this.buf.length - this.end, this.base + this.end, (err, k) => (err ? reject(err) : resolve(k)));
        });
        if (n === 0 || this.fd < 0) break;
        this.end += n;
      }
      if (this.fd < 0) return;
      if (this.base + this.end >= this.size) { this.spare = null; return; }
      this.spare = this.alloc(2 * this.capacity);
      this.readInto(this.spare, this.base + this.end);
      return;
    }
    if (got === 0 || from + got >= this.size) {
      this.spare = null;
      if (got === 0) this.eof = true;
      return;
    }
    // The first window's buffer is the plain one: the next read needs one of the doubled size.
    if (old.length !== 2 * cap) release(old);
    this.spare = old.length === 2 * cap ? old : this.alloc(2 * cap);
    this.readInto(this.spare, from + got);
  }

  /** A stream's refill: moves the window's tail down (growing for a large block) and takes chunks until the wanted bytes are there or the stream ends. */
  private async refillStream(): Promise<void> {
    if (!this.waiting || this.eof) return;
    this.waiting = false;
    const want = Math.max(this.wanted, 1);
    if (want > this.buf.length - this.start) {
      if (want > this.buf.length) this.grow(want, 1);
      else {
        this.buf.copyWithin(0, this.start, this.end);
        this.base += this.start;
        this.end -= this.start;
        this.start = 0;
      }
    }
    while (this.end - this.start < want) {
      let got: number;
      try {
        got = await this.stream!.read(this.buf, this.end, this.buf.length - this.end);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException | null)?.code;
        if (typeof code !== 'string' || !code.startsWith('Z_')) throw e;
        // A compressed file cut short ends where its bytes do (the reader says whether mid-record); other damage is an error.
        if (code !== 'Z_BUF_ERROR') throw new CaptureFormatError(this.file, this.position + this.available, `gzip: ${(e as Error).message}`);
        this.cutShort = true;
        got = 0;
      }
      if (got === 0) { this.eof = true; return; }
      this.end += got;
    }
    // And whatever else has come in already, up to the buffer's end: fewer refills.
    this.end += this.stream!.take(this.buf, this.end, this.buf.length - this.end);
  }

  /** A stream's first n bytes (or all it has, if fewer), so that a reader's constructor finds its header. */
  async prefill(n: number): Promise<void> {
    if (!this.stream || this.end - this.start >= n) return;
    this.wanted = n;
    this.waiting = true;
    await this.refillStream();
  }

  /** For progress: bytes of the underlying file or pipe read so far. */
  get sourcePosition(): number {
    return this.stream ? this.stream.consumed : this.position;
  }

  get sourceSize(): number {
    return this.stream ? this.stream.size : this.size;
  }

  private readInto(target: Uint8Array, at: number): void {
    const fd = this.fd;
    const cap = this.capacity;
    this.aheadAt = at;
    this.ahead = new Promise<number>((resolve, reject) => {
      fs.read(fd, target, cap, Math.min(cap, this.size - at), at, (err, n) => (err ? reject(err) : resolve(n)));
    });
  }

  /** Whether n bytes could ever be buffered at once. */
  fits(n: number): boolean {
    return n <= Math.max(this.capacity, MAX_BLOCK_BYTES);
  }

  /** Consumes n bytes from start, reading past the buffer when they are not all in it (not on a stream); false at EOF. */
  skip(n: number): boolean {
    if (this.end - this.start >= n) {
      this.start += n;
      return true;
    }
    if (this.stream) throw new Error('a stream cannot skip bytes it has not buffered');
    const target = this.position + n;
    if (target > this.size) return false;
    this.base = target;
    this.start = 0;
    this.end = 0;
    return true;
  }

  /** Reads 4 bytes at an absolute file offset (for a block too large to buffer). */
  readAt32(fileOffset: number, little: boolean): number | undefined {
    if (this.fd < 0) {
      if (fileOffset + 4 > this.size) return undefined;
      return this.view.getUint32(fileOffset, little);
    }
    const b = Buffer.allocUnsafe(4);
    if (fs.readSync(this.fd, b, 0, 4, fileOffset) !== 4) return undefined;
    return little ? b.readUInt32LE(0) : b.readUInt32BE(0);
  }

  close(): void {
    this.stream?.close();
    if (this.fd >= 0) {
      const fd = this.fd;
      // A file's buffers go back to the WebAssembly memory's arena, the one a read fills once it is done.
      const buf = this.buf, spare = this.spare;
      const closeFd = () => {
        try { fs.closeSync(fd); } catch { /* already closed */ }
        release(buf);
        if (spare) release(spare);
      };
      // A read on the thread pool still uses the descriptor (and the spare buffer): close it only after (its number could be reused).
      if (this.ahead) this.ahead.then(closeFd, closeFd);
      else closeFd();
      this.fd = -1;
      this.buf = new Uint8Array(0);
      this.view = new DataView(this.buf.buffer);
    }
    this.ahead = null;
    this.spare = null;
    this.waiting = false;
    this.eof = true;
    this.start = this.end;
  }
}

/**
 * Bytes that arrive in order only: standard input, a FIFO, or a decompressor's output. read()
 * copies what is there (waiting for at least one byte); 0 means the end.
 */
export class ByteStream {
  private chunk: Buffer | null = null;
  private at = 0;
  private ended = false;
  private closed = false;
  private failed: unknown = null;
  private wake: (() => void) | null = null;

  /**
   * `readable` gives the bytes (read in paused mode: what is buffered is taken without waiting);
   * `counted`, when given, is the stream whose bytes are the file's (before a decompressor):
   * `consumed` counts those, out of `size` (NaN when not known).
   */
  constructor(private readonly readable: NodeJS.ReadableStream & { destroy?(): void }, readonly size: number,
    private readonly counted?: NodeJS.ReadableStream & { destroy?(): void }) {
    const notify = (): void => { const w = this.wake; this.wake = null; w?.(); };
    readable.on('readable', notify);
    readable.on('end', () => { this.ended = true; notify(); });
    readable.on('error', (e: unknown) => { this.failed = e; notify(); });
    // A 'data' listener would set a paused stream flowing: only on one already piped (into a decompressor).
    counted?.on('data', (b: Buffer) => { this.consumed += b.length; });
  }

  /** Bytes of the source read so far. */
  consumed = 0;

  /** Copies what is buffered already, up to length bytes, without waiting; 0 when nothing is. */
  take(target: Uint8Array, offset: number, length: number): number {
    let n = 0;
    while (n < length && !this.closed) {
      if (!this.chunk || this.at >= this.chunk.length) {
        const c = this.readable.read() as Buffer | null;
        if (c === null) break;
        this.chunk = c;
        this.at = 0;
        if (!this.counted) this.consumed += c.length;
      }
      const k = Math.min(length - n, this.chunk.length - this.at);
      target.set(this.chunk.subarray(this.at, this.at + k), offset + n);
      this.at += k;
      n += k;
    }
    return n;
  }

  /** Copies at least one byte (waiting for it), up to length; 0 at the end. */
  async read(target: Uint8Array, offset: number, length: number): Promise<number> {
    if (length <= 0) return 0;
    for (;;) {
      const n = this.take(target, offset, length);
      if (n > 0) return n;
      if (this.failed) throw this.failed;
      if (this.ended || this.closed) return 0;
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  close(): void {
    this.closed = true;
    this.readable.destroy?.();
    this.counted?.destroy?.();
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/**
 * What both readers do with their input alone: its name and position, read-ahead, closing, and
 * their errors. The formats' parsing is theirs (PcapReader, PcapngReader).
 */
export abstract class StreamedReader {
  readonly file: string;
  protected readonly in: ChunkedInput;
  truncation: CaptureFormatError | null = null;
  private readonly stopAtTruncation: boolean;

  /** A path, bytes in memory, or an input already open (a stream: openCaptureStream). */
  constructor(source: string | Uint8Array | ChunkedInput, options: CaptureReaderOptions) {
    this.file = source instanceof ChunkedInput ? source.file : typeof source === 'string' ? source : options.name ?? '<memory>';
    this.in = source instanceof ChunkedInput ? source : new ChunkedInput(this.file, source, options.bufferBytes, options.inWasmMemory);
    this.stopAtTruncation = options.truncatedEnd === 'stop';
  }

  get sourcePosition(): number {
    return this.in.sourcePosition;
  }

  get sourceSize(): number {
    return this.in.sourceSize;
  }

  /** At the end of the input between records: false, unless a compressed stream was cut short there (then as truncated()). */
  protected atEnd(): false {
    if (!this.in.cutShort) return false;
    return this.truncated(this.error(this.in.position, 'the compressed file ends before its gzip trailer (cut short)'));
  }

  /** The file ends inside a record: throws `err`, or (truncatedEnd 'stop') keeps it and ends the packets. */
  protected truncated(err: CaptureFormatError): false {
    if (!this.stopAtTruncation) throw err;
    this.truncation = err;
    this.in.close();
    return false;
  }

  get position(): number {
    return this.in.position;
  }

  get size(): number {
    return this.in.size;
  }

  readAhead(): void {
    this.in.readAhead();
  }

  get waiting(): boolean {
    return this.in.waiting;
  }

  refill(): Promise<void> {
    return this.in.refill();
  }

  close(): void {
    this.in.close();
  }

  protected error(offset: number, detail: string): CaptureFormatError {
    return new CaptureFormatError(this.file, offset, detail);
  }
}

/** The magic numbers that tell the formats apart (first 4 bytes, either byte order). */
export function sniffFormat(first4: Uint8Array): 'pcap' | 'pcapng' | null {
  if (first4.length < 4) return null;
  const be = ((first4[0]! << 24) | (first4[1]! << 16) | (first4[2]! << 8) | first4[3]!) >>> 0;
  const le = ((first4[3]! << 24) | (first4[2]! << 16) | (first4[1]! << 8) | first4[0]!) >>> 0;
  if (be === 0x0a0d0d0a) return 'pcapng';
  for (const m of [be, le]) if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) return 'pcap';
  return null;
}

/** Formats a 32-bit number as 0x%08x for messages. */
export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}
