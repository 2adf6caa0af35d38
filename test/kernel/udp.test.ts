// The real-kernel oracle's datagram steps: the UDP kernel facts (test/kernel/udp-facts.ts), each
// a scenario whose expectations Linux 6.18 must meet in the namespaces, replies' sources included.
import { describe, expect, it } from 'vitest';
import { kernelAvailable, runOnKernel, type KernelStep } from '../../src/kernel/run-kernel.js';
import { receiverOrder, receiverText } from '../../src/kernel/run-udp.js';
import { REPLY_SOURCES, UDP_FACTS } from './udp-facts.js';

const avail = kernelAvailable();
if (!avail.ok) console.log('skipping the UDP kernel facts: ' + avail.why);

describe('receivers as the emulator writes them', () => {
  it('lists copies by name, joined with +', () => {
    expect(receiverText(['m2', 'g', 'm1'])).toBe('g+m1+m2');
    expect(receiverOrder(['b', 'a'])).toEqual(['a', 'b']);
    expect(receiverText(['only'])).toBe('only');
  });
});

describe.skipIf(!avail.ok)('the harness reproduces the UDP kernel facts', () => {
  it.each(UDP_FACTS.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    const r = await runOnKernel(f.scenario);
    const steps = f.scenario.steps as readonly KernelStep[];
    expect(r.map((x) => x.index)).toEqual(steps.map((s) => s.index));
    const wrong: string[] = [];
    for (const s of steps) {
      const want = s.expect?.fallback;
      const got = r[s.index]!;
      for (const res of got.results ?? [got.result]) {
        if (want && !want.includes(res)) wrong.push(`step ${s.index} (${s.kind}): kernel ${res}, expected ${want.join('|')}`);
      }
    }
    expect(wrong).toEqual([]);
    // Each datagram's deliveries name its receivers as HOST/PROCESS/SOCKET, the result by socket name.
    for (const got of r.filter((x) => x.kind === 'datagram')) {
      got.deliveries!.forEach((d, i) => {
        if (d.receivers.length) expect(receiverText(d.receivers.map((x) => x.split('/')[2]!))).toBe(got.results![i]);
        expect(d.receivers.every((x) => /^(server|client)\/(root|alice|bob)\/[^/]+$/.test(x))).toBe(true);
      });
    }
    if (f.name.startsWith('replies')) {
      for (const [i, from] of REPLY_SOURCES) expect(r[i]!.deliveries?.[0]?.replyFrom, `step ${i}`).toEqual(from);
    }
  }, 120_000);
});

if (!avail.ok) it.skip(`real kernel: ${avail.why}`, () => {});
