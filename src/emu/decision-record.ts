// The engine's decision record (RunOptions.onDecision), as plain data: which sockets a bind, a
// listen or a SYN's lookup met, and how the decision treated each. Built from what the policy was
// given and what it returned, never from a second reading of the rules: `explain` prints these.

import { conflictInfo } from './conflict-info.js';
import type { LookupResult, Sock } from './policy/types.js';
import type { ConflictInfo, DecisionCandidate, DecisionRecord } from './results.js';

/** A socket with its view at this moment (the record keeps the view; the socket changes later). */
export function ownerView(sk: Sock): readonly [Sock, ConflictInfo] {
  return [sk, conflictInfo(sk)];
}

/** A bind or listen: the port's owners as the policy met them; the one it named, if it refused. */
export function ownersRecord(step: number, kind: 'bind' | 'listen', host: string, address: string,
  owners: readonly (readonly [Sock, ConflictInfo])[], conflict: Sock | undefined, result: string, rule: string): DecisionRecord {
  const candidates = owners.map(([o, info]): DecisionCandidate => ({
    ...info, verdict: conflict ? (o === conflict ? 'conflict' : 'not-named') : result === 'ok' ? 'coexists' : 'not-named',
  }));
  // A conflict with a socket that is not among the port's owners (another port's, or itself) is still named.
  if (conflict && !owners.some(([o]) => o === conflict)) candidates.unshift({ ...conflictInfo(conflict), verdict: 'conflict' });
  return { step, kind, host, address, candidates, result, rule };
}

/** What decide() keeps of a lookup for the record: the sockets exactly as given to the policy, and its notes on them. */
export interface RecordedLookup {
  readonly host: string;
  readonly address: string;
  readonly ingress: string;
  readonly sockets: readonly Sock[];
  readonly result: LookupResult;
  readonly notes: ReadonlyMap<Sock, readonly string[]>;
}

/** A connection: its lookup's sockets, the one accepted and the group picked from; or, without a lookup, how it ended first. */
export function connectionRecord(step: number, connection: number, client: string, lookup: RecordedLookup | null, result: string, rule: string,
  path = ''): DecisionRecord {
  const base = { step, connection, result, rule, ...(path ? { path } : {}) };
  if (!lookup) return { ...base, kind: 'route', host: client, address: '', candidates: [] };
  const group = new Set(lookup.result.candidates);
  const candidates = lookup.sockets.map((sk): DecisionCandidate => {
    const notes = lookup.notes.get(sk);
    return {
      ...conflictInfo(sk),
      // The lookup's pick accepts unless its SYN-ACK cannot reach the client (return routing): the client times out.
      verdict: sk === lookup.result.sock ? (result === 'timeout' ? 'answer-lost' : 'accepted') : group.has(sk) ? 'group' : 'passed-over',
      ...(notes ? { notes } : {}),
    };
  });
  return { ...base, kind: 'lookup', host: lookup.host, address: lookup.address, ingress: lookup.ingress, candidates };
}
