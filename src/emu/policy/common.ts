// Helpers shared by several policies: address views of a socket and the option switchboard.

import { isV4Mapped, isWildcard, type IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import type { Decision, Errno, HostView, Sock } from './types.js';

export const ok = (rule: string, extra?: Partial<Decision>): Decision => ({ errno: null, rule, ...extra });
export const fail = (errno: Errno, rule: string, extra?: Partial<Decision>): Decision => ({ errno, rule, ...extra });

/** Linux's LOOPBACK4_IPV6 (127.0.0.6): the IPv4 view of an inet6 socket bound to a real IPv6 address. */
const LOOPBACK4_IPV6 = 0x7f000006;

/**
 * The IPv4 receive address of a socket as a uint32 (Linux sk_rcv_saddr): the address of an
 * inet socket, the mapped part of ::ffff:a.b.c.d, 0 for :: or unbound, 127.0.0.6 for a
 * specific IPv6 address.
 */
export function v4View(sk: Pick<Sock, 'local'>): number {
  const a = sk.local;
  if (!a) return 0;
  if (a.family === 4) return u32(a.bytes, 0);
  if (isV4Mapped(a)) return u32(a.bytes, 12);
  if (isWildcard(a)) return 0;
  return LOOPBACK4_IPV6;
}

export function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Linux ipv6_addr_type, reduced to the classes the bind rules use. */
export type V6Class = 'any' | 'mapped' | 'unicast';
export function v6Class(a: IpAddr | null): V6Class {
  if (!a || isWildcard(a)) return 'any';
  if (isV4Mapped(a)) return 'mapped';
  return 'unicast';
}

/** The IPv4 address of a socket for BSD-style rules: its own, or the mapped part; null = wildcard or unbound. */
export function specificV4(sk: Sock): number {
  return v4View(sk);
}

/**
 * Options every policy handles the same way once it has said the OS has them.
 * `has` lists the options the OS knows; the rest are ENOPROTOOPT.
 */
export function applyOption(
  sk: Sock,
  option: OptionName,
  value: boolean | string,
  host: HostView,
  has: ReadonlySet<OptionName>,
  citation: string,
): Decision {
  if (!has.has(option)) return fail('ENOPROTOOPT', `${option} does not exist on this OS [${citation}]`);
  const on = value === true;
  switch (option) {
    case 'SO_REUSEADDR': sk.opts.reuseaddr = on; break;
    case 'SO_REUSEPORT': sk.opts.reuseport = on; break;
    case 'SO_REUSEPORT_LB': sk.opts.reuseportLb = on; break;
    case 'SO_EXCLUSIVEADDRUSE': sk.opts.exclusive = on; break;
    case 'IP_FREEBIND': sk.opts.freebind = on; break;
    case 'IPV6_V6ONLY':
      if (sk.family !== 'inet6') return fail('ENOPROTOOPT', `IPV6_V6ONLY is an IPv6 option and this is an inet socket [${citation}]`);
      // Linux do_ipv6_setsockopt: "if (inet_sk(sk)->inet_num) return -EINVAL" (no change once bound)
      if (sk.port !== 0) return fail('EINVAL', 'IPV6_V6ONLY cannot change once the socket is bound [net/ipv6/ipv6_sockglue.c do_ipv6_setsockopt]');
      sk.opts.v6only = on;
      sk.ipv6only = on;
      break;
    case 'SO_BINDTODEVICE': {
      const dev = typeof value === 'string' ? value : '';
      if (dev === '') { sk.opts.device = null; break; }
      if (!host.interfaces.includes(dev)) return fail('ENODEV', `no interface "${dev}" on host ${host.name} [net/core/sock.c sock_setbindtodevice]`);
      sk.opts.device = dev;
      break;
    }
  }
  return ok(`${option} set`);
}

/** True when the port needs privilege and the caller is not root. */
export function lacksPrivilege(sk: Sock, port: number, firstUnprivileged: number): boolean {
  return port !== 0 && port < firstUnprivileged && sk.uid !== 0;
}

export function describe(sk: Sock): string {
  const where = sk.local ? `${sk.local.family === 6 ? `[${sk.local.text}]` : sk.local.text}:${sk.port}` : 'unbound';
  const state = sk.kind === 'socket' && sk.state === 'CLOSE' ? (sk.port ? 'bound' : 'unbound') : sk.state;
  const opts = [sk.opts.reuseaddr && 'SO_REUSEADDR', sk.opts.reuseport && 'SO_REUSEPORT', sk.opts.reuseportLb && 'SO_REUSEPORT_LB',
    sk.opts.exclusive && 'SO_EXCLUSIVEADDRUSE', sk.opts.device && `dev ${sk.opts.device}`].filter(Boolean).join(',');
  return `${sk.hostName}/${sk.processName}/${sk.name} (uid ${sk.uid}, ${state}${sk.local ? ' ' + where : ''}${opts ? `, ${opts}` : ''})`;
}
