// An AF_INET6 UDP socket sending to a v4-mapped address: the datagram goes out as IPv4. Its source
// is never the socket's IPv6 address: one connect() gave it leaves the IPv4 source to the route
// (as Linux 6.18 does: `verify-kernel` agrees, packets included), one bind() gave it makes the
// socket IPv6-only (ENETUNREACH). Before, the first case wrote an IPv4 frame with an IPv6 source
// and the run failed with an internal error.
import { describe, expect, it } from 'vitest';
import { allPolicies } from '../../src/emu/policy/index.js';
import { runWithFrames } from './frames.js';

const SCENARIO = `name: an IPv6 UDP socket sends to a v4-mapped address
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.3/24, fd00::1/64] }
    processes:
      p: { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
    processes:
      q: { uid: 0 }
steps:
  - { socket: r, process: client/q, type: udp }
  - { bind: r, address: "0.0.0.0:5300" }
  - { socket: u1, process: server/p, type: udp, family: inet6 }
  - { connect: u1, to: "[fd00::100]:7000" }
  - { datagram: { socket: u1, to: "[::ffff:10.0.0.100]:5300" } }
  - { socket: u2, process: server/p, type: udp, family: inet6 }
  - { bind: u2, address: "[fd00::1]:0" }
  - { datagram: { socket: u2, to: "[::ffff:10.0.0.100]:5300" } }
`;

describe('an IPv6 socket sending to a v4-mapped address', () => {
  // FreeBSD's and Windows' IPv6 sockets are IPv6-only unless told otherwise (IPV6_V6ONLY on by default).
  const V6ONLY_BY_DEFAULT = new Set(['freebsd', 'windows']);
  it.each(allPolicies().filter((p) => p.families.includes('inet6')).map((p) => p.name))('%s: connected to an IPv6 peer, it sends IPv4 from the route\'s source (or is IPv6-only)', (policy) => {
    const { run, frames } = runWithFrames(SCENARIO, policy, 'mapped.yaml');
    const udp = frames.filter((f) => f.bytes[12] === 0x08 && f.bytes[13] === 0x00 && f.bytes[23] === 17);
    if (V6ONLY_BY_DEFAULT.has(policy)) {
      expect(run.steps[4]!.result).toBe('ENETUNREACH');
      expect(udp).toHaveLength(0);
      return;
    }
    expect(run.steps[4]!.result).toBe('r');
    // The first is step 4's (step 7's u2, bound to fd00::1, sends too where a bind leaves it dual-stack).
    expect(udp.length).toBeGreaterThanOrEqual(1);
    const ip = udp[0]!.bytes.subarray(14);
    expect([...ip.subarray(12, 16)].join('.')).toBe('10.0.0.3');
    expect([...ip.subarray(16, 20)].join('.')).toBe('10.0.0.100');
  });
  it('linux: bound to an IPv6 address, the socket is IPv6-only: ENETUNREACH [net/ipv6/af_inet6.c __inet6_bind]', () => {
    const { run } = runWithFrames(SCENARIO, 'linux', 'mapped.yaml');
    expect(run.steps[7]!.result).toBe('ENETUNREACH');
  });
});
