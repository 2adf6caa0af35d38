// The kernel's own packets beside the `linux` policy's, header field by header field: what
// `bindlab verify-kernel --capture` prints. Connections are matched by link, client address, server
// address and port, in the order of their SYNs; ports, ISNs, TSvals, IPv4 ID starts and flow-label
// values are random on both sides and compared by their rule (0 or not, +1 per packet, one label
// per direction), everything else by value. The kernel's segments are captured as they leave the
// sender (tcpdump -Q out), before a NIC would cut a GSO super-segment: data segment sizes are not
// compared, nor windows of a side that has received more than one segment of data (its receive
// buffer grows: tcp_rcv_space_adjust, not modelled).

import { decodeIpv4, IPPROTO_TCP } from '../emu/wire/ipv4.js';
import { decodeIpv6 } from '../emu/wire/ipv6.js';
import { decodeTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpOption } from '../emu/wire/tcp.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../emu/wire/ethernet.js';
import { WireError } from '../emu/wire/errors.js';

/** One TCP segment's header facts. */
export interface TcpFacts {
  /** The capture interface: a link name, or HOST/lo. */
  readonly where: string;
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly sport: number;
  readonly dport: number;
  readonly flags: number;
  readonly ttl: number;
  readonly df: boolean;
  readonly ipId: number;
  readonly flow: number;
  readonly window: number;
  readonly options: readonly TcpOption[];
  readonly seq: number;
  readonly ack: number;
  readonly len: number;
}

/** The TCP facts of an IP packet at bytes[at] (etherType: which IP), or null if it is not TCP or does not decode. */
export function tcpFactsAt(where: string, bytes: Uint8Array, at: number, etherType: number): TcpFacts | null {
  try {
    if (etherType === ETHERTYPE_IPV4) {
      const ip = decodeIpv4(bytes, at, bytes.length);
      if (ip.protocol !== IPPROTO_TCP) return null;
      const off = ip.payload.byteOffset - bytes.byteOffset;
      // No checksum check: outgoing captures hold partial checksums the NIC (or veth) completes.
      const t = decodeTcp(bytes, off, off + ip.payload.length);
      return { where, family: 4, src: ip.src.text, dst: ip.dst.text, sport: t.srcPort, dport: t.dstPort, flags: t.flags, ttl: ip.ttl, df: ip.dontFragment,
        ipId: ip.id, flow: 0, window: t.window, options: t.options, seq: t.seq, ack: t.ack, len: t.payload.length };
    }
    if (etherType === ETHERTYPE_IPV6) {
      const ip = decodeIpv6(bytes, at, bytes.length);
      if (ip.nextHeader !== IPPROTO_TCP) return null;
      const off = ip.payload.byteOffset - bytes.byteOffset;
      const t = decodeTcp(bytes, off, off + ip.payload.length);
      return { where, family: 6, src: ip.src.text, dst: ip.dst.text, sport: t.srcPort, dport: t.dstPort, flags: t.flags, ttl: ip.hopLimit, df: false,
        ipId: 0, flow: ip.flowLabel, window: t.window, options: t.options, seq: t.seq, ack: t.ack, len: t.payload.length };
    }
  } catch (e) {
    if (e instanceof WireError) return null;
    throw e;
  }
  return null;
}

interface Connection {
  readonly key: string;
  readonly client: TcpFacts[];
  readonly server: TcpFacts[];
  /** Both directions in the order sent, "c" or "s" for each. */
  readonly order: string[];
}

/** Connections by SYN: key "where client → server:port", in SYN order per key. */
function connections(packets: readonly TcpFacts[]): Map<string, Connection[]> {
  const byTuple = new Map<string, Connection>();
  const byKey = new Map<string, Connection[]>();
  for (const p of packets) {
    const tuple = (a: string, ap: number, b: string, bp: number) => `${p.where}|${a}|${ap}|${b}|${bp}`;
    const out = tuple(p.src, p.sport, p.dst, p.dport);
    const back = tuple(p.dst, p.dport, p.src, p.sport);
    let c = byTuple.get(out);
    let fromClient = true;
    if (!c) { c = byTuple.get(back); fromClient = false; }
    if ((p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && (!c || !fromClient || c.client.length > 0 && c.server.length > 0 && (c.server.at(-1)!.flags & TCP_RST) !== 0)) {
      if (!c || !fromClient || c.client.some((x) => (x.flags & TCP_SYN) !== 0 && x.seq !== p.seq)) {
        // A new connection (a SYN retransmission has the same ISN and stays in its connection).
        const key = `${p.where}: ${p.src} → ${p.family === 6 ? `[${p.dst}]` : p.dst}:${p.dport}`;
        c = { key, client: [], server: [], order: [] };
        byTuple.set(out, c);
        const list = byKey.get(key) ?? [];
        list.push(c);
        byKey.set(key, list);
        fromClient = true;
      }
    }
    if (!c) continue; // a segment of a connection whose SYN was not captured
    (fromClient ? c.client : c.server).push(p);
    c.order.push(fromClient ? 'c' : 's');
  }
  return byKey;
}

const layout = (o: readonly TcpOption[]) => o.map((x) => x.kind).join(',') || 'none';
const mssOf = (o: readonly TcpOption[]) => o.find((x) => x.kind === 'mss') as { mss: number } | undefined;
const wsOf = (o: readonly TcpOption[]) => o.find((x) => x.kind === 'windowScale') as { shift: number } | undefined;

function flagName(f: number): string {
  const n: string[] = [];
  if (f & TCP_SYN) n.push('SYN');
  if (f & TCP_FIN) n.push('FIN');
  if (f & TCP_RST) n.push('RST');
  if (f & TCP_PSH) n.push('PSH');
  if (f & TCP_ACK) n.push('ACK');
  return n.join('-') || 'none';
}

/** The facts of one packet that must be equal, as name → text. */
function packetFacts(p: TcpFacts, withWindow: boolean): [string, string][] {
  const out: [string, string][] = [
    [p.family === 4 ? 'ip.ttl' : 'ipv6.hlim', String(p.ttl)],
    ['tcp.options', layout(p.options)],
  ];
  if (p.family === 4) out.push(['ip.flags.df', p.df ? '1' : '0'], ['ip.id == 0', String(p.ipId === 0)]);
  else out.push(['ipv6.flow != 0', String(p.flow !== 0)]);
  const mss = mssOf(p.options);
  if (mss) out.push(['tcp.options.mss', String(mss.mss)]);
  const ws = wsOf(p.options);
  if (ws) out.push(['tcp.options.wscale', String(ws.shift)]);
  if (withWindow) out.push(['tcp.window_size_value', String(p.window)]);
  return out;
}

/**
 * A direction's packets without SYN retransmissions (the oracle's namespaces give up after one:
 * tcp_syn_retries 1) and without a pure ACK that the same side's FIN follows with the same
 * acknowledgement: whether the peer's FIN is acknowledged at once or by the FIN depends on how
 * fast the application closes (tcp_cleanup_rbuf may send the ACK when it reads the end).
 */
function normalized(all: readonly TcpFacts[], peer: readonly TcpFacts[]): TcpFacts[] {
  const fin = peer.find((p) => (p.flags & TCP_FIN) !== 0);
  const finAck = fin ? (fin.seq + fin.len + 1) >>> 0 : -1;
  return all.filter((p, i) => {
    if ((p.flags & TCP_SYN) !== 0) return !all.slice(0, i).some((q) => (q.flags & TCP_SYN) !== 0);
    const next = all[i + 1];
    return !(p.flags === TCP_ACK && p.len === 0 && p.ack === finAck && next && (next.flags & TCP_FIN) !== 0 && next.ack === p.ack);
  });
}

/** The order of a connection's segments as "c:FLAGS:len>0" items, normalized as above. */
function eventOrder(c: Connection): string {
  const keep = new Set([...normalized(c.client, c.server), ...normalized(c.server, c.client)]);
  const ci = [...c.client];
  const si = [...c.server];
  const out: string[] = [];
  for (const who of c.order) {
    const p = (who === 'c' ? ci : si).shift()!;
    if (keep.has(p)) out.push(`${who}:${flagName(p.flags)}:${p.len > 0 ? 'data' : '-'}`);
  }
  return out.join(' ');
}

/** What one direction of a connection shows as a whole: its packets by flags, IDs counting up, labels. */
function directionFacts(all: readonly TcpFacts[], peer: readonly TcpFacts[], server: boolean): [string, string][] {
  // SYN retransmissions are left out: the oracle's namespaces give up after one (tcp_syn_retries 1).
  const side = normalized(all, peer);
  // Pure ACKs aside: whether the kernel acknowledges the peer's data alone (a quick ACK), with its
  // answer, or after answering first depends on how fast the application writes and reads (all
  // seen on 6.18 in the namespaces, one only on ::1 under load); every other packet is counted,
  // and the last one (a close's final ACK) is compared on its own.
  const sorted = side.filter((p) => p.flags !== TCP_ACK || p.len > 0).map((p) => flagName(p.flags)).sort();
  const out: [string, string][] = [['packets by flags, pure ACKs aside', sorted.join(' ')], ['last packet', side.length ? flagName(side.at(-1)!.flags) : 'none']];
  const fam = side[0]?.family;
  // Packets of the connected socket: all but a server's SYN-ACK and RST (and a TIME_WAIT's ACK with ID 0).
  const sock = all.filter((p, i) => !(server && (p.flags & TCP_SYN) !== 0) && (p.flags & TCP_RST) === 0
    && !((p.flags & TCP_SYN) !== 0 && all.slice(0, i).some((q) => (q.flags & TCP_SYN) !== 0)));
  if (fam === 4 && sock.length > 1) {
    const ids = sock.map((p) => p.ipId);
    let steps = 0;
    for (let i = 1; i < ids.length; i++) if (((ids[i]! - ids[i - 1]! + 0x10000) & 0xffff) === 1) steps++;
    out.push(['ip.id +1 per packet', `${steps} of ${ids.length - 1}`]);
  }
  if (fam === 6) {
    const labels = new Set(side.filter((p) => (p.flags & TCP_RST) === 0 && !(!server && (p.flags & TCP_SYN) !== 0 && p !== side[0])).map((p) => p.flow));
    out.push(['ipv6.flow labels', String(labels.size)]);
  }
  return out;
}

/** Each key either side has, with the kernel's and the emulator's lists under it (empty where a side has none). */
export function eitherSide<T>(k: ReadonlyMap<string, readonly T[]>, e: ReadonlyMap<string, readonly T[]>): [string, readonly T[], readonly T[]][] {
  return [...new Set([...k.keys(), ...e.keys()])].map((key) => [key, k.get(key) ?? [], e.get(key) ?? []]);
}

/** One line per header fact where the kernel's capture and the emulated one differ. */
export function comparePackets(file: string, kernel: readonly TcpFacts[], emulated: readonly TcpFacts[]): { differences: string[]; connections: number } {
  const differences: string[] = [];
  let n = 0;
  for (const [key, kc, ec] of eitherSide(connections(kernel), connections(emulated))) {
    if (kc.length !== ec.length) differences.push(`${file}: ${key}: the kernel made ${kc.length} connections, the emulator ${ec.length}`);
    for (let i = 0; i < Math.min(kc.length, ec.length); i++) {
      n++;
      const where = `${file}: ${key} #${i + 1}`;
      for (const server of [false, true]) {
        const ks = server ? kc[i]!.server : kc[i]!.client;
        const es = server ? ec[i]!.server : ec[i]!.client;
        const who = server ? 'server' : 'client';
        // Windows depend on what the side had received when it sent them: compared when both
        // connections' segments went in the same order, and the side received at most one segment of data.
        const peer = server ? ec[i]!.client : ec[i]!.server;
        const small = peer.every((p) => p.len <= 1448);
        const sameOrder = eventOrder(kc[i]!) === eventOrder(ec[i]!);
        const firsts = (ps: readonly TcpFacts[]) => [
          ps.find((p) => (p.flags & TCP_SYN) !== 0), ps.find((p) => (p.flags & TCP_RST) !== 0),
          ps.find((p) => (p.flags & (TCP_SYN | TCP_RST | TCP_FIN)) === 0), ps.find((p) => (p.flags & TCP_FIN) !== 0),
        ];
        const kf = firsts(ks);
        const ef = firsts(es);
        const names = ['SYN', 'RST', 'first segment after the handshake', 'FIN'];
        for (let j = 0; j < kf.length; j++) {
          if (!kf[j] && !ef[j]) continue;
          if (!kf[j] || !ef[j]) {
            differences.push(`${where} ${who} ${names[j]}: ${kf[j] ? 'the emulator sent none' : 'the kernel sent none'}`);
            continue;
          }
          const windows = j < 2 || (small && sameOrder);
          const a = new Map(packetFacts(kf[j]!, windows));
          for (const [name, v] of packetFacts(ef[j]!, windows)) {
            if (a.get(name) !== v) differences.push(`${where} ${who} ${names[j]}: ${name} kernel ${a.get(name) ?? '-'}, emulated ${v}`);
          }
        }
        const kd = new Map(directionFacts(ks, server ? kc[i]!.client : kc[i]!.server, server));
        for (const [name, v] of directionFacts(es, server ? ec[i]!.client : ec[i]!.server, server)) {
          // Data segments are cut by GSO on the kernel side (see above): their count is not compared.
          if (name === 'packets by flags, pure ACKs aside' && !small) continue;
          const kv = kd.get(name);
          if (name === 'ip.id +1 per packet') {
            const all = (x: string | undefined) => x !== undefined && /^(\d+) of \1$/.test(x);
            if (all(kv) !== all(v)) differences.push(`${where} ${who}: ${name}: kernel ${kv}, emulated ${v}`);
          } else if (kv !== v) differences.push(`${where} ${who}: ${name}: kernel ${kv ?? '-'}, emulated ${v}`);
        }
      }
    }
  }
  return { differences, connections: n };
}
