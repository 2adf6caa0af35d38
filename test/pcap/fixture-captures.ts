// The fixture captures under test/pcap/fixtures/: one small conversation (a web connection,
// a refused port, an IPv6 SYN, and the things replay must skip) in every link type and file
// flavour the readers take. Made from the emulator's own frames, then re-framed per link type.

import { parseIp } from '../../src/emu/addr.js';
import { writeArpFrame, writeTcpFrame } from '../../src/emu/wire/frame.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type TcpOption } from '../../src/emu/wire/tcp.js';
import { buildPcap, buildPcapng, type NgBlock } from './capture-builder.js';

const CMAC = Uint8Array.of(2, 0, 0, 0, 0, 0x64);
const SMAC = Uint8Array.of(2, 0, 0, 0, 0, 1);
const ip = (t: string) => parseIp(t)!;

interface Pkt { t: number; frame: Uint8Array }

/** Ethernet frames of the conversation, with times in µs from the start. */
export function conversation(): Pkt[] {
  const out: Pkt[] = [];
  const buf = new Uint8Array(2048);
  let t = 0;
  const ts: TcpOption = { kind: 'timestamps', tsval: 1000, tsecr: 0 };
  const tcp = (src: string, dst: string, sport: number, dport: number, seq: number, ack: number, flags: number, payload = '', opts: TcpOption[] = []) => {
    const client = src.startsWith('10.0.0.100') || src === 'fd00::100';
    const n = writeTcpFrame(buf, {
      srcMac: client ? CMAC : SMAC, dstMac: client ? SMAC : CMAC, src: ip(src), dst: ip(dst), ttl: 64, ipId: seq & 0xffff, dontFragment: true,
      seg: { srcPort: sport, dstPort: dport, seq, ack, flags, window: 64240, urgent: 0, options: opts, payload: new TextEncoder().encode(payload) },
    });
    out.push({ t: (t += 100), frame: buf.slice(0, n) });
  };
  const C = '10.0.0.100';
  // ARP: not IP.
  const n = writeArpFrame(buf, { op: 1, senderMac: CMAC, senderIp: ip(C), targetMac: new Uint8Array(6), targetIp: ip('10.0.0.1'), dstMac: new Uint8Array(6).fill(255) });
  out.push({ t: (t += 100), frame: buf.slice(0, n) });
  // An accepted web connection (the real server's packets included).
  tcp(C, '10.0.0.1', 40000, 80, 1000, 0, TCP_SYN, '', [{ kind: 'mss', mss: 1460 }, { kind: 'nop' }, { kind: 'nop' }, ts]);
  tcp('10.0.0.1', C, 80, 40000, 5000, 1001, TCP_SYN | TCP_ACK, '', [{ kind: 'mss', mss: 1460 }]);
  tcp(C, '10.0.0.1', 40000, 80, 1001, 5001, TCP_ACK);
  tcp(C, '10.0.0.1', 40000, 80, 1001, 5001, TCP_PSH | TCP_ACK, 'GET / HTTP/1.0\r\n\r\n');
  tcp('10.0.0.1', C, 80, 40000, 5001, 1019, TCP_PSH | TCP_ACK, 'bindlab server/httpd/web\r\n');
  tcp(C, '10.0.0.1', 40000, 80, 1019, 5027, TCP_FIN | TCP_ACK);
  tcp('10.0.0.1', C, 80, 40000, 5027, 1020, TCP_FIN | TCP_ACK);
  tcp(C, '10.0.0.1', 40000, 80, 1020, 5028, TCP_ACK);
  // A refused port.
  tcp(C, '10.0.0.2', 40002, 81, 7000, 0, TCP_SYN);
  // A SYN to a host the scenario does not have.
  tcp(C, '10.9.9.9', 40004, 80, 9000, 0, TCP_SYN);
  // IPv6 SYN to the server.
  tcp('fd00::100', 'fd00::1', 40006, 80, 11000, 0, TCP_SYN);
  // UDP: not TCP (an IPv4 packet with protocol 17 made by editing a TCP frame's protocol and checksum-free).
  tcp(C, '10.0.0.1', 53, 53, 1, 0, TCP_ACK);
  const udp = out[out.length - 1]!.frame;
  udp[14 + 9] = 17;
  fixIpv4Checksum(udp, 14);
  // A fragment: MF set.
  tcp(C, '10.0.0.1', 40008, 80, 13000, 0, TCP_SYN);
  const frag = out[out.length - 1]!.frame;
  frag[14 + 6] = 0x20;
  fixIpv4Checksum(frag, 14);
  return out;
}

function fixIpv4Checksum(f: Uint8Array, at: number): void {
  f[at + 10] = 0; f[at + 11] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (f[at + i]! << 8) | f[at + i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff;
  f[at + 10] = s >>> 8; f[at + 11] = s & 0xff;
}

const ethType = (f: Uint8Array) => (f[12]! << 8) | f[13]!;

/** Re-frames an Ethernet frame for another link type (null when that type cannot carry it). */
export function reframe(f: Uint8Array, linkType: number, vlan = false): Uint8Array | null {
  const et = ethType(f);
  const payload = f.subarray(14);
  const cat = (...parts: (Uint8Array | number[])[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
  switch (linkType) {
    case 1: return vlan ? cat(f.subarray(0, 12), [0x81, 0, 0, 7, 0x81, 0, 0, 9], f.subarray(12)) : f;
    case 113: return cat([0, 4, 0, 1, 0, 6], f.subarray(6, 12), [0, 0], [et >> 8, et & 0xff], payload);
    case 276: return cat([et >> 8, et & 0xff, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6], f.subarray(6, 12), [0, 0], payload);
    case 101: return et === 0x0806 ? null : payload;
    case 0: return et === 0x0806 ? null : cat(et === 0x0800 ? [2, 0, 0, 0] : [30, 0, 0, 0], payload);
    default: throw new Error(`link type ${linkType}`);
  }
}

const EPOCH = 1_764_000_000; // 2025-11-24

/** name -> bytes of every fixture. */
export function fixtureCaptures(): Map<string, Uint8Array> {
  const conv = conversation();
  const recs = (lt: number, ns: boolean, vlan = false) => conv.flatMap((p) => {
    const d = reframe(p.frame, lt, vlan);
    return d ? [{ sec: EPOCH + Math.floor(p.t / 1e6), frac: ns ? (p.t % 1e6) * 1000 + 7 : p.t % 1e6, data: d }] : [];
  });
  const m = new Map<string, Uint8Array>();
  m.set('eth-vlan-be-us.pcap', buildPcap({ little: false, ns: false, linkType: 1 }, recs(1, false, true)));
  m.set('sll-le-ns.pcap', buildPcap({ little: true, ns: true, linkType: 113 }, recs(113, true)));
  m.set('raw-be-ns.pcap', buildPcap({ little: false, ns: true, linkType: 101 }, recs(101, true)));
  m.set('null-le-us.pcap', buildPcap({ little: true, ns: false, linkType: 0 }, recs(0, false)));
  // The last frame cut to 30 bytes: a truncated snaplen.
  const cut = recs(1, false);
  cut.push({ ...cut[1]!, data: cut[1]!.data.subarray(0, 30) });
  m.set('eth-snaplen-le-us.pcap', buildPcap({ little: true, ns: false, linkType: 1 }, cut.map((r) => ({ ...r, origLen: r.data === cut[cut.length - 1]!.data ? 78 : r.data.length }))));
  // pcapng: section 1 (little-endian, SLL2 in ns and Ethernet in µs), section 2 (big-endian, Ethernet, 2^-20 s, PB and SPB).
  const units = (t: number, per: bigint) => { const u = (BigInt(EPOCH) * per) + (BigInt(t) * per) / 1_000_000n; return { hi: Number(u >> 32n), lo: Number(u & 0xffffffffn) }; };
  const blocks: NgBlock[] = [{ kind: 'shb', little: true }, { kind: 'idb', linkType: 276, tsresol: 9 }, { kind: 'idb', linkType: 1 }];
  const half = Math.floor(conv.length / 2);
  conv.slice(0, half).forEach((p, i) => blocks.push(i % 2 === 0
    ? { kind: 'epb', iface: 0, ...units(p.t, 1_000_000_000n), data: reframe(p.frame, 276)! }
    : { kind: 'epb', iface: 1, ...units(p.t, 1_000_000n), data: p.frame }));
  blocks.push({ kind: 'nrb' }, { kind: 'shb', little: false }, { kind: 'idb', linkType: 1, tsresol: 0x80 | 20 });
  conv.slice(half).forEach((p, i) => blocks.push(i % 3 === 2
    ? { kind: 'spb', data: p.frame }
    : { kind: i % 3 === 0 ? 'epb' : 'pb', iface: 0, ...units(p.t, 1n << 20n), data: p.frame } as NgBlock));
  m.set('sll2-eth-2sections.pcapng', buildPcapng(blocks));
  return m;
}
