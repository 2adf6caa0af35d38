// Packet comments through the pcapng writer and reader: appendComment after the frame's own
// comment (how replay keeps an input packet's comments and adds its decision), read back in order.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { packetComments, PcapngReader } from '../../src/pcap/pcapng-reader.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-comments-'));

describe('appendComment and packetComments', () => {
  it.each([
    ['none', undefined, [], []],
    ['one, then two appended', 'first', ['second ✓', 'third, longer than the others'], ['first', 'second ✓', 'third, longer than the others']],
    ['none, then one appended', undefined, ['only'], ['only']],
    ['one of 3 bytes (padding)', 'abc', ['de'], ['abc', 'de']],
  ] as const)('%s', (name, first, more, want) => {
    const file = path.join(tmp, `${name.replace(/\W+/g, '-')}.pcapng`);
    const w = new PcapngWriter(file, { startEpochSeconds: 1_764_000_000, tsresol: 'ns' });
    w.addInterface({ name: 'eth0', linkType: 1, snaplen: 262144 });
    const frame = Uint8Array.from({ length: 61 }, (_, i) => i);
    for (let k = 0; k < 3; k++) {
      const all = [first ?? '', ...more].join('');
      const at = w.reserveFrame(frame.length + 8 * (more.length + 1), all);
      w.frameBuffer.set(frame, at);
      w.commitFrame(0, k * 1000, frame.length, first);
      for (const c of more) w.appendComment(c);
    }
    w.finish();
    const r = new PcapngReader(fs.readFileSync(file));
    let n = 0;
    while (r.next()) {
      n++;
      expect(r.caplen).toBe(61);
      expect(Array.from(r.data.subarray(r.offset, r.offset + 4))).toEqual([0, 1, 2, 3]);
      expect(packetComments(r)).toEqual(want);
    }
    expect(n).toBe(3);
  });

  it('refuses when no packet block was just committed', () => {
    const w = new PcapngWriter(path.join(tmp, 'none.pcapng'), { startEpochSeconds: 0, tsresol: 'ns' });
    expect(() => w.appendComment('x')).toThrow(/no packet block was just committed/);
    w.abort();
  });
});
