// The kernel's datagrams and the ICMP errors about them beside the `linux` policy's, link by link:
// what `bindlab verify-kernel --capture` adds to the TCP comparison (packet-compare.ts) for UDP.
// Each UDP datagram, and each ICMP / ICMPv6 destination unreachable or time exceeded quoting one,
// is keyed by the link it crossed, its addresses and its service port (the lower of the two, when
// below the automatic range: a client's automatic port is random on both sides), in the order
// sent; the count of each key and the TTL (hop limit) and DF of each packet, an error's type and
// code and the TTL of the datagram it quotes are compared by value. IDs, checksums and payloads
// (the harness tags its datagrams) are not.

import { decodeIpv4, IPPROTO_ICMPV6, IPPROTO_UDP } from '../emu/wire/ipv4.js';
import { decodeIpv6 } from '../emu/wire/ipv6.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../emu/wire/ethernet.js';
import { WireError } from '../emu/wire/errors.js';
import { IPPROTO_ICMP } from '../emu/wire/icmp.js';
import { eitherSide } from './packet-compare.js';

/** One datagram's or ICMP error's header facts. */
export interface DatagramFacts {
  /** The capture interface: a link name, or HOST/lo. */
  readonly where: string;
  /** What it is, with its addresses and service port: the key packets are matched by. */
  readonly key: string;
  readonly ttl: number;
  readonly df: boolean;
  /** An error's: the TTL (hop limit) of the datagram it quotes. */
  readonly quotedTtl?: number;
}

/** The lowest automatic port (ip_local_port_range's default start): ports from here on are random on both sides. */
const AUTOMATIC = 32768;

const service = (a: number, b: number): string => (Math.min(a, b) < AUTOMATIC ? String(Math.min(a, b)) : '*');
const host = (family: 4 | 6, a: string): string => (family === 6 ? `[${a}]` : a);

/** The UDP datagram quoted at bytes[at, end) as "src → dst:port", or null when it is not one. */
function quotedDatagram(bytes: Uint8Array, at: number, end: number, v6: boolean): { text: string; ttl: number } | null {
  if (v6) {
    if (end - at < 48 || bytes[at + 6] !== IPPROTO_UDP) return null;
    const ip = decodeIpv6(bytes, at, Math.max(end, at + 40));
    return { text: `${host(6, ip.src.text)} → ${host(6, ip.dst.text)}:${service((bytes[at + 40]! << 8) | bytes[at + 41]!, (bytes[at + 42]! << 8) | bytes[at + 43]!)}`, ttl: ip.hopLimit };
  }
  const hl = (bytes[at]! & 0x0f) * 4;
  if (end - at < hl + 8 || bytes[at + 9] !== IPPROTO_UDP) return null;
  const src = [...bytes.subarray(at + 12, at + 16)].join('.');
  const dst = [...bytes.subarray(at + 16, at + 20)].join('.');
  const u = at + hl;
  return { text: `${src} → ${dst}:${service((bytes[u]! << 8) | bytes[u + 1]!, (bytes[u + 2]! << 8) | bytes[u + 3]!)}`, ttl: bytes[at + 8]! };
}

/**
 * The facts of an IP packet at bytes[at] (etherType: which IP) that is a UDP datagram or an ICMP
 * error about one (IPv4 types 3 and 11, ICMPv6 types 1 and 3), or null.
 */
export function datagramFactsAt(where: string, bytes: Uint8Array, at: number, etherType: number): DatagramFacts | null {
  try {
    const v6 = etherType === ETHERTYPE_IPV6;
    if (!v6 && etherType !== ETHERTYPE_IPV4) return null;
    const ip = v6 ? decodeIpv6(bytes, at, bytes.length) : decodeIpv4(bytes, at, bytes.length);
    const proto = 'nextHeader' in ip ? ip.nextHeader : ip.protocol;
    const ttl = 'hopLimit' in ip ? ip.hopLimit : ip.ttl;
    const df = 'dontFragment' in ip ? ip.dontFragment : false;
    const family = v6 ? 6 : 4;
    const p = ip.payload;
    const off = p.byteOffset - bytes.byteOffset;
    const addrs = `${host(family, ip.src.text)} → ${host(family, ip.dst.text)}`;
    if (proto === IPPROTO_UDP && p.length >= 8) {
      return { where, key: `${where}: UDP ${addrs}:${service((p[0]! << 8) | p[1]!, (p[2]! << 8) | p[3]!)}`, ttl, df };
    }
    if ((proto === IPPROTO_ICMP && (p[0] === 3 || p[0] === 11)) || (proto === IPPROTO_ICMPV6 && (p[0] === 1 || p[0] === 3))) {
      const q = quotedDatagram(bytes, off + 8, off + p.length, v6);
      if (!q) return null;
      return { where, key: `${where}: ICMP${v6 ? 'v6' : ''} ${p[0]}/${p[1]} ${addrs} about ${q.text}`, ttl, df, quotedTtl: q.ttl };
    }
  } catch (e) {
    if (e instanceof WireError) return null;
    throw e;
  }
  return null;
}

/** One line per key whose count differs, and per packet whose TTL, DF or quoted TTL differ. */
export function compareDatagrams(file: string, kernel: readonly DatagramFacts[], emulated: readonly DatagramFacts[]): { differences: string[]; datagrams: number } {
  const group = (xs: readonly DatagramFacts[]) => {
    const m = new Map<string, DatagramFacts[]>();
    for (const x of xs) {
      const l = m.get(x.key);
      if (l) l.push(x);
      else m.set(x.key, [x]);
    }
    return m;
  };
  const differences: string[] = [];
  let n = 0;
  for (const [key, ks, es] of eitherSide(group(kernel), group(emulated))) {
    if (ks.length !== es.length) differences.push(`${file}: ${key}: the kernel sent ${ks.length}, the emulator ${es.length}`);
    for (let i = 0; i < Math.min(ks.length, es.length); i++) {
      n++;
      const a = ks[i]!;
      const b = es[i]!;
      const facts: [string, unknown, unknown][] = [['TTL', a.ttl, b.ttl], ['DF', a.df, b.df], ['quoted TTL', a.quotedTtl, b.quotedTtl]];
      for (const [name, kv, ev] of facts) if (kv !== ev) differences.push(`${file}: ${key} #${i + 1}: ${name} kernel ${String(kv ?? '-')}, emulated ${String(ev ?? '-')}`);
    }
  }
  return { differences, datagrams: n };
}
