// Policy `bsd44`: 4.4BSD-Lite2. Only the newcomer's SO_REUSEADDR matters, SO_REUSEPORT (on both)
// allows exact duplicates, there is no uid rule, and an incoming SYN goes to the best match over
// every PCB of the port, listening or merely bound. Rules restated from 4.4BSD-Lite2
// sys/netinet/in_pcb.c (in_pcballoc, in_pcbbind, in_pcblookup) and the 4.4BSD tcp_input/tcp_usrreq.
// The BSD core below (the best-match walk, the bind skeleton) is shared with `freebsd` and `macos`.

import { isMulticast, isV4Mapped, isWildcard, v4FromMapped, type IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, fail, ok, u32, v4View } from './common.js';
import type { Decision, HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';
import { bsdUdpRules } from './bsd-udp.js';

// ---- the BSD core, shared with freebsd.ts and macos.ts ----------------------------------------

/** How one BSD differs inside the shared bind and lookup_local code. */
export interface BsdFlavour {
  /** Policy name, for rule texts. */
  readonly name: string;
  /** Citation of the bind function, e.g. "sys/netinet/in_pcb.c in_pcbbind". */
  readonly bindCite: string;
  /** Citation of the local-address lookup used by bind. */
  readonly lookupCite: string;
  /** Order of the port's PCB list walked by lookup_local; negative = a comes first. */
  readonly order: (a: Sock, b: Sock) => number;
  /** Extra cost of a dual-stack inet6 PCB bound to :: in the IPv4 wildcard walk (KAME INP_LOOKUP_MAPPED_PCB_COST), 0 = none. */
  readonly mappedCost: number;
  /** Whether SO_REUSEPORT_LB exists (FreeBSD). */
  readonly hasLb: boolean;
  /** EACCES test for an explicit port: the rule text when the caller lacks privilege, else null. */
  readonly privileged: (sk: Sock, specific: boolean, port: number) => string | null;
  /** Anti-stealing test against the best wildcard match t (non-root, non-multicast binds): rule text or null. */
  readonly uidGuard: ((sk: Sock, t: Sock, specific: boolean, tSpecific: boolean) => string | null) | null;
  /**
   * The uid guard of a dual-stack :: bind against the best IPv4 wildcard match t4, when it differs from
   * uidGuard (XNU in6_pcbbind: an owner with SO_REUSEPORT is exempt); undefined = uidGuard.
   */
  readonly uidGuardDualV4?: (sk: Sock, t4: Sock) => string | null;
  /** A port no one may bind without an entitlement (XNU restricted_in_port.c): the rule text, else null; answered EADDRINUSE. */
  readonly restricted?: (port: number) => string | null;
  /** The answer to a v4-mapped bind on an IPV6_V6ONLY socket (default EINVAL). */
  readonly mappedOnV6only?: { readonly errno: 'EINVAL' | 'EADDRNOTAVAIL'; readonly rule: string };
  /**
   * TCP's own bind refuses multicast addresses (IPv4 on an inet socket, IPv6 on an inet6 one) and, where
   * `broadcast`, 255.255.255.255, with EAFNOSUPPORT before in_pcbbind [FreeBSD/XNU tcp_usr_bind, tcp6_usr_bind].
   */
  readonly tcpBindRefuses?: { readonly broadcast: boolean; readonly cite: string };
  /** Whether the automatic port search ignores the socket's SO_REUSEADDR/SO_REUSEPORT (XNU in_pcbbind: wild = 1). */
  readonly autoPortAlwaysWild?: boolean;
  /** Picks an automatic port; `inUse(port)` says whether bind's lookup finds an owner. 0 = none left. */
  readonly ephemeral: (host: HostView, inUse: (port: number) => boolean) => number;
  readonly ephemeralCite: string;
}

/** Newest socket() first: in_pcballoc inserts at the head of the protocol's PCB list [4.4BSD-Lite2 sys/netinet/in_pcb.c in_pcballoc]. */
export const newestCreatedFirst = (a: Sock, b: Sock): number => b.createdSeq - a.createdSeq;

/** An inet6 socket bound to :: without IPV6_V6ONLY (KAME: INP_IPV4 and INP_IPV6 both set). */
export function isDualWildcard(sk: Sock): boolean {
  return sk.family === 'inet6' && !sk.ipv6only && sk.local !== null && isWildcard(sk.local);
}

/** Sees IPv4 traffic (INP_IPV4): an inet socket, or an inet6 one bound to :: (dual) or to a v4-mapped address. */
export function v4Capable(sk: Sock): boolean {
  return sk.family === 'inet' || !sk.ipv6only;
}

/** Sees IPv6 traffic (INP_IPV6): an inet6 socket not bound to a v4-mapped address. */
export function v6Capable(sk: Sock): boolean {
  return sk.family === 'inet6' && !(sk.local !== null && isV4Mapped(sk.local));
}

/** The IPv4 address of an IpAddr as uint32 (the mapped part of ::ffff:a.b.c.d). */
export function addr4(a: IpAddr): number {
  return a.family === 4 ? u32(a.bytes, 0) : u32(a.bytes, 12);
}

/**
 * in_pcblookup(head, faddr = *, laddr, lport, flags) for bind: walk the port's PCBs in list order,
 * count one for a connected PCB (its foreign address is not the wildcard we ask for) and one for
 * each wildcard/specific mismatch of the local address; without WILDCARD only a count of 0 matches;
 * the smallest count wins, the first on ties [4.4BSD-Lite2 sys/netinet/in_pcb.c in_pcblookup;
 * FreeBSD in_pcblookup_local; XNU in_pcblookup_local].
 */
export function lookupLocal4(host: HostView, port: number, laddr: number, wildcard: boolean, fl: BsdFlavour): Sock | null {
  let match: Sock | null = null;
  let matchwild = Infinity;
  for (const p of [...host.owners(port)].sort(fl.order)) {
    if (!p.local || !v4Capable(p)) continue;
    let w = 0;
    // A dual-stack :: PCB costs more than any IPv4 one [FreeBSD in_pcblookup_local: INP_LOOKUP_MAPPED_PCB_COST]
    if (wildcard && fl.mappedCost && isDualWildcard(p)) w += fl.mappedCost;
    if (p.remote) w++;
    const a = v4View(p);
    if (a !== 0) {
      if (laddr === 0) w++;
      else if (a !== laddr) continue;
    } else if (laddr !== 0) w++;
    if (w > 0 && !wildcard) continue;
    if (w < matchwild) {
      match = p;
      matchwild = w;
      if (w === 0) break;
    }
  }
  return match;
}

/** The same walk over IPv6 PCBs (in6_pcblookup_local); laddr null = :: (UNCONFIRMED: KAME IPv6 code not read). */
export function lookupLocal6(host: HostView, port: number, laddr: IpAddr | null, wildcard: boolean, fl: BsdFlavour): Sock | null {
  let match: Sock | null = null;
  let matchwild = Infinity;
  for (const p of [...host.owners(port)].sort(fl.order)) {
    if (!p.local || !v6Capable(p)) continue;
    let w = p.remote ? 1 : 0;
    const pAny = isWildcard(p.local);
    if (!pAny) {
      if (laddr === null) w++;
      else if (p.local.text !== laddr.text) continue;
    } else if (laddr !== null) w++;
    if (w > 0 && !wildcard) continue;
    if (w < matchwild) {
      match = p;
      matchwild = w;
      if (w === 0) break;
    }
  }
  return match;
}

/** Whether the new socket's sharing options cover t: SO_REUSEPORT on both, or SO_REUSEPORT_LB on both. */
function shares(sk: Sock, t: Sock, multicast: boolean, fl: BsdFlavour): boolean {
  // Multicast: SO_REUSEADDR counts as SO_REUSEPORT (and as SO_REUSEPORT_LB on FreeBSD) [in_pcbbind]
  const rp = sk.opts.reuseport || (multicast && sk.opts.reuseaddr);
  const tRp = t.opts.reuseport || (multicast && t.opts.reuseaddr);
  if (rp && tRp) return true;
  return fl.hasLb && (sk.opts.reuseportLb || (multicast && sk.opts.reuseaddr)) && (t.opts.reuseportLb || (multicast && t.opts.reuseaddr));
}

function inUseRule(sk: Sock, t: Sock, wild: boolean, fl: BsdFlavour): string {
  const why = wild
    ? 'this socket has neither SO_REUSEADDR nor SO_REUSEPORT, so any overlap counts'
    : `same address${fl.hasLb ? '; an exact duplicate needs SO_REUSEPORT (or SO_REUSEPORT_LB) on both' : '; an exact duplicate needs SO_REUSEPORT on both'}`;
  return `${fl.name}: ${describe(t)} holds the port: ${why} [${fl.bindCite}, ${fl.lookupCite}]`;
}

/** The IPv4 part of bind for an explicit port (also a v4-mapped bind of an inet6 socket). */
function checkPort4(sk: Sock, a: number, multicast: boolean, port: number, host: HostView, fl: BsdFlavour): Decision | null {
  const wild = !(sk.opts.reuseaddr || sk.opts.reuseport || (fl.hasLb && sk.opts.reuseportLb));
  // Anti-stealing: a non-root bind may not overlap another uid's socket [FreeBSD/XNU in_pcbbind]
  if (fl.uidGuard && !multicast && sk.uid !== 0) {
    const t = lookupLocal4(host, port, a, true, fl);
    const why = t && fl.uidGuard(sk, t, a !== 0, v4View(t) !== 0);
    if (t && why) return fail('EADDRINUSE', why, { conflict: t });
  }
  // Without SO_REUSEADDR/SO_REUSEPORT any overlap counts; with either only an exact duplicate [in_pcbbind: wild]
  const t = lookupLocal4(host, port, a, wild, fl);
  if (t && !shares(sk, t, multicast, fl)) {
    // Two wildcard inet6 sockets may coexist (KAME: INP_IPV6PROTO on both) [FreeBSD in_pcbbind_setup]
    if (a === 0 && v4View(t) === 0 && sk.family === 'inet6' && t.family === 'inet6') return null;
    return fail('EADDRINUSE', inUseRule(sk, t, wild, fl), { conflict: t });
  }
  return null;
}

/**
 * The IPv6 part for an explicit port, :: or a specific IPv6 address (UNCONFIRMED: in6_pcbbind not read).
 * A multicast group (UDP only) shares as IPv4's does: SO_REUSEADDR counts as SO_REUSEPORT and no uid
 * guard (KAME in6_pcbbind, by analogy with in_pcbbind: UNCONFIRMED).
 */
function checkPort6(sk: Sock, addr: IpAddr, port: number, host: HostView, fl: BsdFlavour, v6only: boolean, multicast = false): Decision | null {
  const wild = !(sk.opts.reuseaddr || sk.opts.reuseport || (fl.hasLb && sk.opts.reuseportLb));
  const l6 = isWildcard(addr) ? null : addr;
  if (fl.uidGuard && sk.uid !== 0 && !multicast) {
    const t = lookupLocal6(host, port, l6, true, fl);
    const why = t && fl.uidGuard(sk, t, l6 !== null, !isWildcard(t.local!));
    if (t && why) return fail('EADDRINUSE', `${why} (IPv6 by analogy, UNCONFIRMED)`, { conflict: t });
  }
  const t = lookupLocal6(host, port, l6, wild, fl);
  if (t && !shares(sk, t, multicast, fl)) return fail('EADDRINUSE', `${inUseRule(sk, t, wild, fl)} (IPv6 by analogy, UNCONFIRMED)`, { conflict: t });
  if (l6 === null && !v6only) {
    // A dual-stack :: also checks the IPv4 wildcard; an AF_INET 0.0.0.0 of another family is no conflict
    // (KAME in6_pcbbind: INP_SOCKAF comparison; UNCONFIRMED, not read here)
    if (fl.uidGuard && sk.uid !== 0) {
      const t4 = lookupLocal4(host, port, 0, true, fl);
      const why = t4 && (fl.uidGuardDualV4 ? fl.uidGuardDualV4(sk, t4) : fl.uidGuard(sk, t4, false, v4View(t4) !== 0));
      if (t4 && why) return fail('EADDRINUSE', `${why} (dual-stack IPv4 side, UNCONFIRMED)`, { conflict: t4 });
    }
    const t4 = lookupLocal4(host, port, 0, wild, fl);
    if (t4 && !shares(sk, t4, false, fl) && (v4View(t4) !== 0 || t4.family === sk.family)) {
      return fail('EADDRINUSE', `${inUseRule(sk, t4, wild, fl)} (dual-stack IPv4 side, UNCONFIRMED)`, { conflict: t4 });
    }
  }
  return null;
}

/**
 * The BSD bind: EINVAL when bound, EADDRNOTAVAIL for a foreign address, the privileged-port test,
 * then the flavour's uid guard and the lookup_local conflict test; port 0 picks an automatic port
 * [4.4BSD-Lite2 in_pcbbind; FreeBSD in_pcbbind, in_pcbbind_setup; XNU in_pcbbind].
 */
export function bsdBind(sk: Sock, addr: IpAddr, port: number, host: HostView, fl: BsdFlavour): Decision {
  // A second bind: "if (inp->inp_lport || inp->inp_laddr.s_addr != INADDR_ANY) return (EINVAL)" [in_pcbbind]
  if (sk.port !== 0 || (sk.local !== null && !isWildcard(sk.local))) {
    return fail('EINVAL', `the socket is already bound [${fl.bindCite}]`);
  }
  const refuse = fl.tcpBindRefuses;
  if (refuse && !(addr.family === 6 && isV4Mapped(addr))
    && (isMulticast(addr) || (refuse.broadcast && addr.family === 4 && u32(addr.bytes, 0) === 0xffffffff))) {
    return fail('EAFNOSUPPORT', `TCP cannot bind ${isMulticast(addr) ? 'a multicast' : 'the broadcast'} address ${addr.text} [${refuse.cite}]`);
  }
  const mapped = sk.family === 'inet6' && addr.family === 6 && isV4Mapped(addr);
  if (mapped && sk.opts.v6only) {
    return fl.mappedOnV6only ? fail(fl.mappedOnV6only.errno, fl.mappedOnV6only.rule)
      : fail('EINVAL', `IPV6_V6ONLY socket cannot bind a v4-mapped address [sys/netinet/tcp_usrreq.c tcp6_usr_bind, sys/netinet6/in6_pcb.c in6_pcbbind (UNCONFIRMED)]`);
  }
  const v4 = addr.family === 4 || mapped;
  const a4 = v4 ? addr4(addr) : 0;
  const check = mapped ? v4FromMapped(addr) : addr;
  // A group address (UDP: TCP refused it above) needs no interface of its own [in_pcbbind: IN_MULTICAST]
  const multicast = isMulticast(check);
  // A specific address must be one of the host's ("ifa_ifwithaddr") [in_pcbbind]
  if (!isWildcard(check) && !multicast && !host.isLocal(check)) {
    return fail('EADDRNOTAVAIL', `${check.text} is not an address of host ${host.name} [${fl.bindCite}]`);
  }
  // An inet6 socket bound to a specific IPv6 address is IPv6-only (INP_IPV4 cleared) [FreeBSD tcp6_usr_bind]
  const v6only = sk.family === 'inet6' && (sk.opts.v6only || (!v4 && !isWildcard(addr)));
  const saved = [sk.local, sk.ipv6only] as const;
  sk.local = addr;
  sk.ipv6only = v6only;
  try {
    if (port !== 0) {
      const why = fl.privileged(sk, !isWildcard(check), port);
      if (why) return fail('EACCES', why);
      const restricted = fl.restricted?.(port);
      if (restricted) return fail('EADDRINUSE', restricted);
      const c = v4 ? checkPort4(sk, a4, multicast, port, host, fl) : checkPort6(sk, addr, port, host, fl, v6only, multicast);
      if (c) return c;
      return ok(`${fl.name}: no PCB on port ${port} stands in the way [${fl.bindCite}]`);
    }
    const chosen = autoPort(sk, host, fl, v4 ? a4 : null, v4 ? null : addr, v6only);
    if (chosen === 0) return fail('EADDRINUSE', `no free automatic port [${fl.ephemeralCite}]`);
    return ok(`${fl.name}: picked automatic port ${chosen} [${fl.ephemeralCite}]`, { port: chosen });
  } finally {
    [sk.local, sk.ipv6only] = saved;
  }
}

/** An automatic port for bind(addr, 0) or listen(): the flavour's walk, skipping ports bind's lookup finds in use. */
function autoPort(sk: Sock, host: HostView, fl: BsdFlavour, a4: number | null, a6: IpAddr | null, v6only: boolean): number {
  const wild = fl.autoPortAlwaysWild === true || !(sk.opts.reuseaddr || sk.opts.reuseport || (fl.hasLb && sk.opts.reuseportLb));
  return fl.ephemeral(host, (p) => {
    if (a4 !== null) return lookupLocal4(host, p, a4, wild, fl) !== null;
    if (lookupLocal6(host, p, a6 && !isWildcard(a6) ? a6 : null, wild, fl)) return true;
    return !v6only && a6 !== null && isWildcard(a6) && lookupLocal4(host, p, 0, wild, fl) !== null;
  });
}

/** listen(): auto-bind an unbound socket to the wildcard; no re-check of the port [4.4BSD tcp_usrreq PRU_LISTEN]. */
export function bsdListen(sk: Sock, host: HostView, fl: BsdFlavour, cite: string): Decision {
  if (sk.port !== 0) return ok(`${fl.name}: listen does not re-check the port [${cite}]`);
  const v6 = sk.family === 'inet6';
  const saved = [sk.local, sk.ipv6only] as const;
  sk.local = v6 ? { family: 6, bytes: new Uint8Array(16), text: '::' } : { family: 4, bytes: new Uint8Array(4), text: '0.0.0.0' };
  sk.ipv6only = v6 && sk.opts.v6only;
  try {
    const port = autoPort(sk, host, fl, v6 ? null : 0, v6 ? sk.local : null, sk.ipv6only);
    if (port === 0) return fail('EADDRINUSE', `no free automatic port [${fl.ephemeralCite}]`);
    return ok(`${fl.name}: listen auto-bound the wildcard to port ${port} [${cite}, ${fl.ephemeralCite}]`, { port });
  } finally {
    [sk.local, sk.ipv6only] = saved;
  }
}

/** What tcp_input does with the PCB the lookup found: a listener accepts, a bound-only one drops. */
export function deliver(best: Sock | null, syn: SynInfo, why: string, candidates: readonly Sock[], inputCite: string): LookupResult {
  if (!best) return { sock: null, candidates: [], action: 'rst', rule: `no PCB on ${syn.dst.text}:${syn.dport}: RST [${inputCite}]` };
  if (best.state !== 'LISTEN') {
    return {
      sock: null, candidates: [], action: 'drop',
      rule: `${why} ${describe(best)} is bound but not listening: its TCB is CLOSED and the SYN is dropped [${inputCite}]`,
    };
  }
  return { sock: best, candidates: candidates.length ? candidates : [best], action: 'accept', rule: `${why} ${describe(best)} [${inputCite}]` };
}

// ---- 4.4BSD-Lite2 ----------------------------------------------------------------------------

const BSD44_OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>(['SO_REUSEADDR', 'SO_REUSEPORT']);

/** 2*MSL with TCPTV_MSL = 30 s (UNCONFIRMED for Lite2 itself: BSD-derived tcp_timer.h copies say 30*PR_SLOWHZ). */
export const BSD44_TIME_WAIT_NS = 60e9;

export { BSD44_FINGERPRINT } from './fingerprint.js';
import { BSD44_FINGERPRINT } from './fingerprint.js';
import { BSD44_ROUTING } from './routing-choices.js';

/** The last automatic port handed out, per host of a run (head->inp_lport). */
const lastPort44 = new WeakMap<HostView, number>();

const BSD44: BsdFlavour = {
  name: 'bsd44',
  bindCite: 'sys/netinet/in_pcb.c in_pcbbind',
  lookupCite: 'sys/netinet/in_pcb.c in_pcblookup',
  order: newestCreatedFirst,
  mappedCost: 0,
  hasLb: false,
  // Ports below IPPORT_RESERVED (1024) need the superuser [sys/netinet/in_pcb.c in_pcbbind: suser()]
  privileged: (sk, _specific, port) => (port < 1024 && sk.uid !== 0 ? `port ${port} < IPPORT_RESERVED (1024) needs the superuser; uid ${sk.uid} [sys/netinet/in_pcb.c in_pcbbind]` : null),
  uidGuard: null,
  // Sequential from the last port handed out, wrapping inside IPPORT_RESERVED..IPPORT_USERRESERVED (1024..5000)
  // [sys/netinet/in_pcb.c in_pcbbind: "if (head->inp_lport++ < IPPORT_RESERVED || head->inp_lport > IPPORT_USERRESERVED)"]
  ephemeral(host, inUse) {
    let last = lastPort44.get(host) ?? 0;
    for (let i = 0; i <= 5000 - 1024; i++) {
      const prev = last;
      last = prev + 1;
      if (prev < 1024 || last > 5000) last = 1024;
      if (!inUse(last)) { lastPort44.set(host, last); return last; }
    }
    return 0; // the kernel would loop for ever; we answer EADDRINUSE
  },
  ephemeralCite: 'sys/netinet/in_pcb.c in_pcbbind (1024..5000, sequential)',
};

/**
 * The SYN lookup: in_pcblookup(faddr, fport, dst, dport, INPLOOKUP_WILDCARD) over every PCB of the
 * port, newest socket first; a matching specific address counts 0, a wildcard 1 (the foreign
 * wildcard adds 1 to every unconnected PCB alike); the smallest count wins, ties go to the newest
 * socket [sys/netinet/in_pcb.c in_pcblookup; 4.4BSD tcp_input findpcb].
 */
function lookup44(syn: SynInfo, listeners: readonly Sock[], bound: readonly Sock[]): LookupResult {
  if (syn.dst.family !== 4) return { sock: null, candidates: [], action: 'rst', rule: '4.4BSD-Lite2 has no IPv6' };
  const dst = addr4(syn.dst);
  let best: Sock | null = null;
  let bestw = Infinity;
  for (const p of [...listeners, ...bound].sort(newestCreatedFirst)) {
    const a = v4View(p);
    if (a !== 0 && a !== dst) continue;
    const w = a === 0 ? 1 : 0;
    if (w < bestw) { best = p; bestw = w; if (w === 0) break; }
  }
  const why = bestw === 0 ? 'best match (exact local address, newest socket first):' : 'best match (wildcard local address, newest socket first):';
  // A PCB whose TCB is CLOSED (bound, never listened): "drop" [4.4BSD tcp_input: "if (tp->t_state == TCPS_CLOSED) goto drop"]
  return deliver(best, syn, why, [], 'sys/netinet/in_pcb.c in_pcblookup; sys/netinet/tcp_input.c tcp_input');
}

/** "if (in_ifaddr == 0) return (EADDRNOTAVAIL)": no interface address at all [sys/netinet/in_pcb.c in_pcbbind]. */
function noInterfaceAddress(host: HostView): Decision | null {
  return host.addresses(4).length === 0 ? fail('EADDRNOTAVAIL', `host ${host.name} has no IPv4 interface address [sys/netinet/in_pcb.c in_pcbbind]`) : null;
}

export const bsd44: Policy = {
  name: 'bsd44',
  title: "4.4BSD-Lite2: the newcomer's SO_REUSEADDR suffices, SO_REUSEPORT for exact duplicates, best match over all PCBs",
  sources: [
    '4.4BSD-Lite2 sys/netinet/in_pcb.c (chenshuo/4.4BSD-Lite2 8806e3f8) in_pcballoc, in_pcbbind, in_pcblookup',
    '4.4BSD sys/netinet/tcp_input.c findpcb (in_pcblookup with INPLOOKUP_WILDCARD; CLOSED TCB: drop) and sys/netinet/tcp_usrreq.c PRU_LISTEN (auto-bind, no re-check), BSD-derived copies',
    'UNCONFIRMED: TIME_WAIT 2*MSL with MSL 30 s (Lite2 sys/netinet/tcp_timer.h not read); accepted sockets inheriting so_options (sys/kern/uipc_socket2.c sonewconn not read) (docs/policies/bsd44.md#unconfirmed)',
    'no IPv6 (KAME came later): inet6 sockets are EAFNOSUPPORT (docs/policies/bsd44.md#bind)',
    'UDP: 4.4BSD-Lite2 sys/netinet/udp_usrreq.c udp_input (copies to every matching PCB until one lacks SO_REUSEADDR and SO_REUSEPORT) and in_pcblookup (docs/policies/bsd44.md#udp)',
    'the rules in our words: docs/policies/bsd44.md',
  ],
  timeWaitNs: BSD44_TIME_WAIT_NS,
  // Each address is an ifaddr of its own; SIOCDIFADDR removes one [4.4BSD netinet/in.c in_control]
  ipv4Secondaries: false,
  routing: BSD44_ROUTING,
  fingerprint: BSD44_FINGERPRINT,
  families: ['inet'],
  setsockopt: (sk, option, value, host) => applyOption(sk, option, value, host, BSD44_OPTIONS, '4.4BSD-Lite2 sys/kern/uipc_socket.c sosetopt'),
  bind(sk, addr, port, host) {
    return noInterfaceAddress(host) ?? bsdBind(sk, addr, port, host, BSD44);
  },
  // UDP: in_pcbbind as for TCP; udp_input's lookup and its copies to every matching PCB (bsd-udp.ts)
  udp: bsdUdpRules('bsd44', BSD44, (_sk, host) => noInterfaceAddress(host)),
  listen: (sk, host) => bsdListen(sk, host, BSD44, 'sys/netinet/tcp_usrreq.c PRU_LISTEN'),
  listenerOrder: () => 'head',
  groupsReuseport: () => false,
  reuseportPeer: () => null,
  lookup: (syn, listeners, bound) => lookup44(syn, listeners, bound),
};
