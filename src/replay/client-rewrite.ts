// A captured client segment moved into the emulated server's sequence space, in place in the
// output buffer: its acknowledgement number, SACK edges (RFC 2018) and TSecr (RFC 7323) refer
// to the real server, whose packets the output replaces with the emulated server's. Checksums
// are recomputed: captures taken on the sending host carry unfinished ones (checksum offload).

import { foldChecksum } from '../emu/wire/checksum.js';

const TCP_ACK = 16;
const TCPOPT_EOL = 0, TCPOPT_NOP = 1, TCPOPT_SACK = 5, TCPOPT_TIMESTAMPS = 8;
const IPPROTO_TCP = 6;

/** The emulated server's side of one replayed connection, as the client's packets should see it. */
export interface ServerSpace {
  /** The real server's ISN (from its SYN-ACK, else the client's first ACK minus one). */
  realIsn: number;
  /** The emulated server's ISN and next sequence number: acknowledgements are capped there. */
  emuIsn: number;
  emuNext: number;
  /** The TSval of the emulated server's latest segment (what the client echoes in TSecr). */
  emuTsval: number;
}

const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const put32 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v >>> 24; b[at + 1] = v >>> 16; b[at + 2] = v >>> 8; b[at + 3] = v;
};

/** A real server sequence number as the emulated server's: the same offset from the ISN, never past what it sent. */
function mapSeq(real: number, s: ServerSpace): number {
  const offset = (real - s.realIsn) >>> 0;
  const sent = (s.emuNext - s.emuIsn) >>> 0;
  return (s.emuIsn + (offset < sent ? offset : sent)) >>> 0;
}

/**
 * Rewrites the TCP segment at buf[tcpAt, segEnd) (IP header at ipAt, bytes captured up to capEnd)
 * into space, or only fixes its checksums when space is null (a SYN: nothing to acknowledge yet).
 */
export function rewriteClientSegment(buf: Uint8Array, family: number, ipAt: number, tcpAt: number, segEnd: number, capEnd: number,
  space: ServerSpace | null): void {
  const flags = buf[tcpAt + 13]!;
  if (space && (flags & TCP_ACK) !== 0) {
    put32(buf, tcpAt + 8, mapSeq(u32(buf, tcpAt + 8), space));
    const optEnd = tcpAt + (buf[tcpAt + 12]! >>> 4) * 4;
    for (let o = tcpAt + 20; o < optEnd;) {
      const kind = buf[o]!;
      if (kind === TCPOPT_EOL) break;
      if (kind === TCPOPT_NOP) { o++; continue; }
      const len = buf[o + 1]!;
      if (len < 2 || o + len > optEnd) break;
      if (kind === TCPOPT_TIMESTAMPS && len === 10) {
        if (u32(buf, o + 6) !== 0) put32(buf, o + 6, space.emuTsval);
      } else if (kind === TCPOPT_SACK) {
        for (let e = o + 2; e + 4 <= o + len; e += 4) put32(buf, e, mapSeq(u32(buf, e), space));
      }
      o += len;
    }
  }
  const dv = viewOf(buf);
  if (family === 4) {
    // The IPv4 header checksum, over the header only [RFC 791].
    const ihl = (buf[ipAt]! & 0x0f) * 4;
    buf[ipAt + 10] = 0; buf[ipAt + 11] = 0;
    dv.setUint16(ipAt + 10, fold(sum16(dv, buf, ipAt, ipAt + ihl, 0)));
  }
  // A segment cut by the snaplen cannot be summed; a reader cannot check it either.
  if (segEnd > capEnd) return;
  const len = segEnd - tcpAt;
  let sum = IPPROTO_TCP + len;
  sum = family === 4 ? sum16(dv, buf, ipAt + 12, ipAt + 20, sum) : sum16(dv, buf, ipAt + 8, ipAt + 40, sum);
  buf[tcpAt + 16] = 0; buf[tcpAt + 17] = 0;
  dv.setUint16(tcpAt + 16, fold(sum16(dv, buf, tcpAt, segEnd, sum)));
}

let viewBuf: Uint8Array | null = null;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** A DataView of the writer's buffer, kept while it stays the same buffer. */
function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewBuf) {
    viewBuf = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return view;
}

/**
 * sum plus the 16-bit big-endian words of buf[at, end) (an odd last byte padded with zero), in
 * int32 arithmetic: each 32-bit load adds its two halves (the sum of a 64 KiB segment, 32,768
 * words of at most 0xffff, stays below 2^31). emu/wire/checksum.ts's sumWords adds whole 32-bit
 * words as float64s; the same folded checksum, measured 1.5x faster here.
 */
function sum16(dv: DataView, buf: Uint8Array, at: number, end: number, sum: number): number {
  let i = at;
  for (; i + 4 <= end; i += 4) {
    const w = dv.getInt32(i);
    sum += (w >>> 16) + (w & 0xffff);
  }
  if (i + 2 <= end) { sum += dv.getUint16(i); i += 2; }
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** A sum of 16-bit words folded into 16 bits and complemented: the checksum field's value. */
function fold(sum: number): number {
  if (sum > 0x7fffffff) return foldChecksum(sum);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
