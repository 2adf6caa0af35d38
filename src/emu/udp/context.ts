// What the UDP socket layer needs of the engine's run (src/emu/engine.ts): its hosts and
// sockets, the clock, the capture, and its routing; the engine hands it one such object.

import type { IpAddr } from '../addr.js';
import type { HostState, IfaceState, LinkState } from '../host.js';
import type { ForwardedFrames } from '../forwarded-frames.js';
import type { RouteLookup } from '../forwarding.js';
import type { Route } from '../routing.js';
import type { NumberedComment } from '../numbered-comment.js';
import type { Policy, Sock } from '../policy/types.js';
import type { DecisionRecord } from '../results.js';

export interface UdpContext {
  readonly policy: Policy;
  readonly seed: number;
  readonly hosts: ReadonlyMap<string, HostState>;
  /** The run's sockets by scenario name (TCP and UDP share the names). */
  readonly sockets: Map<string, Sock>;
  /** The run's one frame buffer. */
  readonly frame: Uint8Array;
  /** Whether frames are written at all (a run without a sink only decides). */
  readonly capturing: boolean;
  /** Whether decisions are recorded (explain). */
  readonly recording: boolean;
  /** The virtual clock, in ns. */
  now: number;
  readonly stepIndex: number;
  nextSockId(): number;
  nextSeq(): number;
  /** The interface, source address and gateway (null: on the link) a host's packet to dst leaves by (none: no route). */
  egress(host: HostState, dst: IpAddr): { readonly iface: IfaceState; readonly src: IpAddr; readonly via: IpAddr | null } | null;
  /** The host's route to dst among those through oif (strong host send; routing.ts findRoute). */
  routeThrough(host: HostState, dst: IpAddr, oif: IfaceState): Route | null;
  /** A host's route lookup with the run's state, for walks through routers (forwarding.ts). */
  readonly lookup: RouteLookup;
  /** The frames of packets crossing routers, shared with TCP (forwarded-frames.ts). */
  readonly forwarded: ForwardedFrames;
  /** The interface of the host's route to dst, whatever its source (multicast groups, broadcast). */
  routeIface(host: HostState, dst: IpAddr): IfaceState | undefined;
  /** The source of a packet to one of the host's own addresses (the local route's prefsrc). */
  localSource(host: HostState, dst: IpAddr): IpAddr;
  /** The host's loopback interface, made on first use. */
  loopbackOf(host: HostState): IfaceState;
  /** Writes the frame buffer's first `len` bytes to the link's capture at time t. */
  emit(link: LinkState, t: number, len: number, comment: string | undefined, record?: string): void;
  /** emit with comment.text(n) as the comment (a datagram step's: only the number differs, numbered-comment.ts). */
  emitNumbered(link: LinkState, t: number, len: number, comment: NumberedComment, n: number, record: string | undefined): void;
  record(r: DecisionRecord): void;
}
