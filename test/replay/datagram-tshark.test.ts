// Replay outputs of the UDP captures open clean in Wireshark: the DNS capture (captures/dns-aliases)
// under every built-in policy, read by tshark with IP, UDP and ICMP checksum checks on. The only
// warning allowed is the capture's own "DNS query retransmission" (a client's second query with
// the same ID). Each query carries its decision (in full once, then its first sentence and a
// reference); each answer is the capture's where the policy agrees, the policy's receiver's own
// (its DNS TXT answer names it) where it does not, and the policy's ICMP port unreachable.
// Skipped, with the reason printed, without tshark.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { recordReference } from '../../src/replay/record-reference.js';
import { noTshark } from '../tools.js';

const ROOT = path.join(import.meta.dirname, '../..');
const CAPTURES = path.join(ROOT, 'captures');
const caps = ['dns-aliases.pcap', 'dns-aliases.pcapng'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-replay-udp-tshark-'));
const why = noTshark();
if (why) console.warn(why);
const run = promisify(execFile);
/** _ws.expert.severity of PI_WARN (epan/proto.h). */
const PI_WARN = 0x00600000;

interface Frame {
  number: number; time: number; malformed: boolean; warnings: string[]; comment: string; src: string; dst: string; sport: string; dport: string;
  checksums: string[]; icmp: boolean; txt: string;
}

const outputs = new Map<string, string>();
beforeAll(async () => {
  if (why) return;
  for (const name of caps) {
    const r = await replayCapture(path.join(CAPTURES, name), loadScenarioFile(path.join(CAPTURES, 'dns-aliases.yaml')),
      { policies: [...BUILTIN_POLICIES], outDir: path.join(tmp, name), keepConnections: false });
    for (const [policy, rep] of Object.entries(r.policies)) outputs.set(`${name} ${policy}`, rep.output!);
  }
}, 60_000);

async function frames(file: string): Promise<Frame[]> {
  const { stdout } = await run('tshark', [
    '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'frame.protocols', '-e', '_ws.expert.severity', '-e', '_ws.expert.message',
    '-e', 'frame.comment', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status',
    '-e', 'icmp.checksum.status', '-e', 'icmp.type', '-e', 'dns.txt',
  ], { maxBuffer: 64 << 20 });
  return stdout.split('\n').filter((l) => l !== '').map((l) => {
    const [n, time, protocols, severities, messages, comment, src, dst, sport, dport, ipSum, udpSum, icmpSum, icmpType, txt] = l.split('\t');
    // Several occurrences (an ICMP error's quoted headers, a packet's comments) are joined by "|": the first is the packet's own.
    const first = (v: string | undefined): string => (v ?? '').split('|')[0]!;
    const all = (v: string | undefined): string[] => (v ?? '').split('|').filter((x) => x !== '');
    const sev = all(severities);
    const msg = all(messages);
    return {
      number: Number(n), time: Number(time), malformed: (protocols ?? '').includes('_ws.malformed'),
      warnings: sev.map((s, i) => (Number(s) >= PI_WARN ? msg[i] ?? '?' : '')).filter((m) => m !== ''),
      comment: all(comment).join(','), src: first(src), dst: first(dst), sport: first(sport), dport: first(dport),
      checksums: [...all(ipSum), ...all(udpSum), ...all(icmpSum)], icmp: first(icmpType) !== '', txt: first(txt),
    };
  });
}

describe.each(caps)('%s replayed: every output opens clean', (name) => {
  it.each([...BUILTIN_POLICIES])('%s', async (policy, ctx) => {
    if (why) { ctx.skip(why); return; }
    const file = outputs.get(`${name} ${policy}`)!;
    const all = await frames(file);
    const udp = all.filter((f) => f.sport !== '' || f.icmp);
    expect(udp.length).toBeGreaterThanOrEqual(20);
    expect(all.filter((f) => f.malformed).map((f) => f.number), `tshark -r ${file} -Y _ws.malformed`).toEqual([]);
    // Checksums whole everywhere (the capture's own, taken on the client, are unfinished: offload).
    expect(all.filter((f) => f.checksums.some((c) => c !== '1' && c !== 'Good')).map((f) => f.number), `bad checksums in ${file}`).toEqual([]);
    expect(all.flatMap((f) => f.warnings).filter((w) => !w.startsWith('DNS query retransmission'))).toEqual([]);
    // Strictly in time order.
    for (let i = 1; i < all.length; i++) expect(all[i]!.time, `frame ${all[i]!.number}`).toBeGreaterThanOrEqual(all[i - 1]!.time);
    // Every query carries its decision: in full once, then its first sentence and a reference to a record written before.
    const full = new Set<string>();
    const queries = udp.filter((f) => f.src === '10.0.0.100' && !f.icmp);
    expect(queries).toHaveLength(10);
    for (const f of all) {
      const record = /(?:^|,)(bindlab\/1 \{[^\n]*\})$/.exec(f.comment)?.[1];
      if (record) full.add(recordReference(record));
    }
    for (const q of queries) {
      expect(q.comment, `frame ${q.number}`).toMatch(new RegExp(`^bindlab ${policy}: datagram to 10\\.0\\.0\\.\\d:\\d+ (received by|refused)`));
      const ref = /,(bindlab\/1 =[0-9a-f]{12})$/.exec(q.comment)?.[1];
      if (ref) expect(full.has(ref), `frame ${q.number}: ${ref}`).toBe(true);
      else expect(q.comment).toMatch(/bindlab\/1 \{.*\}$/);
    }
    // Two ICMP port unreachables for port 54, from the alias it went to, each right after its query.
    const icmp = udp.filter((f) => f.icmp);
    expect(icmp.map((f) => f.src)).toEqual(['10.0.0.2', '10.0.0.2']);
    for (const f of icmp) expect(all[f.number - 2]!.dport).toBe('54');
  }, 30_000);
});

describe('the answers in the outputs', () => {
  it.each([
    // policy, the socket the 10.0.0.3:53 answers name, whether they are the capture's own
    ['linux', 'server/cache/cache', true],
    ['windows', 'server/cache/cache', true],
    ['freebsd', 'server/resolver/resolver', false],
    ['illumos', 'server/resolver/resolver', false],
  ] as const)('%s: the answers to 10.0.0.3:53 name %s', async (policy, socket, captured, ctx) => {
    if (why) { ctx.skip(why); return; }
    const all = await frames(outputs.get(`dns-aliases.pcap ${policy}`)!);
    const answers = all.filter((f) => f.dst === '10.0.0.100' && f.sport === '53' && f.txt.includes('server/') && all[f.number - 2]!.dst === '10.0.0.3');
    expect(answers).toHaveLength(2);
    for (const a of answers) {
      expect(a.txt).toBe(`bindlab ${socket}`);
      // From the route's source, not the alias the query went to: what every policy's wildcard socket does.
      expect(a.src).toBe('10.0.0.1');
    }
    if (captured) {
      // The capture's answer, with the verdict (in full the first time, then the reference alone).
      expect(answers[0]!.comment).toMatch(new RegExp(`^bindlab ${policy}: agrees with the capture: the capture shows cache answering from 10\\.0\\.0\\.1:53; `));
      expect(answers[1]!.comment).toMatch(/^bindlab\/1 =[0-9a-f]{12}$/);
    } else {
      // The policy's own receiver answers instead, saying where its reply leaves from and why it disagrees.
      for (const a of answers) {
        expect(a.comment).toMatch(new RegExp(`^bindlab ${policy}: resolver's reply leaves from 10\\.0\\.0\\.1:53, the route's source toward the sender, not 10\\.0\\.0\\.3:53 the datagram went to .*\\. bindlab ${policy}: disagrees with the capture: the capture shows cache answering`));
      }
    }
    // Every other query's answer is the capture's: each agrees.
    const others = all.filter((f) => f.dst === '10.0.0.100' && f.txt !== '' && all[f.number - 2]!.dst !== '10.0.0.3');
    expect(others.length).toBeGreaterThanOrEqual(4);
  }, 30_000);
});

describe('the UDP SO_REUSEPORT capture replayed: every output opens clean', () => {
  it.each([...BUILTIN_POLICIES])('%s', async (policy, ctx) => {
    if (why) { ctx.skip(why); return; }
    const FIX = path.join(ROOT, 'test/replay/fixtures/udp');
    const r = await replayCapture(path.join(FIX, 'udp-reuseport.pcap'), loadScenarioFile(path.join(FIX, 'udp-reuseport.yaml')),
      { policies: [policy], outDir: path.join(tmp, `reuseport-${policy}`), keepConnections: false });
    const all = await frames(r.policies[policy]!.output!);
    expect(all.filter((f) => f.sport !== '').length).toBeGreaterThanOrEqual(12);
    expect(all.filter((f) => f.malformed).map((f) => f.number)).toEqual([]);
    expect(all.filter((f) => f.checksums.some((c) => c !== '1' && c !== 'Good')).map((f) => f.number)).toEqual([]);
    expect(all.flatMap((f) => f.warnings).filter((w) => !w.startsWith('DNS query retransmission'))).toEqual([]);
    for (let i = 1; i < all.length; i++) expect(all[i]!.time).toBeGreaterThanOrEqual(all[i - 1]!.time);
  }, 30_000);
});
