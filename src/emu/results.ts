// What running a scenario under one policy produced: the JSON report's shape (docs/report.md).
import type { StepKind } from '../scenario/types.js';

export interface StepResult {
  readonly index: number;
  readonly kind: StepKind;
  /** "ok" or an errno name; for a connect step the accepting socket, "refused", "unreachable" or "timeout". */
  readonly result: string;
  /** Connect steps: one result per connection (count). */
  readonly results?: readonly string[];
  /**
   * Connect steps: for each connection, every socket that could have received it under this
   * policy (the SO_REUSEPORT group the pick was made in); equal to [result] when there was no choice.
   * Datagram steps: the same per datagram (the results it could have had).
   */
  readonly candidates?: readonly (readonly string[])[];
  /** Datagram steps: per datagram, who received a copy and where their replies came from (docs/report.md). */
  readonly deliveries?: readonly DatagramDelivery[];
  /** One line: the rule that decided, with its citation. */
  readonly reason?: string;
  /** A refused bind or listen: the socket it conflicted with (for explain). */
  readonly conflict?: ConflictInfo;
  /** Whether the step's expectation held; absent when nothing is expected for this policy. */
  readonly expected?: readonly string[];
  readonly passed?: boolean;
}

/** What came of one datagram of a datagram step. */
export interface DatagramDelivery {
  /** Every socket that received a copy, as HOST/PROCESS/SOCKET. */
  readonly receivers: readonly string[];
  /** With reply: true, the source ADDR:PORT of each receiver's answer, in the order of receivers. */
  readonly replyFrom?: readonly string[];
}

/** The other socket in a bind or listen conflict, at the moment of the call. */
export interface ConflictInfo {
  readonly host: string;
  readonly process: string;
  readonly socket: string;
  readonly uid: number;
  /** socket (made by a socket step), child (accepted connection) or client. */
  readonly kind: string;
  /** "0.0.0.0:8080", "[::]:80"; null when unbound. */
  readonly address: string | null;
  readonly options: readonly string[];
  /** LISTEN, ESTABLISHED, TIME_WAIT, or bound. */
  readonly state: string;
}

/** A socket the engine's decision looked at, with how the decision treated it (the engine's decision record). */
export interface DecisionCandidate extends ConflictInfo {
  /**
   * accepted: got the connection; group: in the SO_REUSEPORT group (or set of duplicates) the
   * pick was made among; passed-over: looked at, not picked; conflict: the socket a refused bind
   * or listen conflicted with; coexists: held the port beside a bind or listen that succeeded;
   * not-named: held the port, but the refusal named another socket.
   */
  readonly verdict: 'accepted' | 'answer-lost' | 'group' | 'passed-over' | 'conflict' | 'coexists' | 'not-named';
  /** The policy's own words on this socket, where its code gives them (linux: the pass and score). */
  readonly notes?: readonly string[];
}

/**
 * What the engine decided for one bind, listen or connection, and over which sockets: recorded by
 * the run itself (RunOptions.onDecision), so that `explain` formats the engine's decision and
 * cannot tell another story.
 */
export interface DecisionRecord {
  readonly step: number;
  /** Connect steps: which connection of the step (0-based). */
  readonly connection?: number;
  /** lookup: a SYN met the server's sockets; route: the connection ended before any server looked (no route, unanswered ARP, a refused source); bind, listen. */
  readonly kind: 'lookup' | 'route' | 'bind' | 'listen';
  /** The host whose sockets were looked at (the server for a lookup, the client for a route). */
  readonly host: string;
  /** lookup: the destination ("10.0.0.12:8080"); bind: the address asked for; listen: the socket's address. */
  readonly address: string;
  /** lookup: the interface the SYN arrived on, as the listeners see it. */
  readonly ingress?: string;
  /** A UDP delivery (issue 18): of a step's datagram (`connection` is its index), or of a receiver's reply at the sender. */
  readonly packet?: 'datagram' | 'reply';
  /** Every socket the decision was made over: the port's listeners then its bound-only sockets (lookup), or the port's owners (bind, listen). */
  readonly candidates: readonly DecisionCandidate[];
  /** The outcome, as the step's result reads: the accepting socket, refused, timeout, unreachable, ok, an errno. */
  readonly result: string;
  /** The rule that fired, with its citation. */
  readonly rule: string;
  /** Connect steps: the way the SYN and the answer went, by which routes and hosts (explain). */
  readonly path?: string;
}

export interface PolicyRun {
  readonly policy: string;
  readonly steps: readonly StepResult[];
  readonly expectations: { readonly passed: number; readonly failed: number };
  /** Path of the capture written, when one was (with --format pcap, the first link's file). */
  output?: string;
  /** With --format pcap: every file written, one per link (classic pcap holds one link type and no comments). */
  outputs?: string[];
}
