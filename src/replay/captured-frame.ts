// A captured packet (TCP segment or UDP datagram) copied into a policy's output straight into the
// writer's buffer, re-framed as Ethernet when the capture's link type is another; the caller then
// fixes its checksums in place and commits it with commitCaptured.

import { copyBytes } from '../emu/wire/copy.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktypes.js';
import type { PcapngWriter } from '../pcap/pcapng-writer.js';

/** Where reframeCaptured put the frame (one for the process: no object per packet). */
export interface Framed {
  /** The frame's first byte in the writer's buffer. */
  at: number;
  len: number;
  /** Its IP header's first byte in the writer's buffer. */
  ipAt: number;
}
const framed: Framed = { at: 0, len: 0, ipAt: 0 };

/**
 * Reserves room for data[offset, offset + caplen) of the link type, whose IP packet starts at
 * ipAt, with its comments (the input packet's own first, then comment and record), and copies it
 * in: as captured when the capture is Ethernet, else behind an Ethernet header from srcMac to dstMac.
 */
export function reframeCaptured(w: PcapngWriter, data: Uint8Array, offset: number, caplen: number, linkType: number, ipAt: number, family: number,
  dstMac: Uint8Array, srcMac: Uint8Array, comment: string | undefined, record: string | undefined, inputs: readonly string[] | null): Framed {
  const ether = linkType === LINKTYPE_ETHERNET;
  const ipLen = offset + caplen - ipAt;
  const len = ether ? caplen : 14 + ipLen;
  const at = inputs ? w.reserveFrame(len + 8 * (inputs.length + 2), inputs.join('') + (comment ?? '') + (record ?? '')) : w.reserveFrame(len, comment, record);
  const buf = w.frameBuffer;
  if (ether) {
    copyBytes(buf, at, data, offset, offset + caplen);
    framed.ipAt = at + (ipAt - offset);
  } else {
    buf.set(dstMac, at);
    buf.set(srcMac, at + 6);
    buf[at + 12] = family === 4 ? 0x08 : 0x86;
    buf[at + 13] = family === 4 ? 0x00 : 0xdd;
    copyBytes(buf, at + 14, data, ipAt, ipAt + ipLen);
    framed.ipAt = at + 14;
  }
  framed.at = at;
  framed.len = len;
  return framed;
}

/** Commits the frame reframeCaptured reserved, with the input packet's comments before the decision's. */
export function commitCaptured(w: PcapngWriter, captureId: number, t: number, len: number, comment: string | undefined, record: string | undefined,
  inputs: readonly string[] | null): void {
  if (!inputs) {
    w.commitFrame(captureId, t, len, comment, record);
    return;
  }
  w.commitFrame(captureId, t, len, inputs[0]);
  for (let i = 1; i < inputs.length; i++) w.appendComment(inputs[i]!);
  if (comment !== undefined) w.appendComment(comment);
  if (record !== undefined) w.appendComment(record);
}
