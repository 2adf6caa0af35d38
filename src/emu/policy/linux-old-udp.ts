// UDP rules of the old Linux policies (issue 18): `linux-2.2` (modelled, like its TCP rules, on the
// 2.6.x-3.8 code: net/ipv4/udp.c udp_lib_get_port, __udp4_lib_lookup, __udp4_lib_mcast_deliver and
// net/ipv6/udp.c __udp6_lib_lookup, __udp6_lib_mcast_deliver) and the 2.0 family `linux-1.3.60` /
// `pajari-1999` (2.0 net/ipv4/udp.c udp_rcv with af_inet.c inet_bind, get_sock, get_sock_mcast).
// Neither has SO_REUSEPORT: a unicast datagram goes to one socket by score, a broadcast or multicast
// one to every matching socket.

import { isLinkLocal6, isMulticast, isV4Mapped, isWildcard, v4FromMapped, type IpAddr } from '../addr.js';
import { describe, fail, lacksPrivilege, ok, v4View } from './common.js';
import { findConflict } from './linux.js';
import type { Decision, HostView, Policy } from './types.js';
import type { DatagramInfo, DeliveryResult, UdpRules, UdpSock } from './udp-types.js';
import {
  delivered, destination, dropped, ipv4Of, joinedHere, local6, names, newestBound, oneReceiver, plain, portUnreachable,
} from './udp-common.js';

// ---- linux-2.2 (2.6.x-3.8 code) --------------------------------------------------------------

const GET_PORT = '2.6 net/ipv4/udp.c udp_lib_get_port, udp_lib_lport_inuse';

/** A multicast IPv6 group of link-local scope (ff02::/16): ipv6_addr_type marks it IPV6_ADDR_LINKLOCAL [2.6 net/ipv6/addrconf.c __ipv6_addr_type]. */
const linkScopeGroup = (a: IpAddr): boolean => a.family === 6 && a.bytes[0] === 0xff && (a.bytes[1]! & 0x0f) === 2;

/**
 * bind(2) of a UDP socket: the address checks of inet_bind / inet6_bind (multicast and broadcast
 * addresses allowed for UDP), then udp_lib_get_port: another owner conflicts unless both have
 * SO_REUSEADDR, they are bound to different devices, or their addresses do not overlap
 * [2.6 net/ipv4/af_inet.c inet_bind; net/ipv6/af_inet6.c inet6_bind; net/ipv4/udp.c udp_lib_lport_inuse].
 */
function bind22(sk: UdpSock, addr: IpAddr, port: number, host: HostView): Decision {
  const v6 = sk.family === 'inet6';
  const mapped = v6 && isV4Mapped(addr);
  if (mapped && sk.opts.v6only) return fail('EINVAL', 'IPV6_V6ONLY socket cannot bind a v4-mapped address [2.6 net/ipv6/af_inet6.c inet6_bind]');
  const check = mapped ? v4FromMapped(addr) : addr;
  const cite = v6 ? '2.6 net/ipv6/af_inet6.c inet6_bind' : '2.6 net/ipv4/af_inet.c inet_bind';
  if (v6 && !mapped && (isLinkLocal6(check) || linkScopeGroup(check)) && !sk.opts.device) {
    return fail('EINVAL', `${check.text} has link-local scope and needs a scope id or SO_BINDTODEVICE [${cite}]`);
  }
  // A local, broadcast or multicast address, or ip_nonlocal_bind / IP_FREEBIND [inet_bind: inet_addr_type; inet6_bind: ipv6_chk_addr]
  const nonlocalOk = sk.opts.freebind || (check.family === 4 && host.sysctl.ipNonlocalBind);
  if (!isWildcard(check) && !isMulticast(check) && !host.isLocal(check) && !nonlocalOk) {
    return fail('EADDRNOTAVAIL', `${check.text} is not an address of host ${host.name} [${cite}]`);
  }
  if (lacksPrivilege(sk, port, 1024)) return fail('EACCES', `port ${port} < PROT_SOCK (1024) and uid ${sk.uid} lacks CAP_NET_BIND_SERVICE [${cite}]`);
  if (sk.port !== 0) return fail('EINVAL', `the socket is already bound [${cite}]`);
  const saved = [sk.local, sk.ipv6only] as const;
  sk.local = addr;
  sk.ipv6only = v6 && (sk.opts.v6only || (!mapped && !isWildcard(addr)));
  try {
    if (port === 0) {
      const chosen = autoPort(host);
      if (chosen === 0) return fail('EADDRINUSE', `no free port in ip_local_port_range [${GET_PORT}]`);
      return ok(`picked free port ${chosen} from ip_local_port_range (the search order per 2.6.x version is UNCONFIRMED) [${GET_PORT}]`, { port: chosen });
    }
    // udp_lib_lport_inuse: (!sk2->sk_reuse || !sk->sk_reuse), devices compatible, saddr_comp
    const sk2 = findConflict(sk, port, host, true, false, false);
    if (sk2) {
      const why = sk.opts.reuseaddr ? 'the other socket lacks SO_REUSEADDR (both need it)' : 'this socket lacks SO_REUSEADDR';
      return fail('EADDRINUSE', `address overlaps ${describe(sk2)}: ${why} [${GET_PORT}]`, { conflict: sk2 });
    }
    return ok(`no owner of port ${port} conflicts [${GET_PORT}]`);
  } finally {
    [sk.local, sk.ipv6only] = saved;
  }
}

/** A random start in ip_local_port_range, then the next port nobody holds (UNCONFIRMED for UDP: udp_lib_get_port's search changed across 2.6.x). */
function autoPort(host: HostView): number {
  const [low, high] = host.sysctl.ipLocalPortRange;
  const n = high - low + 1;
  let port = low + host.random(n);
  for (let i = 0; i < n; i++, port = port >= high ? low : port + 1) if (!host.portHeld(port)) return port;
  return 0;
}

/**
 * __udp4_lib_lookup: over the port's chain, newest bind first (sk_add_node at the head); an AF_INET
 * socket scores 1 (dual-stack AF_INET6 0, IPv6-only never), +2 each for a matching bound address,
 * connected peer address, peer port and bound device (a mismatch skips the socket); 9 wins at once,
 * otherwise the first strictly highest [2.6 net/ipv4/udp.c __udp4_lib_lookup].
 */
function lookup4(dg: DatagramInfo, socks: readonly UdpSock[], dst4: number): { sock: UdpSock; score: number } | null {
  let best: UdpSock | null = null;
  let hi = -1;
  for (const s of [...socks].sort(newestBound)) {
    if (s.local === null || (s.family === 'inet6' && s.ipv6only)) continue;
    let score = s.family === 'inet' ? 1 : 0;
    const rcv = v4View(s);
    if (rcv !== 0) { if (rcv !== dst4) continue; score += 2; }
    if (s.remote) {
      if (ipv4Of(s.remote.addr) !== ipv4Of(dg.src)) continue;
      score += 2;
      if (s.remote.port !== dg.sport) continue;
      score += 2;
    }
    if (s.opts.device) { if (s.opts.device !== dg.inDevice) continue; score += 2; }
    dg.note?.(s, `score ${score}`);
    if (score === 9) return { sock: s, score };
    if (score > hi) { best = s; hi = score; }
  }
  return best ? { sock: best, score: hi } : null;
}

/**
 * __udp6_lib_lookup: AF_INET6 sockets only, +1 each for the peer port, a bound address, the peer
 * address and the bound device; 4 wins at once [2.6 net/ipv6/udp.c __udp6_lib_lookup].
 */
function lookup6(dg: DatagramInfo, socks: readonly UdpSock[]): { sock: UdpSock; score: number } | null {
  let best: UdpSock | null = null;
  let hi = -1;
  for (const s of [...socks].sort(newestBound)) {
    if (s.local === null || s.family !== 'inet6') continue;
    let score = 0;
    if (s.remote) { if (s.remote.port !== dg.sport || plain(s.remote.addr) !== plain(dg.src)) continue; score += 2; }
    if (!isWildcard(s.local)) { if (local6(s, dg.dst) !== 'exact') continue; score++; }
    if (s.opts.device) { if (s.opts.device !== dg.inDevice) continue; score++; }
    dg.note?.(s, `score ${score}`);
    if (score === 4) return { sock: s, score };
    if (score > hi) { best = s; hi = score; }
  }
  return best ? { sock: best, score: hi } : null;
}

function unicast22(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const dst4 = ipv4Of(dg.dst);
  const hit = dst4 !== null ? lookup4(dg, socks, dst4) : lookup6(dg, socks);
  const cite = dst4 !== null ? '2.6 net/ipv4/udp.c __udp4_lib_lookup' : '2.6 net/ipv6/udp.c __udp6_lib_lookup';
  if (!hit) return portUnreachable(dg, dst4 !== null ? '2.6 net/ipv4/udp.c __udp4_lib_rcv: icmp_send(ICMP_PORT_UNREACH)' : '2.6 net/ipv6/udp.c __udp6_lib_rcv: icmpv6_send(ICMPV6_PORT_UNREACH)');
  return oneReceiver(hit.sock, [hit.sock], `highest score (${hit.score}; ties to the newest bind):`, cite);
}

/**
 * udp_v4_mcast_next / udp_v6_mcast_next: every socket of the port whose bound address is the
 * wildcard or the destination, whose peer (if connected) sent it and whose device (if bound) it came
 * in on; for a multicast group, ip_mc_sf_allow / inet6_mc_check let a socket with no membership of
 * its own through (IP_MULTICAST_ALL, 2.6.31+, default on) [2.6 net/ipv4/igmp.c ip_mc_sf_allow].
 */
function copies22(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const dst4 = ipv4Of(dg.dst);
  const cite = dst4 !== null ? '2.6 net/ipv4/udp.c __udp4_lib_mcast_deliver, udp_v4_mcast_next' : '2.6 net/ipv6/udp.c __udp6_lib_mcast_deliver, udp_v6_mcast_next';
  // A group the host did not join on that device never reaches UDP [2.6 net/ipv4/route.c ip_route_input: ip_check_mc]
  if (dg.cast === 'multicast' && !dg.hostMember) return dropped(`host is not a member of ${dg.dst.text} on ${dg.inDevice}`, cite);
  const receivers = [...socks].sort(newestBound).filter((s) => {
    if (s.local === null) return false;
    if (s.remote && (plain(s.remote.addr) !== plain(dg.src) || s.remote.port !== dg.sport)) return false;
    if (s.opts.device && s.opts.device !== dg.inDevice) return false;
    const l = dst4 !== null ? (s.family === 'inet6' && s.ipv6only ? null : v4View(s) === 0 ? 'wild' : v4View(s) === dst4 ? 'exact' : null) : local6(s, dg.dst);
    if (l === null) return false;
    // IP_MULTICAST_ALL governs IPv4 only; inet6_mc_check lets a socket with no membership through [2.6 net/ipv6/mcast.c inet6_mc_check]
    return dg.cast !== 'multicast' || dst4 === null || s.udp.multicastAll || joinedHere(s, dg);
  });
  const what = `${dg.cast} to ${destination(dg)}`;
  if (receivers.length === 0) return dropped(`${what}: no socket matches`, cite);
  return delivered(receivers, receivers, `${what}: a copy to every matching socket (${names(receivers)}) [${cite}]`);
}

export const linux22Udp: UdpRules = {
  // IP_MULTICAST_ALL exists from 2.6.31 (inside the policy's 2.2 .. 3.8 span; not in 2.2/2.4 themselves) [2.6.31 net/ipv4/ip_sockglue.c]
  hasMulticastAll: true,
  bind: bind22,
  deliver: (dg, socks) => (dg.cast === 'unicast' ? unicast22(dg, socks) : copies22(dg, socks)),
};

// ---- Linux 2.0 (linux-1.3.60, pajari-1999) ---------------------------------------------------

/**
 * get_sock(&udp_prot, ...): a set local address, a set peer address and a set peer port each score
 * one (a mismatch skips the socket); 3 wins at once, otherwise the first strictly better; the chain
 * has the newest bind first among equals (as the TCP lookup) [2.0 net/ipv4/af_inet.c get_sock; net/ipv4/udp.c udp_rcv].
 */
function unicast20(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const dst4 = ipv4Of(dg.dst);
  if (dst4 === null) return dropped('Linux 2.0 has no IPv6', '2.0 net/ipv4/af_inet.c inet_create');
  let best: UdpSock | null = null;
  let hi = -1;
  for (const s of [...socks].sort(newestBound)) {
    if (s.local === null) continue;
    let score = 0;
    const a = v4View(s);
    if (a !== 0) { if (a !== dst4) continue; score++; }
    if (s.remote) {
      if (ipv4Of(s.remote.addr) !== ipv4Of(dg.src)) continue;
      score++;
      if (s.remote.port !== dg.sport) continue;
      score++;
    }
    dg.note?.(s, `score ${score}`);
    if (score === 3) { best = s; hi = score; break; }
    if (score > hi) { best = s; hi = score; }
  }
  if (!best) return portUnreachable(dg, '2.0 net/ipv4/udp.c udp_rcv: icmp_send(ICMP_PORT_UNREACH) for IS_MYADDR');
  return oneReceiver(best, [best], `best match (score ${hi}; ties to the newest bind):`, '2.0 net/ipv4/af_inet.c get_sock; net/ipv4/udp.c udp_rcv');
}

/**
 * "Multicasts and broadcasts go to each listener": every socket get_sock_mcast finds (bound to the
 * wildcard or the destination, any peer matching), no per-socket membership test; the host's
 * membership decided in ip_rcv [2.0 net/ipv4/udp.c udp_rcv; net/ipv4/af_inet.c get_sock_mcast].
 */
function copies20(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const cite = '2.0 net/ipv4/udp.c udp_rcv; net/ipv4/af_inet.c get_sock_mcast';
  const dst4 = ipv4Of(dg.dst);
  if (dst4 === null) return dropped('Linux 2.0 has no IPv6', '2.0 net/ipv4/af_inet.c inet_create');
  if (dg.cast === 'multicast' && !dg.hostMember) return dropped(`host is not a member of ${dg.dst.text} on ${dg.inDevice}`, '2.0 net/ipv4/ip.c ip_rcv: ip_check_mc');
  const receivers = [...socks].sort(newestBound).filter((s) => s.local !== null && (v4View(s) === 0 || v4View(s) === dst4)
    && (s.remote === null || (ipv4Of(s.remote.addr) === ipv4Of(dg.src) && s.remote.port === dg.sport)));
  const what = `${dg.cast} to ${destination(dg)}`;
  if (receivers.length === 0) return dropped(`${what}: no socket matches`, cite);
  return delivered(receivers, receivers, `${what}: a copy to each listener (${names(receivers)}) [${cite}]`);
}

/** The 2.0 family's UDP rules: bind is the policy's own inet_bind, which serves UDP and TCP alike [2.0 net/ipv4/af_inet.c inet_bind]. */
export function linux20Udp(bind: Policy['bind']): UdpRules {
  return {
    bind: (sk, addr, port, host) => bind(sk, addr, port, host),
    deliver: (dg, socks) => (dg.cast === 'unicast' ? unicast20(dg, socks) : copies20(dg, socks)),
  };
}
