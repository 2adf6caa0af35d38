// A captured client segment moved into the emulated server's sequence space, in place in the
// output buffer: its acknowledgement number, SACK edges (RFC 2018) and TSecr (RFC 7323) refer
// to the real server, whose packets the output replaces with the emulated server's. Checksums
// are recomputed: captures taken on the sending host carry unfinished ones (checksum offload).

import { foldChecksum } from '../emu/wire/checksum.js';
import { ETHERNET_HEADER_LEN } from '../emu/wire/ethernet.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktypes.js';

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

/** A real server sequence number as the emulated server's: the same offset from the ISN, never past what it sent. */
function mapSeq(real: number, s: ServerSpace): number {
  const offset = (real - s.realIsn) >>> 0;
  const sent = (s.emuNext - s.emuIsn) >>> 0;
  return (s.emuIsn + (offset < sent ? offset : sent)) >>> 0;
}

/**
 * The captured frame data[offset, offset + caplen) of the link type (its IP header at ipAt, its
 * TCP segment at data[tcpAt, segEnd)) written at buf[at] (dv: a view of buf) as an Ethernet frame
 * from srcMac to dstMac (as captured when the capture is Ethernet), moved into space (null: a SYN,
 * nothing to acknowledge yet), with whole checksums; returns the frame's length. One pass: the
 * segment's words are summed as they are copied, and the checksum corrected for each field
 * rewritten after (RFC 1624: in one's complement arithmetic a word's change adds to the sum).
 */
export function writeClientSegment(buf: Uint8Array, dv: DataView, at: number, data: Uint8Array, offset: number, caplen: number, linkType: number,
  ipAt: number, family: number, tcpAt: number, segEnd: number, dstMac: Uint8Array, srcMac: Uint8Array, space: ServerSpace | null): number {
  const sv = viewOf(data);
  const capEnd = offset + caplen;
  // From here on an offset in data plus shift is the same byte's offset in buf.
  let shift: number, len: number;
  if (linkType === LINKTYPE_ETHERNET) {
    shift = at - offset;
    len = caplen;
    copy(dv, at, sv, offset, tcpAt);
  } else {
    shift = at + ETHERNET_HEADER_LEN - ipAt;
    len = ETHERNET_HEADER_LEN + capEnd - ipAt;
    for (let i = 0; i < 6; i++) { buf[at + i] = dstMac[i]!; buf[at + 6 + i] = srcMac[i]!; }
    buf[at + 12] = family === 4 ? 0x08 : 0x86;
    buf[at + 13] = family === 4 ? 0x00 : 0xdd;
    copy(dv, at + ETHERNET_HEADER_LEN, sv, ipAt, tcpAt);
  }
  // The segment: summed as copied while the capture holds all of it (a segment cut by the snaplen
  // cannot be summed; a reader cannot check it either), the rest (link padding, or the cut) copied.
  const whole = segEnd <= capEnd;
  const sumEnd = whole ? segEnd : tcpAt;
  // Little-endian loads: each half is a big-endian word with its bytes swapped, and one's
  // complement sums commute with the swap [RFC 1071 §2(B)]: swapped back once folded.
  let le = 0;
  let i = tcpAt;
  for (; i + 4 <= sumEnd; i += 4) {
    const x = sv.getInt32(i, true);
    dv.setInt32(i + shift, x, true);
    le += (x & 0xffff) + (x >>> 16);
  }
  if (i + 2 <= sumEnd) {
    const x = sv.getUint16(i, true);
    dv.setUint16(i + shift, x, true);
    le += x;
    i += 2;
  }
  if (i < sumEnd) { buf[i + shift] = data[i]!; le += data[i]!; i++; }
  copy(dv, i + shift, sv, i, capEnd);
  const t = tcpAt + shift;
  // The fields to rewrite are read from the capture, not from what was just stored (a load of
  // bytes stored moments ago by stores of another alignment waits for them).
  // Corrections to the sum, big-endian words: each rewritten word adds its new value and takes its old.
  let fix = 0;
  const flags = data[tcpAt + 13]!;
  if (space && (flags & TCP_ACK) !== 0) {
    fix += move(sv, tcpAt + 8, dv, shift, space, 0);
    const optEnd = tcpAt + (data[tcpAt + 12]! >>> 4) * 4;
    for (let o = tcpAt + 20; o < optEnd;) {
      const kind = data[o]!;
      if (kind === TCPOPT_EOL) break;
      if (kind === TCPOPT_NOP) { o++; continue; }
      const n = data[o + 1]!;
      if (n < 2 || o + n > optEnd) break;
      if (kind === TCPOPT_TIMESTAMPS && n === 10) {
        const old = sv.getUint32(o + 6);
        if (old !== 0) {
          const v = space.emuTsval >>> 0;
          dv.setUint32(o + 6 + shift, v);
          fix += change(old, v, (o - tcpAt) & 1);
        }
      } else if (kind === TCPOPT_SACK) {
        for (let e = o + 2; e + 4 <= o + n; e += 4) fix += move(sv, e, dv, shift, space, (e - tcpAt) & 1);
      }
      o += n;
    }
  }
  // (The whole IP header and TCP header are in the capture: decodeSegment checked.)
  if (family === 4) {
    // The IPv4 header checksum, over the header only [RFC 791], its old value taken out.
    const ihl = (data[ipAt]! & 0x0f) * 4;
    dv.setUint16(ipAt + shift + 10, fold(sum16(sv, data, ipAt, ipAt + ihl, 0xffff - sv.getUint16(ipAt + 10))));
  }
  if (!whole) return len;
  // The pseudo header [RFC 9293 §3.1; RFC 8200 §8.1], the segment, the old checksum taken out.
  let sum = IPPROTO_TCP + (segEnd - tcpAt) + fix + 0xffff - sv.getUint16(tcpAt + 16);
  sum = family === 4 ? sum16(sv, data, ipAt + 12, ipAt + 20, sum) : sum16(sv, data, ipAt + 8, ipAt + 40, sum);
  le = (le & 0xffff) + (le >>> 16);
  le = (le & 0xffff) + (le >>> 16);
  sum += ((le & 0xff) << 8) | (le >>> 8);
  dv.setUint16(t + 16, fold(sum));
  return len;
}

/** Copies src[from, to) (sv a view of it) to dv's buffer at at: 8 bytes a move in host byte order, then the rest. */
function copy(dv: DataView, at: number, sv: DataView, from: number, to: number): void {
  let i = from, j = at;
  for (; i + 8 <= to; i += 8, j += 8) {
    dv.setInt32(j, sv.getInt32(i, true), true);
    dv.setInt32(j + 4, sv.getInt32(i + 4, true), true);
  }
  if (i + 4 <= to) { dv.setInt32(j, sv.getInt32(i, true), true); i += 4; j += 4; }
  for (; i < to; i++, j++) dv.setUint8(j, sv.getUint8(i));
}

/**
 * The real server's sequence number at sv[at] as the emulated server's, stored at dv[at + shift];
 * returns the change to a sum of the segment's words (odd: at is an odd number of bytes into the segment).
 */
function move(sv: DataView, at: number, dv: DataView, shift: number, space: ServerSpace, odd: number): number {
  const old = sv.getUint32(at);
  const v = mapSeq(old, space);
  dv.setUint32(at + shift, v);
  return change(old, v, odd);
}

/**
 * What replacing the 32-bit big-endian value old by v adds to a sum of the segment's 16-bit
 * words (kept positive: -x is 0xffff - x). At an odd offset its bytes fall in the words' other
 * halves: each of its halves counts byte-swapped.
 */
function change(old: number, v: number, odd: number): number {
  if (odd !== 0) { old = swapHalves(old); v = swapHalves(v); }
  return (v >>> 16) + (v & 0xffff) + 0x1fffe - (old >>> 16) - (old & 0xffff);
}

/** The bytes of each 16-bit half of v swapped. */
const swapHalves = (v: number): number => (((v & 0x00ff00ff) << 8) | ((v >>> 8) & 0x00ff00ff)) >>> 0;

let srcBuf: Uint8Array | null = null;
let srcView: DataView = new DataView(new ArrayBuffer(0));

/** A DataView of the capture's buffer, kept while it stays the same buffer. */
function viewOf(buf: Uint8Array): DataView {
  if (buf !== srcBuf) {
    srcBuf = buf;
    srcView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return srcView;
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
