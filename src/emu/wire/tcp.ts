// TCP header (RFC 9293 §3.1) with the options Linux, BSD and Windows put on the wire
// (RFC 9293 MSS, RFC 2018 SACK, RFC 7323 window scale and timestamps).

import type { IpAddr } from '../addr.js';
import { WireError, need } from './errors.js';
import { foldChecksum, pseudoHeaderSum, sumWords } from './checksum.js';
import { IPPROTO_TCP } from './ipv4.js';

export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_PSH = 8;
export const TCP_ACK = 16;
export const TCP_URG = 32;

export const TCP_HEADER_LEN = 20;
/** Data offset is 4 bits of 32-bit words: at most 60 bytes of header. */
export const TCP_MAX_OPTIONS_LEN = 40;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WINDOW_SCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMPS = 8;

export type TcpOption =
  | { readonly kind: 'mss'; readonly mss: number }
  | { readonly kind: 'sackPermitted' }
  | { readonly kind: 'timestamps'; readonly tsval: number; readonly tsecr: number }
  | { readonly kind: 'windowScale'; readonly shift: number }
  | { readonly kind: 'nop' }
  | { readonly kind: 'eol' }
  | { readonly kind: 'sack'; readonly blocks: readonly (readonly [number, number])[] };

export interface TcpSegment {
  readonly srcPort: number;
  readonly dstPort: number;
  /** uint32. */
  readonly seq: number;
  /** uint32. */
  readonly ack: number;
  /** TCP_FIN | TCP_SYN | ... */
  readonly flags: number;
  readonly window: number;
  readonly urgent: number;
  /** Encoded in this order, then padded with EOL to a 4-byte multiple. */
  readonly options: readonly TcpOption[];
  /** On decode, a view into the caller's buffer. */
  readonly payload: Uint8Array;
}

/** Option bytes before padding. */
function rawOptionsLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (let i = 0; i < options.length; i++) {
    const o = options[i]!;
    switch (o.kind) {
      case 'mss': n += 4; break;
      case 'sackPermitted': n += 2; break;
      case 'timestamps': n += 10; break;
      case 'windowScale': n += 3; break;
      case 'nop': case 'eol': n += 1; break;
      case 'sack': n += 2 + 8 * o.blocks.length; break;
    }
  }
  return n;
}

/** Header length (20 + padded options) for a segment with these options. */
export function tcpHeaderLength(options: readonly TcpOption[]): number {
  return TCP_HEADER_LEN + ((rawOptionsLength(options) + 3) & ~3);
}

function put32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

function get32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/**
 * Writes the header and options (checksum field zero, payload not written) at buf[at];
 * returns the header length. Throws 'malformed' when the options exceed 40 bytes.
 */
export function writeTcpHeader(seg: TcpSegment, buf: Uint8Array, at: number): number {
  const hlen = tcpHeaderLength(seg.options);
  if (hlen > TCP_HEADER_LEN + TCP_MAX_OPTIONS_LEN) {
    throw new WireError('malformed', at + 12, `options need ${hlen - TCP_HEADER_LEN} bytes, at most 40 fit`);
  }
  buf[at] = seg.srcPort >>> 8;
  buf[at + 1] = seg.srcPort & 0xff;
  buf[at + 2] = seg.dstPort >>> 8;
  buf[at + 3] = seg.dstPort & 0xff;
  put32(buf, at + 4, seg.seq >>> 0);
  put32(buf, at + 8, seg.ack >>> 0);
  buf[at + 12] = (hlen >>> 2) << 4;
  buf[at + 13] = seg.flags & 0xff;
  buf[at + 14] = (seg.window >>> 8) & 0xff;
  buf[at + 15] = seg.window & 0xff;
  buf[at + 16] = 0;
  buf[at + 17] = 0;
  buf[at + 18] = (seg.urgent >>> 8) & 0xff;
  buf[at + 19] = seg.urgent & 0xff;
  writeTcpOptions(seg.options, buf, at + TCP_HEADER_LEN);
  return hlen;
}

/**
 * Writes options in order from buf[at], EOL-padded to a 4-byte multiple; returns the end offset.
 * Does not check the 40-byte limit: callers compare the result with at + 40.
 */
export function writeTcpOptions(options: readonly TcpOption[], buf: Uint8Array, at: number): number {
  let p = at;
  for (let i = 0; i < options.length; i++) {
    const o = options[i]!;
    switch (o.kind) {
      case 'mss':
        buf[p] = TCPOPT_MSS; buf[p + 1] = 4; buf[p + 2] = (o.mss >>> 8) & 0xff; buf[p + 3] = o.mss & 0xff;
        p += 4;
        break;
      case 'sackPermitted':
        buf[p] = TCPOPT_SACK_PERMITTED; buf[p + 1] = 2;
        p += 2;
        break;
      case 'timestamps':
        buf[p] = TCPOPT_TIMESTAMPS; buf[p + 1] = 10;
        put32(buf, p + 2, o.tsval >>> 0);
        put32(buf, p + 6, o.tsecr >>> 0);
        p += 10;
        break;
      case 'windowScale':
        buf[p] = TCPOPT_WINDOW_SCALE; buf[p + 1] = 3; buf[p + 2] = o.shift;
        p += 3;
        break;
      case 'nop':
        buf[p++] = TCPOPT_NOP;
        break;
      case 'eol':
        buf[p++] = TCPOPT_EOL;
        break;
      case 'sack': {
        const blocks = o.blocks;
        buf[p] = TCPOPT_SACK; buf[p + 1] = 2 + 8 * blocks.length;
        p += 2;
        for (let b = 0; b < blocks.length; b++) {
          put32(buf, p, blocks[b]![0] >>> 0);
          put32(buf, p + 4, blocks[b]![1] >>> 0);
          p += 8;
        }
        break;
      }
    }
  }
  while (((p - at) & 3) !== 0) buf[p++] = TCPOPT_EOL;
  return p;
}

/** Stores the checksum of buf[at..end) (a whole segment) with the given pseudo header sum. */
export function fillTcpChecksum(buf: Uint8Array, at: number, end: number, pseudoSum: number): void {
  buf[at + 16] = 0;
  buf[at + 17] = 0;
  const ck = foldChecksum(sumWords(buf, at, end, pseudoSum));
  buf[at + 16] = ck >>> 8;
  buf[at + 17] = ck & 0xff;
}

/** Encodes header, options and payload with the checksum for src/dst; returns bytes written. */
export function encodeTcp(seg: TcpSegment, buf: Uint8Array, at: number, src: IpAddr, dst: IpAddr): number {
  const len = tcpHeaderLength(seg.options) + seg.payload.length;
  need(at, len, buf.length);
  if (src.family !== dst.family) throw new WireError('malformed', at, 'source and destination families differ');
  const hlen = writeTcpHeader(seg, buf, at);
  buf.set(seg.payload, at + hlen);
  fillTcpChecksum(buf, at, at + len, pseudoHeaderSum(src.bytes, dst.bytes, IPPROTO_TCP, len));
  return len;
}

function decodeOptions(buf: Uint8Array, at: number, end: number): TcpOption[] {
  const out: TcpOption[] = [];
  let p = at;
  while (p < end) {
    const kind = buf[p]!;
    // EOL ends the list; what follows is padding (RFC 9293 §3.1), so it is not reported.
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) { out.push({ kind: 'nop' }); p++; continue; }
    if (p + 2 > end) throw new WireError('malformed', p, `option ${kind} has no length byte`);
    const len = buf[p + 1]!;
    if (len < 2 || p + len > end) throw new WireError('malformed', p + 1, `option ${kind} length ${len}`);
    const fixed = (want: number): void => {
      if (len !== want) throw new WireError('malformed', p + 1, `option ${kind} length ${len}, expected ${want}`);
    };
    switch (kind) {
      case TCPOPT_MSS: fixed(4); out.push({ kind: 'mss', mss: (buf[p + 2]! << 8) | buf[p + 3]! }); break;
      case TCPOPT_WINDOW_SCALE: fixed(3); out.push({ kind: 'windowScale', shift: buf[p + 2]! }); break;
      case TCPOPT_SACK_PERMITTED: fixed(2); out.push({ kind: 'sackPermitted' }); break;
      case TCPOPT_TIMESTAMPS: fixed(10); out.push({ kind: 'timestamps', tsval: get32(buf, p + 2), tsecr: get32(buf, p + 6) }); break;
      case TCPOPT_SACK: {
        if ((len - 2) % 8 !== 0 || len === 2) throw new WireError('malformed', p + 1, `SACK length ${len}`);
        const blocks: [number, number][] = [];
        for (let q = p + 2; q < p + len; q += 8) blocks.push([get32(buf, q), get32(buf, q + 4)]);
        out.push({ kind: 'sack', blocks });
        break;
      }
      default:
        throw new WireError('unrecognized', p, `TCP option kind ${kind}`);
    }
    p += len;
  }
  return out;
}

/**
 * Decodes the segment in buf[at..end) (end = end of the IP payload). When src and dst are
 * given, the checksum is verified against their pseudo header.
 */
export function decodeTcp(buf: Uint8Array, at: number, end: number, src?: IpAddr, dst?: IpAddr): TcpSegment {
  need(at, TCP_HEADER_LEN, end);
  const hlen = (buf[at + 12]! >>> 4) * 4;
  if (hlen < TCP_HEADER_LEN) throw new WireError('malformed', at + 12, `data offset ${hlen}`);
  need(at, hlen, end);
  if (src && dst) {
    const sum = sumWords(buf, at, end, pseudoHeaderSum(src.bytes, dst.bytes, IPPROTO_TCP, end - at));
    if (foldChecksum(sum) !== 0) throw new WireError('checksum', at + 16, 'TCP checksum');
  }
  return {
    srcPort: (buf[at]! << 8) | buf[at + 1]!,
    dstPort: (buf[at + 2]! << 8) | buf[at + 3]!,
    seq: get32(buf, at + 4),
    ack: get32(buf, at + 8),
    // The low 6 bits; ECE/CWR (RFC 3168) and the reserved bits are not modelled.
    flags: buf[at + 13]! & 0x3f,
    window: (buf[at + 14]! << 8) | buf[at + 15]!,
    urgent: (buf[at + 18]! << 8) | buf[at + 19]!,
    options: decodeOptions(buf, at + TCP_HEADER_LEN, at + hlen),
    payload: buf.subarray(at + hlen, end),
  };
}
