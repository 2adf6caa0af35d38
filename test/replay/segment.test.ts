// decodeSegment's fast path for untagged Ethernet IPv4 frames (src/replay/segment.ts) against its
// general path (locateNetworkLayer): the same frame behind an 802.1Q tag, and its IP packet alone
// as raw IP, must decode alike (offsets moved by the tag or the missing Ethernet header), valid or not.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../../src/pcap/linktypes.js';
import { decodeSegment, newSegment, SKIP_FRAGMENT, SKIP_MALFORMED, SKIP_NOT_TCP, SKIP_TRUNCATED, type CapturedSegment } from '../../src/replay/segment.js';

const OFFSETS = ['ipAt', 'tcpAt', 'srcAt', 'dstAt', 'payloadAt'] as const;
const VALUES = ['family', 'srcPort', 'dstPort', 'seq', 'ack', 'flags', 'payloadLen', 'payloadCaptured'] as const;

/** The fields a caller reads after a result: all of them for a segment, none after a skip. */
function decoded(linkType: number, frame: Uint8Array, shift: number): { result: number; seg?: Record<string, number> } {
  const seg: CapturedSegment = newSegment();
  const result = decodeSegment(linkType, frame, 0, frame.length, seg);
  if (result !== 4 && result !== 6) return { result };
  const out: Record<string, number> = {};
  for (const k of OFFSETS) out[k] = seg[k] - shift;
  for (const k of VALUES) out[k] = seg[k];
  // The source MAC sits before any tag: not shifted.
  out.macAt = seg.macAt;
  return { result, seg: out };
}

/** An IPv4 packet mostly well formed (TCP, no fragment), with now and then a wrong field, cut at `cut` bytes. */
const ipPacket = fc.record({
  version: fc.constantFrom(4, 4, 4, 4, 6),
  ihlWords: fc.constantFrom(5, 5, 5, 6, 4, 15),
  proto: fc.constantFrom(6, 6, 6, 17),
  frag: fc.constantFrom(0, 0, 0, 0x2000, 0x0001, 0x4000),
  tcpWords: fc.constantFrom(5, 5, 8, 8, 4, 15),
  payload: fc.integer({ min: 0, max: 64 }),
  totalDelta: fc.constantFrom(0, 0, 0, -1, 5, -30),
  bytes: fc.uint8Array({ minLength: 160, maxLength: 160 }),
  cut: fc.integer({ min: 0, max: 160 }),
}).map((r) => {
  const b = Uint8Array.from(r.bytes);
  const ihl = r.ihlWords * 4;
  b[0] = (r.version << 4) | r.ihlWords;
  const total = Math.max(0, ihl + r.tcpWords * 4 + r.payload + r.totalDelta);
  b[2] = total >> 8; b[3] = total & 0xff;
  b[6] = r.frag >> 8; b[7] = r.frag & 0xff;
  b[9] = r.proto;
  if (ihl + 12 < b.length) b[ihl + 12] = (r.tcpWords << 4) | (b[ihl + 12]! & 0x0f);
  return b.subarray(0, Math.min(r.cut + 20, b.length));
});

const mac = fc.uint8Array({ minLength: 12, maxLength: 12 });

function ethernet(macs: Uint8Array, ip: Uint8Array, vlan: boolean): Uint8Array {
  const head = vlan ? 18 : 14;
  const f = new Uint8Array(head + ip.length);
  f.set(macs, 0);
  if (vlan) { f[12] = 0x81; f[13] = 0x00; f[14] = 0x00; f[15] = 0x07; }
  f[head - 2] = 0x08; f[head - 1] = 0x00;
  f.set(ip, head);
  return f;
}

describe('decodeSegment: the Ethernet IPv4 fast path', () => {
  it('decodes every frame as the general path does (802.1Q-tagged, and as raw IP)', () => {
    const results = new Set<number>();
    fc.assert(fc.property(mac, ipPacket, (macs, ip) => {
      const plain = decoded(LINKTYPE_ETHERNET, ethernet(macs, ip, false), 0);
      results.add(plain.result);
      expect(plain).toEqual(decoded(LINKTYPE_ETHERNET, ethernet(macs, ip, true), 4));
      // Raw IP takes its family from the version nibble, Ethernet from the EtherType.
      if (ip[0]! >> 4 === 4) {
        const raw = decoded(LINKTYPE_RAW, ip, -14);
        // Raw IP has no MAC (-1); the Ethernet frame's source MAC is at 6.
        if (raw.seg) raw.seg.macAt = 6;
        expect(plain).toEqual(raw);
      }
    }), { numRuns: 3000 });
    // The generator reaches every outcome, so the comparison covers each of them.
    expect([...results].sort((a, b) => a - b)).toEqual([4, SKIP_NOT_TCP, SKIP_FRAGMENT, SKIP_TRUNCATED, SKIP_MALFORMED].sort((a, b) => a - b));
  });

  it('gives the source MAC of a fast-path frame, and frames of 14 to 33 bytes are cut IP headers', () => {
    const ip = new Uint8Array(40);
    ip[0] = 0x45; ip[3] = 40; ip[9] = 6; ip[32] = 0x50;
    const macs = Uint8Array.from({ length: 12 }, (_, i) => i + 1);
    const seg = newSegment();
    const f = ethernet(macs, ip, false);
    expect(decodeSegment(LINKTYPE_ETHERNET, f, 0, f.length, seg)).toBe(4);
    expect([seg.macAt, seg.ipAt, seg.tcpAt, seg.payloadLen]).toEqual([6, 14, 34, 0]);
    for (let len = 14; len < 34; len++) expect(decodeSegment(LINKTYPE_ETHERNET, f, 0, len, seg)).toBe(SKIP_TRUNCATED);
  });
});
