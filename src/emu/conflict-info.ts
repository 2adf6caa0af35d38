// The socket a refused bind or listen conflicted with, as plain data for reports and `explain`.

import { formatEndpoint } from './addr.js';
import type { Decision, Sock } from './policy/types.js';
import type { ConflictInfo } from './results.js';

/** Options in their C names, in the order of the scenario format. */
export function optionNames(sk: Sock): string[] {
  const o = sk.opts;
  return [o.reuseaddr && 'SO_REUSEADDR', o.reuseport && 'SO_REUSEPORT', o.reuseportLb && 'SO_REUSEPORT_LB', o.exclusive && 'SO_EXCLUSIVEADDRUSE',
    o.v6only && 'IPV6_V6ONLY', o.freebind && 'IP_FREEBIND', o.device && `SO_BINDTODEVICE=${o.device}`].filter((x): x is string => typeof x === 'string');
}

/** "bound" for a socket that holds a port without listening; the TCP state otherwise. */
export function stateName(sk: Sock): string {
  if (sk.kind === 'socket' && sk.state === 'CLOSE') return sk.port ? 'bound' : 'unbound';
  return sk.state;
}

export function conflictInfo(sk: Sock): ConflictInfo {
  return {
    host: sk.hostName, process: sk.processName, socket: sk.name, uid: sk.uid, kind: sk.kind,
    address: sk.local ? formatEndpoint({ addr: sk.local, port: sk.port }) : null,
    options: optionNames(sk), state: stateName(sk),
  };
}

/** The `conflict` field of a step result for a decision, if it names one. */
export function conflictOf(d: Decision): { conflict?: ConflictInfo } {
  return d.conflict ? { conflict: conflictInfo(d.conflict) } : {};
}
