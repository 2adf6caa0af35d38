// `bindlab verify-kernel` on datagram steps (pure, made-up results): one receiver matches any
// socket of the emulator's SO_REUSEPORT group, copies match as a set in any order, outcomes and
// errnos exactly, and each receiver's reply must come from the same source on both sides.

import { describe, expect, it } from 'vitest';
import type { KernelStepResult } from '../../src/kernel/run-kernel.js';
import { compareRuns, datagramDifference, renderSideBySide } from '../../src/testing/kernel-compare.js';
import { bind, datagram, sock, udpScenario } from '../kernel/udp-build.js';

const S = udpScenario('made-up-udp', [
  sock('a', 'server/root', { SO_REUSEPORT: true }), bind('a', '0.0.0.0:53'),
  sock('b', 'server/root', { SO_REUSEPORT: true }), bind('b', '0.0.0.0:53'),
  datagram({ from: 'client', to: '10.0.0.1:53', count: 2, reply: true }),
  datagram({ from: 'client', to: '10.0.0.255:53' }),
  datagram({ from: 'client', to: '10.0.0.1:54' }),
]);
const TEXT = S.steps.map((s) => `  - ${s.kind}`).join('\n');
const ok = (index: number): KernelStepResult => ({ index, kind: index % 2 ? 'bind' : 'socket', result: 'ok' });
const setup = [0, 1, 2, 3].map(ok);
const emuSetup = [0, 1, 2, 3].map((index) => ({ index, result: 'ok' }));

describe('datagram steps in the kernel comparison', () => {
  it.each([
    ['the same socket', 'a', 'a', undefined, null],
    ['a member of the group the emulator picked in', 'b', 'a', ['a', 'b'], null],
    ['a socket outside the group', 'c', 'a', ['a', 'b'], 'kernel c vs emulator a (candidates a,b)'],
    ['copies in another order', 'b+a', 'a+b', undefined, null],
    ['one copy fewer', 'a', 'a+b', undefined, 'kernel a vs emulator a+b'],
    ['copies are no group pick', 'a+b', 'a', ['a', 'b'], 'kernel a+b vs emulator a (candidates a,b)'],
    ['the same outcome', 'port-unreachable', 'port-unreachable', undefined, null],
    ['dropped against port-unreachable', 'dropped', 'port-unreachable', undefined, 'kernel dropped vs emulator port-unreachable'],
    ['an errno of the send', 'EACCES', 'EACCES', undefined, null],
  ] as const)('%s', (_what, kernel, emulator, candidates, want) => {
    expect(datagramDifference(kernel, emulator, candidates, undefined, undefined)).toBe(want);
  });

  it('a reply from another source is a difference naming the receiver', () => {
    const kd = { receivers: ['server/root/a'], replyFrom: ['10.0.0.1:53'] };
    expect(datagramDifference('a', 'a', undefined, kd, { receivers: ['server/root/a'], replyFrom: ['10.0.0.1:53'] })).toBeNull();
    expect(datagramDifference('a', 'a', undefined, kd, { receivers: ['server/root/a'], replyFrom: ['10.0.0.2:53'] }))
      .toBe('server/root/a answered from 10.0.0.1:53 on the kernel, 10.0.0.2:53 in the emulator');
  });

  it('compareRuns lines datagrams up one by one and the table shows them', () => {
    const kernel: KernelStepResult[] = [...setup,
      { index: 4, kind: 'datagram', result: 'b', results: ['b', 'a'], deliveries: [{ receivers: ['server/root/b'], replyFrom: ['10.0.0.1:53'] }, { receivers: ['server/root/a'], replyFrom: ['10.0.0.1:53'] }] },
      { index: 5, kind: 'datagram', result: 'a+b', results: ['a+b'] },
      { index: 6, kind: 'datagram', result: 'dropped', results: ['dropped'] }];
    const emulator = [...emuSetup,
      { index: 4, result: 'a', results: ['a', 'a'], candidates: [['a', 'b'], ['a', 'b']], deliveries: [{ receivers: ['server/root/a'] }, { receivers: ['server/root/a'] }] },
      { index: 5, result: 'a+b', results: ['a+b'] },
      { index: 6, result: 'port-unreachable', results: ['port-unreachable'] }];
    const c = compareRuns(S, TEXT, kernel, emulator);
    expect(c.rows.map((r) => r.agree)).toEqual([true, true, true, true, true, true, false]);
    expect(c.differences).toEqual(['udp/made-up-udp.yaml step 6 (line 7: - datagram) datagram 1: kernel dropped vs emulator port-unreachable']);
    expect(renderSideBySide(c)).toMatch(/^4 +5 +datagram +b, a \(replies from 10\.0\.0\.1:53 ×2\) +a ×2 \(group a,b\) +=$/m);
  });

  it('a datagram the kernel did not send is a difference', () => {
    const c = compareRuns(S, TEXT, [...setup, { index: 4, kind: 'datagram', result: 'a', results: ['a'] }],
      [...emuSetup, { index: 4, result: 'a', results: ['a', 'a'] }]);
    expect(c.differences[0]).toBe('udp/made-up-udp.yaml step 4 (line 5: - datagram): kernel sent 1 datagrams, emulator 2');
  });
});
