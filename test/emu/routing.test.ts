// Routing as the host does it (src/emu/routing.ts): the server's answers by its own routing table,
// and the routes that go with an interface's last IPv4 address. The linux policy's results here
// are the live kernel's (scenarios/return-route.yaml under bindlab verify-kernel); the other
// policies keep answering on the SYN's link (UNCONFIRMED for them).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectationFor, runPolicy } from '../../src/emu/engine.js';
import { allPolicies, getPolicy } from '../../src/emu/policy/index.js';
import { parseScenario } from '../../src/scenario/load.js';

const ROOT = resolve(__dirname, '../..');

/** Each connect step's result, and on which capture interface each server answer (SYN-ACK or RST) went. */
function run(text: string, policy: string): { results: Map<number, string>; answers: string[] } {
  const s = parseScenario(text, 'routing.yaml');
  const names: string[] = [];
  const answers: string[] = [];
  const r = runPolicy(s, getPolicy(policy), {
    sink: {
      addInterface: (d: { name: string }) => names.push(d.name) - 1, addName: () => {},
      packet: (i: number, _t: number, frame: Uint8Array, len: number) => {
        // Ethernet + IPv4 (20 bytes) + TCP: SYN-ACK or RST.
        if (len >= 54 && frame[12] === 0x08 && frame[13] === 0x00 && frame[23] === 6) {
          const flags = frame[47]!;
          if ((flags & 0x12) === 0x12) answers.push(`${names[i]} syn-ack`);
          else if (flags & 0x04) answers.push(`${names[i]} rst`);
        }
      },
    } as never,
  });
  return { results: new Map(r.steps.filter((x) => x.kind === 'connect').map((x) => [x.index, x.result])), answers };
}

const TWO_LINKS = `name: return route
seed: 5
links: { a: {}, b: {} }
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24], link: a }
      eth1: { addresses: [10.1.0.1/24], link: b }
    processes: { root: { uid: 0 } }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.2/24, 10.1.0.2/24], link: a }
  both:
    interfaces:
      eth0: { addresses: [10.0.0.3/24], link: a }
      eth1: { addresses: [10.1.0.3/24], link: b }
steps:
  - { socket: web, process: server/root }
  - { bind: web, address: "0.0.0.0:80" }
  - { listen: web }
  - connect: { from: client, to: "10.0.0.1:80", source: "10.0.0.2" }
  - connect: { from: client, to: "10.0.0.1:80", source: "10.1.0.2" }
  - connect: { from: client, to: "10.0.0.1:81", source: "10.1.0.2" }
  - connect: { from: both, to: "10.0.0.1:80", source: "10.1.0.3" }
`;

describe('the server answers by its own route to the client', () => {
  it.each(allPolicies().map((p) => p.name))('%s', (policy) => {
    const { results, answers } = run(TWO_LINKS, policy);
    const linux = getPolicy(policy).linuxRouting === true;
    // Routed back out of eth0: answered everywhere.
    expect(results.get(3)).toBe('web');
    // 10.1.0.2 is routed out of eth1, where the client is not: Linux's SYN-ACK and RST are lost.
    expect(results.get(4)).toBe(linux ? 'timeout' : 'web');
    expect(results.get(5)).toBe(linux ? 'timeout' : 'refused');
    // A host on both links gets the SYN-ACK on link b, and connects.
    expect(results.get(6)).toBe('web');
    expect(answers).toEqual(linux
      ? ['a syn-ack', 'b syn-ack']
      : ['a syn-ack', 'a syn-ack', 'a rst', 'a syn-ack']);
  });

  it('the shipped scenario holds its expectations under every policy', () => {
    const text = readFileSync(resolve(ROOT, 'scenarios/return-route.yaml'), 'utf8');
    const s = parseScenario(text, 'scenarios/return-route.yaml');
    for (const p of ['linux', 'bsd44', 'freebsd', 'macos']) {
      const r = runPolicy(s, getPolicy(p), {});
      for (const step of r.steps) {
        const want = expectationFor(s.steps[step.index]!.expect, p);
        if (want !== undefined) expect(`${p} step ${step.index}: ${want.includes(step.result) ? 'as expected' : step.result}`).toBe(`${p} step ${step.index}: as expected`);
      }
    }
  });
});

const NONLOCAL = `name: non-local source
seed: 5
hosts:
  server:
    interfaces: { eth0: { addresses: [10.0.0.1/24, fd00::1/64] } }
    processes: { root: { uid: 0 } }
  client:
    interfaces: { eth0: { addresses: [10.0.0.2/24, fd00::2/64] } }
    sysctl: { ip_nonlocal_bind: true }
steps:
  - { socket: web, process: server/root }
  - { bind: web, address: "0.0.0.0:80" }
  - { listen: web }
  - { socket: web6, process: server/root, family: inet6, options: { IPV6_V6ONLY: true } }
  - { bind: web6, address: "[::]:80" }
  - { listen: web6 }
  - connect: { from: client, to: "10.0.0.1:80", source: "10.0.0.77" }
  - connect: { from: client, to: "[fd00::1]:80", source: "fd00::77" }
  - connect: { from: client, to: "[fd00::1]:80", source: "fd00::2" }
`;

describe('connect() from a non-local source bound under ip_nonlocal_bind', () => {
  it.each(allPolicies().map((p) => p.name))('%s', (policy) => {
    const { results } = run(NONLOCAL, policy);
    const p = getPolicy(policy);
    if (p.linuxRouting) {
      // IPv4: ENETUNREACH at the route lookup; IPv6: the SYN goes out and nobody answers for its source.
      expect([results.get(6), results.get(7)]).toEqual(['unreachable', 'timeout']);
    } else {
      // The policies without Linux's routing keep refusing the source (UNCONFIRMED).
      expect(results.get(6)).toBe('EADDRNOTAVAIL');
      expect(results.get(7)).toBe('EADDRNOTAVAIL');
    }
    if (p.families.includes('inet6')) expect(results.get(8)).toBe('web6');
  });
});

const LAST_ADDRESS = `name: last address
seed: 5
links: { a: {}, b: {} }
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24], link: a }
      eth1: { addresses: [10.1.0.1/24], link: b }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.2/24, 10.9.0.5/24], link: a }
    processes: { c: { uid: 0 } }
steps:
  - { socket: web, process: client/c }
  - { bind: web, address: "0.0.0.0:80" }
  - { listen: web }
  - connect: { from: server, to: "10.9.0.5:80" }
  - { address: { host: server, interface: eth0, del: 10.0.0.1/24 } }
  - { address: { host: server, interface: eth0, add: 10.0.0.1/24 } }
  - connect: { from: server, to: "10.0.0.2:80" }
  - connect: { from: server, to: "10.9.0.5:80" }
`;

describe("an interface's IPv4 routes go with its last IPv4 address", () => {
  it.each(allPolicies().map((p) => p.name))('%s', (policy) => {
    const { results } = run(LAST_ADDRESS, policy);
    expect(results.get(3)).toBe('web');
    expect(results.get(6)).toBe('web');
    // The default route on eth0 does not come back with the address under Linux (other policies: UNCONFIRMED, it stays).
    expect(results.get(7)).toBe(getPolicy(policy).linuxRouting ? 'unreachable' : 'web');
  });
});

const SOURCE6 = `name: source over every interface
seed: 5
links: { a: {}, b: {} }
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24], link: a }
      eth1: { addresses: [fd01::1/64], link: b }
  client:
    interfaces:
      eth0: { addresses: [fd00::100/64], link: a }
      eth1: { addresses: [fd01::100/64], link: b }
    processes: { c: { uid: 0 } }
  lone:
    interfaces:
      eth0: { addresses: [fd00::200/64], link: a }
    processes: { c: { uid: 0 } }
steps:
  - { socket: web, process: client/c, family: inet6 }
  - { bind: web, address: "[::]:80" }
  - { listen: web }
  - { socket: lone, process: lone/c, family: inet6 }
  - { bind: lone, address: "[::]:80" }
  - { listen: lone }
  - connect: { from: server, to: "[fd00::100]:80" }
  - connect: { from: server, to: "[fd00::200]:80" }
`;

describe('the IPv6 source is chosen over every interface', () => {
  it.each(allPolicies().filter((p) => p.families.includes('inet6')).map((p) => p.name))('%s', (policy) => {
    const { results } = run(SOURCE6, policy);
    // Linux: eth1's fd01::1 for a SYN out of eth0; the client answers out of its own eth1, the
    // lone host on link a has nobody to answer for fd01::1. The others: eth0 has no IPv6 source (UNCONFIRMED).
    expect([results.get(6), results.get(7)]).toEqual(getPolicy(policy).linuxRouting ? ['web', 'timeout'] : ['unreachable', 'unreachable']);
  });
});
