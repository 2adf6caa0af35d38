// What the kernel comparisons share: a small job pool (the machine runs a few namespace sets at
// once) and the linux policy without its ICMP rate limit for random programs.

import { getPolicy } from '../../src/emu/policy/index.js';
import type { Policy } from '../../src/emu/policy/types.js';

/** Runs jobs with at most `n` at a time. */
export async function pool<T>(items: readonly T[], n: number, job: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await job(items[next++]!);
  }));
}

/**
 * linux without its per-peer ICMP rate limit, for the random programs, which the kernel runs with
 * net.ipv4.icmp_ratelimit = net.ipv6.icmp.ratelimit = 0: the limit's tokens refill with real time,
 * which passes between the harness's steps but not the emulator's. The UDP facts check the limit.
 */
export function linuxWithoutIcmpLimit(): Policy {
  const linux = getPolicy('linux');
  return linux.udp ? { ...linux, udp: { ...linux.udp, icmpRateLimit: undefined } as typeof linux.udp } : linux;
}
