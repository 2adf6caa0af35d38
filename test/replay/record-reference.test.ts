// A replay's output writes each decision's comment and record in full once; every later packet
// of the same decision carries a reference to the record (docs/wireshark.md, "Replays"). Read
// back from the output files with our pcapng reader (tshark's view: test/wireshark/tshark.test.ts).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCapture } from '../../src/pcap/open-capture.js';
import { packetComments, PcapngReader } from '../../src/pcap/pcapng-reader.js';
import { recordKey, recordReference } from '../../src/replay/record-reference.js';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const ROOT = path.join(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-record-ref-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Packet { n: number; flags: number; comments: string[] }

/** Every packet of a pcapng file: its number (from 1), TCP flags (Ethernet + IPv4/IPv6) and comments. */
function packets(file: string): Packet[] {
  const r = openCapture(file);
  const out: Packet[] = [];
  try {
    while (r.next()) {
      const d = r.data, at = r.offset;
      const type = (d[at + 12]! << 8) | d[at + 13]!;
      const ip = at + 14;
      const tcp = type === 0x0800 ? ip + (d[ip]! & 15) * 4 : type === 0x86dd ? ip + 40 : -1;
      out.push({ n: out.length + 1, flags: tcp < 0 ? 0 : d[tcp + 13]!, comments: packetComments(r as PcapngReader) });
    }
  } finally {
    r.close();
  }
  return out;
}

const SYN = 2, RST = 4, PSH = 8, ACK = 16;

describe('replay outputs: a decision in full once, then references', () => {
  it.each([
    ['reuseport.pcap', 'reuseport.yaml', ['linux', 'bsd44', 'windows']],
    ['dual-stack.pcapng', 'dual-stack.yaml', ['linux', 'pajari-1999']],
  ])('%s', async (capture, scenario, policies) => {
    const out = path.join(tmp, capture);
    const r = await replayCapture(path.join(ROOT, 'captures', capture), loadScenarioFile(path.join(ROOT, 'captures', scenario)), { policies, outDir: out, jobs: 1 });
    for (const policy of policies) {
      const all = packets(r.policies[policy]!.output!);
      /** Full records seen so far, by reference; and the pairs of comment and record written in full. */
      const full = new Map<string, string>();
      const pairs = new Set<string>();
      let refs = 0;
      for (const p of all) {
        if (p.comments.length === 0) continue;
        const last = p.comments[p.comments.length - 1]!;
        const clientSyn = (p.flags & (SYN | ACK)) === SYN;
        if (last.startsWith('bindlab/1 {')) {
          // A pair is in full once per output.
          const pair = p.comments.join('\n');
          expect(pairs.has(pair), `frame ${p.n}: ${pair} in full again`).toBe(false);
          pairs.add(pair);
          full.set(recordReference(last), last);
          expect(p.comments).toHaveLength(2);
          continue;
        }
        refs++;
        expect(last, `frame ${p.n}`).toMatch(/^bindlab\/1 =[0-9a-f]{12}$/);
        // It stands for a record written in full before it.
        const record = full.get(last);
        expect(record, `frame ${p.n}: ${last} refers to no earlier record`).toBeDefined();
        if (clientSyn) {
          // The SYN keeps the first sentence of its decision comment: who got the connection.
          expect(p.comments).toHaveLength(2);
          expect(p.comments[0]).toMatch(new RegExp(`^bindlab ${policy}: SYN to \\S+ (accepted by \\S+|refused \\(RST\\)|dropped silently|unreachable: [^.]*)$`));
          expect(JSON.parse(record!.slice('bindlab/1 '.length)).policy).toBe(policy);
        } else {
          // An answer (SYN-ACK, RST) or a banner: the reference alone, to a record with the verdict.
          expect(p.flags & (SYN | RST | PSH), `frame ${p.n}`).not.toBe(0);
          expect(p.comments).toHaveLength(1);
          expect(JSON.parse(record!.slice('bindlab/1 '.length))).toHaveProperty('agree');
        }
      }
      // The captures repeat their decisions: references there are.
      expect(refs, policy).toBeGreaterThan(0);
      // linux picks among an SO_REUSEPORT group by the connection's hash: its decisions are still
      // shared by what they say (w1 or w2), not written in full once per connection.
      if (capture === 'reuseport.pcap' && policy === 'linux') {
        const syns = all.filter((p) => (p.flags & (SYN | ACK)) === SYN && p.comments.length > 0);
        expect(syns.filter((p) => p.comments[1]!.startsWith('bindlab/1 {')).length).toBeLessThan(syns.length / 2);
      }
    }
  }, 60_000);

  it('the key is made from the record\'s UTF-8 bytes: 12 hex digits (values computed apart, in Python, from the definition)', () => {
    const a = 'bindlab/1 {"policy":"linux","result":"accepted","socket":"w\u00e9b"}';
    const b = 'bindlab/1 {"policy":"linux","result":"accepted","socket":"web"}';
    expect(recordKey(a)).toBe('147ca831e118');
    expect(recordKey(b)).toBe('0dba30ef7039');
    expect(recordReference(b)).toBe('bindlab/1 =0dba30ef7039');
  });
});
