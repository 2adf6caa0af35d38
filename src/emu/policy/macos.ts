// Policy `macos`: XNU (macOS 10.14 and later). 4.4BSD's bind with Apple's changes: privileged ports
// need privilege only for a specific address, a uid guard against stealing that exempts two wildcard
// binds, no SO_REUSEPORT_LB; the listener lookup takes the newest exact-address PCB but the OLDEST
// wildcard one. Rules restated from apple-oss-distributions/xnu bsd/netinet/in_pcb.c (in_pcbbind,
// in_pcblookup_local, in_pcblookup_hash_locked, in_pcbinshash) and bsd/netinet6/in6_pcb.c in6_pcbbind (older copy).

import { isWildcard } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, v4View } from './common.js';
import { addr4, bsdBind, bsdListen, deliver, v4Capable, v6Capable, type BsdFlavour } from './bsd44.js';
import type { HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';
import { bsdUdpRules } from './bsd-udp.js';

// No SO_REUSEPORT_LB on XNU: ENOPROTOOPT [bsd/kern/uipc_socket.c sosetoptlock]
const OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>(['SO_REUSEADDR', 'SO_REUSEPORT', 'IPV6_V6ONLY']);

/** 2*MSL with TCPTV_MSL = 15 s (net.inet.tcp.msl 15000) [bsd/netinet/tcp_timer.h TCPTV_MSL]. */
export const MACOS_TIME_WAIT_NS = 30e9;

export { MACOS_FINGERPRINT } from './fingerprint.js';
import { MACOS_FINGERPRINT } from './fingerprint.js';
import { MACOS_ROUTING } from './routing-choices.js';

/** net.inet.ip.portrange.first..last (49152..65535, UNCONFIRMED default) [bsd/netinet/in_pcb.c ipport_firstauto]. */
const EPHEMERAL: readonly [number, number] = [49152, 65535];

/** Newest bind first: in_pcbinshash inserts at the head of the port's list [bsd/netinet/in_pcb.c in_pcbinshash]. */
const newestBoundFirst = (a: Sock, b: Sock): number => b.boundSeq - a.boundSeq;

export const MACOS: BsdFlavour = {
  name: 'macos',
  bindCite: 'bsd/netinet/in_pcb.c in_pcbbind',
  lookupCite: 'bsd/netinet/in_pcb.c in_pcblookup_local',
  order: newestBoundFirst,
  // No extra cost for a dual-stack :: PCB: XNU's walk counts only the foreign and local address mismatches
  // ("if (!(inp->inp_vflag & INP_IPV4)) continue; ... wildcard++") [bsd/netinet/in_pcb.c in_pcblookup_local]
  mappedCost: 0,
  hasLb: false,
  // Only a SPECIFIC address below 1024 needs PRIV_NETINET_RESERVEDPORT: "ntohs(lport) < IPPORT_RESERVED &&
  // SIN(nam)->sin_addr.s_addr != 0" [bsd/netinet/in_pcb.c in_pcbbind]; IPv6 assumed the same (UNCONFIRMED:
  // an older in6_pcbbind checks every address)
  privileged: (sk, specific, port) => (port < 1024 && specific && sk.uid !== 0
    ? `port ${port} < IPPORT_RESERVED on a specific address needs PRIV_NETINET_RESERVEDPORT; uid ${sk.uid} [bsd/netinet/in_pcb.c in_pcbbind]` : null),
  // Non-root: another uid's best match blocks unless both are wildcard; connected PCBs are not exempt
  // (SO_REUSESHAREUID not modelled) [bsd/netinet/in_pcb.c in_pcbbind: kauth_cred_getuid block]
  uidGuard(sk, t, specific, tSpecific) {
    if (!(specific || tSpecific)) return null;
    if (t.uid === sk.uid) return null;
    return `macos: ${describe(t)} belongs to uid ${t.uid}; a non-root bind by uid ${sk.uid} may not overlap it unless both are wildcard [bsd/netinet/in_pcb.c in_pcbbind]`;
  },
  // A dual-stack :: bind's IPv4 side: another uid's best IPv4 match blocks unless it has SO_REUSEPORT, and a
  // wildcard one only when it is an inet6 socket too [bsd/netinet6/in6_pcb.c in6_pcbbind: "!(t->inp_socket->so_options &
  // SO_REUSEPORT) && (uid != uid(t)) && (t->inp_laddr.s_addr != INADDR_ANY || SOCK_DOM(so) == SOCK_DOM(t->inp_socket))"]
  uidGuardDualV4(sk, t4) {
    if (t4.opts.reuseport || t4.uid === sk.uid || (v4View(t4) === 0 && t4.family !== sk.family)) return null;
    return `macos: ${describe(t4)} belongs to uid ${t4.uid} and lacks SO_REUSEPORT; the IPv4 side of a dual-stack :: bind by uid ${sk.uid} may not overlap it [bsd/netinet6/in6_pcb.c in6_pcbbind]`;
  },
  // TCP port 55555 needs an entitlement, root included ({55555, RPE_FLAG_ENTITLEMENT|RPE_FLAG_TCP}, on macOS too):
  // EADDRINUSE [bsd/net/restricted_in_port.c; bsd/netinet/in_pcb.c in_pcbbind: current_task_can_use_restricted_in_port]
  restricted: (port) => (port === RESTRICTED_TCP_PORT
    ? `port ${port} is a restricted port that needs an entitlement no scenario process has [bsd/net/restricted_in_port.c; bsd/netinet/in_pcb.c in_pcbbind]` : null),
  // tcp6_usr_bind diverts a v4-mapped address to in_pcbbind only without IPV6_V6ONLY; in6_pcbbind then finds no
  // interface with ::ffff:a.b.c.d [bsd/netinet/tcp_usrreq.c tcp6_usr_bind; bsd/netinet6/in6_pcb.c in6_pcbbind: ifa_ifwithaddr]
  mappedOnV6only: { errno: 'EADDRNOTAVAIL', rule: 'an IPV6_V6ONLY socket binds ::ffff:a.b.c.d as an IPv6 address, which no interface has [bsd/netinet/tcp_usrreq.c tcp6_usr_bind; bsd/netinet6/in6_pcb.c in6_pcbbind]' },
  tcpBindRefuses: { broadcast: true, cite: 'bsd/netinet/tcp_usrreq.c tcp_usr_bind, tcp6_usr_bind' },
  // The port-0 search looks up with INPLOOKUP_WILDCARD whatever the socket's options ("wild = 1") [bsd/netinet/in_pcb.c in_pcbbind]
  autoPortAlwaysWild: true,
  // Sequential from the last port handed out (tcbinfo's ipi_lastport, 0 at boot: 49152 first), wrapping in
  // portrange.first..last, skipping restricted ports; net.inet.tcp.randomize_ports defaults to 0
  // [bsd/netinet/in_pcb.c in_pcbbind; bsd/netinet/tcp_subr.c tcp_use_randomport]
  ephemeral(host, inUse) {
    const [first, last] = EPHEMERAL;
    let port = lastPort.get(host) ?? 0;
    for (let count = last - first; count >= 0; count--) {
      port++;
      if (port < first || port > last) port = first;
      if (port !== RESTRICTED_TCP_PORT && !inUse(port)) { lastPort.set(host, port); return port; }
    }
    return 0;
  },
  ephemeralCite: 'bsd/netinet/in_pcb.c in_pcbbind (portrange.first..last 49152..65535, sequential from ipi_lastport)',
};

/** The TCP port restricted_in_port.c reserves on macOS (RPE_FLAG_ENTITLEMENT | RPE_FLAG_TCP). */
const RESTRICTED_TCP_PORT = 55555;

/** The last automatic port handed out, per host of a run (tcbinfo.ipi_lastport, shared by IPv4 and IPv6). */
const lastPort = new WeakMap<HostView, number>();

/**
 * The SYN lookup: the first PCB in the port's chain (newest bind first) bound to the destination
 * address; otherwise the LAST wildcard AF_INET PCB met, i.e. the oldest; otherwise the last wildcard
 * PF_INET6 one (:: dual-stack or ::ffff:0.0.0.0: local_wild_mapped) [bsd/netinet/in_pcb.c
 * in_pcblookup_hash_locked, in_pcbinshash/in_pcbrehash (insert at head)].
 */
function lookupMacos(syn: SynInfo, listeners: readonly Sock[], bound: readonly Sock[]): LookupResult {
  const cite = 'bsd/netinet/in_pcb.c in_pcblookup_hash_locked; bsd/netinet/tcp_input.c (CLOSED TCB: drop, UNCONFIRMED)';
  const v4 = syn.dst.family === 4;
  const dst4 = v4 ? addr4(syn.dst) : 0;
  const chain = [...listeners, ...bound].filter((s) => s.local !== null).sort(newestBoundFirst);
  let exact: Sock | null = null;
  let wild: Sock | null = null;
  let dual: Sock | null = null;
  for (const s of chain) {
    if (v4 ? !v4Capable(s) : !v6Capable(s)) continue;
    const specific = v4 ? v4View(s) !== 0 : !isWildcard(s.local!);
    if (specific) {
      if ((v4 ? v4View(s) === dst4 : s.local!.text === syn.dst.text) && !exact) exact = s;
    } else if (v4 && s.family === 'inet6') dual = s; // SOCK_CHECK_DOM(PF_INET6): local_wild_mapped, :: or ::ffff:0.0.0.0
    else wild = s;
  }
  if (exact) return deliver(exact, syn, 'first exact-address PCB in the chain (newest bind first):', [], cite);
  const best = wild ?? dual;
  return deliver(best, syn, `last wildcard${best && best === dual ? ' dual-stack ::' : ''} PCB in the chain (the oldest bind):`, [], cite);
}

export const macos: Policy = {
  name: 'macos',
  title: 'macOS (XNU): newcomer SO_REUSEADDR, unprivileged low ports on the wildcard, oldest wildcard duplicate wins',
  sources: [
    'apple-oss-distributions/xnu bsd/netinet/in_pcb.c (0f4c859e, and an older copy for in_pcblookup_local and the hash chain) in_pcbbind, in_pcblookup_local, in_pcblookup_hash_locked, in_pcbinshash, in_pcbrehash',
    'bsd/netinet/tcp_timer.h TCPTV_MSL (15 s): TIME_WAIT 30 s',
    'an older XNU bsd/netinet6/in6_pcb.c in6_pcbbind: the dual-stack :: bind also checks the IPv4 wildcard',
    'apple-oss-distributions/xnu bsd/netinet6/in6_pcb.c (1031c584) in6_pcbbind; bsd/netinet/tcp_usrreq.c tcp_usr_bind, tcp6_usr_bind, tcp_usr_listen (no re-check); bsd/net/restricted_in_port.c (TCP 55555); bsd/netinet/tcp_subr.c (randomize_ports 0); bsd/netinet6/in6_proto.c ip6_v6only (IPV6_V6ONLY default 0); tcp_input (SYN to a CLOSED TCB: drop)',
    'UNCONFIRMED: the ephemeral range\'s defaults (49152..65535); lookup tie-breaks are derived from code reading, not observed; SO_REUSESHAREUID is not modelled (docs/policies/macos.md#unconfirmed)',
    'UDP: apple-oss-distributions/xnu bsd/netinet/udp_usrreq.c udp_input, bsd/netinet6/udp6_usrreq.c udp6_input, bsd/netinet6/in6_pcb.c in6_pcblookup_hash_locked, bsd/net/restricted_in_port.c (no UDP port restricted on macOS) (docs/policies/macos.md#udp)',
    'UNCONFIRMED: UDP over IPv6, which sockets count as having multicast options (docs/policies/macos.md#unconfirmed)',
    'the rules in our words: docs/policies/macos.md',
  ],
  timeWaitNs: MACOS_TIME_WAIT_NS,
  // Each address is an ifaddr of its own; SIOCDIFADDR removes one [xnu bsd/netinet/in.c in_control]
  ipv4Secondaries: false,
  routing: MACOS_ROUTING,
  fingerprint: MACOS_FINGERPRINT,
  families: ['inet', 'inet6'],
  setsockopt: (sk, option, value, host) => applyOption(sk, option, value, host, OPTIONS, 'XNU bsd/kern/uipc_socket.c sosetoptlock'),
  bind: (sk, addr, port, host) => bsdBind(sk, addr, port, host, MACOS),
  listen: (sk, host) => bsdListen(sk, host, MACOS, 'bsd/netinet/tcp_usrreq.c tcp_usr_listen: binds only an unbound socket, no re-check'),
  listenerOrder: () => 'head',
  groupsReuseport: () => false,
  reuseportPeer: () => null,
  lookup: (syn, listeners, bound) => lookupMacos(syn, listeners, bound),
  // UDP: in_pcbbind as for TCP (no restricted port); udp_input / udp6_input (bsd-udp.ts)
  udp: bsdUdpRules('macos', MACOS),
};
