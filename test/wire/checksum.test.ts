import { describe, it, expect } from 'vitest';
import { foldChecksum, internetChecksum, pseudoHeaderSumV4, pseudoHeaderSumV6, sumWords } from '../../src/emu/wire/checksum.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('internet checksum', () => {
  it('matches the worked example of RFC 1071 §3', () => {
    const b = hex('0001 f203 f4f5 f6f7');
    // The sum 0x2ddf0 folds to 0xddf2 (sumWords may keep it in another unfolded form).
    expect(sumWords(b, 0, 8) % 0xffff).toBe(0x2ddf0 % 0xffff);
    expect(internetChecksum(b, 0, 8)).toBe(~0xddf2 & 0xffff);
  });

  it('equals a 16-bit word-by-word sum at any start, length and parity, chained or not', () => {
    const b = new Uint8Array(300);
    let x = 7;
    for (let i = 0; i < b.length; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24; }
    const slow = (at: number, end: number): number => {
      let s = 0;
      for (let i = at; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
      return foldChecksum(s);
    };
    for (let at = 0; at < 9; at++) {
      for (let end = at; end < 300; end += 7) {
        expect(foldChecksum(sumWords(b, at, end))).toBe(slow(at, end));
        const mid = at + ((end - at) >> 2) * 2;
        expect(foldChecksum(sumWords(b, mid, end, sumWords(b, at, mid)))).toBe(slow(at, end));
      }
    }
    // All ones: the sum is 0xffff (never folded to 0), the checksum 0.
    expect(internetChecksum(new Uint8Array(64).fill(0xff), 0, 64)).toBe(0);
    expect(internetChecksum(new Uint8Array(64), 0, 64)).toBe(0xffff);
  });

  it('pads an odd last byte with zero', () => {
    expect(internetChecksum(hex('0102 03'), 0, 3)).toBe(internetChecksum(hex('0102 0300'), 0, 4));
  });

  it('verifies a real IPv4 header (sum folds to zero)', () => {
    // 127.0.0.1 -> 127.0.0.1 SYN, captured on Linux lo, header checksum 0x3f6d.
    const ip = hex('4500003cfd4c400040063f6d7f0000017f000001');
    expect(internetChecksum(ip, 0, 20)).toBe(0);
    ip[10] = 0; ip[11] = 0;
    expect(internetChecksum(ip, 0, 20)).toBe(0x3f6d);
  });

  it('sums the IPv4 and IPv6 pseudo headers', () => {
    const v4 = pseudoHeaderSumV4(hex('7f000001'), hex('7f000001'), 6, 40);
    expect(v4).toBe(0x7f00 + 1 + 0x7f00 + 1 + 6 + 40);
    const one = hex('00000000000000000000000000000001');
    expect(pseudoHeaderSumV6(one, one, 6, 0x10028)).toBe(2 + 6 + 1 + 0x28);
  });

  it('folds large sums', () => {
    expect(foldChecksum(0xffff)).toBe(0);
    expect(foldChecksum(0x1fffe)).toBe(0);
    expect(foldChecksum(2 ** 40)).toBe(~0x100 & 0xffff); // 2^16 ≡ 1, so 2^40 ≡ 2^8
  });
});
