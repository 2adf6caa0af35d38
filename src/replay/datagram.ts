// A captured frame that decodeSegment left as not TCP, read as far as a UDP replay needs: a UDP
// datagram (IPv4 or IPv6), or an ICMP/ICMPv6 port unreachable quoting one (RFC 792 type 3 code 3;
// RFC 4443 type 1 code 4). One mutable record reused for every packet; nothing is allocated and
// checksums are not checked (captures taken on the sending host carry unfinished ones).

import { locateNetworkLayer, newNetworkLayer } from '../pcap/linktypes.js';

/** decodeDatagram's results. */
export const DG_UDP = 1, DG_PORT_UNREACHABLE = 2;
/** Neither UDP nor an ICMP port unreachable quoting UDP (the report's skipped.not-tcp). */
export const DG_OTHER = 3;
export const DG_FRAGMENT = 4, DG_TRUNCATED = 5, DG_MALFORMED = 6;

export interface CapturedDatagram {
  family: 0 | 4 | 6;
  /** Offsets in the frame's buffer: the (outer) IP header, the UDP header (DG_UDP) or the ICMP header. */
  ipAt: number;
  l4At: number;
  /** Offset of the Ethernet source MAC, or -1 when the link type has none. */
  macAt: number;
  /**
   * The datagram's addresses and ports. For DG_PORT_UNREACHABLE: the quoted datagram's (the one
   * that found no socket: its source is the sender the ICMP goes back to), with fromAt the
   * address of the host that sent the ICMP.
   */
  srcAt: number;
  dstAt: number;
  srcPort: number;
  dstPort: number;
  fromAt: number;
  /** UDP payload: its offset, its length (from the UDP header) and how much of it was captured. */
  payloadAt: number;
  payloadLen: number;
  payloadCaptured: number;
  /** The end of the IP packet (by its length field) in the buffer, and the end of what was captured. */
  ipEnd: number;
}

export const newDatagram = (): CapturedDatagram => ({
  family: 0, ipAt: 0, l4At: 0, macAt: -1, srcAt: 0, dstAt: 0, srcPort: 0, dstPort: 0, fromAt: 0, payloadAt: 0, payloadLen: 0, payloadCaptured: 0, ipEnd: 0,
});

const net = newNetworkLayer();
const IPPROTO_UDP = 17, IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;
/** IPv6 extension headers walked (hop-by-hop, routing, destination options); 44 is a fragment. */
const IPV6_HOP = 0, IPV6_ROUTING = 43, IPV6_DSTOPTS = 60, IPV6_FRAGMENT = 44;
const isExt = (n: number): boolean => n === IPV6_HOP || n === IPV6_ROUTING || n === IPV6_DSTOPTS;

/** The IP header at buf[p, end): its transport's protocol and offset into ip (ip.proto -1: a fragment; -2: truncated; -3: malformed). */
interface IpView { proto: number; l4At: number; ipEnd: number; srcAt: number; dstAt: number }
const outer: IpView = { proto: 0, l4At: 0, ipEnd: 0, srcAt: 0, dstAt: 0 };
const inner: IpView = { proto: 0, l4At: 0, ipEnd: 0, srcAt: 0, dstAt: 0 };

/**
 * Reads the IP header of family fam at buf[p, end) into v. `quoted`: a header inside an ICMP error,
 * whose length field counts bytes the quote left out.
 */
function readIp(fam: 4 | 6, buf: Uint8Array, p: number, end: number, v: IpView, quoted: boolean): void {
  if (fam === 4) {
    if (end - p < 20) { v.proto = -2; return; }
    const ihl = (buf[p]! & 0x0f) * 4;
    const total = (buf[p + 2]! << 8) | buf[p + 3]!;
    if (buf[p]! >>> 4 !== 4 || ihl < 20 || total < ihl) { v.proto = -3; return; }
    // MF set or a non-zero offset: replay does not reassemble.
    if ((((buf[p + 6]! << 8) | buf[p + 7]!) & 0x3fff) !== 0) { v.proto = -1; return; }
    v.srcAt = p + 12; v.dstAt = p + 16; v.l4At = p + ihl; v.ipEnd = quoted ? end : p + total; v.proto = buf[p + 9]!;
    return;
  }
  if (end - p < 40) { v.proto = -2; return; }
  if (buf[p]! >>> 4 !== 6) { v.proto = -3; return; }
  v.srcAt = p + 8; v.dstAt = p + 24; v.ipEnd = quoted ? end : p + 40 + ((buf[p + 4]! << 8) | buf[p + 5]!);
  let next = buf[p + 6]!;
  let at = p + 40;
  while (isExt(next)) {
    if (end - at < 8) { v.proto = -2; return; }
    next = buf[at]!;
    at += 8 + buf[at + 1]! * 8;
  }
  if (next === IPV6_FRAGMENT) { v.proto = -1; return; }
  v.l4At = at; v.proto = next;
}

/** A fail result of readIp as decodeDatagram's. */
const failOf = (proto: number): number => (proto === -1 ? DG_FRAGMENT : proto === -2 ? DG_TRUNCATED : DG_MALFORMED);

/**
 * Decodes the frame buf[at, end) of the link type into dg; returns DG_UDP, DG_PORT_UNREACHABLE,
 * DG_OTHER (neither), or DG_FRAGMENT / DG_TRUNCATED / DG_MALFORMED. Called only for frames
 * decodeSegment found not TCP.
 */
export function decodeDatagram(linkType: number, buf: Uint8Array, at: number, end: number, dg: CapturedDatagram): number {
  dg.family = 0;
  const fam = locateNetworkLayer(linkType, buf, at, end, net);
  if (fam !== 4 && fam !== 6) return DG_OTHER;
  dg.macAt = net.macOffset;
  dg.ipAt = net.offset;
  readIp(fam, buf, net.offset, end, outer, false);
  if (outer.proto < 0) return failOf(outer.proto);
  dg.family = fam;
  dg.l4At = outer.l4At;
  dg.ipEnd = outer.ipEnd;
  if (outer.proto === IPPROTO_UDP) {
    const u = outer.l4At;
    if (end - u < 8) return DG_TRUNCATED;
    const len = (buf[u + 4]! << 8) | buf[u + 5]!;
    // A UDP length below its header, or past the IP packet (RFC 768; IPv6 jumbograms, length 0, are not replayed).
    if (len < 8 || u + len > outer.ipEnd) return DG_MALFORMED;
    dg.srcAt = outer.srcAt; dg.dstAt = outer.dstAt;
    dg.srcPort = (buf[u]! << 8) | buf[u + 1]!;
    dg.dstPort = (buf[u + 2]! << 8) | buf[u + 3]!;
    dg.payloadAt = u + 8;
    dg.payloadLen = len - 8;
    dg.payloadCaptured = Math.max(0, Math.min(end, u + len) - dg.payloadAt);
    return DG_UDP;
  }
  const icmp = outer.l4At;
  const portUnreachable = fam === 4
    ? outer.proto === IPPROTO_ICMP && buf[icmp] === 3 && buf[icmp + 1] === 3
    : outer.proto === IPPROTO_ICMPV6 && buf[icmp] === 1 && buf[icmp + 1] === 4;
  if (!portUnreachable) return DG_OTHER;
  if (end - icmp < 8) return DG_TRUNCATED;
  // The quote: the offending datagram's IP header and at least its UDP header's first 8 bytes.
  readIp(fam, buf, icmp + 8, end, inner, true);
  if (inner.proto < 0) return failOf(inner.proto);
  if (inner.proto !== IPPROTO_UDP) return DG_OTHER;
  if (end - inner.l4At < 4) return DG_TRUNCATED;
  dg.fromAt = outer.srcAt;
  dg.srcAt = inner.srcAt; dg.dstAt = inner.dstAt;
  dg.srcPort = (buf[inner.l4At]! << 8) | buf[inner.l4At + 1]!;
  dg.dstPort = (buf[inner.l4At + 2]! << 8) | buf[inner.l4At + 3]!;
  dg.payloadAt = 0; dg.payloadLen = 0; dg.payloadCaptured = 0;
  return DG_PORT_UNREACHABLE;
}

const BANNER = [0x62, 0x69, 0x6e, 0x64, 0x6c, 0x61, 0x62, 0x20]; // "bindlab "

/**
 * The socket a reply's payload names: "bindlab HOST/PROC/SOCKET" anywhere in buf[at, end) (raw,
 * as bindlab's agents answer, or inside a protocol's answer such as a DNS TXT record), up to the
 * first byte that cannot be in a name; undefined without one.
 */
export function bannerSocketIn(buf: Uint8Array, at: number, end: number): string | undefined {
  const last = end - BANNER.length;
  for (let i = at; i < last; i++) {
    if (buf[i] !== 0x62) continue;
    let k = 1;
    while (k < BANNER.length && buf[i + k] === BANNER[k]) k++;
    if (k < BANNER.length) continue;
    let e = i + BANNER.length;
    let slashes = 0, lastSlash = -1;
    while (e < end && buf[e]! > 0x20 && buf[e]! < 0x7f) {
      if (buf[e] === 0x2f) { slashes++; lastSlash = e; }
      e++;
    }
    if (slashes !== 2 || lastSlash === e - 1) continue;
    return socketName(buf, lastSlash + 1, e);
  }
  return undefined;
}

/**
 * Names decoded before, with their bytes (a few: answers come from a few sockets, often in turn):
 * compared byte for byte before a name is decoded again, so a long capture's answers make no string.
 */
const NAMES_KEPT = 16;
const keptNames: Uint8Array[] = [];
const keptTexts: string[] = [];
let nextKept = 0;

function socketName(buf: Uint8Array, at: number, end: number): string {
  const len = end - at;
  for (let k = 0; k < keptNames.length; k++) {
    const name = keptNames[k]!;
    if (name.length !== len) continue;
    let i = 0;
    while (i < len && buf[at + i] === name[i]) i++;
    if (i === len) return keptTexts[k]!;
  }
  const bytes = Uint8Array.prototype.slice.call(buf, at, end);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, len).toString('latin1');
  // Past NAMES_KEPT distinct names, each new one takes the place of the oldest.
  keptNames[nextKept] = bytes;
  keptTexts[nextKept] = text;
  nextKept = (nextKept + 1) % NAMES_KEPT;
  return text;
}
