// User-defined policies: a built-in policy (the base) with some rule choices of rules.ts changed.
// A piece whose rules are all the base's stays the base's own code (so a custom policy with no
// changes answers exactly as its base); a changed piece is replaced by the small pure functions
// below, each citing where its behaviour comes from.

import { isV4Mapped, isWildcard, type IpAddr } from '../addr.js';
import { parseDuration } from '../../scenario/schema.js';
import { describe, fail, ok, v4View } from './common.js';
import { linux, rcvSaddrEqual } from './linux.js';
import { describeChoice, RULE_NAMES, type RuleName, type RuleSet } from './rules.js';
import type { Decision, HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';

/** A policy made from a base and rule choices. */
export interface CustomPolicy extends Policy {
  /** The base policy's name. */
  readonly extends: string;
  /** Every rule, the base's where not overridden. */
  readonly rules: RuleSet;
  /** Only the choices the user changed. */
  readonly overrides: Partial<RuleSet>;
}

export function isCustomPolicy(p: Policy): p is CustomPolicy {
  return 'overrides' in p && 'extends' in p;
}

const BIND_RULES: readonly RuleName[] = ['reuseaddr', 'reuseaddrOverListener', 'sameAddress', 'reuseport', 'uidGuard', 'privilegedPorts'];

/**
 * Wraps `base` (whose rule set is `baseRules`) with `overrides`. `name` and `title` name the result.
 */
export function customPolicy(base: Policy, baseRules: RuleSet, overrides: Partial<RuleSet>, name: string, title?: string): CustomPolicy {
  const rules: RuleSet = { ...baseRules, ...overrides };
  const changed = (r: RuleName): boolean => rules[r] !== baseRules[r];
  const bindChanged = BIND_RULES.some(changed);
  const listenChanged = bindChanged || changed('listenRecheck');
  const groupsChanged = changed('reuseport');
  const lookupChanged = changed('lookup') || changed('boundOnlySyn') || groupsChanged;
  const changes = RULE_NAMES.filter(changed);

  const policy: CustomPolicy = {
    name,
    title: title ?? `${base.name} with ${changes.length ? changes.map((r) => `${r}: ${String(rules[r])}`).join(', ') : 'no changes'}`,
    sources: [
      ...changes.map((r) => `rule ${describeChoice(r, rules[r])}`),
      ...base.sources.map((s) => `${base.name}: ${s}`),
    ],
    extends: base.name,
    rules,
    overrides,
    timeWaitNs: changed('timeWait') ? parseDuration(rules.timeWait) ?? base.timeWaitNs : base.timeWaitNs,
    ipv4Secondaries: base.ipv4Secondaries,
    routing: base.routing,
    ...(base.loopbackTimeWaitReuseNs !== undefined ? { loopbackTimeWaitReuseNs: base.loopbackTimeWaitReuseNs } : {}),
    fingerprint: base.fingerprint,
    families: base.families,
    // UDP keeps the base's rules whatever the choices: the rule vocabulary describes TCP's bind and
    // listener lookup only (docs/rules.md#udp)
    ...(base.udp ? { udp: base.udp } : {}),

    setsockopt(sk, option, value, host) {
      if (option !== 'SO_REUSEPORT' || !changed('reuseport')) return base.setsockopt(sk, option, value, host);
      if (rules.reuseport === 'none') return fail('ENOPROTOOPT', 'SO_REUSEPORT does not exist (rule reuseport: none)');
      const d = base.setsockopt(sk, option, value, host);
      if (d.errno !== 'ENOPROTOOPT') return d;
      // The base OS lacks the option; the rule gives it.
      sk.opts.reuseport = value === true;
      return ok(`SO_REUSEPORT set (rule reuseport: ${rules.reuseport})`);
    },

    bind(sk, addr, port, host) {
      if (!bindChanged || port === 0) return base.bind(sk, addr, port, host);
      return customBind(base, rules, changed('privilegedPorts'), sk, addr, port, host);
    },

    listen(sk, host) {
      if (!listenChanged || sk.port === 0) return base.listen(sk, host);
      if (!rules.listenRecheck) return ok('listen: no re-check of the port (rule listenRecheck: false) [4.4BSD sys/netinet/tcp_usrreq.c PRU_LISTEN]');
      // The re-check sees this socket as listening [Linux inet_csk_listen_start]
      const prev = sk.state;
      sk.state = 'LISTEN';
      try {
        const d = conflictWalk(rules, sk, sk.port, host);
        return d.errno ? { ...d, rule: `listen re-check: ${d.rule}` } : ok(`listen re-check found no conflict (rule listenRecheck: true) [Linux net/ipv4/inet_connection_sock.c inet_csk_listen_start]`);
      } finally {
        sk.state = prev;
      }
    },

    listenerOrder: (sk) => (changed('lookup') && rules.lookup === 'linux-score' ? linux.listenerOrder(sk) : base.listenerOrder(sk)),

    groupsReuseport: (sk) => {
      if (!groupsChanged) return base.groupsReuseport(sk);
      return (rules.reuseport === 'same-uid' || rules.reuseport === 'any-uid') && sk.opts.reuseport;
    },

    reuseportPeer(sk, listeners) {
      if (!groupsChanged) return base.reuseportPeer(sk, listeners);
      // Same family, v6only, device, exact address (and uid for same-uid) [Linux inet_reuseport_add_sock]
      for (const sk2 of listeners) {
        if (sk2 !== sk && sk2.family === sk.family && sk2.ipv6only === sk.ipv6only && sk2.opts.device === sk.opts.device
          && sk2.opts.reuseport && sk2.group && (rules.reuseport === 'any-uid' || sk2.uid === sk.uid) && rcvSaddrEqual(sk, sk2, false)) return sk2;
      }
      return null;
    },

    lookup(syn, listeners, bound, host) {
      if (!lookupChanged) return base.lookup(syn, listeners, bound, host);
      if (rules.lookup === 'linux-score') return linux.lookup(syn, listeners, [], host);
      return bestMatchLookup(syn, listeners, rules.boundOnlySyn === 'invisible' ? [] : bound, rules.lookup, rules.boundOnlySyn);
    },
  };
  return policy;
}

// ---- bind ------------------------------------------------------------------------------------

/** A HostView in which the port has no owners, so a base policy's bind makes only its own preliminary checks. */
function withoutOwners(host: HostView): HostView {
  return {
    name: host.name,
    interfaces: host.interfaces,
    addresses: (f) => host.addresses(f),
    isLocal: (a) => host.isLocal(a),
    interfaceOf: (a) => host.interfaceOf(a),
    sysctl: host.sysctl,
    owners: () => [],
    portHeld: () => false,
    bindBucket: () => undefined,
    setBindBucket: () => {},
    random: (n) => host.random(n),
  };
}

/** The socket as root, so the base's privileged-port test passes when the rule replaces it. */
function asRoot(sk: Sock): Sock {
  return new Proxy(sk, { get: (t, k) => (k === 'uid' ? 0 : (t as unknown as Record<string | symbol, unknown>)[k]) });
}

function customBind(base: Policy, rules: RuleSet, privChanged: boolean, sk: Sock, addr: IpAddr, port: number, host: HostView): Decision {
  const savedV6only = sk.ipv6only;
  // The base's address, privilege and already-bound checks, without its conflict walk.
  const pre = base.bind(privChanged ? asRoot(sk) : sk, addr, port, withoutOwners(host));
  if (pre.errno) return pre;
  if (privChanged && needsPrivilege(rules, sk, addr, port, host)) {
    sk.ipv6only = savedV6only;
    return fail('EACCES', `port ${port} needs root and uid ${sk.uid} is not (rule privilegedPorts: ${rules.privilegedPorts})`);
  }
  const saved = sk.local;
  sk.local = addr;
  // A specific non-mapped IPv6 address makes the socket IPv6-only [Linux __inet6_bind]
  if (sk.family === 'inet6' && !isWildcard(addr) && !isV4Mapped(addr)) sk.ipv6only = true;
  try {
    const d = conflictWalk(rules, sk, port, host);
    if (d.errno) { sk.ipv6only = savedV6only; return d; }
    return ok(`bind: ${d.rule}`);
  } finally {
    sk.local = saved;
  }
}

function needsPrivilege(rules: RuleSet, sk: Sock, addr: IpAddr, port: number, host: HostView): boolean {
  if (sk.uid === 0 || port === 0) return false;
  switch (rules.privilegedPorts) {
    case 'none': return false;
    // Linux reads the limit from ip_unprivileged_port_start (default 1024) [net/ipv4/af_inet.c __inet_bind]
    case 'below-1024': return port < host.sysctl.ipUnprivilegedPortStart;
    // Only specific addresses are checked [XNU in_pcbbind]
    case 'specific-only': return port < 1024 && !isWildcard(addr);
  }
}

/** Every owner of the port whose address overlaps sk's must agree to share (pairVerdict). */
export function conflictWalk(rules: RuleSet, sk: Sock, port: number, host: HostView): Decision {
  for (const sk2 of host.owners(port)) {
    if (sk2 === sk) continue;
    // Sockets bound to different devices never conflict [Linux inet_bind_conflict]
    if (sk.opts.device && sk2.opts.device && sk.opts.device !== sk2.opts.device) continue;
    if (!rcvSaddrEqual(sk, sk2, true)) continue;
    const v = pairVerdict(rules, sk, sk2, host, port);
    if (!v.share) return fail('EADDRINUSE', `overlaps ${describe(sk2)}: ${v.why}`, { conflict: sk2 });
  }
  return ok(`no owner of port ${port} conflicts under the policy's rules`);
}

interface Verdict { readonly share: boolean; readonly why: string }
const yes = (why: string): Verdict => ({ share: true, why });
const no = (why: string): Verdict => ({ share: false, why });

const connected = (sk: Sock): boolean => sk.state === 'ESTABLISHED' || sk.state === 'TIME_WAIT';

/** May sk (binding, or re-checking at listen) share the port with the overlapping owner sk2? */
export function pairVerdict(rules: RuleSet, sk: Sock, sk2: Sock, host: HostView, port: number): Verdict {
  const wild = isWildcard(sk.local ?? { family: 4, bytes: new Uint8Array(4), text: '0.0.0.0' });
  const wild2 = sk2.local === null || isWildcard(sk2.local);
  // Both wildcard counts as the same address except under dead-only, whose 2.0 code takes the wildcard branch
  const same = rcvSaddrEqual(sk, sk2, false) && !(rules.sameAddress === 'dead-only' && wild && wild2);

  if (sk.uid !== 0 && sk2.uid !== sk.uid) {
    if (rules.uidGuard === 'other-uid-refused' && !connected(sk2)) {
      return no(`another uid's unconnected socket (rule uidGuard: other-uid-refused) [FreeBSD sys/netinet6/in6_pcb.c in6_pcbbind_avail]`);
    }
    if (rules.uidGuard === 'other-uid-refused-unless-both-wildcard' && !(wild && wild2)) {
      return no(`another uid's socket and not both wildcard (rule uidGuard: other-uid-refused-unless-both-wildcard) [XNU bsd/netinet/in_pcb.c in_pcbbind]`);
    }
  }

  if (sk.opts.reuseport && sk2.opts.reuseport) {
    if (rules.reuseport === 'same-uid' && (sk2.state === 'TIME_WAIT' || sk.uid === sk2.uid)) {
      return yes('both have SO_REUSEPORT and one uid (rule reuseport: same-uid) [Linux net/ipv4/inet_connection_sock.c inet_csk_bind_conflict]');
    }
    if (rules.reuseport === 'any-uid') return yes('both have SO_REUSEPORT (rule reuseport: any-uid)');
    if (rules.reuseport === 'exact-duplicates' && same) return yes('exact duplicates with SO_REUSEPORT on both (rule reuseport: exact-duplicates) [4.4BSD sys/netinet/in_pcb.c in_pcbbind]');
  }

  const flag = rules.reuseaddr === 'both' ? sk.opts.reuseaddr && sk2.opts.reuseaddr
    : rules.reuseaddr === 'newcomer' ? sk.opts.reuseaddr || sk.opts.reuseport : false;
  const flagWhy = rules.reuseaddr === 'both' ? (sk.opts.reuseaddr ? 'the other socket lacks SO_REUSEADDR (rule reuseaddr: both)' : 'this socket lacks SO_REUSEADDR (rule reuseaddr: both)')
    : rules.reuseaddr === 'newcomer' ? 'this socket has neither SO_REUSEADDR nor SO_REUSEPORT (rule reuseaddr: newcomer)' : 'SO_REUSEADDR never shares (rule reuseaddr: none)';
  const listening = sk2.state === 'LISTEN';

  if (same) {
    switch (rules.sameAddress) {
      case 'unless-listening':
        if (!flag) return no(`same address: ${flagWhy}`);
        return listening ? no('same address and the other socket is listening (rule sameAddress: unless-listening) [Linux net/ipv4/inet_connection_sock.c inet_csk_bind_conflict]')
          : yes('same address, SO_REUSEADDR, the other not listening (rule sameAddress: unless-listening)');
      case 'dead-only':
        if (!sk.opts.reuseaddr) return no('same specific address and no SO_REUSEADDR (rule sameAddress: dead-only) [2.0 net/ipv4/af_inet.c inet_bind]');
        return sk2.state === 'TIME_WAIT' ? yes('same specific address over a TIME_WAIT socket (rule sameAddress: dead-only)')
          : no('same specific address and the other is not dead (rule sameAddress: dead-only) [2.0 net/ipv4/af_inet.c inet_bind sk2->dead]');
      case 'connected-only':
        if (!flag) return no(`same address: ${flagWhy}`);
        return connected(sk2) ? yes('same address over a connected socket (rule sameAddress: connected-only)')
          : no('same address as an unconnected socket; duplicates need SO_REUSEPORT on both (rule sameAddress: connected-only) [4.4BSD sys/netinet/in_pcb.c in_pcbbind]');
    }
  }

  // A wildcard and a specific address (or two wildcards under dead-only).
  if (!flag) return no(`wildcard overlap: ${flagWhy}`);
  if (!listening) return yes('wildcard overlap with SO_REUSEADDR and the other not listening');
  switch (rules.reuseaddrOverListener) {
    case 'refuse': return no('the other socket is listening: SO_REUSEADDR never overlaps a listener (rule reuseaddrOverListener: refuse)');
    case 'allow': return yes('wildcard overlap with a listener allowed (rule reuseaddrOverListener: allow) [4.4BSD sys/netinet/in_pcb.c in_pcbbind]');
    case 'allow-if-multihomed-n-1': return pajariCount(sk, sk2, wild, wild2, host, port);
  }
}

/** Pajari 1999: one wildcard listener plus up to n-1 specific ones on an n-address host (docs/policies/pajari-1999.md). */
function pajariCount(sk: Sock, sk2: Sock, wild: boolean, wild2: boolean, host: HostView, port: number): Verdict {
  if (wild && wild2) return no('two wildcard sockets and the other is listening (rule reuseaddrOverListener: allow-if-multihomed-n-1) [Pajari 1999, docs/policies/pajari-1999.md#the-1999-post]');
  const n = host.addresses(4).length;
  if (n < 2) return no(`single-address host: the listener keeps the port (rule reuseaddrOverListener: allow-if-multihomed-n-1) [Pajari 1999, docs/policies/pajari-1999.md#the-1999-post]`);
  const specifics = new Set<number>();
  for (const o of host.owners(port)) if (o.kind === 'socket' && o !== sk && v4View(o) !== 0) specifics.add(v4View(o));
  if (!wild) specifics.add(v4View(sk));
  if (specifics.size <= n - 1) return yes(`${specifics.size} specific address(es) of ${n} hold the port; the wildcard keeps one (rule reuseaddrOverListener: allow-if-multihomed-n-1)`);
  return no(`${specifics.size} specific addresses would leave ${wild ? 'this wildcard socket' : describe(sk2)} none of the host's ${n} (rule reuseaddrOverListener: allow-if-multihomed-n-1) [Pajari 1999, docs/policies/pajari-1999.md#the-1999-post: "up to n-1"]`);
}

// ---- lookup ----------------------------------------------------------------------------------

/** How well a socket's local address matches a SYN's destination: 0 exact, 1 wildcard, null no match. */
export function matchCost(sk: Sock, syn: SynInfo): number | null {
  if (!sk.local) return null;
  if (syn.dst.family === 4) {
    if (sk.ipv6only) return null;
    const a = v4View(sk);
    const dst = v4View({ local: syn.dst } as Sock);
    return a === dst ? 0 : a === 0 ? 1 : null;
  }
  if (sk.family !== 'inet6') return null;
  return sk.local.text === syn.dst.text ? 0 : isWildcard(sk.local) ? 1 : null;
}

/**
 * bsd-best-match: fewest wildcards, ties to the newest socket [4.4BSD in_pcblookup];
 * most-specific: specific beats wildcard, ties to the newest bind [2.0 get_sock over put_sock's chain, as lookup20].
 */
export function bestMatchLookup(syn: SynInfo, listeners: readonly Sock[], bound: readonly Sock[],
  how: 'bsd-best-match' | 'most-specific', boundOnly: RuleSet['boundOnlySyn']): LookupResult {
  let best: Sock | null = null;
  let bestCost = Infinity;
  const note = syn.note;
  for (const sk of [...listeners, ...bound]) {
    const c = matchCost(sk, syn);
    if (c === null) { note?.(sk, 'its address does not match'); continue; }
    // Ties: 4.4BSD keeps the newest socket [in_pcblookup]; 2.0 the newest bind, first in put_sock's chain [get_sock].
    const better = c < bestCost || (c === bestCost && best !== null
      && (how === 'bsd-best-match' ? sk.createdSeq > best.createdSeq : sk.boundSeq > best.boundSeq));
    if (note) note(sk, `${c === 0 ? 'exact address' : 'wildcard'} (${c} wildcard${c === 1 ? '' : 's'})${best === null || better ? '' : c > bestCost ? ', more wildcards than the best match' : `, a tie: the ${how === 'bsd-best-match' ? 'newer socket' : 'newer bind'} wins`}`);
    if (better) { best = sk; bestCost = c; }
  }
  const cite = how === 'bsd-best-match' ? '4.4BSD sys/netinet/in_pcb.c in_pcblookup' : '2.0 net/ipv4/af_inet.c get_sock';
  if (!best) return { sock: null, candidates: [], action: 'rst', rule: `no socket on port ${syn.dport}: RST [${cite}]` };
  if (best.state !== 'LISTEN') {
    return {
      sock: null, candidates: [], action: boundOnly === 'drop' ? 'drop' : 'rst',
      rule: `best match ${describe(best)} is bound but not listening: ${boundOnly === 'drop' ? 'dropped' : 'RST'} (rule boundOnlySyn: ${boundOnly}) [${cite}]`,
    };
  }
  return {
    sock: best, candidates: [best], action: 'accept',
    rule: `${bestCost === 0 ? 'specific-address' : 'wildcard'} socket ${describe(best)} is the best match (rule lookup: ${how}) [${cite}]`,
  };
}
