// Our classic pcap reader against npm pcap-parser, record by record and byte for byte, over every
// classic capture in captures/ and test/pcap/fixtures/. pcap-parser knows only the microsecond
// magic: nanosecond files are handed to it with the magic patched (the record layout is the same).
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import { PcapReader } from '../../src/pcap/index.js';
import { fixtureCaptures } from './fixture-captures.js';

const require = createRequire(import.meta.url);
const pcapParser = require('pcap-parser') as { parse(input: string | NodeJS.ReadableStream): NodeJS.EventEmitter };
const FIXTURES = path.join(import.meta.dirname, 'fixtures');
const CAPTURES = path.join(import.meta.dirname, '../../captures');

interface Rec { sec: number; frac: number; caplen: number; origLen: number; data: Buffer }

function parseWithPcapParser(bytes: Buffer): Promise<Rec[]> {
  const b = Buffer.from(bytes);
  if (b.readUInt32LE(0) === 0xa1b23c4d) b.writeUInt32LE(0xa1b2c3d4, 0);
  if (b.readUInt32BE(0) === 0xa1b23c4d) b.writeUInt32BE(0xa1b2c3d4, 0);
  const parser = pcapParser.parse(Readable.from([b]));
  const out: Rec[] = [];
  parser.on('packet', (p: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }) =>
    out.push({ sec: p.header.timestampSeconds, frac: p.header.timestampMicroseconds, caplen: p.header.capturedLength, origLen: p.header.originalLength, data: Buffer.from(p.data) }));
  return new Promise((resolve, reject) => { parser.on('end', () => resolve(out)); parser.on('error', reject); });
}

function parseWithOurs(file: string): Rec[] {
  const r = PcapReader.open(file);
  const out: Rec[] = [];
  try {
    while (r.next()) {
      out.push({ sec: r.tsSec, frac: r.nanosecond ? r.tsNsec : r.tsNsec / 1000, caplen: r.caplen, origLen: r.origLen, data: Buffer.from(r.data.subarray(r.offset, r.offset + r.caplen)) });
    }
  } finally { r.close(); }
  return out;
}

describe('fixtures', () => {
  it('test/pcap/fixtures/ holds exactly what fixture-captures.ts makes (REGEN_FIXTURES=1 rewrites)', () => {
    fs.mkdirSync(FIXTURES, { recursive: true });
    for (const [name, bytes] of fixtureCaptures()) {
      const file = path.join(FIXTURES, name);
      if (process.env['REGEN_FIXTURES'] === '1' || !fs.existsSync(file)) fs.writeFileSync(file, bytes);
      expect(Buffer.compare(fs.readFileSync(file), bytes), name).toBe(0);
    }
  });
});

const classic = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.pcap')).map((f) => path.join(dir, f)) : []);

describe('PcapReader agrees with pcap-parser', () => {
  const files = [...classic(FIXTURES), ...classic(CAPTURES)];
  it('has files to compare', () => { expect(files.length).toBeGreaterThanOrEqual(5); });
  it.each(files.map((f) => [path.relative(process.cwd(), f), f]))('%s', async (_n, file) => {
    const theirs = await parseWithPcapParser(fs.readFileSync(file));
    const ours = parseWithOurs(file);
    expect(ours.length).toBe(theirs.length);
    expect(ours.length).toBeGreaterThan(0);
    ours.forEach((o, i) => {
      const t = theirs[i]!;
      expect([o.sec, o.frac, o.caplen, o.origLen], `record ${i}`).toEqual([t.sec, t.frac, t.caplen, t.origLen]);
      expect(Buffer.compare(o.data, t.data), `record ${i} bytes`).toBe(0);
    });
  });
});
