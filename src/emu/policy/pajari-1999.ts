// Policy `pajari-1999`: the proposal of George Pajari's post to linux-kernel, 15 Feb 1999,
// "Can we agree on how to fix SO_REUSEADDR?" (docs/policies/pajari-1999.md#the-1999-post). On a host
// with n > 1 addresses, one INADDR_ANY listener plus up to n-1 specific listeners may share a port
// (SO_REUSEADDR on both); with n = 1 refuse as 1.3.60 does. The post proposes no code, so this is a
// definition: everything else is linux-1.3.60, and the readings chosen are in docs/policies/pajari-1999.md#the-readings-chosen.

import { describe, specificV4 } from './common.js';
import { linux20Policy, wildcardOverlap1360, type OverlapRule } from './linux-1.3.60.js';

/**
 * Wildcard overlap under the proposal: as 1.3.60, but a wildcard and a specific socket may share
 * the port when both set SO_REUSEADDR, the host has n >= 2 IPv4 addresses, and the specific
 * addresses bound on the port (the new one included) number at most n - 1, so the wildcard
 * socket keeps an address of its own [Pajari 1999: "one process listening on port X with
 * INADDR_ANY and up to n-1 processes listening on the same port X but not using INADDR_ANY"].
 */
const pajariOverlap: OverlapRule = (sk, sk2, host, port) => {
  const kept = wildcardOverlap1360(sk, sk2, host, port);
  if (kept === null) return null;
  const bothWildcard = specificV4(sk) === 0 && specificV4(sk2) === 0;
  // Two wildcard sockets: the 1.3.60 rule unchanged [Pajari 1999: single INADDR_ANY listener]
  if (bothWildcard) return kept;
  if (!sk.opts.reuseaddr || !sk2.opts.reuseaddr) return kept;
  // n: the host's configured IPv4 addresses at bind time, loopback not counted (a reading: docs/policies/pajari-1999.md#the-readings-chosen, item 2)
  const n = host.addresses(4).length;
  if (n < 2) return `single-address host: wildcard overlaps ${describe(sk2)} [Pajari 1999, docs/policies/pajari-1999.md#the-1999-post: "on a single-IP address system ... (correctly) rejected"]`;
  const specifics = new Set<number>();
  for (const o of host.owners(port)) {
    if (o.kind === 'socket' && o !== sk && specificV4(o) !== 0) specifics.add(specificV4(o));
  }
  if (specificV4(sk) !== 0) specifics.add(specificV4(sk));
  if (specifics.size <= n - 1) return null;
  return `${specifics.size} specific addresses on port ${port} would leave the wildcard socket ${specificV4(sk) === 0 ? `(this one)` : describe(sk2)} none of the host's ${n} addresses [Pajari 1999, docs/policies/pajari-1999.md#the-1999-post: "up to n-1 processes"]`;
};

export const pajari1999 = linux20Policy(
  'pajari-1999',
  "Pajari's 1999 proposal: one INADDR_ANY listener plus up to n-1 specific listeners on an n-address host",
  [
    'G. Pajari, "Can we agree on how to fix SO_REUSEADDR?", linux-kernel, 15 Feb 1999 (docs/policies/pajari-1999.md#the-1999-post)',
    'otherwise Linux 2.0.x net/ipv4/af_inet.c inet_bind, get_sock (as linux-1.3.60)',
    'UDP: as linux-1.3.60 (the proposal concerns listeners only): Linux 2.0.x net/ipv4/udp.c udp_rcv (docs/policies/pajari-1999.md#udp)',
    'the definition and the readings chosen, in our words: docs/policies/pajari-1999.md',
  ],
  pajariOverlap,
);
