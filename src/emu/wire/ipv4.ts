// IPv4 header (RFC 791) as the emulator emits it: IHL 5, DSCP/ECN 0, never fragmented.

import { makeIp, type IpAddr } from '../addr.js';
import { WireError, need } from './errors.js';
import { foldChecksum, sumWords } from './checksum.js';

export const IPV4_HEADER_LEN = 20;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export interface Ipv4Packet {
  readonly src: IpAddr;
  readonly dst: IpAddr;
  readonly protocol: number;
  readonly ttl: number;
  /** Identification field. */
  readonly id: number;
  /** The DF flag. */
  readonly dontFragment: boolean;
  /** On decode, a view into the caller's buffer, cut at the total length (drops link padding). */
  readonly payload: Uint8Array;
}

/** Writes a 20-byte header with a valid checksum from raw 4-byte addresses; returns 20. */
export function writeIpv4Header(
  buf: Uint8Array, at: number, src: Uint8Array, dst: Uint8Array,
  protocol: number, ttl: number, id: number, dontFragment: boolean, payloadLen: number,
): number {
  const total = IPV4_HEADER_LEN + payloadLen;
  const flags = dontFragment ? 0x40 : 0;
  buf[at] = 0x45;
  buf[at + 1] = 0;
  buf[at + 2] = total >>> 8;
  buf[at + 3] = total & 0xff;
  buf[at + 4] = (id >>> 8) & 0xff;
  buf[at + 5] = id & 0xff;
  buf[at + 6] = flags;
  buf[at + 7] = 0;
  buf[at + 8] = ttl;
  buf[at + 9] = protocol;
  for (let i = 0; i < 4; i++) {
    buf[at + 12 + i] = src[i]!;
    buf[at + 16 + i] = dst[i]!;
  }
  // Sum the words directly rather than re-reading the buffer: 0x4500 + total + id + flags|ttl..
  const sum =
    0x4500 + total + (id & 0xffff) + (flags << 8) + ((ttl << 8) | protocol) +
    ((src[0]! << 8) | src[1]!) + ((src[2]! << 8) | src[3]!) +
    ((dst[0]! << 8) | dst[1]!) + ((dst[2]! << 8) | dst[3]!);
  const ck = foldChecksum(sum);
  buf[at + 10] = ck >>> 8;
  buf[at + 11] = ck & 0xff;
  return IPV4_HEADER_LEN;
}

export function encodeIpv4(pkt: Ipv4Packet, buf: Uint8Array, at: number): number {
  const len = IPV4_HEADER_LEN + pkt.payload.length;
  need(at, len, buf.length);
  if (len > 0xffff) throw new WireError('malformed', at, `total length ${len} exceeds 65535`);
  if (pkt.src.family !== 4 || pkt.dst.family !== 4) throw new WireError('malformed', at, 'IPv6 address in IPv4 packet');
  writeIpv4Header(buf, at, pkt.src.bytes, pkt.dst.bytes, pkt.protocol, pkt.ttl, pkt.id, pkt.dontFragment, pkt.payload.length);
  buf.set(pkt.payload, at + IPV4_HEADER_LEN);
  return len;
}

/** Decodes and checks the header checksum. Options are skipped; DSCP/ECN are ignored. */
export function decodeIpv4(buf: Uint8Array, at: number, end: number): Ipv4Packet {
  need(at, IPV4_HEADER_LEN, end);
  const version = buf[at]! >>> 4;
  if (version !== 4) throw new WireError('malformed', at, `version ${version}`);
  const ihl = (buf[at]! & 0x0f) * 4;
  if (ihl < IPV4_HEADER_LEN) throw new WireError('malformed', at, `header length ${ihl}`);
  const total = (buf[at + 2]! << 8) | buf[at + 3]!;
  if (total < ihl) throw new WireError('malformed', at + 2, `total length ${total} < header length ${ihl}`);
  need(at, total, end);
  if (foldChecksum(sumWords(buf, at, at + ihl)) !== 0) throw new WireError('checksum', at + 10, 'IPv4 header checksum');
  const fragField = (buf[at + 6]! << 8) | buf[at + 7]!;
  // MF set or a non-zero offset: a fragment, which the emulator never produces or reassembles.
  if ((fragField & 0x3fff) !== 0) throw new WireError('unrecognized', at + 6, 'fragment');
  return {
    src: makeIp(4, buf.subarray(at + 12, at + 16)),
    dst: makeIp(4, buf.subarray(at + 16, at + 20)),
    protocol: buf[at + 9]!,
    ttl: buf[at + 8]!,
    id: (buf[at + 4]! << 8) | buf[at + 5]!,
    dontFragment: (fragField & 0x4000) !== 0,
    payload: buf.subarray(at + ihl, at + total),
  };
}
