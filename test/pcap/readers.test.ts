import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PcapReader, PcapngReader, openCapture, readCaptureBytes, CaptureFormatError, PcapWriter, PcapngWriter, type CaptureReader } from '../../src/pcap/index.js';
import { nextPacket } from '../../src/pcap/capture-reader.js';
import { SUPPORTED_LINK_TYPES } from '../../src/pcap/linktypes.js';
import { buildPcap, buildPcapng, frames } from './capture-builder.js';

interface Got { sec: number; nsec: number; caplen: number; origLen: number; bytes: number[]; link: number; iface: number; section: number; at: number }

function readAll(r: CaptureReader): Got[] {
  const out: Got[] = [];
  try {
    while (r.next()) {
      out.push({
        sec: r.tsSec, nsec: r.tsNsec, caplen: r.caplen, origLen: r.origLen, bytes: [...r.data.subarray(r.offset, r.offset + r.caplen)],
        link: r.linkType, iface: r.interfaceId, section: r.section, at: r.recordOffset,
      });
    }
  } finally {
    r.close();
  }
  return out;
}

/** readAll with read-ahead on: awaits the reader whenever it waits; counts the waits. */
async function readAllAhead(r: CaptureReader): Promise<{ got: Got[]; waits: number }> {
  const out: Got[] = [];
  let waits = 0;
  try {
    r.readAhead();
    for (;;) {
      if (!r.next()) {
        if (!r.waiting) break;
        waits++;
        await r.refill();
        if (!(await nextPacket(r))) break;
      }
      out.push({
        sec: r.tsSec, nsec: r.tsNsec, caplen: r.caplen, origLen: r.origLen, bytes: [...r.data.subarray(r.offset, r.offset + r.caplen)],
        link: r.linkType, iface: r.interfaceId, section: r.section, at: r.recordOffset,
      });
    }
  } finally {
    r.close();
  }
  return { got: out, waits };
}

const errorOf = (f: () => unknown): string => {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(CaptureFormatError); return (e as Error).message; }
  throw new Error('no error');
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-readers-'));

describe('PcapReader', () => {
  const fr = frames(5);
  it.each([
    ['little-endian µs', true, false],
    ['big-endian µs', false, false],
    ['little-endian ns', true, true],
    ['big-endian ns', false, true],
  ])('%s', (_n, little, ns) => {
    const recs = fr.map((data, i) => ({ sec: 1700000000 + i, frac: ns ? 999_999_999 - i : 999_999 - i, data }));
    const bytes = buildPcap({ little, ns, linkType: 1 }, recs);
    const r = new PcapReader(bytes);
    expect(r.bigEndian).toBe(!little);
    expect(r.nanosecond).toBe(ns);
    const got = readAll(r);
    expect(got.map((g) => g.bytes)).toEqual(fr.map((f) => [...f]));
    expect(got.map((g) => [g.sec, g.nsec])).toEqual(recs.map((x) => [x.sec, ns ? x.frac : x.frac * 1000]));
    let at = 24;
    got.forEach((g, i) => { expect(g.at).toBe(at); at += 16 + fr[i]!.length; });
  });

  it('streams a file larger than its buffer without growing it, records straddling reads', () => {
    const many = frames(20000, 7).map((f, i) => (i % 1000 === 0 ? new Uint8Array(70000).fill(i & 0xff) : f));
    const file = path.join(tmp, 'big.pcap');
    fs.writeFileSync(file, buildPcap({ little: true, ns: true, linkType: 1 }, many.map((data, i) => ({ sec: i, frac: i, data }))));
    expect(fs.statSync(file).size).toBeGreaterThan(2 << 20);
    const r = PcapReader.open(file, { bufferBytes: 1 << 19 });
    const buf0 = r.data;
    let i = 0;
    while (r.next()) {
      expect(r.data).toBe(buf0);
      expect(r.caplen).toBe(many[i]!.length);
      expect(Buffer.compare(r.data.subarray(r.offset, r.offset + r.caplen), many[i]!)).toBe(0);
      i++;
    }
    r.close();
    expect(i).toBe(many.length);
  });

  it('reads what PcapWriter writes', () => {
    const file = path.join(tmp, 'w.pcap');
    const w = new PcapWriter(file, { startEpochSeconds: 1000, tsresol: 'us' });
    w.addInterface({ name: 'lan', linkType: 1, snaplen: 262144 });
    fr.forEach((f, i) => w.packet(0, i * 1500, f, f.length));
    w.finish();
    const got = readAll(openCapture(file));
    expect(got.map((g) => [g.sec, g.nsec, g.bytes.length])).toEqual(fr.map((f, i) => [1000, Math.floor(i * 1500 / 1000) * 1000, f.length]));
  });

  it.each([
    ['empty file', new Uint8Array(0), '<memory>: byte 0: file too short for a capture header (0 bytes)'],
    ['bad magic', Uint8Array.of(1, 2, 3, 4, 5, 6), '<memory>: byte 0: bad magic 0x01020304: neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)'],
    ['truncated header', buildPcap({ little: true, ns: false, linkType: 1 }, []).subarray(0, 20), '<memory>: byte 0: truncated pcap header (20 of 24 bytes)'],
    ['truncated record header', buildPcap({ little: true, ns: false, linkType: 1 }, [{ sec: 1, frac: 0, data: fr[0]! }]).subarray(0, 24 + 7),
      '<memory>: byte 24: truncated record header (7 of 16 bytes)'],
    ['truncated packet', buildPcap({ little: true, ns: false, linkType: 1 }, [{ sec: 1, frac: 0, data: new Uint8Array(50) }]).subarray(0, 24 + 16 + 20),
      '<memory>: byte 24: truncated packet: record of 50 bytes, the file ends after 20'],
    ['caplen beyond 256 KiB', buildPcap({ little: true, ns: false, linkType: 1, snaplen: 0x7fffffff }, [{ sec: 1, frac: 0, data: new Uint8Array(4), caplen: 300000 }]),
      '<memory>: byte 24: captured length 300000 exceeds 262144 (256 KiB)'],
  ])('%s is an error with its offset', (_n, bytes, msg) => {
    expect(errorOf(() => readAll(readCaptureBytes(bytes, { linkTypes: SUPPORTED_LINK_TYPES })))).toBe(msg);
  });

  it('unknown link type names the header field', () => {
    const bytes = buildPcap({ little: true, ns: false, linkType: 147 }, []);
    expect(errorOf(() => new PcapReader(bytes, { linkTypes: [0, 1], name: 'x.pcap' })))
      .toBe('x.pcap: byte 20: unknown link type 147 (this reader takes 0, 1)');
  });

  it('names the file of an opened path', () => {
    const file = path.join(tmp, 'bad.pcap');
    fs.writeFileSync(file, 'hello, world');
    expect(errorOf(() => openCapture(file))).toBe(`${file}: byte 0: bad magic 0x68656c6c: neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)`);
  });
});

describe('PcapngReader', () => {
  const fr = frames(8, 3);
  const ns = 1_700_000_000_123_456_789n;
  const hiLo = (units: bigint): { hi: number; lo: number } => ({ hi: Number(units >> 32n), lo: Number(units & 0xffffffffn) });

  it('reads several sections of either byte order, several interfaces, EPB, PB, SPB, tsresol and tsoffset', () => {
    const bytes = buildPcapng([
      { kind: 'shb', little: true },
      { kind: 'idb', linkType: 1 },                         // µs by default
      { kind: 'idb', linkType: 113, tsresol: 9 },           // ns
      { kind: 'nrb' },
      { kind: 'epb', iface: 0, ...hiLo(ns / 1000n), data: fr[0]!, comment: 'hello' },
      { kind: 'epb', iface: 1, ...hiLo(ns), data: fr[1]!, origLen: 1500 },
      { kind: 'pb', iface: 1, ...hiLo(ns + 1n), data: fr[2]! },
      { kind: 'shb', little: false },
      { kind: 'idb', linkType: 101, snaplen: 10, tsresol: 0x80 | 20, tsoffset: 100 }, // 2^-20 s
      { kind: 'idb', linkType: 0, tsresol: 3 },
      { kind: 'epb', iface: 0, hi: 0, lo: (5 << 20) | (1 << 19), data: fr[3]!.subarray(0, 10), origLen: fr[3]!.length },
      { kind: 'spb', data: fr[4]!.subarray(0, 10), origLen: 99 },
      { kind: 'epb', iface: 1, ...hiLo(1_700_000_000_001n), data: fr[5]! },
    ]);
    const r = new PcapngReader(bytes);
    const got = readAll(r);
    expect(got.map((g) => [g.section, g.iface, g.link, g.sec, g.nsec, g.caplen, g.origLen])).toEqual([
      [0, 0, 1, 1700000000, 123456000, fr[0]!.length, fr[0]!.length],
      [0, 1, 113, 1700000000, 123456789, fr[1]!.length, 1500],
      [0, 1, 113, 1700000000, 123456790, fr[2]!.length, fr[2]!.length],
      [1, 0, 101, 105, 500000000, 10, fr[3]!.length],
      [1, 0, 101, 105, 500000000, 10, 99], // SPB: interface 0's snaplen, the previous timestamp
      [1, 1, 0, 1700000000, 1000000, fr[5]!.length, fr[5]!.length],
    ]);
    expect(got.map((g) => g.bytes)).toEqual([fr[0], fr[1], fr[2], fr[3]!.subarray(0, 10), fr[4]!.subarray(0, 10), fr[5]].map((f) => [...f!]));
  });

  it('reads what PcapngWriter writes, timestamps exact to the nanosecond', () => {
    const file = path.join(tmp, 'w.pcapng');
    const w = new PcapngWriter(file, { startEpochSeconds: 1_700_000_000, tsresol: 'ns' });
    w.addInterface({ name: 'a', linkType: 1, snaplen: 262144 });
    w.addInterface({ name: 'b', linkType: 1, snaplen: 262144 });
    w.addName({ family: 4, bytes: Uint8Array.of(10, 0, 0, 1) }, 'server');
    fr.forEach((f, i) => w.packet(i % 2, i * 1_000_000_007, f, f.length, i % 3 ? `c${i}` : undefined));
    w.finish();
    const got = readAll(openCapture(file));
    expect(got.map((g) => [g.iface, g.sec, g.nsec, g.bytes])).toEqual(fr.map((f, i) => {
      const t = i * 1_000_000_007;
      return [i % 2, 1_700_000_000 + Math.floor(t / 1e9), t % 1e9, [...f]];
    }));
  });

  const good = (): Uint8Array => buildPcapng([{ kind: 'shb', little: true }, { kind: 'idb', linkType: 1, snaplen: 64 }, { kind: 'epb', iface: 0, hi: 0, lo: 0, data: new Uint8Array(20) }]);
  // SHB 28 bytes, IDB 20, EPB at 48.
  const patch = (b: Uint8Array, at: number, v: number): Uint8Array => { const c = Uint8Array.from(b); new DataView(c.buffer).setUint32(at, v, true); return c; };

  it.each([
    ['bad byte-order magic', (b: Uint8Array) => patch(b, 8, 0x11223344), '<memory>: byte 8: section header byte-order magic 0x44332211 is neither 1a2b3c4d nor 4d3c2b1a'],
    ['block before any section', (b: Uint8Array) => b.subarray(28), '<memory>: byte 0: bad magic 0x01000000: neither pcap (a1b2c3d4, a1b23c4d) nor pcapng (0a0d0d0a)'],
    ['trailer disagrees', (b: Uint8Array) => patch(b, b.length - 4, 48), '<memory>: byte 48: block type 0x00000006: total length 52 in its header but 48 in its trailer'],
    ['block runs past the end', (b: Uint8Array) => b.subarray(0, b.length - 8), '<memory>: byte 48: block type 0x00000006 of 52 bytes runs past the end of the file (44 bytes left)'],
    ['length not a multiple of 4', (b: Uint8Array) => patch(b, 52, 50), '<memory>: byte 48: block type 0x00000006 has total length 50 (want a multiple of 4, at least 12)'],
    ['truncated block header', (b: Uint8Array) => b.subarray(0, 48 + 6), '<memory>: byte 48: truncated block header (6 of 12 bytes)'],
    ['caplen beyond the block', (b: Uint8Array) => patch(b, 20 + 48, 40), '<memory>: byte 48: enhanced packet block: captured length 40 does not fit the block (20 bytes for data and options)'],
    ['caplen beyond 256 KiB', (b: Uint8Array) => patch(b, 20 + 48, 300000), '<memory>: byte 48: captured length 300000 exceeds 262144 (256 KiB)'],
    ['undeclared interface', (b: Uint8Array) => patch(b, 8 + 48, 3), '<memory>: byte 48: enhanced packet block on interface 3, but section 0 declares 1'],
    ['unknown link type', (b: Uint8Array) => patch(b, 28 + 8, 147), '<memory>: byte 36: unknown link type 147 on interface 0 (this reader takes 0, 1, 101, 108, 113, 228, 229, 276)'],
  ])('%s is an error with its offset', (_n, damage, msg) => {
    expect(errorOf(() => readAll(readCaptureBytes(damage(good()), { linkTypes: SUPPORTED_LINK_TYPES })))).toBe(msg);
  });

  it('skips a large unknown block without buffering it', async () => {
    const big = buildPcapng([{ kind: 'shb', little: true }, { kind: 'idb', linkType: 1 }]);
    const custom = new Uint8Array(2 << 20);
    const dv = new DataView(custom.buffer);
    dv.setUint32(0, 0x00000bad, true); dv.setUint32(4, custom.length, true); dv.setUint32(custom.length - 4, custom.length, true);
    const tail = buildPcapng([{ kind: 'shb', little: true }, { kind: 'idb', linkType: 1 }, { kind: 'epb', iface: 1, hi: 0, lo: 7, data: fr[0]! }]).subarray(28);
    const file = path.join(tmp, 'custom.pcapng');
    fs.writeFileSync(file, Buffer.concat([big, custom, tail]));
    const got = readAll(PcapngReader.open(file, { bufferBytes: 1 << 19 }));
    expect(got.map((g) => [g.iface, g.nsec, g.bytes])).toEqual([[1, 7000, [...fr[0]!]]]);
    // With read-ahead, the skip past the window makes the read already under way useless: read again there.
    expect((await readAllAhead(PcapngReader.open(file, { bufferBytes: 1 << 19 }))).got).toEqual(got);
  });
});

describe('read-ahead (the next part of the file read on the thread pool)', () => {
  // Records of every size up to 256 KiB, so that many straddle the 512 KiB windows.
  const recs = frames(30000, 11).map((f, i) => (i % 997 === 0 ? new Uint8Array(1 + ((i * 7919) % 262144)).fill(i & 0xff) : f));

  it.each([
    ['pcap', () => buildPcap({ little: false, ns: false, linkType: 1 }, recs.map((data, i) => ({ sec: i, frac: i % 1e6, data })))],
    ['pcapng, two sections, a large block to skip', () => {
      const blocks = recs.map((data, i) => ({ kind: 'epb' as const, iface: 0, hi: 0, lo: i, data }));
      const junk = new Uint8Array(700000);
      const dv = new DataView(junk.buffer);
      dv.setUint32(0, 0x00000bad, true); dv.setUint32(4, junk.length, true); dv.setUint32(junk.length - 4, junk.length, true);
      return buildPcapng([{ kind: 'shb', little: true }, { kind: 'idb', linkType: 1 }, ...blocks.slice(0, 15000), { kind: 'raw', bytes: junk },
        { kind: 'shb', little: false }, { kind: 'idb', linkType: 101 }, ...blocks.slice(15000)]);
    }],
  ])('%s: the same records as reading in turn, none lost or doubled at a window edge', async (name, build) => {
    const file = path.join(tmp, `ahead.${name.slice(0, 6)}`);
    fs.writeFileSync(file, build());
    expect(fs.statSync(file).size).toBeGreaterThan(4 << 20);
    const plain = readAll(openCapture(file, { bufferBytes: 1 << 19 }));
    const { got, waits } = await readAllAhead(openCapture(file, { bufferBytes: 1 << 19 }));
    expect(got.length).toBe(recs.length);
    expect(got).toEqual(plain);
    expect(waits).toBeGreaterThan(5);
  }, 60_000); // ~1 s alone; 8 MiB files and a comparison of 30,000 records take longer on a loaded machine

  it('a truncated last record is the same error with its offset', async () => {
    const bytes = buildPcap({ little: true, ns: false, linkType: 1 }, recs.slice(0, 20000).map((data, i) => ({ sec: i, frac: 0, data })));
    const file = path.join(tmp, 'ahead-cut.pcap');
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 3));
    const plain = errorOf(() => readAll(openCapture(file)));
    expect(plain).toMatch(/byte \d+: truncated packet/);
    await expect(readAllAhead(openCapture(file))).rejects.toThrow(plain);
  });

  it('bytes in memory never wait', async () => {
    const bytes = buildPcap({ little: true, ns: false, linkType: 1 }, recs.slice(0, 100).map((data, i) => ({ sec: i, frac: 0, data })));
    const { got, waits } = await readAllAhead(readCaptureBytes(bytes));
    expect(got.length).toBe(100);
    expect(waits).toBe(0);
  });
});
