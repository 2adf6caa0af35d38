// Differences between the live kernel and the emulator's linux policy on UDP that are known
// emulator bugs (each confirmed on the kernel by a fact in udp-facts.ts, each told to the UDP
// engine's owner): a difference is put down to one only when the scenario shows that bug's
// conditions, step by step; anything else stays unexplained and fails the comparison.

import { isV4Mapped, type IpAddr } from '../../src/emu/addr.js';
import type { Policy } from '../../src/emu/policy/types.js';
import type { KernelStep } from '../../src/kernel/run-kernel.js';
import type { DatagramStep, Scenario, SocketStep } from '../../src/scenario/types.js';

export interface KnownBug {
  readonly id: string;
  /** Where in the emulator, and what the kernel does instead. */
  readonly what: string;
}

export const KNOWN_BUGS: readonly KnownBug[] = [
  // Fixed in the engine (udp-fix), now enforced here: rate-limited ICMP, IPv6's flat 100 ms,
  // an AF_INET6 socket's IPv4 MC_ALL, unheard replies, v4-mapped sources to IPv6, IPv6
  // device-bound local sends, IP_MULTICAST_IF against SO_BINDTODEVICE, leave by the route's
  // interface (rows in test/policy/linux-udp-kernel.test.ts). What remains:
  { id: 'bound-device-local-v4', what: 'src/emu/udp/layer.ts sourceFor(): an IPv4 socket bound to a device sending to its host\'s own address on another device: the kernel showed no ICMP for a closed port once (not pinned down by a fact: ip_route_output_key_hash_rcu\'s oif path may send it out of the bound device as on-link); the emulator delivers it over the loopback' },
];

const DIFF = /^(.*?) step (\d+) \(line \d+: .*?\)(?: datagram (\d+))?: (.*)$/;

/** The known bug a difference line of compareRuns comes from, or null. */
export function knownCause(s: Scenario, _policy: Policy, diff: string): string | null {
  const m = DIFF.exec(diff);
  if (!m) return null;
  const steps = s.steps as readonly KernelStep[];
  const index = Number(m[2]);
  const step = steps[index];
  if (!step || step.kind !== 'datagram') return null;
  const sockStep = (name: string): SocketStep | undefined =>
    [...steps.slice(0, index)].reverse().find((x): x is SocketStep => x.kind === 'socket' && x.socket === name);
  const d = step as DatagramStep;
  const sender = d.socket !== undefined ? sockStep(d.socket) : undefined;
  const dev = sender?.options.SO_BINDTODEVICE;
  if (!sender || !dev || wire4(d.to.addr) === null) return null;
  const host = s.hosts.find((h) => h.name === sender.host)!;
  const to = wire4(d.to.addr)!;
  const owner = host.interfaces.find((i) => i.addresses.some((c) => c.addr.text === to));
  return owner && owner.name !== dev ? 'bound-device-local-v4' : null;
}

/** An IPv4 destination as text (v4-mapped ones too), or null for IPv6. */
function wire4(a: IpAddr): string | null {
  if (a.family === 4) return a.text;
  return isV4Mapped(a) ? a.text.replace(/^::ffff:/, '') : null;
}
