// A captured UDP packet (a client's datagram, or the real server's answer where a policy agrees
// with it) into a policy's output, straight into the writer's buffer: re-framed as Ethernet when
// the capture's link type is another, with whole checksums (captures taken on the sending host
// carry unfinished ones: checksum offload), the input packet's own comments kept, the decision's
// comment and record after them.

import { foldChecksum, sumWords } from '../emu/wire/checksum.js';
import type { PcapngWriter } from '../pcap/pcapng-writer.js';
import type { CapturedDatagram } from './datagram.js';
import { commitCaptured, reframeCaptured } from './captured-frame.js';

const IPPROTO_UDP = 17, IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;

/**
 * Writes the captured frame data[offset, offset + caplen) of the link type, whose IP packet
 * starts at dg.ipAt, as an Ethernet frame from srcMac to dstMac (kept as captured when the capture
 * is Ethernet).
 */
export function writeCapturedDatagram(w: PcapngWriter, captureId: number, t: number, data: Uint8Array, offset: number, caplen: number, linkType: number,
  dg: CapturedDatagram, srcMac: Uint8Array, dstMac: Uint8Array, comment: string | undefined, record: string | undefined, inputs: readonly string[] | null): void {
  const f = reframeCaptured(w, data, offset, caplen, linkType, dg.ipAt, dg.family, dstMac, srcMac, comment, record, inputs);
  const shift = f.ipAt - dg.ipAt;
  fixChecksums(w.frameBuffer, dg.family as 4 | 6, f.ipAt, dg.l4At + shift, dg.ipEnd + shift, f.at + f.len);
  commitCaptured(w, captureId, t, f.len, comment, record, inputs);
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
