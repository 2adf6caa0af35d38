// A host's `routes:`, `forward:` and `sysctl: { rp_filter }` (src/scenario/routes.ts): what the
// loader takes, and each route the kernel's `ip route add` would refuse, refused with file:line:col.

import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenario/load.js';
import { ScenarioError } from '../../src/scenario/types.js';

/** A scenario whose host h has the given lines under it (at column 5), from line 7. */
const withHost = (lines: string): string => `name: routes
hosts:
  h:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, fd00::1/64] }
      eth1: { addresses: [10.1.0.1/24] }
${lines}
steps: [{ wait: 1s }]
`;

function errorOf(text: string): string {
  try {
    parseScenario(text, 'r.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).message;
  }
  throw new Error('parsed without error');
}

describe('routes the loader refuses, as the kernel does', () => {
  it.each<[string, string, string]>([
    ['no gateway or device', '    routes:\n      - { to: 10.9.0.0/16 }', 'r.yaml:8:9: route to 10.9.0.0/16 of host "h" needs a gateway (via) or a device (dev), or both'],
    ['a gateway off every subnet', '    routes:\n      - { to: 10.9.0.0/16, via: 10.7.0.1 }', 'r.yaml:8:33: route gateway 10.7.0.1 is on no connected subnet of host "h": the kernel refuses a gateway it cannot reach on a link ("Nexthop has invalid gateway")'],
    ['a gateway on another device', '    routes:\n      - { to: 10.9.0.0/16, via: 10.0.0.254, dev: eth1 }', 'r.yaml:8:33: route gateway 10.0.0.254 is on no connected subnet of host "h" on eth1: the kernel refuses a gateway it cannot reach on a link ("Nexthop has invalid gateway")'],
    ['its own address as gateway (the kernel takes it; not modelled)', '    routes:\n      - { to: 10.9.0.0/16, via: 10.0.0.1 }', 'r.yaml:8:33: route gateway 10.0.0.1 is an address of host "h" itself; bindlab does not model a gateway on the host itself'],
    ['a device it has not', '    routes:\n      - { to: 10.9.0.0/16, dev: eth7 }', 'r.yaml:8:33: route device "eth7" is not an interface of host "h"; its interfaces: eth0, eth1'],
    ['families mixed', '    routes:\n      - { to: 10.9.0.0/16, via: "fd00::fe" }', 'r.yaml:8:33: route to 10.9.0.0/16 is IPv4 but fd00::fe is IPv6'],
    ['host bits set', '    routes:\n      - { to: 10.9.1.0/16, dev: eth0 }', 'r.yaml:8:15: route destination "10.9.1.0/16" has bits set past its /16; the kernel refuses it (write the network, e.g. the address with those bits zero)'],
    ['a source it has not', '    routes:\n      - { to: default, via: 10.0.0.254, src: 10.0.0.9 }', 'r.yaml:8:46: route source 10.0.0.9 is not an address of host "h"; the kernel refuses it ("Invalid prefsrc address")'],
    ['a default with only a device', '    routes:\n      - { to: default, dev: eth0 }', 'r.yaml:8:15: route "default" of host "h" with only a device: write to: 0.0.0.0/0 or ::/0 to say which family'],
    ['the same prefix and metric twice', '    routes:\n      - { to: default, via: 10.0.0.254 }\n      - { to: 0.0.0.0/0, via: 10.1.0.254 }', 'r.yaml:9:15: host "h" already has a route to 0.0.0.0/0 with metric 0 (line 8); the kernel refuses a second one (EEXIST): give it another metric'],
    ['a connected route again', '    routes:\n      - { to: 10.1.0.0/24, dev: eth0 }', 'r.yaml:8:15: route to 10.1.0.0/24 with metric 0 is the connected route of eth1\'s address; the kernel refuses a second one (EEXIST): give it another metric'],
    ['a destination that is not a prefix', '    routes:\n      - { to: somewhere, dev: eth0 }', 'r.yaml:8:15: route destination "somewhere" is not a destination prefix (an IPv4 or IPv6 address with an optional /prefix) or "default"'],
    ['rp_filter 3', '    sysctl: { rp_filter: 3 }', 'r.yaml:7:26: hosts.h.sysctl.rp_filter: 3 is out of range 0..2'],
  ])('%s', (_what, lines, message) => {
    expect(errorOf(withHost(lines))).toBe(message);
  });
});

describe('routes the loader takes', () => {
  it('converts each field, fills the metric per family and the device from the gateway', () => {
    const s = parseScenario(withHost(`    routes:
      - { to: default, via: 10.0.0.254 }
      - { to: 10.9.0.0/16, via: 10.1.0.254, metric: 7, src: 10.0.0.1 }
      - { to: "fd09::/64", dev: eth0 }
      - { to: 10.8.0.0/16, dev: eth1 }
      - { to: 10.7.0.0/16, via: 10.8.0.1 }
      - { to: "fd07::/64", dev: eth1, src: "fd00::1" }
    forward: true
    sysctl: { rp_filter: 2 }`), 'r.yaml');
    const h = s.hosts[0]!;
    expect(h.routes!.map((r) => [r.to.text, r.via?.text, r.dev, r.metric, r.src?.text])).toEqual([
      ['0.0.0.0/0', '10.0.0.254', 'eth0', 0, undefined],
      ['10.9.0.0/16', '10.1.0.254', 'eth1', 7, '10.0.0.1'],
      ['fd09::/64', undefined, 'eth0', 1024, undefined],
      ['10.8.0.0/16', undefined, 'eth1', 0, undefined],
      // A gateway on-link through an earlier device route.
      ['10.7.0.0/16', '10.8.0.1', 'eth1', 0, undefined],
      // An IPv6 source of another interface (6.18 takes it).
      ['fd07::/64', undefined, 'eth1', 1024, 'fd00::1'],
    ]);
    expect(h.forward).toBe(true);
    expect(h.sysctl.rpFilter).toBe(2);
  });

  it('without routes: no routes key (a default route on the first interface), forward off, rp_filter 0; routes: [] is none', () => {
    const s = parseScenario(withHost(''), 'r.yaml');
    expect(s.hosts[0]!.routes).toBeUndefined();
    expect(s.hosts[0]!.forward).toBe(false);
    expect(s.hosts[0]!.sysctl.rpFilter).toBe(0);
    expect(parseScenario(withHost('    routes: []'), 'r.yaml').hosts[0]!.routes).toEqual([]);
  });
});
