// Ethernet II framing (IEEE 802.3 with an EtherType >= 0x0600). No FCS: captures omit it.

import { WireError, need } from './errors.js';

export const ETHERNET_HEADER_LEN = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;

export interface EthernetFrame {
  /** 6 bytes. */
  readonly dst: Uint8Array;
  /** 6 bytes. */
  readonly src: Uint8Array;
  readonly etherType: number;
  /** On decode, a view into the caller's buffer (not a copy). */
  readonly payload: Uint8Array;
}

/** Writes the 14-byte header at buf[at]; returns 14. */
export function writeEthernetHeader(
  buf: Uint8Array, at: number, dst: Uint8Array, src: Uint8Array, etherType: number,
): number {
  for (let i = 0; i < 6; i++) {
    buf[at + i] = dst[i]!;
    buf[at + 6 + i] = src[i]!;
  }
  buf[at + 12] = etherType >>> 8;
  buf[at + 13] = etherType & 0xff;
  return ETHERNET_HEADER_LEN;
}

/** Writes header and payload; returns the bytes written. */
export function encodeEthernet(frame: EthernetFrame, buf: Uint8Array, at: number): number {
  const len = ETHERNET_HEADER_LEN + frame.payload.length;
  need(at, len, buf.length);
  writeEthernetHeader(buf, at, frame.dst, frame.src, frame.etherType);
  buf.set(frame.payload, at + ETHERNET_HEADER_LEN);
  return len;
}

export function decodeEthernet(buf: Uint8Array, at: number, end: number): EthernetFrame {
  need(at, ETHERNET_HEADER_LEN, end);
  const etherType = (buf[at + 12]! << 8) | buf[at + 13]!;
  // Values below 0x0600 are 802.3 lengths (LLC frames), which we do not speak.
  if (etherType < 0x0600) throw new WireError('unrecognized', at + 12, `802.3 length field ${etherType}`);
  return {
    dst: buf.slice(at, at + 6),
    src: buf.slice(at + 6, at + 12),
    etherType,
    payload: buf.subarray(at + ETHERNET_HEADER_LEN, end),
  };
}
