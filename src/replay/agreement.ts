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
  /** What the capture shows, as a class. */
  readonly observed: ObservedClass;
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

/** A connection on which a policy disagrees with the capture (the replay report lists the first MAX_DISAGREEMENTS_LISTED). */
export interface ReplayDisagreement {
  readonly index: number;
  readonly time: string;
  readonly client: string;
  readonly server: string;
  readonly result: string;
  readonly candidates?: readonly string[];
  /** What the capture shows: the socket's name, "accepted", "refused" or "unanswered". */
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
