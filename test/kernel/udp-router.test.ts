// UDP through a router on the live kernel: scenarios/udp-router.yaml in network namespaces (the
// router forwarding between three veth links), its linux expectations as the kernel's own results,
// the replies' sources, and the emulator's linux policy beside it step by step (verify-kernel's
// comparison). Needs root; skipped with the reason otherwise.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import { kernelAvailable, runOnKernel } from '../../src/kernel/run-kernel.js';
import { parseScenario } from '../../src/scenario/load.js';
import { compareRuns } from '../../src/testing/kernel-compare.js';

const avail = kernelAvailable();
if (!avail.ok) console.log('skipping UDP through a router on the kernel: ' + avail.why);

const FILE = resolve(__dirname, '../../scenarios/udp-router.yaml');

describe.skipIf(!avail.ok)('UDP through a router on the live kernel (scenarios/udp-router.yaml)', () => {
  it('meets the scenario\'s linux expectations, answers from the sources the emulator gives, and agrees with the linux policy on every step', async () => {
    const text = readFileSync(FILE, 'utf8');
    const s = parseScenario(text, 'scenarios/udp-router.yaml');
    const kernel = await runOnKernel(s);
    const wrong: string[] = [];
    for (const step of s.steps) {
      const want = step.expect?.byPolicy.get('linux') ?? step.expect?.fallback;
      const got = kernel[step.index]!;
      if (want && !(got.results ?? [got.result]).every((r) => want.includes(r))) wrong.push(`step ${step.index}: kernel ${got.result}, expected ${want.join('|')}`);
    }
    expect(wrong).toEqual([]);
    // The router's errors (net unreachable, host unreachable after its ARP, time exceeded at the loop) reached the client.
    const byTo = (to: string) => kernel[s.steps.findIndex((x) => x.kind === 'datagram' && `${x.to.addr.text}:${x.to.port}` === to)]!;
    for (const to of ['10.9.0.1:4000', '10.0.0.77:4000', '10.5.0.1:4000']) expect([to, byTo(to).result]).toEqual([to, 'unreachable']);
    // A wildcard socket reached on eth1 answers from eth0's address; a socket bound to eth1's from its own, out of eth0.
    expect(byTo('10.1.0.1:4000').deliveries?.[0]?.replyFrom).toEqual(['10.0.0.1:4000']);
    expect(byTo('10.1.0.1:4002').deliveries?.[0]?.replyFrom).toEqual(['10.1.0.1:4002']);
    // A socket connected to 10.1.0.1 never hears the reply from 10.0.0.1.
    expect(kernel[s.steps.findIndex((x) => x.kind === 'datagram' && x.socket === 'q')]!.deliveries?.[0]?.replyFrom).toEqual(['none']);
    // Bursts of eight: six errors at once per peer; a net unreachable pays ip_error's token too (two).
    const burst = (n: number) => [...Array<string>(n).fill('unreachable'), ...Array<string>(8 - n).fill('dropped')];
    expect(byTo('10.8.0.1:4000').results).toEqual(burst(2));
    expect(byTo('10.0.0.78:4000').results).toEqual(burst(6));
    expect(byTo('fd00::78:4000').results).toEqual(burst(6));
    const cmp = compareRuns(s, text, kernel, runPolicy(s, 'linux').steps);
    expect(cmp.differences).toEqual([]);
    expect(cmp.rows.length).toBe(s.steps.length);
  }, 180_000);
});
