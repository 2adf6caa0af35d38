// The rule vocabulary: the questions on which the built-in policies really differ, each with its
// choices, what a choice means, which built-in policies make it, and where that comes from
// (the sources, and the page of docs/policies/ that restates the rule). A user-defined policy is a built-in
// one plus some of these choices changed (custom.ts); `bindlab policies --rules` prints this table.

/** The rule set of a policy: one choice per question. */
export interface RuleSet {
  readonly reuseaddr: 'both' | 'newcomer' | 'none';
  readonly reuseaddrOverListener: 'refuse' | 'allow' | 'allow-if-multihomed-n-1';
  readonly sameAddress: 'unless-listening' | 'dead-only' | 'connected-only';
  readonly reuseport: 'none' | 'same-uid' | 'any-uid' | 'exact-duplicates';
  readonly uidGuard: 'none' | 'other-uid-refused' | 'other-uid-refused-unless-both-wildcard';
  readonly listenRecheck: boolean;
  readonly lookup: 'linux-score' | 'bsd-best-match' | 'most-specific';
  readonly boundOnlySyn: 'invisible' | 'rst' | 'drop';
  readonly privilegedPorts: 'below-1024' | 'specific-only' | 'none';
  /** A duration such as 60s (the scenario format's durations). */
  readonly timeWait: string;
}

export type RuleName = keyof RuleSet;

export interface RuleChoice {
  /** What the choice means, in words. */
  readonly means: string;
  /** Where the behaviour comes from. */
  readonly source: string;
}

export interface RuleSpec {
  readonly name: RuleName;
  /** The question the rule answers. */
  readonly question: string;
  /** Enumerated choices; absent for timeWait, which takes a duration. */
  readonly choices?: Readonly<Record<string, RuleChoice>>;
  /** For non-enumerated rules: what a value looks like. */
  readonly valueHint?: string;
}

export const RULE_SPECS: readonly RuleSpec[] = [
  {
    name: 'reuseaddr',
    question: "whose SO_REUSEADDR lets a bind share a port with an overlapping socket",
    choices: {
      both: { means: 'both sockets must have SO_REUSEADDR', source: 'Linux net/ipv4/inet_connection_sock.c inet_csk_bind_conflict; 2.0 net/ipv4/af_inet.c inet_bind "allow only if both are setting reuse" (docs/policies/linux.md#bind-conflicts)' },
      newcomer: { means: 'the new socket alone (its SO_REUSEADDR or SO_REUSEPORT makes the check exact-match only)', source: '4.4BSD, FreeBSD and XNU sys/netinet/in_pcb.c in_pcbbind: wild cleared by the new socket\'s options (docs/policies/bsd44.md#bind-conflicts)' },
      none: { means: 'SO_REUSEADDR never lets overlapping sockets share (a stricter variant; no built-in policy)', source: 'a design choice, no OS (docs/rules.md#reuseaddr)' },
    },
  },
  {
    name: 'reuseaddrOverListener',
    question: 'the 1999 question: may a wildcard and a specific socket share a port (SO_REUSEADDR as the reuseaddr rule says) when the other one listens',
    choices: {
      refuse: { means: 'no: SO_REUSEADDR never overlaps a listener', source: 'Linux net/ipv4/inet_connection_sock.c inet_csk_bind_conflict "sk2->sk_state != TCP_LISTEN"; 2.0 net/ipv4/af_inet.c inet_bind (docs/policies/linux.md#bind-conflicts)' },
      allow: { means: 'yes, whatever the other socket\'s state', source: '4.4BSD sys/netinet/in_pcb.c in_pcbbind with INPLOOKUP_WILDCARD cleared (docs/policies/bsd44.md#bind-conflicts)' },
      'allow-if-multihomed-n-1': {
        means: 'yes on a host with n >= 2 IPv4 addresses while at most n-1 distinct specific addresses hold the port (the wildcard keeps one); two wildcards never',
        source: 'G. Pajari, linux-kernel, 15 Feb 1999, formalised in docs/policies/pajari-1999.md#the-readings-chosen',
      },
    },
  },
  {
    name: 'sameAddress',
    question: 'when may two sockets hold exactly the same address and port through SO_REUSEADDR',
    choices: {
      'unless-listening': { means: 'when the reuseaddr rule is met and the other socket is not listening (bound, ESTABLISHED or TIME_WAIT)', source: 'Linux net/ipv4/inet_connection_sock.c inet_csk_bind_conflict (docs/policies/linux.md#bind-conflicts)' },
      'dead-only': {
        means: 'the same specific address only over a TIME_WAIT socket, with the new socket\'s SO_REUSEADDR; two wildcards follow the wildcard rule instead',
        source: '2.0 net/ipv4/af_inet.c inet_bind "sk2->dead" (UNCONFIRMED detail: docs/policies/linux-1.3.60.md#bind-conflicts)',
      },
      'connected-only': {
        means: 'only over connected sockets (ESTABLISHED, TIME_WAIT); two unconnected duplicates need SO_REUSEPORT',
        source: '4.4BSD sys/netinet/in_pcb.c in_pcbbind, in_pcblookup: connected PCBs are skipped when not wild (docs/policies/bsd44.md#bind-conflicts)',
      },
    },
  },
  {
    name: 'reuseport',
    question: 'what SO_REUSEPORT (set on both sockets) permits',
    choices: {
      none: { means: 'the option does not exist: ENOPROTOOPT', source: 'Linux before 3.9 and 2.0: net/core/sock.c sock_setsockopt has no SO_REUSEPORT (docs/policies/linux-2.2.md#bind-conflicts)' },
      'same-uid': {
        means: 'any overlap when both have it and share the effective uid (a TIME_WAIT owner is exempt); listeners on the same exact address form a load-balanced group',
        source: 'Linux 3.9+ net/ipv4/inet_connection_sock.c inet_csk_bind_conflict, net/ipv4/inet_hashtables.c inet_reuseport_add_sock (docs/policies/linux.md#so_reuseport-groups)',
      },
      'any-uid': { means: 'as same-uid without the uid test (Linux 3.9 without its anti-hijack rule; no built-in policy)', source: 'a design choice; cf. the USAGI 2002 proposal https://www.linux-ipv6.org/materials/200202-INTERNET2-WORKSHOP/mgp00017.txt (docs/rules.md#reuseport)' },
      'exact-duplicates': {
        means: 'exact duplicates of an address may coexist; no load balancing: the lookup picks one',
        source: '4.4BSD sys/netinet/in_pcb.c in_pcbbind "reuseport && (t->inp_socket->so_options & SO_REUSEPORT)" (docs/policies/bsd44.md#bind-conflicts)',
      },
    },
  },
  {
    name: 'uidGuard',
    question: 'is a non-root bind refused when it overlaps a socket of another uid, whatever the options',
    choices: {
      none: { means: 'no uid rule', source: 'no uid test in Linux net/ipv4/inet_connection_sock.c inet_csk_bind_conflict (but SO_REUSEPORT\'s), 2.0 net/ipv4/af_inet.c inet_bind, 4.4BSD sys/netinet/in_pcb.c in_pcbbind (docs/rules.md#uidguard)' },
      'other-uid-refused': { means: 'yes, over unconnected sockets of another uid (connected ones do not count)', source: 'FreeBSD sys/netinet6/in6_pcb.c in6_pcbbind_avail, sys/netinet/in_pcb.c in_pcbbind_setup, PRIV_NETINET_REUSEPORT; no SO_REUSEPORT_LB exemption: tests/sys/netinet/socket_afinet.c multibind_test (docs/policies/freebsd.md#bind-conflicts)' },
      'other-uid-refused-unless-both-wildcard': { means: 'yes, over any socket of another uid unless both are wildcard', source: 'XNU bsd/netinet/in_pcb.c in_pcbbind (docs/policies/macos.md#bind-conflicts)' },
    },
  },
  {
    name: 'listenRecheck',
    question: 'does listen() check the port again, now with this socket listening',
    choices: {
      true: { means: 'yes: two binds that both succeeded can still lose at listen(); whoever listens first wins', source: 'Linux net/ipv4/inet_connection_sock.c inet_csk_listen_start (docs/policies/linux.md#listen)' },
      false: { means: 'no: a bind that succeeded stands', source: '4.4BSD sys/netinet/tcp_usrreq.c PRU_LISTEN (docs/policies/bsd44.md#listen); 2.0 net/ipv4/af_inet.c inet_listen (UNCONFIRMED: docs/policies/linux-1.3.60.md#listen)' },
    },
  },
  {
    name: 'lookup',
    question: 'which socket gets an incoming SYN',
    choices: {
      'linux-score': {
        means: 'listeners only: exact-address ones before wildcard ones, device-bound scores higher, the first SO_REUSEPORT group that raises the score picks by connection hash',
        source: 'Linux net/ipv4/inet_hashtables.c __inet_lookup_listener, compute_score (docs/policies/linux.md#listener-lookup)',
      },
      'bsd-best-match': { means: 'every socket of the port, listening or only bound: fewest wildcards wins; ties go to the newest socket', source: '4.4BSD sys/netinet/in_pcb.c in_pcblookup INPLOOKUP_WILDCARD (docs/policies/bsd44.md#listener-lookup)' },
      'most-specific': { means: 'every socket of the port: a specific match beats a wildcard one; ties go to the newest bind (first in the chain)', source: '2.0 net/ipv4/af_inet.c get_sock, put_sock (docs/policies/linux-1.3.60.md#listener-lookup)' },
    },
  },
  {
    name: 'boundOnlySyn',
    question: 'what a SYN gets when the best match is bound but not listening (bsd-best-match and most-specific only; linux-score never sees such sockets)',
    choices: {
      invisible: { means: 'bound sockets are not considered; the best listener gets it', source: 'Linux: bound sockets are not in the listener hash of net/ipv4/inet_hashtables.c __inet_lookup_listener (docs/policies/linux.md#listener-lookup)' },
      rst: { means: 'the client is refused (RST)', source: '2.0 net/ipv4/tcp_input.c tcp_rcv on a CLOSE socket (docs/policies/linux-1.3.60.md#listener-lookup)' },
      drop: { means: 'the SYN is dropped silently; the client times out', source: '4.4BSD sys/netinet/tcp_input.c "TCB exists but is in CLOSED state" (docs/policies/bsd44.md#listener-lookup)' },
    },
  },
  {
    name: 'privilegedPorts',
    question: 'which binds of ports below 1024 need root',
    choices: {
      'below-1024': { means: 'every bind of a port below 1024 (Linux: below ip_unprivileged_port_start)', source: 'Linux net/ipv4/af_inet.c __inet_bind; 2.0 net/ipv4/af_inet.c inet_bind PROT_SOCK; 4.4BSD sys/netinet/in_pcb.c in_pcbbind IPPORT_RESERVED (docs/policies/README.md#privileged-ports)' },
      'specific-only': { means: 'only binds of a specific address; 0.0.0.0:80 is open to every user', source: 'XNU bsd/netinet/in_pcb.c in_pcbbind (docs/policies/macos.md#bind)' },
      none: { means: 'no port needs privilege (Linux with ip_unprivileged_port_start=0)', source: 'Linux net.ipv4.ip_unprivileged_port_start, Documentation/networking/ip-sysctl.rst (docs/policies/README.md#privileged-ports)' },
    },
  },
  {
    name: 'timeWait',
    question: 'how long a connection stays in TIME_WAIT',
    valueHint: 'a duration: 60s, 30s, 2m, ...',
  },
];

export const RULE_NAMES: readonly RuleName[] = RULE_SPECS.map((r) => r.name);

/** How a built-in policy reads in the vocabulary, and where the vocabulary falls short of it. */
export interface BuiltinRules {
  readonly rules: RuleSet;
  /** Where the policy's code does more than its rules say, or the sources are silent. */
  readonly notes: readonly string[];
}

const LINUX: RuleSet = {
  reuseaddr: 'both', reuseaddrOverListener: 'refuse', sameAddress: 'unless-listening', reuseport: 'same-uid',
  uidGuard: 'none', listenRecheck: true, lookup: 'linux-score', boundOnlySyn: 'invisible', privilegedPorts: 'below-1024', timeWait: '60s',
};
const LINUX_1360: RuleSet = {
  reuseaddr: 'both', reuseaddrOverListener: 'refuse', sameAddress: 'dead-only', reuseport: 'none',
  uidGuard: 'none', listenRecheck: false, lookup: 'most-specific', boundOnlySyn: 'rst', privilegedPorts: 'below-1024', timeWait: '60s',
};
const BSD44: RuleSet = {
  reuseaddr: 'newcomer', reuseaddrOverListener: 'allow', sameAddress: 'connected-only', reuseport: 'exact-duplicates',
  uidGuard: 'none', listenRecheck: false, lookup: 'bsd-best-match', boundOnlySyn: 'drop', privilegedPorts: 'below-1024', timeWait: '60s',
};

/** The built-in policies in the vocabulary (also those being written, so the table is complete). */
export const BUILTIN_RULES: Readonly<Record<string, BuiltinRules>> = {
  linux: {
    rules: LINUX,
    notes: ['IPv6 address matching, SO_BINDTODEVICE and ephemeral-port choice come from the base policy, not from rules (docs/policies/linux.md)',
      'Linux 3.9-4.5 had no reuseport group objects (UNCONFIRMED: docs/policies/linux.md#unconfirmed)'],
  },
  'linux-2.2': {
    rules: { ...LINUX, reuseport: 'none' },
    notes: ['2.6-3.8 score (+2 address, +2 device, +1 AF_INET, single pass) differs from linux-score in ties between a device-bound wildcard and an unbound specific listener (docs/policies/linux-2.2.md#listener-lookup)',
      'listen re-check UNCONFIRMED for 2.2.x (docs/policies/linux-2.2.md#listen)'],
  },
  'linux-1.3.60': {
    rules: LINUX_1360,
    notes: ['1.3.60 itself not seen; modelled on 2.0 net/ipv4/af_inet.c inet_bind (UNCONFIRMED as to the release: docs/policies/linux-1.3.60.md#unconfirmed)',
      'whether 2.0 net/ipv4/af_inet.c inet_listen re-checks the port is UNCONFIRMED, assumed not (docs/policies/linux-1.3.60.md#listen)',
      'a SYN whose best match is bound but not listening gets RST, from the source (2.0 net/ipv4/tcp_input.c tcp_rcv), never observed on a 2.0 kernel (docs/policies/linux-1.3.60.md#listener-lookup)'],
  },
  'pajari-1999': {
    rules: { ...LINUX_1360, reuseaddrOverListener: 'allow-if-multihomed-n-1' },
    notes: ['a definition, not a measurement: the readings chosen are docs/policies/pajari-1999.md#the-readings-chosen'],
  },
  bsd44: {
    rules: BSD44,
    notes: ['TIME_WAIT 2*MSL with MSL 30 s is UNCONFIRMED (docs/policies/bsd44.md#time_wait)', 'the ephemeral range 1024..5000 comes from the base policy (docs/policies/bsd44.md#automatic-ports)'],
  },
  freebsd: {
    rules: { ...BSD44, uidGuard: 'other-uid-refused' },
    notes: ['SO_REUSEPORT_LB groups come from the base policy, not from rules (docs/policies/freebsd.md#listener-lookup)',
      'the wild chain orders specific before wildcard, newest bind first; bsd-best-match is the same answer for IPv4 (docs/policies/freebsd.md#listener-lookup)',
      'drop for a bound, non-listening best match is UNCONFIRMED (docs/policies/freebsd.md#listener-lookup)'],
  },
  macos: {
    rules: { ...BSD44, uidGuard: 'other-uid-refused-unless-both-wildcard', privilegedPorts: 'specific-only', timeWait: '30s' },
    notes: ['wildcard SO_REUSEPORT duplicates go to the oldest socket in XNU; bsd-best-match says newest (docs/policies/macos.md#listener-lookup)',
      'TIME_WAIT 30 s (MSL 15 s, bsd/netinet/tcp_timer.h TCPTV_MSL) is UNCONFIRMED on a running system (docs/policies/macos.md#time_wait)', 'a SYN to a bound, non-listening PCB is UNCONFIRMED, drop assumed (docs/policies/macos.md#listener-lookup)'],
  },
};

/** The rule set of a policy by name, or undefined when the policy is not described in the vocabulary. */
export function builtinRules(name: string): BuiltinRules | undefined {
  return BUILTIN_RULES[name];
}

/** One choice in words: "reuseaddr: both (both sockets must have SO_REUSEADDR) [source]". */
export function describeChoice(rule: RuleName, value: string | boolean): string {
  const spec = RULE_SPECS.find((r) => r.name === rule)!;
  const c = spec.choices?.[String(value)];
  return c ? `${rule}: ${String(value)} — ${c.means} [${c.source}]` : `${rule}: ${String(value)}`;
}

/** Built-in policies (among those given) that make this choice. */
export function usedBy(rule: RuleName, value: string, names: readonly string[] = Object.keys(BUILTIN_RULES)): string[] {
  return names.filter((n) => String(BUILTIN_RULES[n]?.rules[rule]) === value);
}
