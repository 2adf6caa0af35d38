// Valid but odd captures that tshark or libpcap read, read the same way by ours: pcapng blocks
// over the read buffer's megabyte, a captured length above the snapshot length, a microsecond
// field of a second or more, gzip-compressed files, standard input and FIFOs (streamed), and a
// file cut inside its last record. Each is checked against tshark's (or libpcap's, through
// tcpdump, or pcap-parser's) reading of the same bytes; without tshark those checks are skipped
// with a line saying why, and ours are still checked against the same capture read plainly.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { CaptureFormatError, nextPacket, openCapture, openCaptureStream, type CaptureReader } from '../../src/pcap/index.js';
import { buildPcap, buildPcapng, frames, type NgBlock } from './capture-builder.js';
import { FAST } from '../tools.js';

const require = createRequire(import.meta.url);
const pcapParser = require('pcap-parser') as { parse(input: NodeJS.ReadableStream): NodeJS.EventEmitter };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-odd-'));
const has = (tool: string): string => {
  if (FAST) return `BINDLAB_TEST_FAST=1 (npm run test:fast): ${tool}'s cross-check left out`;
  const r = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? `${tool} not runnable (${r.error?.message ?? `exit ${r.status}`}): its cross-check skipped` : '';
};
const noTshark = has('tshark');
const noTcpdump = has('tcpdump');

interface Rec { sec: number; nsec: number; caplen: number; origLen: number; hex: string }

/** Every record a reader gives, awaiting it when it waits (streams always may), then its truncation or null. */
async function readAll(r: CaptureReader): Promise<{ recs: Rec[]; truncation: string | null }> {
  const recs: Rec[] = [];
  try {
    r.readAhead();
    while (await nextPacket(r)) {
      recs.push({ sec: r.tsSec, nsec: r.tsNsec, caplen: r.caplen, origLen: r.origLen, hex: Buffer.from(r.data.subarray(r.offset, r.offset + r.caplen)).toString('hex') });
    }
    return { recs, truncation: r.truncation?.message ?? null };
  } finally {
    r.close();
  }
}

/** tshark's reading: time, captured and wire length per frame, and its exit status. */
function tsharkFrames(file: string): { frames: { time: string; caplen: number; len: number }[]; status: number | null; stderr: string } {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const frames = r.stdout.split('\n').filter(Boolean).map((l) => { const [time, cap, len] = l.split('\t'); return { time: time!, caplen: Number(cap), len: Number(len) }; });
  return { frames, status: r.status, stderr: r.stderr };
}

/** Seconds.nanoseconds as tshark prints frame.time_epoch. */
const epoch = (r: Rec): string => `${r.sec}.${String(r.nsec).padStart(9, '0')}`;

function write(name: string, bytes: Uint8Array): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, bytes);
  return file;
}

const fr = frames(12, 5).map((f, i) => Uint8Array.from({ length: 60 + i }, (_, j) => f[j % f.length]!));
const opt = (code: number, value: Uint8Array): Uint8Array => {
  const len = value.length;
  const out = new Uint8Array(4 + ((len + 3) & ~3));
  new DataView(out.buffer).setUint16(0, code, true);
  new DataView(out.buffer).setUint16(2, len, true);
  out.set(value, 4);
  return out;
};
/** An enhanced packet block whose options (comments of 60 KB each) make it `bytes` long. */
function bigEpb(data: Uint8Array, bytes: number): Uint8Array {
  const opts: Uint8Array[] = [];
  let n = 32 + ((data.length + 3) & ~3);
  const comment = new TextEncoder().encode('c'.repeat(60_000));
  while (n + 4 < bytes) { opts.push(opt(1, comment)); n += 60_004; }
  opts.push(new Uint8Array(4)); // opt_endofopt
  const body = Buffer.concat([Buffer.from(new Uint32Array([0, 0, 2_000_000, data.length, data.length]).buffer), Buffer.from(data), Buffer.alloc((4 - (data.length % 4)) % 4), ...opts]);
  const len = 12 + body.length;
  return Buffer.concat([Buffer.from(new Uint32Array([6, len]).buffer), body, Buffer.from(new Uint32Array([len]).buffer)]);
}
/** A section header block with a comment of `bytes` bytes (in 60 KB options). */
function bigShb(bytes: number): Uint8Array {
  const opts: Uint8Array[] = [];
  for (let n = 0; n < bytes; n += 60_000) opts.push(opt(1, new TextEncoder().encode('s'.repeat(60_000))));
  opts.push(new Uint8Array(4));
  const body = Buffer.concat([Buffer.from([0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), ...opts]);
  const len = 12 + body.length;
  return Buffer.concat([Buffer.from(new Uint32Array([0x0a0d0d0a, len]).buffer), body, Buffer.from(new Uint32Array([len]).buffer)]);
}

const idb: NgBlock = { kind: 'idb', linkType: 1 };
const epbs = (from: number): NgBlock[] => fr.map((data, i) => ({ kind: 'epb' as const, iface: 0, hi: 0, lo: 3_000_000 + i * 1000 + from, data }));
const big = {
  // A 2 MiB packet block between ordinary ones, in a section whose header holds a 1.5 MiB comment.
  pcapng: Buffer.concat([bigShb(1_500_000), buildPcapng([{ kind: 'shb', little: true }, idb]).subarray(28), buildPcapng([{ kind: 'shb', little: true }, ...epbs(0)]).subarray(28),
    bigEpb(fr[0]!, 2 << 20), buildPcapng([{ kind: 'shb', little: true }, ...epbs(500)]).subarray(28)]),
};

describe('pcapng blocks over a megabyte (up to libpcap\'s 16 MiB)', () => {
  const file = write('big-blocks.pcapng', big.pcapng);

  it('are read, plainly, with read-ahead and streamed, as tshark reads them', async () => {
    const plain = await readAll(openCapture(file));
    expect(plain.recs).toHaveLength(25);
    expect(plain.recs[12]!.hex).toBe(Buffer.from(fr[0]!).toString('hex'));
    const small = await readAll(openCapture(file, { bufferBytes: 1 << 19 }));
    expect(small.recs).toEqual(plain.recs);
    // Without read-ahead: next() reads synchronously and grows its one buffer.
    const sync = openCapture(file, { bufferBytes: 1 << 19 });
    const hexes: string[] = [];
    try { while (sync.next()) hexes.push(Buffer.from(sync.data.subarray(sync.offset, sync.offset + sync.caplen)).toString('hex')); } finally { sync.close(); }
    expect(hexes).toEqual(plain.recs.map((r) => r.hex));
    const streamed = await readAll(await openCaptureStream(write('big-blocks.pcapng.gz', gzipSync(big.pcapng))));
    expect(streamed.recs).toEqual(plain.recs);
    if (noTshark) { console.log(noTshark); return; }
    const t = tsharkFrames(file);
    expect(t.status).toBe(0);
    expect(t.frames.map((f) => [f.time, f.caplen, f.len])).toEqual(plain.recs.map((r) => [epoch(r), r.caplen, r.origLen]));
  }, 120_000);

  it('a block over 16 MiB is refused at its offset, saying the bound (libpcap refuses it too)', async () => {
    const huge = write('huge-block.pcapng', Buffer.concat([buildPcapng([{ kind: 'shb', little: true }, idb, ...epbs(0).slice(0, 2)]), bigEpb(fr[1]!, 17 << 20)]));
    const at = buildPcapng([{ kind: 'shb', little: true }, idb, ...epbs(0).slice(0, 2)]).length;
    const err = await readAll(openCapture(huge)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureFormatError);
    expect((err as Error).message).toMatch(new RegExp(`^${huge}: byte ${at}: block type 0x00000006 of 178\\d{5} bytes is larger than 16 MiB, the most libpcap reads of a block \\(write smaller blocks\\)$`));
    if (noTcpdump) { console.log(noTcpdump); return; }
    const t = spawnSync('tcpdump', ['-r', huge, '-n'], { encoding: 'utf8' });
    expect(t.stderr).toMatch(/pcapng block size \d+ > maximum 16777216/);
  }, 120_000);
});

describe('a captured length above the snapshot length', () => {
  it.each([
    ['pcap', buildPcap({ little: true, ns: false, linkType: 1, snaplen: 40 }, fr.map((data, i) => ({ sec: 1000 + i, frac: i, data })))],
    ['pcapng', buildPcapng([{ kind: 'shb', little: false }, { kind: 'idb', linkType: 1, snaplen: 40 }, ...epbs(0)])],
  ])('%s: is read whole, as tshark reads it', async (kind, bytes) => {
    const file = write(`snap.${kind}`, bytes);
    const ours = await readAll(openCapture(file));
    expect(ours.recs.map((r) => r.hex)).toEqual(fr.map((f) => Buffer.from(f).toString('hex')));
    if (noTshark) { console.log(noTshark); return; }
    const t = tsharkFrames(file);
    expect(t.frames.map((f) => [f.time, f.caplen, f.len])).toEqual(ours.recs.map((r) => [epoch(r), r.caplen, r.origLen]));
  }, 60_000);
});

describe('a microsecond field of a second or more (libpcap passes it on)', () => {
  const recs = [{ sec: 1000, frac: 1_500_000 }, { sec: 1001, frac: 999_999 }, { sec: 1002, frac: 4_294_967_295 }, { sec: 1002, frac: 0 }];
  const bytes = buildPcap({ little: true, ns: false, linkType: 1 }, recs.map((r, i) => ({ ...r, data: fr[i]! })));

  it('is the same instant with the whole seconds carried: as libpcap\'s timeval means, as pcap-parser and tcpdump read the fields', async () => {
    const file = write('usec.pcap', bytes);
    const ours = await readAll(openCapture(file));
    expect(ours.recs.map((r) => [r.sec, r.nsec])).toEqual([[1001, 500_000_000], [1001, 999_999_000], [1002 + 4294, 967_295_000], [1002, 0]]);
    const parsed: { sec: number; usec: number }[] = [];
    const parser = pcapParser.parse(Readable.from([Buffer.from(bytes)]));
    parser.on('packet', (p: { header: { timestampSeconds: number; timestampMicroseconds: number } }) => parsed.push({ sec: p.header.timestampSeconds, usec: p.header.timestampMicroseconds }));
    await new Promise((resolve) => parser.on('end', resolve));
    const instant = (sec: number, usec: number): number => sec * 1e6 + usec;
    expect(ours.recs.map((r) => instant(r.sec, r.nsec / 1000))).toEqual(parsed.map((p) => instant(p.sec, p.usec)));
    if (noTcpdump) { console.log(noTcpdump); return; }
    // tcpdump -tt prints libpcap's fields as they are: "1000.1500000".
    const t = spawnSync('tcpdump', ['-r', file, '-tt', '-n'], { encoding: 'utf8' });
    const times = t.stdout.split('\n').filter((l) => /^\d+\.\d+ /.test(l)).map((l) => l.split(' ')[0]!.split('.').map(Number) as [number, number]);
    expect(ours.recs.map((r) => instant(r.sec, r.nsec / 1000))).toEqual(times.map(([s, u]) => instant(s, u)));
  }, 60_000);
});

describe('gzip-compressed captures (as Wireshark reads them), streamed', () => {
  it.each([
    ['pcap', buildPcap({ little: false, ns: true, linkType: 1 }, fr.map((data, i) => ({ sec: 2000 + i, frac: i * 7, data })))],
    ['pcapng', buildPcapng([{ kind: 'shb', little: true }, idb, ...epbs(0)])],
  ])('%s.gz: the same records as the plain file, as tshark reads them', async (kind, bytes) => {
    const plain = write(`plain.${kind}`, bytes);
    const gz = write(`plain.${kind}.gz`, gzipSync(bytes));
    const reader = await openCaptureStream(gz);
    expect(reader.source).toEqual({ path: gz, gzip: true, streamed: true });
    const ours = await readAll(reader);
    expect(ours.recs).toEqual((await readAll(openCapture(plain))).recs);
    expect(ours.recs).toHaveLength(fr.length);
    if (noTshark) { console.log(noTshark); return; }
    expect(tsharkFrames(gz).frames.map((f) => [f.time, f.caplen])).toEqual(ours.recs.map((r) => [epoch(r), r.caplen]));
  }, 60_000);

  it('damage inside the compressed stream is a CaptureFormatError naming the file', async () => {
    const z = gzipSync(buildPcapng([{ kind: 'shb', little: true }, idb, ...epbs(0)]));
    z[z.length - 20] ^= 0xff; // inside the deflate data or its CRC
    const err = await openCaptureStream(write('bad.pcapng.gz', z)).then(readAll).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureFormatError);
    expect((err as Error).message).toMatch(/bad\.pcapng\.gz \(decompressed\): byte \d+: gzip: /);
  });
});

describe('a FIFO, streamed (no seek): what tcpdump -w - | bindlab replay - does', () => {
  it.skipIf(process.platform === 'win32')('reads as the file does, even when the writer dawdles between records', async () => {
    const bytes = buildPcapng([{ kind: 'shb', little: true }, idb, ...epbs(0)]);
    const file = write('fifo-src.pcapng', bytes);
    const fifo = path.join(tmp, 'live.fifo');
    spawnSync('mkfifo', [fifo]);
    // The writer sends the capture in pieces that cut records, pausing after every fourth, as a live
    // tcpdump would. Few pauses: on a busy machine each timer wake-up may take tens of milliseconds.
    const writer = spawn(process.execPath, ['-e', `
      const fs = require('fs'); const b = fs.readFileSync(${JSON.stringify(file)}); const fd = fs.openSync(${JSON.stringify(fifo)}, 'w');
      let at = 0; const step = () => { for (let i = 0; i < 4 && at < b.length; i++, at += 37) fs.writeSync(fd, b.subarray(at, at + 37));
        if (at >= b.length) { fs.closeSync(fd); return; } setTimeout(step, 1); }; step();`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let writerErr = '';
    writer.stderr.on('data', (d: Buffer) => (writerErr += d.toString()));
    const exited = new Promise<number | null>((resolve) => writer.on('exit', resolve));
    // A writer that dies before opening the FIFO would leave the reader's open waiting for ever: say so instead.
    const died = exited.then((code) => new Promise<never>((_, reject) => {
      if (code !== 0) reject(new Error(`the FIFO writer exited (${code}): ${writerErr}`));
    }));
    const ours = await Promise.race([openCaptureStream(fifo).then(async (reader) => {
      expect(reader.source.streamed).toBe(true);
      expect(Number.isNaN(reader.size)).toBe(true);
      return readAll(reader);
    }), died]);
    expect(await exited).toBe(0);
    expect(ours.recs).toEqual((await readAll(openCapture(file))).recs);
  }, 180_000);
});

describe('a file cut inside its last record (tcpdump killed, a full disk)', () => {
  const whole = buildPcap({ little: true, ns: false, linkType: 1 }, fr.map((data, i) => ({ sec: 3000 + i, frac: 0, data })));
  const cut = whole.subarray(0, whole.length - 20);

  it('is the packets before the cut and the cut\'s offset with truncatedEnd "stop"; an error by default; tshark reads the same packets', async () => {
    const file = write('cut.pcap', cut);
    const last = whole.length - (16 + fr[fr.length - 1]!.length);
    const stop = await readAll(openCapture(file, { truncatedEnd: 'stop' }));
    expect(stop.recs).toHaveLength(fr.length - 1);
    expect(stop.truncation).toBe(`${file}: byte ${last}: truncated packet: record of ${fr[fr.length - 1]!.length} bytes, the file ends after ${fr[fr.length - 1]!.length - 20}`);
    await expect(readAll(openCapture(file))).rejects.toThrow(stop.truncation!);
    const gz = await readAll(await openCaptureStream(write('cut.pcap.gz', gzipSync(cut)), { truncatedEnd: 'stop' }));
    expect(gz.recs).toEqual(stop.recs);
    // The compressed file itself cut short: the same packets, and a truncation.
    const z = gzipSync(whole);
    const zcut = await readAll(await openCaptureStream(write('zcut.pcap.gz', z.subarray(0, z.length - 30)), { truncatedEnd: 'stop' }));
    expect(zcut.truncation).toMatch(/zcut\.pcap\.gz \(decompressed\): byte \d+: /);
    expect(zcut.recs.length).toBeGreaterThan(0);
    if (noTshark) { console.log(noTshark); return; }
    const t = tsharkFrames(file);
    expect(t.stderr).toMatch(/cut short in the middle of a packet/);
    expect(t.frames.map((f) => f.time)).toEqual(stop.recs.map(epoch));
  }, 60_000);
});
