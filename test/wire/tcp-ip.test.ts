import { describe, it, expect } from 'vitest';
import { decodeEthernet, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../src/emu/wire/ethernet.js';
import { decodeIpv4, encodeIpv4, IPPROTO_TCP } from '../../src/emu/wire/ipv4.js';
import { decodeIpv6, encodeIpv6 } from '../../src/emu/wire/ipv6.js';
import {
  decodeTcp, encodeTcp, tcpHeaderLength, TCP_ACK, TCP_PSH, TCP_SYN, type TcpSegment,
} from '../../src/emu/wire/tcp.js';
import { writeTcpFrame } from '../../src/emu/wire/frame.js';
import { parseIp } from '../../src/emu/addr.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Captured with tcpdump on Linux lo (python client with TCP_MAXSEG 1460). lo leaves the TCP
// checksum to "offload", so the capture holds a partial sum; the value here is the full one
// tcpdump -v computed for the same bytes ("incorrect -> 0xe53c").
const SYN_V4 =
  '000000000000 000000000000 0800' +
  '4500 003c fd4c 4000 4006 3f6d 7f000001 7f000001' +
  'e052 b26f 3c8448d4 00000000 a002 ffff e53c 0000' +
  '020405b4 0402 080a4ca9fffd00000000 01 030306';
// The first data segment of the same connection: PSH|ACK, NOP NOP TS, "hello bindlab\n".
const DATA_V4 =
  '000000000000 000000000000 0800' +
  '4500 0042 fd4e 4000 4006 3f65 7f000001 7f000001' +
  'e052 b26f 3c8448d5 c501d891 8018 b709 71f9 0000' +
  '0101 080a4ca9fffd83eae634 68656c6c6f2062696e646c61620a';
// An IPv6 SYN on ::1 (TCP_MAXSEG 1440), flow label 0x3e565, checksum as tcpdump computed it.
const SYN_V6 =
  '000000000000 000000000000 86dd' +
  '6003e565 0028 06 40 00000000000000000000000000000001 00000000000000000000000000000001' +
  '9eb8 b26f cfd9dae6 00000000 a002 fd20 532f 0000' +
  '020405a0 0402 080a871c74ba00000000 01 03030a';

const LINUX_SYN_OPTIONS = (mss: number, tsval: number, shift: number) => [
  { kind: 'mss', mss }, { kind: 'sackPermitted' }, { kind: 'timestamps', tsval, tsecr: 0 },
  { kind: 'nop' }, { kind: 'windowScale', shift },
];

describe('ipv4 + tcp', () => {
  it('parses a real Linux SYN (MSS, SACK_PERM, TS, NOP, WS) and emits the same bytes', () => {
    const bytes = hex(SYN_V4);
    const eth = decodeEthernet(bytes, 0, bytes.length);
    expect(eth.etherType).toBe(ETHERTYPE_IPV4);
    const ip = decodeIpv4(bytes, 14, bytes.length);
    expect(ip).toMatchObject({ protocol: IPPROTO_TCP, ttl: 64, id: 0xfd4c, dontFragment: true });
    expect(ip.src.text).toBe('127.0.0.1');
    const seg = decodeTcp(bytes, 34, bytes.length, ip.src, ip.dst);
    expect(seg).toMatchObject({ srcPort: 57426, dstPort: 45679, seq: 0x3c8448d4, ack: 0, flags: TCP_SYN, window: 65535, urgent: 0 });
    expect(seg.options).toEqual(LINUX_SYN_OPTIONS(1460, 0x4ca9fffd, 6));
    expect(tcpHeaderLength(seg.options)).toBe(40);
    expect(seg.payload.length).toBe(0);

    const tcp = new Uint8Array(40);
    expect(encodeTcp(seg, tcp, 0, ip.src, ip.dst)).toBe(40);
    const out = new Uint8Array(74);
    expect(encodeIpv4({ ...ip, payload: tcp }, out, 14)).toBe(60);
    expect(toHex(out.subarray(14))).toBe(toHex(bytes.subarray(14)));

    const frame = new Uint8Array(128);
    const n = writeTcpFrame(frame, { srcMac: eth.src, dstMac: eth.dst, src: ip.src, dst: ip.dst, ttl: 64, ipId: 0xfd4c, dontFragment: true, seg });
    expect(toHex(frame.subarray(0, n))).toBe(toHex(bytes));
  });

  it('parses a real data segment and rebuilds it with writeTcpFrame', () => {
    const bytes = hex(DATA_V4);
    const ip = decodeIpv4(bytes, 14, bytes.length);
    const seg = decodeTcp(ip.payload, 0, ip.payload.length, ip.src, ip.dst);
    expect(seg.flags).toBe(TCP_PSH | TCP_ACK);
    expect(seg.options).toEqual([{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsval: 0x4ca9fffd, tsecr: 0x83eae634 }]);
    expect(Buffer.from(seg.payload).toString()).toBe('hello bindlab\n');
    const frame = new Uint8Array(128);
    const n = writeTcpFrame(frame, { srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), src: ip.src, dst: ip.dst, ttl: 64, ipId: 0xfd4e, dontFragment: true, seg });
    expect(toHex(frame.subarray(0, n))).toBe(toHex(bytes));
  });

  it('rejects the offloaded (partial) checksum as the capture holds it', () => {
    const bytes = hex(SYN_V4);
    bytes[50] = 0xfe; bytes[51] = 0x30;
    const ip = decodeIpv4(bytes, 14, bytes.length);
    expect(() => decodeTcp(bytes, 34, bytes.length, ip.src, ip.dst)).toThrow(expect.objectContaining({ kind: 'checksum', offset: 50 }));
    expect(decodeTcp(bytes, 34, bytes.length).seq).toBe(0x3c8448d4); // without addresses, no check
  });

  it('reports bad IPv4 headers', () => {
    const bytes = hex(SYN_V4);
    const badSum = bytes.slice(); badSum[24] ^= 1;
    expect(() => decodeIpv4(badSum, 14, badSum.length)).toThrow(expect.objectContaining({ kind: 'checksum', offset: 24 }));
    expect(() => decodeIpv4(bytes, 14, 60)).toThrow(expect.objectContaining({ kind: 'truncated' }));
    const v5 = bytes.slice(); v5[14] = 0x55;
    expect(() => decodeIpv4(v5, 14, v5.length)).toThrow(expect.objectContaining({ kind: 'malformed', offset: 14 }));
  });

  it('encodes options in the given order and pads with EOL', () => {
    const seg: TcpSegment = {
      srcPort: 1, dstPort: 2, seq: 0xffffffff, ack: 0x80000000, flags: TCP_ACK, window: 100, urgent: 0,
      options: [{ kind: 'windowScale', shift: 7 }, { kind: 'sack', blocks: [[1, 2], [0xfffffff0, 0xfffffffe]] }],
      payload: new Uint8Array(0),
    };
    const src = parseIp('10.0.0.1')!;
    const dst = parseIp('10.0.0.2')!;
    const buf = new Uint8Array(64);
    const n = encodeTcp(seg, buf, 0, src, dst);
    expect(n).toBe(44);
    expect(toHex(buf.subarray(20, 44))).toBe('030307' + '0512' + '0000000100000002' + 'fffffff0fffffffe' + '000000');
    const back = decodeTcp(buf, 0, n, src, dst);
    expect(back.options).toEqual(seg.options); // trailing EOL padding is not reported
    expect(back.seq).toBe(0xffffffff);
    expect(back.ack).toBe(0x80000000);
  });

  it('rejects option lists that do not fit and malformed options', () => {
    const src = parseIp('10.0.0.1')!;
    const seg: TcpSegment = {
      srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0,
      options: [{ kind: 'sack', blocks: [[1, 2], [3, 4], [5, 6], [7, 8]] }, { kind: 'mss', mss: 1 }, { kind: 'windowScale', shift: 1 }], // 41 bytes
      payload: new Uint8Array(0),
    };
    expect(() => encodeTcp(seg, new Uint8Array(100), 0, src, src)).toThrow(expect.objectContaining({ kind: 'malformed' }));
    const bad = hex('0001000200000000000000006000000000000000' + '02030000'); // MSS with length 3
    expect(() => decodeTcp(bad, 0, bad.length)).toThrow(expect.objectContaining({ kind: 'malformed', offset: 21 }));
    const unknown = hex('0001000200000000000000006000000000000000' + '1e040000'); // MPTCP
    expect(() => decodeTcp(unknown, 0, unknown.length)).toThrow(expect.objectContaining({ kind: 'unrecognized', offset: 20 }));
    const short = hex('00010002000000000000000050');
    expect(() => decodeTcp(short, 0, short.length)).toThrow(expect.objectContaining({ kind: 'truncated' }));
  });
});

describe('ipv6 + tcp', () => {
  it('parses a real IPv6 SYN and emits the same bytes', () => {
    const bytes = hex(SYN_V6);
    expect(decodeEthernet(bytes, 0, bytes.length).etherType).toBe(ETHERTYPE_IPV6);
    const ip = decodeIpv6(bytes, 14, bytes.length);
    expect(ip).toMatchObject({ nextHeader: 6, hopLimit: 64, flowLabel: 0x3e565 });
    expect(ip.src.text).toBe('::1');
    const seg = decodeTcp(ip.payload, 0, ip.payload.length, ip.src, ip.dst);
    expect(seg.options).toEqual(LINUX_SYN_OPTIONS(1440, 0x871c74ba, 10));

    const tcp = new Uint8Array(40);
    encodeTcp(seg, tcp, 0, ip.src, ip.dst);
    const out = new Uint8Array(94);
    expect(encodeIpv6({ ...ip, payload: tcp }, out, 14)).toBe(80);
    expect(toHex(out.subarray(14))).toBe(toHex(bytes.subarray(14)));

    const frame = new Uint8Array(128);
    const n = writeTcpFrame(frame, {
      srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), src: ip.src, dst: ip.dst,
      ttl: 64, ipId: 0, dontFragment: false, flowLabel: 0x3e565, seg,
    });
    expect(toHex(frame.subarray(0, n))).toBe(toHex(bytes));
  });

  it('reports a short IPv6 payload and a wrong version', () => {
    const bytes = hex(SYN_V6);
    expect(() => decodeIpv6(bytes, 14, bytes.length - 1)).toThrow(expect.objectContaining({ kind: 'truncated', offset: 54 }));
    const v4 = bytes.slice(); v4[14] = 0x40;
    expect(() => decodeIpv6(v4, 14, v4.length)).toThrow(expect.objectContaining({ kind: 'malformed' }));
  });
});

describe('writeTcpFrame', () => {
  it('throws truncated when the buffer is too small, and mixed families are malformed', () => {
    const seg: TcpSegment = { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: TCP_SYN, window: 0, urgent: 0, options: [], payload: new Uint8Array(100) };
    const a = parseIp('10.0.0.1')!;
    const b = parseIp('fd00::1')!;
    const mac = new Uint8Array(6);
    expect(() => writeTcpFrame(new Uint8Array(100), { srcMac: mac, dstMac: mac, src: a, dst: a, ttl: 1, ipId: 0, dontFragment: false, seg })).toThrow(expect.objectContaining({ kind: 'truncated' }));
    expect(() => writeTcpFrame(new Uint8Array(200), { srcMac: mac, dstMac: mac, src: a, dst: b, ttl: 1, ipId: 0, dontFragment: false, seg })).toThrow(expect.objectContaining({ kind: 'malformed' }));
  });
});
