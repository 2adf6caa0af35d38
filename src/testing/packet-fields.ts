// A frame as named fields, in header order, for telling where two packets differ: the golden
// diff reports "tcp.window 29200 ≠ 64240", never a byte offset. Decoding is the wire layer's.

import { decodeArp } from '../emu/wire/arp.js';
import { WireError } from '../emu/wire/errors.js';
import { decodeEthernet, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../emu/wire/ethernet.js';
import { decodeIcmpv6 } from '../emu/wire/icmpv6.js';
import { decodeIpv4, IPPROTO_ICMPV6, IPPROTO_TCP } from '../emu/wire/ipv4.js';
import { decodeIpv6 } from '../emu/wire/ipv6.js';
import { decodeTcp, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, type TcpOption } from '../emu/wire/tcp.js';
import type { IpAddr } from '../emu/addr.js';

export interface DecodedPacket {
  /** One line: "TCP 10.0.0.100:40512 → 10.0.0.2:8080 SYN-ACK", "ARP who-has 10.0.0.2 tell 10.0.0.100". */
  readonly summary: string;
  /** Field name (Wireshark-like) and its value as text, in header order. */
  readonly fields: readonly (readonly [string, string])[];
}

const mac = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const hex = (n: number, w: number) => `0x${n.toString(16).padStart(w, '0')}`;

/** The flags as a name: SYN, SYN-ACK, ACK, PSH-ACK, FIN-ACK, RST, RST-ACK. */
export function tcpFlagNames(flags: number): string {
  const names: [number, string][] = [[TCP_SYN, 'SYN'], [TCP_FIN, 'FIN'], [TCP_RST, 'RST'], [TCP_PSH, 'PSH'], [TCP_URG, 'URG'], [TCP_ACK, 'ACK']];
  const on = names.filter(([bit]) => flags & bit).map(([, n]) => n);
  return on.length ? on.join('-') : 'none';
}

function endpoint(a: IpAddr, port: number): string {
  return a.family === 6 ? `[${a.text}]:${port}` : `${a.text}:${port}`;
}

function optionFields(options: readonly TcpOption[]): [string, string][] {
  const out: [string, string][] = [['tcp.options', options.map((o) => o.kind).join(',') || 'none']];
  for (const o of options) {
    switch (o.kind) {
      case 'mss': out.push(['tcp.options.mss', String(o.mss)]); break;
      case 'windowScale': out.push(['tcp.options.wscale', String(o.shift)]); break;
      case 'timestamps': out.push(['tcp.options.tsval', String(o.tsval)], ['tcp.options.tsecr', String(o.tsecr)]); break;
      case 'sack': out.push(['tcp.options.sack', o.blocks.map(([l, r]) => `${l}-${r}`).join(',')]); break;
      default: break;
    }
  }
  return out;
}

/** Decodes as far as the wire layer can; a layer that fails is one field saying why. */
export function decodePacket(frame: Uint8Array): DecodedPacket {
  const fields: [string, string][] = [['frame.len', String(frame.length)]];
  let summary = `${frame.length}-byte frame`;
  try {
    const eth = decodeEthernet(frame, 0, frame.length);
    fields.push(['eth.dst', mac(eth.dst)], ['eth.src', mac(eth.src)], ['eth.type', hex(eth.etherType, 4)]);
    const at = ETHERNET_HEADER_LEN;
    if (eth.etherType === ETHERTYPE_ARP) {
      const arp = decodeArp(frame, at, frame.length);
      fields.push(['arp.opcode', arp.op === 1 ? 'request' : 'reply'], ['arp.src.hw_mac', mac(arp.senderMac)], ['arp.src.proto_ipv4', arp.senderIp.text],
        ['arp.dst.hw_mac', mac(arp.targetMac)], ['arp.dst.proto_ipv4', arp.targetIp.text]);
      summary = arp.op === 1 ? `ARP who-has ${arp.targetIp.text} tell ${arp.senderIp.text}` : `ARP ${arp.senderIp.text} is-at ${mac(arp.senderMac)}`;
      return { summary, fields };
    }
    let src: IpAddr, dst: IpAddr, proto: number, payloadAt: number, payloadEnd: number;
    if (eth.etherType === ETHERTYPE_IPV4) {
      const ip = decodeIpv4(frame, at, frame.length);
      fields.push(['ip.src', ip.src.text], ['ip.dst', ip.dst.text], ['ip.proto', String(ip.protocol)], ['ip.ttl', String(ip.ttl)],
        ['ip.id', hex(ip.id, 4)], ['ip.flags.df', ip.dontFragment ? '1' : '0']);
      ({ src, dst, protocol: proto } = ip);
      payloadAt = ip.payload.byteOffset - frame.byteOffset;
      payloadEnd = payloadAt + ip.payload.length;
    } else if (eth.etherType === ETHERTYPE_IPV6) {
      const ip = decodeIpv6(frame, at, frame.length);
      fields.push(['ipv6.src', ip.src.text], ['ipv6.dst', ip.dst.text], ['ipv6.nxt', String(ip.nextHeader)], ['ipv6.hlim', String(ip.hopLimit)],
        ['ipv6.flow', hex(ip.flowLabel, 5)]);
      ({ src, dst, nextHeader: proto } = ip);
      payloadAt = ip.payload.byteOffset - frame.byteOffset;
      payloadEnd = payloadAt + ip.payload.length;
    } else {
      return { summary: `ethertype ${hex(eth.etherType, 4)}`, fields };
    }
    if (proto === IPPROTO_TCP) {
      const t = decodeTcp(frame, payloadAt, payloadEnd, src, dst);
      const flags = tcpFlagNames(t.flags);
      fields.push(['tcp.srcport', String(t.srcPort)], ['tcp.dstport', String(t.dstPort)], ['tcp.seq', String(t.seq)], ['tcp.ack', String(t.ack)],
        ['tcp.flags', flags], ['tcp.window_size_value', String(t.window)], ['tcp.urgent_pointer', String(t.urgent)], ...optionFields(t.options),
        ['tcp.len', String(t.payload.length)], ['tcp.payload', JSON.stringify(new TextDecoder().decode(t.payload))]);
      summary = `TCP ${endpoint(src, t.srcPort)} → ${endpoint(dst, t.dstPort)} ${flags}${t.payload.length ? ` len ${t.payload.length}` : ''}`;
    } else if (proto === IPPROTO_ICMPV6) {
      const m = decodeIcmpv6(frame, payloadAt, payloadEnd, src, dst);
      const ll = m.type === 'ns' ? m.sourceLinkAddr : m.targetLinkAddr;
      fields.push(['icmpv6.type', m.type === 'ns' ? 'neighbor solicitation' : 'neighbor advertisement'], ['icmpv6.nd.target', m.target.text],
        ['icmpv6.opt.linkaddr', ll ? mac(ll) : 'none']);
      if (m.type === 'na') fields.push(['icmpv6.nd.na.flags', `${m.router ? 'R' : ''}${m.solicited ? 'S' : ''}${m.override ? 'O' : ''}`]);
      summary = m.type === 'ns' ? `NDP who-has ${m.target.text} tell ${src.text}` : `NDP ${m.target.text} is-at ${ll ? mac(ll) : '?'}`;
    } else {
      summary = `IP ${src.text} → ${dst.text} protocol ${proto}`;
    }
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    fields.push(['decode', `${e.kind}: ${e.message}`]);
  }
  return { summary, fields };
}
