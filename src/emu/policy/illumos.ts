// Policy `illumos` (Solaris descendant). Rules restated from illumos-gate:
// [TB] usr/src/uts/common/inet/tcp/tcp_bind.c (39707ee3): tcp_bind_check, tcp_bind_select_lport,
//      tcp_update_next_port, tcp_bindi;
// [IC] usr/src/uts/common/inet/ip/ipclassifier.c: IPCL_HASH_INSERT_BOUND, IPCL_HASH_INSERT_WILDCARD,
//      ipcl_bind_insert_v4/_v6, ipcl_classify_v4; inet/ipclassifier.h IPCL_BIND_MATCH(_V6), _IPCL_V4_MATCH_ANY;
// [TT] usr/src/uts/common/inet/tcp/tcp_tunables.c (defaults); [TO] tcp_output.c tcp_xmit_mp_aux_iss.
// Not read: tcp_do_listen itself, sockfs's bind path; see the UNCONFIRMED notes.

import { isV4Mapped, isWildcard, v4FromMapped, v4ToMapped, type IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, fail, ok } from './common.js';
import type { Decision, HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';
import { illumosUdp } from './illumos-udp.js';

/** SO_REUSEADDR and IPV6_V6ONLY; illumos's SO_EXCLBIND/TCP_EXCLBIND are not bindlab option names; the rest is ENOPROTOOPT. */
const ILLUMOS_OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>(['SO_REUSEADDR', 'IPV6_V6ONLY']);

/** _time_wait_interval default 1 minute [TT tcp_propinfo_tbl]. */
export const ILLUMOS_TIME_WAIT_NS = 60e9;

/** smallest_anon_port 32768, largest_anon_port 65535 [TT]; smallest_nonpriv_port 1024 [TT]. */
const ANON_LOW = 32768;
const ANON_HIGH = 65535;
const SMALLEST_NONPRIV = 1024;
/** tcp_g_epriv_ports defaults ULP_DEF_EPRIV_PORT1/2 [inet/tunables.h]. */
const EXTRA_PRIV_PORTS: readonly number[] = [2049, 4045];

export { ILLUMOS_FINGERPRINT } from './fingerprint.js';
import { ILLUMOS_FINGERPRINT } from './fingerprint.js';
import { ILLUMOS_ROUTING } from './routing-choices.js';

/** conn_bound_addr_v6: IPv4 addresses as v4-mapped; an inet socket bound to 0.0.0.0 is ::ffff:0.0.0.0. */
function boundV6(sk: Sock, addr: IpAddr): string {
  return addr.family === 4 ? v4ToMapped(addr).text : addr.text;
}

// V6_OR_V4_INADDR_ANY: :: or ::ffff:0.0.0.0 [TB tcp_bindi]
function anyAddr(text: string): boolean {
  return text === '::' || text === '::ffff:0.0.0.0';
}

/**
 * conn_ipversion: 4 for inet sockets; an inet6 socket stays IPV6_VERSION through bind, a v4-mapped
 * address included (tcp_create_common sets it; tcp_bind_check and tcp_do_bind never change it); only
 * connecting to a v4-mapped address (tcp_do_connect) or accepting IPv4 (tcp_conn_create_v6) makes it 4
 * [usr/src/uts/common/inet/tcp/tcp.c tcp_create_common, tcp_do_connect; tcp_input.c tcp_conn_create_v6].
 */
function ipversion(sk: Sock, addr: IpAddr): 4 | 6 {
  if (sk.family === 'inet') return 4;
  return sk.kind !== 'socket' && isV4Mapped(addr) ? 4 : 6;
}

// tcp_state order: BOUND < LISTEN < ... < ESTABLISHED < ... < TIME_WAIT [inet/tcp.h, as used by TB tcp_bindi]
const isBoundOrListen = (sk: Sock): boolean => sk.state === 'LISTEN' || (sk.kind === 'socket' && sk.state === 'CLOSE');

/**
 * The port-owner walk of tcp_bindi: the first owner the new socket may not share the port with,
 * or null. explicit = a port the caller asked for (bind_to_req_port_only) [TB tcp_bindi].
 */
function findConflict(sk: Sock, addr: IpAddr, port: number, explicit: boolean, host: HostView): Sock | null {
  const mine = boundV6(sk, addr);
  for (const l of host.owners(port)) {
    if (l === sk || !l.local) continue;
    // IPv4 and IPv6 sockets have disjoint explicit-port spaces [TB tcp_bindi: "conn_ipversion != ... && bind_to_req_port_only"]
    if (explicit && ipversion(sk, addr) !== ipversion(l, l.local)) continue;
    // An accepted connection is in the port's bind hash with conn_bound_addr_v6 never set (all zero, ::): a
    // wildcard owner to tcp_bindi [tcp_input.c tcp_input_listener: tcp_bind_hash_insert(eager); tcp_conn_create_v4/_v6
    // set only conn_laddr_v6] (read in the source, not observed on a system)
    const theirs = l.kind === 'child' ? '::' : boundV6(l, l.local);
    if (!sk.opts.reuseaddr) {
      // Without SO_REUSEADDR two different specific addresses share; anything else at state >= BOUND conflicts [TB tcp_bindi]
      if (!anyAddr(mine) && !anyAddr(theirs) && mine !== theirs) continue;
      return l;
    }
    // With SO_REUSEADDR only the very same address held by a bound or listening socket conflicts [TB tcp_bindi]
    if (mine === theirs && isBoundOrListen(l)) return l;
  }
  return null;
}

/**
 * An anonymous port: a random start in smallest..largest_anon_port, then upwards, skipping the
 * extra privileged ports [TB tcp_bind_select_lport, tcp_update_next_port, tcp_bindi].
 */
function anonPort(sk: Sock, addr: IpAddr, host: HostView): number {
  const n = ANON_HIGH - ANON_LOW + 1;
  let port = ANON_LOW + host.random(n);
  for (let i = 0; i < n; i++, port = port >= ANON_HIGH ? ANON_LOW : port + 1) {
    if (EXTRA_PRIV_PORTS.includes(port)) continue;
    if (!findConflict(sk, addr, port, false, host)) return port;
  }
  return 0;
}

function bind(sk: Sock, addr: IpAddr, port: number, host: HostView): Decision {
  // A bound socket: tcp_do_bind refuses state >= TCPS_BOUND with -TOUTSTATE, which tcp_bind answers EINVAL
  // (tcp_bind_check's "BOUND returns 0" is not reached from sockets)
  if (sk.port !== 0 || sk.state !== 'CLOSE') return fail('EINVAL', 'the socket is already bound [usr/src/uts/common/inet/tcp/tcp.c tcp_do_bind: -TOUTSTATE; tcp_socket.c tcp_bind → EINVAL]');
  // A v4-mapped address on an IPV6_V6ONLY socket [TB tcp_bind_check: "if (connp->conn_ipv6_v6only) return (EADDRNOTAVAIL)"]
  if (sk.family === 'inet6' && isV4Mapped(addr) && sk.opts.v6only) {
    return fail('EADDRNOTAVAIL', 'IPV6_V6ONLY socket cannot bind a v4-mapped address [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bind_check]');
  }
  // Not a valid local unicast address [TB tcp_bind_check: laddr_type == IPVL_BAD]
  const local = isV4Mapped(addr) ? v4FromMapped(addr) : addr;
  if (!isWildcard(local) && !host.isLocal(local)) {
    return fail('EADDRNOTAVAIL', `${addr.text} is not a local address of ${host.name} [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bind_check]`);
  }
  if (port === 0) {
    const chosen = anonPort(sk, addr, host);
    if (chosen === 0) return fail('EADDRINUSE', 'no free anonymous port [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bind_select_lport: TNOADDR]');
    return ok(`anonymous port ${chosen} from ${ANON_LOW}..${ANON_HIGH} [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_update_next_port]`, { port: chosen });
  }
  // Privileged: below smallest_nonpriv_port or an extra privileged port, without net_privaddr [TB tcp_bind_select_lport]
  if ((port < SMALLEST_NONPRIV || EXTRA_PRIV_PORTS.includes(port)) && sk.uid !== 0) {
    return fail('EACCES', `port ${port} is privileged and uid ${sk.uid} lacks net_privaddr [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bind_select_lport]`);
  }
  const l = findConflict(sk, addr, port, true, host);
  if (l) {
    const why = sk.opts.reuseaddr ? 'the same address is held by a bound or listening socket (refused regardless of SO_REUSEADDR)' : 'this socket lacks SO_REUSEADDR and the addresses overlap';
    return fail('EADDRINUSE', `${why}: ${describe(l)} [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bindi]`, { conflict: l });
  }
  return ok(`no owner of port ${port} conflicts [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bindi]`);
}

/**
 * Order of the classifier's bind fanout for one port: specific addresses first, then wildcards,
 * an IPv4 wildcard (::ffff:0.0.0.0) before any IPv6 :: one, each kind in insertion (listen) order
 * [IC IPCL_HASH_INSERT_BOUND, IPCL_HASH_INSERT_WILDCARD].
 */
function fanoutRank(sk: Sock): number {
  const b = boundV6(sk, sk.local!);
  return b === '::' ? 2 : b === '::ffff:0.0.0.0' ? 1 : 0;
}

/**
 * The first listener in the bind fanout that matches: for IPv4 the address (v4-mapped) or a
 * wildcard (:: or ::ffff:0.0.0.0) and not IPV6_V6ONLY [IC ipcl_classify_v4, IPCL_BIND_MATCH];
 * for IPv6 the address or :: [IPCL_BIND_MATCH_V6]. Only listeners are in it: a TCP socket is
 * inserted at listen (tcp_reinit puts a listener back with ipcl_bind_insert, a bound socket
 * only becomes TCPS_BOUND) [usr/src/uts/common/inet/tcp/tcp.c tcp_reinit].
 * No match: RST (tcp_xmit_listeners_reset; not read, UNCONFIRMED).
 */
function lookup(syn: SynInfo, listeners: readonly Sock[]): LookupResult {
  const ordered = listeners.filter((sk) => sk.local).sort((a, b) => fanoutRank(a) - fanoutRank(b) || a.listenSeq - b.listenSeq);
  const v4 = syn.dst.family === 4;
  const want = v4 ? v4ToMapped(syn.dst).text : syn.dst.text;
  for (const sk of ordered) {
    const b = boundV6(sk, sk.local!);
    const hit = v4 ? (anyAddr(b) || b === want) && !sk.ipv6only : b === want || b === '::';
    if (hit) {
      return { sock: sk, candidates: [sk], action: 'accept', rule: `first match in the classifier's bind fanout (specific before wildcard): ${describe(sk)} [usr/src/uts/common/inet/ip/ipclassifier.c ipcl_classify_v4, IPCL_BIND_MATCH]` };
    }
  }
  return { sock: null, candidates: [], action: 'rst', rule: `no listener on ${syn.dst.text}:${syn.dport}: RST [usr/src/uts/common/inet/ip/ipclassifier.c ipcl_classify_v4 finds none; tcp_xmit_listeners_reset UNCONFIRMED]` };
}

export const illumos: Policy = {
  name: 'illumos',
  title: 'illumos (Solaris descendant): only the new socket needs SO_REUSEADDR; exact duplicates refused; disjoint IPv4/IPv6 ports',
  sources: [
    'illumos-gate usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bind_check, tcp_bind_select_lport, tcp_update_next_port, tcp_bindi',
    'illumos-gate usr/src/uts/common/inet/ip/ipclassifier.c IPCL_HASH_INSERT_BOUND/_WILDCARD, ipcl_bind_insert, ipcl_classify_v4; inet/ipclassifier.h IPCL_BIND_MATCH',
    'illumos-gate usr/src/uts/common/inet/tcp/tcp_tunables.c, tcp_output.c tcp_xmit_mp_aux_iss, tcp.c tcp_reinit',
    'illumos-gate tcp.c tcp_create_common, tcp_do_bind (a second bind: -TOUTSTATE, EINVAL), tcp_do_listen (no re-check), tcp_do_connect; tcp_input.c tcp_input_listener, tcp_conn_create_v4/_v6 (an accepted connection: bound address unset, IP version of the wire)',
    'UDP: illumos-gate usr/src/uts/common/inet/udp/udp.c udp_do_bind; inet/ip/ipclassifier.c ipcl_classify_v4, inet/ipclassifier.h IPCL_UDP_MATCH; inet/ip/ip.c ip_fanout_udp_multi_v4 (docs/policies/illumos.md#udp)',
    'UNCONFIRMED: UDP multicast membership test (conn_wantpacket not read) and IPv6 fanout (ip_fanout_udp_multi_v6 not read) (docs/policies/illumos.md#unconfirmed)',
    'the rules in our words: docs/policies/illumos.md',
    'UNCONFIRMED (docs/policies/illumos.md#unconfirmed): SO_REUSEPORT, which current illumos-gate tcp.c tcp_free mentions (reuseport groups) but whose bind rule was not found: modelled as absent (ENOPROTOOPT); the eager\'s zero conn_bound_addr_v6 after a conn is reused from the free list (ipcl_conn_cleanup not read)',
  ],
  timeWaitNs: ILLUMOS_TIME_WAIT_NS,
  // Each address is a logical interface of its own (ifconfig removeif) [illumos uts/common/inet/ip/ip_if.c ip_sioctl_removeif]
  ipv4Secondaries: false,
  routing: ILLUMOS_ROUTING,
  fingerprint: ILLUMOS_FINGERPRINT,
  families: ['inet', 'inet6'],

  setsockopt(sk, option, value, host) {
    return applyOption(sk, option, value, host, ILLUMOS_OPTIONS, 'illumos has no such option under this name: docs/policies/illumos.md');
  },

  bind,

  listen(sk, host) {
    // An unbound socket gets an anonymous wildcard port (tcp_do_listen not read: UNCONFIRMED);
    // no re-check of a bound port at listen (UNCONFIRMED: docs/policies/illumos.md#listen)
    if (sk.port !== 0) return ok('listening; no listen-time re-check (UNCONFIRMED for illumos) [docs/policies/illumos.md#listen]');
    const wild: IpAddr = sk.family === 'inet6' ? { family: 6, bytes: new Uint8Array(16), text: '::' } : { family: 4, bytes: new Uint8Array(4), text: '0.0.0.0' };
    const chosen = anonPort(sk, wild, host);
    if (chosen === 0) return fail('EADDRINUSE', 'no free anonymous port [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_bind_select_lport]');
    return ok(`listen auto-bound anonymous port ${chosen} (UNCONFIRMED) [usr/src/uts/common/inet/tcp/tcp_bind.c tcp_update_next_port]`, { port: chosen });
  },

  // Listen order; lookup re-sorts by the fanout's rules.
  listenerOrder: () => 'tail',
  reuseportPeer: () => null,
  groupsReuseport: () => false,

  lookup: (syn, listeners) => lookup(syn, listeners),
  // UDP: udp_do_bind, the classifier's UDP fanout and ip_fanout_udp_multi_v4 (illumos-udp.ts)
  udp: illumosUdp,
};
