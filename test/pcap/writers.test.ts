import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { PcapngWriter, PcapWriter, LINKTYPE_ETHERNET } from '../../src/pcap/index.js';
import { writeArpFrame, writeNdpFrame, writeTcpFrame } from '../../src/emu/wire/frame.js';
import { TCP_ACK, TCP_PSH, TCP_SYN, type TcpOption } from '../../src/emu/wire/tcp.js';
import { parseIp } from '../../src/emu/addr.js';
import { FAST } from '../tools.js';

const TSHARK = '/usr/bin/tshark';
// Not in the fast run (npm run test:fast; test/tools.ts).
const hasTshark = !FAST && fs.existsSync(TSHARK);
const require = createRequire(import.meta.url);

const mac = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/:/g, ''), 'hex'));
const CLIENT_MAC = mac('02:00:00:00:00:01');
const SERVER_MAC = mac('02:00:00:00:00:02');
const c4 = parseIp('10.0.0.1')!;
const s4 = parseIp('10.0.0.2')!;
const c6 = parseIp('fd00::1')!;
const s6 = parseIp('fd00::2')!;
const START = 1_700_000_000;
const SYN_OPTS: TcpOption[] = [
  { kind: 'mss', mss: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamps', tsval: 1, tsecr: 0 },
  { kind: 'nop' }, { kind: 'windowScale', shift: 7 },
];

interface Pkt { iface: number; timeNs: number; frame: Uint8Array; comment?: string }

/** A small two-interface exchange: ARP, NDP, TCP over v4 and v6, some with comments. */
function packets(): Pkt[] {
  const buf = new Uint8Array(2048);
  const out: Pkt[] = [];
  const take = (iface: number, timeNs: number, n: number, comment?: string) =>
    out.push(comment === undefined ? { iface, timeNs, frame: buf.slice(0, n) } : { iface, timeNs, frame: buf.slice(0, n), comment });
  take(0, 0, writeArpFrame(buf, { op: 1, senderMac: CLIENT_MAC, senderIp: c4, targetMac: new Uint8Array(6), targetIp: s4, dstMac: mac('ff:ff:ff:ff:ff:ff') }), 'who has 10.0.0.2');
  take(0, 1_000, writeArpFrame(buf, { op: 2, senderMac: SERVER_MAC, senderIp: s4, targetMac: CLIENT_MAC, targetIp: c4, dstMac: CLIENT_MAC }));
  take(0, 2_500, writeTcpFrame(buf, { srcMac: CLIENT_MAC, dstMac: SERVER_MAC, src: c4, dst: s4, ttl: 64, ipId: 1, dontFragment: true,
    seg: { srcPort: 40000, dstPort: 80, seq: 0xfffffff0, ack: 0, flags: TCP_SYN, window: 64240, urgent: 0, options: SYN_OPTS, payload: new Uint8Array(0) } }),
    'SYN → listener 10.0.0.2:80 (reuseport group “web”)');
  take(1, 1_000_000_123, writeNdpFrame(buf, { type: 'ns', srcMac: CLIENT_MAC, src: c6, target: s6 }));
  take(1, 1_000_000_200, writeNdpFrame(buf, { type: 'na', srcMac: SERVER_MAC, dstMac: CLIENT_MAC, src: s6, dst: c6, target: s6, solicited: true, override: true }));
  take(1, 86_400_000_000_001, writeTcpFrame(buf, { srcMac: CLIENT_MAC, dstMac: SERVER_MAC, src: c6, dst: s6, ttl: 64, ipId: 0, dontFragment: false, flowLabel: 0x12345,
    seg: { srcPort: 40001, dstPort: 8080, seq: 7, ack: 9, flags: TCP_PSH | TCP_ACK, window: 502, urgent: 0,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamps', tsval: 5, tsecr: 6 }], payload: new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n!') } }),
    'odd-length payload');
  return out;
}

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-pcap-')); });
afterAll(() => { if (!process.env.KEEP_PCAP) fs.rmSync(dir, { recursive: true, force: true }); else console.log(dir); });

function tshark(file: string, fields: string[], filter?: string): string[][] {
  const args = ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
    ...(filter ? ['-Y', filter] : []), '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])];
  const text = execFileSync(TSHARK, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return text.split('\n').filter((l) => l.length > 0).map((l) => l.split('|'));
}

/** Walks pcapng blocks: [type, body offset, total length]. */
function blocks(file: Uint8Array): [number, number, number][] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: [number, number, number][] = [];
  for (let p = 0; p < file.length; ) {
    const len = v.getUint32(p + 4, true);
    expect(len % 4).toBe(0);
    expect(v.getUint32(p + len - 4, true)).toBe(len);
    out.push([v.getUint32(p, true), p, len]);
    p += len;
  }
  return out;
}

describe('PcapngWriter', () => {
  const writeFile = (name: string, tsresol: 'us' | 'ns') => {
    const file = path.join(dir, name);
    const w = new PcapngWriter(file, { startEpochSeconds: START, tsresol, application: 'bindlab test', chunkBytes: 4096 });
    expect(w.addInterface({ name: 'veth-client', linkType: LINKTYPE_ETHERNET, snaplen: 262144, description: 'client side' })).toBe(0);
    w.addName(s4, 'server.test');
    w.addName(s6, 'server6.test');
    expect(w.addInterface({ name: 'veth-server', linkType: LINKTYPE_ETHERNET, snaplen: 262144 })).toBe(1);
    const pk = packets();
    pk.forEach((p, i) => {
      if (i === 3) w.addName(c6, 'client6.test');
      w.packet(p.iface, p.timeNs, p.frame, p.frame.length, p.comment);
    });
    expect(fs.existsSync(w.tmpPath)).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    w.finish();
    return { file, pk };
  };

  it('writes SHB, IDBs, NRBs and EPBs with exact timestamps and leaves no .tmp', () => {
    const { file, pk } = writeFile('ns.pcapng', 'ns');
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('ns.pcapng'))).toEqual(['ns.pcapng']);
    const bytes = new Uint8Array(fs.readFileSync(file));
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bs = blocks(bytes);
    expect(bs.map((b) => b[0])).toEqual([0x0a0d0d0a, 1, 1, 4, 6, 6, 6, 4, 6, 6, 6]);
    expect(v.getUint32(8, true)).toBe(0x1a2b3c4d);
    const epbs = bs.filter((b) => b[0] === 6);
    epbs.forEach(([, p], i) => {
      const ts = (BigInt(v.getUint32(p + 12, true)) << 32n) | BigInt(v.getUint32(p + 16, true));
      expect(ts).toBe(BigInt(START) * 1_000_000_000n + BigInt(pk[i]!.timeNs));
      expect(v.getUint32(p + 8, true)).toBe(pk[i]!.iface);
      const cap = v.getUint32(p + 20, true);
      expect(Buffer.from(bytes.subarray(p + 28, p + 28 + cap)).equals(Buffer.from(pk[i]!.frame))).toBe(true);
    });
  });

  it('writes microsecond timestamps when asked', () => {
    const { file, pk } = writeFile('us.pcapng', 'us');
    const bytes = new Uint8Array(fs.readFileSync(file));
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    blocks(bytes).filter((b) => b[0] === 6).forEach(([, p], i) => {
      const ts = (BigInt(v.getUint32(p + 12, true)) << 32n) | BigInt(v.getUint32(p + 16, true));
      expect(ts).toBe(BigInt(START) * 1_000_000n + BigInt(Math.floor(pk[i]!.timeNs / 1000)));
    });
  });

  it.skipIf(!hasTshark)('reads back in tshark with good checksums, comments, interfaces and names (needs /usr/bin/tshark)', () => {
    const { file, pk } = writeFile('tshark.pcapng', 'ns');
    expect(tshark(file, ['frame.number'], '_ws.malformed || _ws.expert.severity >= "error"')).toEqual([]);
    const rows = tshark(file, ['frame.interface_id', 'frame.comment', 'ip.checksum.status', 'tcp.checksum.status', 'icmpv6.checksum.status', 'frame.time_epoch']);
    expect(rows.length).toBe(pk.length);
    rows.forEach((r, i) => {
      expect(Number(r[0])).toBe(pk[i]!.iface);
      expect(r[1]).toBe(pk[i]!.comment ?? '');
      for (const status of r.slice(2, 5)) expect(['', '1', 'Good']).toContain(status);
    });
    expect(rows[2]![2]).not.toBe(''); // the IPv4 SYN was checked
    expect(rows[2]![3]).not.toBe('');
    expect(rows[3]![4]).not.toBe(''); // the NS was checked
    expect(rows[5]![5]!.startsWith(String(START + 86_400))).toBe(true);
    const ifaces = execFileSync(TSHARK, ['-r', file, '-q', '-z', 'io,phs'], { encoding: 'utf8' }); // parses without error
    expect(ifaces).toContain('tcp');
    // -N n lets tshark resolve from the capture's NRBs (and nothing external here).
    const names = execFileSync(TSHARK, ['-r', file, '-N', 'n', '-Y', 'tcp', '-T', 'fields', '-e', 'ip.dst_host', '-e', 'ipv6.dst_host', '-e', 'ipv6.src_host'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(names.trim().split('\n').map((l) => l.split('\t'))).toEqual([['server.test', '', ''], ['', 'server6.test', 'client6.test']]);
  });

  it('writes a record as a second opt_comment after the comment, in packet() and in place alike', () => {
    const file = path.join(dir, 'record.pcapng');
    const w = new PcapngWriter(file, { startEpochSeconds: START, chunkBytes: 256 });
    w.addInterface({ name: 'eth0', linkType: LINKTYPE_ETHERNET, snaplen: 65535 });
    const syn = packets()[2]!;
    const record = 'bindlab/1 {"policy":"linux","result":"accepted","socket":"wéb"}';
    w.packet(0, 1, syn.frame, syn.frame.length, 'human', record);
    const at = w.reserveFrame(syn.frame.length, 'human', record);
    w.frameBuffer.set(syn.frame, at);
    w.commitFrame(0, 2, syn.frame.length, 'human', record);
    w.packet(0, 3, syn.frame, syn.frame.length, undefined, record);
    w.packet(0, 4, syn.frame, syn.frame.length, 'only a comment');
    w.finish();
    const bytes = new Uint8Array(fs.readFileSync(file));
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const comments = blocks(bytes).filter((b) => b[0] === 6).map(([, p, len]) => {
      const out: string[] = [];
      for (let o = p + 28 + ((v.getUint32(p + 20, true) + 3) & ~3); o < p + len - 4;) {
        const code = v.getUint16(o, true);
        const n = v.getUint16(o + 2, true);
        if (code === 0) break;
        expect(code).toBe(1);
        out.push(Buffer.from(bytes.subarray(o + 4, o + 4 + n)).toString('utf8'));
        o += 4 + ((n + 3) & ~3);
      }
      return out;
    });
    expect(comments).toEqual([['human', record], ['human', record], [record], ['only a comment']]);
    if (hasTshark) expect(tshark(file, ['frame.comment']).map((r) => r[0])).toEqual([`human,${record}`, `human,${record}`, record, 'only a comment']);
  });

  it('abort() leaves nothing behind', () => {
    const file = path.join(dir, 'aborted.pcapng');
    const w = new PcapngWriter(file, { startEpochSeconds: START });
    w.addInterface({ name: 'eth0', linkType: LINKTYPE_ETHERNET, snaplen: 65535 });
    for (const p of packets()) w.packet(0, p.timeNs, p.frame, p.frame.length, p.comment);
    w.abort();
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('aborted'))).toEqual([]);
    expect(() => w.packet(0, 0, new Uint8Array(60), 60)).toThrow(/finished or aborted/);
  });

  it('truncates to the snaplen, keeps the original length, and rejects unknown interfaces', () => {
    const file = path.join(dir, 'snap.pcapng');
    const w = new PcapngWriter(file, { startEpochSeconds: START });
    w.addInterface({ name: 'eth0', linkType: LINKTYPE_ETHERNET, snaplen: 64 });
    const frame = new Uint8Array(2000).fill(0xab);
    w.packet(0, 5, frame, 1500);
    expect(() => w.packet(1, 5, frame, 10)).toThrow(RangeError);
    w.finish();
    const bytes = new Uint8Array(fs.readFileSync(file));
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const [, p, len] = blocks(bytes).find((b) => b[0] === 6)!;
    expect([v.getUint32(p + 20, true), v.getUint32(p + 24, true), len]).toEqual([64, 1500, 28 + 64 + 4]);
  });
});

describe('PcapWriter', () => {
  const writeFile = (name: string, tsresol: 'us' | 'ns') => {
    const file = path.join(dir, name);
    const w = new PcapWriter(file, { startEpochSeconds: START, tsresol, chunkBytes: 4096 });
    expect(w.addInterface({ name: 'veth-client', linkType: LINKTYPE_ETHERNET, snaplen: 262144 })).toBe(0);
    expect(w.addInterface({ name: 'veth-server', linkType: LINKTYPE_ETHERNET, snaplen: 262144 })).toBe(0);
    expect(() => w.addInterface({ name: 'raw', linkType: 101, snaplen: 262144 })).toThrow(/one link type/);
    w.addName(s4, 'dropped');
    const pk = packets();
    for (const p of pk) w.packet(0, p.timeNs, p.frame, p.frame.length, p.comment);
    w.finish();
    expect(fs.readdirSync(dir).filter((f) => f === name || f.startsWith(`${name}.`))).toEqual([name]);
    return { file, pk };
  };

  it('matches pcap-parser record by record (microsecond magic)', async () => {
    const { file, pk } = writeFile('us.pcap', 'us');
    const pcapParser = require('pcap-parser') as { parse(f: string): NodeJS.EventEmitter };
    const parser = pcapParser.parse(file);
    let header: { magicNumber: number; snapshotLength: number; linkLayerType: number } | undefined;
    const got: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }[] = [];
    parser.on('globalHeader', (h: typeof header) => { header = h; });
    parser.on('packet', (p: (typeof got)[number]) => got.push({ header: p.header, data: Buffer.from(p.data) }));
    await new Promise<void>((resolve, reject) => { parser.on('end', () => resolve()); parser.on('error', reject); });
    expect(header).toMatchObject({ magicNumber: 0xa1b2c3d4, snapshotLength: 262144, linkLayerType: 1 });
    expect(got.length).toBe(pk.length);
    got.forEach((g, i) => {
      const t = pk[i]!.timeNs;
      expect(g.header.timestampSeconds).toBe(START + Math.floor(t / 1e9));
      expect(g.header.timestampMicroseconds).toBe(Math.floor((t % 1e9) / 1000));
      expect(g.header.capturedLength).toBe(pk[i]!.frame.length);
      expect(g.header.originalLength).toBe(pk[i]!.frame.length);
      expect(g.data.equals(Buffer.from(pk[i]!.frame))).toBe(true);
    });
  });

  it('writes the nanosecond magic with ns fractions', () => {
    const { file, pk } = writeFile('ns.pcap', 'ns');
    const b = fs.readFileSync(file);
    expect(b.readUInt32LE(0)).toBe(0xa1b23c4d);
    let p = 24;
    for (const k of pk) {
      expect(b.readUInt32LE(p)).toBe(START + Math.floor(k.timeNs / 1e9));
      expect(b.readUInt32LE(p + 4)).toBe(k.timeNs % 1e9);
      p += 16 + b.readUInt32LE(p + 8);
    }
    expect(p).toBe(b.length);
  });

  it.skipIf(!hasTshark)('reads back in tshark with good checksums (needs /usr/bin/tshark)', () => {
    const { file, pk } = writeFile('tshark.pcap', 'ns');
    expect(tshark(file, ['frame.number'], '_ws.malformed || _ws.expert.severity >= "error"')).toEqual([]);
    const rows = tshark(file, ['ip.checksum.status', 'tcp.checksum.status', 'icmpv6.checksum.status']);
    expect(rows.length).toBe(pk.length);
    for (const r of rows) for (const s of r) expect(['', '1', 'Good']).toContain(s);
  });

  it('abort() leaves nothing behind', () => {
    const file = path.join(dir, 'aborted.pcap');
    const w = new PcapWriter(file, { startEpochSeconds: START, tsresol: 'us' });
    w.addInterface({ name: 'eth0', linkType: LINKTYPE_ETHERNET, snaplen: 65535 });
    w.packet(0, 1, new Uint8Array(60), 60);
    w.abort();
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('aborted.pcap'))).toEqual([]);
  });
});
