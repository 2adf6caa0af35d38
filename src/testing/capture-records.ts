// The records of a capture file, as the golden comparison sees them: one object per packet,
// read through the streaming readers of src/pcap (openCapture). Those readers do not expose
// packet comments yet, so the opt_comment of a pcapng EPB is read here from the block the
// reader points at (recordOffset); drop that once CaptureReader has a comment field.

import { readFileSync } from 'node:fs';
import { openCapture } from '../pcap/open-capture.js';

export interface CaptureRecord {
  /** pcapng interface id; 0 in classic pcap. */
  readonly interfaceId: number;
  /** Nanoseconds since the Unix epoch. */
  readonly timestamp: bigint;
  readonly bytes: Uint8Array;
  /** pcapng opt_comment; undefined in classic pcap or when absent. */
  readonly comment?: string;
}

const EPB_HEADER = 28;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const utf8 = new TextDecoder();

/** The opt_comment of the little- or big-endian EPB at `at` with `caplen` bytes of packet. */
function epbComment(file: Uint8Array, at: number, caplen: number, le: boolean): string | undefined {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (at + 8 > file.length) return undefined;
  const end = at + view.getUint32(at + 4, le) - 4;
  for (let o = at + EPB_HEADER + ((caplen + 3) & ~3); o + 4 <= end; ) {
    const code = view.getUint16(o, le);
    const n = view.getUint16(o + 2, le);
    if (code === OPT_ENDOFOPT) break;
    if (code === OPT_COMMENT) return utf8.decode(file.subarray(o + 4, o + 4 + n));
    o += 4 + ((n + 3) & ~3);
  }
  return undefined;
}

/** Every packet record of a pcapng or classic pcap file, in file order, one at a time. */
export function* readCaptureRecords(path: string): Generator<CaptureRecord> {
  const reader = openCapture(path);
  // Only for the comments: the whole file, read once (captures compared here are small).
  const file = reader.format === 'pcapng' ? new Uint8Array(readFileSync(path)) : null;
  const le = file ? file[8] === 0x4d : true; // byte-order magic 1a2b3c4d as written
  try {
    while (reader.next()) {
      const bytes = reader.data.slice(reader.offset, reader.offset + reader.caplen);
      const comment = file ? epbComment(file, reader.recordOffset, reader.caplen, le) : undefined;
      yield { interfaceId: reader.interfaceId, timestamp: BigInt(reader.tsSec) * 1_000_000_000n + BigInt(reader.tsNsec), bytes, comment };
    }
  } finally {
    reader.close();
  }
}
