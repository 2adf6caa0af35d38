// A datagram step's datagrams share what is the same for each (src/emu/udp/step-memo.ts): the
// route, the neighbour, each host's decision, the replies' sources, comments and records. A run
// recorded for explain works everything out for each datagram instead, so the two must give the
// same capture (frames, times, comments, records) and the same report, under every policy.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import { parse, stringify } from 'yaml';
import { runPolicy } from '../../src/emu/engine.js';
import { allPolicies } from '../../src/emu/policy/index.js';
import { parseScenario } from '../../src/scenario/load.js';
import type { PacketSink } from '../../src/pcap/sink.js';
import { randomUdpProgram, routedUdpProgram } from '../kernel/random-udp-programs.js';

/** Every packet as text: interface, time, frame bytes, comment, record. */
function captured(text: string, policy: string, explain: boolean): { packets: string[]; report: string } {
  const packets: string[] = [];
  const sink: PacketSink = {
    addInterface: (i) => { packets.push(`interface ${i.name}`); return packets.length; },
    addName: () => {},
    packet: (id, t, f, len, c, r) => { packets.push(`${id} ${t} ${Buffer.from(f.subarray(0, len)).toString('hex')} ${c} ${r}`); },
  };
  const run = runPolicy(parseScenario(text, 'memo.yaml'), policy, { sink, ...(explain ? { onDecision: () => {} } : {}) });
  return { packets, report: JSON.stringify(run) };
}

/** A random UDP program with every datagram step sending several datagrams, some answered. */
function manyDatagrams(text: string, seed: number): string {
  const doc = parse(text) as { policies?: unknown; steps: { datagram?: { count?: number; reply?: boolean } }[] };
  delete doc.policies;
  let k = 0;
  for (const s of doc.steps) {
    if (!s.datagram) continue;
    k++;
    s.datagram.count = Math.max(s.datagram.count ?? 1, 2 + ((seed + k) % 5));
    if ((seed + k) % 3 === 0) s.datagram.reply = true;
  }
  return stringify(doc);
}

const DNS = `
name: DNS queries to a server per alias beside a wildcard cache, a closed port, a broadcast
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, 10.0.0.3/24, fd00::1/64] }
    processes:
      named: { uid: 0 }
      cache: { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
steps:
  - { socket: dns1, process: server/named, type: udp, options: { SO_REUSEADDR: true } }
  - { bind: dns1, address: "10.0.0.1:53" }
  - { socket: cache, process: server/cache, type: udp, family: inet6, options: { SO_REUSEADDR: true } }
  - { bind: cache, address: "[::]:53" }
  - { datagram: { from: client, to: "10.0.0.1:53", query: a.example, count: 6, reply: true } }
  - { datagram: { from: client, to: "10.0.0.3:53", query: b.example, count: 5, reply: true } }
  - { datagram: { from: client, to: "[fd00::1]:53", data: "hello", count: 4, reply: true } }
  - { datagram: { from: client, to: "10.0.0.2:54", data: "closed", count: 9 } }
  - { datagram: { from: client, to: "10.0.0.255:53", data: "all", count: 3, reply: true } }
  - { datagram: { from: server, to: "10.0.0.1:53", query: c.example, count: 3, reply: true } }
`;

const SCENARIOS: [string, string][] = [
  ['DNS, closed port, broadcast, the host itself', DNS],
  ...fs.readdirSync('scenarios').filter((f) => f.startsWith('udp-')).map((f): [string, string] => [f, fs.readFileSync(`scenarios/${f}`, 'utf8')]),
  ...[3, 17, 29, 41].flatMap((seed): [string, string][] => {
    const routed = routedUdpProgram(seed);
    return [[`random program ${seed}`, manyDatagrams(randomUdpProgram(seed), seed)], ...(routed ? [[`random program ${seed} behind a router`, manyDatagrams(routed, seed)] as [string, string]] : [])];
  }),
];

describe('a datagram step\'s shared decisions', () => {
  it.each(SCENARIOS)('%s: the same capture and report as deciding each datagram afresh', (_name, text) => {
    for (const p of allPolicies()) {
      let shared: ReturnType<typeof captured> | string;
      let afresh: ReturnType<typeof captured> | string;
      try { shared = captured(text, p.name, false); } catch (e) { shared = String(e); }
      try { afresh = captured(text, p.name, true); } catch (e) { afresh = String(e); }
      expect(shared, p.name).toEqual(afresh);
    }
  });
});
