// A captured client segment copied into an output and moved into the emulated server's sequence
// space on the way: its acknowledgement number, SACK edges (RFC 2018) and TSecr (RFC 7323) refer
// to the real server, whose packets the output replaces with the emulated server's. Checksums
// are recomputed: captures taken on the sending host carry unfinished ones (checksum offload).

import { foldChecksum } from '../emu/wire/checksum.js';
import { ETHERNET_HEADER_LEN } from '../emu/wire/ethernet.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktypes.js';
import { inMemory, kernels } from '../wasm/packets.js';

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

/**
 * The last capture buffer and output buffer writeClientSegment saw, and whether each is in the
 * WebAssembly memory, and where it starts there (asked once per buffer: a typed array's .buffer
 * and .byteOffset cost ~25 ns a read in the packet loop).
 */
let lastData: Uint8Array | null = null, lastDataIn = false, lastDataBase = 0;
let lastBuf: Uint8Array | null = null, lastBufIn = false, lastBufBase = 0;

/** An Ethernet header from srcMac to dstMac for IP of the family at buf[at]. */
function writeMacHeader(buf: Uint8Array, at: number, dstMac: Uint8Array, srcMac: Uint8Array, family: number): void {
  for (let k = 0; k < 6; k++) { buf[at + k] = dstMac[k]!; buf[at + 6 + k] = srcMac[k]!; }
  buf[at + 12] = family === 4 ? 0x08 : 0x86;
  buf[at + 13] = family === 4 ? 0x00 : 0xdd;
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
  const capEnd = offset + caplen;
  if (data !== lastData) { lastData = data; lastDataIn = inMemory(data); lastDataBase = data.byteOffset; }
  if (buf !== lastBuf) { lastBuf = buf; lastBufIn = inMemory(buf); lastBufBase = buf.byteOffset; }
  if (lastDataIn && lastBufIn) {
    // Both buffers in the WebAssembly memory: the same work there (assembly/packets.ts clientSegment), on addresses.
    const base = lastDataBase;
    let from: number, to: number, len: number;
    if (linkType === LINKTYPE_ETHERNET) {
      from = offset; to = at; len = caplen;
    } else {
      writeMacHeader(buf, at, dstMac, srcMac, family);
      from = ipAt; to = at + ETHERNET_HEADER_LEN; len = ETHERNET_HEADER_LEN + capEnd - ipAt;
    }
    const mapped = space !== null ? 1 : 0;
    kernels!.clientSegment(base + from, (lastBufBase + to) - (base + from), base + ipAt, base + tcpAt, base + segEnd, base + capEnd, family === 4 ? 1 : 0,
      mapped, mapped !== 0 ? space!.realIsn : 0, mapped !== 0 ? space!.emuIsn : 0, mapped !== 0 ? space!.emuNext : 0, mapped !== 0 ? space!.emuTsval : 0);
    return len;
  }
  const sv = viewOf(data);
  // From here on an offset in data plus shift is the same byte's offset in buf.
  let shift: number, len: number;
  let i: number;
  if (linkType === LINKTYPE_ETHERNET) {
    shift = at - offset;
    len = caplen;
    // The Ethernet header (and any tag) as captured.
    for (i = offset; i + 4 <= ipAt; i += 4) dv.setInt32(i + shift, sv.getInt32(i, true), true);
    for (; i < ipAt; i++) buf[i + shift] = data[i]!;
  } else {
    shift = at + ETHERNET_HEADER_LEN - ipAt;
    len = ETHERNET_HEADER_LEN + capEnd - ipAt;
    writeMacHeader(buf, at, dstMac, srcMac, family);
  }
  // Little-endian loads: each half is a big-endian word with its bytes swapped, and one's
  // complement sums commute with the swap [RFC 1071 §2(B)]: a sum is swapped back once folded.
  // The IP header (a multiple of 4 bytes: IPv4's IHL, IPv6's 40 and its extension headers' 8s), summed as copied.
  let hl = 0;
  for (i = ipAt; i < tcpAt; i += 4) {
    const x = sv.getInt32(i, true);
    dv.setInt32(i + shift, x, true);
    hl += (x & 0xffff) + (x >>> 16);
  }
  // The segment: summed as copied while the capture holds all of it (a segment cut by the snaplen
  // cannot be summed; a reader cannot check it either), the rest (link padding, or the cut) copied.
  const whole = segEnd <= capEnd;
  const sumEnd = whole ? segEnd : tcpAt;
  let le = 0;
  for (i = tcpAt; i + 4 <= sumEnd; i += 4) {
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
  for (; i + 4 <= capEnd; i += 4) dv.setInt32(i + shift, sv.getInt32(i, true), true);
  for (; i < capEnd; i++) buf[i + shift] = data[i]!;
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
    // The IPv4 header checksum, over the header only [RFC 791], its old value taken out; its
    // addresses go into the segment's pseudo header.
    dv.setUint16(ipAt + shift + 10, fold(swap(hl) + 0xffff - sv.getUint16(ipAt + 10)));
    if (!whole) return len;
    const s = sv.getInt32(ipAt + 12, true), d = sv.getInt32(ipAt + 16, true);
    le += (s & 0xffff) + (s >>> 16) + (d & 0xffff) + (d >>> 16);
  } else if (!whole) {
    return len;
  } else {
    le = sum16le(sv, ipAt + 8, ipAt + 40, le);
  }
  // The pseudo header [RFC 9293 §3.1; RFC 8200 §8.1] and the segment, the old checksum taken out.
  const sum = IPPROTO_TCP + (segEnd - tcpAt) + fix + 0xffff - sv.getUint16(tcpAt + 16) + swap(le);
  dv.setUint16(t + 16, fold(sum));
  return len;
}

/** le plus the little-endian 16-bit halves of sv's 32-bit words at [at, end) (a multiple of 4 bytes). */
function sum16le(sv: DataView, at: number, end: number, le: number): number {
  for (let i = at; i < end; i += 4) {
    const x = sv.getInt32(i, true);
    le += (x & 0xffff) + (x >>> 16);
  }
  return le;
}

/** A sum of byte-swapped 16-bit words (below 2^32), folded to 16 bits and swapped back: the same sum, one's complement. */
function swap(le: number): number {
  le = (le & 0xffff) + (le >>> 16);
  le = (le & 0xffff) + (le >>> 16);
  return ((le & 0xff) << 8) | (le >>> 8);
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

/** A sum of 16-bit words folded into 16 bits and complemented: the checksum field's value. */
function fold(sum: number): number {
  if (sum > 0x7fffffff) return foldChecksum(sum);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
