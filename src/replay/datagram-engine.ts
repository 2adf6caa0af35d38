// A captured UDP datagram decided under one policy: the replay's side of the engine's UDP layer.
// What the policy decides comes from its UDP rules (Policy.udp, src/emu/policy/udp-types.ts) over
// the scenario host's UDP sockets; a policy without UDP rules says so (result `unsupported`, as a
// datagram step reports it), never a guess.

import { formatEndpoint, type IpAddr } from '../emu/addr.js';
import type { Run } from '../emu/engine.js';
import type { Policy } from '../emu/policy/types.js';

/** What a policy decided for one datagram, and what the replay needs to write it and its answer. */
export interface ReplayedDatagram {
  /**
   * The receiving socket's name; `a+b` when each of several got a copy; `port-unreachable`,
   * `dropped`, `unreachable` (a policy without IPv6: nobody answers neighbour solicitation), or
   * `unsupported` (UDP not modelled under the policy).
   */
  result: string;
  /** Everyone who matched when the policy chose among them (a SO_REUSEPORT group). */
  candidates: readonly string[];
  /** The packet comment of the decision and its machine-readable record. */
  comment: string;
  record: string;
  reason: string;
  /** The address the receiver's reply leaves from (its bound address, or the route's source for a wildcard one); '' when none. */
  replyFrom: string;
  /** The receiver's banner, `bindlab HOST/PROC/SOCKET\r\n` (empty unless one socket received it). */
  banner: Uint8Array;
  /** Whether every datagram to this destination address and port gets this decision. */
  perDestination: boolean;
  /** The sink interface of the server's link (-1: the run writes no capture), the server interface's MAC, the link's latency. */
  captureId: number;
  serverMac: Uint8Array;
  latencyNs: number;
  /** The receiving sockets, as the engine knows them (handed back to write their replies). */
  receivers: readonly object[];
}

const NONE: readonly string[] = [];
const NOBODY: readonly object[] = [];
const EMPTY = new Uint8Array(0);

export const newReplayedDatagram = (): ReplayedDatagram => ({
  result: '', candidates: NONE, comment: '', record: '', reason: '', replyFrom: '', banner: EMPTY, perDestination: false,
  captureId: -1, serverMac: EMPTY, latencyNs: -0, receivers: NOBODY,
});

/**
 * The datagram src:sport -> dst:dport at timeNs under the policy of run, into out (reused: no
 * object per datagram); false when no host of the scenario has dst.
 */
export function replayDatagram(run: Run, policy: Policy, timeNs: number, src: IpAddr, sport: number, dst: IpAddr, dport: number, out: ReplayedDatagram): boolean {
  void timeNs; void src; void sport;
  if (!run.replayOwner(dst)) return false;
  const to = formatEndpoint({ addr: dst, port: dport });
  {
    // UDP-FORMAT: Policy.udp absent means UDP is not modelled under this policy: said, not guessed.
    // (Until the engine's UDP sockets are there, the same holds with rules: nothing to deliver to.)
    const rule = policy.udp ? `UDP sockets are not modelled by this engine yet` : `UDP is not modelled under ${policy.name}`;
    out.result = 'unsupported'; out.candidates = NONE; out.reason = rule; out.replyFrom = ''; out.banner = EMPTY; out.perDestination = true;
    out.captureId = -1; out.serverMac = EMPTY; out.latencyNs = 0; out.receivers = NOBODY;
    out.comment = `bindlab ${policy.name}: datagram to ${to}: ${rule}`;
    out.record = '';
    return true;
  }
}

/**
 * The ICMP (ICMPv6) port unreachable of the host that has nobody for the datagram, at timeNs from
 * wireDst (the address the client used) to src:sport, quoting the captured IP packet `quoted`.
 */
export function writePortUnreachable(run: Run, out: ReplayedDatagram, d: { readonly captureId: number; readonly serverMac: Uint8Array }, timeNs: number,
  clientMac: Uint8Array, src: IpAddr, sport: number, wireDst: IpAddr, dport: number, quoted: Uint8Array): void {
  void run; void out; void d; void timeNs; void clientMac; void src; void sport; void wireDst; void dport; void quoted;
  throw new Error('writePortUnreachable: needs the engine\'s UDP layer');
}

/**
 * Each receiver's reply (its banner; a DNS response holding it when the datagram is a DNS query)
 * from the address its OS picks to src:sport at timeNs, with the verdict's comment and record.
 */
export function writeDatagramReplies(run: Run, out: ReplayedDatagram, d: { readonly captureId: number; readonly serverMac: Uint8Array; readonly receivers: readonly object[] },
  timeNs: number, clientMac: Uint8Array, src: IpAddr, sport: number, wireDst: IpAddr, dst: IpAddr, dport: number, query: Uint8Array, comment: string, record: string): void {
  void run; void out; void d; void timeNs; void clientMac; void src; void sport; void wireDst; void dst; void dport; void query; void comment; void record;
  throw new Error('writeDatagramReplies: needs the engine\'s UDP layer');
}
