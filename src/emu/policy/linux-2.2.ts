// Policy `linux-2.2`: Linux 2.2 .. 3.8, modelled on the 2.6.x-3.8 code (2.1.x shows the same conflict
// rule). SO_REUSEADDR on both sockets lets non-listening sockets share an overlapping address but never
// overlaps a listener; listen() re-checks the port; there is no SO_REUSEPORT. The listener lookup is
// the 2.6-3.x single scoring pass. Rules restated from 2.6.x-3.8 net/ipv4/inet_connection_sock.c
// (inet_csk_bind_conflict, inet_csk_get_port, inet_csk_listen_start), net/ipv4/inet_hashtables.c
// (compute_score, __inet_lookup_listener), net/ipv6/inet6_hashtables.c, and 2.1.x tcp_v4_verify_bind.

import { isLinkLocal6, isMulticast, isV4Mapped, isWildcard, v4FromMapped, type IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, fail, lacksPrivilege, ok, v4View } from './common.js';
import { LINUX_TIME_WAIT_NS, findConflict } from './linux.js';
import type { Decision, HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';
import { linux22Udp } from './linux-old-udp.js';

// No SO_REUSEPORT before 3.9 (ENOPROTOOPT by convention) [3.8 net/core/sock.c sock_setsockopt]
const OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>(['SO_REUSEADDR', 'IPV6_V6ONLY', 'IP_FREEBIND', 'SO_BINDTODEVICE']);

export { LINUX26_FINGERPRINT as LINUX22_FINGERPRINT } from './fingerprint.js';
import { LINUX26_FINGERPRINT } from './fingerprint.js';
import { LINUX22_ROUTING } from './routing-choices.js';

const CITE_CONFLICT = '2.6 net/ipv4/inet_connection_sock.c inet_csk_bind_conflict';

/** Why sk and sk2 conflict, in words. */
function conflictRule(sk: Sock, sk2: Sock): string {
  const why = !sk.opts.reuseaddr ? 'this socket lacks SO_REUSEADDR'
    : !sk2.opts.reuseaddr ? 'the other socket lacks SO_REUSEADDR (both need it)'
      : 'the other socket is listening (SO_REUSEADDR is ignored against a LISTEN socket)';
  return `address overlaps ${describe(sk2)}: ${why} [${CITE_CONFLICT}; 2.1 net/ipv4/tcp_ipv4.c tcp_v4_verify_bind]`;
}

/**
 * Owners of the port that conflict: both need SO_REUSEADDR and the other must not listen; different
 * devices never conflict; an IPv6-only owner never meets an IPv4 bind. That is current Linux's
 * inet_csk_bind_conflict without the SO_REUSEPORT clause [2.6 inet_csk_bind_conflict].
 */
function conflict(sk: Sock, port: number, host: HostView): Sock | null {
  return findConflict(sk, port, host, true, false, false);
}

/** 2.6 inet_csk_get_port(snum = 0): random start in ip_local_port_range, then the next port with no bind bucket. */
function autoPort(host: HostView): number {
  const [low, high] = host.sysctl.ipLocalPortRange;
  const n = high - low + 1;
  let rover = low + host.random(n);
  for (let i = 0; i < n; i++, rover++) {
    if (rover > high) rover = low;
    // A port qualifies only when no bind bucket exists for it [2.6 inet_csk_get_port: "goto next" on any bucket]
    if (!host.portHeld(rover)) return rover;
  }
  return 0;
}

function bindPort(sk: Sock, port: number, host: HostView): Decision {
  if (port === 0) {
    const chosen = autoPort(host);
    if (chosen === 0) return fail('EADDRINUSE', 'no free port in ip_local_port_range [2.6 net/ipv4/inet_connection_sock.c inet_csk_get_port]');
    return ok(`picked free port ${chosen} from ip_local_port_range [2.6 net/ipv4/inet_connection_sock.c inet_csk_get_port]`, { port: chosen });
  }
  const sk2 = conflict(sk, port, host);
  if (sk2) return fail('EADDRINUSE', conflictRule(sk, sk2), { conflict: sk2 });
  return ok(`no owner of port ${port} conflicts [${CITE_CONFLICT}]`);
}

function tentatively<T>(sk: Sock, addr: IpAddr, ipv6only: boolean, f: () => T): T {
  const saved = [sk.local, sk.ipv6only] as const;
  sk.local = addr;
  sk.ipv6only = ipv6only;
  try { return f(); } finally { [sk.local, sk.ipv6only] = saved; }
}

const localOk = (addr: IpAddr, sk: Sock, host: HostView): boolean => host.isLocal(addr) || host.sysctl.ipNonlocalBind || sk.opts.freebind;

function bind4(sk: Sock, addr: IpAddr, port: number, host: HostView): Decision {
  // Not a local address unless ip_nonlocal_bind / IP_FREEBIND [2.6 net/ipv4/af_inet.c inet_bind: inet_addr_type]
  if (!isWildcard(addr) && !localOk(addr, sk, host)) return fail('EADDRNOTAVAIL', `${addr.text} is not an address of host ${host.name} [2.6 net/ipv4/af_inet.c inet_bind]`);
  // Ports below PROT_SOCK (1024) need CAP_NET_BIND_SERVICE [2.6 net/ipv4/af_inet.c inet_bind] (order in 2.2: UNCONFIRMED)
  if (lacksPrivilege(sk, port, 1024)) return fail('EACCES', `port ${port} < PROT_SOCK (1024) and uid ${sk.uid} lacks CAP_NET_BIND_SERVICE [2.6 net/ipv4/af_inet.c inet_bind]`);
  // Already bound or not CLOSE [2.6 net/ipv4/af_inet.c inet_bind: "if (sk->sk_state != TCP_CLOSE || inet->num)"]
  if (sk.port !== 0 || sk.state !== 'CLOSE') return fail('EINVAL', 'the socket is already bound [2.6 net/ipv4/af_inet.c inet_bind]');
  return tentatively(sk, addr, false, () => bindPort(sk, port, host));
}

function bind6(sk: Sock, addr: IpAddr, port: number, host: HostView): Decision {
  // Multicast on a stream socket [2.6 net/ipv6/af_inet6.c inet6_bind]
  if (isMulticast(addr) && !isV4Mapped(addr)) return fail('EINVAL', 'a TCP socket cannot bind a multicast address [2.6 net/ipv6/af_inet6.c inet6_bind]');
  if (lacksPrivilege(sk, port, 1024)) return fail('EACCES', `port ${port} < PROT_SOCK (1024) and uid ${sk.uid} lacks CAP_NET_BIND_SERVICE [2.6 net/ipv6/af_inet6.c inet6_bind]`);
  if (sk.port !== 0 || sk.state !== 'CLOSE') return fail('EINVAL', 'the socket is already bound [2.6 net/ipv6/af_inet6.c inet6_bind]');
  let ipv6only = sk.opts.v6only;
  if (isV4Mapped(addr)) {
    if (sk.opts.v6only) return fail('EINVAL', 'IPV6_V6ONLY socket cannot bind a v4-mapped address [2.6 net/ipv6/af_inet6.c inet6_bind]');
    const v4 = v4FromMapped(addr);
    if (!isWildcard(v4) && !localOk(v4, sk, host)) return fail('EADDRNOTAVAIL', `${v4.text} is not an address of host ${host.name} [2.6 net/ipv6/af_inet6.c inet6_bind]`);
  } else if (!isWildcard(addr)) {
    if (isLinkLocal6(addr) && !sk.opts.device) return fail('EINVAL', 'a link-local address needs a scope id or SO_BINDTODEVICE [2.6 net/ipv6/af_inet6.c inet6_bind]');
    if (!host.isLocal(addr) && !sk.opts.freebind) return fail('EADDRNOTAVAIL', `${addr.text} is not an address of host ${host.name} [2.6 net/ipv6/af_inet6.c inet6_bind]`);
    // A specific IPv6 address makes the socket IPv6-only for the conflict check [2.6 net/ipv6/af_inet6.c inet6_bind]
    ipv6only = true;
  }
  const d = tentatively(sk, addr, ipv6only, () => bindPort(sk, port, host));
  if (d.errno === null) sk.ipv6only = ipv6only;
  return d;
}

/**
 * One pass over the port's listeners, newest listen() first; IPv4: 1 for AF_INET (dual-stack AF_INET6
 * scores 0 but is eligible), +2 for the destination address (another specific address: skip), +2 for
 * the ingress device (another device: skip); IPv6: 1, +1 address, +1 device. Strictly greater wins,
 * so the first in list order wins ties [2.6-3.x net/ipv4/inet_hashtables.c compute_score,
 * __inet_lookup_listener; net/ipv6/inet6_hashtables.c compute_score]. (2.2/2.4 weights: UNCONFIRMED.)
 */
function lookup22(syn: SynInfo, listeners: readonly Sock[]): LookupResult {
  const v4 = syn.dst.family === 4;
  const dst4 = v4 ? ((syn.dst.bytes[0]! << 24) | (syn.dst.bytes[1]! << 16) | (syn.dst.bytes[2]! << 8) | syn.dst.bytes[3]!) >>> 0 : 0;
  let best: Sock | null = null;
  let hiscore = -1;
  for (const sk of listeners) {
    let score: number;
    if (v4) {
      if (sk.ipv6only) continue;
      score = sk.family === 'inet' ? 1 : 0;
      const rcv = v4View(sk);
      if (rcv !== 0) { if (rcv !== dst4) continue; score += 2; }
    } else {
      if (sk.family !== 'inet6' || !sk.local || isV4Mapped(sk.local)) continue;
      score = 1;
      if (!isWildcard(sk.local)) { if (sk.local.text !== syn.dst.text) continue; score += 1; }
    }
    if (sk.opts.device) { if (sk.opts.device !== syn.inDevice) continue; score += v4 ? 2 : 1; }
    if (score > hiscore) { best = sk; hiscore = score; }
  }
  if (!best) return { sock: null, candidates: [], action: 'rst', rule: `no listener on ${syn.dst.text}:${syn.dport}: RST [2.6 net/ipv4/tcp_ipv4.c tcp_v4_rcv no_tcp_socket]` };
  return {
    sock: best, candidates: [best], action: 'accept',
    rule: `listener ${describe(best)} scored highest (${hiscore}) [2.6 net/ipv4/inet_hashtables.c __inet_lookup_listener, compute_score]`,
  };
}

export const linux22: Policy = {
  name: 'linux-2.2',
  title: 'Linux 2.2 .. 3.8: SO_REUSEADDR on both, never over a listener; listen() re-checks; no SO_REUSEPORT',
  sources: [
    'Linux 2.6.x-3.8 net/ipv4/inet_connection_sock.c inet_csk_bind_conflict, inet_csk_get_port, inet_csk_listen_start (2.6 form)',
    'Linux 2.6.x-3.x net/ipv4/inet_hashtables.c compute_score, __inet_lookup_listener; net/ipv6/inet6_hashtables.c compute_score',
    'Linux 2.1.x net/ipv4/tcp_ipv4.c tcp_v4_verify_bind (the same conflict rule)',
    'UNCONFIRMED: the check order and the listen re-check in 2.2.x (2.2 may have had no re-check); 2.2/2.4 scoring weights (+1/+1, no family point) (docs/policies/linux-2.2.md#unconfirmed)',
    'UNCONFIRMED: default ip_local_port_range per version (1024-4999 early, 32768-61000 later); the scenario sysctl is used (docs/policies/linux-2.2.md#automatic-ports)',
    'UDP: Linux 2.6.x-3.8 net/ipv4/udp.c udp_lib_get_port, udp_lib_lport_inuse, __udp4_lib_lookup, __udp4_lib_mcast_deliver; net/ipv6/udp.c __udp6_lib_lookup (docs/policies/linux-2.2.md#udp)',
    'UNCONFIRMED: UDP in 2.2/2.4 themselves (scores, no ip_mc_sf_allow) and the automatic UDP port search (docs/policies/linux-2.2.md#unconfirmed)',
    'the rules in our words: docs/policies/linux-2.2.md',
  ],
  timeWaitNs: LINUX_TIME_WAIT_NS, // TCP_TIMEWAIT_LEN (60*HZ) [include/net/tcp.h]
  // Secondaries deleted with their primary; no promote_secondaries before 2.6.16 (UNCONFIRMED) [2.2 net/ipv4/devinet.c inet_del_ifa]
  ipv4Secondaries: true,
  routing: LINUX22_ROUTING,
  fingerprint: LINUX26_FINGERPRINT,
  families: ['inet', 'inet6'],
  setsockopt: (sk, option, value, host) => applyOption(sk, option, value, host, OPTIONS, 'no SO_REUSEPORT before Linux 3.9: net/core/sock.c sock_setsockopt'),
  bind: (sk, addr, port, host) => (sk.family === 'inet6' ? bind6(sk, addr, port, host) : bind4(sk, addr, port, host)),
  listen(sk, host) {
    // The state becomes LISTEN and the port is re-validated; auto-bind when unbound [2.6 inet_csk_listen_start]
    const prev = sk.state;
    sk.state = 'LISTEN';
    try {
      if (sk.port === 0) {
        const port = autoPort(host);
        if (port === 0) return fail('EADDRINUSE', 'no free port in ip_local_port_range [2.6 net/ipv4/inet_connection_sock.c inet_csk_get_port]');
        return ok(`listen auto-bound free port ${port} [2.6 net/ipv4/inet_connection_sock.c inet_csk_listen_start, inet_csk_get_port]`, { port });
      }
      const sk2 = conflict(sk, sk.port, host);
      if (sk2) return fail('EADDRINUSE', `listen re-check (UNCONFIRMED for 2.2.x): ${conflictRule(sk, sk2)}`, { conflict: sk2 });
      return ok('listen re-check found no conflict [2.6 net/ipv4/inet_connection_sock.c inet_csk_listen_start]');
    } finally {
      sk.state = prev;
    }
  },
  // New listeners go to the head of the listening hash chain [2.6 net/ipv4/inet_hashtables.c __inet_hash: sk_add_node]
  listenerOrder: () => 'head',
  groupsReuseport: () => false,
  reuseportPeer: () => null,
  lookup: (syn, listeners) => lookup22(syn, listeners),
  // UDP: udp_lib_get_port, __udp4_lib_lookup scores, a copy of broadcasts and multicasts to every match (linux-old-udp.ts)
  udp: linux22Udp,
};
