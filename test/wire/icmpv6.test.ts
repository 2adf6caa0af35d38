import { describe, it, expect } from 'vitest';
import { decodeEthernet } from '../../src/emu/wire/ethernet.js';
import { decodeIpv6 } from '../../src/emu/wire/ipv6.js';
import { decodeIcmpv6, encodeIcmpv6 } from '../../src/emu/wire/icmpv6.js';
import { multicastMac, solicitedNodeMulticast, writeNdpFrame } from '../../src/emu/wire/frame.js';
import { parseIp } from '../../src/emu/addr.js';
import { foldChecksum, pseudoHeaderSumV6, sumWords } from '../../src/emu/wire/checksum.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Captured with tcpdump on Linux eth0 (fd00::2, 02:fc:00:00:00:01) resolving fd00::1.
const NS =
  '3333ff000001 02fc00000001 86dd' +
  '60000000 0020 3a ff fd000000000000000000000000000002 ff0200000000000000000001ff000001' +
  '87 00 7c9c 00000000 fd000000000000000000000000000001 0101 02fc00000001';

describe('icmpv6 neighbor discovery', () => {
  it('parses a real Neighbor Solicitation and emits the same bytes', () => {
    const bytes = hex(NS);
    const eth = decodeEthernet(bytes, 0, bytes.length);
    const ip = decodeIpv6(bytes, 14, bytes.length);
    expect(ip.hopLimit).toBe(255);
    const msg = decodeIcmpv6(ip.payload, 0, ip.payload.length, ip.src, ip.dst);
    expect(msg.type).toBe('ns');
    expect(msg.target.text).toBe('fd00::1');
    expect(msg.type === 'ns' && toHex(msg.sourceLinkAddr!)).toBe('02fc00000001');

    const body = new Uint8Array(32);
    expect(encodeIcmpv6(msg, body, 0, ip.src, ip.dst)).toBe(32);
    expect(toHex(body)).toBe(toHex(ip.payload));

    const frame = new Uint8Array(128);
    const n = writeNdpFrame(frame, { type: 'ns', srcMac: eth.src, src: ip.src, target: msg.target });
    expect(toHex(frame.subarray(0, n))).toBe(toHex(bytes));
  });

  it('builds a solicited Neighbor Advertisement with a target link-layer option', () => {
    const src = parseIp('fd00::1')!;
    const dst = parseIp('fd00::2')!;
    const frame = new Uint8Array(128);
    const n = writeNdpFrame(frame, {
      type: 'na', srcMac: hex('02fc00000005'), dstMac: hex('02fc00000001'), src, dst, target: src,
      solicited: true, override: true,
    });
    expect(n).toBe(86);
    const ip = decodeIpv6(frame, 14, n);
    const msg = decodeIcmpv6(ip.payload, 0, ip.payload.length, ip.src, ip.dst);
    expect(msg).toEqual({ type: 'na', target: src, router: false, solicited: true, override: true, targetLinkAddr: hex('02fc00000005') });
    // Type 136, flags S|O (0x60), option type 2 length 1.
    expect(toHex(frame.subarray(54, 58))).toBe('8800' + toHex(frame.subarray(56, 58)));
    expect(frame[58]).toBe(0x60);
    expect(toHex(frame.subarray(78, 86))).toBe('020102fc00000005');
    const body = new Uint8Array(32);
    encodeIcmpv6(msg, body, 0, src, dst);
    expect(toHex(body)).toBe(toHex(ip.payload));
  });

  it('omits the source link-layer option in a DAD probe from ::', () => {
    const frame = new Uint8Array(128);
    const n = writeNdpFrame(frame, { type: 'ns', srcMac: hex('02fc00000001'), src: parseIp('::')!, target: parseIp('fe80::fc:ff:fe00:1')! });
    expect(n).toBe(14 + 40 + 24);
    const ip = decodeIpv6(frame, 14, n);
    expect(ip.dst.text).toBe('ff02::1:ff00:1');
    expect(decodeIcmpv6(ip.payload, 0, ip.payload.length, ip.src, ip.dst)).toEqual({ type: 'ns', target: parseIp('fe80::fc:ff:fe00:1') });
  });

  it('computes multicast groups and MACs', () => {
    expect(solicitedNodeMulticast(parseIp('fd00::1234:5678')!).text).toBe('ff02::1:ff34:5678');
    expect(toHex(multicastMac(parseIp('ff02::1:ff34:5678')!))).toBe('3333ff345678');
    expect(toHex(multicastMac(parseIp('224.129.2.3')!))).toBe('01005e010203');
  });

  it('reports a bad checksum, an unknown type and a zero-length option', () => {
    const bytes = hex(NS);
    const ip = decodeIpv6(bytes, 14, bytes.length);
    const p = ip.payload.slice();
    p[31] ^= 1;
    expect(() => decodeIcmpv6(p, 0, p.length, ip.src, ip.dst)).toThrow(expect.objectContaining({ kind: 'checksum', offset: 2 }));
    const echo = ip.payload.slice(); echo[0] = 128;
    expect(() => decodeIcmpv6(echo, 0, echo.length, ip.src, ip.dst)).toThrow(expect.objectContaining({ kind: 'unrecognized' }));
    const zero = ip.payload.slice();
    zero[25] = 0; zero[2] = 0; zero[3] = 0;
    const ck = foldChecksum(sumWords(zero, 0, 32, pseudoHeaderSumV6(ip.src.bytes, ip.dst.bytes, 58, 32)));
    zero[2] = ck >> 8; zero[3] = ck & 0xff;
    expect(() => decodeIcmpv6(zero, 0, zero.length, ip.src, ip.dst)).toThrow(expect.objectContaining({ kind: 'malformed', offset: 25 }));
  });
});
