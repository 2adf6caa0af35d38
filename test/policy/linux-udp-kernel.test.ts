// linux's UDP bind rules where the emulator first disagreed with Linux 6.18 in the namespaces
// (test/kernel/udp.test.ts: the audit's UDP findings run on the kernel; docs/kernel-observations.md
// §13): a same-uid SO_REUSEPORT socket on the port does not end udp_lib_lport_inuse's walk, and
// marks nothing in bind(0)'s bitmap walk. Each row is what the kernel answered.

import { describe, expect, it } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import { parseScenario } from '../../src/scenario/load.js';

const scenario = (steps: readonly string[], range = '32768 60999'): string => `name: linux udp bind
hosts:
  server:
    interfaces: { eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24] } }
    processes: { alice: { uid: 1000 }, bob: { uid: 1001 } }
    sysctl: { ip_local_port_range: "${range}" }
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24] } }
steps:
${steps.map((s) => `  - ${s}`).join('\n')}
`;

const sock = (name: string, proc: string, opts: string) => `{ socket: ${name}, process: server/${proc}, type: udp, options: { ${opts} } }`;
const RA = 'SO_REUSEADDR: true';
const RP = 'SO_REUSEPORT: true';
const RARP = 'SO_REUSEADDR: true, SO_REUSEPORT: true';

type Row = [what: string, steps: string[], binds: string[], range?: string];
const ROWS: Row[] = [
  ['another uid\'s SO_REUSEADDR socket refuses a SO_REUSEPORT-only one though a same-uid group socket was bound after it',
    [sock('s1', 'alice', RA), sock('s2', 'bob', RARP), sock('s3', 'bob', RP), '{ bind: s1, address: 10.0.0.1:8080 }', '{ bind: s2, address: 0.0.0.0:8080 }', '{ bind: s3, address: 10.0.0.1:8080 }'],
    ['ok', 'ok', 'EADDRINUSE']],
  ['the same on one address',
    [sock('s1', 'alice', RA), sock('s2', 'bob', RARP), sock('s3', 'bob', RP), '{ bind: s1, address: 10.0.0.1:8080 }', '{ bind: s2, address: 10.0.0.1:8080 }', '{ bind: s3, address: 10.0.0.1:8080 }'],
    ['ok', 'ok', 'EADDRINUSE']],
  ['the same with the group socket bound first',
    [sock('s1', 'alice', RA), sock('s2', 'bob', RARP), sock('s3', 'bob', RP), '{ bind: s2, address: 0.0.0.0:8080 }', '{ bind: s1, address: 10.0.0.1:8080 }', '{ bind: s3, address: 10.0.0.1:8080 }'],
    ['ok', 'ok', 'EADDRINUSE']],
  ['without the other uid\'s socket the SO_REUSEPORT-only one shares',
    [sock('s2', 'bob', RARP), sock('s3', 'bob', RP), '{ bind: s2, address: 0.0.0.0:8080 }', '{ bind: s3, address: 10.0.0.1:8080 }'],
    ['ok', 'ok']],
  ['bind(0) lands on the one port of the range held by a same-uid SO_REUSEPORT socket; another uid\'s is EADDRINUSE',
    [sock('s1', 'alice', RP), '{ bind: s1, address: 0.0.0.0:40000 }', sock('s2', 'alice', RP), '{ bind: s2, address: 0.0.0.0:0 }', sock('s3', 'bob', RP), '{ bind: s3, address: 0.0.0.0:0 }'],
    ['ok', 'ok', 'EADDRINUSE'], '40000 40000'],
];

describe('linux UDP binds as 6.18 answered them', () => {
  it.each(ROWS)('%s', (_what, steps, binds, range) => {
    const s = parseScenario(scenario(steps, range), 'linux-udp-bind.yaml');
    const r = runPolicy(s, 'linux').steps;
    expect(r.filter((x) => x.kind === 'bind').map((x) => x.result)).toEqual(binds);
  });

  it('the socket bind(0) put on the group\'s port receives its share of the datagrams', () => {
    const steps = [sock('s1', 'alice', RP), '{ bind: s1, address: 0.0.0.0:40000 }', sock('s2', 'alice', RP), '{ bind: s2, address: 0.0.0.0:0 }',
      ...Array.from({ length: 12 }, (_, i) => `{ datagram: { from: client, source: "10.0.0.100:${7000 + i}", to: 10.0.0.1:40000 } }`)];
    const r = runPolicy(parseScenario(scenario(steps, '40000 40000'), 'x.yaml'), 'linux').steps.filter((x) => x.kind === 'datagram');
    expect(new Set(r.map((x) => x.result))).toEqual(new Set(['s1', 's2']));
  });
});

// Datagram rows where the engine first disagreed with 6.18 (test/kernel/udp-facts.ts holds the same
// cases run on the kernel; docs/kernel-observations.md §13). server: eth0 (10.0.0.1-3, fd00::1) on
// lan, eth1 (10.0.1.1, fd01::1) on lan2; the client on both.
const TWO_LINKS = (steps: readonly string[]): string => `name: linux udp datagrams
seed: 7
links: { lan: { latency: 100us }, lan2: { latency: 100us } }
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, 10.0.0.3/24, fd00::1/64] }
      eth1: { addresses: [10.0.1.1/24, fd01::1/64], link: lan2 }
    processes: { root: { uid: 0 }, alice: { uid: 1000 } }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
      eth1: { addresses: [10.0.1.100/24, fd01::100/64], link: lan2 }
steps:
${steps.map((s) => `  - ${s}`).join('\n')}
`;
const run2 = (steps: readonly string[]) => runPolicy(parseScenario(TWO_LINKS(steps), 'linux-udp-datagrams.yaml'), 'linux').steps;
const u = (name: string, proc: string, extra = ''): string => `{ socket: ${name}, process: server/${proc}, type: udp${extra ? `, ${extra}` : ''} }`;
const PU = 'port-unreachable';

describe('linux UDP datagrams as 6.18 answered them', () => {
  it('an ICMP error the per-peer rate limit withholds leaves the sender with nothing: dropped (IPv4: 6, then one a second)', () => {
    const r = run2(['{ datagram: { from: client, to: "10.0.0.1:5500", count: 8 } }']);
    expect(r[0]!.results).toEqual([PU, PU, PU, PU, PU, PU, 'dropped', 'dropped']);
  });

  it('IPv6 refills one token per 100 ms flat (net.ipv6.icmp.ratelimit on 6.18), not 1 s scaled to 250 ms on a /64', () => {
    const r = run2([
      '{ datagram: { from: client, to: "[fd00::1]:5500", count: 8 } }',
      '{ wait: 150ms }',
      '{ datagram: { from: client, to: "[fd00::1]:5500", count: 2 } }',
    ]);
    expect(r[0]!.results).toEqual([PU, PU, PU, PU, PU, PU, 'dropped', 'dropped']);
    // 150 ms later one token is back (250 ms would give none), and only one.
    expect(r[2]!.results).toEqual([PU, 'dropped']);
  });

  it('the loopback is never rate-limited', () => {
    const r = run2(['{ datagram: { from: server, to: "10.0.0.1:5500", count: 8 } }']);
    expect(r[0]!.results).toEqual(Array(8).fill(PU));
  });

  it('an AF_INET6 socket hears an IPv4 group only by its own join or IP_MULTICAST_ALL (its IPv4 MC_ALL starts off)', () => {
    const r = run2([
      u('j', 'root'), '{ join: j, group: 239.4.4.4, interface: eth0 }',
      u('d', 'root', 'family: inet6, options: { SO_REUSEADDR: true }'), '{ bind: d, address: "[::]:5600" }',
      u('v4', 'root', 'options: { SO_REUSEADDR: true }'), '{ bind: v4, address: "0.0.0.0:5600" }',
      '{ datagram: { from: client, to: "239.4.4.4:5600" } }',
      '{ setsockopt: d, options: { IP_MULTICAST_ALL: true } }',
      '{ datagram: { from: client, to: "239.4.4.4:5600" } }',
    ]);
    expect([r[6]!.result, r[8]!.result]).toEqual(['v4', 'd+v4']);
  });

  it.each([
    ['connected to another peer', [u('rx', 'root'), '{ bind: rx, address: "0.0.0.0:5630" }', u('q', 'alice'), '{ bind: q, address: "10.0.0.2:5631" }',
      '{ connect: q, to: "10.0.0.100:7000" }', '{ datagram: { socket: q, to: "10.0.0.3:5630", reply: true } }'], 'rx', ['none']],
    ['unconnected: it hears the reply from the route\'s source', [u('rx', 'root'), '{ bind: rx, address: "0.0.0.0:5630" }', u('q', 'alice'), '{ bind: q, address: "10.0.0.2:5631" }',
      '{ datagram: { socket: q, to: "10.0.0.3:5630", reply: true } }'], 'rx', ['10.0.0.1:5630']],
    ['bound to a group address', [u('rx', 'root'), '{ bind: rx, address: "0.0.0.0:5632" }', u('g', 'alice'), '{ bind: g, address: "239.1.1.1:5633" }',
      '{ datagram: { socket: g, to: "10.0.0.1:5632", reply: true } }'], 'rx', ['none']],
    ['a better-scoring IPv4 socket on the port takes the reply (random UDP program 33)', [u('v4', 'alice', 'options: { SO_REUSEADDR: true }'), '{ bind: v4, address: "0.0.0.0:5353" }',
      u('v6', 'alice', 'family: inet6, options: { SO_REUSEADDR: true, SO_REUSEPORT: true }'), '{ bind: v6, address: "[::]:5353" }',
      '{ datagram: { socket: v6, to: "[::ffff:10.0.0.1]:5353", reply: true } }'], 'v4', ['none']],
  ] as [string, string[], string, string[]][])('replyFrom is none when the sender never gets the reply: %s', (_what, steps, result, from) => {
    const last = run2(steps).at(-1)!;
    expect(last.result).toBe(result);
    expect(last.deliveries?.[0]?.replyFrom).toEqual(from);
  });

  it.each([
    ['bound to a v4-mapped address, sending to IPv6', [u('m', 'root', 'family: inet6'), '{ bind: m, address: "[::ffff:10.0.0.1]:5610" }',
      '{ datagram: { socket: m, to: "[fd00::100]:5610" } }'], 'EAFNOSUPPORT'],
    ['connected to a v4-mapped peer, sending to IPv6', [u('c', 'root', 'family: inet6'), '{ bind: c, address: "[::]:5611" }',
      '{ connect: c, to: "[::ffff:10.0.0.100]:7000" }', '{ datagram: { socket: c, to: "[fd00::100]:5611" } }'], 'EAFNOSUPPORT'],
    ['bound to a v4-mapped address, connecting to IPv6', [u('m', 'root', 'family: inet6'), '{ bind: m, address: "[::ffff:10.0.0.1]:5612" }',
      '{ connect: m, to: "[fd00::100]:7000" }'], 'EAFNOSUPPORT'],
    ['bound to a v4-mapped address, sending to IPv4 (v4-mapped) still works', [u('m', 'root', 'family: inet6'), '{ bind: m, address: "[::ffff:10.0.0.1]:5613" }',
      '{ datagram: { socket: m, to: "[::ffff:10.0.0.100]:5613" } }'], PU],
    ['the route\'s error comes before the v4-mapped source\'s (random UDP program 138)', [u('m', 'root', 'family: inet6, options: { SO_BINDTODEVICE: eth1 }'), '{ bind: m, address: "[::]:5615" }',
      '{ connect: m, to: "[::ffff:10.0.0.100]:7000" }', '{ datagram: { socket: m, to: "[fd00::1]:5615" } }'], 'ENETUNREACH'],
    ['a device-bound IPv6 socket to its host\'s address on another device', [u('e1', 'root', 'family: inet6, options: { SO_BINDTODEVICE: eth1 }'), '{ bind: e1, address: "[::]:5620" }',
      u('rx', 'root', 'family: inet6'), '{ bind: rx, address: "[::]:5621" }', '{ datagram: { socket: e1, to: "[fd00::1]:5621" } }'], 'ENETUNREACH'],
    ['... and to its address on the bound device', [u('e1', 'root', 'family: inet6, options: { SO_BINDTODEVICE: eth1 }'), '{ bind: e1, address: "[::]:5620" }',
      u('rx', 'root', 'family: inet6'), '{ bind: rx, address: "[::]:5621" }', '{ datagram: { socket: e1, to: "[fd01::1]:5621" } }'], 'rx'],
    ['IP_MULTICAST_IF naming another interface than SO_BINDTODEVICE', [u('a', 'root', 'options: { SO_BINDTODEVICE: eth0, IP_MULTICAST_IF: eth1 }')], 'EINVAL'],
    ['IP_MULTICAST_IF naming the bound device', [u('b', 'root', 'options: { SO_BINDTODEVICE: eth0, IP_MULTICAST_IF: eth0 }')], 'ok'],
    ['IP_MULTICAST_IF set later to another interface', [u('c', 'root', 'options: { SO_BINDTODEVICE: eth1 }'), '{ setsockopt: c, options: { IP_MULTICAST_IF: eth0 } }'], 'EINVAL'],
    ['an IPv4 leave without an interface means the route\'s: a membership on eth1 is not it', [u('m', 'root'), '{ join: m, group: 239.5.5.5, interface: eth1 }',
      '{ leave: m, group: 239.5.5.5 }'], 'EADDRNOTAVAIL'],
    ['... naming eth1 it goes', [u('m', 'root'), '{ join: m, group: 239.5.5.5, interface: eth1 }', '{ leave: m, group: 239.5.5.5 }', '{ leave: m, group: 239.5.5.5, interface: eth1 }'], 'ok'],
    ['an IPv6 leave without an interface takes the first membership anywhere', [u('m', 'root', 'family: inet6'), '{ join: m, group: "ff05::5", interface: eth1 }',
      '{ leave: m, group: "ff05::5" }'], 'ok'],
  ] as [string, string[], string][])('%s', (_what, steps, result) => {
    expect(run2(steps).at(-1)!.result).toBe(result);
  });
});
