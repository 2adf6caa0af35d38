// IP addresses as the emulator uses them: parsed once, compared by canonical text.
// IPv4 text is dotted quad; IPv6 text is RFC 5952 (lower case, longest zero run as "::").

export type Family = 4 | 6;

export interface IpAddr {
  readonly family: Family;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
  /** Canonical text; equal addresses have equal text, so it is the hash key. */
  readonly text: string;
}

export interface Cidr {
  readonly addr: IpAddr;
  readonly prefix: number;
  readonly text: string;
}

export interface Endpoint {
  readonly addr: IpAddr;
  readonly port: number;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseIpv4(text: string): IpAddr | null {
  const m = V4_RE.exec(text);
  if (!m) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = m[i + 1]!;
    if (part.length > 1 && part[0] === '0') return null; // no octal-looking parts
    const v = Number(part);
    if (v > 255) return null;
    bytes[i] = v;
  }
  return { family: 4, bytes, text: formatIpv4(bytes) };
}

export function parseIpv6(input: string): IpAddr | null {
  let text = input;
  if (text.length === 0 || text.length > 45) return null;
  const bytes = new Uint8Array(16);
  // An embedded dotted quad at the end (::ffff:10.0.0.1).
  let tail: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (lastColon >= 0 && text.indexOf('.', lastColon) > lastColon) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return null;
    tail = v4.bytes;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0]!);
  const rest = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !rest) return null;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const groups = [...head, ...new Array<number>(8 - total).fill(0), ...rest];
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = groups[i]! >> 8;
    bytes[i * 2 + 1] = groups[i]! & 0xff;
  }
  if (tail) bytes.set(tail, 12);
  return { family: 6, bytes, text: formatIpv6(bytes) };
}

/** Parses an IPv4 or IPv6 address (no brackets, no zone). */
export function parseIp(text: string): IpAddr | null {
  return text.includes(':') ? parseIpv6(text) : parseIpv4(text);
}

export function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // v4-mapped addresses keep the dotted tail, as every tool prints them.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestAt = -1;
  let bestLen = 1; // RFC 5952: a single zero group is not shortened
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

export function makeIp(family: Family, bytes: Uint8Array): IpAddr {
  const copy = Uint8Array.from(bytes);
  return { family, bytes: copy, text: family === 4 ? formatIpv4(copy) : formatIpv6(copy) };
}

export const IPV4_ANY: IpAddr = makeIp(4, new Uint8Array(4));
export const IPV6_ANY: IpAddr = makeIp(6, new Uint8Array(16));

export function isWildcard(a: IpAddr): boolean {
  return a.bytes.every((x) => x === 0);
}

export function isV4Mapped(a: IpAddr): boolean {
  if (a.family !== 6) return false;
  for (let i = 0; i < 10; i++) if (a.bytes[i] !== 0) return false;
  return a.bytes[10] === 0xff && a.bytes[11] === 0xff;
}

/** The IPv4 address inside ::ffff:a.b.c.d. */
export function v4FromMapped(a: IpAddr): IpAddr {
  return makeIp(4, a.bytes.subarray(12, 16));
}

export function v4ToMapped(a: IpAddr): IpAddr {
  const b = new Uint8Array(16);
  b[10] = 0xff; b[11] = 0xff;
  b.set(a.bytes, 12);
  return makeIp(6, b);
}

export function isLinkLocal6(a: IpAddr): boolean {
  return a.family === 6 && a.bytes[0] === 0xfe && (a.bytes[1]! & 0xc0) === 0x80;
}

export function isMulticast(a: IpAddr): boolean {
  return a.family === 4 ? (a.bytes[0]! & 0xf0) === 0xe0 : a.bytes[0] === 0xff;
}

export function isLoopback(a: IpAddr): boolean {
  return a.family === 4 ? a.bytes[0] === 127 : a.text === '::1';
}

export function ipEqual(a: IpAddr, b: IpAddr): boolean {
  return a.text === b.text;
}

/** True when addr lies in the network of cidr. */
/** How many leading bits two addresses of one family share. */
export function commonPrefix(a: IpAddr, b: IpAddr): number {
  let n = 0;
  for (let i = 0; i < a.bytes.length; i++) {
    const x = a.bytes[i]! ^ b.bytes[i]!;
    if (x === 0) { n += 8; continue; }
    return n + Math.clz32(x) - 24;
  }
  return n;
}

export function inSubnet(cidr: Cidr, addr: IpAddr): boolean {
  if (cidr.addr.family !== addr.family) return false;
  let bits = cidr.prefix;
  for (let i = 0; i < cidr.addr.bytes.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.addr.bytes[i]! & mask) !== (addr.bytes[i]! & mask)) return false;
  }
  return true;
}

/** Parses "10.0.0.1/24" or "fd00::1/64"; a bare address gets /32 or /128. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addr = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!addr) return null;
  const max = addr.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  return { addr, prefix, text: `${addr.text}/${prefix}` };
}

/** Parses "10.0.0.2:80", "[fd00::1]:80", "[::]:0". */
export function parseEndpoint(text: string): Endpoint | null {
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return null;
    host = text.slice(1, close);
    port = text.slice(close + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(':')) return null; // IPv6 needs brackets
  }
  const addr = parseIp(host);
  if (!addr || !/^\d{1,5}$/.test(port)) return null;
  const p = Number(port);
  if (p > 65535) return null;
  return { addr, port: p };
}

export function formatEndpoint(e: Endpoint): string {
  return e.addr.family === 6 ? `[${e.addr.text}]:${e.port}` : `${e.addr.text}:${e.port}`;
}
