// Routes and routers in scenarios (src/emu/routing.ts findRoute, src/emu/forwarding.ts walk,
// src/emu/forwarded-frames.ts): which route a host takes, what a router does with a SYN, and the
// frames on each link. The linux policy's results here are the live kernel's (the shipped
// scenarios under bindlab verify-kernel; test/kernel/kernel.test.ts).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectationFor, runPolicy } from '../../src/emu/engine.js';
import { allPolicies, getPolicy } from '../../src/emu/policy/index.js';
import { parseScenario } from '../../src/scenario/load.js';
import { eui64LinkLocal, findRoute } from '../../src/emu/routing.js';
import { HostState, type IfaceState, type LinkState } from '../../src/emu/host.js';
import { Rng } from '../../src/emu/rng.js';
import { parseIp } from '../../src/emu/addr.js';
import { internetChecksum } from '../../src/emu/wire/checksum.js';
import { runWithFrames, type Frame } from './frames.js';

const ROOT = resolve(__dirname, '../..');

/** Each connect step's result and reason, and every frame with the link it was written on. */
function run(text: string, policy: string): { results: Map<number, string>; reasons: Map<number, string>; frames: Frame[] } {
  const { run: r, frames } = runWithFrames(text, policy);
  const connects = r.steps.filter((x) => x.kind === 'connect');
  return { results: new Map(connects.map((x) => [x.index, x.result])), reasons: new Map(connects.map((x) => [x.index, x.reason ?? ''])), frames };
}

const ipv4 = (f: Frame): boolean => f.bytes[12] === 0x08 && f.bytes[13] === 0x00;
const ttl = (f: Frame): number => f.bytes[22]!;
const tcpFlags = (f: Frame): number => f.bytes[47]!;
const dst4 = (f: Frame): string => [...f.bytes.slice(30, 34)].join('.');
const src4 = (f: Frame): string => [...f.bytes.slice(26, 30)].join('.');

const SCENARIO = (file: string): string => readFileSync(resolve(ROOT, 'scenarios', file), 'utf8');

describe('the shipped routing scenarios hold their expectations', () => {
  const files = ['router.yaml', 'asymmetric-return.yaml', 'vip-behind-router.yaml', 'route-choice.yaml', 'link-local-source.yaml', 'udp-router.yaml'];
  it.each(files.flatMap((f) => allPolicies().map((p) => [f, p.name] as const)))('%s under %s', (file, policy) => {
    const s = parseScenario(SCENARIO(file), `scenarios/${file}`);
    const r = runPolicy(s, getPolicy(policy));
    for (const step of r.steps) {
      const want = expectationFor(s.steps[step.index]!.expect, policy);
      if (want) expect([step.index, want.includes(step.result)]).toEqual([step.index, true]);
    }
  });
});

describe('a client behind a router (scenarios/router.yaml)', () => {
  const { results, reasons, frames } = run(SCENARIO('router.yaml'), 'linux');
  const syn = (to: string) => frames.filter((f) => ipv4(f) && f.bytes[23] === 6 && tcpFlags(f) === 0x02 && dst4(f) === to);

  it('the SYN crosses link b with TTL 64 and link a with 63; the answers come back the other way', () => {
    expect(results.get(6)).toBe('web');
    expect(syn('10.0.0.1').slice(0, 2).map((f) => [f.link, ttl(f)])).toEqual([['b', 64], ['a', 63]]);
    const synAck = frames.filter((f) => ipv4(f) && f.bytes[23] === 6 && tcpFlags(f) === 0x12);
    expect(synAck.slice(0, 2).map((f) => [f.link, ttl(f)])).toEqual([['a', 64], ['b', 63]]);
    // Each copy has its link's MACs: on b from the client to the router, on a from the router to the server.
    const [onB, onA] = syn('10.0.0.1');
    const arp = (link: string, op: number, ip: string) => frames.find((f) => f.link === link && f.bytes[12] === 0x08 && f.bytes[13] === 0x06
      && f.bytes[21] === op && [...f.bytes.slice(op === 1 ? 38 : 28, op === 1 ? 42 : 32)].join('.') === ip)!;
    const routerB = arp('b', 2, '10.1.0.254').bytes.slice(22, 28);
    const routerA = arp('a', 1, '10.0.0.1').bytes.slice(6, 12);
    expect(onB!.bytes.slice(0, 6)).toEqual(routerB);
    expect(onA!.bytes.slice(6, 12)).toEqual(routerA);
    expect(routerA).not.toEqual(routerB);
    // The header checksum is right after the TTL changed.
    for (const f of [onB!, onA!]) expect(internetChecksum(f.bytes, 14, 34)).toBe(0);
  });

  it('the router asks for the server once, the client for its gateway once', () => {
    const arp = frames.filter((f) => f.bytes[12] === 0x08 && f.bytes[13] === 0x06 && f.bytes[21] === 1);
    const who = arp.map((f) => `${f.link} ${[...f.bytes.slice(38, 42)].join('.')}`);
    expect(who.filter((w) => w === 'b 10.1.0.254')).toHaveLength(1);
    expect(who.filter((w) => w === 'a 10.0.0.1')).toHaveLength(1);
  });

  // The quoted SYN's TTL: as it came in (no route), lowered (the router was forwarding it when its ARP failed), 1 (ran out); as 6.18 quotes them.
  it.each([
    [9, 'net unreachable', 3, 0, 64],
    [10, 'host unreachable', 3, 1, 63],
    [13, 'time exceeded', 11, 0, 1],
  ])('step %i: the router answers %s, connect() fails', (step, _what, type, code, quotedTtl) => {
    expect(results.get(step)).toBe('unreachable');
    const icmp = frames.filter((f) => ipv4(f) && f.bytes[23] === 1 && f.link === 'b' && f.bytes[34] === type && f.bytes[35] === code);
    expect(icmp.length).toBeGreaterThan(0);
    const f = icmp[0]!;
    expect(dst4(f)).toBe('10.1.0.2');
    // The quote is the SYN as the router got it: TCP to port 80, and a valid ICMP checksum.
    expect(f.bytes[42 + 9]).toBe(6);
    expect(internetChecksum(f.bytes, 34, f.bytes.length)).toBe(0);
    expect(f.bytes[42 + 8]).toBe(quotedTtl);
    expect(internetChecksum(f.bytes, 42, 62)).toBe(0);
  });

  it('a host that does not forward drops the SYN: three SYNs, a timeout, and the reason names it', () => {
    expect(results.get(14)).toBe('timeout');
    expect(reasons.get(14)).toMatch(/host does not have 10\.2\.0\.1 and does not forward/);
    expect(syn('10.2.0.1').map((f) => f.link)).toEqual(['b', 'b', 'b']);
  });
});

const RP = (rp: number): string => `name: rp_filter
seed: 3
links: { a: {}, b: {}, c: {} }
hosts:
  router:
    interfaces:
      eth0: { addresses: [10.0.0.254/24], link: a }
      eth1: { addresses: [10.1.0.254/24], link: b }
      eth2: { addresses: [10.2.0.254/24], link: c }
    forward: true
    routes: []
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24], link: a }
      eth1: { addresses: [10.1.0.1/24], link: b }
    routes: [{ to: default, via: 10.0.0.254 }]
    sysctl: { rp_filter: ${rp} }
    processes: { root: { uid: 0 } }
  client:
    interfaces:
      eth0: { addresses: [10.2.0.2/24], link: c }
    routes: [{ to: default, via: 10.2.0.254 }]
steps:
  - { socket: web, process: server/root }
  - { bind: web, address: "0.0.0.0:80" }
  - { listen: web }
  - connect: { from: client, to: "10.1.0.1:80" }
  - connect: { from: client, to: "10.0.0.1:80" }
`;

describe('rp_filter on a server whose route back leaves by another interface', () => {
  it.each([
    // rp_filter, policy, in on b (route back by a), in on a
    [0, 'linux', 'web', 'web'],
    [1, 'linux', 'timeout', 'web'],
    [2, 'linux', 'web', 'web'],
    // Not Linux: rp_filter is not applied (UNCONFIRMED for those OSes); Windows answers only by
    // routes through the interface holding the answer's source (strong host send): none through eth1.
    [1, 'freebsd', 'web', 'web'],
    [1, 'windows', 'timeout', 'web'],
    [0, 'windows', 'timeout', 'web'],
  ])('rp_filter %i under %s', (rp, policy, inB, inA) => {
    const { results, reasons, frames } = run(RP(rp), policy);
    expect([results.get(3), results.get(4)]).toEqual([inB, inA]);
    if (inB === 'timeout') expect(reasons.get(3)).toMatch(policy === 'linux' ? /rp_filter is 1 \(strict\)/ : /strong host send/);
    // In on b, the Linux answer leaves by a (its default route) through the router to c.
    if (inB === 'web' && policy === 'linux') {
      const synAck = frames.filter((f) => ipv4(f) && f.bytes[23] === 6 && tcpFlags(f) === 0x12 && src4(f) === '10.1.0.1');
      expect(synAck.map((f) => [f.link, ttl(f)])).toEqual([['a', 64], ['c', 63]]);
    }
  });
});

describe('findRoute: the longest prefix, then the lowest metric, then the oldest', () => {
  const link: LinkState = { name: 'l', latencyNs: 0, captureId: -1, members: [] };
  const host = (routes: string): HostState => {
    const s = parseScenario(`name: t
hosts:
  h:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, fd00::1/64] }
      eth1: { addresses: [10.1.0.1/24] }
${routes}
steps: [{ wait: 1s }]
`, 't.yaml');
    const h = new HostState(s.hosts[0]!, new Rng(1, 1));
    for (const i of s.hosts[0]!.interfaces) {
      const iface: IfaceState = { host: h, name: i.name, mac: new Uint8Array(6), macText: '', addresses: [...i.addresses], link };
      h.ifaces.push(iface);
    }
    return h;
  };
  const ROUTES = `    routes:
      - { to: 10.9.0.0/16, via: 10.0.0.254, metric: 10 }
      - { to: 10.9.0.0/16, via: 10.1.0.254, metric: 5 }
      - { to: 10.9.9.0/24, via: 10.0.0.253, metric: 100, src: 10.1.0.1 }
      - { to: default, via: 10.1.0.254 }
      - { to: "fd09::/64", dev: eth0 }`;
  it.each([
    ['10.9.1.1', 'as declared', '10.9.0.0/16 via 10.1.0.254 dev eth1 metric 5'],
    ['10.9.9.9', 'as declared', '10.9.9.0/24 via 10.0.0.253 dev eth0 metric 100 src 10.1.0.1'],
    ['10.0.0.9', 'as declared', '10.0.0.0/24 dev eth0'],
    ['8.8.8.8', 'as declared', 'default via 10.1.0.254 dev eth1'],
    ['fd09::1', 'as declared', 'fd09::/64 dev eth0 metric 1024'],
    ['fd07::1', 'as declared', null],
    ['8.8.8.8', 'none', 'default dev eth0 (the host\'s first interface: it declares no routes:)'],
    ['8.8.8.8', 'empty', null],
  ])('%s with routes %s', (dst, which, want) => {
    const h = host(which === 'as declared' ? ROUTES : which === 'empty' ? '    routes: []' : '');
    expect(findRoute(h, parseIp(dst)!, new Map(), new Set())?.text ?? null).toBe(want);
  });
});

describe('automatic fe80:: addresses (linux)', () => {
  it.each([
    // RFC 4291 appendix A: the universal/local bit flipped, ff:fe in the middle.
    ['02:00:00:00:00:fe', 'fe80::ff:fe00:fe'],
    ['12:4b:a1:b0:04:9d', 'fe80::104b:a1ff:feb0:49d'],
    ['00:1b:21:3a:4f:10', 'fe80::21b:21ff:fe3a:4f10'],
  ])('%s gives %s', (mac, ll) => {
    expect(eui64LinkLocal(Uint8Array.from(mac.split(':').map((x) => parseInt(x, 16)))).text).toBe(ll);
  });

  it.each(allPolicies().filter((p) => p.families.includes('inet6')).map((p) => p.name))('a host with no IPv6 address of its own, under %s', (policy) => {
    const { results, frames } = run(SCENARIO('link-local-source.yaml'), policy);
    const linux = getPolicy(policy).routing.linkLocal?.is === 'eui64';
    // Linux speaks from the fe80:: address; the others have no IPv6 source.
    expect(results.get(3)).toBe(linux ? 'web6' : 'unreachable');
    expect(results.get(5)).toBe(linux ? 'unreachable' : 'unreachable');
    const syn6 = frames.filter((f) => f.bytes[12] === 0x86 && f.bytes[13] === 0xdd && f.bytes[20] === 6 && f.bytes[67] === 0x02);
    if (linux) {
      expect(syn6.length).toBeGreaterThan(0);
      for (const f of syn6) expect([f.bytes[22], f.bytes[23]]).toEqual([0xfe, 0x80]);
      // The router's answer: ICMPv6 destination unreachable, code 2 (beyond scope of source address).
      const icmp = frames.filter((f) => f.bytes[12] === 0x86 && f.bytes[20] === 58 && f.bytes[54] === 1);
      expect(icmp.map((f) => [f.link, f.bytes[55]])).toEqual([['b', 2]]);
    } else {
      expect(syn6).toHaveLength(0);
    }
  });
});
