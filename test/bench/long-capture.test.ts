// The bench's generated captures (npm run bench: src/bench/replay.ts writeLongCapture) are real
// traffic a replay decides as the emulator did: every connection or datagram agrees with the
// capture under linux, and the UDP one's datagrams go to each of the three sockets.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeLongCapture } from '../../src/bench/replay.js';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const dir = mkdtempSync(join(tmpdir(), 'bindlab-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the bench\'s long captures', () => {
  it.each([
    ['TCP', false, 'attempts'],
    ['UDP (DNS)', true, 'datagrams'],
  ] as const)('%s: as many packets as asked, each decision agreeing with the capture under linux', async (_, udp, unit) => {
    const { capture, scenarioFile, packets } = writeLongCapture(dir, 6000, udp);
    expect(packets).toBeGreaterThanOrEqual(6000);
    const report = await replayCapture(capture, loadScenarioFile(scenarioFile), { policies: ['linux'], keepConnections: false });
    expect(report.packets).toBe(packets);
    const decided = report[unit];
    expect(decided).toBeGreaterThan(packets / (udp ? 2.1 : 10.5));
    const linux = report.policies.linux!;
    expect(linux.agreement.agree).toBe(decided);
    expect(linux.agreement.disagree).toBe(0);
    if (udp) expect(Object.keys(linux.datagramResults).sort()).toEqual(['cache', 'dns1', 'dns2']);
  }, 120_000);
});
