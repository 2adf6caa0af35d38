// Records one policy's packets for the HTML report: a PacketSink that decodes each frame with the
// wire decoders and groups the frames into connection attempts (neighbour discovery, then the
// TCP exchange of one 4-tuple). It keeps the first `maxConnections` attempts and only counts the
// rest, so a run of 100,000 connections costs a counter, not a copy of every frame.

import type { IpAddr } from '../emu/addr.js';
import type { CaptureInterface, PacketSink } from '../pcap/sink.js';
import { decodeArp, ARP_REQUEST } from '../emu/wire/arp.js';
import { decodeEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../emu/wire/ethernet.js';
import { decodeIcmpv6 } from '../emu/wire/icmpv6.js';
import { decodeIpv4, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from '../emu/wire/ipv4.js';
import { decodeUdp } from '../emu/wire/udp.js';
import { ICMPV6_DEST_UNREACH, ICMP_DEST_UNREACH, IPPROTO_ICMP } from '../emu/wire/icmp.js';
import { decodeIpv6 } from '../emu/wire/ipv6.js';
import { decodeTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from '../emu/wire/tcp.js';

/** An unanswered ARP request or neighbour solicitation is sent this many times (the engine's ARP_TRIES, Linux's mcast_solicit). */
export const NEIGHBOUR_TRIES = 3;
/** Connection attempts kept per policy by default. */
export const DEFAULT_MAX_CONNECTIONS = 12;

export type PacketKind = 'arp-request' | 'arp-reply' | 'ns' | 'na' | 'tcp' | 'udp' | 'icmp';

export interface RecordedPacket {
  /** Nanoseconds since the capture's start. */
  readonly timeNs: number;
  readonly link: string;
  /** From the attempt's client towards its server, or back. */
  readonly toServer: boolean;
  readonly kind: PacketKind;
  /** TCP flags (TCP_SYN | ...); 0 for neighbour discovery. */
  readonly flags: number;
  readonly seq: number;
  readonly ack: number;
  /** TCP payload bytes. */
  readonly len: number;
  /** The payload's first bytes as text, control characters written as \r, \n, \xNN. */
  readonly preview: string;
  /** Short, for the arrow: "SYN", "PSH, ACK len=6", "ARP who-has 10.0.0.2". */
  readonly label: string;
  /** One line with addresses and numbers, like a capture tool's info column. */
  readonly summary: string;
  /** The packet's pcapng comment: the decision that the engine wrote on it. */
  readonly comment?: string;
}

export interface RecordedConnection {
  /** 0-based position among this policy's attempts. */
  readonly ordinal: number;
  readonly client: string;
  /** The destination address (the ARP target for an attempt that never got past ARP). */
  readonly server: string;
  readonly clientPort?: number;
  readonly serverPort?: number;
  readonly packets: RecordedPacket[];
}

export interface Recording {
  /** The first attempts, in order (at most maxConnections). */
  readonly connections: readonly RecordedConnection[];
  /** Every attempt seen, recorded or not. */
  readonly attempts: number;
  /** Every frame seen. */
  readonly packets: number;
  readonly maxConnections: number;
}

interface NeighbourGroup {
  readonly target: string;
  readonly packets: Omit<RecordedPacket, 'toServer'>[];
  requests: number;
  answered: boolean;
  readonly client: string;
}

interface Open {
  readonly conn: RecordedConnection | null;
  readonly synSeq: number;
  answered: boolean;
}

const FLAG_NAMES: readonly [number, string][] = [[TCP_FIN, 'FIN'], [TCP_SYN, 'SYN'], [TCP_RST, 'RST'], [TCP_PSH, 'PSH'], [TCP_ACK, 'ACK'], [TCP_URG, 'URG']];

/** "SYN, ACK" in the order Wireshark prints them. */
export function tcpFlagNames(flags: number): string {
  const order = [TCP_SYN, TCP_RST, TCP_PSH, TCP_FIN, TCP_ACK, TCP_URG];
  return order.filter((f) => flags & f).map((f) => FLAG_NAMES.find(([b]) => b === f)![1]).join(', ');
}

/** Printable preview of a payload: at most `max` bytes, control characters escaped. */
export function payloadPreview(bytes: Uint8Array, max = 32): string {
  let s = '';
  for (let i = 0; i < Math.min(bytes.length, max); i++) {
    const b = bytes[i]!;
    if (b === 13) s += '\\r';
    else if (b === 10) s += '\\n';
    else if (b === 9) s += '\\t';
    else if (b < 32 || b >= 127) s += `\\x${b.toString(16).padStart(2, '0')}`;
    else s += String.fromCharCode(b);
  }
  return bytes.length > max ? `${s}…` : s;
}

const endpoint = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

export class PacketRecorder implements PacketSink {
  private readonly links: string[] = [];
  private readonly kept: RecordedConnection[] = [];
  private attemptCount = 0;
  private packetCount = 0;
  private pending: NeighbourGroup[] = [];
  /** The latest attempt of each 4-tuple (either direction); conn is null past the cap. */
  private readonly byTuple = new Map<string, Open>();
  /** UDP (issue 18): the latest datagram attempt by its sender's address and port, which replies and ICMP errors go back to. */
  private readonly bySender = new Map<string, RecordedConnection | null>();

  constructor(readonly maxConnections = DEFAULT_MAX_CONNECTIONS) {}

  addInterface(iface: CaptureInterface): number {
    this.links.push(iface.name);
    return this.links.length - 1;
  }

  addName(): void {}

  packet(ifaceId: number, timeNs: number, frame: Uint8Array, len: number, comment?: string): void {
    this.packetCount++;
    const link = this.links[ifaceId] ?? String(ifaceId);
    const eth = decodeEthernet(frame, 0, len);
    if (eth.etherType === ETHERTYPE_ARP) {
      const a = decodeArp(eth.payload, 0, eth.payload.length);
      if (a.op === ARP_REQUEST) {
        this.request(a.senderIp.text, a.targetIp.text, { timeNs, link, kind: 'arp-request', ...ND_ZERO, label: `ARP who-has ${a.targetIp.text}`, summary: `ARP: who has ${a.targetIp.text}? Tell ${a.senderIp.text}`, comment });
      } else {
        const mac = macText(a.senderMac);
        this.reply(a.senderIp.text, { timeNs, link, kind: 'arp-reply', ...ND_ZERO, label: `ARP reply: ${a.senderIp.text} is here`, summary: `ARP: ${a.senderIp.text} is at ${mac}`, comment });
      }
      return;
    }
    let srcIp: IpAddr, dstIp: IpAddr, proto: number, payload: Uint8Array;
    if (eth.etherType === ETHERTYPE_IPV4) {
      const ip = decodeIpv4(eth.payload, 0, eth.payload.length);
      srcIp = ip.src; dstIp = ip.dst; proto = ip.protocol; payload = ip.payload;
    } else if (eth.etherType === ETHERTYPE_IPV6) {
      const ip = decodeIpv6(eth.payload, 0, eth.payload.length);
      srcIp = ip.src; dstIp = ip.dst; proto = ip.nextHeader; payload = ip.payload;
    } else {
      return;
    }
    const src = srcIp.text;
    const dst = dstIp.text;
    if (proto === IPPROTO_UDP) { this.datagram(src, dst, payload, timeNs, link, comment); return; }
    // An ICMP or ICMPv6 destination unreachable goes with the datagram it quotes.
    if ((proto === IPPROTO_ICMP && payload[0] === ICMP_DEST_UNREACH) || (proto === IPPROTO_ICMPV6 && payload[0] === ICMPV6_DEST_UNREACH)) {
      this.unreachable(proto === IPPROTO_ICMPV6, src, dst, payload, timeNs, link, comment);
      return;
    }
    if (proto === IPPROTO_ICMPV6 && payload[0] !== 135 && payload[0] !== 136) return;
    if (proto === IPPROTO_ICMPV6) {
      const m = decodeIcmpv6(payload, 0, payload.length, srcIp, dstIp);
      if (m.type === 'ns') {
        this.request(src, m.target.text, { timeNs, link, kind: 'ns', ...ND_ZERO, label: `NS who-has ${m.target.text}`, summary: `Neighbor Solicitation for ${m.target.text} from ${src}`, comment });
      } else {
        this.reply(m.target.text, { timeNs, link, kind: 'na', ...ND_ZERO, label: `NA: ${m.target.text} is here`, summary: `Neighbor Advertisement ${m.target.text}${m.solicited ? ' (sol' : ' ('}${m.override ? ', ovr)' : ')'}`, comment });
      }
      return;
    }
    if (proto !== IPPROTO_TCP) return;
    const seg = decodeTcp(payload, 0, payload.length);
    const names = tcpFlagNames(seg.flags);
    const n = seg.payload.length;
    const label = `${names}${n ? ` len=${n}` : ''}`;
    const summary = `${endpoint(src, seg.srcPort)} → ${endpoint(dst, seg.dstPort)} [${names}] Seq=${seg.seq} Ack=${seg.ack} Win=${seg.window} Len=${n}`;
    const key = tupleKey(src, seg.srcPort, dst, seg.dstPort);
    const base = { timeNs, link, kind: 'tcp' as const, flags: seg.flags, seq: seg.seq, ack: seg.ack, len: n, preview: payloadPreview(seg.payload), label, summary, comment };
    const open = this.byTuple.get(key);
    const isSyn = (seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    if (isSyn && !(open && !open.answered && open.synSeq === seg.seq)) {
      // A new attempt: unanswered neighbour discovery before it were attempts of their own.
      this.flushUnanswered();
      const g = this.pending.find((p) => p.answered && p.target === dst);
      this.pending = [];
      const conn = this.startAttempt(src, dst, seg.srcPort, seg.dstPort);
      if (conn && g) for (const p of g.packets) conn.packets.push({ ...p, toServer: p.kind === 'arp-request' || p.kind === 'ns' });
      conn?.packets.push({ ...base, toServer: true });
      this.byTuple.set(key, { conn, synSeq: seg.seq, answered: false });
      return;
    }
    if (!open) return;
    const toServer = open.conn ? src === open.conn.client && seg.srcPort === open.conn.clientPort : false;
    if (!toServer) open.answered = true;
    open.conn?.packets.push({ ...base, toServer });
  }

  /**
   * A UDP datagram: a receiver's reply (to the sender of a recorded datagram, from whatever
   * address) joins that datagram's attempt; any other datagram starts an attempt of its own, with
   * the neighbour discovery just before it.
   */
  private datagram(src: string, dst: string, payload: Uint8Array, timeNs: number, link: string, comment: string | undefined): void {
    const d = decodeUdp(payload, 0, payload.length);
    const n = d.payload.length;
    const summary = `${endpoint(src, d.srcPort)} → ${endpoint(dst, d.dstPort)} UDP Len=${n}`;
    const base = { timeNs, link, kind: 'udp' as const, flags: 0, seq: 0, ack: 0, len: n, preview: payloadPreview(d.payload), summary, comment };
    const back = this.bySender.get(`${dst}|${d.dstPort}`);
    if (back !== undefined && `${src}|${d.srcPort}` !== `${dst}|${d.dstPort}`) {
      back?.packets.push({ ...base, label: `UDP reply from ${endpoint(src, d.srcPort)}${n ? ` len=${n}` : ''}`, toServer: false });
      return;
    }
    this.flushUnanswered();
    const g = this.pending.find((p) => p.answered && p.target === dst);
    this.pending = [];
    const conn = this.startAttempt(src, dst, d.srcPort, d.dstPort);
    if (conn && g) for (const p of g.packets) conn.packets.push({ ...p, toServer: p.kind === 'arp-request' || p.kind === 'ns' });
    conn?.packets.push({ ...base, label: `UDP${n ? ` len=${n}` : ''}`, toServer: true });
    this.bySender.set(`${src}|${d.srcPort}`, conn);
  }

  /** ICMP(v6) port unreachable: back to the attempt of the datagram it quotes (its sender's address and port). */
  private unreachable(v6: boolean, src: string, dst: string, payload: Uint8Array, timeNs: number, link: string, comment: string | undefined): void {
    const q = payload.subarray(8);
    const ihl = v6 ? 40 : (q[0]! & 0x0f) * 4;
    if (q.length < ihl + 4) return;
    const sport = (q[ihl]! << 8) | q[ihl + 1]!;
    const conn = this.bySender.get(`${dst}|${sport}`);
    const what = v6 ? 'ICMPv6' : 'ICMP';
    conn?.packets.push({ timeNs, link, kind: 'icmp', ...ND_ZERO, toServer: false, label: `${what} port unreachable`, summary: `${src} → ${dst} ${what} destination unreachable (port unreachable)`, comment });
  }

  /** The attempts so far; neighbour discovery that nobody answered becomes an attempt of its own. */
  finish(): Recording {
    this.flushUnanswered();
    this.pending = [];
    return { connections: this.kept, attempts: this.attemptCount, packets: this.packetCount, maxConnections: this.maxConnections };
  }

  private request(sender: string, target: string, p: Omit<RecordedPacket, 'toServer'>): void {
    const g = this.pending.find((x) => x.target === target && !x.answered && x.requests < NEIGHBOUR_TRIES);
    if (g) { g.packets.push(p); g.requests++; return; }
    this.pending.push({ target, packets: [p], requests: 1, answered: false, client: sender });
  }

  private reply(owner: string, p: Omit<RecordedPacket, 'toServer'>): void {
    const g = this.pending.find((x) => x.target === owner && !x.answered);
    if (!g) return;
    g.packets.push(p);
    g.answered = true;
  }

  private flushUnanswered(): void {
    for (const g of this.pending) {
      if (g.answered) continue;
      const conn = this.startAttempt(g.client, g.target);
      if (conn) for (const p of g.packets) conn.packets.push({ ...p, toServer: true });
    }
    this.pending = this.pending.filter((g) => g.answered);
  }

  private startAttempt(client: string, server: string, clientPort?: number, serverPort?: number): RecordedConnection | null {
    const ordinal = this.attemptCount++;
    if (this.kept.length >= this.maxConnections) return null;
    const conn: RecordedConnection = { ordinal, client, server, clientPort, serverPort, packets: [] };
    this.kept.push(conn);
    return conn;
  }
}

const ND_ZERO = { flags: 0, seq: 0, ack: 0, len: 0, preview: '' } as const;

function tupleKey(a: string, ap: number, b: string, bp: number): string {
  const x = `${a}|${ap}`;
  const y = `${b}|${bp}`;
  return x < y ? `${x}|${y}` : `${y}|${x}`;
}

function macText(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** One recorder per policy, handed to runScenario's `observe`; finish() gives each policy's recording. */
export function recordPolicies(maxConnections = DEFAULT_MAX_CONNECTIONS): {
  readonly observe: (policy: string) => PacketSink;
  finish(): Map<string, Recording>;
} {
  const recorders = new Map<string, PacketRecorder>();
  return {
    observe(policy: string): PacketSink {
      const r = new PacketRecorder(maxConnections);
      recorders.set(policy, r);
      return r;
    },
    finish(): Map<string, Recording> {
      return new Map([...recorders].map(([p, r]) => [p, r.finish()]));
    },
  };
}
