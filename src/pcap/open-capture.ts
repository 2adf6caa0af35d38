// Opens a capture file as classic pcap or pcapng by its first four bytes; openCaptureStream also
// takes standard input ("-"), a FIFO, and gzip-compressed captures, streamed.

import * as fs from 'node:fs';
import { createGunzip } from 'node:zlib';
import { ByteStream, CaptureFormatError, ChunkedInput, hex32, sniffFormat, type CaptureReader, type CaptureReaderOptions } from './capture-reader.js';
import { PcapReader } from './pcap-reader.js';
import { PcapngReader } from './pcapng-reader.js';

/**
 * A reader for the file at path, chosen by its magic: PcapReader or PcapngReader. Throws
 * CaptureFormatError (bad magic, truncated, ...) or the fs error when the file cannot be read.
 */
export function openCapture(path: string, options: CaptureReaderOptions = {}): CaptureReader {
  const head = Buffer.alloc(4);
  const fd = fs.openSync(path, 'r');
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  const fmt = sniffFormat(head.subarray(0, n));
  if (fmt === 'pcapng') return new PcapngReader(path, options);
  if (fmt === 'pcap') return new PcapReader(path, options);
  if (n < 4) throw new CaptureFormatError(path, 0, `file too short for a capture header (${n} bytes)`);
  throw new CaptureFormatError(path, 0, `bad magic ${hex32(head.readUInt32BE(0))}: neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)`);
}

/** The same for bytes in memory (tests, fuzzing). */
export function readCaptureBytes(bytes: Uint8Array, options: CaptureReaderOptions = {}): CaptureReader {
  const fmt = sniffFormat(bytes.subarray(0, 4));
  if (fmt === 'pcapng') return new PcapngReader(bytes, options);
  if (fmt === 'pcap') return new PcapReader(bytes, options);
  const name = options.name ?? '<memory>';
  if (bytes.length < 4) throw new CaptureFormatError(name, 0, `file too short for a capture header (${bytes.length} bytes)`);
  const m = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  throw new CaptureFormatError(name, 0, `bad magic ${hex32(m)}: neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)`);
}

/** The first bytes of a gzip member (RFC 1952 §2.3.1: ID1 ID2). */
const GZIP_MAGIC = [0x1f, 0x8b];
/** A stream's header must be there before a reader is built: a pcap header is 24 bytes, a pcapng one needs 4. */
const STREAM_HEADER_BYTES = 24;

/** What openCaptureStream reads: the path to name in messages and whether bytes come decompressed. */
export interface CaptureSource {
  /** "-" is standard input. */
  readonly path: string;
  /** True when the capture is gzip-compressed (offsets in messages are then of the decompressed bytes). */
  readonly gzip: boolean;
  /** True when it can only be read in order (standard input, a FIFO, a compressed file). */
  readonly streamed: boolean;
}

/** Whether the path is standard input, a FIFO or a character device or socket: bytes that come in order, once. */
export function isStreamPath(path: string): boolean {
  if (path === '-') return true;
  try {
    const st = fs.statSync(path);
    return st.isFIFO() || st.isCharacterDevice() || st.isSocket();
  } catch {
    return false;
  }
}

/**
 * A reader for a capture file, standard input ("-") or a FIFO, gzip-compressed or not (as tshark
 * reads them). A regular uncompressed file is openCapture's reader; the others stream (no seek):
 * their packets come through the reader's waiting/refill() (nextPacket), never synchronously.
 */
export async function openCaptureStream(path: string, options: CaptureReaderOptions = {}): Promise<CaptureReader & { readonly source: CaptureSource }> {
  const streamed = isStreamPath(path);
  if (!streamed) {
    const head = Buffer.alloc(2);
    const fd = fs.openSync(path, 'r');
    let n: number;
    try { n = fs.readSync(fd, head, 0, 2, 0); } finally { fs.closeSync(fd); }
    if (n < 2 || head[0] !== GZIP_MAGIC[0] || head[1] !== GZIP_MAGIC[1]) {
      return Object.assign(openCapture(path, options), { source: { path, gzip: false, streamed: false } });
    }
  }
  const size = streamed ? NaN : fs.statSync(path).size;
  const raw: NodeJS.ReadableStream & { destroy(): void; unshift(b: Buffer): void } = path === '-' ? process.stdin : fs.createReadStream(path, { highWaterMark: 1 << 16 });
  // Whether a stream is compressed shows in its first two bytes: peek at them, then give them back.
  const first = await firstBytes(raw, 2);
  const gzip = first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1];
  if (first.length) raw.unshift(first);
  const name = path === '-' ? '<stdin>' : path;
  const label = gzip ? `${name} (decompressed)` : name;
  let bytes: NodeJS.ReadableStream & { destroy?(): void } = raw;
  if (gzip) {
    const gunzip = createGunzip();
    // A decompression error ("incorrect header check", a cut file) ends the stream with it.
    bytes = raw.pipe(gunzip);
    raw.on('error', (e) => gunzip.destroy(e));
  }
  const reader = await readCaptureStream(bytes, { ...options, name: label }, size, gzip ? raw : undefined, gzip);
  return Object.assign(reader, { source: { path, gzip, streamed: true } });
}

/**
 * A reader over bytes that arrive in order (a Readable: a pipe, a decompressor, chunks in
 * memory): streamed, so its packets come through waiting/refill() (nextPacket). `size` is the
 * source's size for progress (NaN when not known); `counted`, the stream whose bytes make it
 * (before a decompressor).
 */
export async function readCaptureStream(bytes: NodeJS.ReadableStream & { destroy?(): void }, options: CaptureReaderOptions = {}, size = NaN,
  counted?: NodeJS.ReadableStream & { destroy?(): void }, gzip = false): Promise<CaptureReader> {
  const label = options.name ?? '<stream>';
  const input = new ChunkedInput(label, new ByteStream(bytes, size, counted), options.bufferBytes, options.inWasmMemory);
  try {
    await input.prefill(STREAM_HEADER_BYTES);
  } catch (e) {
    input.close();
    throw streamError(label, e);
  }
  const fmt = sniffFormat(input.buf.subarray(input.start, input.start + Math.min(4, input.available)));
  try {
    if (fmt === 'pcapng') return new PcapngReader(input, options);
    if (fmt === 'pcap') return new PcapReader(input, options);
  } catch (e) {
    input.close();
    throw e;
  }
  const err = input.available < 4
    ? new CaptureFormatError(label, 0, `file too short for a capture header (${input.available} bytes)`)
    : new CaptureFormatError(label, 0, `bad magic ${hex32(input.view.getUint32(input.start, false))}: neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)${gzip ? '' : ', nor gzip-compressed'}`);
  input.close();
  throw err;
}

/** A zlib failure inside a compressed capture as a CaptureFormatError (its offset: the decompressed bytes so far is not known here: 0). */
export function streamError(label: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) return new CaptureFormatError(label, 0, `gzip: ${(e as Error).message}`);
  return e;
}

/** Reads up to n bytes from the start of a stream (fewer at its end), leaving it paused. */
function firstBytes(stream: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (got < n && (chunk = stream.read() as Buffer | null) !== null) { parts.push(chunk); got += chunk.length; }
      if (got >= n) done();
    };
    const done = (): void => {
      stream.off('readable', onReadable);
      stream.off('end', done);
      stream.off('error', reject);
      resolve(Buffer.concat(parts));
    };
    stream.on('readable', onReadable);
    stream.on('end', done);
    stream.on('error', reject);
  });
}
