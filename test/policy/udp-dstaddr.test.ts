// IP_PKTINFO and IP_RECVDSTADDR by policy (issue 18): which OS has which (ENOPROTOOPT where it
// lacks one), and whether a wildcard-bound server's reply then leaves from the address the
// datagram came to. Citations in src/emu/policy/bsd-udp.ts (DST_ADDR_OPTIONS), illumos-udp.ts,
// windows-udp.ts and src/emu/udp/layer.ts (LINUX_DST_OPTIONS).

import { describe, expect, it } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import { parseScenario } from '../../src/scenario/load.js';

const scenario = (option: string): string => `name: dst addr options
seed: 3
hosts:
  server:
    interfaces: { eth0: { addresses: [10.0.0.1/24, 10.0.0.4/24] } }
    processes: { named: { uid: 0 } }
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24] } }
steps:
  - { socket: s, process: server/named, type: udp, options: { ${option}: true } }
  - { bind: s, address: 0.0.0.0:53 }
  - { datagram: { from: client, to: 10.0.0.4:53, reply: true } }
`;

const run = (policy: string, option: string) => runPolicy(parseScenario(scenario(option), 'dst.yaml'), policy).steps;

describe('IP_PKTINFO and IP_RECVDSTADDR by policy', () => {
  it.each([
    // policy, IP_PKTINFO's setsockopt and reply source, IP_RECVDSTADDR's
    ['linux', 'ok', '10.0.0.4:53', 'ENOPROTOOPT', null],
    ['bsd44', 'ENOPROTOOPT', null, 'ok', '10.0.0.1:53'],
    ['freebsd', 'ENOPROTOOPT', null, 'ok', '10.0.0.4:53'],
    ['macos', 'ok', '10.0.0.4:53', 'ok', '10.0.0.1:53'],
    ['illumos', 'ok', '10.0.0.4:53', 'ok', '10.0.0.1:53'],
    ['windows', 'ok', '10.0.0.4:53', 'ok', '10.0.0.1:53'],
  ] as [string, string, string | null, string, string | null][])('%s: IP_PKTINFO %s (reply from %s), IP_RECVDSTADDR %s (reply from %s)', (policy, pk, pkFrom, rd, rdFrom) => {
    for (const [option, result, from] of [['IP_PKTINFO', pk, pkFrom], ['IP_RECVDSTADDR', rd, rdFrom]] as const) {
      const r = run(policy, option);
      expect(r[0]!.result, `${policy} ${option}`).toBe(result);
      if (from) expect(r[2]!.deliveries?.[0]?.replyFrom, `${policy} ${option}`).toEqual([from]);
    }
  });

  it('the reason names the source the policy is read from', () => {
    expect(run('freebsd', 'IP_PKTINFO')[0]!.reason).toMatch(/freebsd has no IP_PKTINFO \[sys\/netinet\/in\.h/);
    expect(run('linux', 'IP_RECVDSTADDR')[0]!.reason).toMatch(/linux has no IP_RECVDSTADDR \[include\/uapi\/linux\/in\.h/);
  });
});

describe('an IPv4 leave without an interface', () => {
  const text = `name: leave
links: { lan: {}, lan2: {} }
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
      eth1: { addresses: [10.0.1.1/24], link: lan2 }
    processes: { p: { uid: 0 } }
steps:
  - { socket: m, process: server/p, type: udp }
  - { join: m, group: 239.5.5.5, interface: eth1 }
  - { leave: m, group: 239.5.5.5 }
`;
  it.each([
    // Linux: the route's interface (eth0), so eth1's membership is not it; the others take any
    ['linux', 'EADDRNOTAVAIL'], ['linux-2.2', 'ok'], ['freebsd', 'ok'], ['macos', 'ok'],
  ])('%s: %s', (policy, result) => {
    expect(runPolicy(parseScenario(text, 'leave.yaml'), policy).steps[2]!.result).toBe(result);
  });
});
