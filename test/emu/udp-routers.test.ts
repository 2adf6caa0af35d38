// UDP through routers and by each policy's Routing (src/emu/udp/routed.ts on forwarding.ts and
// forwarded-frames.ts): the copy on each link a TTL lower, the reply and the ICMP port
// unreachable back through the router, the router's own ICMP errors, rp_filter, broadcast and
// multicast staying on their link; the strong host model's drop on the wrong interface and the
// strong host send of replies and of a bound sender. The linux results of scenarios/udp-router.yaml
// are the live kernel's (test/kernel/udp-router.test.ts); its expectations under every policy are
// checked with the other routing scenarios' (routers.test.ts).

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allPolicies } from '../../src/emu/policy/index.js';
import { parseScenario } from '../../src/scenario/load.js';
import { internetChecksum } from '../../src/emu/wire/checksum.js';
import { runWithFrames, type Frame } from './frames.js';
import { TWO_LINK_HOSTS, TWO_LINKS, caseText, expectSteps } from '../policy/cases.js';

const ROOT = resolve(__dirname, '../..');
const FILE = 'scenarios/udp-router.yaml';
const TEXT = readFileSync(resolve(ROOT, FILE), 'utf8');

interface Step { readonly index: number; readonly kind: string; readonly result: string; readonly reason?: string; readonly deliveries?: readonly { readonly replyFrom?: readonly string[] }[] }

/** Every step, and every frame with the link it was written on. */
function run(text: string, policy: string): { steps: Map<number, Step>; frames: Frame[] } {
  const { run: r, frames } = runWithFrames(text, policy, 'udp-routers.yaml');
  return { steps: new Map((r.steps as readonly Step[]).map((x) => [x.index, x])), frames };
}

const ipv4 = (f: Frame): boolean => f.bytes[12] === 0x08 && f.bytes[13] === 0x00;
const proto = (f: Frame): number => f.bytes[23]!;
const ttl = (f: Frame): number => f.bytes[22]!;
const src4 = (f: Frame): string => [...f.bytes.slice(26, 30)].join('.');
const dst4 = (f: Frame): string => [...f.bytes.slice(30, 34)].join('.');
const dport = (f: Frame): number => (f.bytes[36]! << 8) | f.bytes[37]!;
/** The IPv4 UDP frames to dst:port, in order. */
const datagrams = (frames: readonly Frame[], dst: string, port: number): Frame[] => frames.filter((f) => ipv4(f) && proto(f) === 17 && dst4(f) === dst && dport(f) === port);
/** The step index of the datagram step to `to` (the scenario's own order). */
function stepTo(to: string): number {
  const s = parseScenario(TEXT, FILE);
  const i = s.steps.findIndex((x) => x.kind === 'datagram' && `${x.to.addr.family === 6 ? `[${x.to.addr.text}]` : x.to.addr.text}:${x.to.port}` === to);
  if (i < 0) throw new Error(`no datagram step to ${to}`);
  return i;
}

describe('a datagram through the router (linux)', () => {
  const { steps, frames } = run(TEXT, 'linux');

  it('crosses link c with TTL 64 and link a with 63, and the reply comes back the other way', () => {
    const i = stepTo('10.0.0.1:4000');
    expect(steps.get(i)!.result).toBe('app');
    expect(steps.get(i)!.deliveries![0]!.replyFrom).toEqual(['10.0.0.1:4000']);
    expect(datagrams(frames, '10.0.0.1', 4000).map((f) => [f.link, ttl(f)])).toEqual([['c', 64], ['a', 63]]);
    const reply = frames.filter((f) => ipv4(f) && proto(f) === 17 && src4(f) === '10.0.0.1' && dst4(f) === '10.2.0.2');
    expect(reply.slice(0, 2).map((f) => [f.link, ttl(f)])).toEqual([['a', 64], ['c', 63]]);
    // Each copy has its link's MACs, and its header checksum is right after the TTL changed.
    const [onC, onA] = datagrams(frames, '10.0.0.1', 4000);
    expect(onC!.bytes.slice(6, 12)).not.toEqual(onA!.bytes.slice(6, 12));
    for (const f of [onC!, onA!]) expect(internetChecksum(f.bytes, 14, 34)).toBe(0);
  });

  it('a closed port: the ICMP port unreachable comes back through the router, quoting the datagram as the server got it', () => {
    expect(steps.get(stepTo('10.0.0.1:4001'))!.result).toBe('port-unreachable');
    // (the quoted datagram's destination port is 4001)
    const icmp = frames.filter((f) => ipv4(f) && proto(f) === 1 && f.bytes[34] === 3 && f.bytes[35] === 3 && ((f.bytes[64]! << 8) | f.bytes[65]!) === 4001);
    expect(icmp.map((f) => [f.link, ttl(f), src4(f), dst4(f)])).toEqual([['a', 64, '10.0.0.1', '10.2.0.2'], ['c', 63, '10.0.0.1', '10.2.0.2']]);
    for (const f of icmp) {
      expect(f.bytes[42 + 8]).toBe(63);
      expect(internetChecksum(f.bytes, 34, f.bytes.length)).toBe(0);
    }
  });

  it('the server learnt the router from its ARP request: it does not ask for its gateway before replying', () => {
    const arp = (f: Frame, from: string, to: string): boolean => f.link === 'a' && f.bytes[12] === 0x08 && f.bytes[13] === 0x06 && f.bytes[21] === 1
      && [...f.bytes.slice(28, 32)].join('.') === from && [...f.bytes.slice(38, 42)].join('.') === to;
    expect(frames.filter((f) => arp(f, '10.0.0.254', '10.0.0.1'))).toHaveLength(1);
    expect(frames.filter((f) => arp(f, '10.0.0.1', '10.0.0.254'))).toEqual([]);
  });

  // The quoted datagram's TTL: as it came in (no route), lowered (the router was forwarding it when
  // its ARP failed), 1 (ran out at the loop); the error's source the router that sent it. As 6.18 does.
  it.each([
    ['10.9.0.1:4000', 'net unreachable', 3, 0, 64, '10.2.0.254'],
    ['10.0.0.77:4000', 'host unreachable', 3, 1, 63, '10.2.0.254'],
    ['10.5.0.1:4000', 'time exceeded', 11, 0, 1, '10.0.0.253'],
  ])('%s: the router answers %s, which reaches the client: unreachable', (to, _what, type, code, quotedTtl, from) => {
    const step = steps.get(stepTo(to))!;
    expect(step.result).toBe('unreachable');
    expect(step.reason).toMatch(/the error gets back to client/);
    // (the quoted datagram's destination is the step's)
    const icmp = frames.filter((f) => ipv4(f) && proto(f) === 1 && f.link === 'c' && f.bytes[34] === type && f.bytes[35] === code && `${[...f.bytes.slice(58, 62)].join('.')}:4000` === to);
    expect(icmp.length).toBe(1);
    const f = icmp[0]!;
    expect([src4(f), dst4(f)]).toEqual([from, '10.2.0.2']);
    expect(f.bytes[42 + 9]).toBe(17);
    expect(f.bytes[42 + 8]).toBe(quotedTtl);
    expect(internetChecksum(f.bytes, 34, f.bytes.length)).toBe(0);
    expect(internetChecksum(f.bytes, 42, 62)).toBe(0);
  });

  // Linux's router limits its errors per peer: six at once, and a net unreachable pays ip_error's token too (two of eight), as 6.18 answered.
  it.each([
    ['10.8.0.1:4000', 2],
    ['10.0.0.78:4000', 6],
    ['[fd00::78]:4000', 6],
  ])('a burst of eight to %s: %i answered, the rest dropped', (to, answered) => {
    const step = steps.get(stepTo(to))! as Step & { results: readonly string[] };
    expect(step.results).toEqual([...Array<string>(answered).fill('unreachable'), ...Array<string>(8 - answered).fill('dropped')]);
  });

  it('the eight datagrams to a missing address wait in the router\'s queue: three requests in all, the errors when they fail', () => {
    const asks = frames.filter((f) => f.link === 'a' && f.bytes[12] === 0x08 && f.bytes[13] === 0x06 && f.bytes[21] === 1 && [...f.bytes.slice(38, 42)].join('.') === '10.0.0.78');
    expect(asks).toHaveLength(3);
    expect(datagrams(frames, '10.0.0.78', 4000).map((f) => f.link)).toEqual(Array<string>(8).fill('c'));
    const errors = frames.filter((f) => ipv4(f) && proto(f) === 1 && f.bytes[34] === 3 && f.bytes[35] === 1 && [...f.bytes.slice(58, 62)].join('.') === '10.0.0.78');
    expect(errors).toHaveLength(6);
  });

  it('a socket connected to 10.1.0.1 refuses the reply from 10.0.0.1: its port unreachable goes back through the router', () => {
    const i = parseScenario(TEXT, FILE).steps.findIndex((x) => x.kind === 'datagram' && x.socket === 'q');
    expect(steps.get(i)!.result).toBe('app');
    expect(steps.get(i)!.deliveries![0]!.replyFrom).toEqual(['none']);
    const refusals = frames.filter((f) => ipv4(f) && proto(f) === 1 && f.bytes[34] === 3 && f.bytes[35] === 3 && src4(f) === '10.2.0.2');
    expect(refusals.map((f) => [f.link, ttl(f), dst4(f)])).toEqual([['c', 64, '10.0.0.1'], ['a', 63, '10.0.0.1']]);
  });

  it('a reply that meets a router without a route back: the router answers its sender, the client hears nothing', () => {
    const step = steps.get(stepTo('10.0.0.6:4000'))!;
    expect(step.result).toBe('st');
    expect(step.deliveries![0]!.replyFrom).toEqual(['none']);
    const err = frames.filter((f) => ipv4(f) && proto(f) === 1 && f.bytes[34] === 3 && f.bytes[35] === 0 && dst4(f) === '10.0.0.6');
    expect(err.map((f) => [f.link, src4(f), ttl(f), [...f.bytes.slice(54, 58)].join('.'), [...f.bytes.slice(58, 62)].join('.'), f.bytes[42 + 8]])).toEqual([['a', '10.0.0.252', 64, '10.0.0.6', '10.2.0.2', 64]]);
  });

  it('the router asks three times for an address nobody has before its host unreachable', () => {
    const asks = frames.filter((f) => f.link === 'a' && f.bytes[12] === 0x08 && f.bytes[13] === 0x06 && f.bytes[21] === 1 && [...f.bytes.slice(38, 42)].join('.') === '10.0.0.77');
    expect(asks).toHaveLength(3);
  });

  it('a host that does not forward drops it: one copy on link c, no answer', () => {
    const i = stepTo('10.3.0.1:4000');
    expect(steps.get(i)!.result).toBe('dropped');
    expect(steps.get(i)!.reason).toMatch(/host does not have 10\.3\.0\.1 and does not forward/);
    expect(datagrams(frames, '10.3.0.1', 4000).map((f) => f.link)).toEqual(['c']);
  });

  it('multicast and a directed broadcast stay on link c: the router does not forward them', () => {
    expect(datagrams(frames, '239.1.1.1', 4000).map((f) => f.link)).toEqual(['c']);
    expect(steps.get(stepTo('239.1.1.1:4000'))!.result).toBe('dropped');
    expect(datagrams(frames, '10.0.0.255', 4003).map((f) => f.link)).toEqual(['c']);
    expect(steps.get(stepTo('10.0.0.255:4003'))!.result).toBe('rtr');
  });

  it('rp_filter 1: in on eth1, the route back by eth0: dropped after crossing link b', () => {
    const i = stepTo('10.1.0.3:4000');
    expect(steps.get(i)!.result).toBe('dropped');
    expect(steps.get(i)!.reason).toMatch(/rp_filter is 1 \(strict\)/);
    expect(datagrams(frames, '10.1.0.3', 4000).map((f) => f.link)).toEqual(['c', 'b']);
  });
});

// Each policy's Routing for datagrams, from its Routing choices (src/emu/policy/routing-choices.ts):
// whether a host takes a datagram for eth1's address on eth0 (receive), and whether a reply from
// eth1's address may leave by eth0's route (send).
describe.each(allPolicies().map((p) => [p.name, p.routing.receive.is, p.routing.send.is] as const))('%s (receive %s, send %s)', (policy, receive, send) => {
  const { steps } = run(TEXT, policy);

  it(`a datagram for eth1's address that the router delivers on eth0: ${receive === 'strong' ? 'dropped' : 'taken'}`, () => {
    const step = steps.get(stepTo('10.1.0.10:4000'))!;
    expect(step.result).toBe(receive === 'strong' ? 'dropped' : 'app');
    if (receive === 'strong') expect(step.reason).toMatch(/strong host model drops the datagram/);
  });

  it(`a reply from eth1's address, whose only route to the client leaves by eth0: ${send === 'source-interface' ? 'lost' : 'delivered'}`, () => {
    const step = steps.get(stepTo('10.1.0.1:4002'))!;
    expect(step.result).toBe('eth1only');
    expect(step.deliveries![0]!.replyFrom).toEqual([send === 'source-interface' ? 'none' : '10.1.0.1:4002']);
  });

  it('a wildcard socket reached on eth1 answers from the route\'s source, eth0\'s address, the same way under every policy', () => {
    const step = steps.get(stepTo('10.1.0.1:4000'))!;
    expect(step.result).toBe('app');
    expect(step.deliveries![0]!.replyFrom).toEqual(['10.0.0.1:4000']);
  });
});

describe('a sender bound to another interface\'s address (cases.ts TWO_LINK_HOSTS: the client\'s eth1 holds 10.0.1.100)', () => {
  // Strong host send finds no route through eth1, whose only route is its subnet's (macOS: ip_output
  // EHOSTUNREACH); the others leave by eth0 from 10.0.1.100, and the server takes it.
  it.each(allPolicies().map((p) => [p.name, p.routing.send.is === 'source-interface' ? 'EHOSTUNREACH' : 'app'] as const))('%s: %s', (policy, want) => {
    expectSteps(policy, caseText(policy, TWO_LINK_HOSTS, [
      '- { socket: app, process: server/root, type: udp }',
      '- { bind: app, address: "0.0.0.0:4000" }',
      `- { datagram: { from: client, source: "10.0.1.100", to: "10.0.0.1:4000", data: "x" }, expect: ${want} }`,
    ], { top: TWO_LINKS }));
  });
});
