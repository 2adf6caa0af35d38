// Whether a policy's decision agrees with what the capture shows the real server did: the point
// of replaying a real capture (a policy checked against a host one owns, a CI gate). Pure: the
// replay report, its summary, `--check`, the HTML page and the Wireshark decision records all
// take their verdict from agreement().

/**
 * What the capture shows the real server did with a connection attempt: the accepting socket's
 * name (a bindlab banner names it, as in captures of the kernel harness), "accepted" (a SYN-ACK),
 * "refused" (an RST), or undefined when it shows no answer (unanswered).
 */
export type Observed = string | undefined;

/** The class of what the capture shows. */
export type ObservedClass = 'accepted' | 'refused' | 'unanswered';

export interface Agreement {
  readonly agrees: boolean;
  /** What the capture shows, as a class (a datagram's: received, port-unreachable, unanswered). */
  readonly observed: ObservedClass | DatagramObservedClass;
  /** One line: why it agrees or not, e.g. "the capture shows an RST; linux accepts (web)". */
  readonly why: string;
}

/** A policy's decision as the replay report has it: the result and, for a SO_REUSEPORT pick, its group. */
export interface DecisionLike {
  readonly result: string;
  readonly candidates?: readonly string[];
}

/** The class of a decision's result: a socket name is accepted; refused; timeout and unreachable leave the SYN unanswered. */
export function resultClass(result: string): ObservedClass {
  return result === 'refused' ? 'refused' : result === 'timeout' || result === 'unreachable' ? 'unanswered' : 'accepted';
}

export function observedClass(observed: Observed): ObservedClass {
  return observed === undefined ? 'unanswered' : observed === 'refused' ? 'refused' : 'accepted';
}

const SHOWS: Record<ObservedClass, string> = { accepted: 'a SYN-ACK', refused: 'an RST', unanswered: 'no answer' };

/**
 * Whether `decision` agrees with `observed`. Accepted, refused and unanswered must match; when the
 * capture names the accepting socket (a banner), the policy must have chosen that socket, or a
 * SO_REUSEPORT group it belongs to (the kernel hashes with a secret of its own: group membership
 * is all a replay can check, as verify-kernel does).
 */
export function agreement(observed: Observed, decision: DecisionLike, policy = 'the policy'): Agreement {
  const seen = observedClass(observed);
  const got = resultClass(decision.result);
  const named = seen === 'accepted' && observed !== 'accepted' ? observed! : undefined;
  const shows = named ? `the capture shows ${named} accepting` : `the capture shows ${SHOWS[seen]}`;
  const did = got === 'accepted'
    ? `${policy} accepts (${decision.result}${decision.candidates && decision.candidates.length > 1 ? ` of the SO_REUSEPORT group ${decision.candidates.join(', ')}` : ''})`
    : got === 'refused' ? `${policy} refuses (RST)` : `${policy} leaves it unanswered (${decision.result})`;
  if (seen !== got) return { agrees: false, observed: seen, why: `${shows}; ${did}` };
  if (named !== undefined && named !== decision.result && !(decision.candidates ?? []).includes(named)) {
    return { agrees: false, observed: seen, why: `${shows}; ${did}` };
  }
  return { agrees: true, observed: seen, why: `${shows}; ${did}` };
}

/** A connection (or datagram) on which a policy disagrees with the capture (the replay report lists the first MAX_DISAGREEMENTS_LISTED). */
export interface ReplayDisagreement {
  /** "datagram" for a UDP datagram (its index counts datagrams); absent for a connection. */
  readonly kind?: 'datagram';
  readonly index: number;
  readonly time: string;
  readonly client: string;
  readonly server: string;
  readonly result: string;
  readonly candidates?: readonly string[];
  /**
   * What the capture shows: the socket's name, "accepted", "refused" or "unanswered"; for a
   * datagram the socket's name, "received", "port-unreachable" or "unanswered".
   */
  readonly observed: string;
  readonly why: string;
}

/** Per policy: how many connections agree with the capture, how many do not, and the first of those. */
export interface ReplayAgreement {
  agree: number;
  disagree: number;
  readonly disagreements: ReplayDisagreement[];
}

/** Disagreeing connections listed per policy in the report (the count has them all). */
export const MAX_DISAGREEMENTS_LISTED = 100;

// ---- datagrams (UDP) ----------------------------------------------------------------------

/**
 * What the capture shows of a UDP datagram: the receiving socket's name (the answer's payload
 * names it, as bindlab's banner does), "received" (a datagram came back from the server's port),
 * "port-unreachable" (an ICMP port unreachable quoting it came back), or undefined (nothing).
 */
export type DatagramObservedClass = 'received' | 'port-unreachable' | 'unanswered';

/** A policy's decision on a datagram as the report has it (datagram-engine.ts's result vocabulary). */
export interface DatagramDecisionLike {
  readonly result: string;
  readonly candidates?: readonly string[];
  /** The address the receiver's reply leaves from under the policy ('' or absent: not said). */
  readonly replyFrom?: string;
}

/** The class of a datagram result: one or more sockets (`a+b`) received it; port-unreachable; the rest leave it unanswered. */
export function datagramResultClass(result: string): DatagramObservedClass {
  return result === 'port-unreachable' ? 'port-unreachable'
    : result === 'dropped' || result === 'unreachable' || result === 'unsupported' || /^E[A-Z]+$/.test(result) ? 'unanswered' : 'received';
}

export function datagramObservedClass(observed: string | undefined): DatagramObservedClass {
  return observed === undefined ? 'unanswered' : observed === 'port-unreachable' ? 'port-unreachable' : 'received';
}

/** The address of "ADDR:PORT" / "[ADDR]:PORT" (an ICMP's sender is an address alone). */
const addressOf = (endpoint: string): string => endpoint.replace(/^\[?(.*?)\]?:\d+$/, '$1');

/**
 * Whether a policy's decision on a datagram agrees with what the capture shows. An answer from
 * the server's port means some socket received it: the policy must deliver it, to the socket the
 * answer names when it names one (any of a SO_REUSEPORT group's), and, when the policy says where
 * the receiver's reply leaves from, from that address. An ICMP port unreachable must be the
 * policy's port-unreachable. No answer at all agrees with a drop, and with a delivery too (UDP has
 * no handshake: a receiver need not answer); not with port-unreachable (the host would have said so).
 */
export function datagramAgreement(observed: string | undefined, answeredFrom: string | undefined, decision: DatagramDecisionLike, policy = 'the policy'): Agreement {
  const seen = datagramObservedClass(observed);
  const got = datagramResultClass(decision.result);
  const named = seen === 'received' && observed !== 'received' ? observed! : undefined;
  const from = answeredFrom !== undefined && seen === 'received' ? ` from ${answeredFrom}` : '';
  const shows = seen === 'unanswered' ? 'the capture shows no answer'
    : seen === 'port-unreachable' ? 'the capture shows an ICMP port unreachable'
      : named ? `the capture shows ${named} answering${from}` : `the capture shows an answer${from}`;
  const receivers = decision.result.split('+');
  const group = decision.candidates && decision.candidates.length > 1 ? ` (picked among ${decision.candidates.join(', ')})` : '';
  const reply = decision.replyFrom ? `, its reply from ${decision.replyFrom}` : '';
  const did = got === 'received' ? `${policy} delivers it to ${receivers.join(' and ')}${group}${reply}`
    : got === 'port-unreachable' ? `${policy} answers with an ICMP port unreachable` : `${policy} leaves it unanswered (${decision.result})`;
  const v = (agrees: boolean, why = `${shows}; ${did}`): Agreement => ({ agrees, observed: seen, why });
  if (seen === 'unanswered') return v(got !== 'port-unreachable', got === 'received' ? `${shows}; ${did}, which need not answer` : undefined);
  if (seen !== got) return v(false);
  if (named !== undefined && !receivers.includes(named) && !(decision.candidates ?? []).includes(named)) return v(false);
  if (seen === 'received' && decision.replyFrom && answeredFrom !== undefined && addressOf(decision.replyFrom) !== addressOf(answeredFrom)) return v(false);
  return v(true);
}
