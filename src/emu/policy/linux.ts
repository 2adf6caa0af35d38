// Policy `linux`: Linux 3.9 and later (current 6.x), checked against the real 6.18 kernel.
// Rules restated from net/ipv4/af_inet.c, net/ipv6/af_inet6.c, net/ipv4/inet_connection_sock.c,
// net/ipv4/inet_hashtables.c, net/ipv6/inet6_hashtables.c, net/core/sock_reuseport.c.

import { isLinkLocal6, isLoopback, isMulticast, isV4Mapped, isWildcard, v4FromMapped, type IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, fail, lacksPrivilege, ok, v4View, v6Class } from './common.js';
import type { BindBucket, BoundAddress, Decision, HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';
import { linuxUdp } from './linux-udp.js';

const LINUX_OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>([
  'SO_REUSEADDR', 'SO_REUSEPORT', 'IPV6_V6ONLY', 'IP_FREEBIND', 'SO_BINDTODEVICE',
]);

/** TCP_TIMEWAIT_LEN (60 s) [include/net/tcp.h]; verified on 6.18. */
export const LINUX_TIME_WAIT_NS = 60e9;

export { LINUX_FINGERPRINT } from './fingerprint.js';
import { LINUX_FINGERPRINT } from './fingerprint.js';
import { LINUX_ROUTING } from './routing-choices.js';

/**
 * Address overlap with wildcard matching (inet_rcv_saddr_equal(sk, sk2, true))
 * [net/ipv4/inet_connection_sock.c inet_rcv_saddr_equal, ipv4_rcv_saddr_equal, ipv6_rcv_saddr_equal].
 */
export function rcvSaddrEqual(sk: BoundAddress, sk2: BoundAddress, matchWildcard: boolean): boolean {
  return saddrEqual(sk, sk2, matchWildcard, matchWildcard);
}

// The same with a switch per side: wild1 lets sk1's wildcard cover sk2's address, wild2 the reverse.
function saddrEqual(sk1: BoundAddress, sk2: BoundAddress, wild1: boolean, wild2: boolean): boolean {
  if (sk1.family === 'inet6') return ipv6RcvSaddrEqual(sk1, sk2, wild1, wild2);
  return ipv4RcvSaddrEqual(v4View(sk1), v4View(sk2), sk2.ipv6only, wild1, wild2);
}

// ipv4_rcv_saddr_equal: an IPv6-only sk2 never matches; else equal, or a wildcard that may match.
function ipv4RcvSaddrEqual(a: number, b: number, sk2Ipv6only: boolean, wild1: boolean, wild2: boolean): boolean {
  if (sk2Ipv6only) return false;
  if (a === b) return true;
  return (wild1 && a === 0) || (wild2 && b === 0);
}

// ipv6_rcv_saddr_equal: sk2 of family inet counts as a v4-mapped address.
function ipv6RcvSaddrEqual(sk1: BoundAddress, sk2: BoundAddress, wild1: boolean, wild2: boolean): boolean {
  const t1 = v6Class(sk1.local);
  const t2 = sk2.family === 'inet6' ? v6Class(sk2.local) : 'mapped';
  if (t1 === 'mapped' && t2 === 'mapped') return ipv4RcvSaddrEqual(v4View(sk1), v4View(sk2), sk2.ipv6only, wild1, wild2);
  if (t1 === 'any' && t2 === 'any') return true;
  if (t2 === 'any' && wild2 && !(sk2.ipv6only && t1 === 'mapped')) return true;
  if (t1 === 'any' && wild1 && !(sk1.ipv6only && t2 === 'mapped')) return true;
  return sk2.family === 'inet6' && sk1.local !== null && sk2.local !== null && sk1.local.text === sk2.local.text;
}

/**
 * The bind-conflict test for one pair (inet_bind_conflict with relax, reuseport_ok as given)
 * [net/ipv4/inet_connection_sock.c inet_bind_conflict, inet_csk_bind_conflict].
 * Returns the rule that let them share, or null when they conflict (if their addresses overlap).
 */
function shareRule(sk: Sock, sk2: Sock, relax: boolean, reuseportOk: boolean): string | null {
  if (sk.opts.reuseaddr && sk2.opts.reuseaddr && sk2.state !== 'LISTEN') {
    // Both SO_REUSEADDR and the other is not listening: shared when relaxed (explicit bind/listen).
    return relax ? 'both have SO_REUSEADDR and the other is not listening' : null;
  }
  if (reuseportOk && sk.opts.reuseport && sk2.opts.reuseport && (sk2.state === 'TIME_WAIT' || sk.uid === sk2.uid)) {
    return sk2.state === 'TIME_WAIT' ? 'both have SO_REUSEPORT (TIME_WAIT is exempt from the uid test)' : 'both have SO_REUSEPORT and the same effective uid';
  }
  return null;
}

/** Whether a socket's address is IPv4 to the bind tables: an inet socket, or an inet6 one on ::ffff:a.b.c.d. */
function v4Like(sk: BoundAddress): boolean {
  return sk.family === 'inet' || (sk.local !== null && isV4Mapped(sk.local));
}

/**
 * Whether a bind of sk to a specific address meets sk2 at all: since 6.1 it is checked only against
 * the owners in the bhash2 bucket of its own address (IPv4 and v4-mapped share one) and in the
 * wildcard buckets (::, and 0.0.0.0 for an IPv4 or v4-mapped sk); only a wildcard bind walks every
 * owner [net/ipv4/inet_connection_sock.c inet_csk_bind_conflict, inet_use_bhash2_on_bind,
 * inet_bhash2_addr_any_conflict; net/ipv4/inet_hashtables.c inet_bind2_bucket_match_addr_any].
 * It matters where inet_rcv_saddr_equal would say equal across buckets: an IPv4 127.0.0.6 against an
 * inet6 socket on a real IPv6 address, whose IPv4 view is LOOPBACK4_IPV6 (found on the kernel).
 */
function inBindBuckets(sk: BoundAddress, sk2: BoundAddress): boolean {
  // A wildcard bind (0.0.0.0, ::, ::ffff:0.0.0.0: an IPv4 view of 0) walks every owner
  if (v4View(sk) === 0) return true;
  if (sk2.family === 'inet6' && v6Class(sk2.local) === 'any') return true;
  const v4 = v4Like(sk);
  if (v4Like(sk2)) return v4 && (v4View(sk2) === 0 || v4View(sk2) === v4View(sk));
  return !v4 && sk.local !== null && sk2.local !== null && sk.local.text === sk2.local.text;
}

/**
 * The first owner of port that conflicts with sk, or null [inet_csk_bind_conflict]. bhash2: Linux
 * 6.1 and later look at the owners of sk's own and the wildcard buckets only (inBindBuckets);
 * before (linux-2.2), at every owner of the port.
 */
export function findConflict(sk: Sock, port: number, host: HostView, relax: boolean, reuseportOk: boolean, bhash2 = true): Sock | null {
  for (const sk2 of host.owners(port)) {
    if (sk2 === sk) continue;
    if (bhash2 && !inBindBuckets(sk, sk2)) continue;
    // Sockets bound to different devices never conflict [inet_bind_conflict: sk_bound_dev_if test]
    if (sk.opts.device && sk2.opts.device && sk.opts.device !== sk2.opts.device) continue;
    if (shareRule(sk, sk2, relax, reuseportOk) !== null) continue;
    if (rcvSaddrEqual(sk, sk2, true)) return sk2;
  }
  return null;
}

/** Why a conflict is one, in words, for explain and capture comments. */
function conflictRule(sk: Sock, sk2: Sock): string {
  const why = !sk.opts.reuseaddr || !sk2.opts.reuseaddr
    ? (sk.opts.reuseaddr ? 'the other socket lacks SO_REUSEADDR (both need it)' : 'this socket lacks SO_REUSEADDR')
    : 'the other socket is listening (SO_REUSEADDR never overlaps a listener)';
  const rp = sk.opts.reuseport && sk2.opts.reuseport && sk.uid !== sk2.uid ? '; SO_REUSEPORT needs the same uid' : '';
  return `address overlaps ${describe(sk2)}: ${why}${rp} [net/ipv4/inet_connection_sock.c inet_csk_bind_conflict]`;
}

/**
 * bind(0) and listen() auto-bind: random start, odd offsets first, then even; with SO_REUSEADDR the
 * lower half of the range first; a port qualifies only if nothing overlaps (relax = false)
 * [net/ipv4/inet_connection_sock.c inet_csk_find_open_port].
 */
export function linuxFindOpenPort(sk: Sock, host: HostView): number {
  const [rangeLow, rangeHigh] = host.sysctl.ipLocalPortRange;
  let attemptHalf = sk.opts.reuseaddr ? 1 : 0;
  for (;;) {
    let low = rangeLow;
    let high = rangeHigh + 1;
    if (high - low < 4) attemptHalf = 0;
    if (attemptHalf) {
      const half = low + (((high - low) >> 2) << 1);
      if (attemptHalf === 1) high = half; else low = half;
    }
    let remaining = high - low;
    if (remaining > 1) remaining &= ~1;
    let offset = host.random(Math.max(remaining, 1)) | 1;
    for (let parity = 0; parity < 2; parity++, offset--) {
      let port = low + offset;
      for (let i = 0; i < remaining; i += 2, port += 2) {
        if (port >= high) port -= remaining;
        if (!findConflict(sk, port, host, false, false)) return port;
      }
    }
    if (attemptHalf === 1) { attemptHalf = 2; continue; }
    return 0;
  }
}

function isLocal4(addr: IpAddr, sk: Sock, host: HostView): boolean {
  return host.isLocal(addr) || host.sysctl.ipNonlocalBind || sk.opts.freebind;
}

/**
 * The SO_REUSEPORT fast path: the bucket is FASTREUSEPORT_STRICT, set by a socket of this uid whose
 * address covers this one's (its wildcard matches, this one's does not). TCP sockets have no
 * reuseport group yet at bind or listen, so the sk_reuseport_cb test always passes
 * [net/ipv4/inet_connection_sock.c sk_reuseport_match].
 */
function reuseportMatch(tb: BindBucket | undefined, sk: Sock): boolean {
  const fast = tb?.fastreuseport;
  return !!fast && sk.opts.reuseport && fast.fastuid === sk.uid && saddrEqual(fast.fastAddr, sk, true, false);
}

/**
 * The bucket once sk has the port [net/ipv4/inet_connection_sock.c inet_csk_update_fastreuse]. Since
 * Linux 6.8 ("tcp: Link bhash2 to bhash") the bucket is never empty here (sk's address bucket is
 * linked first), so its "first owner" branch (FASTREUSEPORT_ANY, fastreuse = reuse) is dead: a
 * SO_REUSEPORT socket that does not match resets the bucket to STRICT with its own uid and address,
 * the first one included, and any other socket clears it. tb->fastreuse (the SO_REUSEADDR fast path)
 * is only ever set to 1 in that dead branch, so it is not modelled. Verified on 6.18 (scenario
 * reuseport-fastpath).
 */
function updateFastreuse(sk: Sock, port: number, tb: BindBucket | undefined, host: HostView): void {
  if (!sk.opts.reuseport) host.setBindBucket(port, { fastreuseport: null });
  else if (!reuseportMatch(tb, sk)) {
    host.setBindBucket(port, { fastreuseport: { fastuid: sk.uid, fastAddr: { family: sk.family, local: sk.local, ipv6only: sk.ipv6only } } });
  }
}

/**
 * Takes the port for sk, or any free port (0): the fast path, else the walk over the port's owners;
 * the bucket is updated on success [net/ipv4/inet_connection_sock.c inet_csk_get_port].
 * `what` names the call; a conflict's rule gets `failPrefix`/`failSuffix` around it.
 */
function getPort(sk: Sock, port: number, host: HostView, what: string, failPrefix = '', failSuffix = ''): Decision {
  if (port === 0) {
    const chosen = linuxFindOpenPort(sk, host);
    if (chosen === 0) return fail('EADDRINUSE', 'no free port in ip_local_port_range [net/ipv4/inet_connection_sock.c inet_csk_find_open_port]');
    updateFastreuse(sk, chosen, host.bindBucket(chosen), host);
    return ok(`${what} picked free port ${chosen} from ip_local_port_range [net/ipv4/inet_connection_sock.c inet_csk_find_open_port]`, { port: chosen });
  }
  const tb = host.bindBucket(port);
  // A SO_REUSEPORT socket matching the bucket skips the owners altogether [net/ipv4/inet_connection_sock.c inet_csk_get_port]
  if (reuseportMatch(tb, sk)) {
    return ok(`${what}: SO_REUSEPORT fast path: port ${port}'s bind bucket was last set by a SO_REUSEPORT socket of uid ${sk.uid} on ${addressText(tb!.fastreuseport!.fastAddr)}, which covers this address, so the owners are not checked [net/ipv4/inet_connection_sock.c inet_csk_get_port, sk_reuseport_match]`);
  }
  const sk2 = findConflict(sk, port, host, true, true);
  if (sk2) return fail('EADDRINUSE', `${failPrefix}${conflictRule(sk, sk2)}${failSuffix}`, { conflict: sk2 });
  updateFastreuse(sk, port, tb, host);
  return ok(`${what}: no owner of port ${port} conflicts [net/ipv4/inet_connection_sock.c inet_csk_get_port]`);
}

function addressText(a: BoundAddress): string {
  const text = a.local?.text ?? (a.family === 'inet6' ? '::' : '0.0.0.0');
  return a.family === 'inet6' ? `[${text}]${a.ipv6only ? ' (IPv6-only)' : ''}` : text;
}

/** Runs `check` with sk temporarily bound to addr (and IPv6-only as bind would make it), restoring after. */
export function withTentativeAddress<T>(sk: Sock, addr: IpAddr, ipv6only: boolean, check: () => T): T {
  const saved = [sk.local, sk.ipv6only] as const;
  sk.local = addr;
  sk.ipv6only = ipv6only;
  try {
    return check();
  } finally {
    [sk.local, sk.ipv6only] = saved;
  }
}

/**
 * The checks bind(2) makes before it looks for the port, shared by TCP and UDP (`datagram`):
 * the address, privilege, an already bound socket; and for IPv6 whether the socket becomes
 * IPv6-only [net/ipv4/af_inet.c __inet_bind, net/ipv6/af_inet6.c __inet6_bind].
 */
export function linuxBindChecks(sk: Sock, addr: IpAddr, port: number, host: HostView, datagram: boolean): { readonly fail: Decision } | { readonly ipv6only: boolean } {
  if (sk.family === 'inet') {
    // Non-local address unless ip_nonlocal_bind / IP_FREEBIND [net/ipv4/af_inet.c __inet_bind, inet_addr_valid_or_nonlocal]
    if (!isWildcard(addr) && !isLocal4(addr, sk, host)) {
      return { fail: fail('EADDRNOTAVAIL', `${addr.text} is not an address of host ${host.name} [net/ipv4/af_inet.c __inet_bind]`) };
    }
    // Privileged ports need CAP_NET_BIND_SERVICE [net/ipv4/af_inet.c __inet_bind, inet_port_requires_bind_service]
    if (lacksPrivilege(sk, port, host.sysctl.ipUnprivilegedPortStart)) {
      return { fail: fail('EACCES', `port ${port} < ip_unprivileged_port_start ${host.sysctl.ipUnprivilegedPortStart} and uid ${sk.uid} lacks CAP_NET_BIND_SERVICE [net/ipv4/af_inet.c __inet_bind]`) };
    }
    // Already bound or not CLOSE [net/ipv4/af_inet.c __inet_bind]
    if (sk.port !== 0 || sk.state !== 'CLOSE') return { fail: fail('EINVAL', 'the socket is already bound [net/ipv4/af_inet.c __inet_bind]') };
    return { ipv6only: false };
  }
  // Multicast on a stream socket [net/ipv6/af_inet6.c __inet6_bind: SOCK_STREAM && IPV6_ADDR_MULTICAST]
  if (!datagram && isMulticast(addr) && !isV4Mapped(addr)) return { fail: fail('EINVAL', 'a TCP socket cannot bind a multicast address [net/ipv6/af_inet6.c __inet6_bind]') };
  // Privileged ports, checked first for IPv6 [net/ipv6/af_inet6.c __inet6_bind]
  if (lacksPrivilege(sk, port, host.sysctl.ipUnprivilegedPortStart)) {
    return { fail: fail('EACCES', `port ${port} < ip_unprivileged_port_start ${host.sysctl.ipUnprivilegedPortStart} and uid ${sk.uid} lacks CAP_NET_BIND_SERVICE [net/ipv6/af_inet6.c __inet6_bind]`) };
  }
  if (sk.port !== 0 || sk.state !== 'CLOSE') return { fail: fail('EINVAL', 'the socket is already bound [net/ipv6/af_inet6.c __inet6_bind]') };
  let ipv6only = sk.opts.v6only;
  if (isV4Mapped(addr)) {
    // A v4-mapped address on an IPv6-only socket [net/ipv6/af_inet6.c __inet6_bind]
    if (sk.opts.v6only) return { fail: fail('EINVAL', 'IPV6_V6ONLY socket cannot bind a v4-mapped address [net/ipv6/af_inet6.c __inet6_bind]') };
    const v4 = v4FromMapped(addr);
    if (!isWildcard(v4) && !isLocal4(v4, sk, host)) {
      return { fail: fail('EADDRNOTAVAIL', `${v4.text} is not an address of host ${host.name} [net/ipv6/af_inet6.c __inet6_bind]`) };
    }
  } else if (!isWildcard(addr)) {
    // Link-local (and link-local multicast) needs a scope (a bound device) [net/ipv6/af_inet6.c __inet6_bind: __ipv6_addr_needs_scope_id]
    const linkScope = isLinkLocal6(addr) || (isMulticast(addr) && (addr.bytes[1]! & 0x0f) <= 2);
    if (linkScope && !sk.opts.device) return { fail: fail('EINVAL', 'a link-local address needs a scope id or SO_BINDTODEVICE [net/ipv6/af_inet6.c __inet6_bind]') };
    // net.ipv6.ip_nonlocal_bind or IP_FREEBIND [include/net/ipv6.h ipv6_can_nonlocal_bind]; a datagram
    // socket may bind any multicast address [net/ipv6/af_inet6.c __inet6_bind: only non-multicast is checked]
    if (!(datagram && isMulticast(addr)) && !host.isLocal(addr) && !host.sysctl.ipNonlocalBind && !sk.opts.freebind) {
      return { fail: fail('EADDRNOTAVAIL', `${addr.text} is not an address of host ${host.name} [net/ipv6/af_inet6.c __inet6_bind]`) };
    }
    // With a bound device, a link- or host-scope address must be that device's own (a global
    // one may be any device's) [net/ipv6/addrconf.c ipv6_chk_addr_and_flags, from __inet6_bind]
    const dev = sk.opts.device;
    if (!isMulticast(addr) && dev && (isLinkLocal6(addr) || isLoopback(addr)) && host.interfaceOf(addr) !== dev && !host.sysctl.ipNonlocalBind && !sk.opts.freebind) {
      return { fail: fail('EADDRNOTAVAIL', `${addr.text} is not an address of ${host.name}/${dev}, the socket's device [net/ipv6/af_inet6.c __inet6_bind, net/ipv6/addrconf.c ipv6_chk_addr_and_flags]`) };
    }
    // A specific IPv6 address makes the socket IPv6-only [net/ipv6/af_inet6.c __inet6_bind]
    ipv6only = true;
  }
  return { ipv6only };
}

function bind4(sk: Sock, addr: IpAddr, port: number, host: HostView): Decision {
  const c = linuxBindChecks(sk, addr, port, host, false);
  if ('fail' in c) return c.fail;
  return withTentativeAddress(sk, addr, false, () => getPort(sk, port, host, 'bind'));
}

function bind6(sk: Sock, addr: IpAddr, port: number, host: HostView): Decision {
  const c = linuxBindChecks(sk, addr, port, host, false);
  if ('fail' in c) return c.fail;
  const d = withTentativeAddress(sk, addr, c.ipv6only, () => getPort(sk, port, host, 'bind'));
  if (d.errno === null) sk.ipv6only = c.ipv6only;
  return d;
}

/**
 * Listener lookup for a SYN: exact-address listeners, then wildcard ones; the highest score wins,
 * and the first reuseport listener that raises the score answers from its group at once
 * [net/ipv4/inet_hashtables.c __inet_lookup_listener, inet_lhash2_lookup, compute_score;
 * net/ipv6/inet6_hashtables.c inet6_lookup_listener, compute_score].
 */
function lookup(syn: SynInfo, listeners: readonly Sock[]): LookupResult {
  const v4 = syn.dst.family === 4;
  const dst4 = v4 ? ((syn.dst.bytes[0]! << 24) | (syn.dst.bytes[1]! << 16) | (syn.dst.bytes[2]! << 8) | syn.dst.bytes[3]!) >>> 0 : 0;
  for (let pass = 0; pass < 2; pass++) {
    let best: Sock | null = null;
    let hiscore = 0;
    // Notes for the decision record (explain), only when asked: each socket once, in the pass that judges it.
    const note = syn.note;
    const passName = pass === 0 ? 'exact-address pass' : 'wildcard pass';
    for (const sk of listeners) {
      let score: number;
      if (v4) {
        // compute_score: IPv4 sees inet sockets and dual-stack inet6 ones
        if (sk.ipv6only) { if (note && pass === 0) note(sk, 'IPv6-only: not in an IPv4 lookup'); continue; }
        const rcv = v4View(sk);
        if (rcv !== (pass === 0 ? dst4 : 0)) { if (note && pass === 0 && rcv !== 0) note(sk, 'its address does not match'); continue; }
        if (sk.opts.device && sk.opts.device !== syn.inDevice) { note?.(sk, `${passName}: bound to device ${sk.opts.device}, the SYN arrives on ${syn.inDevice}`); continue; }
        score = (sk.opts.device ? 2 : 1) + (sk.family === 'inet' ? 1 : 0);
      } else {
        if (sk.family !== 'inet6' || !sk.local) { if (note && pass === 0) note(sk, 'an IPv4 socket: not in an IPv6 lookup'); continue; }
        const want = pass === 0 ? syn.dst.text : '::';
        if (sk.local.text !== want) { if (note && pass === 0 && sk.local.text !== '::') note(sk, 'its address does not match'); continue; }
        if (sk.opts.device && sk.opts.device !== syn.inDevice) { note?.(sk, `${passName}: bound to device ${sk.opts.device}, the SYN arrives on ${syn.inDevice}`); continue; }
        score = sk.opts.device ? 2 : 1;
      }
      if (note) note(sk, `${passName}: score ${score}${sk.opts.device ? ' (device-bound)' : ''}${score > hiscore ? '' : `, not above ${hiscore} (an earlier listener keeps it)`}`);
      if (score > hiscore) {
        if (sk.opts.reuseport && sk.group) {
          const members = sk.group.members;
          // reciprocal_scale(hash, n) [net/core/sock_reuseport.c reuseport_select_sock_by_hash]
          const pick = members[Math.floor((syn.hash * members.length) / 4294967296)]!;
          if (note) note(sk, `in a SO_REUSEPORT group of ${members.length}: the connection hash picks ${pick.name}`);
          return {
            sock: pick, candidates: members.slice(), action: 'accept',
            rule: `${pass === 0 ? 'exact-address' : 'wildcard'} listener ${describe(sk)} is in a SO_REUSEPORT group of ${members.length}; the connection hash picked ${pick.name} [net/ipv4/inet_hashtables.c inet_lhash2_lookup, net/core/sock_reuseport.c reuseport_select_sock]`,
          };
        }
        best = sk;
        hiscore = score;
      }
    }
    if (best) {
      if (note && pass === 0) for (const sk of listeners) if (v4 ? !sk.ipv6only && v4View(sk) === 0 : sk.local?.text === '::') note(sk, 'wildcard: not tried, an exact-address listener matched');
      return {
        sock: best, candidates: [best], action: 'accept',
        rule: `${pass === 0 ? 'exact-address listener' : 'no exact-address listener; wildcard listener'} ${describe(best)} scored highest [net/ipv4/inet_hashtables.c __inet_lookup_listener, compute_score]`,
      };
    }
  }
  return { sock: null, candidates: [], action: 'rst', rule: `no listener on ${syn.dst.text}:${syn.dport}: RST [net/ipv4/tcp_ipv4.c tcp_v4_rcv no_tcp_socket]` };
}

export const linux: Policy = {
  name: 'linux',
  title: 'Linux 3.9 and later (current 6.x): SO_REUSEADDR never overlaps a listener; SO_REUSEPORT for the same uid',
  sources: [
    'net/ipv4/af_inet.c __inet_bind; net/ipv6/af_inet6.c __inet6_bind',
    'net/ipv4/inet_connection_sock.c inet_csk_bind_conflict, inet_csk_get_port, inet_csk_find_open_port, inet_csk_listen_start',
    'net/ipv4/inet_hashtables.c __inet_hash, inet_reuseport_add_sock, __inet_lookup_listener, compute_score',
    'net/ipv6/inet6_hashtables.c inet6_lookup_listener; net/core/sock_reuseport.c',
    'checked against the real Linux 6.18 kernel (bindlab verify-kernel; docs/kernel-observations.md)',
    'the rules in our words: docs/policies/linux.md',
  ],
  timeWaitNs: LINUX_TIME_WAIT_NS,
  // net.ipv4.tcp_tw_reuse = 2 (the default since 4.19): connect() reuses a TIME_WAIT whose address
  // is 127/8 or ::1 once tcp_tw_reuse_delay (1000 ms) has passed [net/ipv4/tcp_ipv4.c tcp_twsk_unique].
  loopbackTimeWaitReuseNs: 1_000_000_000,
  // [net/ipv4/devinet.c __inet_insert_ifa: IFA_F_SECONDARY; __inet_del_ifa: secondaries go with the primary unless IN_DEV_PROMOTE_SECONDARIES]
  ipv4Secondaries: true,
  routing: LINUX_ROUTING,
  fingerprint: LINUX_FINGERPRINT,
  families: ['inet', 'inet6'],
  // UDP bind and delivery [net/ipv4/udp.c, net/ipv6/udp.c]: ./linux-udp.ts
  udp: linuxUdp,

  setsockopt(sk, option, value, host) {
    // Changing a device binding once set needs CAP_NET_RAW; verified on 6.18 even for the same device
    // [net/core/sock.c sock_bindtoindex_locked: "if (sk->sk_bound_dev_if && !ns_capable(..., CAP_NET_RAW))"]
    if (option === 'SO_BINDTODEVICE' && sk.opts.device !== null && sk.uid !== 0) {
      return fail('EPERM', `uid ${sk.uid} lacks CAP_NET_RAW to change the device binding of ${sk.name} [net/core/sock.c sock_bindtoindex_locked]`);
    }
    return applyOption(sk, option, value, host, LINUX_OPTIONS, 'Linux has no such option: net/core/sock.c sk_setsockopt');
  },

  bind(sk, addr, port, host) {
    return sk.family === 'inet6' ? bind6(sk, addr, port, host) : bind4(sk, addr, port, host);
  },

  listen(sk, host) {
    // listen() re-takes the port with the socket already in LISTEN state (inet_csk_get_port again:
    // the fast path, else the owners); auto-binds when unbound [net/ipv4/inet_connection_sock.c inet_csk_listen_start]
    const prev = sk.state;
    sk.state = 'LISTEN';
    try {
      if (sk.port === 0) {
        const wild = sk.family === 'inet6' ? '::' : '0.0.0.0';
        return withTentativeAddress(sk, sk.local ?? wildcardOf(sk), sk.ipv6only, () => getPort(sk, 0, host, `listen auto-bind of ${wild}`));
      }
      return getPort(sk, sk.port, host, 'listen re-check', 'listen re-check: ', '; [net/ipv4/inet_connection_sock.c inet_csk_listen_start]');
    } finally {
      sk.state = prev;
    }
  },

  // IPv6 reuseport listeners go to the tail, everything else to the head [net/ipv4/inet_hashtables.c __inet_hash]
  listenerOrder: (sk) => (sk.family === 'inet6' && sk.opts.reuseport ? 'tail' : 'head'),

  groupsReuseport: (sk) => sk.opts.reuseport,

  // Join the first listener of the same family, v6only, device and uid, bound to exactly the same
  // address, that has SO_REUSEPORT now [net/ipv4/inet_hashtables.c inet_reuseport_add_sock]. One that
  // listened without it (the option set later) has no group yet: it gets one first, and both are in it
  // [net/core/sock_reuseport.c reuseport_add_sock: reuseport_alloc(sk2)].
  reuseportPeer(sk, listeners) {
    for (const sk2 of listeners) {
      if (sk2 !== sk && sk2.family === sk.family && sk2.ipv6only === sk.ipv6only && sk2.opts.device === sk.opts.device
        && sk2.opts.reuseport && sk2.uid === sk.uid && rcvSaddrEqual(sk, sk2, false)) {
        sk2.group ??= { id: sk2.id, members: [sk2] };
        return sk2;
      }
    }
    return null;
  },

  lookup: (syn, listeners) => lookup(syn, listeners),
};

function wildcardOf(sk: BoundAddress): IpAddr {
  return sk.family === 'inet6' ? { family: 6, bytes: new Uint8Array(16), text: '::' } : { family: 4, bytes: new Uint8Array(4), text: '0.0.0.0' };
}
