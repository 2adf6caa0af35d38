// Opens a capture file as classic pcap or pcapng by its first four bytes.

import * as fs from 'node:fs';
import { CaptureFormatError, hex32, sniffFormat, type CaptureReader, type CaptureReaderOptions } from './capture-reader.js';
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
