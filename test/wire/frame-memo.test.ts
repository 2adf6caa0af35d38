// writeTcpFrame keeps the last flows' headers and option lists between calls. Whatever it keeps,
// a frame must come out the same as one written from fresh objects that match nothing kept.

import { describe, expect, it } from 'vitest';
import { makeIp, type IpAddr } from '../../src/emu/addr.js';
import { writeTcpFrame, type TcpFrameSpec } from '../../src/emu/wire/frame.js';
import type { TcpOption } from '../../src/emu/wire/tcp.js';

/** A fresh copy of every object in the spec, so nothing matches by identity. */
function fresh(f: TcpFrameSpec): TcpFrameSpec {
  const ip = (a: IpAddr): IpAddr => makeIp(a.family, a.bytes);
  const opts = f.seg.options.map((o) => ({ ...o }) as TcpOption);
  return { ...f, srcMac: Uint8Array.from(f.srcMac), dstMac: Uint8Array.from(f.dstMac), src: ip(f.src), dst: ip(f.dst), seg: { ...f.seg, options: opts } };
}

function frame(f: TcpFrameSpec, at = 0): Uint8Array {
  const buf = new Uint8Array(at + 200).fill(0xee);
  const len = writeTcpFrame(buf, f, at);
  return buf.slice(at, at + len);
}

const v4 = [makeIp(4, Uint8Array.of(10, 0, 0, 100)), makeIp(4, Uint8Array.of(10, 0, 0, 2))] as const;
const v6 = [makeIp(6, Uint8Array.of(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0)), makeIp(6, Uint8Array.of(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1))] as const;
const macA = Uint8Array.of(2, 0, 0, 0, 0, 1);
const macB = Uint8Array.of(2, 0, 0, 0, 0, 2);

describe('writeTcpFrame with kept headers and option lists', () => {
  it('writes every frame of interleaved flows exactly as from fresh objects', () => {
    const ts = { kind: 'timestamps' as const, tsval: 1, tsecr: 0 };
    const syn: TcpOption[] = [{ kind: 'mss', mss: 1460 }, { kind: 'sackPermitted' }, ts, { kind: 'nop' }, { kind: 'windowScale', shift: 7 }];
    const data: TcpOption[] = [{ kind: 'nop' }, { kind: 'nop' }, ts];
    const lists = [syn, data, [] as TcpOption[], [{ kind: 'mss', mss: 536 }] as TcpOption[], [{ kind: 'sack', blocks: [[5, 9]] }] as TcpOption[]];
    const specs: TcpFrameSpec[] = [];
    for (const [a, b] of [v4, v6]) {
      for (const [src, dst, sm, dm] of [[a, b, macA, macB], [b, a, macB, macA]] as const) {
        for (let i = 0; i < lists.length; i++) {
          specs.push({
            // The flow label differs between frames of one kept header (a replay's connections): it is written per frame.
            srcMac: sm, dstMac: dm, src, dst, ttl: 64 - i, ipId: 1000 + i, dontFragment: i % 2 === 0, flowLabel: (i * 0x2345b + 1) & 0xfffff,
            seg: { srcPort: 40000 + i, dstPort: 8080, seq: 0xfffffff0 + i, ack: i * 77, flags: 0x18, window: 502, urgent: 0, options: lists[i]!, payload: Uint8Array.from({ length: i * 7 }, (_, k) => k) },
          });
        }
      }
    }
    // Frames of one flow but for the flow label (a header kept for both).
    for (const [a, b] of [v4, v6]) {
      for (const flowLabel of [0, 1, 0xfffff, 0x12345]) {
        specs.push({ srcMac: macA, dstMac: macB, src: a, dst: b, ttl: 64, ipId: 7, dontFragment: true, flowLabel,
          seg: { srcPort: 80, dstPort: 50000, seq: 1, ack: 2, flags: 0x10, window: 100, urgent: 0, options: data, payload: new Uint8Array(0) } });
      }
    }
    // Many rounds over the same objects (memo hits), the timestamps record changing as a sender's does.
    for (let round = 0; round < 5; round++) {
      for (const f of specs) {
        ts.tsval = 1000 * round + f.seg.srcPort;
        ts.tsecr = round;
        const got = frame(f, round * 3);
        expect(got).toEqual(frame(fresh(f)));
        // And the IPv6 flow label is the spec's (after the Ethernet header: version, class, label).
        if (f.src.family === 6) expect(((got[15]! & 0x0f) << 16) | (got[16]! << 8) | got[17]!).toBe(f.flowLabel);
      }
    }
  });
});
