// The rule vocabulary: the questions on which the built-in policies really differ, each with its
// choices, what a choice means, which built-in policies make it, and where that comes from
// (shared SEMANTICS.md sections and the sources they cite). A user-defined policy is a built-in
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
      both: { means: 'both sockets must have SO_REUSEADDR', source: 'Linux inet_csk_bind_conflict; 2.0 inet_bind "allow only if both are setting reuse" (SEMANTICS §1.3, §3.1)' },
      newcomer: { means: 'the new socket alone (its SO_REUSEADDR or SO_REUSEPORT makes the check exact-match only)', source: '4.4BSD/FreeBSD/XNU in_pcbbind: wild cleared by the new socket\'s options (SEMANTICS §5.1, §6.1, §7.1)' },
      none: { means: 'SO_REUSEADDR never lets overlapping sockets share (a stricter variant; no built-in policy)', source: 'a design choice' },
    },
  },
  {
    name: 'reuseaddrOverListener',
    question: 'the 1999 question: may a wildcard and a specific socket share a port (SO_REUSEADDR as the reuseaddr rule says) when the other one listens',
    choices: {
      refuse: { means: 'no: SO_REUSEADDR never overlaps a listener', source: 'Linux inet_csk_bind_conflict "sk2->sk_state != TCP_LISTEN"; 2.0 inet_bind (SEMANTICS §1.3, §3.1)' },
      allow: { means: 'yes, whatever the other socket\'s state', source: '4.4BSD in_pcbbind with INPLOOKUP_WILDCARD cleared (SEMANTICS §5.1)' },
      'allow-if-multihomed-n-1': {
        means: 'yes on a host with n >= 2 IPv4 addresses while at most n-1 distinct specific addresses hold the port (the wildcard keeps one); two wildcards never',
        source: 'G. Pajari, linux-kernel, 15 Feb 1999, formalised in SEMANTICS §4',
      },
    },
  },
  {
    name: 'sameAddress',
    question: 'when may two sockets hold exactly the same address and port through SO_REUSEADDR',
    choices: {
      'unless-listening': { means: 'when the reuseaddr rule is met and the other socket is not listening (bound, ESTABLISHED or TIME_WAIT)', source: 'Linux inet_csk_bind_conflict (SEMANTICS §1.3, §2.1)' },
      'dead-only': {
        means: 'the same specific address only over a TIME_WAIT socket, with the new socket\'s SO_REUSEADDR; two wildcards follow the wildcard rule instead',
        source: '2.0 net/ipv4/af_inet.c inet_bind "sk2->dead" (SEMANTICS §3.1; UNCONFIRMED detail)',
      },
      'connected-only': {
        means: 'only over connected sockets (ESTABLISHED, TIME_WAIT); two unconnected duplicates need SO_REUSEPORT',
        source: '4.4BSD in_pcbbind/in_pcblookup: connected PCBs are skipped when not wild (SEMANTICS §5.1)',
      },
    },
  },
  {
    name: 'reuseport',
    question: 'what SO_REUSEPORT (set on both sockets) permits',
    choices: {
      none: { means: 'the option does not exist: ENOPROTOOPT', source: 'Linux before 3.9, Linux 2.0 net/core/sock.c sock_setsockopt (SEMANTICS §2.1)' },
      'same-uid': {
        means: 'any overlap when both have it and share the effective uid (a TIME_WAIT owner is exempt); listeners on the same exact address form a load-balanced group',
        source: 'Linux 3.9+ inet_csk_bind_conflict, inet_reuseport_add_sock (SEMANTICS §1.3, §1.7)',
      },
      'any-uid': { means: 'as same-uid without the uid test (Linux 3.9 without its anti-hijack rule; no built-in policy)', source: 'a design choice; cf. the USAGI 2002 proposal (SEMANTICS Sources)' },
      'exact-duplicates': {
        means: 'exact duplicates of an address may coexist; no load balancing: the lookup picks one',
        source: '4.4BSD in_pcbbind "reuseport && (t->inp_socket->so_options & SO_REUSEPORT)" (SEMANTICS §5.1)',
      },
    },
  },
  {
    name: 'uidGuard',
    question: 'is a non-root bind refused when it overlaps a socket of another uid, whatever the options',
    choices: {
      none: { means: 'no uid rule', source: 'Linux, 4.4BSD, 2.0 (SEMANTICS §1.3, §3.1, §5.1)' },
      'other-uid-refused': { means: 'yes, over unconnected sockets of another uid (connected ones do not count)', source: 'FreeBSD in6_pcbbind_avail / in_pcbbind_setup, PRIV_NETINET_REUSEPORT (SEMANTICS §6.1; no SO_REUSEPORT_LB exemption: socket_afinet.c multibind_test)' },
      'other-uid-refused-unless-both-wildcard': { means: 'yes, over any socket of another uid unless both are wildcard', source: 'XNU in_pcbbind (SEMANTICS §7.1)' },
    },
  },
  {
    name: 'listenRecheck',
    question: 'does listen() check the port again, now with this socket listening',
    choices: {
      true: { means: 'yes: two binds that both succeeded can still lose at listen(); whoever listens first wins', source: 'Linux inet_csk_listen_start (SEMANTICS §1.4, §2.2)' },
      false: { means: 'no: a bind that succeeded stands', source: '4.4BSD tcp_usrreq PRU_LISTEN; 2.0 inet_listen (UNCONFIRMED) (SEMANTICS §3.3, §5.2)' },
    },
  },
  {
    name: 'lookup',
    question: 'which socket gets an incoming SYN',
    choices: {
      'linux-score': {
        means: 'listeners only: exact-address ones before wildcard ones, device-bound scores higher, the first SO_REUSEPORT group that raises the score picks by connection hash',
        source: 'Linux inet_hashtables.c __inet_lookup_listener, compute_score (SEMANTICS §1.6)',
      },
      'bsd-best-match': { means: 'every socket of the port, listening or only bound: fewest wildcards wins; ties go to the newest socket', source: '4.4BSD in_pcblookup INPLOOKUP_WILDCARD (SEMANTICS §5.3)' },
      'most-specific': { means: 'every socket of the port: a specific match beats a wildcard one; ties go to the newest bind (first in the chain)', source: '2.0 net/ipv4/af_inet.c get_sock, put_sock (SEMANTICS §3.4)' },
    },
  },
  {
    name: 'boundOnlySyn',
    question: 'what a SYN gets when the best match is bound but not listening (bsd-best-match and most-specific only; linux-score never sees such sockets)',
    choices: {
      invisible: { means: 'bound sockets are not considered; the best listener gets it', source: 'Linux: bound sockets are not in the listener hash (SEMANTICS §1.6)' },
      rst: { means: 'the client is refused (RST)', source: '2.0 tcp_rcv on a CLOSE socket (UNCONFIRMED, SEMANTICS §3.4)' },
      drop: { means: 'the SYN is dropped silently; the client times out', source: '4.4BSD tcp_input "TCB exists but is in CLOSED state" (SEMANTICS §5.3)' },
    },
  },
  {
    name: 'privilegedPorts',
    question: 'which binds of ports below 1024 need root',
    choices: {
      'below-1024': { means: 'every bind of a port below 1024 (Linux: below ip_unprivileged_port_start)', source: 'Linux __inet_bind; 2.0 inet_bind PROT_SOCK; 4.4BSD in_pcbbind IPPORT_RESERVED' },
      'specific-only': { means: 'only binds of a specific address; 0.0.0.0:80 is open to every user', source: 'XNU in_pcbbind (SEMANTICS §7.1)' },
      none: { means: 'no port needs privilege (Linux with ip_unprivileged_port_start=0)', source: 'Linux sysctl net.ipv4.ip_unprivileged_port_start' },
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
    notes: ['IPv6 address matching, SO_BINDTODEVICE and ephemeral-port choice come from the base policy, not from rules',
      'Linux 3.9-4.5 had no reuseport group objects (UNCONFIRMED, SEMANTICS §1.7)'],
  },
  'linux-2.2': {
    rules: { ...LINUX, reuseport: 'none' },
    notes: ['2.6-3.8 score (+2 address, +2 device, +1 AF_INET, single pass) differs from linux-score in ties between a device-bound wildcard and an unbound specific listener (SEMANTICS §2.3)',
      'listen re-check UNCONFIRMED for 2.2.x (SEMANTICS §2.2)'],
  },
  'linux-1.3.60': {
    rules: LINUX_1360,
    notes: ['1.3.60 itself not seen; modelled on 2.0 inet_bind (UNCONFIRMED as to the release)',
      'whether 2.0 inet_listen re-checks the port is UNCONFIRMED (assumed not)',
      'what a SYN to a bound, non-listening best match gets is UNCONFIRMED (RST assumed)'],
  },
  'pajari-1999': {
    rules: { ...LINUX_1360, reuseaddrOverListener: 'allow-if-multihomed-n-1' },
    notes: ['a definition, not a measurement: the readings chosen are SEMANTICS §4 items 1-7'],
  },
  bsd44: {
    rules: BSD44,
    notes: ['TIME_WAIT 2*MSL with MSL 30 s is UNCONFIRMED (SEMANTICS §5.4)', 'the ephemeral range 1024..5000 comes from the base policy'],
  },
  freebsd: {
    rules: { ...BSD44, uidGuard: 'other-uid-refused' },
    notes: ['SO_REUSEPORT_LB groups come from the base policy, not from rules',
      'the wild chain orders specific before wildcard, newest bind first; bsd-best-match is the same answer for IPv4',
      'drop for a bound, non-listening best match is UNCONFIRMED (SEMANTICS §6.3)'],
  },
  macos: {
    rules: { ...BSD44, uidGuard: 'other-uid-refused-unless-both-wildcard', privilegedPorts: 'specific-only', timeWait: '30s' },
    notes: ['wildcard SO_REUSEPORT duplicates go to the oldest socket in XNU (SEMANTICS §7.3); bsd-best-match says newest',
      'TIME_WAIT 30 s (MSL 15 s) is UNCONFIRMED', 'a SYN to a bound, non-listening PCB is UNCONFIRMED (drop assumed)'],
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
