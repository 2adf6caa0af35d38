// A captured client segment moved into the emulated server's sequence space, in place in the
// output buffer: its acknowledgement number, SACK edges (RFC 2018) and TSecr (RFC 7323) refer
// to the real server, whose packets the output replaces with the emulated server's. Checksums
// are recomputed: captures taken on the sending host carry unfinished ones (checksum offload).

import { foldChecksum, sumWords } from '../emu/wire/checksum.js';

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
  if (family === 4) {
    // The IPv4 header checksum, over the header only [RFC 791].
    const ihl = (buf[ipAt]! & 0x0f) * 4;
    buf[ipAt + 10] = 0; buf[ipAt + 11] = 0;
    const c = foldChecksum(sumWords(buf, ipAt, ipAt + ihl));
    buf[ipAt + 10] = c >>> 8; buf[ipAt + 11] = c;
  }
  // A segment cut by the snaplen cannot be summed; a reader cannot check it either.
  if (segEnd > capEnd) return;
  const len = segEnd - tcpAt;
  let sum = IPPROTO_TCP + len;
  sum = family === 4 ? sumWords(buf, ipAt + 12, ipAt + 20, sum) : sumWords(buf, ipAt + 8, ipAt + 40, sum);
  buf[tcpAt + 16] = 0; buf[tcpAt + 17] = 0;
  const c = foldChecksum(sumWords(buf, tcpAt, segEnd, sum));
  buf[tcpAt + 16] = c >>> 8; buf[tcpAt + 17] = c;
}
