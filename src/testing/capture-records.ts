// The records of a capture file, as the golden comparison sees them. A small stand-in until the
// streaming readers of src/pcap (pcapng-reader.ts, pcap-reader.ts) land: golden.ts only needs
// CaptureRecord, so the real readers plug in through readCaptureRecords alone.

import { readFileSync } from 'node:fs';

export interface CaptureRecord {
  /** pcapng interface id; 0 in classic pcap. */
  readonly interfaceId: number;
  /** In the file's timestamp units (ns or µs) since the Unix epoch. */
  readonly timestamp: bigint;
  readonly bytes: Uint8Array;
  /** pcapng opt_comment; undefined in classic pcap or when absent. */
  readonly comment?: string;
}

const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_EPB = 0x00000006;
const PCAPNG_BYTE_ORDER = 0x1a2b3c4d;
const OPT_COMMENT = 1;
const PCAP_MAGICS = [0xa1b2c3d4, 0xa1b23c4d];

const utf8 = new TextDecoder();

/** Every packet record of a pcapng or classic pcap file, in file order. */
export function* readCaptureRecords(path: string): Generator<CaptureRecord> {
  const buf = readFileSync(path);
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24) throw new Error(`${path}: too short for a capture file (${bytes.length} bytes)`);
  const first = view.getUint32(0, true);
  if (first === PCAPNG_SHB) {
    yield* pcapngRecords(path, bytes, view);
  } else if (PCAP_MAGICS.includes(first) || PCAP_MAGICS.includes(view.getUint32(0, false))) {
    yield* pcapRecords(path, bytes, view);
  } else {
    throw new Error(`${path}: not a pcapng or pcap file`);
  }
}

function* pcapngRecords(path: string, bytes: Uint8Array, view: DataView): Generator<CaptureRecord> {
  let le = true;
  let at = 0;
  while (at + 12 <= bytes.length) {
    const type = view.getUint32(at, le);
    if (type === PCAPNG_SHB) le = view.getUint32(at + 8, true) === PCAPNG_BYTE_ORDER;
    const len = view.getUint32(at + 4, le);
    if (len < 12 || at + len > bytes.length) throw new Error(`${path}: block at byte ${at} is cut short`);
    if (type === PCAPNG_EPB) {
      const capLen = view.getUint32(at + 20, le);
      const data = at + 28;
      let comment: string | undefined;
      for (let o = data + ((capLen + 3) & ~3); o + 4 <= at + len - 4; ) {
        const code = view.getUint16(o, le);
        const n = view.getUint16(o + 2, le);
        if (code === 0) break;
        if (code === OPT_COMMENT) comment = utf8.decode(bytes.subarray(o + 4, o + 4 + n));
        o += 4 + ((n + 3) & ~3);
      }
      yield {
        interfaceId: view.getUint32(at + 8, le),
        timestamp: (BigInt(view.getUint32(at + 12, le)) << 32n) | BigInt(view.getUint32(at + 16, le)),
        bytes: bytes.subarray(data, data + capLen),
        comment,
      };
    }
    at += len;
  }
}

function* pcapRecords(path: string, bytes: Uint8Array, view: DataView): Generator<CaptureRecord> {
  const le = PCAP_MAGICS.includes(view.getUint32(0, true));
  const ns = view.getUint32(0, le) === 0xa1b23c4d;
  for (let at = 24; at + 16 <= bytes.length; ) {
    const sec = BigInt(view.getUint32(at, le));
    const frac = BigInt(view.getUint32(at + 4, le));
    const capLen = view.getUint32(at + 8, le);
    if (at + 16 + capLen > bytes.length) throw new Error(`${path}: record at byte ${at} is cut short`);
    yield { interfaceId: 0, timestamp: sec * (ns ? 1_000_000_000n : 1_000_000n) + frac, bytes: bytes.subarray(at + 16, at + 16 + capLen) };
    at += 16 + capLen;
  }
}
