// Mutated captures through the readers and replay: every outcome is packets or a
// CaptureFormatError, never another exception, never a hang (each next() consumes bytes).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { CaptureFormatError, openCapture, openCaptureStream, readCaptureBytes, readCaptureStream, SUPPORTED_LINK_TYPES, type CaptureReader } from '../../src/pcap/index.js';
import { nextPacket } from '../../src/pcap/capture-reader.js';
import { buildPcap, buildPcapng, frames } from '../pcap/capture-builder.js';
import { decodeSegment, newSegment } from '../../src/replay/segment.js';
import { NothingReplayed, replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const ROOT = path.join(import.meta.dirname, '../..');
const seeds = [
  ...fs.readdirSync(path.join(ROOT, 'test/pcap/fixtures')).map((f) => path.join(ROOT, 'test/pcap/fixtures', f)),
  ...fs.readdirSync(path.join(ROOT, 'captures')).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(ROOT, 'captures', f)),
].map((f) => new Uint8Array(fs.readFileSync(f)));

type Mutation =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'splice'; at: number; len: number; fill: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(0, 1, 12, 0xffffffff, 0x7fffffff, 262145, 0x0a0d0d0a), fc.nat()) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }), fill: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(src: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(src);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'byte') b[at] = m.value;
    else if (m.kind === 'u32') { if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, m.value >>> 0, (m.at & 1) === 0); }
    else if (m.kind === 'truncate') b = b.slice(0, at);
    else { const n = new Uint8Array(b.length + m.len); n.set(b.subarray(0, at)); n.fill(m.fill, at, at + m.len); n.set(b.subarray(at), at + m.len); b = n; }
  }
  return b;
}

const sample = fc.record({ seed: fc.integer({ min: 0, max: seeds.length - 1 }), ms: fc.array(mutation, { minLength: 1, maxLength: 6 }) });

/** Every record (offset, time, bytes) a reader gives, then its error's message or 'end'; with read-ahead when asked. */
async function records(r: CaptureReader, ahead: boolean): Promise<string[]> {
  const out: string[] = [];
  try {
    if (ahead) r.readAhead();
    while (ahead ? await nextPacket(r) : r.next()) {
      out.push(`${r.recordOffset} ${r.tsSec}.${r.tsNsec} ${r.linkType} ${Buffer.from(r.data.subarray(r.offset, r.offset + r.caplen)).toString('hex')}`);
    }
    out.push('end');
  } catch (e) {
    if (!(e instanceof CaptureFormatError)) throw e;
    out.push(e.message);
  } finally {
    r.close();
  }
  return out;
}

/** Captures of several hundred KB (records of every size up to 64 KiB), so that reads ahead and windows end mid-record. */
const bigSeeds = (() => {
  const recs = frames(4000, 3).map((f, i) => (i % 150 === 0 ? new Uint8Array(1 + ((i * 7919) % 65536)).fill(i & 0xff) : f));
  return [
    buildPcap({ little: true, ns: false, linkType: 1 }, recs.map((data, i) => ({ sec: i, frac: i, data }))),
    buildPcapng([{ kind: 'shb', little: false }, { kind: 'idb', linkType: 1 }, ...recs.map((data, i) => ({ kind: 'epb' as const, iface: 0, hi: 0, lo: i, data }))]),
  ];
})();

/** Bytes as a stream of chunks of the given sizes (cycled), as a pipe delivers them. */
function chunked(bytes: Uint8Array, sizes: readonly number[]): Readable {
  const parts: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    parts.push(Buffer.from(bytes.subarray(at, at + n)));
    at += n;
  }
  return Readable.from(parts);
}

/** records() of a stream reader, or the error of opening one. */
async function streamRecords(bytes: Uint8Array, sizes: readonly number[]): Promise<string[]> {
  let r: CaptureReader;
  try {
    r = await readCaptureStream(chunked(bytes, sizes), { name: '<memory>', bufferBytes: 1 << 19 });
  } catch (e) {
    if (!(e instanceof CaptureFormatError)) throw e;
    return [e.message];
  }
  return records(r, true);
}

/** records() of an in-memory reader, or the error of opening one. */
async function memoryRecords(bytes: Uint8Array): Promise<string[]> {
  let r: CaptureReader;
  try {
    r = readCaptureBytes(bytes);
  } catch (e) {
    if (!(e instanceof CaptureFormatError)) throw e;
    return [e.message];
  }
  return records(r, false);
}

/**
 * What a stream may say differently at its end: a file's size is known, so a block that runs past
 * it is refused up front ("runs past the end of the file"); a stream finds out by reading
 * ("truncated block type"). Both are errors at the same offset.
 */
const endOf = (lines: string[]): string[] => lines.map((l) => l.replace(/^(<memory>: byte \d+): (block type 0x[0-9a-f]+ of \d+ bytes runs past the end of the file.*|truncated block type 0x[0-9a-f]+: .*)$/, '$1: cut').replace(/, nor gzip-compressed$/, ''));

/** A valid capture with odd features: big pcapng blocks, caplen above snaplen, fractions of a second or more. */
const oddCapture = fc.record({
  pcapng: fc.boolean(),
  little: fc.boolean(),
  snaplen: fc.constantFrom(0, 16, 64, 262144),
  recs: fc.array(fc.record({ len: fc.integer({ min: 1, max: 200 }), frac: fc.oneof(fc.integer({ min: 0, max: 999_999 }), fc.constantFrom(1_000_000, 1_999_999, 4_294_967_295)), bigOpts: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1 << 20, max: 3 << 20 }) }) }), { minLength: 1, maxLength: 40 }),
}).map(({ pcapng, little, snaplen, recs }) => {
  const data = frames(recs.length, 9).map((f, i) => Uint8Array.from({ length: recs[i]!.len }, (_, j) => f[j % f.length]!));
  if (!pcapng) return buildPcap({ little, ns: false, linkType: 1, snaplen }, recs.map((r, i) => ({ sec: 5000 + i, frac: r.frac, data: data[i]! })));
  return buildPcapng([{ kind: 'shb', little }, { kind: 'idb', linkType: 1, snaplen }, ...recs.map((r, i) => (r.bigOpts
    ? { kind: 'raw' as const, bytes: bigEpb(little, (5000 + i) * 1_000_000 + (r.frac % 1_000_000), data[i]!, r.bigOpts) }
    : { kind: 'epb' as const, iface: 0, hi: 0, lo: (5000 + i) * 1_000_000 + (r.frac % 1_000_000), data: data[i]! }))]);
});

/** An enhanced packet block on interface 0 made about `bytes` long by comment options of 60,000 bytes each. */
function bigEpb(little: boolean, lo: number, data: Uint8Array, bytes: number): Uint8Array {
  const pad = (n: number): number => (n + 3) & ~3;
  const options = Math.max(1, Math.floor(bytes / 60_004));
  const len = 12 + 20 + pad(data.length) + options * 60_004 + 4;
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(0, 6, little); v.setUint32(4, len, little);
  v.setUint32(8, 0, little); v.setUint32(12, 0, little); v.setUint32(16, lo >>> 0, little);
  v.setUint32(20, data.length, little); v.setUint32(24, data.length, little);
  out.set(data, 28);
  let at = 28 + pad(data.length);
  for (let k = 0; k < options; k++, at += 60_004) { v.setUint16(at, 1, little); v.setUint16(at + 2, 60_000, little); out.fill(0x6f, at + 4, at + 60_004); }
  v.setUint32(at, 0, little); // opt_endofopt
  v.setUint32(len - 4, len, little);
  return out;
}

describe('fuzz', () => {
  it('read-ahead reads what reading in turn reads from a mutated file: the same records, then the same end or error', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-fuzz-ahead-'));
    const file = path.join(tmp, 'in.cap');
    const big = fc.record({ seed: fc.integer({ min: 0, max: bigSeeds.length - 1 }), ms: fc.array(mutation, { minLength: 1, maxLength: 4 }) });
    await fc.assert(fc.asyncProperty(big, async ({ seed, ms }) => {
      fs.writeFileSync(file, mutate(bigSeeds[seed]!, ms));
      let open: () => CaptureReader;
      try {
        openCapture(file).close();
        open = () => openCapture(file, { bufferBytes: 1 << 19 });
      } catch (e) {
        if (!(e instanceof CaptureFormatError)) throw e;
        return;
      }
      expect(await records(open(), true)).toEqual(await records(open(), false));
    }), { numRuns: 150, seed: 6 });
  }, 120_000);

  it('the readers and the segment decoder: packets or a CaptureFormatError, always progressing', () => {
    const seg = newSegment();
    fc.assert(fc.property(sample, ({ seed, ms }) => {
      const bytes = mutate(seeds[seed]!, ms);
      try {
        const r = readCaptureBytes(bytes, { linkTypes: SUPPORTED_LINK_TYPES });
        let last = -1;
        let n = 0;
        while (r.next()) {
          expect(r.recordOffset).toBeGreaterThan(last);
          last = r.recordOffset;
          expect(r.offset + r.caplen).toBeLessThanOrEqual(r.data.length);
          expect(r.tsNsec).toBeGreaterThanOrEqual(0);
          expect(r.tsNsec).toBeLessThan(1e9);
          decodeSegment(r.linkType, r.data, r.offset, r.offset + r.caplen, seg);
          expect(++n).toBeLessThanOrEqual(bytes.length / 12);
        }
      } catch (e) {
        if (!(e instanceof CaptureFormatError)) throw e;
        expect(e.offset).toBeGreaterThanOrEqual(0);
        expect(e.offset).toBeLessThanOrEqual(bytes.length);
      }
    }), { numRuns: 3000, seed: 4 });
  }, 60_000);

  it('replay of mutated captures: a report, a CaptureFormatError or NothingReplayed, and never an output left behind on error', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-fuzz-'));
    const scenario = loadScenarioFile(path.join(ROOT, 'captures/reuseport.yaml'));
    let i = 0;
    await fc.assert(fc.asyncProperty(sample, async ({ seed, ms }) => {
      const dir = path.join(tmp, String(i++));
      const file = path.join(dir, 'in.pcap');
      fs.mkdirSync(dir);
      fs.writeFileSync(file, mutate(seeds[seed]!, ms));
      try {
        const r = await replayCapture(file, scenario, { policies: ['linux'], outDir: path.join(dir, 'out') });
        expect(r.packets).toBeGreaterThanOrEqual(0);
        expect(fs.readdirSync(path.join(dir, 'out'))).toEqual(['in.linux.pcapng']);
      } catch (e) {
        // A capture mutated past its last SYN to a scenario host replays nothing: an error too, with nothing written.
        if (!(e instanceof CaptureFormatError) && !(e instanceof NothingReplayed)) throw e;
        const out = path.join(dir, 'out');
        expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
      }
    }), { numRuns: 300, seed: 5 });
  }, 120_000);

  it('a stream in chunks of any size reads what memory reads from a mutated file: the same records, then the same end or error', async () => {
    const any = fc.record({ seed: fc.integer({ min: 0, max: seeds.length + bigSeeds.length - 1 }), ms: fc.array(mutation, { minLength: 0, maxLength: 4 }),
      sizes: fc.array(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 200_000 })), { minLength: 1, maxLength: 5 }) });
    await fc.assert(fc.asyncProperty(any, async ({ seed, ms, sizes }) => {
      const bytes = mutate(seed < seeds.length ? seeds[seed]! : bigSeeds[seed - seeds.length]!, ms);
      expect(endOf(await streamRecords(bytes, sizes))).toEqual(endOf(await memoryRecords(bytes)));
    }), { numRuns: 150, seed: 7 });
  }, 120_000);

  it('valid but odd captures (blocks of megabytes, caplen above snaplen, a second or more of µs): file, read-ahead, gzip and chunked stream agree, and replay takes them', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-fuzz-odd-'));
    const scenario = loadScenarioFile(path.join(ROOT, 'captures/reuseport.yaml'));
    let i = 0;
    await fc.assert(fc.asyncProperty(oddCapture, fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 3 }), async (bytes, sizes) => {
      const file = path.join(tmp, `odd${i}.pcap`);
      const gz = path.join(tmp, `odd${i++}.pcap.gz`);
      fs.writeFileSync(file, bytes);
      fs.writeFileSync(gz, gzipSync(bytes));
      const plain = await records(openCapture(file), false);
      expect(plain[plain.length - 1]).toBe('end');
      expect(await records(openCapture(file, { bufferBytes: 1 << 19 }), true)).toEqual(plain);
      expect(await records(await openCaptureStream(gz), true)).toEqual(plain);
      expect((await streamRecords(bytes, sizes)).map((l) => l.replace(/^<memory>/, ''))).toEqual(plain);
      const r = await replayCapture(file, scenario, { policies: ['linux'], outDir: null, allowNothing: true });
      expect(r.packets).toBe(plain.length - 1);
    }), { numRuns: 25, seed: 8 });
  }, 240_000);
});
