// Whole Ethernet frames for the emulator's hot path, written at buf[0] with valid checksums.
// writeTcpFrame runs millions of times per second: it creates no objects and sums the
// checksum straight from the bytes it has just written.

import { makeIp, type IpAddr } from '../addr.js';
import { WireError } from './errors.js';
import { foldChecksum, pseudoHeaderSumV4, pseudoHeaderSumV6 } from './checksum.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeEthernetHeader } from './ethernet.js';
import { writeArp } from './arp.js';
import { IPPROTO_ICMPV6, IPPROTO_TCP, IPV4_HEADER_LEN, writeIpv4Header } from './ipv4.js';
import { IPV6_HEADER_LEN, writeIpv6Header } from './ipv6.js';
import { ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION, NDP_OPT_SOURCE_LL, NDP_OPT_TARGET_LL, writeNdp } from './icmpv6.js';
import { writeTcpOptions, TCP_HEADER_LEN, TCP_MAX_OPTIONS_LEN, type TcpSegment } from './tcp.js';

export interface TcpFrameSpec {
  readonly srcMac: Uint8Array;
  readonly dstMac: Uint8Array;
  /** Its family picks IPv4 or IPv6; dst must be of the same family. */
  readonly src: IpAddr;
  readonly dst: IpAddr;
  /** TTL for IPv4, hop limit for IPv6. */
  readonly ttl: number;
  /** IPv4 identification; unused for IPv6. */
  readonly ipId: number;
  /** IPv4 DF; unused for IPv6. */
  readonly dontFragment: boolean;
  /** IPv6 flow label (default 0); unused for IPv4. */
  readonly flowLabel?: number;
  readonly seg: TcpSegment;
}

// One DataView per caller buffer, kept while the caller keeps reusing that buffer: 16/32-bit
// big-endian stores and loads cut the per-byte bounds checks that dominate at ~130 bytes.
let viewBuf: Uint8Array | null = null;
let view: DataView = new DataView(new ArrayBuffer(0));

function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewBuf) {
    viewBuf = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return view;
}

/**
 * The Ethernet + IP header of one direction of a flow, kept between frames: consecutive frames of
 * a connection share MACs, addresses and TTL, so only lengths, the IPv4 id and the checksums
 * change. Matched by object identity; two entries cover both directions.
 */
class HeaderMemo {
  srcMac: Uint8Array | null = null;
  dstMac: Uint8Array | null = null;
  src: IpAddr | null = null;
  dst: IpAddr | null = null;
  ttl = -1;
  dontFragment = false;
  /** Exactly the header (34 bytes for IPv4, 54 for IPv6), length/id/checksum fields zero (and the IPv6 flow label: it is the frame's own). */
  bytes: Uint8Array = new Uint8Array(0);
  readonly v4 = new Uint8Array(ETHERNET_HEADER_LEN + IPV4_HEADER_LEN);
  readonly v6 = new Uint8Array(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN);
  /** IPv4: the header's word sum without total length and id. */
  ipBase = 0;
  /** The pseudo header's sum without the TCP length. */
  pseudo = 0;
}

const memos = [new HeaderMemo(), new HeaderMemo()];
let memoNext = 0;

function memoFor(f: TcpFrameSpec): HeaderMemo {
  // Not the flow label: it differs per connection (a replay's server packets go to one client
  // after another), and writeTcpFrame writes it into the copied header.
  for (let i = 0; i < 2; i++) {
    const m = memos[i]!;
    if (m.src === f.src && m.dst === f.dst && m.srcMac === f.srcMac && m.dstMac === f.dstMac && m.ttl === f.ttl
      && m.dontFragment === f.dontFragment) return m;
  }
  const m = memos[memoNext]!;
  memoNext ^= 1;
  m.srcMac = f.srcMac; m.dstMac = f.dstMac; m.src = f.src; m.dst = f.dst; m.ttl = f.ttl;
  m.dontFragment = f.dontFragment;
  const src = f.src.bytes;
  const dst = f.dst.bytes;
  if (f.src.family === 6) {
    m.bytes = m.v6;
    writeEthernetHeader(m.bytes, 0, f.dstMac, f.srcMac, ETHERTYPE_IPV6);
    writeIpv6Header(m.bytes, ETHERNET_HEADER_LEN, src, dst, IPPROTO_TCP, f.ttl, 0, 0);
    m.pseudo = pseudoHeaderSumV6(src, dst, IPPROTO_TCP, 0);
  } else {
    m.bytes = m.v4;
    writeEthernetHeader(m.bytes, 0, f.dstMac, f.srcMac, ETHERTYPE_IPV4);
    // Written with total length 0 and id 0, then the checksum field cleared: the rest is fixed.
    writeIpv4Header(m.bytes, ETHERNET_HEADER_LEN, src, dst, IPPROTO_TCP, f.ttl, 0, f.dontFragment, -IPV4_HEADER_LEN);
    m.bytes[ETHERNET_HEADER_LEN + 10] = 0;
    m.bytes[ETHERNET_HEADER_LEN + 11] = 0;
    m.ipBase = 0x4500 + ((f.dontFragment ? 0x40 : 0) << 8) + ((f.ttl << 8) | IPPROTO_TCP) +
      ((src[0]! << 8) | src[1]!) + ((src[2]! << 8) | src[3]!) + ((dst[0]! << 8) | dst[1]!) + ((dst[2]! << 8) | dst[3]!);
    m.pseudo = pseudoHeaderSumV4(src, dst, IPPROTO_TCP, 0);
  }
  return m;
}

/**
 * Writes Ethernet + IPv4/IPv6 + TCP at buf[at] (default 0: a frame buffer of its own; a capture
 * writer's buffer lets the frame be written where it will be stored); returns the frame length.
 */
export function writeTcpFrame(buf: Uint8Array, f: TcpFrameSpec, at = 0): number {
  const seg = f.seg;
  const v6 = f.src.family === 6;
  if (f.dst.family !== f.src.family) throw new WireError('malformed', ETHERNET_HEADER_LEN, 'source and destination families differ');
  const ipAt = at + ETHERNET_HEADER_LEN;
  const tcpAt = ipAt + (v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN);
  const options = seg.options;
  const dv = viewOf(buf);
  // Options first: their length fixes everything else. A list too long for the header is
  // caught right after; stores past the buffer's end are dropped, so nothing leaks meanwhile.
  const optEnd = options.length === 0 ? tcpAt + TCP_HEADER_LEN : writeTcpOptions(options, buf, tcpAt + TCP_HEADER_LEN);
  const hlen = optEnd - tcpAt;
  if (hlen > TCP_HEADER_LEN + TCP_MAX_OPTIONS_LEN) {
    throw new WireError('malformed', tcpAt + 12, `options need ${hlen - TCP_HEADER_LEN} bytes, at most 40 fit`);
  }
  const payload = seg.payload;
  const tcpLen = hlen + payload.length;
  const end = tcpAt + tcpLen;
  if (end > buf.length) throw new WireError('truncated', at, `frame needs ${end - at} bytes, buffer has ${buf.length - at}`);
  // The length fields have 16 bits: a larger segment must be cut at the MSS first [RFC 791; RFC 8200 §3].
  if (tcpLen + (v6 ? 0 : IPV4_HEADER_LEN) > 0xffff) throw new WireError('malformed', ipAt + (v6 ? 4 : 2), `IP payload of ${tcpLen} bytes does not fit the length field`);

  // The header from the flow's memo; then its lengths, IPv4 id and header checksum.
  const m = memoFor(f);
  buf.set(m.bytes, at);
  let sum = m.pseudo + tcpLen;
  if (v6) {
    // Version 6, traffic class 0, the flow label [RFC 8200 §3].
    dv.setUint32(ipAt, (0x60000000 | ((f.flowLabel ?? 0) & 0xfffff)) >>> 0);
    dv.setUint16(ipAt + 4, tcpLen);
  } else {
    const total = IPV4_HEADER_LEN + tcpLen;
    const id = f.ipId & 0xffff;
    dv.setUint16(ipAt + 2, total);
    dv.setUint16(ipAt + 4, id);
    dv.setUint16(ipAt + 10, foldChecksum(m.ipBase + total + id));
  }

  const ports = ((seg.srcPort << 16) | (seg.dstPort & 0xffff)) >>> 0;
  const seq = seg.seq >>> 0;
  const ack = seg.ack >>> 0;
  const offFlags = ((hlen << 10) & 0xf000) | (seg.flags & 0xff);
  const window = seg.window & 0xffff;
  const urgent = seg.urgent & 0xffff;
  dv.setUint32(tcpAt, ports);
  dv.setUint32(tcpAt + 4, seq);
  dv.setUint32(tcpAt + 8, ack);
  dv.setUint32(tcpAt + 12, ((offFlags << 16) | window) >>> 0);
  dv.setUint32(tcpAt + 16, urgent); // checksum 0 for now
  // The fixed header's words are known: add them without reading them back.
  sum += (ports >>> 16) + (ports & 0xffff) + (seq >>> 16) + (seq & 0xffff) + (ack >>> 16) + (ack & 0xffff) +
    offFlags + window + urgent;
  let p = tcpAt + TCP_HEADER_LEN;
  if (payload.length !== 0) buf.set(payload, tcpAt + hlen); // set() beats a byte loop even for 64 bytes
  // Options and payload: 32-bit loads, then 16-bit, then an odd byte.
  let s32 = 0;
  for (; p + 8 <= end; p += 8) s32 += dv.getUint32(p) + dv.getUint32(p + 4);
  for (; p + 2 <= end; p += 2) sum += dv.getUint16(p);
  if (p < end) sum += buf[p]! << 8;
  // 2^16 ≡ 1 in one's complement arithmetic, so a 32-bit word's halves add as two 16-bit words.
  // (No %: a float64 remainder is a call to fmod.)
  const s32hi = Math.floor(s32 / 0x10000);
  sum += s32 - s32hi * 0x10000 + s32hi;
  const ck = foldChecksum(sum);
  dv.setUint16(tcpAt + 16, ck);
  return end - at;
}

export interface ArpFrameSpec {
  readonly op: 1 | 2;
  readonly senderMac: Uint8Array;
  readonly senderIp: IpAddr;
  /** Zero in a request. */
  readonly targetMac: Uint8Array;
  readonly targetIp: IpAddr;
  /** Ethernet destination: broadcast for a request, the asker for a reply. */
  readonly dstMac: Uint8Array;
}

/** Writes Ethernet + ARP (42 bytes, unpadded, as the sender's own capture shows it). */
export function writeArpFrame(buf: Uint8Array, a: ArpFrameSpec): number {
  const len = ETHERNET_HEADER_LEN + 28;
  if (len > buf.length) throw new WireError('truncated', 0, `frame needs ${len} bytes`);
  if (a.senderIp.family !== 4 || a.targetIp.family !== 4) throw new WireError('malformed', 0, 'ARP needs IPv4 addresses');
  writeEthernetHeader(buf, 0, a.dstMac, a.senderMac, ETHERTYPE_ARP);
  writeArp(buf, ETHERNET_HEADER_LEN, a.op, a.senderMac, a.senderIp.bytes, a.targetMac, a.targetIp.bytes);
  return len;
}

export interface NdpFrameSpec {
  readonly type: 'ns' | 'na';
  readonly srcMac: Uint8Array;
  /** Default: for NS the target's solicited-node group's MAC, for NA all-nodes 33:33:00:00:00:01. */
  readonly dstMac?: Uint8Array;
  readonly src: IpAddr;
  /** Default: for NS the target's solicited-node group, for NA ff02::1. */
  readonly dst?: IpAddr;
  readonly target: IpAddr;
  readonly solicited?: boolean;
  readonly override?: boolean;
  readonly router?: boolean;
}

const ALL_NODES = makeIp(6, Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));

/** ff02::1:ffXX:XXXX from the low 24 bits of ip (RFC 4291 §2.7.1). */
export function solicitedNodeMulticast(ip: IpAddr): IpAddr {
  if (ip.family !== 6) throw new WireError('malformed', 0, 'solicited-node groups are IPv6');
  const b = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, ip.bytes[13]!, ip.bytes[14]!, ip.bytes[15]!);
  return makeIp(6, b);
}

/** The Ethernet MAC of a multicast group: 33:33 + low 32 bits (RFC 2464 §7), or 01:00:5e + low 23 bits (RFC 1112 §6.4). */
export function multicastMac(ip: IpAddr): Uint8Array {
  const b = ip.bytes;
  if (ip.family === 6) return Uint8Array.of(0x33, 0x33, b[12]!, b[13]!, b[14]!, b[15]!);
  return Uint8Array.of(0x01, 0x00, 0x5e, b[1]! & 0x7f, b[2]!, b[3]!);
}

/**
 * Writes Ethernet + IPv6 (hop limit 255, RFC 4861 §7.1) + NS with a source link-layer option
 * (omitted when src is "::", a DAD probe) or NA with a target link-layer option.
 */
export function writeNdpFrame(buf: Uint8Array, n: NdpFrameSpec): number {
  if (n.src.family !== 6 || n.target.family !== 6) throw new WireError('malformed', 0, 'NDP needs IPv6 addresses');
  const ns = n.type === 'ns';
  const dst = n.dst ?? (ns ? solicitedNodeMulticast(n.target) : ALL_NODES);
  const dstMac = n.dstMac ?? multicastMac(dst);
  const unspecified = n.src.bytes.every((x) => x === 0);
  const bodyLen = 24 + (ns && unspecified ? 0 : 8);
  const len = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + bodyLen;
  if (len > buf.length) throw new WireError('truncated', 0, `frame needs ${len} bytes`);
  writeEthernetHeader(buf, 0, dstMac, n.srcMac, ETHERTYPE_IPV6);
  writeIpv6Header(buf, ETHERNET_HEADER_LEN, n.src.bytes, dst.bytes, IPPROTO_ICMPV6, 255, 0, bodyLen);
  const flags = (n.router ? 0x80 : 0) | (n.solicited ? 0x40 : 0) | (n.override ? 0x20 : 0);
  writeNdp(buf, ETHERNET_HEADER_LEN + IPV6_HEADER_LEN,
    ns ? ICMPV6_NEIGHBOR_SOLICITATION : ICMPV6_NEIGHBOR_ADVERTISEMENT, ns ? 0 : flags, n.target.bytes,
    bodyLen > 24 ? (ns ? NDP_OPT_SOURCE_LL : NDP_OPT_TARGET_LL) : 0, n.srcMac, n.src.bytes, dst.bytes);
  return len;
}
