// The UDP side of replay, capture side: datagrams and ICMP port unreachables decoded from frame
// bytes (IPv4 and IPv6), the socket a reply's payload names, the verdict on a datagram against
// what the capture shows, and a DNS capture recorded on the Linux kernel read back: which socket
// answered each query and from which address.
import { describe, it, expect } from 'vitest';
import * as path from 'node:path';
import { bannerSocketIn, decodeDatagram, DG_FRAGMENT, DG_MALFORMED, DG_OTHER, DG_PORT_UNREACHABLE, DG_TRUNCATED, DG_UDP, newDatagram } from '../../src/replay/datagram.js';
import { datagramAgreement } from '../../src/replay/agreement.js';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../../src/pcap/linktypes.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { spawnSync } from 'node:child_process';
import { noTshark } from '../tools.js';
import { parseIp } from '../../src/emu/addr.js';

const ROOT = path.join(import.meta.dirname, '../..');
const FIX = path.join(ROOT, 'test/replay/fixtures/udp');
const CAPTURES = path.join(ROOT, 'captures');

const v4 = (a: string): number[] => a.split('.').map(Number);
const v6 = (a: string): number[] => {
  const [head, tail] = a.split('::') as [string, string | undefined];
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head), t = words(tail);
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((w) => [w >> 8, w & 255]);
};
const u16 = (n: number): number[] => [n >> 8, n & 255];
const udp = (sport: number, dport: number, payload: number[], len = 8 + payload.length): number[] => [...u16(sport), ...u16(dport), ...u16(len), 0, 0, ...payload];
const ipv4 = (src: string, dst: string, proto: number, body: number[], frag = 0): number[] =>
  [0x45, 0, ...u16(20 + body.length), 0, 1, ...u16(frag), 64, proto, 0, 0, ...v4(src), ...v4(dst), ...body];
const ipv6 = (src: string, dst: string, next: number, body: number[]): number[] =>
  [0x60, 0, 0, 0, ...u16(body.length), next, 64, ...v6(src), ...v6(dst), ...body];
const ether = (type: number, ip: number[]): Uint8Array => Uint8Array.from([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x64, ...u16(type), ...ip]);
const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

/** A scenario of one host at address/24 whose process named has one UDP socket, dns, bound to 0.0.0.0:53. */
const dnsServerScenario = (name: string, address: string): string => `name: ${name}
hosts:
  server:
    interfaces:
      eth0: { addresses: [${address}/24] }
    processes:
      named: { uid: 0 }
steps:
  - socket: dns
    process: server/named
    type: udp
  - bind: dns
    address: 0.0.0.0:53
`;

function decode(frame: Uint8Array, linkType = LINKTYPE_ETHERNET) {
  const dg = newDatagram();
  const kind = decodeDatagram(linkType, frame, 0, frame.length, dg);
  const addr = (at: number) => (dg.family === 4 ? [...frame.subarray(at, at + 4)].join('.') : Buffer.from(frame.subarray(at, at + 16)).toString('hex'));
  return { kind, dg, src: addr(dg.srcAt), dst: addr(dg.dstAt), from: addr(dg.fromAt) };
}

describe('decodeDatagram', () => {
  it('reads an IPv4 UDP datagram: addresses, ports and payload', () => {
    const { kind, dg, src, dst } = decode(ether(0x0800, ipv4('10.0.0.100', '10.0.0.1', 17, udp(40000, 53, ascii('query')))));
    expect(kind).toBe(DG_UDP);
    expect([src, dg.srcPort, dst, dg.dstPort, dg.payloadLen, dg.payloadCaptured]).toEqual(['10.0.0.100', 40000, '10.0.0.1', 53, 5, 5]);
    expect(dg.macAt).toBe(6);
  });

  it('reads an IPv6 UDP datagram behind a destination-options header, and a raw-IP frame', () => {
    const dstopts = [17, 0, 1, 4, 0, 0, 0, 0];
    const { kind, dg, src } = decode(ether(0x86dd, ipv6('fd00::100', 'fd00::1', 60, [...dstopts, ...udp(5000, 53, [1, 2, 3])])));
    expect(kind).toBe(DG_UDP);
    expect([src, dg.srcPort, dg.dstPort, dg.payloadLen]).toEqual([Buffer.from(v6('fd00::100')).toString('hex'), 5000, 53, 3]);
    const raw = Uint8Array.from(ipv4('10.0.0.100', '10.0.0.1', 17, udp(1, 2, [])));
    expect(decode(raw, LINKTYPE_RAW).kind).toBe(DG_UDP);
    expect(decode(raw, LINKTYPE_RAW).dg.macAt).toBe(-1);
  });

  it('reads an ICMP port unreachable: the quoted datagram (client to server) and the host that sent it', () => {
    const quoted = ipv4('10.0.0.100', '10.0.0.2', 17, udp(41777, 54, ascii('query')));
    const { kind, dg, src, dst, from } = decode(ether(0x0800, ipv4('10.0.0.2', '10.0.0.100', 1, [3, 3, 0, 0, 0, 0, 0, 0, ...quoted])));
    expect(kind).toBe(DG_PORT_UNREACHABLE);
    expect([src, dg.srcPort, dst, dg.dstPort, from]).toEqual(['10.0.0.100', 41777, '10.0.0.2', 54, '10.0.0.2']);
  });

  it('reads an ICMPv6 port unreachable (type 1 code 4)', () => {
    const quoted = ipv6('fd00::100', 'fd00::1', 17, udp(5000, 54, [1]));
    const { kind, dg } = decode(ether(0x86dd, ipv6('fd00::1', 'fd00::100', 58, [1, 4, 0, 0, 0, 0, 0, 0, ...quoted])));
    expect(kind).toBe(DG_PORT_UNREACHABLE);
    expect([dg.srcPort, dg.dstPort]).toEqual([5000, 54]);
  });

  it.each([
    ['an ICMP echo request', ether(0x0800, ipv4('10.0.0.100', '10.0.0.1', 1, [8, 0, 0, 0, 0, 1, 0, 1])), DG_OTHER],
    ['an ICMP host unreachable quoting UDP', ether(0x0800, ipv4('10.0.0.2', '10.0.0.100', 1, [3, 1, 0, 0, 0, 0, 0, 0, ...ipv4('10.0.0.100', '10.0.0.9', 17, udp(1, 2, []))])), DG_OTHER],
    ['a port unreachable quoting TCP', ether(0x0800, ipv4('10.0.0.2', '10.0.0.100', 1, [3, 3, 0, 0, 0, 0, 0, 0, ...ipv4('10.0.0.100', '10.0.0.2', 6, [0, 1, 0, 2, 0, 0, 0, 0])])), DG_OTHER],
    ['ARP', Uint8Array.from([...ether(0x0806, new Array(28).fill(0))]), DG_OTHER],
    ['a UDP length below its header', ether(0x0800, ipv4('10.0.0.100', '10.0.0.1', 17, udp(1, 2, [], 0))), DG_MALFORMED],
    ['a UDP length past the IP packet', ether(0x0800, ipv4('10.0.0.100', '10.0.0.1', 17, udp(1, 2, [1, 2], 30))), DG_MALFORMED],
    ['a UDP header cut short', ether(0x0800, ipv4('10.0.0.100', '10.0.0.1', 17, [0, 1, 0])), DG_TRUNCATED],
    ['a first fragment', ether(0x0800, ipv4('10.0.0.100', '10.0.0.1', 17, udp(1, 2, [1]), 0x2000)), DG_FRAGMENT],
  ])('%s', (_, frame, want) => {
    expect(decode(frame).kind).toBe(want);
  });
});

describe('bannerSocketIn: the socket a reply names', () => {
  const find = (bytes: number[]) => bannerSocketIn(Uint8Array.from(bytes), 0, bytes.length);
  it.each([
    ['a raw banner', ascii('bindlab server/named/dns1\r\n'), 'dns1'],
    ['a DNS TXT record holding it', [0x0b, 0x1d, 0x81, 0x80, 0x19, ...ascii('bindlab server/named/dns2')], 'dns2'],
    ['no banner', ascii('hello bindlab'), undefined],
    ['a banner without three parts', ascii('bindlab server/dns1\r\n'), undefined],
  ])('%s', (_, bytes, want) => {
    expect(find(bytes)).toBe(want);
  });
  it('names many sockets in turn, each time the right one (more names than it keeps decoded, same lengths, one buffer rewritten)', () => {
    const buf = new Uint8Array(64);
    const names = Array.from({ length: 40 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    for (let round = 0; round < 3; round++) {
      for (const name of [...names, ...names.slice(0, 5).reverse()]) {
        const bytes = ascii(`bindlab server/named/${name}\r\n`);
        buf.fill(0);
        buf.set(bytes, 7);
        expect(bannerSocketIn(buf, 0, buf.length)).toBe(name);
      }
    }
  });
});

describe('datagramAgreement: a policy\'s result against what the capture shows', () => {
  it.each([
    // observed, answered from, result, candidates, replyFrom, agrees
    ['dns1', '10.0.0.1:53', 'dns1', [], '', true],
    ['dns1', '10.0.0.1:53', 'dns2', [], '', false],
    ['received', '10.0.0.1:53', 'dns2', [], '', true],
    ['w2', '10.0.0.1:53', 'w1', ['w1', 'w2'], '', true],
    ['b', '10.0.0.1:53', 'a+b', [], '', true],
    ['cache', '10.0.0.1:53', 'cache', [], '10.0.0.1', true],
    ['cache', '10.0.0.1:53', 'cache', [], '10.0.0.3', false],
    ['dns1', '10.0.0.1:53', 'port-unreachable', [], '', false],
    ['port-unreachable', '10.0.0.2', 'port-unreachable', [], '', true],
    ['port-unreachable', '10.0.0.2', 'dns1', [], '', false],
    ['port-unreachable', '10.0.0.2', 'dropped', [], '', false],
    [undefined, undefined, 'dropped', [], '', true],
    [undefined, undefined, 'dns1', [], '', true],
    [undefined, undefined, 'port-unreachable', [], '', false],
  ] as const)('capture %s (from %s), policy %s', (observed, from, result, candidates, replyFrom, agrees) => {
    const v = datagramAgreement(observed, from, { result, candidates, replyFrom }, 'linux');
    expect(v.agrees, v.why).toBe(agrees);
    expect(v.why).toMatch(/^the capture shows .*; linux /);
  });
});

describe('a DNS capture recorded on Linux, against a scenario with the hosts and none of their UDP sockets', () => {
  // dns-aliases.yaml's server: dns1 on 10.0.0.1:53, dns2 on 10.0.0.2:53, resolver and cache on
  // 0.0.0.0:53, stub on 0.0.0.0:5300; nobody on port 54. dns-hosts.yaml has its hosts and no UDP socket.
  it.each(['dns-aliases.pcap', 'dns-aliases.pcapng'])('%s: each query\'s answer, the socket it names and where it came from; every policy says port-unreachable', async (name) => {
    const r = await replayCapture(path.join(CAPTURES, name), loadScenarioFile(path.join(FIX, 'dns-hosts.yaml')), { policies: ['linux', 'windows'] });
    expect(r.attempts).toBe(0);
    expect(r.datagrams).toBe(10);
    // ARP only: every UDP datagram and ICMP error was the UDP side's.
    expect(r.skipped['not-tcp']).toBe(0);
    expect(r.skipped['not-in-a-replayed-connection']).toBe(0);
    const linux = r.policies['linux']!;
    expect(linux.datagrams.map((d) => [d.server, d.observed, d.answeredFrom])).toEqual([
      ['10.0.0.1:53', 'dns1', '10.0.0.1:53'], ['10.0.0.1:53', 'dns1', '10.0.0.1:53'],
      ['10.0.0.2:53', 'dns2', '10.0.0.2:53'], ['10.0.0.2:53', 'dns2', '10.0.0.2:53'],
      // The wildcard sockets answer from the route's source, not the alias the query went to.
      ['10.0.0.3:53', 'cache', '10.0.0.1:53'], ['10.0.0.3:53', 'cache', '10.0.0.1:53'],
      ['10.0.0.2:5300', 'stub', '10.0.0.1:5300'], ['10.0.0.3:5300', 'stub', '10.0.0.1:5300'],
      ['10.0.0.2:54', 'port-unreachable', '10.0.0.2'], ['10.0.0.2:54', 'port-unreachable', '10.0.0.2'],
    ]);
    expect(linux.datagrams.map((d) => d.index)).toEqual([...Array(10).keys()]);
    expect(linux.datagrams.every((d) => /^10\.0\.0\.100:\d+$/.test(d.client) && /^2026-/.test(d.time))).toBe(true);
    for (const p of ['linux', 'windows']) {
      expect(r.policies[p]!.datagramResults).toEqual({ 'port-unreachable': 10 });
      // Only port 54's ICMP agrees: the capture's 8 answers say some socket received those.
      expect([r.policies[p]!.agreement.agree, r.policies[p]!.agreement.disagree]).toEqual([2, 8]);
      expect(r.policies[p]!.agreement.disagreements[0]).toMatchObject({ kind: 'datagram', index: 0, observed: 'dns1', result: 'port-unreachable' });
    }
  });
});

describe('the DNS capture replayed against its own scenario: which socket under each policy', () => {
  const scenario = loadScenarioFile(path.join(CAPTURES, 'dns-aliases.yaml'));
  const report = replayCapture(path.join(CAPTURES, 'dns-aliases.pcap'), scenario, { policies: [...BUILTIN_POLICIES] });
  // Per policy: who gets the queries to 10.0.0.3:53 (no socket bound to that alias: one of the two
  // wildcard sockets sharing the port by SO_REUSEADDR). The others are the same everywhere: each
  // alias's own socket, the stub, and port 54's ICMP.
  it.each([
    ['linux', 'cache'], ['linux-2.2', 'cache'], ['linux-1.3.60', 'cache'], ['pajari-1999', 'cache'], ['windows', 'cache'],
    ['bsd44', 'resolver'], ['freebsd', 'resolver'], ['macos', 'resolver'], ['illumos', 'resolver'],
  ])('%s: the queries to 10.0.0.3:53 go to %s', async (policy, wildcard) => {
    const pr = (await report).policies[policy]!;
    expect(pr.datagrams.map((d) => d.result)).toEqual(['dns1', 'dns1', 'dns2', 'dns2', wildcard, wildcard, 'stub', 'stub', 'port-unreachable', 'port-unreachable']);
    // Each wildcard socket's reply leaves from the route's source toward the client (10.0.0.1), as the capture shows Linux doing.
    expect(pr.datagrams.map((d) => d.replyFrom ?? '-')).toEqual(['10.0.0.1:53', '10.0.0.1:53', '10.0.0.2:53', '10.0.0.2:53', '10.0.0.1:53', '10.0.0.1:53',
      '10.0.0.1:5300', '10.0.0.1:5300', '-', '-']);
    // The capture was made on Linux: its answers name cache; a policy that picks resolver disagrees on those two.
    const a = pr.agreement;
    expect([a.agree, a.disagree]).toEqual(wildcard === 'cache' ? [10, 0] : [8, 2]);
    if (wildcard !== 'cache') {
      expect(a.disagreements.map((d) => [d.kind, d.index, d.observed])).toEqual([['datagram', 4, 'cache'], ['datagram', 5, 'cache']]);
      expect(a.disagreements[0]!.why).toBe(`the capture shows cache answering from 10.0.0.1:53; ${policy} delivers it to resolver, its reply from 10.0.0.1:53`);
    }
    expect(pr.datagrams.every((d) => d.agreement !== undefined)).toBe(true);
  });

  it('--check fails for the policies that disagree (the CLI, JSON report)', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'dist/bin/bindlab.js'), 'replay', 'captures/dns-aliases.pcap', '-s', 'captures/dns-aliases.yaml',
      '-p', 'linux', '-p', 'freebsd', '--no-output', '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain('freebsd disagrees with the capture on 2 of 10 datagrams:');
    expect(r.stdout).toContain('datagram #4 10.0.0.100:');
    expect(r.stdout).not.toContain('linux disagrees');
  });
});

describe('the summary and the HTML page of a capture of datagrams alone', () => {
  it('count the datagrams and give each policy\'s results per result', async () => {
    const { renderReplaySummary } = await import('../../src/replay/summary.js');
    const { renderReplayHtml } = await import('../../src/html/replay.js');
    const scenario = loadScenarioFile(path.join(CAPTURES, 'dns-aliases.yaml'));
    const r = await replayCapture(path.join(CAPTURES, 'dns-aliases.pcap'), scenario, { policies: ['linux', 'bsd44'] });
    const text = renderReplaySummary(r, { color: false });
    expect(text).toContain('26 packets, 0 connection attempts, 10 UDP datagrams to scenario hosts');
    expect(text).toMatch(/^policy \(datagrams\)\s+cache\s+dns1\s+dns2\s+resolver\s+stub\s+port-unreachable\s+agree with the capture\s+output$/m);
    expect(text).toMatch(/^linux\s+2\s+2\s+2\s+0\s+2\s+2\s+10 of 10\s+-$/m);
    expect(text).toMatch(/^bsd44\s+0\s+2\s+2\s+2\s+2\s+2\s+8 of 10\s+-$/m);
    const page = renderReplayHtml(scenario, r, { baseDir: CAPTURES });
    expect(page).toContain('<h2>UDP datagrams</h2>');
    expect(page).toContain('the capture shows: cache (from 10.0.0.1:53)');
    expect(page).toContain('the capture shows: port-unreachable (from 10.0.0.2)');
    expect(page).toMatch(/class="cell fail" data-policy="bsd44" title="the capture shows cache answering/);
  });
});

describe('docs/report.md', () => {
  it('names every field of a replay report with datagrams (verdicts and disagreements included)', async () => {
    const fs = await import('node:fs');
    const doc = fs.readFileSync(path.join(ROOT, 'docs/report.md'), 'utf8');
    const r = await replayCapture(path.join(CAPTURES, 'dns-aliases.pcap'), loadScenarioFile(path.join(CAPTURES, 'dns-aliases.yaml')), { policies: ['bsd44'] });
    const keys = new Set<string>();
    const walk = (v: unknown, skip: boolean): void => {
      if (Array.isArray(v)) { for (const x of v) walk(x, false); return; }
      if (v === null || typeof v !== 'object') return;
      for (const [k, x] of Object.entries(v)) {
        if (!skip) keys.add(k);
        // Policy names and result words are values, not fields.
        walk(x, k === 'policies' || k === 'results' || k === 'datagramResults');
      }
    };
    walk(r, false);
    expect(keys.has('answeredFrom') && keys.has('replyFrom') && keys.has('kind')).toBe(true);
    expect([...keys].filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  });
});

describe('where the reply leaves from is part of the verdict', () => {
  it('a stub with IP_PKTINFO would answer from the alias the query came to: the capture (no IP_PKTINFO) disagrees, and the output carries the stub\'s own reply from 10.0.0.2', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const { parseScenario } = await import('../../src/scenario/load.js');
    const { readCaptureBytes } = await import('../../src/pcap/index.js');
    const text = fs.readFileSync(path.join(CAPTURES, 'dns-aliases.yaml'), 'utf8').replace(/(  - socket: stub\n    process: server\/stub\n    type: udp\n)/, '$1    options: { IP_PKTINFO: true }\n');
    expect(text).toContain('options: { IP_PKTINFO: true }');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-pktinfo-'));
    const r = await replayCapture(path.join(CAPTURES, 'dns-aliases.pcap'), parseScenario(text, 'pktinfo.yaml'), { policies: ['linux'], outDir: out });
    const stub = r.policies['linux']!.datagrams.filter((d) => d.result === 'stub');
    expect(stub.map((d) => [d.server, d.replyFrom, d.answeredFrom, d.agreement?.agrees])).toEqual([
      ['10.0.0.2:5300', '10.0.0.2:5300', '10.0.0.1:5300', false],
      ['10.0.0.3:5300', '10.0.0.3:5300', '10.0.0.1:5300', false],
    ]);
    expect(stub[0]!.agreement!.why).toBe('the capture shows stub answering from 10.0.0.1:5300; linux delivers it to stub, its reply from 10.0.0.2:5300');
    // The output: the stub's own replies, from the aliases the queries went to.
    const o = readCaptureBytes(fs.readFileSync(r.policies['linux']!.output!));
    const fromPort5300: string[] = [];
    while (o.next()) {
      const d = o.data, at = o.offset + 14;
      if (d[at + 9] === 17 && ((d[at + 20]! << 8) | d[at + 21]!) === 5300) fromPort5300.push([...d.subarray(at + 12, at + 16)].join('.'));
    }
    expect(fromPort5300).toEqual(['10.0.0.2', '10.0.0.3']);
    fs.rmSync(out, { recursive: true, force: true });
  });
});

describe('the HTML page of datagrams alone', () => {
  it('has the datagram table and no empty connection table', async () => {
    const { renderReplayHtml } = await import('../../src/html/replay.js');
    const scenario = loadScenarioFile(path.join(CAPTURES, 'dns-aliases.yaml'));
    const r = await replayCapture(path.join(CAPTURES, 'dns-aliases.pcap'), scenario, { policies: ['linux'] });
    const page = renderReplayHtml(scenario, r, { baseDir: CAPTURES });
    expect(page).toContain('<h2>UDP datagrams</h2>');
    expect(page).not.toContain('<h2>Connections</h2>');
  });
});

describe('synthetic captures: IPv6, ICMPv6, answers in order, a late answer, a capture without Ethernet', () => {
  const SCENARIO = `name: v6 resolver
hosts:
  server:
    interfaces:
      eth0: { mac: 02:00:00:00:00:01, addresses: [10.0.0.1/24, fd00::1/64] }
    processes:
      named: { uid: 0 }
  client:
    interfaces:
      eth0: { mac: 02:00:00:00:00:64, addresses: [10.0.0.100/24, fd00::100/64] }
steps:
  - socket: dns6
    process: server/named
    type: udp
    family: inet6
  - bind: dns6
    address: "[::]:53"
`;
  const banner = ascii('bindlab server/named/dns6\r\n');
  const toServer = (sport: number, dport: number, data: number[]) => ipv6('fd00::100', 'fd00::1', 17, udp(sport, dport, data));
  const toClient = (sport: number, dport: number, data: number[]) => ipv6('fd00::1', 'fd00::100', 17, udp(sport, dport, data));
  /** [time ms, IPv6 packet] */
  const packets: [number, number[]][] = [
    [0, toServer(5000, 53, ascii('q1'))], [1, toClient(53, 5000, banner)],
    [2, toServer(5000, 54, ascii('q2'))], [3, ipv6('fd00::1', 'fd00::100', 58, [1, 4, 0, 0, 0, 0, 0, 0, ...toServer(5000, 54, ascii('q2'))])],
    // Two queries before either answer: the answers go to them in order.
    [10, toServer(5001, 53, ascii('q3'))], [11, toServer(5001, 53, ascii('q4'))], [12, toClient(53, 5001, banner)], [13, toClient(53, 5001, banner)],
    // Past the answer window (3 s): answers no datagram.
    [5000, toClient(53, 5001, banner)],
  ];

  it.each([['Ethernet', LINKTYPE_ETHERNET], ['raw IP', LINKTYPE_RAW]] as const)('%s', async (_, linkType) => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const { parseScenario } = await import('../../src/scenario/load.js');
    const { PcapWriter } = await import('../../src/pcap/pcap-writer.js');
    const { readCaptureBytes } = await import('../../src/pcap/index.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-udp-synthetic-'));
    const file = path.join(dir, 'v6.pcap');
    const w = new PcapWriter(file, { startEpochSeconds: 1765000000, tsresol: 'us' });
    const id = w.addInterface({ name: 'eth0', linkType, snaplen: 65535 });
    for (const [ms, ip] of packets) {
      const frame = linkType === LINKTYPE_ETHERNET
        ? Uint8Array.from([...(ip[24] === 0xfd && ip[39] === 1 ? [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0x64] : [2, 0, 0, 0, 0, 0x64, 2, 0, 0, 0, 0, 1]), 0x86, 0xdd, ...ip])
        : Uint8Array.from(ip);
      w.packet(id, ms * 1e6, frame, frame.length);
    }
    w.finish();
    const r = await replayCapture(file, parseScenario(SCENARIO, 'v6.yaml'), { policies: ['linux', 'bsd44'], outDir: path.join(dir, 'out') });
    expect(r.datagrams).toBe(4);
    expect(r.skipped['not-in-a-replayed-connection']).toBe(1);
    const linux = r.policies['linux']!;
    expect(linux.datagrams.map((d) => [d.client, d.server, d.result, d.observed])).toEqual([
      ['[fd00::100]:5000', '[fd00::1]:53', 'dns6', 'dns6'], ['[fd00::100]:5000', '[fd00::1]:54', 'port-unreachable', 'port-unreachable'],
      ['[fd00::100]:5001', '[fd00::1]:53', 'dns6', 'dns6'], ['[fd00::100]:5001', '[fd00::1]:53', 'dns6', 'dns6'],
    ]);
    expect(linux.agreement).toMatchObject({ agree: 4, disagree: 0 });
    // bsd44 has no IPv6: every datagram unreachable, and that disagrees with the answers the capture shows.
    expect(r.policies['bsd44']!.datagrams.map((d) => d.result)).toEqual(['unreachable', 'unreachable', 'unreachable', 'unreachable']);
    expect(r.policies['bsd44']!.agreement).toMatchObject({ agree: 0, disagree: 4 });
    // The linux output: Ethernet frames between the client's MAC (made up without a link layer) and the server's; the policy's ICMPv6 port unreachable after the query to 54.
    const o = readCaptureBytes(fs.readFileSync(linux.output!));
    const kinds: string[] = [];
    while (o.next()) {
      expect(o.linkType).toBe(1);
      const d = o.data, at = o.offset;
      const mac = (k: number) => Buffer.from(d.subarray(at + k, at + k + 6)).toString('hex');
      const client = linkType === LINKTYPE_ETHERNET ? '020000000064' : '0200000000fe';
      expect([mac(0), mac(6)].sort()).toEqual([client, '020000000001'].sort());
      const next = d[at + 14 + 6]!;
      kinds.push(next === 58 ? `icmp6 ${d[at + 54]}/${d[at + 55]}` : `udp ${(d[at + 54]! << 8) | d[at + 55]!}>${(d[at + 56]! << 8) | d[at + 57]!}`);
    }
    expect(kinds).toEqual(['udp 5000>53', 'udp 53>5000', 'udp 5000>54', 'icmp6 1/4', 'udp 5001>53', 'udp 5001>53', 'udp 53>5001', 'udp 53>5001']);
    // Checksums whole, ICMPv6's included (tshark, when there is one).
    const why = noTshark();
    if (!why) {
      const { spawnSync } = await import('node:child_process');
      const t = spawnSync('tshark', ['-r', linux.output!, '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=a', '-e', 'udp.checksum.status', '-e', 'icmpv6.checksum.status', '-e', 'frame.protocols'], { encoding: 'utf8' });
      const lines = t.stdout.trim().split('\n');
      expect(lines).toHaveLength(8);
      for (const l of lines) {
        const [u, i, protocols] = l.split('\t');
        expect(protocols).not.toContain('_ws.malformed');
        for (const c of [...(u ?? '').split(','), ...(i ?? '').split(',')].filter((x) => x !== '')) expect(c, l).toBe('1');
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('a capture whose datagrams go to no scenario host', () => {
  it('is nothing replayed, naming where its datagrams went and the --map to use', async () => {
    const { parseScenario } = await import('../../src/scenario/load.js');
    const other = parseScenario(dnsServerScenario('elsewhere', '192.168.9.1'), 'elsewhere.yaml');
    await expect(replayCapture(path.join(CAPTURES, 'dns-aliases.pcap'), other, { policies: ['linux'] })).rejects.toThrow(
      /nothing replayed: .*; its UDP datagrams went to 10\.0\.0\.1:53 \(2\), .*: map one onto a scenario address with --map 10\.0\.0\.1=ADDRESS$/);
    // With --map the same capture replays: 10.0.0.1 becomes the scenario's server.
    const r = await replayCapture(path.join(CAPTURES, 'dns-aliases.pcap'), other, { policies: ['linux'], map: new Map([['10.0.0.1', parseIp('192.168.9.1')!]]) });
    expect(r.policies['linux']!.datagrams.map((d) => `${d.server} ${d.result} ${d.observed}`)).toEqual(['192.168.9.1:53 dns dns1', '192.168.9.1:53 dns dns1']);
  });
});

describe('a UDP SO_REUSEPORT group recorded on Linux (test/replay/fixtures/udp/udp-reuseport)', () => {
  it('linux picks within the group by the datagram\'s hash; the kernel hashes with its own secret, so group membership is the check: 12 of 12 agree', async () => {
    const scenario = loadScenarioFile(path.join(FIX, 'udp-reuseport.yaml'));
    const r = await replayCapture(path.join(FIX, 'udp-reuseport.pcap'), scenario, { policies: ['linux', 'bsd44'] });
    const linux = r.policies['linux']!.datagrams;
    expect(linux).toHaveLength(12);
    // The capture shows both workers answering (six source ports, two queries each).
    expect(new Set(linux.map((d) => d.observed))).toEqual(new Set(['u1', 'u2']));
    for (const d of linux) {
      expect(d.candidates).toEqual(['u1', 'u2']);
      expect(['u1', 'u2']).toContain(d.result);
    }
    // One pick per source port: the hash is over the addresses and ports.
    for (let i = 0; i < 12; i += 2) expect(linux[i + 1]!.result, linux[i]!.client).toBe(linux[i]!.result);
    expect(r.policies['linux']!.agreement).toMatchObject({ agree: 12, disagree: 0 });
    expect(r.policies['linux']!.agreement.disagreements).toEqual([]);
    expect(linux[0]!.agreement!.why).toMatch(/^the capture shows u[12] answering from 10\.0\.0\.1:5300; linux delivers it to u[12] \(picked among u1, u2\), its reply from 10\.0\.0\.1:5300$/);
    // A policy that gives every datagram to one socket disagrees wherever the kernel's hash chose the other.
    const one = r.policies['bsd44']!.datagrams;
    expect(new Set(one.map((d) => d.result)).size).toBe(1);
    const a = r.policies['bsd44']!.agreement;
    expect(a.disagree).toBe(one.filter((d) => d.observed !== one[0]!.result).length);
    expect(a.disagree).toBeGreaterThan(0);
  });
});

describe('a resolver asking upstream', () => {
  it('the answer to the scenario host\'s own query is known for one, not delivered to its port', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const { parseScenario } = await import('../../src/scenario/load.js');
    const { PcapWriter } = await import('../../src/pcap/pcap-writer.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-udp-upstream-'));
    const file = path.join(dir, 'upstream.pcap');
    const w = new PcapWriter(file, { startEpochSeconds: 1765000000, tsresol: 'us' });
    const id = w.addInterface({ name: 'eth0', linkType: LINKTYPE_RAW, snaplen: 65535 });
    const banner = ascii('bindlab server/named/dns\r\n');
    const packets: [number, number[]][] = [
      [0, ipv4('10.0.0.100', '10.0.0.1', 17, udp(5555, 53, ascii('q')))],
      // The resolver's own query upstream, and the answer to it.
      [1, ipv4('10.0.0.1', '10.9.9.9', 17, udp(40000, 53, ascii('upstream q')))],
      [2, ipv4('10.9.9.9', '10.0.0.1', 17, udp(53, 40000, ascii('upstream a')))],
      [3, ipv4('10.0.0.1', '10.0.0.100', 17, udp(53, 5555, banner))],
    ];
    for (const [ms, ip] of packets) w.packet(id, ms * 1e6, Uint8Array.from(ip), ip.length);
    w.finish();
    const scenario = parseScenario(dnsServerScenario('resolver', '10.0.0.1'), 'resolver.yaml');
    const r = await replayCapture(file, scenario, { policies: ['linux'] });
    expect(r.datagrams).toBe(1);
    expect(r.skipped['not-in-a-replayed-connection']).toBe(2);
    expect(r.policies['linux']!.datagrams.map((d) => [d.client, d.server, d.result, d.observed])).toEqual([['10.0.0.100:5555', '10.0.0.1:53', 'dns', 'dns']]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
