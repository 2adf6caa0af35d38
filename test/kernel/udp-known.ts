// Differences between the live kernel and the emulator's linux policy on UDP that are known
// emulator bugs (each confirmed on the kernel by a fact in udp-facts.ts, each told to the UDP
// engine's owner): a difference is put down to one only when the scenario shows that bug's
// conditions, step by step; anything else stays unexplained and fails the comparison.

import { isMulticast, isV4Mapped } from '../../src/emu/addr.js';
import type { Policy } from '../../src/emu/policy/types.js';
import type { KernelStep } from '../../src/kernel/run-kernel.js';
import type { DatagramStep, Scenario, SocketStep } from '../../src/scenario/types.js';

export interface KnownBug {
  readonly id: string;
  /** Where in the emulator, and what the kernel does instead. */
  readonly what: string;
}

export const KNOWN_BUGS: readonly KnownBug[] = [
  { id: 'rate-limited-icmp', what: 'src/emu/udp/layer.ts send(): a datagram whose ICMP the per-peer rate limit withholds is still reported port-unreachable; the sender sees nothing (dropped)' },
  { id: 'inet6-multicast-all', what: 'src/emu/udp/layer.ts socket(): multicastAll starts true for every socket, but an AF_INET6 socket\'s IPv4 MC_ALL starts off (inet6_create sets none; inet_create does), so it hears an IPv4 group only by its own join or after IP_MULTICAST_ALL 1' },
  { id: 'unheard-reply', what: 'src/emu/udp/layer.ts reply(): replyFrom names a source although the sending socket never receives the reply: it is connected to another peer, or bound to a group or broadcast address (the reply goes to the route\'s source, which it does not hold)' },
  { id: 'v4mapped-to-ipv6', what: 'src/emu/udp/layer.ts send() and connect(): a socket whose local address is v4-mapped (bound to ::ffff:a.b.c.d or connected to a v4-mapped peer) sending or connecting to an IPv6 address is EAFNOSUPPORT on the kernel (then unconnected, it takes datagrams the emulator\'s connected socket refuses)' },
  { id: 'bound-device-local', what: 'src/emu/udp/layer.ts sourceFor(): a device-bound socket sending to its host\'s own address on another device: IPv6 is ENETUNREACH on the kernel (the route lookup is held to the bound device); IPv4 goes over the loopback but no ICMP came back for a closed port (seen once, not pinned down); the emulator delivers it as from any local sender' },
  { id: 'multicast-if-bound-device', what: 'src/emu/udp/layer.ts setsockopt: IP_MULTICAST_IF naming another interface than the socket\'s SO_BINDTODEVICE is EINVAL on the kernel (do_ip_setsockopt: sk_bound_dev_if && imr_ifindex != sk_bound_dev_if)' },
  { id: 'leave-route-interface', what: 'src/emu/udp/layer.ts leave: a leave without an interface takes the route\'s interface (ip_mc_find_dev sets imr_ifindex), so a membership on another interface is EADDRNOTAVAIL on the kernel' },
];

/** The subnet broadcast address of an IPv4 address and prefix, as text. */
function broadcastOf(bytes: Uint8Array, prefix: number): string {
  const n = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  const b = (n | (prefix === 0 ? 0xffffffff : (0xffffffff >>> prefix))) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.');
}

const DIFF = /^(.*?) step (\d+) \(line \d+: .*?\)(?: datagram (\d+))?: (.*)$/;

/** The known bug a difference line of compareRuns comes from, or null. */
export function knownCause(s: Scenario, _policy: Policy, diff: string): string | null {
  const m = DIFF.exec(diff);
  if (!m) return null;
  const steps = s.steps as readonly KernelStep[];
  const index = Number(m[2]);
  const text = m[4]!;
  const step = steps[index];
  if (!step) return null;
  const sockStep = (name: string): SocketStep | undefined =>
    [...steps.slice(0, index)].reverse().find((x): x is SocketStep => x.kind === 'socket' && x.socket === name);
  const before = steps.slice(0, index);
  const kv = /^kernel (\S+) vs emulator (\S+)/.exec(text);
  if (step.kind === 'leave' && text === 'kernel EADDRNOTAVAIL vs emulator ok' && step.interface === undefined
    && before.some((x) => x.kind === 'join' && x.socket === step.socket && x.interface !== undefined)) return 'leave-route-interface';
  // ... and a later leave naming the interface finds the membership the emulator already dropped.
  if (step.kind === 'leave' && text === 'kernel ok vs emulator EADDRNOTAVAIL'
    && before.some((x) => x.kind === 'leave' && x.socket === step.socket && x.interface === undefined && x.group.text === step.group.text)) return 'leave-route-interface';
  const v4mappedBound = (name: string, upTo: number): boolean => {
    const b = steps.slice(0, upTo).filter((x) => x.kind === 'bind' && x.socket === name).at(-1);
    return b?.kind === 'bind' && isV4Mapped(b.address.addr);
  };
  if (step.kind === 'udp-connect' && text === 'kernel EAFNOSUPPORT vs emulator ok' && step.to.addr.family === 6 && !isV4Mapped(step.to.addr)
    && v4mappedBound(step.socket, index)) return 'v4mapped-to-ipv6';
  if ((step.kind === 'socket' || step.kind === 'setsockopt') && text === 'kernel EINVAL vs emulator ok') {
    const opts = step.options;
    const dev = opts.SO_BINDTODEVICE ?? (step.kind === 'setsockopt' ? sockStep(step.socket)?.options.SO_BINDTODEVICE : undefined);
    if (dev && opts.IP_MULTICAST_IF && opts.IP_MULTICAST_IF !== dev) return 'multicast-if-bound-device';
  }
  if (step.kind !== 'datagram') return null;
  const d = step as DatagramStep;
  const sender = d.socket !== undefined ? sockStep(d.socket) : undefined;
  const senderConnect = d.socket !== undefined ? before.filter((x) => x.kind === 'udp-connect' && x.socket === d.socket).at(-1) : undefined;
  if (/answered from none on the kernel/.test(text)) {
    const connectedElsewhere = senderConnect?.kind === 'udp-connect' && !(senderConnect.to.addr.text === d.to.addr.text && senderConnect.to.port === d.to.port);
    const bound = before.filter((x) => x.kind === 'bind' && x.socket === d.socket).at(-1);
    const host = sender ? s.hosts.find((h) => h.name === sender.host) : undefined;
    const a = bound?.kind === 'bind' ? bound.address.addr : undefined;
    const groupOrBroadcast = a !== undefined && (isMulticast(a) || a.text === '255.255.255.255'
      || (host?.interfaces.some((i) => i.addresses.some((c) => c.addr.family === 4 && a.family === 4 && broadcastOf(c.addr.bytes, c.prefix) === a.text)) ?? false));
    if (connectedElsewhere || groupOrBroadcast) return 'unheard-reply';
  }
  if (!kv) return null;
  const [, k, e] = kv as unknown as [string, string, string];
  if (k === 'EAFNOSUPPORT' && sender?.family === 'inet6' && d.to.addr.family === 6 && !isV4Mapped(d.to.addr)) {
    const bound = before.filter((x) => x.kind === 'bind' && x.socket === d.socket).at(-1);
    const mapped = (bound?.kind === 'bind' && isV4Mapped(bound.address.addr)) || (senderConnect?.kind === 'udp-connect' && isV4Mapped(senderConnect.to.addr));
    if (mapped) return 'v4mapped-to-ipv6';
  }
  const refusedConnect = (name: string): boolean => before.some((x, i) => x.kind === 'udp-connect' && x.socket === name
    && x.to.addr.family === 6 && !isV4Mapped(x.to.addr) && v4mappedBound(name, i));
  if ([k, e].some((r) => r.split('+').some((n) => sockStep(n) && refusedConnect(n)))) return 'v4mapped-to-ipv6';
  if (sender?.options.SO_BINDTODEVICE) {
    const host = s.hosts.find((h) => h.name === sender.host)!;
    const to = isV4Mapped(d.to.addr) ? d.to.addr.text.replace(/^::ffff:/, '') : d.to.addr.text;
    const owner = host.interfaces.find((i) => i.addresses.some((c) => c.addr.text === to));
    if (owner && owner.name !== sender.options.SO_BINDTODEVICE) return 'bound-device-local';
  }
  if (k === 'dropped' && e === 'port-unreachable' && d.count > 6) return 'rate-limited-icmp';
  if (k === 'dropped' && e === 'port-unreachable' && before.some((x) => x.kind === 'datagram' && x.to.addr.text === d.to.addr.text && x.count >= 6)) return 'rate-limited-icmp';
  const group = isV4Mapped(d.to.addr) ? /^::ffff:2(2[4-9]|3\d)\./.test(d.to.addr.text) : isMulticast(d.to.addr);
  if (group) {
    // Receivers that differ are all AF_INET6 sockets: the IPv4 MC_ALL bit or IPv6's mc_all.
    const ks = new Set(k.split('+'));
    const es = new Set(e.split('+'));
    const differ = [...ks].filter((x) => !es.has(x)).concat([...es].filter((x) => !ks.has(x))).filter((x) => x !== 'dropped');
    if (differ.length && differ.every((x) => sockStep(x)?.family === 'inet6')) return 'inet6-multicast-all';
  }
  return null;
}
