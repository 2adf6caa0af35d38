// The machine-readable decision record (src/emu/decision-record.ts, docs/wireshark.md): what the
// engine writes beside each decision comment, checked from the frames it hands a sink.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RECORD_PREFIX, splitCitation, withAgreement, withStep } from '../../src/emu/packet-record.js';
import { runPolicy } from '../../src/emu/engine.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import type { CaptureInterface, PacketSink } from '../../src/pcap/sink.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const ROOT = join(import.meta.dirname, '../..');

interface Rec {
  policy: string; result: string; to: string; host?: string; process?: string; socket?: string; uid?: number;
  group?: string[]; displaced?: { host: string; process: string; socket: string; uid: number }; rule: string; citation?: string; step?: number;
}

/** Every frame's comment and record, as the engine hands them to a sink. */
class Recorder implements PacketSink {
  readonly frames: { comment?: string; record?: string }[] = [];
  addInterface(_iface: CaptureInterface): number { return 0; }
  addName(): void {}
  packet(_id: number, _t: number, _frame: Uint8Array, _len: number, comment?: string, record?: string): void {
    this.frames.push({ comment, record });
  }
}

function records(scenario: string, policy: string): { run: ReturnType<typeof runPolicy>; recs: Rec[]; frames: Recorder['frames'] } {
  const sink = new Recorder();
  const run = runPolicy(loadScenarioFile(join(ROOT, 'scenarios', scenario)), policy, { sink });
  const recs = sink.frames.filter((f) => f.record !== undefined).map((f) => {
    expect(f.record!.startsWith(RECORD_PREFIX)).toBe(true);
    return JSON.parse(f.record!.slice(RECORD_PREFIX.length)) as Rec;
  });
  return { run, recs, frames: sink.frames };
}

describe('splitCitation', () => {
  it.each([
    ['wildcard listener w (uid 0) [net/ipv4/inet_hashtables.c inet_lhash2_lookup]', 'wildcard listener w (uid 0)', 'net/ipv4/inet_hashtables.c inet_lhash2_lookup'],
    ['no listener on 10.0.0.1:8080: RST (UNCONFIRMED for Windows)', 'no listener on 10.0.0.1:8080: RST (UNCONFIRMED for Windows)', undefined],
    ['a [first] then [second source]', 'a [first] then', 'second source'],
    ['nobody on link lan answers for 10.0.0.99', 'nobody on link lan answers for 10.0.0.99', undefined],
  ])('%s', (rule, text, citation) => {
    expect(splitCitation(rule)).toEqual({ text, citation });
  });
});

describe('record splices', () => {
  it('adds the step and the replay verdict as keys of the same object', () => {
    const r = `${RECORD_PREFIX}{"policy":"linux","result":"accepted","socket":"web"}`;
    expect(JSON.parse(withStep(r, 7).slice(RECORD_PREFIX.length))).toEqual({ policy: 'linux', result: 'accepted', socket: 'web', step: 7 });
    expect(JSON.parse(withAgreement(r, false, 'refused "x"').slice(RECORD_PREFIX.length)))
      .toEqual({ policy: 'linux', result: 'accepted', socket: 'web', observed: 'refused "x"', agree: false });
  });
});

describe('the engine writes a record beside every decision comment', () => {
  it.each([...BUILTIN_POLICIES])('%s: every commented frame has a record, and none without a comment', (policy) => {
    const { frames } = records('pajari-1999.yaml', policy);
    expect(frames.some((f) => f.record !== undefined)).toBe(true);
    for (const f of frames) expect(f.comment === undefined).toBe(f.record === undefined);
  });

  it.each([...BUILTIN_POLICIES])('%s: the hijack (another uid takes the wildcard listener\'s connection) names the displaced listener', (policy) => {
    const { run, recs } = records('hijack.yaml', policy);
    const steal = run.steps[6]!;
    const mine = recs.filter((r) => r.step === 6);
    expect(mine.length).toBeGreaterThan(0);
    for (const r of mine) {
      expect(r.policy).toBe(policy);
      expect(r.to).toBe('10.0.0.2:8080');
      if (steal.result === 'steal') {
        expect(r).toMatchObject({ result: 'accepted', host: 'server', process: 'mallory', socket: 'steal', uid: 1001 });
        expect(r.displaced).toEqual({ host: 'server', process: 'web', socket: 'web', uid: 1000 });
      } else {
        expect(r).toMatchObject({ result: 'accepted', socket: 'web', uid: 1000 });
        expect(r.displaced).toBeUndefined();
      }
    }
    // Connections to the other address were never the hijacker's to take.
    for (const r of recs.filter((x) => x.step === 7)) expect(r.displaced).toBeUndefined();
  });

  it('a SO_REUSEPORT pick names its group and the picked member, with the rule and its citation apart', () => {
    const { run, recs } = records('reuseport.yaml', 'linux');
    const first = run.steps[6]!;
    const got = recs.filter((r) => r.step === 6 && r.result === 'accepted');
    // SYN and SYN-ACK of each connection.
    expect(got.map((r) => r.socket)).toEqual(first.results!.flatMap((s) => [s, s]));
    for (const r of got) {
      expect(r.group).toEqual(['w1', 'w2']);
      expect(r.citation).toMatch(/inet_hashtables\.c/);
      expect(r.rule).not.toContain('[');
    }
  });

  it.each([
    ['pajari-1999.yaml', 'linux', 'unreachable'],
    ['hijack.yaml', 'bsd44', 'timeout'],
    ['pajari-1999.yaml', 'linux', 'refused'],
  ])('%s under %s: a %s connection\'s packets carry its result and no socket', (scenario, policy, result) => {
    const { run, recs } = records(scenario, policy);
    const steps = run.steps.filter((s) => s.kind === 'connect' && s.result === result).map((s) => s.index);
    expect(steps.length).toBeGreaterThan(0);
    const mine = recs.filter((r) => steps.includes(r.step!));
    expect(mine.length).toBeGreaterThan(0);
    for (const r of mine) {
      expect(r.result).toBe(result);
      expect(r.socket).toBeUndefined();
    }
  });
});
