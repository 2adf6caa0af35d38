// What a policy says about UDP (issue 18): who may bind a port beside whom, and which sockets
// receive a datagram (one, a copy each, or nobody: ICMP port unreachable or a silent drop).
// Pure functions over a view of the host's UDP sockets, like the TCP rules in ./types.ts.

import type { IpAddr } from '../addr.js';
import type { Decision, HostView, Sock } from './types.js';

/** A group a socket joined, on one interface (IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP). */
export interface Membership {
  readonly group: IpAddr;
  readonly device: string;
}

/** UDP-only socket state; the socket layer owns and mutates it. */
export interface UdpState {
  /** SO_BROADCAST: may send to a broadcast address. */
  broadcast: boolean;
  /** IP_MULTICAST_LOOP / IPV6_MULTICAST_LOOP (default on): the host's own multicast comes back to its sockets. */
  multicastLoop: boolean;
  /** IP_MULTICAST_ALL (Linux, default on): receive every group some socket of the host joined, not only its own. */
  multicastAll: boolean;
  /** IP_PKTINFO / IPV6_RECVPKTINFO: a reply leaves from the address the datagram came to. */
  pktinfo: boolean;
  /** IP_RECVDSTADDR where the OS lets the reply name that address as its source (IP_SENDSRCADDR). */
  recvDstAddr?: boolean;
  readonly memberships: Membership[];
}

/**
 * A UDP socket as policies see it. `state` is 'CLOSE' until connect(2), then 'ESTABLISHED' with
 * `remote` set; `local` and `port` as for TCP. host.owners(port) yields the UDP port's sockets
 * when a UDP rule asks (UDP and TCP ports are separate spaces).
 */
export interface UdpSock extends Sock {
  readonly udp: UdpState;
}

export interface DatagramInfo {
  readonly dst: IpAddr;
  readonly dport: number;
  readonly src: IpAddr;
  readonly sport: number;
  /** Interface the datagram arrived on ("lo" for the host's own datagrams to itself). */
  readonly inDevice: string;
  readonly cast: 'unicast' | 'broadcast' | 'multicast';
  /** Seeded hash of the 4-tuple (uint32), for SO_REUSEPORT picks. */
  readonly hash: number;
  /**
   * Multicast: whether the host is a member of dst on inDevice (some socket joined it there, or
   * the group needs no join: 224.0.0.1, ff02::1). False for other casts.
   */
  readonly hostMember: boolean;
  /** The host's own multicast or broadcast coming back to it: the socket that sent it. */
  readonly loopedFrom?: UdpSock;
  /** As SynInfo.note: explain's running commentary, never consulted for the decision. */
  readonly note?: (sock: Sock, words: string) => void;
}

export interface DeliveryResult {
  /** Each receives one copy (one socket for unicast; every match for broadcast/multicast where the OS copies). */
  readonly receivers: readonly UdpSock[];
  /** Everyone who matched (a SO_REUSEPORT group picked from, sockets a unicast could have gone to). */
  readonly candidates: readonly UdpSock[];
  readonly action: 'deliver' | 'port-unreachable' | 'drop';
  /** One line in words, ending with the citation in brackets. */
  readonly rule: string;
}

export interface UdpRules {
  /**
   * The OS has IP_MULTICAST_ALL (Linux 2.6.31 and later); absent or false: setting it is
   * ENOPROTOOPT. Refinement of the fixed interface (docs/scenario-format.md, Options).
   */
  readonly hasMulticastAll?: boolean;
  /**
   * An IPv4 leave without an interface means the route's interface to the group (Linux since
   * ip_mc_find_dev fills the index in); absent or false: the first membership of the group on any
   * interface (BSD imo_match_group with no ifp; Linux 2.2). Refinement of the fixed interface.
   */
  readonly leaveByRouteInterface?: boolean;
  /**
   * The IPv4 options that tell a server the address a datagram came to. Absent: IP_PKTINFO (the
   * reply leaves from that address), no IP_RECVDSTADDR, as Linux. `recvdstaddr`: 'reply-from' when
   * the OS also has IP_SENDSRCADDR (the server replies from it), 'receive-only' when it only learns
   * it (the reply leaves by the route), false when the option does not exist (ENOPROTOOPT).
   * Refinement of the fixed interface (docs/scenario-format.md, Options).
   */
  readonly dstAddrOptions?: { readonly pktinfo: boolean; readonly recvdstaddr: 'reply-from' | 'receive-only' | false; readonly cite: string };
  /**
   * How often the host sends an ICMP error to one peer: `burst` at once, then one per `intervalNs`
   * (a token bucket per peer; the loopback is exempt). Absent: no limit modelled. Refinement of
   * the fixed interface.
   */
  readonly icmpRateLimit?: {
    readonly burst: number;
    readonly intervalNs: number;
    /** IPv6's interval when it differs from IPv4's (Linux: net.ipv6.icmp.ratelimit, 100 ms, flat). */
    readonly v6IntervalNs?: number;
    /**
     * A router's IPv4 net unreachable first takes a token of its own from the peer's bucket, capped
     * at burstNs (Linux's ip_error: net.ipv4.route.error_burst and error_cost); absent: none.
     */
    readonly routeError?: { readonly burstNs: number; readonly costNs: number };
  };
  /** bind(2) of a UDP socket; `host.owners(port)` yields the UDP sockets on that port. */
  bind(sock: UdpSock, addr: IpAddr, port: number, host: HostView): Decision;
  /**
   * Who receives a datagram. socks: every UDP socket bound to dport on the host (connected or
   * not), in bind order, oldest first (boundSeq ascending).
   */
  deliver(dg: DatagramInfo, socks: readonly UdpSock[], host: HostView): DeliveryResult;
}
