// UDP rules of `illumos` (issue 18). Restated from illumos-gate:
// [UD] usr/src/uts/common/inet/udp/udp.c udp_do_bind (the bind walk, privileged and anonymous ports);
// [IC] usr/src/uts/common/inet/ip/ipclassifier.c ipcl_classify_v4 (UDP: first IPCL_UDP_MATCH in the
//      port's fanout), IPCL_HASH_INSERT_CONNECTED / _BOUND / _WILDCARD (the fanout's order);
//      inet/ipclassifier.h IPCL_UDP_MATCH, IPCL_UDP_MATCH_V6;
// [IP] usr/src/uts/common/inet/ip/ip.c ip_fanout_udp_multi_v4 (broadcast and multicast) and
//      inet/ip/ip_input.c (no match: ICMP port unreachable for unicast).
// Not read: conn_wantpacket (the multicast membership test) and ip_fanout_udp_multi_v6; see UNCONFIRMED.

import { isMulticast, isV4Mapped, isWildcard, v4FromMapped, v4ToMapped, type IpAddr } from '../addr.js';
import { describe, fail, ok } from './common.js';
import type { Decision, HostView } from './types.js';
import type { DatagramInfo, DeliveryResult, UdpRules, UdpSock } from './udp-types.js';
import {
  delivered, destination, dropped, ipv4Of, joinedHere, names, newestBound, oldestBound, oneReceiver, plain, portUnreachable,
} from './udp-common.js';

const UD = 'usr/src/uts/common/inet/udp/udp.c udp_do_bind';

/** us_smallest_nonpriv_port 1024; us_epriv_ports 2049, 4045 (ULP_DEF_EPRIV_PORT1/2) [inet/udp/udp_tunables.c, inet/tunables.h]. */
const SMALLEST_NONPRIV = 1024;
const EXTRA_PRIV_PORTS: readonly number[] = [2049, 4045];
/** us_smallest_anon_port .. us_largest_anon_port: 32768..65535 [inet/udp/udp_tunables.c]. */
const ANON: readonly [number, number] = [32768, 65535];

/** conn_laddr_v6 / conn_bound_addr_v6: IPv4 addresses as v4-mapped (0.0.0.0 is ::ffff:0.0.0.0). */
function v6Form(a: IpAddr): string {
  return a.family === 4 ? v4ToMapped(a).text : a.text;
}

/** V6_OR_V4_INADDR_ANY. */
const anyAddr = (text: string): boolean => text === '::' || text === '::ffff:0.0.0.0';

/** conn_ipversion: 4 for inet sockets and for an inet6 socket bound to a v4-mapped address, else 6 [UD]. */
function ipversion(sk: UdpSock, a: IpAddr): 4 | 6 {
  return sk.family === 'inet' || isV4Mapped(a) ? 4 : 6;
}

/**
 * The owner the new bind collides with, or null [UD]: the same IP version only for an explicit port
 * ("disjoint port number spaces"), and two different specific addresses never collide.
 */
function collision(sk: UdpSock, addr: IpAddr, port: number, explicit: boolean, host: HostView): UdpSock | null {
  const mine = v6Form(addr);
  for (const o of host.owners(port) as Iterable<UdpSock>) {
    if (o === sk || o.local === null) continue;
    if (explicit && ipversion(sk, addr) !== ipversion(o, o.local)) continue;
    const theirs = v6Form(o.local);
    if (!anyAddr(mine) && !anyAddr(theirs) && mine !== theirs) continue;
    return o;
  }
  return null;
}

/** An anonymous port: udp_update_next_port from a random start (udp_random_anon_port 1), upwards with wrap [UD]. */
function anonPort(sk: UdpSock, addr: IpAddr, host: HostView): number {
  const [low, high] = ANON;
  const n = high - low + 1;
  let port = low + host.random(n);
  for (let i = 0; i < n; i++, port = port >= high ? low : port + 1) {
    if (EXTRA_PRIV_PORTS.includes(port)) continue;
    if (!collision(sk, addr, port, false, host)) return port;
  }
  return 0;
}

function bind(sk: UdpSock, addr: IpAddr, port: number, host: HostView): Decision {
  // A v4-mapped address on an IPV6_V6ONLY socket [UD: "if (connp->conn_ipv6_v6only) return (EADDRNOTAVAIL)"]
  if (sk.family === 'inet6' && isV4Mapped(addr) && sk.opts.v6only) {
    return fail('EADDRNOTAVAIL', `IPV6_V6ONLY socket cannot bind a v4-mapped address [${UD}]`);
  }
  // A local unicast, multicast or broadcast address, else IPVL_BAD [UD: ip_laddr_verify_v4 / _v6]
  const local = isV4Mapped(addr) ? v4FromMapped(addr) : addr;
  if (!isWildcard(local) && !isMulticast(local) && !host.isLocal(local)) {
    return fail('EADDRNOTAVAIL', `${addr.text} is not a local unicast, multicast or broadcast address of ${host.name} [${UD}: ip_laddr_verify_v4]`);
  }
  // Below us_smallest_nonpriv_port or an extra privileged port without net_privaddr: -TACCES [UD]
  if (port !== 0 && (port < SMALLEST_NONPRIV || EXTRA_PRIV_PORTS.includes(port)) && sk.uid !== 0) {
    return fail('EACCES', `port ${port} is privileged and uid ${sk.uid} lacks net_privaddr [${UD}]`);
  }
  // A bound socket: udp_state != TS_UNBND, -TOUTSTATE (EINVAL) [UD]
  if (sk.port !== 0) return fail('EINVAL', `the socket is already bound [${UD}: TOUTSTATE]`);
  if (port === 0) {
    // "when binding to port zero we ignore SO_REUSEADDR in order to guarantee a unique port" [UD]
    const chosen = anonPort(sk, addr, host);
    if (chosen === 0) return fail('EADDRINUSE', `no free anonymous port [${UD}: TNOADDR]`);
    return ok(`anonymous port ${chosen} from ${ANON[0]}..${ANON[1]} [${UD}: udp_update_next_port]`, { port: chosen });
  }
  const o = collision(sk, addr, port, true, host);
  // "if udp_reuseaddr is set, then we allow multiple binds to the same port independent of the local IP address" [UD]
  if (o && sk.opts.reuseaddr) return ok(`SO_REUSEADDR on the new socket shares the port with any owner, ${describe(o)} included [${UD}]`);
  if (o) return fail('EADDRINUSE', `the addresses overlap ${describe(o)} and this socket lacks SO_REUSEADDR [${UD}]`, { conflict: o });
  return ok(`no owner of port ${port} collides [${UD}]`);
}

// ---- delivery --------------------------------------------------------------------------------

/**
 * The port's fanout in list order: connected sockets at the head (newest first), then those bound
 * to a specific address (bind order), then IPv4 wildcards (::ffff:0.0.0.0), then :: ones (bind
 * order) [IC IPCL_HASH_INSERT_CONNECTED, _BOUND, _WILDCARD]. bindlab does not record when connect()
 * happened: connected sockets are ordered by bind (UNCONFIRMED for several connected sockets).
 */
function fanout(socks: readonly UdpSock[]): UdpSock[] {
  const rank = (s: UdpSock): number => (s.remote ? 0 : !anyAddr(v6Form(s.local!)) ? 1 : v6Form(s.local!) === '::ffff:0.0.0.0' ? 2 : 3);
  return socks.filter((s) => s.local !== null).sort((a, b) => rank(a) - rank(b) || (rank(a) === 0 ? newestBound(a, b) : oldestBound(a, b)));
}

/** The connected peer check of the UDP match macros, reached only when the local address is specific. */
function peerMatches(s: UdpSock, dg: DatagramInfo): boolean {
  return s.remote === null || (plain(s.remote.addr) === plain(dg.src) && s.remote.port === dg.sport);
}

/**
 * IPCL_UDP_MATCH: the local address is a wildcard (:: or ::ffff:0.0.0.0), or it is the destination
 * and the peer (if any) is the source; never an IPV6_V6ONLY socket [inet/ipclassifier.h].
 */
function udpMatch4(s: UdpSock, dg: DatagramInfo): boolean {
  if (s.family === 'inet6' && s.opts.v6only) return false;
  const l = v6Form(s.local!);
  if (anyAddr(l)) return true;
  return l === v6Form(dg.dst) && peerMatches(s, dg);
}

/** IPCL_UDP_MATCH_V6: :: or the destination (and the peer); an IPv4 socket's v4-mapped address never matches [inet/ipclassifier.h]. */
function udpMatch6(s: UdpSock, dg: DatagramInfo, dst: IpAddr): boolean {
  const l = v6Form(s.local!);
  if (l === '::') return true;
  return l === dst.text && peerMatches(s, dg);
}

function unicast(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const v4 = ipv4Of(dg.dst) !== null;
  for (const s of fanout(socks)) {
    const hit = v4 ? udpMatch4(s, dg) : udpMatch6(s, dg, dg.dst);
    dg.note?.(s, hit ? 'first match in the port\'s fanout' : 'no IPCL_UDP_MATCH');
    if (hit) {
      return oneReceiver(s, [s], 'first match in the port\'s UDP fanout (connected, then specific, then wildcard; bind order):',
        `usr/src/uts/common/inet/ip/ipclassifier.c ipcl_classify_${v4 ? 'v4' : 'v6'}, IPCL_UDP_MATCH${v4 ? '' : '_V6'}`);
    }
  }
  return portUnreachable(dg, v4 ? 'usr/src/uts/common/inet/ip/ip_input.c: ip_fanout_send_icmp_v4(ICMP_PORT_UNREACHABLE)'
    : 'usr/src/uts/common/inet/ip/ip6_input.c: ip_fanout_send_icmp_v6 (by analogy, UNCONFIRMED)');
}

/**
 * conn_wantpacket: a broadcast is wanted; a multicast one when the socket joined the group on the
 * arrival interface (conn_wantpacket not read: UNCONFIRMED, the usual ilg test).
 */
function wants(s: UdpSock, dg: DatagramInfo): boolean {
  return dg.cast === 'broadcast' || joinedHere(s, dg);
}

/**
 * ip_fanout_udp_multi_v4: the first match in the fanout receives; if it has SO_REUSEADDR, every
 * later match gets a copy too (their own options do not matter). Only when no socket matched does
 * a second pass look at :: sockets with IPCL_UDP_MATCH_V6 (v6only ones included). Nobody: dropped,
 * no ICMP [IP].
 */
function copies(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const v4 = ipv4Of(dg.dst) !== null;
  const cite = v4 ? 'usr/src/uts/common/inet/ip/ip.c ip_fanout_udp_multi_v4' : 'usr/src/uts/common/inet/ip/ip6.c ip_fanout_udp_multi_v6 (by analogy with IPv4, UNCONFIRMED)';
  if (dg.cast === 'multicast' && !dg.hostMember) return dropped(`host is not a member of ${dg.dst.text} on ${dg.inDevice}`, cite);
  const order = fanout(socks);
  const pass = (match: (s: UdpSock) => boolean): UdpSock[] => {
    const all = order.filter((s) => match(s) && wants(s, dg));
    // "If SO_REUSEADDR has been set on the first we send the packet to all clients that have joined the group and match the port"
    return all.length > 0 && !all[0]!.opts.reuseaddr ? all.slice(0, 1) : all;
  };
  let receivers = v4 ? pass((s) => udpMatch4(s, dg)) : pass((s) => udpMatch6(s, dg, dg.dst));
  let second = '';
  if (receivers.length === 0 && v4) {
    receivers = pass((s) => s.family === 'inet6' && v6Form(s.local!) === '::' && peerMatches(s, dg));
    if (receivers.length > 0) second = ' (second pass over :: sockets)';
  }
  const what = `${dg.cast} to ${destination(dg)}`;
  if (receivers.length === 0) return dropped(`${what}: no socket matches`, cite);
  const how = receivers.length > 1 ? `the first match ${receivers[0]!.name} has SO_REUSEADDR, so each later match gets a copy too`
    : `the first match takes it${receivers[0]!.opts.reuseaddr ? '' : ' (no SO_REUSEADDR on it: nobody else gets a copy)'}`;
  return delivered(receivers, receivers, `${what}: ${how} (${names(receivers)})${second} [${cite}]`);
}

export const illumosUdp: UdpRules = {
  // IP_PKTINFO (sets the source of a send) and IP_RECVDSTADDR [usr/src/uts/common/netinet/in.h];
  // a send naming its source by IP_RECVDSTADDR's address alone: UNCONFIRMED, the reply leaves by the route
  dstAddrOptions: { pktinfo: true, recvdstaddr: 'receive-only', cite: 'usr/src/uts/common/netinet/in.h IP_PKTINFO, IP_RECVDSTADDR' },
  bind,
  deliver: (dg, socks) => (dg.cast === 'unicast' ? unicast(dg, socks) : copies(dg, socks)),
};
