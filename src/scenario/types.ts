// A scenario after loading and validation (version 1, docs/scenario-format.md).
// Everything here is already checked: names resolve, addresses parse, numbers are in range.

import type { Cidr, Endpoint, IpAddr } from '../emu/addr.js';
import type { RuleSet } from '../emu/policy/rules.js';

/** 1-based line and column in the scenario file. */
export interface SourcePos {
  readonly line: number;
  readonly col: number;
}

export interface SockOptions {
  SO_REUSEADDR?: boolean;
  SO_REUSEPORT?: boolean;
  SO_REUSEPORT_LB?: boolean;
  SO_EXCLUSIVEADDRUSE?: boolean;
  IPV6_V6ONLY?: boolean;
  IP_FREEBIND?: boolean;
  /** An interface name of the socket's host. */
  SO_BINDTODEVICE?: string;
  /** UDP (issue 18): may send to a broadcast address (else EACCES). */
  SO_BROADCAST?: boolean;
  /** The host's own multicast comes back to its sockets (default on). */
  IP_MULTICAST_LOOP?: boolean;
  IPV6_MULTICAST_LOOP?: boolean;
  /** Linux only (ENOPROTOOPT elsewhere): receive every group some socket of the host joined (default on). */
  IP_MULTICAST_ALL?: boolean;
  /** An interface name of the socket's host: where its multicast leaves. */
  IP_MULTICAST_IF?: string;
  /** A reply leaves from the address the datagram came to. */
  IP_PKTINFO?: boolean;
  IPV6_RECVPKTINFO?: boolean;
}

export const OPTION_NAMES = [
  'SO_REUSEADDR',
  'SO_REUSEPORT',
  'SO_REUSEPORT_LB',
  'SO_EXCLUSIVEADDRUSE',
  'IPV6_V6ONLY',
  'IP_FREEBIND',
  'SO_BINDTODEVICE',
] as const;
export type OptionName = (typeof OPTION_NAMES)[number];

/**
 * Datagram-socket options (issue 18), kept by the UDP socket layer (src/emu/udp) rather than the
 * policies' TCP switchboard; setting one on a TCP socket succeeds and changes nothing, as on Linux.
 */
export const UDP_OPTION_NAMES = [
  'SO_BROADCAST',
  'IP_MULTICAST_LOOP',
  'IPV6_MULTICAST_LOOP',
  'IP_MULTICAST_ALL',
  'IP_MULTICAST_IF',
  'IP_PKTINFO',
  'IPV6_RECVPKTINFO',
  'IP_RECVDSTADDR',
] as const;
export type UdpOptionName = (typeof UDP_OPTION_NAMES)[number];

export interface Sysctl {
  ipNonlocalBind: boolean;
  /** Inclusive range of automatic ports. */
  ipLocalPortRange: readonly [number, number];
  ipUnprivilegedPortStart: number;
  /** net.ipv4.conf.all.promote_secondaries: deleting a primary IPv4 address promotes a secondary instead of deleting them. */
  promoteSecondaries: boolean;
  /** net.ipv4.tcp_rmem (min, default, max): the initial receive window and the window scale of Linux connections; absent: the kernel default. */
  tcpRmem?: readonly [number, number, number];
  /** net.ipv4.conf.all.rp_filter: 0 off, 1 strict, 2 loose reverse-path filtering of IPv4 (the kernel uses max(all, IF); every interface's is 0). */
  rpFilter?: 0 | 1 | 2;
}

/**
 * A route the scenario declares on a host (`routes:`), as `ip route add` takes it: a destination
 * prefix (`default`: 0.0.0.0/0 or ::/0), a gateway and/or a device, a metric (absent: the kernel's,
 * 0 for IPv4 and 1024 for IPv6) and a preferred source.
 */
export interface RouteSpec {
  readonly to: Cidr;
  readonly via?: IpAddr;
  /** An interface of the host; absent: the interface of the connected route to the gateway. */
  readonly dev: string;
  readonly metric: number;
  readonly src?: IpAddr;
  readonly pos: SourcePos;
}

export interface Interface {
  readonly name: string;
  /** "aa:bb:cc:dd:ee:ff" as given, "arp" (look up in this machine's ARP table), or undefined (derive from seed). */
  readonly mac?: string;
  readonly addresses: readonly Cidr[];
  readonly link: string;
}

export interface Process {
  readonly name: string;
  readonly uid: number;
}

export interface Host {
  readonly name: string;
  readonly interfaces: readonly Interface[];
  readonly processes: readonly Process[];
  readonly sysctl: Sysctl;
  /**
   * The routes it declares, in order. A host without `routes:` (undefined) has a default route of
   * each family on its first interface (docs/scenario-format.md); one with `routes:` (even []) has
   * only its connected routes and these.
   */
  readonly routes?: readonly RouteSpec[];
  /** Forwards between its links (net.ipv4.ip_forward and net.ipv6.conf.all.forwarding). */
  readonly forward?: boolean;
}

export interface Link {
  readonly name: string;
  /** One-way latency in nanoseconds. */
  readonly latencyNs: number;
}

/**
 * Expected outcome of a step. Each value is a set of acceptable results:
 * "ok" or an errno name for socket calls; a socket name, "refused", "unreachable"
 * or "timeout" for connections.
 */
export interface Expectation {
  readonly byPolicy: ReadonlyMap<string, readonly string[]>;
  readonly fallback?: readonly string[];
  readonly pos: SourcePos;
}

interface StepBase {
  /** 0-based position in the steps list. */
  readonly index: number;
  readonly pos: SourcePos;
  readonly expect?: Expectation;
  readonly note?: string;
}

export interface SocketStep extends StepBase {
  readonly kind: 'socket';
  readonly socket: string;
  readonly host: string;
  readonly process: string;
  readonly family: 'inet' | 'inet6';
  /** `type: udp` makes a datagram socket; absent or `tcp`: a stream socket. */
  readonly type?: 'tcp' | 'udp';
  readonly options: SockOptions;
}

export interface SetsockoptStep extends StepBase {
  readonly kind: 'setsockopt';
  readonly socket: string;
  readonly options: SockOptions;
}

export interface BindStep extends StepBase {
  readonly kind: 'bind';
  readonly socket: string;
  readonly address: Endpoint;
}

export interface ListenStep extends StepBase {
  readonly kind: 'listen';
  readonly socket: string;
  readonly backlog: number;
}

export interface CloseStep extends StepBase {
  readonly kind: 'close';
  readonly socket: string;
}

export interface ConnectStep extends StepBase {
  readonly kind: 'connect';
  readonly from: string;
  /** The client process (for its uid), when "HOST/PROC" was given. */
  readonly fromProcess?: string;
  readonly to: Endpoint;
  readonly source?: { readonly addr: IpAddr; readonly port?: number };
  readonly send?: string;
  readonly close: 'client' | 'server' | 'none';
  readonly count: number;
}

export interface WaitStep extends StepBase {
  readonly kind: 'wait';
  readonly durationNs: number;
}

export interface AddressStep extends StepBase {
  readonly kind: 'address';
  readonly host: string;
  readonly interface: string;
  readonly add?: Cidr;
  readonly del?: Cidr;
}

// UDP steps (issue 18). The format is fixed here first so that the engine, the kernel harness and
// replay can be built side by side; they join the Step union with the loader that reads them.

/** `connect: NAME` + `to: ADDR:PORT`: connect(2) on a UDP socket (its peer and local address are fixed). */
export interface UdpConnectStep extends StepBase {
  readonly kind: 'udp-connect';
  readonly socket: string;
  readonly to: Endpoint;
}

/** `join: NAME` / `leave: NAME` + `group: ADDR`, optional `interface: IFNAME`: IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP and their drops. */
export interface MembershipStep extends StepBase {
  readonly kind: 'join' | 'leave';
  readonly socket: string;
  readonly group: IpAddr;
  /** Absent: the interface of the route to the group, as the kernel picks for INADDR_ANY / ifindex 0. */
  readonly interface?: string;
}

/**
 * `datagram: { from | socket, to, data?, count?, source?, reply?, interface? }`: UDP datagrams sent
 * from a host's fresh unconnected socket (`from: HOST` or `HOST/PROC`, optional `source: ADDR[:PORT]`)
 * or from a scenario socket (`socket: NAME`), to a unicast, broadcast or multicast address.
 * Expectations: a socket name (it alone received each datagram), a list (any one of them),
 * `a+b` (each of a and b received a copy), `port-unreachable` (ICMP came back), `unreachable`
 * (no neighbour answered), `dropped` (arrived, nobody took it, no ICMP), or the send's errno.
 */
export interface DatagramStep extends StepBase {
  readonly kind: 'datagram';
  readonly from?: string;
  readonly fromProcess?: string;
  readonly socket?: string;
  readonly to: Endpoint;
  readonly source?: { readonly addr: IpAddr; readonly port?: number };
  readonly data?: string;
  /**
   * The payload is a standard DNS query (RFC 1035 §4.1: RD set, one question of class IN) for
   * this name, instead of `data`; each datagram's ID comes from the seed. Refinement of the fixed
   * interface (docs/scenario-format.md, datagram).
   */
  readonly query?: { readonly name: string; readonly qtype: DnsQtype };
  readonly count: number;
  /** Each receiving socket answers with its banner, from the source address its OS picks. */
  readonly reply: boolean;
  /** Outgoing interface for a multicast or broadcast send (IP_MULTICAST_IF), else by route. */
  readonly interface?: string;
}

/** The query types a datagram's `qtype` may name, with their numbers [RFC 1035 §3.2.2; RFC 3596 AAAA; RFC 2782 SRV; RFC 6891 OPT aside]. */
export const DNS_QTYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255 } as const;
export type DnsQtype = keyof typeof DNS_QTYPES;

/** Results of datagram steps besides socket names and errno names. */
export const DATAGRAM_OUTCOMES = ['port-unreachable', 'unreachable', 'dropped'] as const;

export type Step =
  | SocketStep
  | SetsockoptStep
  | BindStep
  | ListenStep
  | CloseStep
  | ConnectStep
  | WaitStep
  | AddressStep
  | UdpConnectStep
  | MembershipStep
  | DatagramStep;

export type StepKind = Step['kind'];

export interface Scenario {
  /** The path as given by the user (used in error messages and reports). */
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  readonly seed: number;
  /** Policy names from the file; undefined means every built-in policy. */
  readonly policies?: readonly string[];
  /** User-defined policies (from the file's policies list or a --policy-file), in definition order. */
  readonly customPolicies?: readonly CustomPolicySpec[];
  readonly hosts: readonly Host[];
  readonly links: readonly Link[];
  readonly steps: readonly Step[];
}

/** A user-defined policy as written: a base policy plus rule choices (emu/policy/custom.ts builds it). */
export interface CustomPolicySpec {
  readonly name: string;
  /** A built-in policy with a rule description, or an earlier custom policy. */
  readonly extends: string;
  readonly title?: string;
  readonly rules: Partial<RuleSet>;
  /** Where it was defined. */
  readonly file: string;
  readonly pos: SourcePos;
}

/** Results of connect steps besides socket names. */
export const CONNECT_OUTCOMES = ['refused', 'unreachable', 'timeout'] as const;

/** Errno names a socket-call step may expect. */
export const ERRNO_NAMES = [
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'EACCES',
  'EINVAL',
  'ENOPROTOOPT',
  'EIO',
  'EBADF',
  'ENODEV',
  'EAFNOSUPPORT',
  'EOPNOTSUPP',
  'EPERM',
  'EEXIST',
  'ENETUNREACH',
  'EHOSTUNREACH',
] as const;

/** A scenario problem with its position, printed as "file:line:col: message". */
export class ScenarioError extends Error {
  readonly detail: string;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    detail: string,
  ) {
    // Whatever a message quotes of the input, it stays short: never the input echoed back whole.
    const bounded = excerpt(detail, MAX_MESSAGE_CHARS, false);
    super(`${file}:${line}:${col}: ${bounded}`);
    this.detail = bounded;
    this.name = 'ScenarioError';
  }
}

/**
 * Several independent problems in one file (each list item, map entry and step is checked on its
 * own): one ScenarioError whose position is the first problem's and whose message has every
 * problem on a line of its own, in file order.
 */
export class ScenarioErrors extends ScenarioError {
  /** The first MAX_LISTED_PROBLEMS problems in file order; `omitted` says how many more there were. */
  readonly errors: readonly ScenarioError[];
  readonly omitted: number;
  constructor(errors: readonly ScenarioError[], stopped = false) {
    const sorted = [...errors].sort((a, b) => a.line - b.line || a.col - b.col);
    const first = sorted[0]!;
    super(first.file, first.line, first.col, first.detail);
    this.name = 'ScenarioErrors';
    // A garbage file can have a problem per value (a million): list the first ones, count the rest.
    this.errors = sorted.slice(0, MAX_LISTED_PROBLEMS);
    this.omitted = sorted.length - this.errors.length;
    const more = stopped ? `${first.file}: ... and at least ${this.omitted} more problems (checking stopped after ${MAX_COLLECTED_PROBLEMS})`
      : `${first.file}: ... and ${this.omitted} more problems`;
    this.message = [...this.errors.map((e) => e.message), ...(this.omitted ? [more] : [])].join('\n');
  }
}

/** Checking a file stops after this many problems (each costs an Error): a garbage file may have one per value. */
export const MAX_COLLECTED_PROBLEMS = 1000;

/** Thrown past every collecting check once MAX_COLLECTED_PROBLEMS are collected; throwCollected reports them. */
export class CheckingStopped extends Error {
  override readonly name = 'CheckingStopped';
}

/** The most problems of one file a ScenarioErrors lists. */
export const MAX_LISTED_PROBLEMS = 50;

/** Throws what was collected: nothing, the one error, or every error together (`stopped`: checking stopped at the cap). */
export function throwCollected(errors: readonly ScenarioError[], stopped = false): void {
  // The same problem reached twice (a default checked again) is reported once.
  const unique = [...new Map(errors.flatMap((e) => (e instanceof ScenarioErrors ? e.errors : [e])).map((e) => [e.message, e])).values()];
  if (unique.length === 1 && !stopped) throw unique[0]!;
  if (unique.length >= 1) throw new ScenarioErrors(unique, stopped);
}

/** Collects a check's problem; past MAX_COLLECTED_PROBLEMS, stops all checking (CheckingStopped). */
export function collect(errors: ScenarioError[], e: ScenarioError): void {
  errors.push(e);
  if (errors.length >= MAX_COLLECTED_PROBLEMS) throw new CheckingStopped();
}

/** The longest message detail a ScenarioError carries (a longer one is cut, saying how long it was). */
const MAX_MESSAGE_CHARS = 1000;

/**
 * A piece of input to quote in a message, at most about `max` characters: a longer one is cut
 * in the middle of nothing (code points stay whole) and says how long it was. With `quoted`,
 * `text` is a JSON string literal and the cut one keeps its closing quote.
 */
export function excerpt(text: string, max = 80, quoted = true): string {
  if (text.length <= max) return text;
  const cut = [...text.slice(0, max)].slice(0, -1).join('').replace(/\\[^"]{0,5}$/, '');
  return `${cut}…${quoted ? '"' : ''} (${text.length.toLocaleString('en-US')} characters)`;
}
