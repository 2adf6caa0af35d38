// What the two capture readers share: the record they expose, their error, their options, and
// the input they stream from (a file through one preallocated buffer, two taking turns with
// read-ahead; or bytes in memory).
// Readers know nothing of scenarios, policies or what the packets mean.

import * as fs from 'node:fs';

/** The largest captured length a reader accepts (libpcap's MAXIMUM_SNAPLEN, 256 KiB). */
export const MAX_CAPLEN = 262144;

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
  /** Name used in error messages for in-memory input. Default "<memory>". */
  readonly name?: string;
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
  /** Bytes of the file consumed so far (for progress). */
  readonly position: number;
  /** Total size of the input in bytes. */
  readonly size: number;
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
  readonly size: number;
  /** The most bytes ensure() can be asked for (a record or block of more cannot be buffered). */
  readonly capacity: number;
  /** See CaptureReader.waiting. */
  waiting = false;
  private fd: number;
  private eof: boolean;
  /** Read-ahead: the buffer not in use, the read into it (bytes read) and that read's file offset. */
  private spare: Uint8Array | null = null;
  private ahead: Promise<number> | null = null;
  private aheadAt = -1;

  constructor(readonly file: string, source: string | Uint8Array, bufferBytes: number | undefined) {
    if (typeof source === 'string') {
      this.fd = fs.openSync(source, 'r');
      try {
        this.size = fs.fstatSync(this.fd).size;
      } catch (e) {
        fs.closeSync(this.fd);
        throw e;
      }
      this.buf = Buffer.allocUnsafe(Math.max(bufferBytes ?? 1 << 20, 1 << 19));
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

  /** File offset of buf[start]. */
  get position(): number {
    return this.base + this.start;
  }

  /** Bytes available from start. */
  get available(): number {
    return this.end - this.start;
  }

  /** Makes at least n bytes available from start (n ≤ capacity); returns whether it could. */
  ensure(n: number): boolean {
    if (this.end - this.start >= n) return true;
    if (this.eof) return false;
    if (this.spare) {
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

  /** Starts reading ahead (see the class comment); a no-op for bytes in memory or when on already. */
  readAhead(): void {
    if (this.fd < 0 || this.spare || this.eof) return;
    this.spare = Buffer.allocUnsafe(2 * this.capacity);
    this.readInto(this.spare, this.base + this.end);
  }

  /** Takes in the read ahead into the window and starts the next read (see the class comment). */
  async refill(): Promise<void> {
    const wanted = this.waiting;
    this.waiting = false;
    const next = this.spare;
    // Only when ensure() asked for it: then the window's tail is less than one record.
    if (!wanted || !next || this.eof) return;
    const from = this.base + this.end;
    let got = await this.ahead!;
    // A skip() past the window moved the file position since the read began: read again there.
    if (this.aheadAt !== from) {
      this.readInto(next, from);
      got = await this.ahead!;
    }
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
    if (got === 0 || from + got >= this.size) {
      this.spare = null;
      if (got === 0) this.eof = true;
      return;
    }
    // The first window's buffer is the plain one: the next read needs one of the doubled size.
    this.spare = old.length === 2 * cap ? old : Buffer.allocUnsafe(2 * cap);
    this.readInto(this.spare, from + got);
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
    return n <= this.capacity;
  }

  /** Consumes n bytes from start, reading past the buffer when they are not all in it; false at EOF. */
  skip(n: number): boolean {
    if (this.end - this.start >= n) {
      this.start += n;
      return true;
    }
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
    if (this.fd >= 0) {
      const fd = this.fd;
      const closeFd = () => { try { fs.closeSync(fd); } catch { /* already closed */ } };
      // A read on the thread pool still uses the descriptor: close it only after (its number could be reused).
      if (this.ahead) this.ahead.then(closeFd, closeFd);
      else closeFd();
      this.fd = -1;
    }
    this.ahead = null;
    this.spare = null;
    this.waiting = false;
    this.eof = true;
    this.start = this.end;
  }
}

/**
 * What both readers do with their input alone: its name and position, read-ahead, closing, and
 * their errors. The formats' parsing is theirs (PcapReader, PcapngReader).
 */
export abstract class StreamedReader {
  readonly file: string;
  protected readonly in: ChunkedInput;

  constructor(source: string | Uint8Array, options: CaptureReaderOptions) {
    this.file = typeof source === 'string' ? source : options.name ?? '<memory>';
    this.in = new ChunkedInput(this.file, source, options.bufferBytes);
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
