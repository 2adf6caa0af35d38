// ICMP and ICMPv6 error messages (destination unreachable, time exceeded) in an Ethernet frame,
// quoting the packet that caused them, as a Linux router sends them: IPv4 with TOS 0xc0 and
// without DF [net/ipv4/icmp.c __icmp_send: IPTOS_PREC_INTERNETCONTROL; the ICMP socket's
// pmtudisc is IP_PMTUDISC_DONT], quoting at most 576 bytes in all [icmp.c: 576 - headers];
// ICMPv6 quoting at most the IPv6 minimum MTU of 1280 in all [net/ipv6/icmp.c icmp6_send:
// IPV6_MIN_MTU] (RFC 792, RFC 4443 §3).

import { foldChecksum, pseudoHeaderSumV6, sumWords } from './checksum.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeEthernetHeader } from './ethernet.js';
import { IPPROTO_ICMPV6, IPV4_HEADER_LEN } from './ipv4.js';
import { IPV6_HEADER_LEN, writeIpv6Header } from './ipv6.js';
import { WireError } from './errors.js';
import type { IpSpec } from './udp.js';

const IPPROTO_ICMP = 1;
const ICMP_HEADER_LEN = 8;

/** RFC 792 / RFC 4443 type and code of each error the emulator sends. */
export const ICMP_CODES = {
  'net-unreachable': { v4: [3, 0], v6: [1, 0] },
  'host-unreachable': { v4: [3, 1], v6: [1, 3] },
  'time-exceeded': { v4: [11, 0], v6: [3, 0] },
  /** IPv6 only: a link-local source a router will not forward (RFC 4443 §3.1 code 2). */
  'beyond-scope': { v4: [3, 1], v6: [1, 2] },
} as const;

/** The addresses, TTL and IPv4 id of the error's own packet, named as udp.ts's IpSpec names them. */
export interface IcmpErrorSpec extends Pick<IpSpec, 'srcMac' | 'dstMac' | 'src' | 'dst' | 'ttl' | 'ipId'> {
  readonly kind: keyof typeof ICMP_CODES;
  /** The offending IP packet as the router received it (header first). */
  readonly quoted: Uint8Array;
}

/** Writes the frame at buf[0]; returns its length. */
export function writeIcmpErrorFrame(buf: Uint8Array, e: IcmpErrorSpec): number {
  const v6 = e.src.family === 6;
  const [type, code] = ICMP_CODES[e.kind][v6 ? 'v6' : 'v4'];
  const ipLen = v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN;
  const quoteLen = Math.min(e.quoted.length, (v6 ? 1280 : 576) - ipLen - ICMP_HEADER_LEN);
  const icmpLen = ICMP_HEADER_LEN + quoteLen;
  const ipAt = ETHERNET_HEADER_LEN;
  const icmpAt = ipAt + ipLen;
  const len = icmpAt + icmpLen;
  if (len > buf.length) throw new WireError('truncated', 0, `frame needs ${len} bytes`);
  writeEthernetHeader(buf, 0, e.dstMac, e.srcMac, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4);
  if (v6) {
    writeIpv6Header(buf, ipAt, e.src.bytes, e.dst.bytes, IPPROTO_ICMPV6, e.ttl, 0, icmpLen);
  } else {
    const total = ipLen + icmpLen;
    buf.set([0x45, 0xc0, total >>> 8, total & 0xff, (e.ipId >>> 8) & 0xff, e.ipId & 0xff, 0, 0, e.ttl, IPPROTO_ICMP, 0, 0], ipAt);
    buf.set(e.src.bytes, ipAt + 12);
    buf.set(e.dst.bytes, ipAt + 16);
    const ck = foldChecksum(sumWords(buf, ipAt, ipAt + ipLen));
    buf[ipAt + 10] = ck >>> 8;
    buf[ipAt + 11] = ck & 0xff;
  }
  buf.set([type, code, 0, 0, 0, 0, 0, 0], icmpAt);
  buf.set(e.quoted.subarray(0, quoteLen), icmpAt + ICMP_HEADER_LEN);
  const ck = foldChecksum(sumWords(buf, icmpAt, icmpAt + icmpLen, v6 ? pseudoHeaderSumV6(e.src.bytes, e.dst.bytes, IPPROTO_ICMPV6, icmpLen) : 0));
  buf[icmpAt + 2] = ck >>> 8;
  buf[icmpAt + 3] = ck & 0xff;
  return len;
}

/**
 * A copy of an IP packet (header first) with its TTL (IPv6: hop limit) one lower and, for IPv4,
 * the header checksum made again: the packet as a router holds it once it has decided to forward it.
 */
export function lowerTtl(packet: Uint8Array): Uint8Array {
  // A copy (a Node Buffer's slice() would be a view).
  const p = Uint8Array.from(packet);
  if (p.length < 1) return p;
  if (p[0]! >> 4 === 6) {
    if (p.length >= 8 && p[7]! > 0) p[7] = p[7]! - 1;
    return p;
  }
  const hl = (p[0]! & 0x0f) * 4;
  if (p.length < hl || hl < IPV4_HEADER_LEN || p[8] === 0) return p;
  p[8] = p[8]! - 1;
  p[10] = 0;
  p[11] = 0;
  const ck = foldChecksum(sumWords(p, 0, hl));
  p[10] = ck >>> 8;
  p[11] = ck & 0xff;
  return p;
}
