// Mutated captures through the readers and replay: every outcome is packets or a
// CaptureFormatError, never another exception, never a hang (each next() consumes bytes).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CaptureFormatError, openCapture, readCaptureBytes, SUPPORTED_LINK_TYPES, type CaptureReader } from '../../src/pcap/index.js';
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
});
