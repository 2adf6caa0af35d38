// What running a scenario under one policy produced: the JSON report's shape (SCENARIO.md).
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
   */
  readonly candidates?: readonly (readonly string[])[];
  /** One line: the rule that decided, with its citation. */
  readonly reason?: string;
  /** A refused bind or listen: the socket it conflicted with (for explain). */
  readonly conflict?: ConflictInfo;
  /** Whether the step's expectation held; absent when nothing is expected for this policy. */
  readonly expected?: readonly string[];
  readonly passed?: boolean;
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

export interface PolicyRun {
  readonly policy: string;
  readonly steps: readonly StepResult[];
  readonly expectations: { readonly passed: number; readonly failed: number };
  /** Path of the capture written, when one was. */
  output?: string;
}
