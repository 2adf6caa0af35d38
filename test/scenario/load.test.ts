import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadScenarioFile, parseScenario } from '../../src/scenario/load.js';
import { scenarioJsonSchema, scenarioJsonSchemaText } from '../../src/scenario/write-schema.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { ScenarioError, type Step } from '../../src/scenario/types.js';

// The complete example of shared SCENARIO.md, verbatim.
const EXAMPLE = `name: multi-homed host, wildcard listener plus a specific listener
description: >
  The 1999 question: one process listens on INADDR_ANY:8080, a second binds one
  alias of the same host on port 8080. Which binds succeed, and who gets each connection?
seed: 7                      # optional, default 1: MACs, ISNs, ephemeral ports, reuseport picks
policies: [linux-1.3.60, pajari-1999, linux, bsd44]   # optional; default: every built-in policy
hosts:
  server:
    interfaces:
      eth0:
        mac: 02:00:00:00:00:01          # optional; derived from the seed when absent
        addresses: [10.0.0.1/24, 10.0.0.2/24, 10.0.0.3/24, fd00::1/64]
    processes:
      httpd: { uid: 0 }
      other: { uid: 1000 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }
steps:
  - socket: web
    process: server/httpd
    options: { SO_REUSEADDR: true }
  - bind: web
    address: 0.0.0.0:8080
  - listen: web
  - socket: alias2
    process: server/other
    options: { SO_REUSEADDR: true }
  - bind: alias2
    address: 10.0.0.2:8080
    expect: { linux-1.3.60: EADDRINUSE, linux: EADDRINUSE, default: ok }
  - listen: alias2
  - connect: { from: client, to: 10.0.0.2:8080, send: "GET / HTTP/1.0\\r\\n\\r\\n" }
    expect: { bsd44: alias2, pajari-1999: alias2, default: web }
  - connect: { from: client, to: 10.0.0.1:8080 }
    expect: web
`;

// The example names bsd44, which is not (yet) among BUILTIN_POLICIES.
const EXAMPLE_POLICIES = [...BUILTIN_POLICIES, 'bsd44'];

// Lines 1-11; steps follow from line 12.
const HEAD = `name: t
hosts:
  srv:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, fd00::1/64] }
    processes:
      p: {}
  cli:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
`;
const SOCK = '  - socket: s\n    process: srv/p\n'; // lines 12-13

function errorOf(text: string, file = 'x.yaml'): string {
  try {
    parseScenario(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).message;
  }
  throw new Error('parsed without error');
}

describe('parseScenario rejects bad input with file:line:col', () => {
  it.each<[string, string, string]>([
    // YAML itself
    ['YAML syntax', 'name: [t\nhosts: {}\n', 'x.yaml:2:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['duplicate key', 'name: t\nname: u\n', 'x.yaml:2:1: YAML: Map keys must be unique'],
    ['empty document', '# nothing\n', 'x.yaml:1:1: the scenario is empty; expected a map with keys name, hosts and steps'],
    ['not a map', '- a\n', 'x.yaml:1:1: a scenario is a map with keys name, description, seed, policies, hosts, links, steps; got a list'],
    // top level
    ['unknown top-level key', 'nmae: t\n', 'x.yaml:1:1: unknown key "nmae" in scenario; expected one of: name, description, seed, policies, hosts, links, steps'],
    ['missing name, and empty hosts and steps: each reported', 'hosts: {}\nsteps: []\n',
      'x.yaml:1:1: missing required key "name" in scenario\nx.yaml:1:8: hosts: expected at least 1 entry\nx.yaml:2:8: steps: expected at least 1 item'],
    ['name on two lines', 'name: "a\\nb"\n' + HEAD.slice(8) + SOCK, 'x.yaml:1:7: name "a\\nb" is not a single line'],
    ['seed not an integer', 'seed: x\n' + HEAD + SOCK, 'x.yaml:1:7: seed: expected an integer, got string "x"'],
    ['seed out of range', 'seed: -1\n' + HEAD + SOCK, 'x.yaml:1:7: seed: -1 is out of range 0..4294967295'],
    ['policies not a list', 'policies: linux\n' + HEAD + SOCK, 'x.yaml:1:11: policies: expected a list, got string "linux"'],
    ['unknown policy', 'policies: [linux, bsd]\n' + HEAD + SOCK,
      `x.yaml:1:19: policy "bsd" is not a known policy; known policies: ${BUILTIN_POLICIES.join(', ')}`],
    ['policy twice', 'policies: [linux, linux]\n' + HEAD + SOCK, 'x.yaml:1:19: policy "linux" is listed twice'],
    ['no steps', HEAD.replace('steps:\n', 'steps: []\n'), 'x.yaml:11:8: steps: expected at least 1 item'],
    // hosts, interfaces, links, sysctl
    ['bad interface address', HEAD.replace('10.0.0.100/24', '10.0.0.300/24') + SOCK,
      'x.yaml:10:27: interface address "10.0.0.300/24" is not an IPv4 or IPv6 address with an optional /prefix'],
    ['bad mac', HEAD.replace('eth0: { addresses: [10.0.0.100/24] }', 'eth0: { mac: 02:00:00:00:01, addresses: [] }') + SOCK,
      'x.yaml:10:20: mac "02:00:00:00:01" is not a MAC address like 02:00:00:00:00:01, or "arp"'],
    ['uid wrong type', HEAD.replace('p: {}', 'p: { uid: root }') + SOCK,
      'x.yaml:7:17: hosts.srv.processes.p.uid: expected an integer, got string "root"'],
    ['unknown key in interface', HEAD.replace('eth0: { addresses: [10.0.0.100/24] }', 'eth0: { adresses: [10.0.0.100/24] }') + SOCK,
      'x.yaml:10:15: unknown key "adresses" in interface; expected one of: mac, addresses, link'],
    ['undeclared link with links', 'links: { wan: { latency: 1ms } }\n' + HEAD + SOCK,
      'x.yaml:6:13: interface "eth0" of host "srv" is on link "lan", which is not declared in links; declared: wan'],
    ['link without links', HEAD.replace('eth0: { addresses: [10.0.0.100/24] }', 'eth0: { addresses: [10.0.0.100/24], link: wan }') + SOCK,
      'x.yaml:10:49: interface "eth0" of host "cli" is on link "wan", but without a links map the only link is "lan"'],
    ['bad link latency', 'links: { lan: { latency: 1 ms } }\n' + HEAD + SOCK,
      'x.yaml:1:26: link latency "1 ms" is not a duration such as 250ns, 100us, 500ms, 61s, 4m or 1h'],
    ['ip_nonlocal_bind 2', HEAD.replace('p: {}', 'p: {}\n    sysctl: { ip_nonlocal_bind: 2 }') + SOCK,
      'x.yaml:8:33: hosts.srv.sysctl.ip_nonlocal_bind: 2 is out of range 0..1'],
    ['ip_nonlocal_bind string', HEAD.replace('p: {}', 'p: {}\n    sysctl: { ip_nonlocal_bind: "yes" }') + SOCK,
      'x.yaml:8:33: hosts.srv.sysctl.ip_nonlocal_bind: expected a boolean or 0/1, got string "yes"'],
    ['port range reversed', HEAD.replace('p: {}', 'p: {}\n    sysctl: { ip_local_port_range: "60999 32768" }') + SOCK,
      'x.yaml:8:36: ip_local_port_range "60999 32768": the low port 60999 is above the high port 32768'],
    ['port range port 0', HEAD.replace('p: {}', 'p: {}\n    sysctl: { ip_local_port_range: "0 100" }') + SOCK,
      'x.yaml:8:36: ip_local_port_range "0 100" is not two ports in 1..65535, "LOW HIGH"'],
    ['unprivileged port start', HEAD.replace('p: {}', 'p: {}\n    sysctl: { ip_unprivileged_port_start: 70000 }') + SOCK,
      'x.yaml:8:43: hosts.srv.sysctl.ip_unprivileged_port_start: 70000 is out of range 0..65535'],
    // step kinds
    // Linux refuses automatic ports below the privileged ones (sysctl_net_ipv4.c ipv4_local_port_range)
    ['port range below the unprivileged start', HEAD.replace('p: {}', 'p: {}\n    sysctl: { ip_local_port_range: "500 600" }') + SOCK,
      'x.yaml:8:36: ip_local_port_range "500 600": the low port 500 is below ip_unprivileged_port_start 1024; Linux refuses that'],
    ['unknown step key', HEAD + '  - bnd: s\n', 'x.yaml:12:5: unknown key "bnd" in step; expected one of: socket, setsockopt, bind, listen, close, connect, wait, address, join, leave, datagram'],
    ['two kinds', HEAD + SOCK + '  - bind: s\n    listen: s\n',
      'x.yaml:15:5: step has two kinds, "bind" and "listen"; a step has exactly one of: socket, setsockopt, bind, listen, close, connect, wait, address, join, leave, datagram'],
    ['no kind', HEAD + '  - note: hello\n', 'x.yaml:12:5: step has no kind; expected one of: socket, setsockopt, bind, listen, close, connect, wait, address, join, leave, datagram'],
    ['unknown key in bind step', HEAD + SOCK + '  - bind: s\n    adress: 10.0.0.1:80\n',
      'x.yaml:15:5: unknown key "adress" in bind step; expected one of: bind, address, expect, note'],
    ['missing bind address', HEAD + SOCK + '  - bind: s\n', 'x.yaml:14:5: missing required key "address" in bind step'],
    // SCENARIO.md: "expect and note may go on any step"; a wait expects a socket-call result
    ['a connect result expected of a wait step', HEAD + '  - wait: 1s\n    expect: refused\n',
      'x.yaml:13:13: steps[0].expect: expected one of ok, EADDRINUSE, EADDRNOTAVAIL, EACCES, EINVAL, ENOPROTOOPT, EIO, EBADF, ENODEV, EAFNOSUPPORT, EOPNOTSUPP, EPERM, EEXIST, ENETUNREACH, EHOSTUNREACH, got string "refused"'],
    // socket steps
    ['process not HOST/PROC', HEAD + '  - socket: s\n    process: srv\n', 'x.yaml:13:14: process "srv" is not HOST/PROCESS'],
    ['process on unknown host', HEAD + '  - socket: s\n    process: srv2/p\n',
      'x.yaml:13:14: process "srv2/p": no host "srv2"; hosts are: srv, cli'],
    ['unknown process', HEAD + '  - socket: s\n    process: srv/q\n',
      'x.yaml:13:14: process "srv/q": host "srv" has no process "q"; its processes are: p'],
    ['duplicate socket', HEAD + SOCK + '  - socket: s\n    process: srv/p\n', 'x.yaml:14:13: socket "s" already exists (created at line 12)'],
    ['socket named like an outcome', HEAD + '  - socket: refused\n    process: srv/p\n',
      'x.yaml:12:13: socket name "refused" is reserved: it is a connect outcome'],
    ['bad family', HEAD + SOCK + '    family: inet4\n', 'x.yaml:14:13: steps[0].family: expected one of inet, inet6, got string "inet4"'],
    ['unknown option', HEAD + SOCK + '    options: { SO_REUSE: true }\n',
      'x.yaml:14:16: unknown key "SO_REUSE" in options; expected one of: SO_REUSEADDR, SO_REUSEPORT, SO_REUSEPORT_LB, SO_EXCLUSIVEADDRUSE, IPV6_V6ONLY, IP_FREEBIND, SO_BINDTODEVICE, SO_BROADCAST, IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP, IP_MULTICAST_ALL, IP_MULTICAST_IF, IP_PKTINFO, IPV6_RECVPKTINFO, IP_RECVDSTADDR'],
    ['option not a boolean', HEAD + SOCK + '    options: { SO_REUSEADDR: yes }\n',
      'x.yaml:14:30: steps[0].options.SO_REUSEADDR: expected a boolean, got string "yes"'],
    ['SO_BINDTODEVICE unknown interface', HEAD + SOCK + '  - setsockopt: s\n    options: { SO_BINDTODEVICE: eth1 }\n',
      'x.yaml:15:33: SO_BINDTODEVICE "eth1": host "srv" has no interface "eth1"; its interfaces are: eth0'],
    // references to sockets
    ['bind of unknown socket', HEAD + SOCK + '  - bind: t\n    address: 10.0.0.1:80\n',
      'x.yaml:14:11: bind names socket "t", which no earlier socket step creates; sockets so far: s'],
    ['listen before socket', HEAD + '  - listen: s\n' + SOCK,
      'x.yaml:12:13: listen names socket "s", which no earlier socket step creates; sockets so far: (none)'],
    // addresses
    ['bad bind address', HEAD + SOCK + '  - bind: s\n    address: 10.0.0.300:80\n',
      'x.yaml:15:14: bind address "10.0.0.300:80" is not an IPv4 or IPv6 address with a port'],
    ['inet socket, IPv6 address', HEAD + SOCK + '  - bind: s\n    address: "[fd00::1]:80"\n',
      'x.yaml:15:14: bind address "[fd00::1]:80" is IPv6 but socket "s" is inet (IPv4)'],
    ['inet6 socket, IPv4 address', HEAD + SOCK + '    family: inet6\n  - bind: s\n    address: 10.0.0.1:80\n',
      'x.yaml:16:14: bind address "10.0.0.1:80" is IPv4 but socket "s" is inet6; write it v4-mapped: "[::ffff:10.0.0.1]:80"'],
    ['backlog not an integer', HEAD + SOCK + '  - listen: s\n    backlog: lots\n',
      'x.yaml:15:14: steps[1].backlog: expected an integer, got string "lots"'],
    // connect
    ['connect from unknown host', HEAD + '  - connect: { from: client, to: 10.0.0.1:80 }\n',
      'x.yaml:12:22: connect from "client": no host "client"; hosts are: srv, cli'],
    ['connect from unknown process', HEAD + '  - connect: { from: cli/curl, to: 10.0.0.1:80 }\n',
      'x.yaml:12:22: connect from "cli/curl": host "cli" has no process "curl"; its processes are: (none)'],
    ['connect missing to', HEAD + '  - connect: { from: cli }\n', 'x.yaml:12:14: missing required key "to" in connect'],
    ['connect count 0', HEAD + '  - connect: { from: cli, to: 10.0.0.1:80, count: 0 }\n',
      'x.yaml:12:51: steps[0].connect.count: 0 is out of range 1..65535'],
    ['connect close both', HEAD + '  - connect: { from: cli, to: 10.0.0.1:80, close: both }\n',
      'x.yaml:12:51: steps[0].connect.close: expected one of client, server, none, got string "both"'],
    ['connect source family', HEAD + '  - connect: { from: cli, to: 10.0.0.1:80, source: "fd00::100" }\n',
      'x.yaml:12:52: connect source "fd00::100" is IPv6 but the destination "10.0.0.1:80" is IPv4'],
    // wait and address steps
    ['bad duration', HEAD + '  - wait: 5 sec\n', 'x.yaml:12:11: wait duration "5 sec" is not a duration such as 250ns, 100us, 500ms, 61s, 4m or 1h'],
    ['address step, unknown host', HEAD + '  - address: { host: srv2, interface: eth0, add: 10.0.0.9/24 }\n',
      'x.yaml:12:22: address step: no host "srv2"; hosts are: srv, cli'],
    ['address step, unknown interface', HEAD + '  - address: { host: srv, interface: eth9, add: 10.0.0.9/24 }\n',
      'x.yaml:12:38: interface "eth9": host "srv" has no interface "eth9"; its interfaces are: eth0'],
    ['address step, add and del', HEAD + '  - address: { host: srv, interface: eth0, add: 10.0.0.9/24, del: 10.0.0.1/24 }\n',
      'x.yaml:12:14: address step needs exactly one of: add, del'],
    // expectations
    ['bad errno', HEAD + SOCK + '    expect: EADRINUSE\n',
      'x.yaml:14:13: steps[0].expect: expected one of ok, EADDRINUSE, EADDRNOTAVAIL, EACCES, EINVAL, ENOPROTOOPT, EIO, EBADF, ENODEV, EAFNOSUPPORT, EOPNOTSUPP, EPERM, EEXIST, ENETUNREACH, EHOSTUNREACH, got string "EADRINUSE"'],
    ['expect unknown policy key', HEAD + SOCK + '    expect: { linx: ok }\n',
      `x.yaml:14:15: expect key "linx" is not a known policy or "default"; known policies: ${BUILTIN_POLICIES.join(', ')}`],
    ['expect a number', HEAD + SOCK + '    expect: 1\n',
      'x.yaml:14:13: steps[0].expect: expected "ok" or an errno name, a list of them, or a map of policy name to them, got number 1'],
    ['connect expects unknown socket', HEAD + SOCK + '  - connect: { from: cli, to: 10.0.0.1:80 }\n    expect: [s, w]\n',
      'x.yaml:15:17: expected connect result "w" is neither a socket of this scenario (s) nor one of: refused, unreachable, timeout (or an errno of the client\'s bind)'],
  ])('%s', (_name, text, message) => {
    expect(errorOf(text)).toBe(message);
  });
});

describe('parseScenario accepts good files', () => {
  it('parses the SCENARIO.md example', () => {
    const s = parseScenario(EXAMPLE, 'scenarios/example.yaml', { policies: EXAMPLE_POLICIES });
    expect(s.file).toBe('scenarios/example.yaml');
    expect(s.name).toBe('multi-homed host, wildcard listener plus a specific listener');
    expect(s.description).toMatch(/^The 1999 question: .* each connection\?\n$/);
    expect(s.seed).toBe(7);
    expect(s.policies).toEqual(['linux-1.3.60', 'pajari-1999', 'linux', 'bsd44']);
    expect(s.links).toEqual([{ name: 'lan', latencyNs: 100_000 }]);
    expect(s.hosts.map((h) => h.name)).toEqual(['server', 'client']);
    const [server, client] = s.hosts;
    expect(server!.interfaces[0]!.mac).toBe('02:00:00:00:00:01');
    expect(server!.interfaces[0]!.addresses.map((a) => a.text)).toEqual(['10.0.0.1/24', '10.0.0.2/24', '10.0.0.3/24', 'fd00::1/64']);
    expect(server!.interfaces[0]!.link).toBe('lan');
    expect(server!.processes).toEqual([{ name: 'httpd', uid: 0 }, { name: 'other', uid: 1000 }]);
    expect(client!.interfaces[0]!.mac).toBeUndefined();
    expect(client!.processes).toEqual([]);
    expect(client!.sysctl).toEqual({ ipNonlocalBind: false, ipLocalPortRange: [32768, 60999], ipUnprivilegedPortStart: 1024, promoteSecondaries: false, tcpRmem: [4096, 131072, 6291456], rpFilter: 0 });

    expect(s.steps.map((st) => [st.index, st.kind, st.pos.line, st.pos.col])).toEqual([
      [0, 'socket', 20, 5], [1, 'bind', 23, 5], [2, 'listen', 25, 5], [3, 'socket', 26, 5],
      [4, 'bind', 29, 5], [5, 'listen', 32, 5], [6, 'connect', 33, 5], [7, 'connect', 35, 5],
    ]);
    const step = <K extends Step['kind']>(i: number, kind: K): Extract<Step, { kind: K }> => {
      const st = s.steps[i]!;
      expect(st.kind).toBe(kind);
      return st as Extract<Step, { kind: K }>;
    };
    expect(step(0, 'socket')).toMatchObject({ socket: 'web', host: 'server', process: 'httpd', family: 'inet', options: { SO_REUSEADDR: true } });
    expect(step(1, 'bind').address.addr.text).toBe('0.0.0.0');
    expect(step(1, 'bind').address.port).toBe(8080);
    expect(step(1, 'bind').expect).toBeUndefined();
    expect(step(2, 'listen').backlog).toBe(128);
    const bindExpect = step(4, 'bind').expect!;
    expect([...bindExpect.byPolicy]).toEqual([['linux-1.3.60', ['EADDRINUSE']], ['linux', ['EADDRINUSE']]]);
    expect(bindExpect.fallback).toEqual(['ok']);
    expect(bindExpect.pos).toEqual({ line: 31, col: 13 });
    const c = step(6, 'connect');
    expect(c).toMatchObject({ from: 'client', send: 'GET / HTTP/1.0\r\n\r\n', close: 'client', count: 1 });
    expect(c.fromProcess).toBeUndefined();
    expect(c.to.addr.text).toBe('10.0.0.2');
    expect([...c.expect!.byPolicy]).toEqual([['bsd44', ['alias2']], ['pajari-1999', ['alias2']]]);
    expect(c.expect!.fallback).toEqual(['web']);
    expect(step(7, 'connect').expect).toMatchObject({ fallback: ['web'] });
    expect(step(7, 'connect').expect!.byPolicy.size).toBe(0);
  });

  it('applies defaults and converts every value kind', () => {
    const s = parseScenario(`name: all kinds
hosts:
  b:
    interfaces:
      if1: { mac: AA:BB:CC:DD:EE:0F, addresses: [10.0.1.1/24], link: wan }
      if0: { mac: arp, addresses: [] }
    processes: { z: { uid: 1000 }, a: {} }
    sysctl: { ip_nonlocal_bind: 1, ip_local_port_range: "1024  65535", ip_unprivileged_port_start: 0 }
links:
  wan: { latency: 1ms }
  lan: {}
steps:
  - socket: v6
    process: b/a
    family: inet6
    options: { SO_BINDTODEVICE: if0, IPV6_V6ONLY: false }
  - setsockopt: v6
    options: { SO_REUSEPORT: true }
  - bind: v6
    address: "[::ffff:10.0.1.1]:0"
    expect: [ok, EADDRINUSE]
  - listen: v6
    backlog: 5
  - connect: { from: b/z, to: "[::ffff:10.0.1.1]:80", source: 10.0.1.1, close: none, count: 3 }
    expect: { default: [refused, v6] }
    note: twice
  - wait: 61s
  - wait: 250ns
  - wait: 4m
  - address: { host: b, interface: if0, add: fd00::5/64 }
  - address: { host: b, interface: if0, del: fd00::5 }
  - close: v6
`, 'k.yaml');
    expect(s.seed).toBe(1);
    expect(s.policies).toBeUndefined();
    expect(s.links).toEqual([{ name: 'wan', latencyNs: 1_000_000 }, { name: 'lan', latencyNs: 100_000 }]);
    const b = s.hosts[0]!;
    expect(b.interfaces.map((i) => [i.name, i.mac, i.link])).toEqual([['if1', 'aa:bb:cc:dd:ee:0f', 'wan'], ['if0', 'arp', 'lan']]);
    expect(b.processes).toEqual([{ name: 'z', uid: 1000 }, { name: 'a', uid: 0 }]);
    expect(b.sysctl).toEqual({ ipNonlocalBind: true, ipLocalPortRange: [1024, 65535], ipUnprivilegedPortStart: 0, promoteSecondaries: false, tcpRmem: [4096, 131072, 6291456], rpFilter: 0 });
    const [sock, opt, bind, listen, conn, w1, w2, w3, add, del, close] = s.steps;
    expect(sock).toMatchObject({ kind: 'socket', family: 'inet6', options: { IPV6_V6ONLY: false, SO_BINDTODEVICE: 'if0' } });
    expect(opt).toMatchObject({ kind: 'setsockopt', socket: 'v6', options: { SO_REUSEPORT: true } });
    expect(bind).toMatchObject({ kind: 'bind', expect: { fallback: ['ok', 'EADDRINUSE'] } });
    expect(bind!.kind === 'bind' && bind.address.addr.text).toBe('::ffff:10.0.1.1');
    expect(listen).toMatchObject({ kind: 'listen', backlog: 5 });
    expect(conn).toMatchObject({ kind: 'connect', from: 'b', fromProcess: 'z', close: 'none', count: 3, note: 'twice', expect: { fallback: ['refused', 'v6'] } });
    expect(conn!.kind === 'connect' && conn.source?.addr.text).toBe('10.0.1.1');
    expect(conn!.kind === 'connect' && conn.source?.port).toBeUndefined();
    expect([w1, w2, w3].map((w) => w!.kind === 'wait' && w.durationNs)).toEqual([61e9, 250, 240e9]);
    expect(add).toMatchObject({ kind: 'address', host: 'b', interface: 'if0' });
    expect(add!.kind === 'address' && add.add?.text).toBe('fd00::5/64');
    expect(del!.kind === 'address' && del.del?.text).toBe('fd00::5/128');
    expect(close).toMatchObject({ kind: 'close', socket: 'v6', index: 10 });
  });

  it('accepts SO_BINDTODEVICE "" (no device: unbinds), in the loader and the JSON Schema', () => {
    const text = HEAD + SOCK + '    options: { SO_BINDTODEVICE: eth0 }\n  - setsockopt: s\n    options: { SO_BINDTODEVICE: "" }\n';
    expect(parseScenario(text, 'x.yaml').steps[1]).toMatchObject({ kind: 'setsockopt', options: { SO_BINDTODEVICE: '' } });
    const validate = new Ajv2020.default({ strict: true, strictRequired: false }).compile(scenarioJsonSchema({ policies: EXAMPLE_POLICIES }));
    expect(validate(parseYaml(text)), JSON.stringify(validate.errors)).toBe(true);
  });

  it('accepts a connect expectation naming a socket created later', () => {
    expect(() => parseScenario(HEAD + '  - connect: { from: cli, to: 10.0.0.1:80 }\n    expect: late\n' + '  - socket: late\n    process: srv/p\n', 'x.yaml')).not.toThrow();
  });
});

describe('loadScenarioFile', () => {
  it('reads a file and reports an unreadable one at 1:1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bindlab-'));
    try {
      const file = join(dir, 'ok.yaml');
      writeFileSync(file, HEAD + SOCK);
      expect(loadScenarioFile(file).file).toBe(file);
      const missing = join(dir, 'missing.yaml');
      expect(() => loadScenarioFile(missing)).toThrow(`${missing}:1:1: cannot read scenario: ENOENT: no such file or directory`);
      expect(() => loadScenarioFile(dir)).toThrow(`${dir}:1:1: cannot read scenario: EISDIR: illegal operation on a directory`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('the JSON Schema', () => {
  const ajv = new Ajv2020.default({ strict: true, strictRequired: false, allErrors: true });
  const validate = ajv.compile(scenarioJsonSchema({ policies: EXAMPLE_POLICIES }));

  it('accepts the SCENARIO.md example', () => {
    expect(validate(parseYaml(EXAMPLE)), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['an unknown step key', HEAD + '  - bnd: s\n'],
    ['two step kinds', HEAD + SOCK + '  - bind: s\n    listen: s\n'],
    ['a bad errno', HEAD + SOCK + '    expect: EADRINUSE\n'],
    ['a seed string', 'seed: x\n' + HEAD + SOCK],
    ['an unknown policy', 'policies: [bsd]\n' + HEAD + SOCK],
    ['a connect result on a wait', HEAD + '  - wait: 1s\n    expect: refused\n'],
    ['a bad duration', HEAD + '  - wait: 5 sec\n'],
    ['add and del', HEAD + '  - address: { host: srv, interface: eth0, add: 10.0.0.9/24, del: 10.0.0.1/24 }\n'],
    ['a missing name', HEAD.replace('name: t\n', '') + SOCK],
  ])('rejects %s', (_name, text) => {
    expect(validate(parseYaml(text))).toBe(false);
  });

  it('accepts what the loader accepts in the test head', () => {
    expect(validate(parseYaml(HEAD + SOCK)), JSON.stringify(validate.errors)).toBe(true);
  });

  it('is what schema/scenario.schema.json holds', () => {
    const onDisk = readFileSync(new URL('../../schema/scenario.schema.json', import.meta.url), 'utf8');
    expect(onDisk).toBe(scenarioJsonSchemaText());
  });
});
