// UDP steps in scenarios (issue 18): what the loader makes of them, and the errors it gives
// (file:line:col) for a step on the wrong kind of socket and other mistakes.

import Ajv2020 from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseScenario } from '../../src/scenario/load.js';
import { scenarioJsonSchema } from '../../src/scenario/write-schema.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { ScenarioError } from '../../src/scenario/types.js';

// Lines 1-13; steps follow from line 14.
const HEAD = `name: t
hosts:
  srv:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, fd00::1/64] }
      eth1: { addresses: [192.168.1.1/24] }
    processes:
      p: {}
  cli:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
    processes: { dig: {} }
steps:
`;
const UDP = '  - socket: u\n    process: srv/p\n    type: udp\n'; // lines 14-16
const TCP = '  - socket: t\n    process: srv/p\n'; // after UDP: lines 17-18

function errorOf(text: string): string {
  try {
    parseScenario(text, 'x.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).message;
  }
  throw new Error('parsed without error');
}

describe('UDP steps: errors with file:line:col', () => {
  it.each<[string, string, string]>([
    ['listen on a UDP socket', HEAD + UDP + '  - listen: u\n',
      'x.yaml:17:13: listen names UDP socket "u" (line 14): listen(2) is for stream sockets (a datagram socket gets EOPNOTSUPP); a UDP socket receives once bound'],
    ['join on a TCP socket', HEAD + UDP + TCP + '  - join: t\n    group: 224.0.0.251\n',
      'x.yaml:19:11: join names TCP socket "t" (line 17); join is for UDP sockets: give its socket step "type: udp"'],
    ['connect NAME on a TCP socket', HEAD + UDP + TCP + '  - connect: t\n    to: 10.0.0.100:53\n',
      'x.yaml:19:14: connect names TCP socket "t" (line 17); connect: NAME is connect(2) on a UDP socket (a TCP client is connect: {from, to}): give its socket step "type: udp"'],
    ['datagram from a TCP socket', HEAD + UDP + TCP + '  - datagram: { socket: t, to: 10.0.0.100:53 }\n',
      'x.yaml:19:25: datagram socket names TCP socket "t" (line 17); datagram socket is for UDP sockets: give its socket step "type: udp"'],
    ['UDP connect without to', HEAD + UDP + '  - connect: u\n',
      'x.yaml:17:5: connect on UDP socket "u" needs "to: ADDR:PORT" (the peer)'],
    ['to beside a TCP connect', HEAD + UDP + '  - connect: { from: cli, to: 10.0.0.1:80 }\n    to: 10.0.0.1:80\n',
      'x.yaml:18:9: a TCP connect step gives "to" inside its map (connect: {from, to}); "to" beside "connect" is for connect(2) on a UDP socket (connect: NAME)'],
    ['join a unicast address', HEAD + UDP + '  - join: u\n    group: 10.0.0.9\n',
      'x.yaml:18:12: join group "10.0.0.9" is not a multicast address (224.0.0.0/4 or ff00::/8)'],
    ['an inet socket joins an IPv6 group', HEAD + UDP + '  - join: u\n    group: ff02::fb\n',
      'x.yaml:18:12: join group "ff02::fb" is IPv6 but socket "u" is inet (IPv4)'],
    ['join on an unknown interface', HEAD + UDP + '  - join: u\n    group: 224.0.0.251\n    interface: eth9\n',
      'x.yaml:19:16: interface "eth9": host "srv" has no interface "eth9"; its interfaces are: eth0, eth1'],
    ['leave a socket no step made', HEAD + UDP + '  - leave: v\n    group: 224.0.0.251\n',
      'x.yaml:17:12: leave names socket "v", which no earlier socket step creates; sockets so far: u'],
    ['datagram with from and socket', HEAD + UDP + '  - datagram: { from: cli, socket: u, to: 10.0.0.1:53 }\n',
      'x.yaml:17:15: datagram needs exactly one of: from, socket'],
    ['datagram with neither', HEAD + UDP + '  - datagram: { to: 10.0.0.1:53 }\n',
      'x.yaml:17:15: datagram needs exactly one of: from, socket'],
    ['datagram from an unknown host', HEAD + UDP + '  - datagram: { from: nobody, to: 10.0.0.1:53 }\n',
      'x.yaml:17:23: datagram from "nobody": no host "nobody"; hosts are: srv, cli'],
    ['datagram source of the other family', HEAD + UDP + '  - datagram: { from: cli, source: "fd00::100", to: 10.0.0.1:53 }\n',
      'x.yaml:17:36: datagram source "fd00::100" is IPv6 but the destination "10.0.0.1:53" is IPv4'],
    ['datagram source with a socket', HEAD + UDP + '  - datagram: { socket: u, source: 10.0.0.1, to: 10.0.0.100:53 }\n',
      'x.yaml:17:36: datagram source is for a fresh socket (from: HOST); socket "u" sends from its own address (bind it first)'],
    ['datagram from an inet socket to IPv6', HEAD + UDP + '  - datagram: { socket: u, to: "[fd00::100]:53" }\n',
      'x.yaml:17:32: datagram address "[fd00::100]:53" is IPv6 but socket "u" is inet (IPv4)'],
    ['datagram interface unknown', HEAD + UDP + '  - datagram: { from: cli, to: 224.0.0.251:5353, interface: eth1 }\n',
      'x.yaml:17:61: interface "eth1": host "cli" has no interface "eth1"; its interfaces are: eth0'],
    ['datagram count 0', HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53, count: 0 }\n',
      'x.yaml:17:52: steps[1].datagram.count: 0 is out of range 1..65535'],
    ['expect an unknown socket', HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53 }\n    expect: w\n',
      'x.yaml:18:13: expected datagram result "w": "w" is not a socket of this scenario (u); expected a socket name, names joined by "+" (each received a copy), one of: port-unreachable, unreachable, dropped, or an errno of the send'],
    ['expect a+ with an empty name', HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53 }\n    expect: u+\n',
      'x.yaml:18:13: expected datagram result "u+": an empty name; expected a socket name, names joined by "+" (each received a copy), one of: port-unreachable, unreachable, dropped, or an errno of the send'],
    ['expect a socket twice', HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53 }\n    expect: u+u\n',
      'x.yaml:18:13: expected datagram result "u+u" names a socket twice; a socket receives one copy of a datagram'],
    ['a connect result on a UDP connect', HEAD + UDP + '  - connect: u\n    to: 10.0.0.100:53\n    expect: refused\n',
      'x.yaml:19:13: expected result "refused" of connect(2) on a UDP socket is neither "ok" nor an errno (EADDRINUSE, EADDRNOTAVAIL, EACCES, EINVAL, ENOPROTOOPT, EIO, EBADF, ENODEV, EAFNOSUPPORT, EOPNOTSUPP, EPERM, EEXIST, ENETUNREACH, EHOSTUNREACH)'],
    ['a UDP socket named like an outcome', HEAD + '  - socket: dropped\n    process: srv/p\n    type: udp\n',
      'x.yaml:14:13: socket name "dropped" is reserved: it is a datagram outcome'],
    ['a UDP socket name with a +', HEAD + '  - socket: a+b\n    process: srv/p\n    type: udp\n',
      'x.yaml:14:13: UDP socket name "a+b" has a "+", which datagram expectations use to join receivers ("a+b"); choose a name without it'],
    ['IP_MULTICAST_IF names no interface of the host', HEAD + '  - socket: m\n    process: srv/p\n    type: udp\n    options: { IP_MULTICAST_IF: wlan0 }\n',
      'x.yaml:17:33: IP_MULTICAST_IF "wlan0": host "srv" has no interface "wlan0"; its interfaces are: eth0, eth1'],
    ['socket type unknown', HEAD + '  - socket: m\n    process: srv/p\n    type: sctp\n',
      'x.yaml:16:11: steps[0].type: expected one of tcp, udp, got string "sctp"'],
  ])('%s', (_name, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});

describe('UDP steps: what the loader makes of them', () => {
  const text = HEAD + UDP + `  - socket: v
    process: srv/p
    type: udp
    family: inet6
    options: { SO_BROADCAST: true, IPV6_RECVPKTINFO: true, IP_MULTICAST_IF: eth1, SO_REUSEADDR: true }
  - join: v
    group: 224.0.0.251
    interface: eth1
  - leave: u
    group: 224.0.0.251
  - connect: u
    to: 10.0.0.100:53
    expect: ok
  - datagram: { from: cli/dig, source: "10.0.0.100:5000", to: 10.0.0.255:53, data: q, count: 3, reply: true }
    expect: { linux: v+u, default: [u, v] }
  - datagram: { socket: u, to: 224.0.0.251:5353, interface: eth1 }
    expect: port-unreachable
`;
  const sc = parseScenario(text, 'x.yaml');

  it('reads the socket type and the UDP options in C order', () => {
    expect(sc.steps[0]).toMatchObject({ kind: 'socket', type: 'udp', family: 'inet' });
    expect(sc.steps[1]).toMatchObject({ kind: 'socket', type: 'udp', family: 'inet6' });
    expect(Object.keys((sc.steps[1] as { options: object }).options)).toEqual(['SO_REUSEADDR', 'SO_BROADCAST', 'IP_MULTICAST_IF', 'IPV6_RECVPKTINFO']);
  });

  it('reads join, leave and connect(2) on a UDP socket', () => {
    expect(sc.steps[2]).toMatchObject({ kind: 'join', socket: 'v', group: { text: '224.0.0.251' }, interface: 'eth1' });
    expect(sc.steps[3]).toMatchObject({ kind: 'leave', socket: 'u', group: { text: '224.0.0.251' } });
    expect(sc.steps[3]).not.toHaveProperty('interface');
    expect(sc.steps[4]).toMatchObject({ kind: 'udp-connect', socket: 'u', to: { addr: { text: '10.0.0.100' }, port: 53 } });
  });

  it('reads datagram steps, and a+b expectations in sorted order', () => {
    expect(sc.steps[5]).toMatchObject({
      kind: 'datagram', from: 'cli', fromProcess: 'dig', source: { addr: { text: '10.0.0.100' }, port: 5000 },
      to: { port: 53 }, data: 'q', count: 3, reply: true,
    });
    expect(sc.steps[5]!.expect!.byPolicy.get('linux')).toEqual(['u+v']);
    expect(sc.steps[5]!.expect!.fallback).toEqual(['u', 'v']);
    expect(sc.steps[6]).toMatchObject({ kind: 'datagram', socket: 'u', count: 1, reply: false, interface: 'eth1' });
    expect(sc.steps[6]!.expect!.fallback).toEqual(['port-unreachable']);
  });

  it('the JSON Schema accepts the same file, and a TCP socket stays without a type', () => {
    const ajv = new Ajv2020.default({ strict: true, strictRequired: false, allErrors: true });
    const validate = ajv.compile(scenarioJsonSchema({ policies: BUILTIN_POLICIES }));
    expect(validate(parseYaml(text)), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(parseYaml(HEAD + UDP + '  - datagram: { to: 10.0.0.1:53 }\n'))).toBe(false);
    const tcp = parseScenario(HEAD + TCP, 'x.yaml');
    expect(tcp.steps[0]).not.toHaveProperty('type');
  });
});

describe('datagram query: NAME (a DNS query as the payload)', () => {
  it.each<[string, string, string]>([
    ['query beside data', HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53, data: x, query: example.com }\n',
      'x.yaml:17:61: datagram query and data both give the payload: a query step sends a DNS query for the name, so leave data out'],
    ['qtype without query', HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53, qtype: AAAA }\n',
      'x.yaml:17:52: datagram qtype "AAAA" needs query: NAME (the name the DNS query asks for)'],
  ])('%s', (_what, text, message) => {
    expect(errorOf(text)).toBe(message);
  });

  it.each([
    ['a label longer than 63', `${'a'.repeat(64)}.com`],
    ['an empty label', 'example..com'],
    ['a space', 'exa mple.com'],
    ['a name past 253 characters', Array.from({ length: 5 }, () => 'b'.repeat(60)).join('.')],
  ])('an invalid name is an error at its position: %s', (_what, name) => {
    expect(errorOf(HEAD + UDP + `  - datagram: { from: cli, to: 10.0.0.1:53, query: "${name}" }\n`)).toMatch(/^x\.yaml:17:52: .*domain name/);
  });

  it('an unknown qtype lists the known ones', () => {
    expect(errorOf(HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53, query: example.com, qtype: AXFR }\n')).toMatch(/^x\.yaml:17:\d+: .*AAAA/);
  });

  it('reads query and qtype (default A); the JSON Schema accepts them', () => {
    const text = HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53, query: example.com }\n  - datagram: { from: cli, to: 10.0.0.1:53, query: _sip._udp.example.com., qtype: SRV }\n';
    const sc = parseScenario(text, 'x.yaml');
    expect(sc.steps[1]).toMatchObject({ kind: 'datagram', query: { name: 'example.com', qtype: 'A' } });
    expect(sc.steps[2]).toMatchObject({ kind: 'datagram', query: { name: '_sip._udp.example.com.', qtype: 'SRV' } });
    const ajv = new Ajv2020.default({ strict: true, strictRequired: false, allErrors: true });
    const validate = ajv.compile(scenarioJsonSchema({ policies: BUILTIN_POLICIES }));
    expect(validate(parseYaml(text)), JSON.stringify(validate.errors)).toBe(true);
    expect(validate(parseYaml(HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53, query: "a..b" }\n'))).toBe(false);
    expect(validate(parseYaml(HEAD + UDP + '  - datagram: { from: cli, to: 10.0.0.1:53, query: a.b, qtype: AXFR }\n'))).toBe(false);
  });
});
