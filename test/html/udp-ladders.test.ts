// The HTML report's ladders for datagram steps (issue 18): each datagram an attempt of its own,
// with its neighbour discovery, the receivers' replies (from whatever address they leave) and the
// ICMP port unreachable it draws; the outcome in the datagram step's words.

import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recordPolicies } from '../../src/html/record.js';
import { renderHtmlReport } from '../../src/html/report.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile, parseScenario } from '../../src/scenario/load.js';

const ROOT = resolve(import.meta.dirname, '../..');

function page(scenario: ReturnType<typeof loadScenarioFile>) {
  const rec = recordPolicies(20);
  const report = runScenario(scenario, { policies: ['linux'], outDir: null, observe: rec.observe });
  const recordings = rec.finish();
  return { html: renderHtmlReport([{ scenario, report, recordings }], { baseDir: ROOT }), recording: recordings.get('linux')! };
}

const titles = (html: string): string[] => [...html.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1]!);

describe('HTML ladders of datagram steps', () => {
  it('the DNS scenario: each query its attempt, the wildcard socket\'s reply from another address than the query went to', () => {
    const { html, recording } = page(loadScenarioFile(join(ROOT, 'scenarios/udp-dns-aliases.yaml')));
    const t = titles(html);
    expect(t).toContain('linux, step 10: client/dig 10.0.0.100:43475 to 10.0.0.4:53: received by resolver (server/resolver)');
    expect(t.some((x) => /^linux, step 15: .* to 10\.0\.0\.1:54: port unreachable: ICMP from server$/.test(x))).toBe(true);
    const q = recording.connections.find((c) => c.server === '10.0.0.4' && c.clientPort === 43475)!;
    expect(q.packets.map((p) => [p.kind, p.toServer])).toEqual([['arp-request', true], ['arp-reply', false], ['udp', true], ['udp', false]]);
    expect(q.packets[3]!.label).toMatch(/^UDP reply from 10\.0\.0\.1:53 len=\d+$/);
    const refused = recording.connections.find((c) => c.serverPort === 54)!;
    expect(refused.packets.map((p) => p.kind)).toEqual(['arp-request', 'arp-reply', 'udp', 'icmp']);
  });

  it('an ICMPv6 port unreachable and a broadcast to several sockets', () => {
    const sc = parseScenario(`name: t
hosts:
  server:
    interfaces: { eth0: { addresses: [10.0.0.1/24, fd00::1/64] } }
    processes: { p: {} }
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24, fd00::100/64] } }
    processes: { p: {} }
steps:
  - { socket: a, process: server/p, type: udp }
  - { bind: a, address: "0.0.0.0:9" }
  - { socket: tx, process: client/p, type: udp, options: { SO_BROADCAST: true } }
  - { datagram: { socket: tx, to: "10.0.0.255:9" }, expect: a }
  - { datagram: { from: client, to: "[fd00::1]:9" }, expect: port-unreachable }
`, 'x.yaml');
    const { html, recording } = page(sc);
    const t = titles(html);
    expect(t.some((x) => /^linux, step 3: tx .* to 10\.0\.0\.255:9: received by a \(server\/p\)$/.test(x))).toBe(true);
    expect(t.some((x) => /^linux, step 4: client \[fd00::100\]:\d+ to \[fd00::1\]:9: port unreachable: ICMP from server$/.test(x))).toBe(true);
    const v6 = recording.connections.find((c) => c.server === 'fd00::1')!;
    expect(v6.packets.at(-1)!.label).toBe('ICMPv6 port unreachable');
  });
});
