// Replay outputs open clean in Wireshark: every capture in captures/ under every built-in policy,
// read by tshark with checksum and sequence analysis on. The only warning allowed is the one an
// emulated refusal explains ("Connection reset (RST)", tcp.connection.rst); every SYN, SYN-ACK
// and RST carries the decision's comment. Skipped, with the reason printed, without tshark.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { replayCapture } from '../../src/replay/replay.js';
import { recordReference } from '../../src/replay/record-reference.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';

const ROOT = path.join(import.meta.dirname, '../..');
const CAPTURES = path.join(ROOT, 'captures');
const caps = fs.readdirSync(CAPTURES).filter((f) => /\.(pcap|pcapng)$/.test(f));
/** The captures of TCP connections (the UDP ones' outputs are checked in datagram-tshark.test.ts). */
const tcpCaps = caps.filter((f) => loadScenarioFile(path.join(CAPTURES, `${f.split('.')[0]}.yaml`)).steps.some((s) => s.kind === 'connect'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-replay-tshark-'));
const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
const noTshark = tshark.error || tshark.status !== 0 ? `tshark not runnable (${tshark.error?.message ?? `exit ${tshark.status}`}): Wireshark checks skipped` : '';
if (noTshark) console.warn(noTshark);
const run = promisify(execFile);
/** _ws.expert.severity of PI_WARN (epan/proto.h); errors are above it. */
const PI_WARN = 0x00600000;

interface Frame { number: number; syn: boolean; rst: boolean; malformed: boolean; rstNote: boolean; warnings: number; comment: string; stream: string; time: number; ack: boolean }

const outputs = new Map<string, string>();
beforeAll(async () => {
  if (noTshark) return;
  for (const name of caps) {
    const scenario = loadScenarioFile(path.join(CAPTURES, `${name.split('.')[0]}.yaml`));
    const r = await replayCapture(path.join(CAPTURES, name), scenario, { policies: [...BUILTIN_POLICIES], outDir: path.join(tmp, name), keepConnections: false });
    for (const [policy, rep] of Object.entries(r.policies)) outputs.set(`${name} ${policy}`, rep.output!);
  }
}, 60_000);

const dissections = new Map<string, Promise<Frame[]>>();
/**
 * Every frame of the file as tshark dissects it with checksum and sequence analysis on: one tshark
 * per file for every check of this file (tshark costs about 0.2 s of CPU to start).
 */
function dissect(file: string): Promise<Frame[]> {
  let p = dissections.get(file);
  if (!p) dissections.set(file, (p = readFrames(file)));
  return p;
}

async function readFrames(file: string): Promise<Frame[]> {
  const { stdout } = await run('tshark', [
    '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.analyze_sequence_numbers:TRUE',
    '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.flags.syn', '-e', 'tcp.flags.reset', '-e', 'frame.protocols',
    '-e', 'tcp.connection.rst', '-e', '_ws.expert.severity', '-e', 'frame.comment', '-e', 'tcp.stream', '-e', 'frame.time_epoch', '-e', 'tcp.flags.ack',
  ], { maxBuffer: 64 << 20 });
  const on = (v: string | undefined) => v === '1' || v === 'True';
  return stdout.split('\n').filter((l) => l !== '').map((l) => {
    const [n, syn, rst, protocols, rstNote, severities, comment, stream, time, ack] = l.split('\t');
    return {
      number: Number(n), syn: on(syn), rst: on(rst), malformed: (protocols ?? '').includes('_ws.malformed'), rstNote: rstNote !== undefined && rstNote !== '',
      warnings: (severities ?? '').split(',').filter((s) => Number(s) >= PI_WARN).length, comment: comment ?? '',
      stream: stream ?? '', time: Number(time), ack: on(ack),
    };
  });
}

const capinfos = spawnSync('capinfos', ['-h'], { encoding: 'utf8' });
const noCapinfos = capinfos.error ? `capinfos not runnable (${capinfos.error.message}): time order not checked` : '';
let order: Promise<Record<string, boolean>> | undefined;
/** "Strict time order" of every output, from one capinfos over all of them: file -> true/false. */
function strictOrder(): Promise<Record<string, boolean>> {
  order ??= run('capinfos', ['-o', '-M', '-T', '-r', ...outputs.values()], { maxBuffer: 64 << 20 }).then(({ stdout }) =>
    Object.fromEntries(stdout.split('\n').filter((l) => l !== '').map((l) => {
      const cols = l.split('\t');
      return [cols[0]!, cols[1] === 'True'];
    })));
  return order;
}

describe.each(caps)('%s replayed: every output in strict time order, each answer before what acknowledges it', (name) => {
  const tcp = tcpCaps.includes(name);
  it.each([...BUILTIN_POLICIES])('%s', async (policy, ctx) => {
    if (noTshark || noCapinfos) { ctx.skip(noTshark || noCapinfos); return; }
    const file = outputs.get(`${name} ${policy}`)!;
    expect((await strictOrder())[file], `capinfos -o ${file}`).toBe(true);
    // Per connection: the emulated SYN-ACK comes before the client's first ACK, and no earlier than the SYN.
    const first = new Map<string, { syn?: number; synAck?: number; ack?: number }>();
    for (const f of await dissect(file)) {
      const e = first.get(f.stream) ?? {};
      first.set(f.stream, e);
      if (f.syn && !f.ack) e.syn ??= f.time;
      else if (f.syn && f.ack) e.synAck ??= f.time;
      else if (f.ack) e.ack ??= f.time;
    }
    const answered = [...first.values()].filter((e) => e.synAck !== undefined);
    if (policy === 'linux' && tcp) expect(answered.length).toBeGreaterThan(0);
    for (const e of answered) {
      expect(e.synAck!).toBeGreaterThanOrEqual(e.syn!);
      if (e.ack !== undefined) expect(e.synAck!).toBeLessThanOrEqual(e.ack);
    }
  }, 30_000);
});

describe.each(tcpCaps)('%s replayed: tshark finds nothing to warn about', (name) => {
  it.each([...BUILTIN_POLICIES])('%s', async (policy, ctx) => {
    if (noTshark) { ctx.skip(noTshark); return; }
    const frames = await dissect(outputs.get(`${name} ${policy}`)!);
    expect(frames.length).toBeGreaterThan(0);
    // Warnings beyond the one each emulated RST explains, and malformed packets.
    const flagged = frames.filter((f) => f.malformed || f.warnings > (f.rstNote ? 1 : 0)).map((f) => f.number);
    expect(flagged, `frames with warnings: tshark -r ${outputs.get(`${name} ${policy}`)} -Y "_ws.malformed || _ws.expert.severity >= warning"`).toEqual([]);
    // The captures' clients send no RST: every SYN, SYN-ACK and RST is the decision's. A SYN
    // carries its comment (in full, or its first sentence and a reference to the record); an
    // answer, the comment or only the reference to a record written in full before it.
    const full = new Set<string>();
    const unannotated = frames.filter((f) => {
      if (!(f.syn || f.rst)) return false;
      const ref = /(?:^|,)(bindlab\/1 =[0-9a-f]{12})$/.exec(f.comment)?.[1];
      if (!ref) {
        const record = /(?:^|,)(bindlab\/1 \{.*)$/.exec(f.comment)?.[1];
        if (record) full.add(recordReference(record));
        return !f.comment.startsWith(`bindlab ${policy}: SYN to `) || !record;
      }
      const clientSyn = f.syn && !f.ack;
      return !full.has(ref) || (clientSyn && !f.comment.startsWith(`bindlab ${policy}: SYN to `));
    }).map((f) => f.number);
    expect(unannotated, 'SYN, SYN-ACK or RST without the decision comment and record, or a reference to a record written before').toEqual([]);
    expect(frames.some((f) => f.syn)).toBe(true);
  }, 30_000);
});

describe('the emulated answer is timed from the capture', () => {
  it.each(tcpCaps)('%s: under linux each SYN-ACK follows its SYN by the real server\'s delay', async (name, ctx) => {
    if (noTshark) { ctx.skip(noTshark); return; }
    /** SYN-to-SYN-ACK delay per client port (µs), from a capture's packets. */
    const delays = async (file: string): Promise<Map<string, number>> => {
      const { stdout } = await run('tshark', ['-r', file, '-Y', 'tcp.flags.syn == 1', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'frame.time_epoch', '-e', 'tcp.flags.ack'], { maxBuffer: 64 << 20 });
      const syn = new Map<string, number>();
      const out = new Map<string, number>();
      for (const line of stdout.split('\n').filter((l) => l !== '')) {
        const [sport, dport, time, ack] = line.split('\t');
        const t = Number(time);
        if (ack === '1' || ack === 'True') { if (!out.has(dport!) && syn.has(dport!)) out.set(dport!, Math.round((t - syn.get(dport!)!) * 1e6)); }
        else if (!syn.has(sport!)) syn.set(sport!, t);
      }
      return out;
    };
    const real = await delays(path.join(CAPTURES, name));
    const emulated = await delays(outputs.get(`${name} linux`)!);
    expect(real.size).toBeGreaterThan(0);
    // Where both servers accepted, the same delay (the capture's own RTT), to the µs.
    const both = [...real.keys()].filter((k) => emulated.has(k));
    expect(both.length).toBeGreaterThan(0);
    for (const k of both) expect(emulated.get(k), `client port ${k}`).toBe(real.get(k));
  }, 30_000);
});

describe("the input's packet comments are kept", () => {
  it('a recorded capture annotated with editcap: each client packet keeps its comment, the SYN gets the decision after it', async (ctx) => {
    if (noTshark) { ctx.skip(noTshark); return; }
    const annotated = path.join(tmp, 'annotated.pcapng');
    // Frame 3: the first SYN; frame 5: the client's ACK of the handshake.
    const edit = spawnSync('editcap', ['-a', '3:seen by the NOC', '-a', '5:ack \u2713 noted', path.join(CAPTURES, 'dual-stack.pcapng'), annotated], { encoding: 'utf8' });
    if (edit.error) { ctx.skip(`editcap not runnable: ${edit.error.message}`); return; }
    expect(edit.status, edit.stderr).toBe(0);
    const r = await replayCapture(annotated, loadScenarioFile(path.join(CAPTURES, 'dual-stack.yaml')), { policies: ['linux', 'windows'], outDir: path.join(tmp, 'annotated') });
    for (const policy of ['linux', 'windows']) {
      const { stdout } = await run('tshark', ['-r', r.policies[policy]!.output!, '-Y', 'frame.comment', '-T', 'fields', '-e', 'tcp.flags.str', '-e', 'frame.comment', '-E', 'occurrence=a', '-E', 'aggregator=|'], { maxBuffer: 64 << 20 });
      const lines = stdout.split('\n').filter((l) => l !== '');
      expect(lines[0]).toMatch(new RegExp(`^\\S*S\\S*\\tseen by the NOC\\|bindlab ${policy}: SYN to 10\\.0\\.0\\.1:80 accepted by server/httpd/web4\\. `));
      expect(lines.filter((l) => l.endsWith('\tack \u2713 noted'))).toHaveLength(1);
    }
  }, 30_000);
});
