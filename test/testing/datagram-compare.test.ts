// verify-kernel --capture's comparison of datagrams and the ICMP errors about them, on the
// emulator's own frames of scenarios/udp-router.yaml (every link, through the router), then changed
// where a kernel could differ: a copy missing, a TTL, a quoted TTL.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runWithFrames, type Frame } from '../emu/frames.js';
import { compareDatagrams, datagramFactsAt, type DatagramFacts } from '../../src/testing/datagram-compare.js';

const TEXT = readFileSync(resolve(__dirname, '../../scenarios/udp-router.yaml'), 'utf8');
const { frames } = runWithFrames(TEXT, 'linux', 'scenarios/udp-router.yaml');
const facts = (fs: readonly Frame[]): DatagramFacts[] => fs.flatMap((f) => {
  const d = datagramFactsAt(f.link, f.bytes, 14, (f.bytes[12]! << 8) | f.bytes[13]!);
  return d ? [d] : [];
});
const all = facts(frames);

describe('datagram facts', () => {
  it('key a datagram by link, addresses and the service port, not the client\'s automatic one', () => {
    const keys = new Set(all.map((d) => d.key));
    expect(keys).toContain('c: UDP 10.2.0.2 → 10.0.0.1:4000');
    expect(keys).toContain('a: UDP 10.2.0.2 → 10.0.0.1:4000');
    // The reply, from 4000 to the client's automatic port.
    expect(keys).toContain('a: UDP 10.0.0.1 → 10.2.0.2:4000');
    expect(keys).toContain('c: UDP [fd02::2] → [fd00::1]:4000');
  });

  it('key an ICMP error by its type and code and the datagram it quotes, with that datagram\'s TTL', () => {
    const hostUnreachable = all.filter((d) => d.key === 'c: ICMP 3/1 10.2.0.254 → 10.2.0.2 about 10.2.0.2 → 10.0.0.77:4000');
    expect(hostUnreachable.map((d) => [d.ttl, d.quotedTtl])).toEqual([[64, 63]]);
    const exceeded = all.filter((d) => d.key.startsWith('c: ICMP 11/0 10.0.0.253 → 10.2.0.2 about'));
    expect(exceeded.map((d) => [d.ttl, d.quotedTtl])).toEqual([[63, 1]]);
    expect(all.some((d) => d.key.startsWith('a: ICMPv6 1/3 '))).toBe(false);
    expect(all.filter((d) => d.key.startsWith('c: ICMPv6 1/3 fd02::fe') || d.key.startsWith('c: ICMPv6 1/3 [fd02::fe]')).length).toBeGreaterThan(0);
  });

  it('leave out what is neither a datagram nor an error about one (ARP, NDP, IGMP)', () => {
    expect(all.length).toBeLessThan(frames.length);
    expect(all.every((d) => d.key.includes(' UDP ') || d.key.includes(' ICMP'))).toBe(true);
  });
});

describe('compareDatagrams', () => {
  it('finds nothing between the same packets', () => {
    const r = compareDatagrams('x.yaml', all, all);
    expect(r.differences).toEqual([]);
    expect(r.datagrams).toBe(all.length);
  });

  it('names a copy missing, a TTL and a quoted TTL that differ', () => {
    const i = all.findIndex((d) => d.key === 'a: UDP 10.2.0.2 → 10.0.0.1:4000');
    const j = all.findIndex((d) => d.quotedTtl === 63 && d.key.includes('ICMP 3/1'));
    const kernel = all.filter((_, k) => k !== i).map((d, k) => (k === j - 1 ? { ...d, ttl: d.ttl - 1, quotedTtl: 64 } : d));
    const r = compareDatagrams('x.yaml', kernel, all);
    expect([...r.differences].sort()).toEqual([
      'x.yaml: a: UDP 10.2.0.2 → 10.0.0.1:4000: the kernel sent 0, the emulator 1',
      `x.yaml: ${all[j]!.key} #1: TTL kernel ${all[j]!.ttl - 1}, emulated ${all[j]!.ttl}`,
      `x.yaml: ${all[j]!.key} #1: quoted TTL kernel 64, emulated 63`,
    ].sort());
  });
});
