// The `linux` policy's UDP rules (issue 18): who may bind a UDP port beside whom, and which
// sockets receive a datagram. Restated from net/ipv4/udp.c (udp_lib_get_port, udp_lib_lport_inuse,
// udp_reuseport_add_sock, __udp4_lib_lookup, udp4_lib_lookup2, compute_score,
// __udp4_lib_mcast_deliver, __udp_is_mcast_sock), net/ipv6/udp.c (their IPv6 twins),
// net/ipv4/igmp.c ip_mc_sf_allow, net/ipv6/mcast.c inet6_mc_check and net/core/sock_reuseport.c;
// checked against Linux 6.18 in network namespaces (docs/kernel-observations.md, UDP).
// linux.ts attaches these rules as `linux.udp` and this module uses its bind helpers: import the
// policy (linux.ts or policy/index.ts), not this module first.

import { isMulticast, isWildcard, type IpAddr } from '../addr.js';
import { describe, fail, ok, v4View } from './common.js';
import { linuxBindChecks, rcvSaddrEqual, withTentativeAddress } from './linux.js';
import type { Decision, HostView } from './types.js';
import type { DatagramInfo, DeliveryResult, UdpRules, UdpSock } from './udp-types.js';

/**
 * Whether sk2 keeps sk off the port, as udp_lib_lport_inuse asks of each socket of the port's
 * slot: not both SO_REUSEADDR, devices compatible, addresses overlapping (a wildcard covers all)
 * [net/ipv4/udp.c udp_lib_lport_inuse]. Returns 'share' when both have SO_REUSEPORT with the same
 * uid (sk2 is passed over; the other sockets are still asked), 'conflict', or null when sk2 is no
 * obstacle.
 */
function inUse(sk: UdpSock, sk2: UdpSock): 'share' | 'conflict' | null {
  if (sk2 === sk) return null;
  // (!sk2->sk_reuse || !sk->sk_reuse): both SO_REUSEADDR never conflict, whatever their uids [udp_lib_lport_inuse]
  if (sk.opts.reuseaddr && sk2.opts.reuseaddr) return null;
  // Bound to different devices: no overlap [udp_lib_lport_inuse: sk_bound_dev_if test]
  if (sk.opts.device && sk2.opts.device && sk.opts.device !== sk2.opts.device) return null;
  if (!rcvSaddrEqual(sk, sk2, true)) return null;
  // Both SO_REUSEPORT, the same uid (root is not exempt), sk in no group yet [udp_lib_lport_inuse: uid_eq]
  if (sk.opts.reuseport && sk2.opts.reuseport && sk.group === null && sk.uid === sk2.uid) return 'share';
  return 'conflict';
}

/**
 * The port's sockets in the order the kernel walks its slot: newest bind first, as
 * udp_lib_get_port puts each at the head (sk_add_node_rcu) [net/ipv4/udp.c udp_lib_get_port].
 */
function slotOrder(host: HostView, port: number): UdpSock[] {
  return ([...host.owners(port)] as UdpSock[]).sort((a, b) => b.boundSeq - a.boundSeq);
}

/**
 * The first socket that keeps sk off port, or null [udp_lib_lport_inuse]. A same-uid SO_REUSEPORT
 * socket does not end the walk: another socket that conflicts still refuses the bind, in either bind
 * order (6.18 in namespaces: a SO_REUSEPORT-only socket beside a same-uid SO_REUSEADDR+SO_REUSEPORT
 * one and another uid's SO_REUSEADDR one is EADDRINUSE; docs/kernel-observations.md §13).
 */
function portConflict(sk: UdpSock, port: number, host: HostView): UdpSock | null {
  for (const sk2 of slotOrder(host, port)) {
    if (inUse(sk, sk2) === 'conflict') return sk2;
  }
  return null;
}

/**
 * bind(0) and sendto()'s auto-bind: from a random port of ip_local_port_range, the first port no
 * socket overlaps (the kernel steps through the range by an odd multiple of the hash table size;
 * any free port is as likely) [net/ipv4/udp.c udp_lib_get_port: snum == 0].
 */
function findFreePort(sk: UdpSock, host: HostView): number {
  const [low, high] = host.sysctl.ipLocalPortRange;
  const n = high - low + 1;
  const first = host.random(n);
  for (let i = 0; i < n; i++) {
    const port = low + ((first + i) % n);
    // In the bitmap walk a same-uid SO_REUSEPORT socket marks nothing, so bind(0) may land on its
    // port and join its group (6.18 in namespaces, a one-port range) [udp_lib_lport_inuse with a bitmap]
    if (!slotOrder(host, port).some((sk2) => inUse(sk, sk2) === 'conflict')) return port;
  }
  return 0;
}

/**
 * A SO_REUSEPORT socket joins the group of the first socket of the port with the same family,
 * IPv6-only flag, device and uid, SO_REUSEPORT, bound to exactly the same address; else it
 * starts one [net/ipv4/udp.c udp_reuseport_add_sock; net/core/sock_reuseport.c reuseport_add_sock, reuseport_alloc].
 */
function joinReuseportGroup(sk: UdpSock, port: number, host: HostView): string {
  if (!sk.opts.reuseport) return '';
  for (const sk2 of slotOrder(host, port)) {
    if (sk2 !== sk && sk2.family === sk.family && sk2.ipv6only === sk.ipv6only && sk2.opts.device === sk.opts.device
      && sk2.opts.reuseport && sk2.uid === sk.uid && sk2.group !== null && rcvSaddrEqual(sk, sk2, false)) {
      sk2.group.members.push(sk);
      sk.group = sk2.group;
      return `; joins ${sk2.name}'s SO_REUSEPORT group (now ${sk.group.members.length}) [net/ipv4/udp.c udp_reuseport_add_sock]`;
    }
  }
  sk.group = { id: sk.id, members: [sk] };
  return '; starts a SO_REUSEPORT group [net/core/sock_reuseport.c reuseport_alloc]';
}

function bind(sk: UdpSock, addr: IpAddr, port: number, host: HostView): Decision {
  const c = linuxBindChecks(sk, addr, port, host, true);
  if ('fail' in c) return c.fail;
  const d = withTentativeAddress(sk, addr, c.ipv6only, (): Decision => {
    if (port === 0) {
      const chosen = findFreePort(sk, host);
      if (chosen === 0) return fail('EADDRINUSE', 'no free port in ip_local_port_range [net/ipv4/udp.c udp_lib_get_port]');
      return ok(`picked free port ${chosen} from ip_local_port_range [net/ipv4/udp.c udp_lib_get_port]${joinReuseportGroup(sk, chosen, host)}`, { port: chosen });
    }
    const sk2 = portConflict(sk, port, host);
    if (sk2) {
      const why = sk.opts.reuseport && sk2.opts.reuseport && sk.uid !== sk2.uid ? 'SO_REUSEPORT needs the same uid'
        : sk.opts.reuseaddr ? 'the other socket lacks SO_REUSEADDR (both need it)' : 'this socket lacks SO_REUSEADDR';
      return fail('EADDRINUSE', `address overlaps ${describe(sk2)}: ${why} [net/ipv4/udp.c udp_lib_get_port, udp_lib_lport_inuse]`, { conflict: sk2 });
    }
    return ok(`no socket of port ${port} overlaps [net/ipv4/udp.c udp_lib_get_port, udp_lib_lport_inuse]${joinReuseportGroup(sk, port, host)}`);
  });
  if (d.errno === null) sk.ipv6only = c.ipv6only;
  return d;
}

const u32 = (a: IpAddr): number => ((a.bytes[0]! << 24) | (a.bytes[1]! << 16) | (a.bytes[2]! << 8) | a.bytes[3]!) >>> 0;

/**
 * compute_score for a unicast datagram, -1 when sk cannot take it: IPv4 sees inet sockets (2) and
 * dual-stack inet6 ones (1), a connected socket only from its peer (+4 each for address and port),
 * a device-bound one only from its device (+4) [net/ipv4/udp.c compute_score]; IPv6 counts 1 each
 * [net/ipv6/udp.c compute_score]. The receiving CPU's +1 (sk_incoming_cpu) is not modelled.
 */
function score(sk: UdpSock, dg: DatagramInfo, slotAddr: 'exact' | 'wildcard'): number {
  const v4 = dg.dst.family === 4;
  const conn = sk.state === 'ESTABLISHED' && sk.remote !== null;
  let s: number;
  if (v4) {
    if (sk.ipv6only) return -1;
    const rcv = v4View(sk);
    if (rcv !== (slotAddr === 'exact' ? u32(dg.dst) : 0)) return -1;
    s = sk.family === 'inet' ? 2 : 1;
    if (conn) {
      const peer = sk.remote!.addr;
      const peer4 = peer.family === 4 ? u32(peer) : v4View({ local: peer });
      if (peer4 !== u32(dg.src) || sk.remote!.port !== dg.sport) return -1;
      s += 8;
    }
  } else {
    if (sk.family !== 'inet6' || sk.local === null) return -1;
    if (sk.local.text !== (slotAddr === 'exact' ? dg.dst.text : '::')) return -1;
    s = 0;
    if (conn) {
      if (sk.remote!.addr.text !== dg.src.text || sk.remote!.port !== dg.sport) return -1;
      s += 2;
    }
  }
  // udp_sk_bound_dev_eq: a device-bound socket only from its device [net/ipv4/udp.c compute_score]
  if (sk.opts.device) {
    if (sk.opts.device !== dg.inDevice) return -1;
    s += v4 ? 4 : 1;
  }
  return s;
}

/**
 * reuseport_select_sock: the hash picks a member; a connected member is passed over for the next
 * unconnected one [net/core/sock_reuseport.c reuseport_select_sock, reuseport_select_sock_by_hash].
 */
function pickInGroup(members: readonly UdpSock[], hash: number): UdpSock | null {
  const n = members.length;
  const start = Math.floor((hash * n) / 4294967296);
  for (let k = 0; k < n; k++) {
    const m = members[(start + k) % n]!;
    if (m.state !== 'ESTABLISHED') return m;
  }
  return null;
}

/**
 * udp4_lib_lookup2 over one slot (sockets bound exactly to the destination, or to the wildcard),
 * in its order (newest first; IPv6 SO_REUSEPORT sockets at the tail): the first socket with the
 * highest score wins; an unconnected SO_REUSEPORT one answers from its group by the hash at once,
 * unless the group has connected members (then the pick is scored like any socket)
 * [net/ipv4/udp.c udp4_lib_lookup2, inet_lookup_reuseport; net/ipv6/udp.c udp6_lib_lookup2].
 */
function lookup2(dg: DatagramInfo, order: readonly UdpSock[], slot: 'exact' | 'wildcard'): { sk: UdpSock; group: readonly UdpSock[] | null } | null {
  let result: UdpSock | null = null;
  let group: readonly UdpSock[] | null = null;
  let badness = -1;
  for (const sk of order) {
    const s = score(sk, dg, slot);
    if (s < 0) continue;
    dg.note?.(sk, `${slot === 'exact' ? 'exact-address' : 'wildcard'} pass: score ${s}${s > badness ? '' : `, not above ${badness} (an earlier socket in the slot keeps it)`}`);
    if (s <= badness) continue;
    badness = s;
    if (sk.state === 'ESTABLISHED' || !sk.opts.reuseport || sk.group === null) { result = sk; group = null; continue; }
    const members = sk.group.members as UdpSock[];
    const pick = pickInGroup(members, dg.hash);
    if (pick === null) { result = sk; group = null; continue; }
    dg.note?.(sk, `in a SO_REUSEPORT group of ${members.length}: the hash picks ${pick.name}`);
    const hasConns = members.some((m) => m.state === 'ESTABLISHED');
    if (!hasConns) return { sk: pick, group: members.slice() };
    // Fall back to scoring when the group has connections [udp4_lib_lookup2: reuseport_has_conns → rescore]
    result = pick;
    group = members.slice();
    badness = Math.max(badness, score(pick, dg, slot));
  }
  return result ? { sk: result, group } : null;
}

/** The slot order: newest bind first, but IPv6 SO_REUSEPORT sockets go to the tail [net/ipv4/udp.c udp_lib_get_port: hlist_add_tail_rcu]. */
function hash2Order(socks: readonly UdpSock[]): UdpSock[] {
  const head: UdpSock[] = [];
  const tail: UdpSock[] = [];
  for (const sk of socks) {
    if (sk.family === 'inet6' && sk.opts.reuseport) tail.push(sk);
    else head.unshift(sk);
  }
  return [...head, ...tail];
}

function unicast(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const order = hash2Order(socks);
  const where = `${dg.dst.family === 6 ? `[${dg.dst.text}]` : dg.dst.text}:${dg.dport}`;
  for (const slot of ['exact', 'wildcard'] as const) {
    const r = lookup2(dg, order, slot);
    if (!r) continue;
    const { sk, group } = r;
    const how = group ? `; in a SO_REUSEPORT group of ${group.length}, the hash picked ${sk.name}` : '';
    return {
      receivers: [sk], candidates: group ?? [sk], action: 'deliver',
      rule: `${slot === 'exact' ? 'socket bound to the address' : 'no socket bound to the address; wildcard socket'} ${describe(sk)} scored highest${how} [net/ipv4/udp.c __udp4_lib_lookup, udp4_lib_lookup2, compute_score]`,
    };
  }
  return {
    receivers: [], candidates: [], action: 'port-unreachable',
    rule: `no socket takes ${where}: ICMP port unreachable [net/ipv4/udp.c __udp4_lib_rcv: icmp_send ICMP_PORT_UNREACH; net/ipv6/udp.c __udp6_lib_rcv]`,
  };
}

/**
 * Whether sk takes a copy of a broadcast or multicast datagram: its port; a connected socket only
 * from its peer; bound to the wildcard or to the destination itself; not IPv6-only for IPv4;
 * its device; and for a group, its own membership on the arrival device, or without one
 * IP_MULTICAST_ALL [net/ipv4/udp.c __udp_is_mcast_sock, net/ipv4/igmp.c ip_mc_sf_allow]. IPv6:
 * its membership of the group on any device, or IPV6_MULTICAST_ALL [net/ipv6/udp.c
 * __udp_v6_is_mcast_sock, net/ipv6/mcast.c inet6_mc_check].
 */
function takesCopy(sk: UdpSock, dg: DatagramInfo): string | null {
  const v4 = dg.dst.family === 4;
  if (sk.state === 'ESTABLISHED' && sk.remote) {
    const peer = sk.remote.addr;
    const same = v4 ? (peer.family === 4 ? u32(peer) : v4View({ local: peer })) === u32(dg.src) : peer.text === dg.src.text;
    if (!same || sk.remote.port !== dg.sport) return 'connected to another peer';
  }
  if (v4) {
    if (sk.ipv6only) return 'IPv6-only';
    const rcv = v4View(sk);
    if (rcv !== 0 && rcv !== u32(dg.dst)) return 'bound to another address';
  } else {
    if (sk.family !== 'inet6' || sk.local === null) return 'an IPv4 socket';
    if (!isWildcard(sk.local) && sk.local.text !== dg.dst.text) return 'bound to another address';
  }
  if (sk.opts.device && sk.opts.device !== dg.inDevice) return `bound to device ${sk.opts.device}`;
  if (dg.cast === 'multicast') {
    const own = sk.udp.memberships.some((m) => m.group.text === dg.dst.text && (!v4 || m.device === dg.inDevice));
    // IP_MULTICAST_ALL governs IPv4 only; IPV6_MULTICAST_ALL (not a scenario option) stays on [net/ipv6/mcast.c inet6_mc_check]
    if (!own && v4 && !sk.udp.multicastAll) return `not a member of ${dg.dst.text} on ${dg.inDevice} and IP_MULTICAST_ALL is off`;
  }
  return null;
}

function multi(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const what = dg.cast === 'broadcast' ? 'broadcast' : `group ${dg.dst.text}`;
  if (dg.cast === 'multicast' && !dg.hostMember) {
    return {
      receivers: [], candidates: [], action: 'drop',
      rule: `no socket of the host joined ${dg.dst.text} on ${dg.inDevice}: the datagram is not for this host [net/ipv4/route.c ip_route_input_mc, ip_check_mc_rcu; net/ipv6/ip6_input.c ip6_mc_input]`,
    };
  }
  // Newest bind first, as __udp4_lib_mcast_deliver walks the port's slot; each match gets a copy.
  const receivers: UdpSock[] = [];
  for (const sk of [...socks].reverse()) {
    const why = takesCopy(sk, dg);
    if (why === null) { receivers.push(sk); dg.note?.(sk, `takes a copy of the ${what}`); }
    else dg.note?.(sk, `no copy: ${why}`);
  }
  if (receivers.length === 0) {
    return {
      receivers, candidates: [], action: 'drop',
      rule: `no socket takes the ${what} to port ${dg.dport}: dropped, no ICMP for a ${dg.cast} [net/ipv4/udp.c __udp4_lib_mcast_deliver]`,
    };
  }
  return {
    receivers, candidates: receivers, action: 'deliver',
    rule: `every matching socket gets a copy of the ${what} (${receivers.map((s) => s.name).join(', ')}) [net/ipv4/udp.c __udp4_lib_mcast_deliver, __udp_is_mcast_sock; net/ipv6/udp.c __udp6_lib_mcast_deliver]`,
  };
}

export const linuxUdp: UdpRules = {
  // IP_MULTICAST_ALL since 2.6.31 [net/ipv4/ip_sockglue.c do_ip_setsockopt]
  hasMulticastAll: true,
  // A leave without an interface: the route's [net/ipv4/igmp.c ip_mc_leave_group: ip_mc_find_dev sets imr_ifindex]
  leaveByRouteInterface: true,
  // XRLIM_BURST_FACTOR (6) errors at once, then one per icmp_ratelimit (1000 ms) per peer, never on
  // the loopback [net/ipv4/icmp.c icmpv4_xrlim_allow, net/ipv4/inetpeer.c inet_peer_xrlim_allow]; IPv6
  // one per net.ipv6.icmp.ratelimit (100 ms) flat: 6.18 has upstream 0201eedb69b2 "ipv6: icmp: remove
  // tmo adjustment" (no scaling by the route's prefix) [net/ipv6/icmp.c icmpv6_xrlim_allow;
  // docs/kernel-observations.md §13: a fresh namespace shows net.ipv6.icmp.ratelimit 100]
  // A router's IPv4 net unreachable first pays ip_error's own token from the same peer's bucket, which
  // it caps at net.ipv4.route.error_burst (5 s), costing error_cost (1 s) [net/ipv4/route.c ip_error]:
  // seen on 6.18, eight datagrams to a subnet the router has no route to get two answers, not six
  // (docs/kernel-observations.md §14)
  icmpRateLimit: { burst: 6, intervalNs: 1e9, v6IntervalNs: 1e8, routeError: { burstNs: 5e9, costNs: 1e9 } },
  bind,
  deliver(dg, socks) {
    return dg.cast === 'unicast' && !isMulticast(dg.dst) ? unicast(dg, socks) : multi(dg, socks);
  },
};

