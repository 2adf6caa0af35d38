// Policy `linux-1.3.60`: the rule the 1999 post complains about. While a socket with SO_REUSEADDR
// listens on INADDR_ANY:P, every bind of a specific address on P is refused, however many addresses
// the host has. Reconstructed from Linux 2.0.x net/ipv4/af_inet.c (NET3.034) inet_bind and get_sock,
// the code that carries 1.3.60's rule; 1.3.60's own source was not seen (UNCONFIRMED as to the exact
// release). The rule it replaced is 1.2.x net/inet/sock.c inet_bind (BSD-like).

import { isWildcard, type IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, fail, lacksPrivilege, ok, specificV4 } from './common.js';
import { LINUX_TIME_WAIT_NS } from './linux.js';
import type { Decision, HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';
import { linux20Udp } from './linux-old-udp.js';

const OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>(['SO_REUSEADDR']);

export { LINUX20_FINGERPRINT } from './fingerprint.js';
import { LINUX20_FINGERPRINT } from './fingerprint.js';
import { LINUX20_ROUTING } from './routing-choices.js';

/** Decides whether the new bind of sk (addr, port) may coexist with owner sk2; null = yes. */
export type OverlapRule = (sk: Sock, sk2: Sock, host: HostView, port: number) => string | null;

/**
 * The 1.3.60 wildcard rule: either side wildcard means overlap, allowed only if both set
 * SO_REUSEADDR and the other is not listening
 * [2.0 net/ipv4/af_inet.c inet_bind: "Either bind on the port is wildcard means they will overlap"].
 */
export const wildcardOverlap1360: OverlapRule = (sk, sk2) => {
  if (sk.opts.reuseaddr && sk2.opts.reuseaddr && sk2.state !== 'LISTEN') return null;
  const why = !sk.opts.reuseaddr || !sk2.opts.reuseaddr ? 'both must set SO_REUSEADDR' : 'the other socket is listening';
  return `wildcard overlaps ${describe(sk2)}: ${why} [2.0 net/ipv4/af_inet.c inet_bind]`;
};

/** The bind conflict walk of 2.0 inet_bind, with the wildcard branch supplied by the policy. */
export function conflict20(sk: Sock, addr: number, port: number, host: HostView, wildcard: OverlapRule): Decision | null {
  for (const sk2 of host.owners(port)) {
    if (sk2 === sk) continue;
    const addr2 = specificV4(sk2);
    if (addr === 0 || addr2 === 0) {
      const why = wildcard(sk, sk2, host, port);
      if (why !== null) return fail('EADDRINUSE', why, { conflict: sk2 });
      continue;
    }
    // Different specific addresses never overlap [2.0 net/ipv4/af_inet.c inet_bind]
    if (addr2 !== addr) continue;
    // The same specific address: only with SO_REUSEADDR over a dead (closed, TIME_WAIT) socket
    if (!sk.opts.reuseaddr) return fail('EADDRINUSE', `same address as ${describe(sk2)} and no SO_REUSEADDR [2.0 net/ipv4/af_inet.c inet_bind]`, { conflict: sk2 });
    if (sk2.state !== 'TIME_WAIT') return fail('EADDRINUSE', `same address as ${describe(sk2)}, which is not dead [2.0 net/ipv4/af_inet.c inet_bind: sk2->dead]`, { conflict: sk2 });
  }
  return null;
}

/** SOCK_ARRAY_SIZE: the protocol's sockets hang on 256 chains by port [2.0 include/net/sock.h]. */
const SOCK_ARRAY_SIZE = 256;
/** PROT_SOCK: ports below it are privileged [2.0 include/net/sock.h]. */
const PROT_SOCK = 1024;
/** get_new_socknum's `static int start`, per host of a run. */
const socknumStart = new WeakMap<HostView, number>();

/**
 * 2.0 get_new_socknum(prot, 0): from base = PROT_SOCK + 1 + (start & 1023), the first of the next
 * 256 ports whose sock_array chain (port & 255) is empty, start moving on past it; with no empty
 * chain, the shortest one, stepped by 256 until the port itself is free. A fresh host hands out
 * 1026, 1027, ...; there is no ip_local_port_range in 2.0 [2.0 net/ipv4/af_inet.c get_new_socknum].
 */
function nextFreePort(host: HostView): number {
  const chain = new Uint32Array(SOCK_ARRAY_SIZE);
  for (let p = 1; p <= 65535; p++) if (host.portHeld(p)) chain[p & (SOCK_ARRAY_SIZE - 1)]++;
  const start = socknumStart.get(host) ?? 0;
  const base = PROT_SOCK + 1 + (start & 1023);
  let best = 0;
  let size = 32767;
  for (let i = 0; i < SOCK_ARRAY_SIZE; i++) {
    const j = chain[(i + base + 1) & (SOCK_ARRAY_SIZE - 1)]!;
    if (j === 0) {
      socknumStart.set(host, (i + 1 + start) & 1023);
      return i + base + 1;
    }
    if (j < size) { best = i; size = j; }
  }
  while (best + base + 1 <= 65535 && host.portHeld(best + base + 1)) best += SOCK_ARRAY_SIZE;
  return best + base + 1 <= 65535 ? best + base + 1 : 0;
}

/** bind for the 2.0 family of policies; `wildcard` decides the wildcard-overlap case. */
export function bind20(sk: Sock, addr: IpAddr, port: number, host: HostView, wildcard: OverlapRule, policy: string): Decision {
  if (sk.family === 'inet6') return fail('EINVAL', 'no IPv6 in this kernel');
  // A socket that is not CLOSE (listening) [2.0 net/ipv4/af_inet.c inet_bind: "if (sk->state != TCP_CLOSE) return -EIO"]
  if (sk.state !== 'CLOSE') return fail('EIO', `the socket is not closed (${sk.state}) [2.0 net/ipv4/af_inet.c inet_bind]`);
  // Already bound [2.0 net/ipv4/af_inet.c inet_bind: "if (sk->num != 0) return -EINVAL"]
  if (sk.port !== 0) return fail('EINVAL', 'the socket is already bound [2.0 net/ipv4/af_inet.c inet_bind]');
  let chosen = port;
  if (port === 0) {
    chosen = nextFreePort(host);
    if (chosen === 0) return fail('EADDRINUSE', 'no free port [2.0 net/ipv4/af_inet.c get_new_socknum]');
  }
  // Ports below 1024 need the superuser [2.0 net/ipv4/af_inet.c inet_bind: PROT_SOCK, suser()]
  if (lacksPrivilege(sk, port, 1024)) return fail('EACCES', `port ${port} < 1024 needs the superuser; uid ${sk.uid} [2.0 net/ipv4/af_inet.c inet_bind]`);
  // Only local, multicast or broadcast addresses [2.0 net/ipv4/af_inet.c inet_bind: ip_chk_addr]
  if (!isWildcard(addr) && !host.isLocal(addr)) return fail('EADDRNOTAVAIL', `${addr.text} is not an address of host ${host.name} [2.0 net/ipv4/af_inet.c inet_bind]`);
  const a = ((addr.bytes[0]! << 24) | (addr.bytes[1]! << 16) | (addr.bytes[2]! << 8) | addr.bytes[3]!) >>> 0;
  const saved = sk.local;
  sk.local = addr; // tentatively, so the rules see the address being bound
  const c = conflict20(sk, a, chosen, host, wildcard);
  sk.local = saved;
  if (c) return c;
  return ok(`${policy}: no socket on port ${chosen} overlaps [2.0 net/ipv4/af_inet.c inet_bind]`, port === 0 ? { port: chosen } : {});
}

/**
 * get_sock: over every socket of the port (listening or only bound), a matching specific local
 * address scores one point, a wildcard none; the first strictly better wins ("if (score <= badness)
 * continue"), and the chain has the newest bind first among equals (put_sock: specific sockets at
 * the head, a wildcard one before the older wildcard ones) [2.0 net/ipv4/af_inet.c get_sock, put_sock].
 * A bound, non-listening winner answers RST [2.0 net/ipv4/tcp_input.c tcp_rcv: "if (sk->zapped ||
 * sk->state==TCP_CLOSE) goto no_tcp_socket"].
 */
export function lookup20(syn: SynInfo, listeners: readonly Sock[], bound: readonly Sock[]): LookupResult {
  if (syn.dst.family !== 4) return { sock: null, candidates: [], action: 'rst', rule: 'no IPv6 in this kernel' };
  const dst = ((syn.dst.bytes[0]! << 24) | (syn.dst.bytes[1]! << 16) | (syn.dst.bytes[2]! << 8) | syn.dst.bytes[3]!) >>> 0;
  let best: Sock | null = null;
  let hiscore = -1;
  // Newest bind first among equal scores [2.0 net/ipv4/af_inet.c put_sock]
  const all = [...listeners, ...bound].sort((a, b) => b.boundSeq - a.boundSeq);
  const note = syn.note;
  for (const sk of all) {
    const a = specificV4(sk);
    if (a !== 0 && a !== dst) { note?.(sk, 'its address does not match'); continue; }
    const score = a === dst ? 1 : 0;
    if (note) {
      note(sk, `score ${score} (${score ? 'specific address' : 'wildcard'})${score > hiscore ? '' : score < hiscore ? `, below the best match's ${hiscore}` : ': a tie, and the newer bind came first in the chain'}`);
    }
    if (score > hiscore) { best = sk; hiscore = score; }
  }
  if (!best) return { sock: null, candidates: [], action: 'rst', rule: `no socket on port ${syn.dport}: RST [2.0 net/ipv4/tcp.c tcp_rcv]` };
  if (best.state !== 'LISTEN') {
    return { sock: null, candidates: [], action: 'rst', rule: `best match ${describe(best)} is not listening: RST [2.0 net/ipv4/af_inet.c get_sock; net/ipv4/tcp_input.c tcp_rcv]` };
  }
  return {
    sock: best, candidates: [best], action: 'accept',
    rule: `${hiscore === 1 ? 'specific-address' : 'wildcard'} socket ${describe(best)} is the best match [2.0 net/ipv4/af_inet.c get_sock]`,
  };
}

/** The policy for the 2.0 code family, with its wildcard rule and name filled in. */
export function linux20Policy(name: string, title: string, sources: readonly string[], wildcard: OverlapRule): Policy {
  const bind = (sk: Sock, addr: IpAddr, port: number, host: HostView): Decision => bind20(sk, addr, port, host, wildcard, name);
  return {
    name, title, sources,
    timeWaitNs: LINUX_TIME_WAIT_NS, // TCP_TIMEWAIT_LEN (60*HZ) [2.0 include/net/tcp.h]
    // Aliases are devices of their own (eth0:1, CONFIG_IP_ALIAS) [2.0 net/core/net_alias.c]: each stands alone
    ipv4Secondaries: false,
    routing: LINUX20_ROUTING,
    fingerprint: LINUX20_FINGERPRINT,
    // No IPv6 before Linux 2.1.8 [2.0 net/ipv4/af_inet.c inet_create: PF_INET only]
    families: ['inet'],
    setsockopt: (sk, option, value, host) => applyOption(sk, option, value, host, OPTIONS, 'not in Linux 2.0: net/core/sock.c sock_setsockopt'),
    bind,
    listen(sk, host) {
      // inet_listen auto-binds an unbound socket; no re-check of the port (UNCONFIRMED) [2.0 net/ipv4/af_inet.c inet_listen]
      if (sk.port !== 0) return ok('listen: no re-check of the port in 2.0 (UNCONFIRMED) [2.0 net/ipv4/af_inet.c inet_listen]');
      const port = nextFreePort(host);
      if (port === 0) return fail('EADDRINUSE', 'no free port [2.0 net/ipv4/af_inet.c get_new_socknum]');
      return ok(`listen auto-bound free port ${port} [2.0 net/ipv4/af_inet.c inet_autobind]`, { port });
    },
    listenerOrder: () => 'tail',
    groupsReuseport: () => false,
    reuseportPeer: () => null,
    lookup: (syn, listeners, bound) => lookup20(syn, listeners, bound),
    // UDP: the same inet_bind (a UDP socket never listens); udp_rcv's get_sock and get_sock_mcast (linux-old-udp.ts)
    udp: linux20Udp(bind),
  };
}

export const linux1360: Policy = linux20Policy(
  'linux-1.3.60',
  'Linux 1.3.60 .. 2.0: a specific bind is refused while a SO_REUSEADDR socket listens on INADDR_ANY of the port',
  [
    'Linux 2.0.x net/ipv4/af_inet.c (NET3.034) inet_bind, get_sock, inet_listen',
    'Linux 1.2.x net/inet/sock.c inet_bind (the rule 1.3.60 replaced)',
    'G. Pajari, "Can we agree on how to fix SO_REUSEADDR?", linux-kernel, 15 Feb 1999 (docs/policies/pajari-1999.md#the-1999-post)',
    'UDP: Linux 2.0.x net/ipv4/udp.c udp_rcv, net/ipv4/af_inet.c get_sock, get_sock_mcast, inet_bind (docs/policies/linux-1.3.60.md#udp)',
    'the rules in our words: docs/policies/linux-1.3.60.md',
  ],
  wildcardOverlap1360,
);
