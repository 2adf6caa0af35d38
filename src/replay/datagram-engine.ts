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
}

const NONE: readonly string[] = [];
const EMPTY = new Uint8Array(0);

export const newReplayedDatagram = (): ReplayedDatagram => ({
  result: '', candidates: NONE, comment: '', record: '', reason: '', replyFrom: '', banner: EMPTY, perDestination: false,
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
    out.comment = `bindlab ${policy.name}: datagram to ${to}: ${rule}`;
    out.record = '';
    return true;
  }
}
