// What a policy is: an OS's bind-conflict, listen and listener-lookup rules as data plus
// small pure functions over a view of the host's sockets. No I/O, no packets, no clock.

import type { IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import type { UdpRules } from './udp-types.js';

export type SockState = 'CLOSE' | 'LISTEN' | 'ESTABLISHED' | 'TIME_WAIT';

/**
 * How a socket came to be: created by a socket step, accepted on a listener (it stays a child
 * through TIME_WAIT), or a client's connected socket made by a connect step.
 */
export type SockKind = 'socket' | 'child' | 'client';

export interface SockOpts {
  reuseaddr: boolean;
  reuseport: boolean;
  reuseportLb: boolean;
  exclusive: boolean;
  v6only: boolean;
  freebind: boolean;
  /** SO_BINDTODEVICE interface name, or null. */
  device: string | null;
}

/** A socket as policies see it. The socket layer owns and mutates it. */
export interface Sock {
  readonly id: number;
  /** Scenario name; children carry their listener's name (they answer as it). */
  readonly name: string;
  readonly kind: SockKind;
  readonly hostName: string;
  readonly processName: string;
  readonly uid: number;
  readonly family: 'inet' | 'inet6';
  readonly opts: SockOpts;
  state: SockState;
  /** Bound local address (IPv4 for inet; IPv6, possibly v4-mapped or ::, for inet6); null when unbound. */
  local: IpAddr | null;
  /** Local port; 0 when unbound. */
  port: number;
  /** IPv6-only for address matching: IPV6_V6ONLY, or an inet6 socket bound to a specific non-mapped address. */
  ipv6only: boolean;
  /** The socket a child was accepted on. */
  readonly listener: Sock | null;
  /** Order counters: when socket(), bind() and listen() happened (0 = not yet). */
  readonly createdSeq: number;
  boundSeq: number;
  listenSeq: number;
  /** The SO_REUSEPORT group this listener belongs to, if any. */
  group: ReuseportGroup | null;
  /** Connected sockets: the remote end. */
  remote: { addr: IpAddr; port: number } | null;
}

export interface ReuseportGroup {
  readonly id: number;
  /** Members in slot order; a leaving member's slot is taken by the last one. */
  readonly members: Sock[];
}

/**
 * What Linux caches per port beside the owners, so that a bind or listen may skip the conflict
 * walk (struct inet_bind_bucket's fastreuseport, fastuid, fast_* fields) [include/net/inet_hashtables.h].
 * Lives as long as anything holds the port [net/ipv4/inet_hashtables.c inet_bind_bucket_destroy].
 */
export interface BindBucket {
  /**
   * tb->fastreuseport == FASTREUSEPORT_STRICT: the uid (fastuid) and address (fast_sk_family,
   * fast_rcv_saddr / fast_v6_rcv_saddr, fast_ipv6_only) of the SO_REUSEPORT socket that set it;
   * null for 0 (and -1, a bucket made by connect()): no fast path.
   */
  readonly fastreuseport: { readonly fastuid: number; readonly fastAddr: BoundAddress } | null;
}

/** A socket's address as the bind rules compare it. */
export type BoundAddress = Pick<Sock, 'family' | 'local' | 'ipv6only'>;

/** What a policy asks of the host while deciding. */
export interface HostView {
  readonly name: string;
  /** Interface names. */
  readonly interfaces: readonly string[];
  /** The host's configured addresses of a family (loopback not included). */
  addresses(family: 4 | 6): readonly IpAddr[];
  /** An address this host may bind: one of its own, loopback, or (IPv4) a broadcast/multicast address of its subnets. */
  isLocal(addr: IpAddr): boolean;
  /** The interface that holds the address ("lo" for the loopback addresses), if any. */
  interfaceOf(addr: IpAddr): string | undefined;
  readonly sysctl: {
    readonly ipNonlocalBind: boolean;
    readonly ipLocalPortRange: readonly [number, number];
    readonly ipUnprivilegedPortStart: number;
  };
  /** Every socket holding this local port: bound, listening, accepted children, TIME_WAIT. */
  owners(port: number): Iterable<Sock>;
  /** True when anything holds the port. */
  portHeld(port: number): boolean;
  /** The port's bind bucket, if one was recorded and anything still holds the port. */
  bindBucket(port: number): BindBucket | undefined;
  /** Records the port's bind bucket; it goes when the port's last owner does. */
  setBindBucket(port: number, bucket: BindBucket): void;
  /** Deterministic random integer in [0, n) from the run's seed. */
  random(n: number): number;
}

export type Errno =
  | 'EADDRINUSE'
  | 'EADDRNOTAVAIL'
  | 'EACCES'
  | 'EINVAL'
  | 'ENOPROTOOPT'
  | 'EIO'
  | 'EBADF'
  | 'ENODEV'
  | 'EOPNOTSUPP'
  | 'EAFNOSUPPORT'
  | 'EPERM'
  | 'EEXIST';

/** The outcome of a socket call: ok (errno null) or an error, with the rule that decided. */
export interface Decision {
  readonly errno: Errno | null;
  /** One line in words, ending with the citation in brackets. */
  readonly rule: string;
  /** The socket the call conflicted with, for explain. */
  readonly conflict?: Sock;
  /** bind with port 0, or listen's auto-bind: the port chosen. */
  readonly port?: number;
}

export interface LookupResult {
  /** The socket that gets the connection; null: RST or drop. */
  readonly sock: Sock | null;
  /** Everyone who could have got it (the reuseport group picked from); [sock] when there was no choice. */
  readonly candidates: readonly Sock[];
  /** What the server does with the SYN. */
  readonly action: 'accept' | 'rst' | 'drop';
  readonly rule: string;
}

export interface SynInfo {
  readonly dst: IpAddr;
  readonly dport: number;
  readonly src: IpAddr;
  readonly sport: number;
  /** Interface the SYN arrived on. */
  readonly inDevice: string;
  /** Seeded hash of the 4-tuple (uint32), for reuseport picks. */
  readonly hash: number;
  /**
   * Present only when the run records its decisions (explain): the lookup tells it, in words, how
   * it judged a socket (address mismatch, device, score). Never consulted for the decision itself.
   */
  readonly note?: (sock: Sock, words: string) => void;
}

/** How a policy's packets look, so its capture resembles that OS in Wireshark (rows: ./fingerprint.ts). */
export interface Fingerprint {
  readonly ttl: number;
  readonly hopLimit: number;
  /** MSS on an Ethernet (MTU 1500) IPv4 path; the engine derives it from each path's MTU (mssForMtu). */
  readonly mss: number;
  /** Fixed initial windows (IPv4, Ethernet); with windowRule 'linux' they are derived per path instead. */
  readonly synWindow: number;
  readonly synAckWindow: number;
  /** Window after the handshake (unscaled value on the wire). */
  readonly window: number;
  readonly windowScale: number;
  /** 'linux': windows and scale from the host's tcp_rmem and the path's MSS (fingerprint.ts); absent: the fixed values. */
  readonly windowRule?: 'linux';
  /** TCP option kinds in the order the OS puts them in a SYN / SYN-ACK. */
  readonly synOptions: readonly TcpOptionKind[];
  readonly synAckOptions: readonly TcpOptionKind[];
  /** IPv4 DF on every TCP segment. */
  readonly dontFragment: boolean;
  /**
   * IPv4 identification: 'per-socket' counts up per connected socket from a random start, 0 when no
   * connected socket sends (Linux); 'zero-with-df' is 0 on every DF datagram (FreeBSD, RFC 6864);
   * 'random' per datagram (XNU); 'host-counter' one counter per host.
   */
  readonly ipId: 'per-socket' | 'zero-with-df' | 'random' | 'host-counter';
  /** IPv6 flow label: a random non-zero one per direction of a connection, or 0. */
  readonly flowLabel: 'per-direction' | 'zero';
  /** Data acknowledged at once (quick-ack), not by the next segment the other way. */
  readonly quickAck: boolean;
  /** Segments a sender may have in flight before the first ACK (initial congestion window). */
  readonly initialCwnd: number;
  /** The loopback interface's MTU (connections to the host's own addresses). */
  readonly loopbackMtu: number;
}

/** A choice and where it comes from: a source file and function, a document, or UNCONFIRMED with why. */
export interface Cited<T> {
  readonly is: T;
  readonly cite: string;
}

/**
 * How an OS routes, as far as bindlab observes it (src/emu/routing.ts, docs/policies/*.md#routing).
 * A host sends and receives over its links by these; the listener lookup is the policy's own.
 */
export interface Routing {
  /**
   * How a packet whose source address is set leaves (the server's SYN-ACK and RST; a connect
   * with a `source:`): 'route' by the routing table for the destination, whatever interface holds
   * the source; 'source-interface' only by routes through the interface that holds the source
   * address (the strong host send model, and XNU's scoped routing). No route there: an answer is
   * lost and the client times out; a connect is unreachable.
   */
  readonly send: Cited<'route' | 'source-interface'>;
  /**
   * A unicast packet for one of the host's addresses that arrives on an interface not holding it:
   * 'weak' takes it, 'strong' drops it unless the host forwards (RFC 1122 3.3.4.2).
   */
  readonly receive: Cited<'weak' | 'strong'>;
  /**
   * Which IPv4 addresses an interface answers ARP requests for: any of the host's
   * ('any-interface'), or only its own ('own-addresses'). IPv6 neighbour solicitations are
   * answered for the interface's own addresses under every policy (RFC 4861 7.2.3).
   */
  readonly arp: Cited<'any-interface' | 'own-addresses'>;
  /**
   * The IPv4 source of a connection from an unbound socket: 'route' the outgoing route's address
   * (the first address of the connected subnet holding the destination, else the outgoing
   * interface's first); 'longest-match' the outgoing interface's address sharing the longest
   * prefix with the next hop, then with the destination (Windows Vista and later).
   */
  readonly source4: Cited<'route' | 'longest-match'>;
  /**
   * The IPv6 source's candidates for a destination beyond link-local: every interface's addresses
   * (RFC 6724 rule 5 only prefers the outgoing interface's) or the outgoing interface's alone.
   */
  readonly source6: Cited<'all-interfaces' | 'outgoing-interface'>;
  /** Whether an interface's IPv4 routes, the default route included, go with its last IPv4 address. */
  readonly lastV4TakesRoutes: Cited<boolean>;
  /**
   * Whether connect() may use a source bound under the host's ip_nonlocal_bind sysctl (then the
   * route decides: IPv4 ENETUNREACH, IPv6 sends); false: such a source is EADDRNOTAVAIL.
   */
  readonly nonlocalConnect: Cited<boolean>;
  /**
   * Whether the host's rp_filter sysctl filters IPv4 packets by reverse path (scenario
   * `sysctl: { rp_filter }`); absent: not modelled for the OS (UNCONFIRMED), nothing filtered.
   */
  readonly rpFilter?: Cited<boolean>;
  /**
   * The automatic IPv6 link-local address of every interface: 'eui64' fe80:: with the modified
   * EUI-64 of its MAC; absent: not modelled for the OS (UNCONFIRMED), interfaces have the
   * scenario's addresses only.
   */
  readonly linkLocal?: Cited<'eui64'>;
}

export type TcpOptionKind = 'mss' | 'sackPermitted' | 'timestamps' | 'windowScale' | 'nop';

export interface Policy {
  readonly name: string;
  /** One line: which OS and versions. */
  readonly title: string;
  /** Primary sources, one per line. */
  readonly sources: readonly string[];
  readonly timeWaitNs: number;
  /**
   * Whether IPv4 addresses of one subnet on an interface are a primary and its secondaries, so
   * that deleting the primary deletes the secondaries too (unless the host's promote_secondaries
   * sysctl is on: then the next one becomes the primary). Otherwise every address stands alone.
   */
  readonly ipv4Secondaries: boolean;
  /** How the OS routes what bindlab observes (src/emu/routing.ts): each choice with its source. */
  readonly routing: Routing;
  /**
   * connect()'s port search may take over a client's TIME_WAIT of the same 4-tuple whose local
   * or remote address is a loopback one, this long after it began (Linux's tcp_tw_reuse = 2 and
   * tcp_tw_reuse_delay); absent: never.
   */
  readonly loopbackTimeWaitReuseNs?: number;
  readonly fingerprint: Fingerprint;
  /** Socket families the OS has; socket() of another is EAFNOSUPPORT. */
  readonly families: readonly ('inet' | 'inet6')[];

  /**
   * UDP bind and delivery rules (./udp-types.ts). Absent: UDP is not modelled under this policy
   * yet, and a UDP step says so for it instead of guessing.
   */
  readonly udp?: UdpRules;

  /** setsockopt (also the options of a socket step, in order). */
  setsockopt(sock: Sock, option: OptionName, value: boolean | string, host: HostView): Decision;
  /** bind(2); the socket layer records the address and port when errno is null. */
  bind(sock: Sock, addr: IpAddr, port: number, host: HostView): Decision;
  /** listen(2) on a socket not yet listening: auto-bind and any re-check. */
  listen(sock: Sock, host: HostView): Decision;
  /** Where a new listener goes in the port's listener list. */
  listenerOrder(sock: Sock): 'head' | 'tail';
  /** The listener a new reuseport listener joins, or null to start a group (or none). */
  reuseportPeer(sock: Sock, listeners: readonly Sock[]): Sock | null;
  /** Whether a reuseport group is made at all for this listener. */
  groupsReuseport(sock: Sock): boolean;
  /**
   * Who gets a SYN. listeners: the port's listeners in list order; bound: unconnected
   * non-listening sockets on the port, newest first.
   */
  lookup(syn: SynInfo, listeners: readonly Sock[], bound: readonly Sock[], host: HostView): LookupResult;
}
