// The WebAssembly side of a replay's output (src/wasm/packets.ts, assembly/packets.ts): the module
// is built and loads; its arena hands out buffers, takes them back and falls back to ordinary
// buffers when full or switched off; readers and writers give theirs back when done; and what it
// builds is byte for byte what the JavaScript builds: packet blocks with any comments (staged
// copies reused and replaced), and whole replays of the recorded captures, under every policy.

import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allPolicies } from '../../src/emu/policy/index.js';
import { nextPacket } from '../../src/pcap/capture-reader.js';
import { openCapture } from '../../src/pcap/open-capture.js';
import { buildPcap } from '../pcap/capture-builder.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { bytes, inMemory, loadKernels, release, unitsTaken, useMemory } from '../../src/wasm/packets.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-wasm-'));
afterAll(() => {
  useMemory(true);
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the WebAssembly module', () => {
  it('is built beside the compiled code and loads', () => {
    expect(fs.existsSync(path.join(ROOT, 'dist/wasm/packets.wasm'))).toBe(true);
    expect(loadKernels()).toBe(true);
  });

  it('hands out buffers in its memory, takes them back, and ordinary ones when full or switched off', () => {
    const before = unitsTaken();
    const a = bytes(1 << 20), b = bytes(5000);
    expect(inMemory(a) && inMemory(b)).toBe(true);
    expect(a.length).toBe(1 << 20);
    expect(unitsTaken() - before).toBe(256 + 2); // 4 KiB units
    // Apart: writing one does not touch the other.
    a.fill(1); b.fill(2);
    expect(a.every((x) => x === 1)).toBe(true);
    release(a); release(b);
    release(b); // twice: nothing more
    expect(unitsTaken()).toBe(before);
    // Full: ordinary buffers, still usable.
    const held: Buffer[] = [];
    for (;;) {
      const c = bytes(8 << 20);
      if (!inMemory(c)) { expect(c.length).toBe(8 << 20); break; }
      held.push(c);
    }
    expect(held.length).toBeGreaterThanOrEqual(6);
    for (const c of held) release(c);
    expect(unitsTaken()).toBe(before);
    useMemory(false);
    expect(inMemory(bytes(4096))).toBe(false);
    useMemory(true);
    expect(inMemory(bytes(4096))).toBe(true);
  });

  it('holds a capture reader\'s file buffers when asked, given back when it is closed', () => {
    const before = unitsTaken();
    const plain = openCapture(path.join(ROOT, 'captures/dual-stack.pcapng'));
    expect(plain.next()).toBe(true);
    expect(inMemory(plain.data)).toBe(false);
    plain.close();
    const r = openCapture(path.join(ROOT, 'captures/dual-stack.pcapng'), { inWasmMemory: true });
    expect(r.next()).toBe(true);
    expect(inMemory(r.data)).toBe(true);
    expect(unitsTaken()).toBeGreaterThan(before);
    r.close();
    expect(unitsTaken()).toBe(before);
  });

  it('gives a reader\'s buffers back only once a read on its way is done, when closed while it waits', async () => {
    // 3 MiB of records: read ahead in 1 MiB windows.
    const recs = Array.from({ length: 3000 }, (_, i) => ({ sec: i, frac: 0, data: new Uint8Array(1000).fill(i & 0xff) }));
    const file = path.join(tmp, 'ahead.pcap');
    fs.writeFileSync(file, buildPcap({ little: true, ns: false, linkType: 1 }, recs));
    const before = unitsTaken();
    for (const stopAfter of [1, 900, 1500]) {
      const r = openCapture(file, { inWasmMemory: true });
      r.readAhead();
      let n = 0;
      while (n < stopAfter && (await nextPacket(r))) {
        expect(r.data[r.offset + 999]).toBe(n & 0xff);
        n++;
      }
      while (r.next()) n++;
      // Waiting for the read ahead (or at the end): close with the read on its way, then let it finish.
      const pending = r.waiting ? r.refill() : Promise.resolve();
      r.close();
      await pending;
      await new Promise((res) => setTimeout(res, 50));
      expect(r.next()).toBe(false);
    }
    expect(unitsTaken()).toBe(before);
  });

  it('holds a writer\'s buffer, given back when it finishes or is aborted', () => {
    const before = unitsTaken();
    const w = new PcapngWriter(path.join(tmp, 'w.pcapng'), { startEpochSeconds: 0 });
    expect(inMemory(w.frameBuffer)).toBe(true);
    w.finish();
    const v = new PcapngWriter(path.join(tmp, 'v.pcapng'), { startEpochSeconds: 0 });
    v.abort();
    expect(unitsTaken()).toBe(before);
  });
});

describe('packet blocks built in WebAssembly', () => {
  // Comments from a small pool, so that the same arrays come back (staged copies reused), and more
  // of them than the writer stages (copies replaced, one of a frame's two never by the other).
  const pool = Array.from({ length: 13 }, (_, i) => new TextEncoder().encode(i === 12 ? 'x'.repeat(9000) : `comment ${i} ${'é'.repeat(i * 3)}`));
  const block = fc.record({
    len: fc.integer({ min: 0, max: 200 }),
    snap: fc.boolean(),
    t: fc.double({ min: 0, max: 4e18, noNaN: true }),
    comment: fc.option(fc.nat(pool.length - 1), { freq: 2 }),
    record: fc.option(fc.nat(pool.length - 1), { freq: 2 }),
  });

  it.each([['ns', 1_700_000_000.25], ['us', 1_699_999_999.999999]] as const)('are the JavaScript writer\'s, byte for byte (resolution %s)', (tsresol, start) => {
    fc.assert(fc.property(fc.array(block, { minLength: 1, maxLength: 60 }), fc.integer({ min: 4096, max: 20000 }), (blocks, chunkBytes) => {
      const files = [true, false].map((wasm) => {
        useMemory(wasm);
        const file = path.join(tmp, `blocks-${wasm}.pcapng`);
        const w = new PcapngWriter(file, { startEpochSeconds: start, tsresol, chunkBytes });
        expect(inMemory(w.frameBuffer)).toBe(wasm);
        w.addInterface({ name: 'a', linkType: 1, snaplen: 0 });
        w.addInterface({ name: 'b', linkType: 1, snaplen: 64 });
        for (const [i, b] of blocks.entries()) {
          const comment = b.comment === null ? null : pool[b.comment]!, record = b.record === null ? null : pool[b.record]!;
          const at = w.reserveFrameBytes(b.len, comment, record);
          for (let k = 0; k < b.len; k++) w.frameBuffer[at + k] = (i * 31 + k) & 0xff;
          w.frameTimeNs = b.t;
          w.commitFrameAt(b.snap ? 1 : 0, b.len, comment, record);
        }
        w.finish();
        return fs.readFileSync(file);
      });
      useMemory(true);
      expect(files[0]!.equals(files[1]!)).toBe(true);
    }), { numRuns: 150, seed: 7 });
  });

  it('keep a frame\'s comment when staging its record replaces a copy', () => {
    // The same comment on every frame, records cycling through more than the slots: staging a
    // record comes round to the comment's own slot, which must be left alone.
    const files = [true, false].map((wasm) => {
      useMemory(wasm);
      const file = path.join(tmp, `cycle-${wasm}.pcapng`);
      const w = new PcapngWriter(file, { startEpochSeconds: 0 });
      w.addInterface({ name: 'a', linkType: 1, snaplen: 0 });
      for (let i = 0; i < 40; i++) {
        const comment = pool[0]!, record = pool[1 + (i % 11)]!;
        const at = w.reserveFrameBytes(10, comment, record);
        w.frameBuffer.fill(i, at, at + 10);
        w.frameTimeNs = i;
        w.commitFrameAt(0, 10, comment, record);
      }
      w.finish();
      return fs.readFileSync(file);
    });
    useMemory(true);
    expect(files[0]!.equals(files[1]!)).toBe(true);
  });
});

/** The recorded captures (TCP and UDP, pcap and pcapng) and their scenarios. */
const RECORDED = [
  ['captures/dual-stack.pcapng', 'captures/dual-stack.yaml'],
  ['captures/dual-stack.ns.pcap', 'captures/dual-stack.yaml'],
  ['captures/reuseport.pcap', 'captures/reuseport.yaml'],
  ['captures/reuseport.any.pcap', 'captures/reuseport.yaml'],
  ['captures/dns-aliases.pcap', 'captures/dns-aliases.yaml'],
  ['captures/dns-aliases.pcapng', 'captures/dns-aliases.yaml'],
] as const;

describe('replays written in WebAssembly', () => {
  it.each(RECORDED)('%s: every policy\'s output is the JavaScript\'s, byte for byte', async (capture, scenarioFile) => {
    const scenario = loadScenarioFile(path.join(ROOT, scenarioFile));
    const policies = allPolicies().map((p) => p.name);
    const outs: string[] = [];
    for (const wasm of [true, false]) {
      useMemory(wasm);
      const out = fs.mkdtempSync(path.join(tmp, `replay-${wasm}-`));
      await replayCapture(path.join(ROOT, capture), scenario, { policies, outDir: out, jobs: 1 });
      outs.push(out);
    }
    useMemory(true);
    const names = fs.readdirSync(outs[0]!).sort();
    expect(names.length).toBe(policies.length);
    expect(fs.readdirSync(outs[1]!).sort()).toEqual(names);
    for (const n of names) expect(fs.readFileSync(path.join(outs[0]!, n)).equals(fs.readFileSync(path.join(outs[1]!, n))), n).toBe(true);
  });
});

describe('replays of damaged captures written in WebAssembly', () => {
  // The recorded captures with bytes changed inside their packets (lengths, flags, options,
  // checksums, addresses): whatever the replay makes of them, it makes the same in both.
  const scenarios = new Map(RECORDED.map(([, s]) => [s, loadScenarioFile(path.join(ROOT, s))]));
  const bytesOf = new Map(RECORDED.map(([c]) => [c, fs.readFileSync(path.join(ROOT, c))]));

  /** The outputs' bytes by name, or the error's message. */
  async function outcome(file: string, scenarioFile: string, wasm: boolean, name: string): Promise<string | Map<string, Buffer>> {
    useMemory(wasm);
    const out = path.join(tmp, name);
    fs.rmSync(out, { recursive: true, force: true });
    try {
      await replayCapture(file, scenarios.get(scenarioFile)!, { policies: ['linux', 'freebsd', 'windows'], outDir: out, jobs: 1, allowNothing: true });
    } catch (e) {
      return (e as Error).message;
    } finally {
      useMemory(true);
    }
    return new Map(fs.readdirSync(out).map((n) => [n, fs.readFileSync(path.join(out, n))]));
  }

  it('are the JavaScript\'s, byte for byte, or fail alike', async () => {
    await fc.assert(fc.asyncProperty(fc.constantFrom(...RECORDED), fc.array(fc.tuple(fc.double({ min: 0.05, max: 0.999, noNaN: true }), fc.nat(255)), { minLength: 1, maxLength: 6 }),
      async ([capture, scenarioFile], changes) => {
        const b = Buffer.from(bytesOf.get(capture)!);
        // Past the file's header (its first 64 bytes), inside the records.
        for (const [where, value] of changes) b[64 + Math.floor(where * (b.length - 64))] = value;
        const file = path.join(tmp, 'damaged' + path.extname(capture));
        fs.writeFileSync(file, b);
        const inWasm = await outcome(file, scenarioFile, true, 'damaged-wasm');
        const inJs = await outcome(file, scenarioFile, false, 'damaged-js');
        if (typeof inJs === 'string' || typeof inWasm === 'string') {
          expect(inWasm).toEqual(inJs);
          return;
        }
        expect([...inWasm.keys()].sort()).toEqual([...inJs.keys()].sort());
        for (const [n, bytes] of inWasm) expect(bytes.equals(inJs.get(n)!), n).toBe(true);
      }), { numRuns: 60, seed: 1207 });
  });
});

