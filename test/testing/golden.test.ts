// Golden captures: byte-for-byte comparison, and on a difference the first differing packet
// named and decoded. The "regression" is a deliberately changed policy: a copy of linux whose
// SYN-ACK window differs, one whose TTL differs, and one with another name (same packets,
// other comments). The packet the diff must name is found independently, from the frames the
// engine hands to a recording sink.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPolicy, START_EPOCH_SECONDS } from '../../src/emu/engine.js';
import { getPolicy } from '../../src/emu/policy/index.js';
import type { Policy } from '../../src/emu/policy/types.js';
import { TCP_ACK, TCP_SYN } from '../../src/emu/wire/tcp.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import type { CaptureInterface, PacketSink } from '../../src/pcap/sink.js';
import { capturePath, runScenario } from '../../src/runner.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { compareGolden } from '../../src/testing/golden.js';
import { testScenarioFile } from '../../src/testing/suite.js';
import { cli, ensureBuilt, scratch } from './helpers.js';

const FILE = join(import.meta.dirname, 'fixtures/reuseport.yaml');

/** Keeps every frame the engine emits, with its comment. */
class RecordingSink implements PacketSink {
  readonly frames: { bytes: Uint8Array; comment?: string }[] = [];
  addInterface(_iface: CaptureInterface): number { return 0; }
  addName(): void {}
  packet(_id: number, _t: number, frame: Uint8Array, len: number, comment?: string): void {
    this.frames.push({ bytes: frame.slice(0, len), comment });
  }
}

function framesOf(policy: Policy): { bytes: Uint8Array; comment?: string }[] {
  const sink = new RecordingSink();
  runPolicy(loadScenarioFile(FILE), policy, { sink });
  return sink.frames;
}

/** 1-based number of the first IPv4 TCP frame whose flags are exactly SYN|ACK (read by hand, not by the code under test). */
function firstSynAck(frames: readonly { bytes: Uint8Array }[]): number {
  return 1 + frames.findIndex((f) => f.bytes[12] === 0x08 && f.bytes[13] === 0x00 && f.bytes[23] === 6 && (f.bytes[14 + ((f.bytes[14]! & 15) * 4) + 13]! & 0x3f) === (TCP_SYN | TCP_ACK));
}

function writeCapture(policy: Policy, path: string): void {
  const w = new PcapngWriter(path, { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'ns', application: 'bindlab' });
  runPolicy(loadScenarioFile(FILE), policy, { sink: w });
  w.finish();
}

describe('golden captures', () => {
  const linux = getPolicy('linux');
  let golden = '';
  beforeAll(() => {
    const dir = scratch('golden');
    runScenario(loadScenarioFile(FILE), { policies: ['linux'], outDir: dir });
    golden = capturePath(dir, FILE, 'linux', 'pcapng');
  });

  it('the same policy gives the same bytes', () => {
    const again = join(scratch('golden'), 'again.pcapng');
    writeCapture(linux, again);
    expect(compareGolden(again, golden)).toEqual({ status: 'same' });
  });

  it('a SYN-ACK window change names the first SYN-ACK and tcp.window_size_value', () => {
    const changed: Policy = { ...linux, fingerprint: { ...linux.fingerprint, windowRule: undefined, synAckWindow: linux.fingerprint.synAckWindow - 1000 } };
    const n = firstSynAck(framesOf(changed));
    expect(n).toBeGreaterThan(1);
    const path = join(scratch('golden'), 'changed.pcapng');
    writeCapture(changed, path);
    const cmp = compareGolden(path, golden);
    expect(cmp.status).toBe('different');
    if (cmp.status !== 'different') return;
    expect(cmp.difference.packet).toBe(n);
    expect(cmp.difference.message).toMatch(new RegExp(`^packet ${n} \\(TCP 10\\.0\\.0\\.1:8080 → 10\\.0\\.0\\.100:\\d+ SYN-ACK\\): `));
    expect(cmp.difference.message).toContain(`tcp.window_size_value golden ${linux.fingerprint.synAckWindow}, got ${linux.fingerprint.synAckWindow - 1000}`);
  });

  it('a TTL change names the first IPv4 packet and ip.ttl', () => {
    const changed: Policy = { ...linux, fingerprint: { ...linux.fingerprint, ttl: 128 } };
    const frames = framesOf(changed);
    const n = 1 + frames.findIndex((f) => f.bytes[12] === 0x08 && f.bytes[13] === 0x00);
    const path = join(scratch('golden'), 'ttl.pcapng');
    writeCapture(changed, path);
    const cmp = compareGolden(path, golden);
    expect(cmp.status === 'different' && cmp.difference.packet).toBe(n);
    expect(cmp.status === 'different' && cmp.difference.message).toMatch(new RegExp(`^packet ${n} \\(TCP .* SYN\\): ip\\.ttl golden ${linux.fingerprint.ttl}, got 128$`));
  });

  it('another policy name: the packets are equal, the first comment differs', () => {
    const renamed: Policy = { ...linux, name: 'linux-fork' };
    const frames = framesOf(renamed);
    const n = 1 + frames.findIndex((f) => f.comment !== undefined);
    const path = join(scratch('golden'), 'renamed.pcapng');
    writeCapture(renamed, path);
    const cmp = compareGolden(path, golden);
    expect(cmp.status === 'different' && cmp.difference.packet).toBe(n);
    expect(cmp.status === 'different' && cmp.difference.message).toMatch(new RegExp(`^packet ${n} \\(TCP .* SYN\\): comment golden "bindlab linux: .*", got "bindlab linux-fork: `));
  });

  it('a missing golden file says how to make one', () => {
    const cmp = compareGolden(golden, join(scratch('golden'), 'none.pcapng'));
    expect(cmp).toEqual({ status: 'missing', message: expect.stringContaining('run with --update') });
  });

  it('--update stores the captures, then the run compares equal; a changed golden fails with the packet named', async () => {
    const dir = scratch('golden');
    const file = join(dir, 'reuseport.yaml');
    writeFileSync(file, readFileSync(FILE, 'utf8'));
    const store = join(dir, 'golden');
    const first = await testScenarioFile(file, { policies: ['linux'], golden: store });
    expect(first.golden.map((g) => g.status)).toEqual(['missing']);
    const upd = await testScenarioFile(file, { policies: ['linux'], golden: store, update: true });
    expect(upd.golden.map((g) => g.status)).toEqual(['updated']);
    const same = await testScenarioFile(file, { policies: ['linux'], golden: store });
    expect(same.golden.map((g) => g.status)).toEqual(['same']);
    // The stored capture now comes from a scenario with another seed: other MACs from packet 1 on.
    writeFileSync(file, readFileSync(FILE, 'utf8').replace(/^seed: 42$/m, 'seed: 43'));
    const o = await testScenarioFile(file, { policies: ['linux'], golden: store });
    expect(o.golden[0]!.status).toBe('different');
    expect(o.golden[0]!.difference!.message).toMatch(/^packet 1 \(ARP who-has 10\.0\.0\.1 tell 10\.0\.0\.100\): eth\.src golden [0-9a-f:]{17}, got [0-9a-f:]{17}$/);
  });
});

describe('bindlab test --golden through the CLI', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  it('missing → exit 1; --update → exit 0 and stored; then exit 0; changed → exit 1 naming the packet', () => {
    const dir = scratch('golden-cli');
    const file = join(dir, 'reuseport.yaml');
    writeFileSync(file, readFileSync(FILE, 'utf8'));
    const store = join(dir, 'golden');
    const miss = cli(['test', file, '-p', 'linux', '--golden', store]);
    expect(miss.status).toBe(1);
    expect(miss.stdout).toContain('run with --update');
    const upd = cli(['test', file, '-p', 'linux', '--golden', store, '--update']);
    expect(upd.status).toBe(0);
    expect(upd.stdout).toMatch(/Golden: +0 same, 0 different, 0 missing, 1 updated/);
    expect(readFileSync(join(store, 'reuseport.linux.pcapng')).subarray(0, 4)).toEqual(Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]));
    const ok = cli(['test', file, '-p', 'linux', '--golden', store]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/Golden: +1 same, 0 different, 0 missing/);
    writeFileSync(file, readFileSync(FILE, 'utf8').replace(/^seed: 42$/m, 'seed: 43'));
    const bad = cli(['test', file, '-p', 'linux', '--golden', store]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/golden .*reuseport\.linux\.pcapng: packet 1 \(ARP who-has 10\.0\.0\.1 tell 10\.0\.0\.100\): eth\.src golden/);
  });
});
