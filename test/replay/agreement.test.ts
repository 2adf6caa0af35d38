// agreement(): a policy's decision against what the capture shows the real server did.
import { describe, expect, it } from 'vitest';
import { agreement } from '../../src/replay/agreement.js';

describe('agreement', () => {
  it.each([
    // observed, result, candidates, agrees, class, why
    ['web', 'web', undefined, true, 'accepted', 'the capture shows web accepting; linux accepts (web)'],
    ['accepted', 'web', undefined, true, 'accepted', 'the capture shows a SYN-ACK; linux accepts (web)'],
    ['w2', 'w1', ['w1', 'w2'], true, 'accepted', 'the capture shows w2 accepting; linux accepts (w1 of the SO_REUSEPORT group w1, w2)'],
    ['w3', 'w1', ['w1', 'w2'], false, 'accepted', 'the capture shows w3 accepting; linux accepts (w1 of the SO_REUSEPORT group w1, w2)'],
    ['a2', 'w1', undefined, false, 'accepted', 'the capture shows a2 accepting; linux accepts (w1)'],
    ['refused', 'refused', undefined, true, 'refused', 'the capture shows an RST; linux refuses (RST)'],
    ['refused', 'web', undefined, false, 'refused', 'the capture shows an RST; linux accepts (web)'],
    ['accepted', 'refused', undefined, false, 'accepted', 'the capture shows a SYN-ACK; linux refuses (RST)'],
    [undefined, 'timeout', undefined, true, 'unanswered', 'the capture shows no answer; linux leaves it unanswered (timeout)'],
    [undefined, 'unreachable', undefined, true, 'unanswered', 'the capture shows no answer; linux leaves it unanswered (unreachable)'],
    [undefined, 'refused', undefined, false, 'unanswered', 'the capture shows no answer; linux refuses (RST)'],
    ['web6', 'unreachable', undefined, false, 'accepted', 'the capture shows web6 accepting; linux leaves it unanswered (unreachable)'],
  ] as const)('observed %s, decided %s (group %s): agrees %s', (observed, result, candidates, agrees, cls, why) => {
    expect(agreement(observed, { result, candidates }, 'linux')).toEqual({ agrees, observed: cls, why });
  });
});
