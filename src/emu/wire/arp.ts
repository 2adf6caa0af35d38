// ARP for IPv4 over Ethernet (RFC 826): the only hardware/protocol pair we emit or accept.

import { makeIp, type IpAddr } from '../addr.js';
import { WireError, need } from './errors.js';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpPacket {
  /** 1 request, 2 reply. */
  readonly op: 1 | 2;
  readonly senderMac: Uint8Array;
  readonly senderIp: IpAddr;
  readonly targetMac: Uint8Array;
  readonly targetIp: IpAddr;
}

/** Writes the 28-byte ARP body from raw fields (4-byte IPs); returns 28. */
export function writeArp(
  buf: Uint8Array, at: number, op: number,
  senderMac: Uint8Array, senderIp: Uint8Array, targetMac: Uint8Array, targetIp: Uint8Array,
): number {
  buf[at] = 0; buf[at + 1] = 1; // htype Ethernet
  buf[at + 2] = 0x08; buf[at + 3] = 0x00; // ptype IPv4
  buf[at + 4] = 6; buf[at + 5] = 4;
  buf[at + 6] = 0; buf[at + 7] = op;
  for (let i = 0; i < 6; i++) {
    buf[at + 8 + i] = senderMac[i]!;
    buf[at + 18 + i] = targetMac[i]!;
  }
  for (let i = 0; i < 4; i++) {
    buf[at + 14 + i] = senderIp[i]!;
    buf[at + 24 + i] = targetIp[i]!;
  }
  return ARP_LEN;
}

export function encodeArp(pkt: ArpPacket, buf: Uint8Array, at: number): number {
  need(at, ARP_LEN, buf.length);
  if (pkt.senderIp.family !== 4 || pkt.targetIp.family !== 4) {
    throw new WireError('malformed', at, 'ARP carries IPv4 addresses only');
  }
  return writeArp(buf, at, pkt.op, pkt.senderMac, pkt.senderIp.bytes, pkt.targetMac, pkt.targetIp.bytes);
}

/** Decodes buf[at..end); bytes after the 28 (Ethernet padding) are ignored. */
export function decodeArp(buf: Uint8Array, at: number, end: number): ArpPacket {
  need(at, ARP_LEN, end);
  const htype = (buf[at]! << 8) | buf[at + 1]!;
  const ptype = (buf[at + 2]! << 8) | buf[at + 3]!;
  if (htype !== 1 || ptype !== 0x0800) throw new WireError('unrecognized', at, `htype ${htype} ptype 0x${ptype.toString(16)}`);
  if (buf[at + 4] !== 6 || buf[at + 5] !== 4) throw new WireError('malformed', at + 4, 'address lengths must be 6 and 4');
  const op = (buf[at + 6]! << 8) | buf[at + 7]!;
  if (op !== ARP_REQUEST && op !== ARP_REPLY) throw new WireError('unrecognized', at + 6, `op ${op}`);
  return {
    op,
    senderMac: buf.slice(at + 8, at + 14),
    senderIp: makeIp(4, buf.subarray(at + 14, at + 18)),
    targetMac: buf.slice(at + 18, at + 24),
    targetIp: makeIp(4, buf.subarray(at + 24, at + 28)),
  };
}
