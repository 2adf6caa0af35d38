// UDP rules of `windows` (issue 18). Windows is closed source; the sources are Microsoft's pages:
// [WIN] "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE" (its tables apply to "any network application
//       that accepts connections and receives IP datagram traffic"; once a port is shared "the
//       behavior for all sockets bound to that port is indeterminate"; the exception: "If two
//       sockets are bound to the same interface and port and are members of the same multicast
//       group, data will be delivered to both sockets, rather than an arbitrarily chosen one").
// Everything those words do not state is UNCONFIRMED below.

import { isLoopback, isMulticast, isV4Mapped, isWildcard, v4FromMapped } from '../addr.js';
import { describe, fail } from './common.js';
import type { DatagramInfo, DeliveryResult, UdpRules, UdpSock } from './udp-types.js';
import type { Policy } from './types.js';
import { delivered, destination, dropped, joinedHere, localMatch, names, oldestBound, portUnreachable, remoteMatch } from './udp-common.js';

const WIN = 'Microsoft, Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE, https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse';

/**
 * A unicast datagram: a connected socket whose peer sent it, else the sockets bound to the
 * destination address, else the wildcard ones (UNCONFIRMED order, as for TCP listeners). Several
 * at the chosen level share the port: Windows calls the receiver "indeterminate"; bindlab reports
 * them all as candidates and picks one by the datagram's hash [WIN].
 */
function unicast(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const bound = socks.filter((s) => s.local !== null).sort(oldestBound);
  const connected = bound.filter((s) => s.remote !== null && remoteMatch(s, dg) === 'exact' && localMatch(s, dg) !== null);
  const open = bound.filter((s) => s.remote === null);
  const exact = open.filter((s) => localMatch(s, dg) === 'exact');
  const wild = open.filter((s) => localMatch(s, dg) === 'wild');
  if (dg.note) {
    for (const s of socks) {
      const m = localMatch(s, dg);
      dg.note(s, s.remote && !connected.includes(s) ? 'connected to another peer'
        : m === 'exact' ? 'bound to the destination' : m === 'wild' ? 'bound to the wildcard' : 'its address does not match');
    }
  }
  const [level, pass] = connected.length ? ['connected', connected] as const : exact.length ? ['exact-address', exact] as const : ['wildcard', wild] as const;
  if (pass.length === 0) {
    return portUnreachable(dg, 'Windows answers a closed UDP port with ICMP port unreachable (UNCONFIRMED: no source read) docs/policies/windows.md#udp');
  }
  if (pass.length === 1) return delivered(pass, pass, `${level} socket ${describe(pass[0]!)} (the order connected, exact, wildcard is UNCONFIRMED) [${WIN}]`);
  const pick = pass[Math.floor((dg.hash * pass.length) / 4294967296)]!;
  return delivered([pick], pass,
    `${pass.length} ${level} sockets share ${destination(dg)} (${names(pass)}): Windows leaves the receiver "indeterminate"; bindlab picked ${pick.name} by the datagram's hash [${WIN}]`);
}

/**
 * Multicast: every socket on the port, bound to the wildcard or the group, that joined the group on
 * the arrival interface gets a copy [WIN: "data will be delivered to both sockets"]. Broadcast: a
 * copy to every socket whose address matches (UNCONFIRMED: the page speaks of multicast only).
 */
function copies(dg: DatagramInfo, socks: readonly UdpSock[]): DeliveryResult {
  const what = `${dg.cast} to ${destination(dg)}`;
  if (dg.cast === 'multicast' && !dg.hostMember) return dropped(`host is not a member of ${dg.dst.text} on ${dg.inDevice}`, WIN);
  const receivers = socks.filter((s) => s.local !== null && localMatch(s, dg) !== null && remoteMatch(s, dg) !== null
    && (dg.cast === 'broadcast' || joinedHere(s, dg))).sort(oldestBound);
  if (receivers.length === 0) {
    return dropped(`${what}: no socket matches`, dg.cast === 'multicast' ? WIN : `${WIN} (broadcast: UNCONFIRMED)`);
  }
  const rule = dg.cast === 'multicast'
    ? `${what}: each member socket on the port gets a copy (${names(receivers)}) [${WIN}]`
    : `${what}: each matching socket gets a copy (${names(receivers)}) (UNCONFIRMED: Microsoft documents copies for multicast only) [${WIN}]`;
  return delivered(receivers, receivers, rule);
}

/**
 * The UDP rules; bind is the TCP tables' own bind, which [WIN] says cover datagram sockets too. A
 * multicast or broadcast address is not "a valid local IP address" of the computer: WSAEADDRNOTAVAIL
 * (UNCONFIRMED reading of the bind page; a receiver binds the wildcard and joins the group).
 */
export function windowsUdp(bind: Policy['bind']): UdpRules {
  return {
    // IP_PKTINFO (WSASendMsg sets the source) and IP_RECVDSTADDR [Microsoft Learn, IPPROTO_IP socket
    // options: IP_PKTINFO, IP_RECVDSTADDR]; replying from IP_RECVDSTADDR's address alone: UNCONFIRMED
    dstAddrOptions: { pktinfo: true, recvdstaddr: 'receive-only', cite: 'Microsoft Learn, IPPROTO_IP socket options: IP_PKTINFO, IP_RECVDSTADDR' },
    bind(sk, addr, port, host) {
      const a = isV4Mapped(addr) ? v4FromMapped(addr) : addr;
      if (!isWildcard(a) && !isLoopback(a) && (isMulticast(a) || (host.isLocal(a) && host.interfaceOf(a) === undefined))) {
        return fail('EADDRNOTAVAIL', `${addr.text} is a group or broadcast address, not a local IP address of ${host.name} (UNCONFIRMED for Windows) [sdk-api nf-winsock-bind.md: WSAEADDRNOTAVAIL]`);
      }
      return bind(sk, addr, port, host);
    },
    deliver: (dg, socks) => (dg.cast === 'unicast' ? unicast(dg, socks) : copies(dg, socks)),
  };
}
