// The datagram layer's packets (issue 18): UDP, ICMP/ICMPv6 port unreachable, IGMPv3 and MLDv2
// reports. Each is checked field by field and by its checksums summing to zero, as a receiver
// verifies them; the captures' tshark test (test/e2e/udp-captures.test.ts) reads them in Wireshark.

import { describe, expect, it } from 'vitest';
import { parseIp } from '../../src/emu/addr.js';
import { foldChecksum, internetChecksum, pseudoHeaderSumV4, pseudoHeaderSumV6, sumWords } from '../../src/emu/wire/checksum.js';
import { decodeIpv4 } from '../../src/emu/wire/ipv4.js';
import { decodeIpv6 } from '../../src/emu/wire/ipv6.js';
import { multicastMac } from '../../src/emu/wire/frame.js';
import { decodeUdp, writeUdpFrame } from '../../src/emu/wire/udp.js';
import {
  CHANGE_TO_EXCLUDE, CHANGE_TO_INCLUDE, IGMPV3_ALL_ROUTERS, MLDV2_ALL_ROUTERS, quotedLength, writeGroupReportFrame, writePortUnreachableFrame,
} from '../../src/emu/wire/icmp.js';
import { dnsTxtResponse, parseDnsQuery } from '../../src/emu/udp/dns.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const MAC_A = Uint8Array.of(0x12, 0, 0, 0, 0, 1);
const MAC_B = Uint8Array.of(0x12, 0, 0, 0, 0, 2);
const ip = (t: string) => parseIp(t)!;

describe('UDP frames', () => {
  it.each([
    ['IPv4', '10.0.0.100', '10.0.0.2', 'query'],
    ['IPv4, odd length', '10.0.0.100', '10.0.0.2', 'abc'],
    ['IPv6', 'fd00::100', 'fd00::1', 'query'],
    ['IPv4, empty', '10.0.0.100', '255.255.255.255', ''],
  ])('%s: lengths, ports and a checksum that verifies', (_n, s, d, text) => {
    const buf = new Uint8Array(256);
    const payload = new TextEncoder().encode(text);
    const src = ip(s);
    const dst = ip(d);
    const len = writeUdpFrame(buf, { srcMac: MAC_A, dstMac: MAC_B, src, dst, ttl: 64, ipId: 0, dontFragment: true, srcPort: 40000, dstPort: 53, payload });
    const v6 = src.family === 6;
    expect(len).toBe(14 + (v6 ? 40 : 20) + 8 + payload.length);
    const pkt = v6 ? decodeIpv6(buf, 14, len) : decodeIpv4(buf, 14, len);
    if (!v6) expect(internetChecksum(buf, 14, 34)).toBe(0);
    const udp = decodeUdp(pkt.payload, 0, pkt.payload.length);
    expect([udp.srcPort, udp.dstPort, new TextDecoder().decode(udp.payload)]).toEqual([40000, 53, text]);
    expect(udp.checksum).not.toBe(0);
    const at = 14 + (v6 ? 40 : 20);
    const pseudo = v6 ? pseudoHeaderSumV6(src.bytes, dst.bytes, 17, len - at) : pseudoHeaderSumV4(src.bytes, dst.bytes, 17, len - at);
    expect(foldChecksum(sumWords(buf, at, len, pseudo))).toBe(0);
  });
});

describe('ICMP port unreachable', () => {
  it('IPv4: type 3 code 3, TOS 0xc0, no DF, quoting the datagram from its IP header', () => {
    const dgram = new Uint8Array(128);
    const n = writeUdpFrame(dgram, { srcMac: MAC_A, dstMac: MAC_B, src: ip('10.0.0.100'), dst: ip('10.0.0.1'), ttl: 64, ipId: 0, dontFragment: true, srcPort: 40000, dstPort: 54, payload: new Uint8Array(0) });
    const quoted = dgram.slice(14, 14 + quotedLength(4, n - 14));
    const buf = new Uint8Array(256);
    const len = writePortUnreachableFrame(buf, { srcMac: MAC_B, dstMac: MAC_A, src: ip('10.0.0.1'), dst: ip('10.0.0.100'), ttl: 64, ipId: 7, dontFragment: false, tos: 0xc0 }, quoted);
    expect(len).toBe(14 + 20 + 8 + 28);
    expect(buf[15]).toBe(0xc0);
    expect(buf[20]! & 0x40).toBe(0);
    expect(internetChecksum(buf, 14, 34)).toBe(0);
    expect([buf[34], buf[35]]).toEqual([3, 3]);
    expect(internetChecksum(buf, 34, len)).toBe(0);
    expect(hex(buf.subarray(42, len))).toBe(hex(quoted));
  });

  it('IPv6: type 1 code 4 with the pseudo-header checksum; quotes at most 1232 bytes', () => {
    const quoted = new Uint8Array(48).fill(0x60, 0, 1);
    const buf = new Uint8Array(256);
    const src = ip('fd00::1');
    const dst = ip('fd00::100');
    const len = writePortUnreachableFrame(buf, { srcMac: MAC_B, dstMac: MAC_A, src, dst, ttl: 64, ipId: 0, dontFragment: false }, quoted);
    expect([buf[54], buf[55]]).toEqual([1, 4]);
    expect(foldChecksum(sumWords(buf, 54, len, pseudoHeaderSumV6(src.bytes, dst.bytes, 58, len - 54)))).toBe(0);
    expect(quotedLength(6, 5000)).toBe(1232);
    expect(quotedLength(4, 5000)).toBe(548);
  });
});

describe('group reports', () => {
  it('IGMPv3 join of 224.0.0.251: to 224.0.0.22 with Router Alert, TTL 1, one CHANGE_TO_EXCLUDE record', () => {
    const buf = new Uint8Array(128);
    const group = ip('224.0.0.251');
    const len = writeGroupReportFrame(buf, { srcMac: MAC_A, dstMac: multicastMac(IGMPV3_ALL_ROUTERS), src: ip('10.0.0.1'), dst: IGMPV3_ALL_ROUTERS, ttl: 1, ipId: 0, dontFragment: true, tos: 0xc0 }, group, CHANGE_TO_EXCLUDE);
    // Header and report as Linux 6.18 sends them (the checksums aside): 46 c0 0028 0000 4000 01 02 ....
    expect(hex(buf.subarray(0, 14))).toBe('01005e000016120000000001' + '0800');
    expect(hex(buf.subarray(14, 24))).toBe('46c00028000040000102');
    expect(hex(buf.subarray(26, 38))).toBe('0a000001e000001694040000');
    expect(internetChecksum(buf, 14, 38)).toBe(0);
    expect(len).toBe(14 + 24 + 16);
    expect(hex(buf.subarray(38, 40))).toBe('2200');
    expect(hex(buf.subarray(42, len))).toBe('00000001' + '04000000' + 'e00000fb');
    expect(internetChecksum(buf, 38, len)).toBe(0);
  });

  it('MLDv2 leave of ff02::fb from ::: a Hop-by-Hop Router Alert, then one CHANGE_TO_INCLUDE record', () => {
    const buf = new Uint8Array(128);
    const src = ip('::');
    const len = writeGroupReportFrame(buf, { srcMac: MAC_A, dstMac: multicastMac(MLDV2_ALL_ROUTERS), src, dst: MLDV2_ALL_ROUTERS, ttl: 1, ipId: 0, dontFragment: false }, ip('ff02::fb'), CHANGE_TO_INCLUDE);
    expect(hex(buf.subarray(0, 6))).toBe('333300000016');
    expect([buf[20], buf[21]]).toEqual([0, 1]); // next header hop-by-hop, hop limit 1
    expect(hex(buf.subarray(54, 62))).toBe('3a00050200000100');
    expect(buf[62]).toBe(143);
    expect(hex(buf.subarray(66, 74))).toBe('00000001' + '03000000');
    expect(foldChecksum(sumWords(buf, 62, len, pseudoHeaderSumV6(src.bytes, MLDV2_ALL_ROUTERS.bytes, 58, len - 62)))).toBe(0);
  });
});

describe('DNS replies', () => {
  const query = Uint8Array.from(Buffer.from('123401000001000000000000076578616d706c6503636f6d0000010001', 'hex'));
  it('reads a query and answers it with one TXT record naming the socket', () => {
    const q = parseDnsQuery(query)!;
    expect(q.id).toBe(0x1234);
    const r = dnsTxtResponse(q, new TextEncoder().encode('bindlab server/named/dns2'));
    expect(hex(r.subarray(0, 12))).toBe('123485800001000100000000');
    expect(hex(r.subarray(12, 12 + q.question.length))).toBe(hex(q.question));
    expect(new TextDecoder().decode(r.subarray(r.length - 25))).toBe('bindlab server/named/dns2');
  });
  it.each([['text', new TextEncoder().encode('query')], ['a response', Uint8Array.from([...query.subarray(0, 2), 0x81, 0x80, ...query.subarray(4)])], ['cut short', query.subarray(0, 20)]])(
    'takes %s for no query', (_n, p) => { expect(parseDnsQuery(p)).toBeNull(); });
});
