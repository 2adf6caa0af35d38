// IPv6 fixed header (RFC 8200 §3). Extension headers are not parsed: nextHeader is reported as is.

import { makeIp, type IpAddr } from '../addr.js';
import { WireError, need } from './errors.js';

export const IPV6_HEADER_LEN = 40;

export interface Ipv6Packet {
  readonly src: IpAddr;
  readonly dst: IpAddr;
  readonly nextHeader: number;
  readonly hopLimit: number;
  /** 20 bits. */
  readonly flowLabel: number;
  /** On decode, a view into the caller's buffer, cut at the payload length. */
  readonly payload: Uint8Array;
}

/** Writes the 40-byte header from raw 16-byte addresses (traffic class 0); returns 40. */
export function writeIpv6Header(
  buf: Uint8Array, at: number, src: Uint8Array, dst: Uint8Array,
  nextHeader: number, hopLimit: number, flowLabel: number, payloadLen: number,
): number {
  buf[at] = 0x60;
  buf[at + 1] = (flowLabel >>> 16) & 0x0f;
  buf[at + 2] = (flowLabel >>> 8) & 0xff;
  buf[at + 3] = flowLabel & 0xff;
  buf[at + 4] = payloadLen >>> 8;
  buf[at + 5] = payloadLen & 0xff;
  buf[at + 6] = nextHeader;
  buf[at + 7] = hopLimit;
  for (let i = 0; i < 16; i++) {
    buf[at + 8 + i] = src[i]!;
    buf[at + 24 + i] = dst[i]!;
  }
  return IPV6_HEADER_LEN;
}

export function encodeIpv6(pkt: Ipv6Packet, buf: Uint8Array, at: number): number {
  const len = IPV6_HEADER_LEN + pkt.payload.length;
  need(at, len, buf.length);
  if (pkt.payload.length > 0xffff) throw new WireError('malformed', at, 'jumbo payloads are not supported');
  if (pkt.src.family !== 6 || pkt.dst.family !== 6) throw new WireError('malformed', at, 'IPv4 address in IPv6 packet');
  writeIpv6Header(buf, at, pkt.src.bytes, pkt.dst.bytes, pkt.nextHeader, pkt.hopLimit, pkt.flowLabel, pkt.payload.length);
  buf.set(pkt.payload, at + IPV6_HEADER_LEN);
  return len;
}

/** Decodes the fixed header; the traffic class is ignored. */
export function decodeIpv6(buf: Uint8Array, at: number, end: number): Ipv6Packet {
  need(at, IPV6_HEADER_LEN, end);
  const version = buf[at]! >>> 4;
  if (version !== 6) throw new WireError('malformed', at, `version ${version}`);
  const payloadLen = (buf[at + 4]! << 8) | buf[at + 5]!;
  need(at + IPV6_HEADER_LEN, payloadLen, end);
  return {
    src: makeIp(6, buf.subarray(at + 8, at + 24)),
    dst: makeIp(6, buf.subarray(at + 24, at + 40)),
    nextHeader: buf[at + 6]!,
    hopLimit: buf[at + 7]!,
    flowLabel: ((buf[at + 1]! & 0x0f) << 16) | (buf[at + 2]! << 8) | buf[at + 3]!,
    payload: buf.subarray(at + IPV6_HEADER_LEN, at + IPV6_HEADER_LEN + payloadLen),
  };
}
