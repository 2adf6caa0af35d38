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
            srcMac: sm, dstMac: dm, src, dst, ttl: 64 - i, ipId: 1000 + i, dontFragment: i % 2 === 0,
            seg: { srcPort: 40000 + i, dstPort: 8080, seq: 0xfffffff0 + i, ack: i * 77, flags: 0x18, window: 502, urgent: 0, options: lists[i]!, payload: Uint8Array.from({ length: i * 7 }, (_, k) => k) },
          });
        }
      }
    }
    // Many rounds over the same objects (memo hits), the timestamps record changing as a sender's does.
    for (let round = 0; round < 5; round++) {
      for (const f of specs) {
        ts.tsval = 1000 * round + f.seg.srcPort;
        ts.tsecr = round;
        expect(frame(f, round * 3)).toEqual(frame(fresh(f)));
      }
    }
  });
});
