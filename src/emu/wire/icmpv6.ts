// ICMPv6 Neighbor Discovery (RFC 4861 §4.3, §4.4): Neighbor Solicitation and Advertisement
// with the link-layer address options; the checksum covers the IPv6 pseudo header (RFC 4443 §2.3).

import { makeIp, type IpAddr } from '../addr.js';
import { WireError, need } from './errors.js';
import { foldChecksum, pseudoHeaderSumV6, sumWords } from './checksum.js';
import { IPPROTO_ICMPV6 } from './ipv4.js';

export const ICMPV6_NEIGHBOR_SOLICITATION = 135;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT = 136;
export const NDP_OPT_SOURCE_LL = 1;
export const NDP_OPT_TARGET_LL = 2;
/** NS/NA body without options. */
export const NDP_BASE_LEN = 24;
/** One Ethernet link-layer address option. */
export const NDP_LL_OPT_LEN = 8;

const NA_ROUTER = 0x80;
const NA_SOLICITED = 0x40;
const NA_OVERRIDE = 0x20;

export type Icmpv6Message =
  | {
      readonly type: 'ns';
      readonly target: IpAddr;
      /** Source link-layer address option; absent in DAD probes from "::". */
      readonly sourceLinkAddr?: Uint8Array;
    }
  | {
      readonly type: 'na';
      readonly target: IpAddr;
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly targetLinkAddr?: Uint8Array;
    };

/**
 * Writes an NS (135) or NA (136) with at most one link-layer option (llType 0 for none) and
 * a valid checksum, from raw 16-byte addresses. Returns the bytes written.
 */
export function writeNdp(
  buf: Uint8Array, at: number, type: number, flags: number, target: Uint8Array,
  llType: number, mac: Uint8Array | undefined, src: Uint8Array, dst: Uint8Array,
): number {
  const len = llType !== 0 && mac ? NDP_BASE_LEN + NDP_LL_OPT_LEN : NDP_BASE_LEN;
  buf[at] = type;
  buf[at + 1] = 0;
  buf[at + 2] = 0;
  buf[at + 3] = 0;
  buf[at + 4] = flags;
  buf[at + 5] = 0; buf[at + 6] = 0; buf[at + 7] = 0;
  for (let i = 0; i < 16; i++) buf[at + 8 + i] = target[i]!;
  if (len > NDP_BASE_LEN) {
    buf[at + 24] = llType;
    buf[at + 25] = 1; // length in units of 8 bytes
    for (let i = 0; i < 6; i++) buf[at + 26 + i] = mac![i]!;
  }
  const ck = foldChecksum(sumWords(buf, at, at + len, pseudoHeaderSumV6(src, dst, IPPROTO_ICMPV6, len)));
  buf[at + 2] = ck >>> 8;
  buf[at + 3] = ck & 0xff;
  return len;
}

/** Encodes msg with the checksum for the given IPv6 source and destination. */
export function encodeIcmpv6(msg: Icmpv6Message, buf: Uint8Array, at: number, src: IpAddr, dst: IpAddr): number {
  const mac = msg.type === 'ns' ? msg.sourceLinkAddr : msg.targetLinkAddr;
  need(at, NDP_BASE_LEN + (mac ? NDP_LL_OPT_LEN : 0), buf.length);
  if (msg.target.family !== 6 || src.family !== 6 || dst.family !== 6) {
    throw new WireError('malformed', at, 'NDP needs IPv6 addresses');
  }
  if (msg.type === 'ns') {
    return writeNdp(buf, at, ICMPV6_NEIGHBOR_SOLICITATION, 0, msg.target.bytes,
      mac ? NDP_OPT_SOURCE_LL : 0, mac, src.bytes, dst.bytes);
  }
  const flags = (msg.router ? NA_ROUTER : 0) | (msg.solicited ? NA_SOLICITED : 0) | (msg.override ? NA_OVERRIDE : 0);
  return writeNdp(buf, at, ICMPV6_NEIGHBOR_ADVERTISEMENT, flags, msg.target.bytes,
    mac ? NDP_OPT_TARGET_LL : 0, mac, src.bytes, dst.bytes);
}

/**
 * Decodes an NS or NA in buf[at..end) and verifies its checksum against src/dst.
 * Other ICMPv6 types are 'unrecognized'; other ND options are skipped.
 */
export function decodeIcmpv6(buf: Uint8Array, at: number, end: number, src: IpAddr, dst: IpAddr): Icmpv6Message {
  need(at, 4, end);
  const type = buf[at]!;
  if (type !== ICMPV6_NEIGHBOR_SOLICITATION && type !== ICMPV6_NEIGHBOR_ADVERTISEMENT) {
    throw new WireError('unrecognized', at, `ICMPv6 type ${type}`);
  }
  need(at, NDP_BASE_LEN, end);
  if (buf[at + 1] !== 0) throw new WireError('malformed', at + 1, `code ${buf[at + 1]}`);
  const sum = sumWords(buf, at, end, pseudoHeaderSumV6(src.bytes, dst.bytes, IPPROTO_ICMPV6, end - at));
  if (foldChecksum(sum) !== 0) throw new WireError('checksum', at + 2, 'ICMPv6 checksum');
  const target = makeIp(6, buf.subarray(at + 8, at + 24));
  const wantOpt = type === ICMPV6_NEIGHBOR_SOLICITATION ? NDP_OPT_SOURCE_LL : NDP_OPT_TARGET_LL;
  let mac: Uint8Array | undefined;
  for (let p = at + NDP_BASE_LEN; p < end; ) {
    need(p, 2, end);
    const optLen = buf[p + 1]! * 8;
    if (optLen === 0) throw new WireError('malformed', p + 1, 'ND option of length 0'); // RFC 4861 §4.6
    need(p, optLen, end);
    if (buf[p] === wantOpt && optLen === NDP_LL_OPT_LEN) mac = buf.slice(p + 2, p + 8);
    p += optLen;
  }
  if (type === ICMPV6_NEIGHBOR_SOLICITATION) {
    return mac ? { type: 'ns', target, sourceLinkAddr: mac } : { type: 'ns', target };
  }
  const flags = buf[at + 4]!;
  const base = {
    type: 'na' as const,
    target,
    router: (flags & NA_ROUTER) !== 0,
    solicited: (flags & NA_SOLICITED) !== 0,
    override: (flags & NA_OVERRIDE) !== 0,
  };
  return mac ? { ...base, targetLinkAddr: mac } : base;
}
