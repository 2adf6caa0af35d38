// ICMP errors of the datagram layer, and the group reports a host sends when its sockets join or
// leave a multicast group: ICMP destination unreachable (RFC 792), ICMPv6 destination
// unreachable (RFC 4443 §3.1), IGMPv3 membership reports (RFC 3376 §4.2) and MLDv2 listener
// reports (RFC 3810 §5.2), each in a whole Ethernet frame with valid checksums.

import { makeIp, type IpAddr } from '../addr.js';
import { WireError } from './errors.js';
import { foldChecksum, pseudoHeaderSumV6, sumWords } from './checksum.js';
import { ETHERNET_HEADER_LEN } from './ethernet.js';
import { IPPROTO_ICMPV6 } from './ipv4.js';
import { IPV6_HEADER_LEN, writeIpv6Header } from './ipv6.js';
import { writeIpFrameHeader, type IpSpec } from './udp.js';
import { ETHERTYPE_IPV6, writeEthernetHeader } from './ethernet.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_IGMP = 2;
const IPPROTO_HOPOPTS = 0;

export const ICMP_DEST_UNREACH = 3;
export const ICMP_PORT_UNREACH = 3;
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PORT_UNREACH = 4;
export const IGMPV3_HOST_MEMBERSHIP_REPORT = 0x22;
export const ICMPV6_MLD2_REPORT = 143;

/** Group record types (RFC 3376 §4.2.12, RFC 3810 §5.2.12): a join is a change to EXCLUDE {}, a leave to INCLUDE {}. */
export const CHANGE_TO_INCLUDE = 3;
export const CHANGE_TO_EXCLUDE = 4;

/** 224.0.0.22, where IGMPv3 reports go; ff02::16, where MLDv2 reports go. */
export const IGMPV3_ALL_ROUTERS = makeIp(4, Uint8Array.of(224, 0, 0, 22));
export const MLDV2_ALL_ROUTERS = makeIp(6, Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16));

/** The most of the offending datagram an ICMP error quotes: the whole error within 576 bytes (IPv4) or 1280 (IPv6). */
export function quotedLength(family: 4 | 6, datagramLen: number): number {
  // [net/ipv4/icmp.c __icmp_send: room = min(mtu, 576) - iphdr - icmphdr; net/ipv6/icmp.c icmp6_send: IPV6_MIN_MTU - ipv6hdr - icmp6hdr]
  const room = family === 4 ? 576 - 20 - 8 : 1280 - 40 - 8;
  return Math.min(datagramLen, room);
}

/**
 * Writes Ethernet + IP + ICMP (IPv4: type 3 code 3) or ICMPv6 (type 1 code 4) port unreachable
 * quoting `quoted` (the offending IP datagram from its IP header on, already cut by
 * quotedLength); returns the frame length.
 */
export function writePortUnreachableFrame(buf: Uint8Array, f: IpSpec, quoted: Uint8Array): number {
  const v6 = f.src.family === 6;
  const len = 8 + quoted.length;
  const at = writeIpFrameHeader(buf, f, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, len);
  buf[at] = v6 ? ICMPV6_DEST_UNREACH : ICMP_DEST_UNREACH;
  buf[at + 1] = v6 ? ICMPV6_PORT_UNREACH : ICMP_PORT_UNREACH;
  buf.fill(0, at + 2, at + 8);
  buf.set(quoted, at + 8);
  const pseudo = v6 ? pseudoHeaderSumV6(f.src.bytes, f.dst.bytes, IPPROTO_ICMPV6, len) : 0;
  const ck = foldChecksum(sumWords(buf, at, at + len, pseudo));
  buf[at + 2] = ck >>> 8;
  buf[at + 3] = ck & 0xff;
  return at + len;
}

/** IPv4 Router Alert option (RFC 2113), which IGMPv3 reports carry [net/ipv4/igmp.c igmpv3_newpack]. */
const ROUTER_ALERT_V4 = Uint8Array.of(0x94, 0x04, 0x00, 0x00);

/**
 * Writes an IGMPv3 membership report (to 224.0.0.22, with Router Alert) or an MLDv2 listener
 * report (to ff02::16, after a Hop-by-Hop header with Router Alert: MLD) carrying one group
 * record of `recordType` with no sources; returns the frame length. f.dst and f.dstMac are the
 * caller's (the all-routers group and its MAC).
 */
export function writeGroupReportFrame(buf: Uint8Array, f: IpSpec, group: IpAddr, recordType: number): number {
  if (group.family !== f.src.family) throw new WireError('malformed', ETHERNET_HEADER_LEN, 'group and source families differ');
  if (group.family === 4) {
    const len = 8 + 8;
    const at = writeIpFrameHeader(buf, f, IPPROTO_IGMP, len, ROUTER_ALERT_V4);
    buf[at] = IGMPV3_HOST_MEMBERSHIP_REPORT;
    buf.fill(0, at + 1, at + 6);
    buf[at + 6] = 0;
    buf[at + 7] = 1; // one group record
    buf[at + 8] = recordType;
    buf[at + 9] = 0; // aux data length
    buf[at + 10] = 0;
    buf[at + 11] = 0; // number of sources
    buf.set(group.bytes, at + 12);
    const ck = foldChecksum(sumWords(buf, at, at + len));
    buf[at + 2] = ck >>> 8;
    buf[at + 3] = ck & 0xff;
    return at + len;
  }
  // IPv6: a Hop-by-Hop header (Router Alert, value 0 = MLD; RFC 2711) before the ICMPv6 report.
  const mldLen = 8 + 20;
  const hbh = 8;
  const total = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + hbh + mldLen;
  if (total > buf.length) throw new WireError('truncated', 0, `frame needs ${total} bytes`);
  writeEthernetHeader(buf, 0, f.dstMac, f.srcMac, ETHERTYPE_IPV6);
  writeIpv6Header(buf, ETHERNET_HEADER_LEN, f.src.bytes, f.dst.bytes, IPPROTO_HOPOPTS, f.ttl, f.flowLabel ?? 0, hbh + mldLen);
  let at = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN;
  buf.set(Uint8Array.of(IPPROTO_ICMPV6, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00), at); // next 58, len 0, RA(MLD), PadN(0)
  at += hbh;
  buf[at] = ICMPV6_MLD2_REPORT;
  buf.fill(0, at + 1, at + 6);
  buf[at + 6] = 0;
  buf[at + 7] = 1;
  buf[at + 8] = recordType;
  buf[at + 9] = 0;
  buf[at + 10] = 0;
  buf[at + 11] = 0;
  buf.set(group.bytes, at + 12);
  const ck = foldChecksum(sumWords(buf, at, at + mldLen, pseudoHeaderSumV6(f.src.bytes, f.dst.bytes, IPPROTO_ICMPV6, mldLen)));
  buf[at + 2] = ck >>> 8;
  buf[at + 3] = ck & 0xff;
  return at + mldLen;
}
