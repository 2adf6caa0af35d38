import { describe, it, expect } from 'vitest';
import { decodeEthernet, encodeEthernet, ETHERTYPE_ARP } from '../../src/emu/wire/ethernet.js';
import { decodeArp, encodeArp, ARP_LEN } from '../../src/emu/wire/arp.js';
import { WireError } from '../../src/emu/wire/errors.js';
import { writeArpFrame } from '../../src/emu/wire/frame.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Captured with tcpdump on a Linux eth0 (192.0.2.2, 02:fc:00:00:00:01) asking for 192.0.2.1.
const REQUEST = 'ffffffffffff 02fc00000001 0806 0001 0800 06 04 0001 02fc00000001 c0000202 000000000000 c0000201';
const REPLY = '02fc00000001 02fc00000005 0806 0001 0800 06 04 0002 02fc00000005 c0000201 02fc00000001 c0000202';

describe('ethernet + arp', () => {
  it.each([['request', REQUEST, 1], ['reply', REPLY, 2]] as const)('parses and re-emits a real ARP %s', (_, text, op) => {
    const bytes = hex(text);
    const eth = decodeEthernet(bytes, 0, bytes.length);
    expect(eth.etherType).toBe(ETHERTYPE_ARP);
    const arp = decodeArp(eth.payload, 0, eth.payload.length);
    expect(arp.op).toBe(op);
    expect(arp.senderIp.text).toBe(op === 1 ? '192.0.2.2' : '192.0.2.1');
    expect(arp.targetIp.text).toBe(op === 1 ? '192.0.2.1' : '192.0.2.2');

    const out = new Uint8Array(64);
    const body = new Uint8Array(ARP_LEN);
    expect(encodeArp(arp, body, 0)).toBe(28);
    expect(encodeEthernet({ ...eth, payload: body }, out, 0)).toBe(42);
    expect(toHex(out.subarray(0, 42))).toBe(toHex(bytes));

    const frame = new Uint8Array(64);
    const n = writeArpFrame(frame, { op, senderMac: arp.senderMac, senderIp: arp.senderIp, targetMac: arp.targetMac, targetIp: arp.targetIp, dstMac: eth.dst });
    expect(toHex(frame.subarray(0, n))).toBe(toHex(bytes));
  });

  it('ignores Ethernet padding after the ARP body', () => {
    const padded = new Uint8Array(60);
    padded.set(hex(REQUEST));
    const eth = decodeEthernet(padded, 0, 60);
    expect(decodeArp(eth.payload, 0, eth.payload.length).targetIp.text).toBe('192.0.2.1');
  });

  it('reports truncated, unrecognized and malformed input', () => {
    const bytes = hex(REQUEST);
    expect(() => decodeEthernet(bytes, 0, 13)).toThrow(expect.objectContaining({ kind: 'truncated', offset: 0 }));
    expect(() => decodeArp(bytes, 14, 41)).toThrow(WireError);
    const llc = hex(REQUEST); llc[12] = 0x00; llc[13] = 0x2e;
    expect(() => decodeEthernet(llc, 0, llc.length)).toThrow(expect.objectContaining({ kind: 'unrecognized', offset: 12 }));
    const op9 = hex(REQUEST); op9[21] = 9;
    expect(() => decodeArp(op9, 14, op9.length)).toThrow(expect.objectContaining({ kind: 'unrecognized', offset: 20 }));
    const hlen = hex(REQUEST); hlen[18] = 8;
    expect(() => decodeArp(hlen, 14, hlen.length)).toThrow(expect.objectContaining({ kind: 'malformed' }));
  });
});
