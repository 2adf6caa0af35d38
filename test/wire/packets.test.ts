// The header fields of emulated connections, as Linux 6.18's own captures show them (made in
// network namespaces with tcpdump; docs/packets.md), and data cut at the MSS.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPolicy, START_EPOCH_SECONDS } from '../../src/emu/engine.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import type { CaptureInterface, PacketSink } from '../../src/pcap/sink.js';
import { parseScenario } from '../../src/scenario/load.js';
import { decodePacket } from '../../src/testing/packet-fields.js';
import { linuxInitialWindow, linuxWindowScale, mssForMtu } from '../../src/emu/policy/fingerprint.js';
import { scratch } from '../testing/helpers.js';

class Frames implements PacketSink {
  readonly all: Map<string, string>[] = [];
  addInterface(_i: CaptureInterface): number { return 0; }
  addName(): void {}
  packet(_id: number, _t: number, frame: Uint8Array, len: number): void {
    const f = new Map(decodePacket(frame.slice(0, len)).fields);
    if (f.has('tcp.flags')) this.all.push(f);
  }
}

const scenario = (steps: string, sysctl = '', policy = 'linux') => parseScenario(`name: packets
seed: 11
policies: [${policy}]
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, fd00::1/64] }
    processes:
      root: { uid: 0 }${sysctl}
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }${sysctl}
steps:
  - { socket: l, process: server/root }
  - { bind: l, address: 0.0.0.0:8080 }
  - { listen: l }
  - { socket: l6, process: server/root, family: inet6, options: { IPV6_V6ONLY: true } }
  - { bind: l6, address: "[::]:8080" }
  - { listen: l6 }
${steps}`, 'packets.yaml');

function frames(steps: string, sysctl = '', policy = 'linux'): Map<string, string>[] {
  const sink = new Frames();
  runPolicy(scenario(steps, sysctl, policy), policy, { sink });
  return sink.all;
}

const from = (fs: Map<string, string>[], port: string) => fs.filter((f) => f.get('tcp.srcport') === port);
const ids = (fs: Map<string, string>[]) => fs.map((f) => parseInt(f.get('ip.id')!, 16));

describe('linux: header fields as the kernel sends them', () => {
  it.each(['client', 'server', 'none'])('IPv4 IDs (close: %s): SYN-ACK 0 with DF, +1 per packet in each direction from a random start', (close) => {
    const fs = frames(`  - { connect: { from: client, to: 10.0.0.1:8080, send: "hi", close: ${close} } }\n  - { close: l }\n`);
    expect(fs.every((f) => f.get('ip.flags.df') === '1' && f.get('ip.ttl') === '64')).toBe(true);
    const server = from(fs, '8080');
    expect(server[0]!.get('tcp.flags')).toBe('SYN-ACK');
    expect(server[0]!.get('ip.id')).toBe('0x0000');
    const client = fs.filter((f) => f.get('tcp.dstport') === '8080');
    for (const side of [client, server.slice(1)]) {
      const v = ids(side);
      expect(v[0]).not.toBe(0);
      expect(v.map((x, i) => (x - v[0]! + 0x10000) % 0x10000)).toEqual(v.map((_, i) => i));
    }
  });

  it('a refusal: RST-ACK, ID 0 with DF, window 0, no options', () => {
    const [syn, rst] = frames('  - { connect: { from: client, to: 10.0.0.1:9999 } }\n');
    expect(syn!.get('tcp.flags')).toBe('SYN');
    expect([rst!.get('tcp.flags'), rst!.get('ip.id'), rst!.get('ip.flags.df'), rst!.get('tcp.window_size_value'), rst!.get('tcp.options')])
      .toEqual(['RST-ACK', '0x0000', '1', '0', 'none']);
  });

  it.each([
    // [destination, SYN mss, SYN window, SYN-ACK window, windows after] from 6.18 captures at tcp_rmem max 6 MiB (scale 7)
    ['10.0.0.1', '1460', '64240', '65160', ['502', '510']],
    ['[fd00::1]', '1440', '64800', '64260', ['507', '503']],
    ['127.0.0.1', '65495', '65495', '65483', ['512', '512']],
    ['[::1]', '65476', '65476', '65464', ['512', '512']],
  ])('to %s: MSS %s, SYN window %s, SYN-ACK window %s, scale 7', (to, mss, synWin, synAckWin, after) => {
    const who = to.startsWith('1') && to !== '10.0.0.1' || to === '[::1]' ? 'server' : 'client';
    const fs = frames(`  - { connect: { from: ${who}, to: "${to}:8080", send: "x" } }\n`);
    const [syn, synAck] = fs;
    expect([syn!.get('tcp.options'), syn!.get('tcp.options.mss'), syn!.get('tcp.window_size_value'), syn!.get('tcp.options.wscale')])
      .toEqual(['mss,sackPermitted,timestamps,nop,windowScale', mss, synWin, '7']);
    expect([synAck!.get('tcp.options.mss'), synAck!.get('tcp.window_size_value')]).toEqual([mss, synAckWin]);
    expect([fs[2]!.get('tcp.window_size_value'), from(fs, '8080')[1]!.get('tcp.window_size_value')]).toEqual(after);
  });

  it('window scale and windows from a scenario\'s tcp_rmem: 32 MiB gives scale 10 and 63 / 64 after the handshake (as captured)', () => {
    const fs = frames('  - { connect: { from: client, to: 10.0.0.1:8080, send: "x" } }\n', '\n    sysctl: { tcp_rmem: "4096 131072 33554432" }');
    expect(fs[0]!.get('tcp.options.wscale')).toBe('10');
    expect(fs[1]!.get('tcp.options.wscale')).toBe('10');
    expect(fs[2]!.get('tcp.window_size_value')).toBe('63');
    expect(from(fs, '8080')[1]!.get('tcp.window_size_value')).toBe('64');
  });

  it('the formulas: tcp_rmem default sizes the window, max (or rmem_max) the scale', () => {
    expect(linuxInitialWindow(131072, 1460, false, true)).toBe(64240);
    expect(linuxInitialWindow(87380, 1460, false, true)).toBe(42340);
    expect(linuxWindowScale(6291456, 212992)).toBe(7);
    expect(linuxWindowScale(1048576, 4194304)).toBe(7);
    expect(linuxWindowScale(33554432, 212992)).toBe(10);
    expect(mssForMtu(65536, 4)).toBe(65495);
  });

  it('IPv6 flow labels: non-zero, one per direction, stable through the connection; other connections get others', () => {
    const fs = frames('  - { connect: { from: client, to: "[fd00::1]:8080", send: "a", close: client } }\n  - { connect: { from: client, to: "[fd00::1]:8080", close: server } }\n');
    const conns = [...new Set(fs.map((f) => f.get('tcp.srcport') === '8080' ? f.get('tcp.dstport') : f.get('tcp.srcport')))];
    const labels = conns.map((p) => [fs.filter((f) => f.get('tcp.srcport') === p), fs.filter((f) => f.get('tcp.dstport') === p)]
      .map((side) => new Set(side.map((f) => f.get('ipv6.flow')))));
    for (const [c, s] of labels) {
      expect(c!.size).toBe(1);
      expect(s!.size).toBe(1);
      expect([...c!][0]).not.toBe('0x00000');
      expect([...c!][0]).not.toBe([...s!][0]);
    }
    expect([...labels[0]![0]!][0]).not.toBe([...labels[1]![0]!][0]);
  });

  it('same seed, same bytes (IDs and labels are seeded)', () => {
    const steps = '  - { connect: { from: client, to: "[fd00::1]:8080", send: "a" } }\n  - { connect: { from: client, to: 10.0.0.1:8080 } }\n';
    expect(frames(steps)).toEqual(frames(steps));
  });
});

describe('data cut at the MSS (a send larger than one segment)', () => {
  const big = 'x'.repeat(70000);
  it.each(['linux', 'freebsd', 'windows', 'bsd44'])('%s: 70,000 bytes go as segments of at most the MSS, within the receive window', (policy) => {
    const fs = frames(`  - { connect: { from: client, to: 10.0.0.1:8080, send: "${big}" } }\n`, '', policy);
    const data = fs.filter((f) => f.get('tcp.dstport') === '8080' && f.get('tcp.len') !== '0');
    const total = data.reduce((n, f) => n + Number(f.get('tcp.len')), 0);
    expect(total).toBe(70000);
    const mss = Number(fs[0]!.get('tcp.options.mss'));
    expect(Math.max(...data.map((f) => Number(f.get('frame.len'))))).toBeLessThanOrEqual(1514);
    expect(data.every((f) => Number(f.get('tcp.len')) <= mss)).toBe(true);
    expect(data.length).toBeGreaterThanOrEqual(Math.ceil(70000 / mss));
    // No byte beyond what the server's last ACK allows: seq + len <= ack + window (unscaled SYN-ACK window first).
    const synAck = fs[1]!;
    const scale = 2 ** Number(synAck.get('tcp.options.wscale') ?? '0');
    let limit = Number(synAck.get('tcp.seq')) >= 0 ? Number(fs[0]!.get('tcp.seq')) + 1 + Number(synAck.get('tcp.window_size_value')) : 0;
    for (const f of fs) {
      if (f.get('tcp.srcport') === '8080' && f !== synAck) limit = Math.max(limit, Number(f.get('tcp.ack')) + Number(f.get('tcp.window_size_value')) * scale);
      if (f.get('tcp.dstport') === '8080' && f.get('tcp.len') !== '0') {
        expect((Number(f.get('tcp.seq')) + Number(f.get('tcp.len'))) % 2 ** 32).toBeLessThanOrEqual(limit % 2 ** 32 + (limit >= 2 ** 32 ? 2 ** 32 : 0));
      }
    }
  });

  const hasTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!hasTshark)('the capture of a 70,000-byte send opens clean in tshark (no malformed packet, no bad length)', () => {
    const path = join(scratch('segments'), 'big.pcapng');
    const w = new PcapngWriter(path, { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'ns', application: 'bindlab' });
    runPolicy(scenario(`  - { connect: { from: client, to: 10.0.0.1:8080, send: "${big}" } }\n`), 'linux', { sink: w });
    w.finish();
    const r = spawnSync('tshark', ['-r', path, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', '_ws.malformed or _ws.expert.severity >= warning and not tcp.flags.reset == 1', '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('');
  });
});

describe('scenario sysctl tcp_rmem', () => {
  it('refuses a value that is not three byte counts, with its position', () => {
    expect(() => scenario('', '\n    sysctl: { tcp_rmem: "4096 131072" }')).toThrow(/packets\.yaml:\d+:\d+: .*tcp_rmem.*"4096 131072".*three byte counts/);
  });
});
