// A captured frame read as far as replay needs: link layer, IPv4/IPv6, TCP header. One mutable
// record reused for every packet; nothing is allocated and checksums are not checked (captures
// taken on the sending host carry unfinished checksums because of offload).

import { LINKTYPE_ETHERNET, LINKTYPE_RAW, locateNetworkLayer, newNetworkLayer } from '../pcap/linktypes.js';

/** Why a packet is not part of any replayed connection (the report's `skipped` keys). */
export type SkipReason =
  | 'not-ip' | 'not-tcp' | 'fragment' | 'truncated' | 'malformed'
  | 'not-to-a-scenario-host' | 'not-in-a-replayed-connection';

/**
 * decodeSegment's result when the packet is skipped (4 and 6 are the decoded families): small
 * numbers, so a caller counts packets per result in a typed array indexed by it.
 */
export const SKIP_NOT_IP = 8, SKIP_NOT_TCP = 9, SKIP_FRAGMENT = 10, SKIP_TRUNCATED = 11, SKIP_MALFORMED = 12;
/** The largest decodeSegment result plus one. */
export const DECODE_RESULTS = 13;
/** The report's name of each skip result. */
export const SKIP_REASON: Readonly<Record<number, SkipReason>> = {
  [SKIP_NOT_IP]: 'not-ip', [SKIP_NOT_TCP]: 'not-tcp', [SKIP_FRAGMENT]: 'fragment', [SKIP_TRUNCATED]: 'truncated', [SKIP_MALFORMED]: 'malformed',
};

export interface CapturedSegment {
  /** 4 or 6 when the packet is a whole-enough TCP segment; 0 when skipped. */
  family: 0 | 4 | 6;
  /** Offsets in the frame's buffer. */
  ipAt: number;
  tcpAt: number;
  /** Offset of the Ethernet source MAC, or -1 when the link type has none. */
  macAt: number;
  /** The IP addresses' offsets (4 or 16 bytes each). */
  srcAt: number;
  dstAt: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** TCP payload bytes (from the IP length, not the capture). */
  payloadLen: number;
  /** Offset of the payload in the buffer (the TCP options end there: see segmentTsval) and how much of it was captured. */
  payloadAt: number;
  payloadCaptured: number;
}

export const newSegment = (): CapturedSegment => ({
  // seq and ack are uint32s: doubles from the start (-0), so the first past 2^30 changes no field representation.
  family: 0, ipAt: 0, tcpAt: 0, macAt: -1, srcAt: 0, dstAt: 0, srcPort: 0, dstPort: 0, seq: -0, ack: -0, flags: 0,
  payloadLen: 0, payloadAt: 0, payloadCaptured: 0,
});

const net = newNetworkLayer();
const IPPROTO_TCP = 6;
/** IPv6 extension headers walked to reach TCP (hop-by-hop, routing, destination options); 44 is a fragment. */
const IPV6_EXT = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;

/**
 * Decodes the frame buf[at, end) of the link type into seg; returns seg.family (4 or 6), or a
 * SKIP_* result.
 *
 * Most captures' every frame is an untagged Ethernet frame of an IPv4 packet without options
 * carrying a whole TCP header: decoded here, in a function small enough for V8 to inline into
 * the packet loop (10M packets, decoding alone: 0.37 -> 0.30 s of CPU). Anything else, and any
 * such frame that fails a check, is decodeFrame's, which decodes it anew (the same fields, the
 * same result).
 */
export function decodeSegment(linkType: number, buf: Uint8Array, at: number, end: number, seg: CapturedSegment): number {
  const p = at + 14, tcpAt = at + 34;
  const v = buf === views.buf ? views.view : viewOf(buf);
  // (Literals: a module binding costs the function bytes it has none to spare for. 1: LINKTYPE_ETHERNET; 6: TCP.)
  if (linkType !== 1 || end - at < 54 || v.getUint16(at + 12) !== 0x0800 || buf[p] !== 0x45 || (v.getUint16(p + 6) & 0x3fff) !== 0
    || buf[p + 9] !== 6) return decodeFrame(linkType, buf, at, end, seg);
  // A total length below the header; a TCP header too short, past the packet or past the capture.
  const ipEnd = p + v.getUint16(p + 2);
  const hlen = (buf[tcpAt + 12]! >>> 4) * 4;
  if (ipEnd < tcpAt || hlen < 20 || tcpAt + hlen > ipEnd || end - tcpAt < hlen) return decodeFrame(linkType, buf, at, end, seg);
  seg.macAt = at + 6;
  seg.ipAt = p;
  seg.srcAt = p + 12;
  seg.dstAt = p + 16;
  seg.tcpAt = tcpAt;
  seg.srcPort = v.getUint16(tcpAt);
  seg.dstPort = v.getUint16(tcpAt + 2);
  seg.seq = v.getUint32(tcpAt + 4);
  seg.ack = v.getUint32(tcpAt + 8);
  seg.flags = buf[tcpAt + 13]! & 0x3f;
  const payloadAt = tcpAt + hlen;
  seg.payloadAt = payloadAt;
  seg.payloadLen = ipEnd - payloadAt;
  seg.payloadCaptured = (end < ipEnd ? end : ipEnd) - payloadAt;
  seg.family = 4;
  return 4;
}

/** A DataView of the last buffer decodeSegment read (a reader's buffer changes only when refilled). */
const views: { buf: Uint8Array; view: DataView } = { buf: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)) };
function viewOf(buf: Uint8Array): DataView {
  views.buf = buf;
  views.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return views.view;
}

/**
 * decodeSegment of any frame. The skip paths only return constants: run for the first time late
 * in a capture (the first UDP packet after a million TCP ones), a property store there would find
 * no type feedback in the optimized code and deoptimize it.
 */
function decodeFrame(linkType: number, buf: Uint8Array, at: number, end: number, seg: CapturedSegment): number {
  seg.family = 0;
  let fam: number;
  let p: number;
  // Untagged Ethernet carrying IPv4 without locateNetworkLayer's switch and its record.
  if (linkType === LINKTYPE_ETHERNET && end - at >= 14 && buf[at + 12] === 0x08 && buf[at + 13] === 0x00) {
    fam = 4;
    seg.macAt = at + 6;
    p = at + 14;
  } else {
    fam = locateNetworkLayer(linkType, buf, at, end, net);
    if (fam === -1) return SKIP_TRUNCATED;
    if (fam === 0) return SKIP_NOT_IP;
    seg.macAt = net.macOffset;
    p = net.offset;
  }
  seg.ipAt = p;
  let tcpAt: number;
  let ipEnd: number;
  if (fam === 4) {
    if (end - p < 20) return SKIP_TRUNCATED;
    if (buf[p]! >>> 4 !== 4) return SKIP_MALFORMED;
    const ihl = (buf[p]! & 0x0f) * 4;
    const total = (buf[p + 2]! << 8) | buf[p + 3]!;
    if (ihl < 20 || total < ihl) return SKIP_MALFORMED;
    // MF set or a non-zero offset: replay does not reassemble.
    if ((((buf[p + 6]! << 8) | buf[p + 7]!) & 0x3fff) !== 0) return SKIP_FRAGMENT;
    if (buf[p + 9] !== IPPROTO_TCP) return SKIP_NOT_TCP;
    seg.srcAt = p + 12;
    seg.dstAt = p + 16;
    tcpAt = p + ihl;
    ipEnd = p + total;
  } else {
    if (end - p < 40) return SKIP_TRUNCATED;
    if (buf[p]! >>> 4 !== 6) return SKIP_MALFORMED;
    let next = buf[p + 6]!;
    ipEnd = p + 40 + ((buf[p + 4]! << 8) | buf[p + 5]!);
    seg.srcAt = p + 8;
    seg.dstAt = p + 24;
    tcpAt = p + 40;
    while (next !== IPPROTO_TCP) {
      if (next === IPV6_FRAGMENT) return SKIP_FRAGMENT;
      if (!IPV6_EXT.has(next)) return SKIP_NOT_TCP;
      if (end - tcpAt < 8) return SKIP_TRUNCATED;
      next = buf[tcpAt]!;
      tcpAt += 8 + buf[tcpAt + 1]! * 8;
    }
  }
  if (end - tcpAt < 20) return SKIP_TRUNCATED;
  const hlen = (buf[tcpAt + 12]! >>> 4) * 4;
  if (hlen < 20 || tcpAt + hlen > ipEnd) return SKIP_MALFORMED;
  if (end - tcpAt < hlen) return SKIP_TRUNCATED;
  seg.tcpAt = tcpAt;
  seg.srcPort = (buf[tcpAt]! << 8) | buf[tcpAt + 1]!;
  seg.dstPort = (buf[tcpAt + 2]! << 8) | buf[tcpAt + 3]!;
  seg.seq = ((buf[tcpAt + 4]! << 24) | (buf[tcpAt + 5]! << 16) | (buf[tcpAt + 6]! << 8) | buf[tcpAt + 7]!) >>> 0;
  seg.ack = ((buf[tcpAt + 8]! << 24) | (buf[tcpAt + 9]! << 16) | (buf[tcpAt + 10]! << 8) | buf[tcpAt + 11]!) >>> 0;
  seg.flags = buf[tcpAt + 13]! & 0x3f;
  const payloadAt = tcpAt + hlen;
  seg.payloadAt = payloadAt;
  seg.payloadLen = ipEnd > payloadAt ? ipEnd - payloadAt : 0;
  const capEnd = end < ipEnd ? end : ipEnd;
  seg.payloadCaptured = capEnd > payloadAt ? capEnd - payloadAt : 0;
  seg.family = fam as 4 | 6;
  return fam;
}

// The general path and IPv6 run at load (a raw IPv4 segment and an Ethernet IPv6 one), enough
// times for V8 to give the functions their type feedback (it allocates it lazily, after a few
// calls): a capture of Ethernet IPv4 frames whose first other frame (ARP, IPv6) comes a million
// packets in then runs no path the optimized decodeSegment has not seen, and does not deoptimize it.
{
  const raw = new Uint8Array(40);
  raw[0] = 0x45; raw[3] = 40; raw[9] = IPPROTO_TCP; raw[32] = 0x50;
  const v6 = new Uint8Array(74);
  v6[12] = 0x86; v6[13] = 0xdd; v6[14] = 0x60; v6[19] = 20; v6[20] = IPPROTO_TCP; v6[66] = 0x50;
  const seg = newSegment();
  for (let i = 0; i < 64; i++) {
    decodeSegment(LINKTYPE_RAW, raw, 0, raw.length, seg);
    decodeSegment(LINKTYPE_ETHERNET, v6, 0, v6.length, seg);
  }
}

/**
 * TSval of the segment's timestamps option (kind 8, length 10), 0 without one: for the answer's
 * TSecr, so read only for packets that get an answer.
 */
export function segmentTsval(buf: Uint8Array, seg: CapturedSegment): number {
  const end = seg.payloadAt;
  for (let o = seg.tcpAt + 20; o < end;) {
    const kind = buf[o]!;
    if (kind === 0) break;
    if (kind === 1) { o++; continue; }
    const olen = buf[o + 1]!;
    if (olen < 2 || o + olen > end) break;
    if (kind === 8 && olen === 10) return ((buf[o + 2]! << 24) | (buf[o + 3]! << 16) | (buf[o + 4]! << 8) | buf[o + 5]!) >>> 0;
    o += olen;
  }
  return 0;
}
