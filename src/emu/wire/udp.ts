// UDP (RFC 768) in whole Ethernet frames, and the IP headers the datagram layer's packets need
// beyond TCP's: a TOS byte (ICMP errors and IGMP go out as internetwork control, 0xc0) and IPv4
// options (IGMP's Router Alert). Checksums are always computed (IPv4 may leave UDP's at zero;
// Linux never does, and IPv6 requires it: RFC 8200 §8.1).

import type { IpAddr } from '../addr.js';
import { WireError, need } from './errors.js';
import { foldChecksum, pseudoHeaderSumV4, pseudoHeaderSumV6, sumWords } from './checksum.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeEthernetHeader } from './ethernet.js';
import { IPPROTO_UDP, IPV4_HEADER_LEN } from './ipv4.js';
import { IPV6_HEADER_LEN, writeIpv6Header } from './ipv6.js';

export const UDP_HEADER_LEN = 8;

/** What an IP packet of the datagram layer carries besides its payload. */
export interface IpSpec {
  readonly srcMac: Uint8Array;
  readonly dstMac: Uint8Array;
  readonly src: IpAddr;
  readonly dst: IpAddr;
  /** TTL (IPv4) or hop limit (IPv6). */
  readonly ttl: number;
  /** IPv4 identification. */
  readonly ipId: number;
  readonly dontFragment: boolean;
  /** IPv4 type of service / IPv6 traffic class (default 0). */
  readonly tos?: number;
  readonly flowLabel?: number;
}

export interface UdpFrameSpec extends IpSpec {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

/**
 * Writes an IPv4 header at buf[at] with `options` (a multiple of 4 bytes) and a valid header
 * checksum; returns its length.
 */
export function writeIpv4HeaderWith(buf: Uint8Array, at: number, f: IpSpec, protocol: number, payloadLen: number,
  options: Uint8Array = NO_OPTIONS): number {
  if (options.length % 4 !== 0) throw new WireError('malformed', at, 'IPv4 options must fill whole 32-bit words');
  const hlen = IPV4_HEADER_LEN + options.length;
  const total = hlen + payloadLen;
  if (total > 0xffff) throw new WireError('malformed', at + 2, `total length ${total} exceeds 65535`);
  buf[at] = 0x40 | (hlen >>> 2);
  buf[at + 1] = (f.tos ?? 0) & 0xff;
  buf[at + 2] = total >>> 8;
  buf[at + 3] = total & 0xff;
  buf[at + 4] = (f.ipId >>> 8) & 0xff;
  buf[at + 5] = f.ipId & 0xff;
  buf[at + 6] = f.dontFragment ? 0x40 : 0;
  buf[at + 7] = 0;
  buf[at + 8] = f.ttl;
  buf[at + 9] = protocol;
  buf[at + 10] = 0;
  buf[at + 11] = 0;
  // Byte by byte: a native set() costs more than a loop for 4 bytes (every datagram's header)
  const src = f.src.bytes;
  const dst = f.dst.bytes;
  for (let i = 0; i < 4; i++) { buf[at + 12 + i] = src[i]!; buf[at + 16 + i] = dst[i]!; }
  if (options.length !== 0) buf.set(options, at + IPV4_HEADER_LEN);
  const ck = foldChecksum(sumWords(buf, at, at + hlen));
  buf[at + 10] = ck >>> 8;
  buf[at + 11] = ck & 0xff;
  return hlen;
}

const NO_OPTIONS = new Uint8Array(0);

/** Ethernet + IP header for a payload of `payloadLen` bytes of `protocol`; returns where the payload starts. */
export function writeIpFrameHeader(buf: Uint8Array, f: IpSpec, protocol: number, payloadLen: number, v4Options?: Uint8Array): number {
  if (f.src.family !== f.dst.family) throw new WireError('malformed', ETHERNET_HEADER_LEN, 'source and destination families differ');
  const v6 = f.src.family === 6;
  need(0, ETHERNET_HEADER_LEN + (v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN + (v4Options?.length ?? 0)) + payloadLen, buf.length);
  writeEthernetHeader(buf, 0, f.dstMac, f.srcMac, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  if (v6) {
    writeIpv6Header(buf, ETHERNET_HEADER_LEN, f.src.bytes, f.dst.bytes, protocol, f.ttl, f.flowLabel ?? 0, payloadLen);
    const tc = f.tos ?? 0;
    buf[ETHERNET_HEADER_LEN] = 0x60 | (tc >>> 4);
    buf[ETHERNET_HEADER_LEN + 1] = ((tc & 0x0f) << 4) | (buf[ETHERNET_HEADER_LEN + 1]! & 0x0f);
    return ETHERNET_HEADER_LEN + IPV6_HEADER_LEN;
  }
  return ETHERNET_HEADER_LEN + writeIpv4HeaderWith(buf, ETHERNET_HEADER_LEN, f, protocol, payloadLen, v4Options);
}

/** Writes Ethernet + IPv4/IPv6 + UDP + payload at buf[0]; returns the frame length. */
export function writeUdpFrame(buf: Uint8Array, f: UdpFrameSpec): number {
  const udpLen = UDP_HEADER_LEN + f.payload.length;
  if (udpLen > 0xffff) throw new WireError('malformed', ETHERNET_HEADER_LEN, `UDP length ${udpLen} exceeds 65535`);
  const at = writeIpFrameHeader(buf, f, IPPROTO_UDP, udpLen);
  buf[at] = f.srcPort >>> 8;
  buf[at + 1] = f.srcPort & 0xff;
  buf[at + 2] = f.dstPort >>> 8;
  buf[at + 3] = f.dstPort & 0xff;
  buf[at + 4] = udpLen >>> 8;
  buf[at + 5] = udpLen & 0xff;
  buf[at + 6] = 0;
  buf[at + 7] = 0;
  copyPayload(buf, at + UDP_HEADER_LEN, f.payload);
  const pseudo = f.src.family === 6
    ? pseudoHeaderSumV6(f.src.bytes, f.dst.bytes, IPPROTO_UDP, udpLen)
    : pseudoHeaderSumV4(f.src.bytes, f.dst.bytes, IPPROTO_UDP, udpLen);
  // A computed 0 is sent as 0xffff: 0 means "no checksum" [RFC 768; RFC 8200 §8.1].
  const ck = foldChecksum(sumWords(buf, at, at + udpLen, pseudo)) || 0xffff;
  buf[at + 6] = ck >>> 8;
  buf[at + 7] = ck & 0xff;
  return at + udpLen;
}

/** Copies a payload into buf at `at`: a loop for a short one (a DNS query, a banner), set() beyond. */
function copyPayload(buf: Uint8Array, at: number, payload: Uint8Array): void {
  const n = payload.length;
  if (n > 64) { buf.set(payload, at); return; }
  for (let i = 0; i < n; i++) buf[at + i] = payload[i]!;
}

export interface UdpDatagram {
  readonly srcPort: number;
  readonly dstPort: number;
  /** A view into the caller's buffer, cut at the UDP length. */
  readonly payload: Uint8Array;
  /** The checksum field as sent (0: none). */
  readonly checksum: number;
}

/** Reads a UDP header and payload from buf[at..end) (the IP payload). */
export function decodeUdp(buf: Uint8Array, at: number, end: number): UdpDatagram {
  need(at, UDP_HEADER_LEN, end);
  const len = (buf[at + 4]! << 8) | buf[at + 5]!;
  if (len < UDP_HEADER_LEN) throw new WireError('malformed', at + 4, `UDP length ${len} is below the header's 8`);
  need(at, len, end);
  return {
    srcPort: (buf[at]! << 8) | buf[at + 1]!,
    dstPort: (buf[at + 2]! << 8) | buf[at + 3]!,
    payload: buf.subarray(at + UDP_HEADER_LEN, at + len),
    checksum: (buf[at + 6]! << 8) | buf[at + 7]!,
  };
}
