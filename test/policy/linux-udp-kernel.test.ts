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
