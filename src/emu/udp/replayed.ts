// What a replay (src/replay) gets from the engine for one captured UDP datagram: the policy's
// decision, and what the replay needs to write the datagram and its answers into the output.
import type { HostState, IfaceState } from '../host.js';
import type { UdpSocket } from './tables.js';

export interface ReplayedDatagram {
  /**
   * The receiving socket's name; `a+b` when each of several got a copy; `port-unreachable`,
   * `dropped`, `unreachable` (a policy without IPv6: nobody answers neighbour solicitation), or
   * `unsupported` (UDP not modelled under the policy).
   */
  result: string;
  /** Everyone who matched when the policy chose among them (a SO_REUSEPORT group). */
  candidates: readonly string[];
  /** The packet comment of the decision and its machine-readable record (packet-record.ts). */
  comment: string;
  record: string;
  reason: string;
  /** Where the (first) receiver's reply leaves from, ADDRESS:PORT: its bound address, or the route's source for a wildcard one; '' when none. */
  replyFrom: string;
  /** Whether every datagram to this destination address and port gets this decision (no SO_REUSEPORT pick, no connected socket, no reply source that depends on the client). */
  perDestination: boolean;
  /** Whether every datagram from this client address to this destination gets it (as perDestination, but a wildcard receiver's reply source depends on the client's address). */
  perClient: boolean;
  /** The sink interface of the server's link (-1: no capture is written), the server interface's MAC, the link's latency. */
  captureId: number;
  serverMac: Uint8Array;
  latencyNs: number;
  /** The receiving sockets, and where the datagram arrived (for their replies and the ICMP error). */
  receivers: readonly UdpSocket[];
  host: HostState | null;
  iface: IfaceState | null;
}

const NONE: readonly string[] = [];
const NOBODY: readonly UdpSocket[] = [];
const EMPTY = new Uint8Array(0);

export const newReplayedDatagram = (): ReplayedDatagram => ({
  result: '', candidates: NONE, comment: '', record: '', reason: '', replyFrom: '', perDestination: false, perClient: false,
  captureId: -1, serverMac: EMPTY, latencyNs: -0, receivers: NOBODY, host: null, iface: null,
});

/** What the answers' writers need of a decision (the replay keeps its decisions in records of its own). */
export type ReplayedArrival = Pick<ReplayedDatagram, 'host' | 'iface' | 'receivers' | 'reason'>;
