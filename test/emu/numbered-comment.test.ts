// A datagram step's numbered comments ("datagram N to ..."), written by bytes to the pcapng
// writer: the same capture as the text through packet(), and the text to any other sink.
import { describe, it, expect, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NumberedComment, NumberedCommentWriter } from '../../src/emu/numbered-comment.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import type { PacketSink } from '../../src/pcap/sink.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-numbered-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const utf8 = new TextEncoder();

describe('NumberedComment.bytes', () => {
  it.each([
    ['ASCII', 'bindlab linux: datagram ', ' to 10.0.0.1:53 received by dns1.', [0, 1, 9, 10, 99, 100, 12_345, 1_000_000]],
    ['multi-byte text on both sides', 'bindlab → ', ' ✓ “received” 𝄞', [7, 42, 4_294_967_296]],
    ['empty parts', '', '', [0, 5, 31]],
  ] as const)('%s: the UTF-8 of the text', (_name, head, tail, ns) => {
    const c = new NumberedComment(head, tail);
    for (const n of ns) {
      expect(c.text(n)).toBe(`${head}${n}${tail}`);
      expect(Array.from(c.bytes(n, new Uint8Array(256)))).toEqual(Array.from(utf8.encode(`${head}${n}${tail}`)));
    }
  });

  it('a comment longer than the scratch buffer gets its own array', () => {
    const c = new NumberedComment('x'.repeat(300), ' and more');
    const scratch = new Uint8Array(16);
    const b = c.bytes(12, scratch);
    expect(b.buffer).not.toBe(scratch.buffer);
    expect(new TextDecoder().decode(b)).toBe(`${'x'.repeat(300)}12 and more`);
  });
});

describe('NumberedCommentWriter', () => {
  const frame = Uint8Array.from({ length: 75 }, (_, i) => (i * 7) & 0xff);
  const comment = new NumberedComment('bindlab linux: datagram ', ' to 10.0.0.1:53 received by server/named/dns1 (uid 0, bound 10.0.0.1:53) ✓');
  const record = 'bindlab/1 {"policy":"linux","result":"received","to":"10.0.0.1:53","protocol":"udp","step":6}';

  /** Frames 1..n numbered, every third without a record, on two interfaces; returns the file's bytes. */
  function capture(name: string, write: (w: PcapngWriter, i: number, rec: string | undefined) => void, n = 40): Buffer {
    const file = path.join(tmp, `${name}.pcapng`);
    const w = new PcapngWriter(file, { startEpochSeconds: 1_000_000_000, tsresol: 'ns', chunkBytes: 1024 });
    w.addInterface({ name: 'lan', linkType: 1, snaplen: 262144 });
    w.addInterface({ name: 'lo', linkType: 1, snaplen: 262144 });
    for (let i = 1; i <= n; i++) write(w, i, i % 3 === 0 ? undefined : record);
    w.finish();
    return fs.readFileSync(file);
  }

  it('writes to the pcapng writer the same bytes as packet() with the text', () => {
    const byText = capture('text', (w, i, rec) => w.packet(i & 1, i * 1000, frame, frame.length - (i % 5), comment.text(i), rec));
    let writer: NumberedCommentWriter | undefined;
    const byBytes = capture('bytes', (w, i, rec) => {
      writer ??= new NumberedCommentWriter(w);
      writer.packet(i & 1, i * 1000, frame, frame.length - (i % 5), comment, i, rec);
    });
    expect(byBytes.equals(byText)).toBe(true);
  });

  it('gives any other sink the text', () => {
    const got: [number, number, number, string | undefined, string | undefined][] = [];
    const sink: PacketSink = { addInterface: () => 0, addName: () => {}, packet: (id, t, _f, len, c, r) => got.push([id, t, len, c, r]) };
    const w = new NumberedCommentWriter(sink);
    w.packet(1, 5000, frame, 60, comment, 17, record);
    w.packet(0, 6000, frame, 61, comment, 18, undefined);
    expect(got).toEqual([[1, 5000, 60, comment.text(17), record], [0, 6000, 61, comment.text(18), undefined]]);
  });
});
