// A captured UDP packet (a client's datagram, or the real server's answer where a policy agrees
// with it) into a policy's output, straight into the writer's buffer: re-framed as Ethernet when
// the capture's link type is another, with whole checksums (captures taken on the sending host
// carry unfinished ones: checksum offload), the input packet's own comments kept, the decision's
// comment and record after them.

import { copyBytes } from '../emu/wire/copy.js';
import { foldChecksum, sumWords } from '../emu/wire/checksum.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktypes.js';
import type { PcapngWriter } from '../pcap/pcapng-writer.js';
import type { CapturedDatagram } from './datagram.js';

const IPPROTO_UDP = 17, IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;

/**
 * Writes the captured frame data[offset, offset + caplen) of the link type, whose IP packet
 * starts at dg.ipAt, as an Ethernet frame from srcMac to dstMac (kept as captured when the capture
 * is Ethernet).
 */
export function writeCapturedDatagram(w: PcapngWriter, captureId: number, t: number, data: Uint8Array, offset: number, caplen: number, linkType: number,
  dg: CapturedDatagram, srcMac: Uint8Array, dstMac: Uint8Array, comment: string | undefined, record: string | undefined, inputs: readonly string[] | null): void {
  const ether = linkType === LINKTYPE_ETHERNET;
  const ipLen = offset + caplen - dg.ipAt;
  const len = ether ? caplen : 14 + ipLen;
  const at = inputs ? w.reserveFrame(len + 8 * (inputs.length + 2), inputs.join('') + (comment ?? '') + (record ?? '')) : w.reserveFrame(len, comment, record);
  const buf = w.frameBuffer;
  let ipAt: number;
  if (ether) {
    copyBytes(buf, at, data, offset, offset + caplen);
    ipAt = at + (dg.ipAt - offset);
  } else {
    buf.set(dstMac, at);
    buf.set(srcMac, at + 6);
    buf[at + 12] = dg.family === 4 ? 0x08 : 0x86;
    buf[at + 13] = dg.family === 4 ? 0x00 : 0xdd;
    copyBytes(buf, at + 14, data, dg.ipAt, dg.ipAt + ipLen);
    ipAt = at + 14;
  }
  const shift = ipAt - dg.ipAt;
  fixChecksums(buf, dg.family as 4 | 6, ipAt, dg.l4At + shift, dg.ipEnd + shift, at + len);
  if (!inputs) {
    w.commitFrame(captureId, t, len, comment, record);
    return;
  }
  w.commitFrame(captureId, t, len, inputs[0]);
  for (let i = 1; i < inputs.length; i++) w.appendComment(inputs[i]!);
  if (comment !== undefined) w.appendComment(comment);
  if (record !== undefined) w.appendComment(record);
}

/**
 * The IPv4 header checksum, and the UDP or ICMP/ICMPv6 checksum over l4At..ipEnd when the capture
 * holds all of it (capEnd); an ICMP error's quoted datagram is left as quoted.
 */
function fixChecksums(buf: Uint8Array, family: 4 | 6, ipAt: number, l4At: number, ipEnd: number, capEnd: number): void {
  const proto = family === 4 ? buf[ipAt + 9]! : lastHeader(buf, ipAt);
  if (family === 4) {
    // Over the header only [RFC 791].
    const ihl = (buf[ipAt]! & 0x0f) * 4;
    buf[ipAt + 10] = 0; buf[ipAt + 11] = 0;
    const c = foldChecksum(sumWords(buf, ipAt, ipAt + ihl));
    buf[ipAt + 10] = c >>> 8; buf[ipAt + 11] = c;
  }
  // A packet cut by the snaplen cannot be summed; a reader cannot check it either.
  if (ipEnd > capEnd) return;
  const len = ipEnd - l4At;
  if (proto === IPPROTO_ICMP) {
    // ICMP's checksum covers the message alone [RFC 792].
    buf[l4At + 2] = 0; buf[l4At + 3] = 0;
    const c = foldChecksum(sumWords(buf, l4At, ipEnd));
    buf[l4At + 2] = c >>> 8; buf[l4At + 3] = c;
    return;
  }
  const at = proto === IPPROTO_UDP ? 6 : proto === IPPROTO_ICMPV6 ? 2 : -1;
  if (at < 0) return;
  // UDP [RFC 768] and ICMPv6 [RFC 4443 §2.3] sum a pseudo-header with the addresses.
  let sum = proto + len;
  sum = family === 4 ? sumWords(buf, ipAt + 12, ipAt + 20, sum) : sumWords(buf, ipAt + 8, ipAt + 40, sum);
  buf[l4At + at] = 0; buf[l4At + at + 1] = 0;
  let c = foldChecksum(sumWords(buf, l4At, ipEnd, sum));
  // A UDP checksum of zero is sent as all ones (zero means "none") [RFC 768].
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff;
  buf[l4At + at] = c >>> 8; buf[l4At + at + 1] = c;
}

/** The protocol of an IPv6 packet's transport header (after the extension headers decodeDatagram walks). */
function lastHeader(buf: Uint8Array, ipAt: number): number {
  let next = buf[ipAt + 6]!;
  let at = ipAt + 40;
  while (next === 0 || next === 43 || next === 60) {
    next = buf[at]!;
    at += 8 + buf[at + 1]! * 8;
  }
  return next;
}
