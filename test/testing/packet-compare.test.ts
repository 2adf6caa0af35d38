// verify-kernel --capture's comparison, on made-up kernel captures: the emulator's own segments,
// then changed where a kernel could differ. A race the kernel really has (who acknowledges a FIN,
// banner or data first) is not a difference; a header fact that differs is named.

import { describe, expect, it } from 'vitest';
import { runPolicy } from '../../src/emu/engine.js';
import type { CaptureInterface, PacketSink } from '../../src/pcap/sink.js';
import { parseScenario } from '../../src/scenario/load.js';
import { comparePackets, tcpFactsAt, type TcpFacts } from '../../src/testing/packet-compare.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/emu/wire/tcp.js';

class Facts implements PacketSink {
  readonly all: TcpFacts[] = [];
  private readonly names: string[] = [];
  addInterface(i: CaptureInterface): number { this.names.push(i.name); return this.names.length - 1; }
  addName(): void {}
  packet(id: number, _t: number, frame: Uint8Array, len: number): void {
    const b = frame.slice(0, len);
    const f = tcpFactsAt(this.names[id]!, b, 14, (b[12]! << 8) | b[13]!);
    if (f) this.all.push(f);
  }
}

function emulated(to: string, close = 'client'): TcpFacts[] {
  const sink = new Facts();
  runPolicy(parseScenario(`name: x
seed: 5
hosts:
  server:
    interfaces: { eth0: { addresses: [10.0.0.1/24, fd00::1/64] } }
    processes: { p: { uid: 0 } }
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24, fd00::100/64] } }
steps:
  - { socket: l, process: server/p, family: inet6 }
  - { bind: l, address: "[::]:80" }
  - { listen: l }
  - { connect: { from: client, to: "${to}", send: "hello", close: ${close} } }
`, 'x.yaml'), 'linux', { sink });
  return sink.all;
}

const isSynAck = (f: TcpFacts) => (f.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);

describe('comparePackets', () => {
  it('the same segments agree, whatever their ports, ISNs and random ID starts', () => {
    const e = emulated('10.0.0.1:80');
    const k = e.map((f) => ({ ...f, sport: f.sport === 80 ? 80 : 40000, dport: f.dport === 80 ? 80 : 40000, seq: (f.seq + 777) >>> 0,
      ipId: f.ipId === 0 ? 0 : (f.ipId + 999) & 0xffff }));
    expect(comparePackets('x.yaml', k, e)).toEqual({ differences: [], connections: 1 });
  });

  it('a SYN-ACK with a non-zero ID, another window scale or MSS is named field by field', () => {
    const e = emulated('10.0.0.1:80');
    const k = e.map((f) => isSynAck(f) ? { ...f, ipId: 0x1234, options: f.options.map((o) => o.kind === 'windowScale' ? { ...o, shift: 10 } : o.kind === 'mss' ? { ...o, mss: 1400 } : o) } : f);
    expect(comparePackets('x.yaml', k, e).differences).toEqual([
      'x.yaml: lan: 10.0.0.100 → 10.0.0.1:80 #1 server SYN: ip.id == 0 kernel false, emulated true',
      'x.yaml: lan: 10.0.0.100 → 10.0.0.1:80 #1 server SYN: tcp.options.mss kernel 1400, emulated 1460',
      'x.yaml: lan: 10.0.0.100 → 10.0.0.1:80 #1 server SYN: tcp.options.wscale kernel 10, emulated 7',
    ]);
  });

  it('IDs that do not count up by one, and a flow label that changes, are differences', () => {
    const e4 = emulated('10.0.0.1:80');
    const k4 = e4.map((f, i) => f.sport !== 80 && i > 3 ? { ...f, ipId: (f.ipId + 5) & 0xffff } : f);
    expect(comparePackets('x.yaml', k4, e4).differences).toEqual(['x.yaml: lan: 10.0.0.100 → 10.0.0.1:80 #1 client: ip.id +1 per packet: kernel 4 of 5, emulated 5 of 5']);
    const e6 = emulated('[fd00::1]:80');
    const k6 = e6.map((f, i) => f.sport === 80 && i > 4 ? { ...f, flow: f.flow ^ 1 } : f);
    expect(comparePackets('x.yaml', k6, e6).differences).toEqual(['x.yaml: lan: fd00::100 → [fd00::1]:80 #1 server: ipv6.flow labels: kernel 2, emulated 1']);
  });

  it('a FIN acknowledged at once, before the closing FIN, is the kernel\'s race, not a difference', () => {
    const e = emulated('10.0.0.1:80', 'server');
    // The client's FIN-ACK: a pure ACK of the server's FIN goes first (the application was slow to close).
    const fin = e.findIndex((f) => f.sport !== 80 && (f.flags & TCP_FIN) !== 0);
    const k = [...e.slice(0, fin), { ...e[fin]!, flags: TCP_ACK }, ...e.slice(fin)];
    // IDs go on counting through the extra ACK on the kernel's side.
    const shifted = k.map((f, i) => i > fin && f.sport !== 80 ? { ...f, ipId: (f.ipId + 1) & 0xffff } : f);
    expect(comparePackets('x.yaml', shifted, e).differences).toEqual([]);
  });

  it('data acknowledged alone or with the answer is the kernel\'s race; a missing data segment or FIN is not', () => {
    const e = emulated('10.0.0.1:80', 'server');
    const banner = e.findIndex((f) => f.sport === 80 && f.len > 0);
    const quick = e.findIndex((f) => f.sport === 80 && f.flags === TCP_ACK && f.len === 0 && f.ack === e[banner]!.ack);
    expect(quick).toBeGreaterThan(0);
    expect(quick).toBeLessThan(banner);
    // The kernel's application wrote before the quick ACK left: the banner carries it (IDs count on without it).
    const piggy = e.filter((_, i) => i !== quick).map((f, i) => i >= quick && f.sport === 80 ? { ...f, ipId: (f.ipId - 1) & 0xffff } : f);
    expect(comparePackets('x.yaml', piggy, e).differences).toEqual([]);
    // Without the banner, the server's packets differ.
    const mute = e.filter((_, i) => i !== banner).map((f, i) => i >= banner && f.sport === 80 ? { ...f, ipId: (f.ipId - 1) & 0xffff } : f);
    expect(comparePackets('x.yaml', mute, e).differences.some((d) => d.includes('server: packets by flags, pure ACKs aside'))).toBe(true);
  });

  it('a connection only one side made is a difference', () => {
    const e = emulated('10.0.0.1:80');
    expect(comparePackets('x.yaml', [], e).differences).toEqual(['x.yaml: lan: 10.0.0.100 → 10.0.0.1:80: the kernel made 0 connections, the emulator 1']);
  });
});
