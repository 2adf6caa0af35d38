// What stays the same for every datagram of one datagram step (layer.ts datagram()): within a
// step no socket binds, connects or closes, and no route, address, link or membership changes, so
// the route, who answers neighbour discovery, each host's delivery decision (the policies' UDP
// rules are pure functions of these: udp-types.ts), the replies' sources and the packets'
// comments and records are worked out for the first datagram and kept. What moves on is asked
// each time: the clock, the neighbour caches, the ICMP rate limits, the IPv4 ids and the DNS ids.

import type { IpAddr } from '../addr.js';
import type { HostState, IfaceState } from '../host.js';
import type { NumberedComment } from '../numbered-comment.js';
import type { DeliveryResult } from '../policy/udp-types.js';
import type { DatagramDelivery } from '../results.js';
import { Answerers } from './neighbours.js';
import type { UdpSocket } from './tables.js';

/** Where a datagram arrives: a host, the interface it comes in on, and (looped back) the socket that sent it. */
export interface Arrival {
  readonly host: HostState;
  readonly iface: IfaceState;
  /** The device the sockets see it on (the address's own for the host's own unicast). */
  readonly inDevice: string;
  readonly loopedFrom?: UdpSocket;
  /** How it is taken there when not as sent: a directed broadcast that a router's subnet has. */
  readonly cast?: 'broadcast';
}

export type Cast = 'unicast' | 'broadcast' | 'multicast';

/** How a step's datagrams leave (datagrams.ts plan): the same for each, or why none does. */
export type SendPlan = Refused | Planned;

interface PlanBase {
  readonly host: HostState;
  readonly dst: IpAddr;
  readonly dport: number;
  /** dst:dport as the step wrote it (before sendto(0.0.0.0) became the loopback). */
  readonly to: string;
}

/** No datagram of the step leaves, each refused alike. */
export interface Refused extends PlanBase {
  readonly fail: { readonly result: string; readonly reason: string };
}

export interface Planned extends PlanBase {
  readonly fail: null;
  readonly cast: Cast;
  readonly local: boolean;
  readonly out: IfaceState;
  readonly src: IpAddr;
  /** The next hop of a unicast off the host: the route's gateway, or dst on the link. */
  readonly next: IpAddr;
  readonly sport: number;
  readonly ttl: number;
  /** The 4-tuple's seeded hash (SO_REUSEPORT picks). */
  readonly hash: number;
  /** The hosts it reaches when no neighbour decides that (to the host itself, broadcast, multicast), else null. */
  readonly arrivals: readonly Arrival[] | null;
  readonly dstMac: Uint8Array;
}

/** Each host's decision for one set of arrivals, and what the datagram's packet says of them. */
export interface Decisions {
  readonly decided: readonly { readonly arrival: Arrival; readonly res: DeliveryResult }[];
  /** Every receiver, host by host. */
  readonly receivers: readonly UdpSocket[];
  /** The decisions that answer with ICMP port unreachable. */
  readonly unreachable: readonly { readonly arrival: Arrival; readonly res: DeliveryResult }[];
  /** The words of a datagram that crossed no router, by whether an ICMP error went back (0: none, 1: one or more). */
  readonly words: [Words | undefined, Words | undefined];
}

/** What a datagram's packet and the step's result say of its decisions. */
export interface Words {
  readonly result: string;
  readonly reason: string;
  /** The datagram's comment, "... datagram N to ..." ('' when no capture is written). */
  readonly comment: NumberedComment | null;
  readonly record: string | undefined;
  readonly candidates: readonly string[];
}

/** A receiver's reply in a step (layer.ts reply): where it leaves from and by which way, and the sender's decision on it. */
export interface ReplyPlan {
  /** Its source, or undefined: no route (nothing is sent). */
  readonly src: IpAddr | undefined;
  /** src:port. */
  readonly at: string;
  readonly comment: string;
  readonly record: string | undefined;
  readonly ttl: number;
  /** Over the host's loopback to the sender on the same host. */
  readonly back: boolean;
  /** The interface it leaves by and its next hop; null: no route. */
  readonly out: IfaceState | null;
  readonly next: IpAddr | null;
  /** The last query answered and the answer (patched with each query's ID: replyPayload). */
  query: Uint8Array | null;
  answer: Uint8Array | null;
  answerIsDns: boolean;
  /** The interface the reply last arrived on at the sender, and the sender host's decision there. */
  there: IfaceState | null;
  res: DeliveryResult | null;
}

export class StepMemo {
  plan: SendPlan | undefined;
  /** The DNS query (ID 0: each datagram's goes in) or the data every datagram carries. */
  payload: Uint8Array | undefined;
  readonly answerers = new Answerers();
  /** The arrivals at the neighbour of a unicast that no router forwards, and the last owner they are for. */
  owner: IfaceState | null = null;
  ownerArrivals: readonly Arrival[] = [];
  /** The decisions for the last arrivals. */
  arrivals: readonly Arrival[] | null = null;
  decisions: Decisions | null = null;
  readonly replies = new Map<UdpSocket, ReplyPlan>();
  /** The ipid counters' keys asked for (layer.ts datagramIpId). */
  readonly ipIdKeys: { sk: UdpSocket | null; src: IpAddr; dst: IpAddr; proto: number; key: string }[] = [];
  /** The last datagram's delivery in the step's result, shared while the next ones are the same. */
  delivery: DatagramDelivery | null = null;
  deliveryReceivers: readonly UdpSocket[] | null = null;
}
