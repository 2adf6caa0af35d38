// Policy `windows`: Windows Server 2003 and later, Windows Vista and later ("enhanced socket
// security"). The bind outcomes are Microsoft's own two-socket tables, kept here as data:
// [WIN] "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE", MicrosoftDocs/win32
//   desktop-src/WinSock/using-so-reuseaddr-and-so-exclusiveaddruse.md (same-user and
//   different-user tables, dual-stack note);
// [WSK] "Sharing Transport Addresses" (learn.microsoft.com/windows-hardware/drivers/network/
//   sharing-transport-addresses): the same matrix, where the user-dependent cells are an access
//   check ("CHECK") against the first socket's default security descriptor, which allows no sharing.
// Windows is closed source: everything the pages do not state is marked UNCONFIRMED below.

import { isV4Mapped, isWildcard, v4FromMapped, type IpAddr } from '../addr.js';
import type { OptionName } from '../../scenario/types.js';
import { applyOption, describe, fail, ok } from './common.js';
import type { Decision, HostView, LookupResult, Policy, Sock, SynInfo } from './types.js';
import { windowsUdp } from './windows-udp.js';

const WIN = 'Microsoft, Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE, https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse';

/** Options Windows has; SO_REUSEPORT, SO_REUSEPORT_LB, IP_FREEBIND, SO_BINDTODEVICE are ENOPROTOOPT (bindlab convention). */
const WINDOWS_OPTIONS: ReadonlySet<OptionName> = new Set<OptionName>(['SO_REUSEADDR', 'SO_EXCLUSIVEADDRUSE', 'IPV6_V6ONLY']);

/**
 * TIME_WAIT: TcpTimedWaitDelay default 0x78 = 120 s for the IPv4 stack of Windows XP/Server 2003
 * (240 s on Windows 2000 and for the XP/2003 IPv6 stack) [Microsoft KB 314053, "TCP/IP and NBT
 * configuration parameters for Windows XP", TcpTimedWaitDelay]. The Vista+ default is UNCONFIRMED.
 */
export const WINDOWS_TIME_WAIT_NS = 120e9;

/** Ephemeral ports on Vista and later [MicrosoftDocs/sdk-api winsock/nf-winsock-bind.md, Remarks: "between 49152 and 65535"]. */
export const WINDOWS_EPHEMERAL: readonly [number, number] = [49152, 65535];

export { WINDOWS_FINGERPRINT } from './fingerprint.js';
import { WINDOWS_FINGERPRINT } from './fingerprint.js';
import { WINDOWS_ROUTING } from './routing-choices.js';

/** How a socket was bound, in the tables' terms. */
export type Mode = 'default' | 'reuse' | 'exclusive';
export type Outcome = 'ok' | 'INUSE' | 'ACCESS';
/** Row/column index: default W, default S, SO_REUSEADDR W, SO_REUSEADDR S, SO_EXCLUSIVEADDRUSE W, SO_EXCLUSIVEADDRUSE S. */
const cls = (mode: Mode, wildcard: boolean): number => (mode === 'default' ? 0 : mode === 'reuse' ? 2 : 4) + (wildcard ? 0 : 1);

// [WIN] Windows Server 2003 and later, both binds under the same user account. Rows: first bind; columns: second.
// "Specific" against "Specific" means the same address: two different specific addresses never conflict [WIN].
const SAME_USER: readonly (readonly Outcome[])[] = [
  /* default W */ ['INUSE', 'ok', 'ACCESS', 'ok', 'INUSE', 'ok'],
  /* default S */ ['ok', 'INUSE', 'ok', 'ACCESS', 'INUSE', 'INUSE'],
  /* reuse W   */ ['INUSE', 'ok', 'ok', 'ok', 'INUSE', 'ok'],
  /* reuse S   */ ['ok', 'INUSE', 'ok', 'ok', 'INUSE', 'INUSE'],
  /* excl W    */ ['INUSE', 'ACCESS', 'ACCESS', 'ACCESS', 'INUSE', 'ACCESS'],
  /* excl S    */ ['ok', 'INUSE', 'ok', 'ACCESS', 'INUSE', 'INUSE'],
];
// [WIN] the same for different user accounts: only rows "default W" and "reuse W" differ (the
// same-user exception "exists solely to provide backward compatibility").
// [WSK] gives DENIED for (first reuse S, second default S) where [WIN] says INUSE; bindlab follows [WIN].
const DIFFERENT_USER: readonly (readonly Outcome[])[] = [
  /* default W */ ['INUSE', 'ACCESS', 'ACCESS', 'ACCESS', 'INUSE', 'ACCESS'],
  /* default S */ ['ok', 'INUSE', 'ok', 'ACCESS', 'INUSE', 'INUSE'],
  /* reuse W   */ ['INUSE', 'ACCESS', 'ok', 'ok', 'INUSE', 'ACCESS'],
  /* reuse S   */ ['ok', 'INUSE', 'ok', 'ok', 'INUSE', 'INUSE'],
  /* excl W    */ ['INUSE', 'ACCESS', 'ACCESS', 'ACCESS', 'INUSE', 'ACCESS'],
  /* excl S    */ ['ok', 'INUSE', 'ok', 'ACCESS', 'INUSE', 'INUSE'],
];

/** The table cell for a second bind against a first one [WIN Server 2003 tables]. */
export function tableOutcome(first: Mode, firstWild: boolean, second: Mode, secondWild: boolean, sameUser: boolean): Outcome {
  return (sameUser ? SAME_USER : DIFFERENT_USER)[cls(first, firstWild)]![cls(second, secondWild)]!;
}

// Options count only when set before bind [sdk-api nf-winsock-bind.md: "the socket option must be set prior to executing bind to have any affect"],
// so the mode is taken at bind time. Per run the Sock objects are new, so a WeakMap keyed by them is safe.
const boundMode = new WeakMap<Sock, Mode>();
// Whether IPV6_V6ONLY was set explicitly; unset means on [Dual-Stack Sockets: "By default, an IPv6 socket ... only operates over the IPv6 protocol"].
const v6onlySet = new WeakMap<Sock, boolean>();

function optionMode(sk: Sock): Mode {
  // Both options on one socket: treated as SO_EXCLUSIVEADDRUSE (UNCONFIRMED: the pages do not say whether setsockopt refuses the pair).
  return sk.opts.exclusive ? 'exclusive' : sk.opts.reuseaddr ? 'reuse' : 'default';
}

/** The mode a socket was bound with; an accepted connection has its listener's. */
function modeOf(sk: Sock): Mode {
  const m = boundMode.get(sk);
  if (m) return m;
  if (sk.listener) return modeOf(sk.listener);
  return optionMode(sk);
}

/** Where a bound socket sits: the IPv4 and/or IPv6 stack, wildcard or a specific address there. */
interface StackAddr { readonly stack: 4 | 6; readonly wildcard: boolean; readonly text: string }

/**
 * A dual-stack socket bound to :: reserves the port on both stacks [WIN: "the given port is
 * reserved on both the IPv4 and IPv6 networking stacks"]; a v4-mapped address counts as IPv4
 * [Dual-Stack Sockets: "IPv4-mapped IPv6 address format"].
 */
function stacksOf(family: Sock['family'], addr: IpAddr, ipv6only: boolean): StackAddr[] {
  if (family === 'inet') return [{ stack: 4, wildcard: isWildcard(addr), text: addr.text }];
  if (isV4Mapped(addr)) {
    const v4 = v4FromMapped(addr);
    return [{ stack: 4, wildcard: isWildcard(v4), text: v4.text }];
  }
  if (isWildcard(addr)) {
    const v6: StackAddr = { stack: 6, wildcard: true, text: '::' };
    return ipv6only ? [v6] : [v6, { stack: 4, wildcard: true, text: '0.0.0.0' }];
  }
  return [{ stack: 6, wildcard: false, text: addr.text }];
}

// Two addresses on one stack overlap when either is the wildcard or they are equal;
// different specific addresses never conflict [WIN: "there is no conflict"].
const overlaps = (a: StackAddr, b: StackAddr): boolean => a.stack === b.stack && (a.wildcard || b.wildcard || a.text === b.text);

const ERRNO = { INUSE: 'EADDRINUSE', ACCESS: 'EACCES' } as const;

/**
 * The bind-conflict decision for sk at (addr, port). The pages give outcomes for two sockets;
 * with more, the table is applied pairwise against every overlapping existing socket and the
 * first refusal wins (UNCONFIRMED: the pages are silent on three or more sockets).
 */
function conflict(sk: Sock, addr: IpAddr, port: number, ipv6only: boolean, host: HostView): Decision | null {
  const mine = stacksOf(sk.family, addr, ipv6only);
  const newMode = optionMode(sk);
  for (const other of host.owners(port)) {
    if (other === sk || !other.local) continue;
    // TIME_WAIT connections do not block a bind (UNCONFIRMED: [WIN] only says an SO_EXCLUSIVEADDRUSE
    // bind waits until an accepted connection "becomes inactive"; bindlab counts TIME_WAIT as inactive).
    if (other.state === 'TIME_WAIT') continue;
    const theirs = stacksOf(other.family, other.local, other.ipv6only);
    for (const a of mine) {
      const b = theirs.find((t) => overlaps(a, t));
      if (!b) continue;
      if (other.kind === 'child') {
        // An accepted, still active connection of an SO_EXCLUSIVEADDRUSE listener blocks another
        // SO_EXCLUSIVEADDRUSE bind [WIN: "cannot bind ... until the original connection becomes inactive"];
        // the error code is not given (EADDRINUSE is UNCONFIRMED). Otherwise connections are not in the tables.
        if (newMode === 'exclusive' && modeOf(other) === 'exclusive') {
          return fail('EADDRINUSE', `an active connection accepted by SO_EXCLUSIVEADDRUSE ${describe(other)} holds the port [${WIN}]`, { conflict: other });
        }
        continue;
      }
      const out = tableOutcome(modeOf(other), b.wildcard, newMode, a.wildcard, other.uid === sk.uid);
      if (out === 'ok') continue;
      // The page's dual-stack example: an SO_EXCLUSIVEADDRUSE dual-stack bind refused on the IPv4
      // stack answers WSAEACCES (the IPv4-only table cell says INUSE) [WIN, dual-stack paragraph].
      const errno = sk.family === 'inet6' && mine.length === 2 && a.stack === 4 && newMode === 'exclusive' ? 'EACCES' : ERRNO[out];
      const who = other.uid === sk.uid ? 'same user' : 'different users';
      return fail(errno, `${newMode} ${a.wildcard ? 'wildcard' : 'specific'} bind after ${modeOf(other)} ${b.wildcard ? 'wildcard' : 'specific'} ${describe(other)} (${who}) is ${out === 'INUSE' ? 'WSAEADDRINUSE' : 'WSAEACCES'} on the IPv${a.stack} stack [${WIN}, Server 2003 table]`, { conflict: other });
    }
  }
  return null;
}

/** bind(port 0): the first free port from a random start in 49152..65535 (the order of the search is UNCONFIRMED). */
function ephemeral(host: HostView): number {
  const [low, high] = WINDOWS_EPHEMERAL;
  const n = high - low + 1;
  const start = host.random(n);
  for (let i = 0; i < n; i++) {
    const port = low + ((start + i) % n);
    if (!host.portHeld(port)) return port;
  }
  return 0;
}

function bind(sk: Sock, addr: IpAddr, port: number, host: HostView): Decision {
  // A second bind [sdk-api nf-winsock-bind.md WSAEINVAL: "the socket s is already bound to an address"]
  if (sk.port !== 0 || sk.state !== 'CLOSE') return fail('EINVAL', 'the socket is already bound [sdk-api nf-winsock-bind.md: WSAEINVAL]');
  let ipv6only = false;
  if (sk.family === 'inet6') {
    ipv6only = v6onlySet.get(sk) ?? true;
    // A v4-mapped address on an IPv6-only socket "will fail" [Dual-Stack Sockets]; the error code is UNCONFIRMED
    if (isV4Mapped(addr) && ipv6only) return fail('EADDRNOTAVAIL', 'an IPv6-only socket (the Windows default) cannot use a v4-mapped address [Dual-Stack Sockets, https://learn.microsoft.com/en-us/windows/win32/winsock/dual-stack-sockets]');
    if (!isV4Mapped(addr) && !isWildcard(addr)) ipv6only = true;
  }
  // Not an address of this computer [sdk-api winsock bind: WSAEADDRNOTAVAIL]
  const local = isV4Mapped(addr) ? v4FromMapped(addr) : addr;
  if (!isWildcard(local) && !host.isLocal(local)) {
    return fail('EADDRNOTAVAIL', `${addr.text} is not a valid local IP address of ${host.name} [sdk-api nf-winsock-bind.md: WSAEADDRNOTAVAIL]`);
  }
  // No privileged ports: none is documented on the pages read (UNCONFIRMED that there is none).
  let chosen = port;
  if (port === 0) {
    chosen = ephemeral(host);
    if (chosen === 0) return fail('EADDRINUSE', 'no free port in 49152..65535 [sdk-api nf-winsock-bind.md, Remarks]');
  } else {
    const d = conflict(sk, addr, port, ipv6only, host);
    if (d) return d;
  }
  boundMode.set(sk, optionMode(sk));
  if (sk.family === 'inet6' && sk.kind === 'socket') { sk.opts.v6only = ipv6only; sk.ipv6only = ipv6only; }
  const rule = port === 0 ? `picked free port ${chosen} from 49152..65535 [sdk-api nf-winsock-bind.md, Remarks]` : `no socket on port ${port} refuses a ${optionMode(sk)} bind [${WIN}]`;
  return ok(rule, port === 0 ? { port: chosen } : undefined);
}

/**
 * Listener lookup: an exact-address listener beats a wildcard one [WIN: a wildcard bind beside an
 * exclusive specific one "is bound to all interfaces except the specific address"]. Several
 * listeners on the very same address (SO_REUSEADDR on both) are "indeterminate" [WIN]: which one
 * gets a connection is undefined; bindlab returns them all as candidates and picks one by the
 * connection hash. Bound, not listening sockets get nothing: RST (UNCONFIRMED).
 */
function lookup(syn: SynInfo, listeners: readonly Sock[]): LookupResult {
  const dst = syn.dst.family === 6 && isV4Mapped(syn.dst) ? v4FromMapped(syn.dst) : syn.dst;
  const stack = dst.family;
  const exact: Sock[] = [];
  const wild: Sock[] = [];
  for (const sk of listeners) {
    if (!sk.local) continue;
    for (const s of stacksOf(sk.family, sk.local, sk.ipv6only)) {
      if (s.stack !== stack) continue;
      if (s.wildcard) wild.push(sk);
      else if (s.text === dst.text) exact.push(sk);
    }
  }
  const pass = exact.length > 0 ? exact : wild;
  if (pass.length === 0) {
    return { sock: null, candidates: [], action: 'rst', rule: `no listener on ${syn.dst.text}:${syn.dport}: RST (UNCONFIRMED for Windows) [docs/policies/windows.md#listener-lookup]` };
  }
  const kind = pass === exact ? 'exact-address' : 'wildcard';
  if (pass.length === 1) {
    return { sock: pass[0]!, candidates: [pass[0]!], action: 'accept', rule: `${kind} listener ${describe(pass[0]!)} [${WIN}]` };
  }
  const pick = pass[Math.floor((syn.hash * pass.length) / 4294967296)]!;
  return {
    sock: pick, candidates: pass.slice(), action: 'accept',
    rule: `${pass.length} ${kind} listeners share the address: Windows leaves the choice undefined ("indeterminate"); bindlab picked ${pick.name} by the connection hash [${WIN}]`,
  };
}

export const windows: Policy = {
  name: 'windows',
  title: 'Windows Server 2003+ / Vista+: SO_REUSEADDR duplicates, SO_EXCLUSIVEADDRUSE, protection against another user',
  sources: [
    'https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse (MicrosoftDocs/win32 desktop-src/WinSock/using-so-reuseaddr-and-so-exclusiveaddruse.md: same-user and different-user tables)',
    'https://learn.microsoft.com/en-us/windows-hardware/drivers/network/sharing-transport-addresses (WSK: the same matrix with CHECK cells)',
    'https://learn.microsoft.com/en-us/windows/win32/winsock/dual-stack-sockets; MicrosoftDocs/sdk-api sdk-api-src/content/winsock/nf-winsock-bind.md and nf-winsock-listen.md',
    'Microsoft KB 314053 (TcpTimedWaitDelay, DefaultTTL; docs/policies/windows.md#time_wait)',
    'UDP: https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse (datagram traffic, indeterminate receivers, multicast copies) (docs/policies/windows.md#udp)',
    'UNCONFIRMED: UDP unicast order, broadcast copies, ICMP for a closed port, binding a group or broadcast address (docs/policies/windows.md#unconfirmed)',
    'the rules in our words: docs/policies/windows.md',
  ],
  timeWaitNs: WINDOWS_TIME_WAIT_NS,
  // Each unicast address is its own row [learn.microsoft.com DeleteUnicastIpAddressEntry]
  ipv4Secondaries: false,
  routing: WINDOWS_ROUTING,
  fingerprint: WINDOWS_FINGERPRINT,
  families: ['inet', 'inet6'],

  setsockopt(sk, option, value, host) {
    if (option === 'IPV6_V6ONLY' && sk.family === 'inet6') {
      // Must be set "before the socket is bound" [Dual-Stack Sockets]; the error afterwards is UNCONFIRMED (EINVAL)
      if (sk.port !== 0) return fail('EINVAL', 'IPV6_V6ONLY must be set before bind [Dual-Stack Sockets, https://learn.microsoft.com/en-us/windows/win32/winsock/dual-stack-sockets]');
      v6onlySet.set(sk, value === true);
    }
    return applyOption(sk, option, value, host, WINDOWS_OPTIONS, 'Windows has no such socket option: https://learn.microsoft.com/en-us/windows/win32/winsock/sol-socket-socket-options');
  },

  bind,

  listen(sk) {
    // listen() on an unbound socket [Winsock listen: WSAEINVAL "The socket has not been bound with bind"]
    if (sk.port === 0) return fail('EINVAL', 'the socket has not been bound [Winsock nf-winsock-listen.md: WSAEINVAL]');
    // No listen-time re-check (UNCONFIRMED; Winsock listen allows a delayed WSAEADDRINUSE only for "partially wildcard" binds, not modelled)
    return ok('listening; Windows re-checks nothing at listen (UNCONFIRMED) [docs/policies/windows.md#listen]');
  },

  // Listen order only orders the candidates of an undefined choice.
  listenerOrder: () => 'tail',
  reuseportPeer: () => null,
  groupsReuseport: () => false,

  lookup: (syn, listeners) => lookup(syn, listeners),
  // UDP: the same bind tables ("receives IP datagram traffic"); an undetermined unicast receiver, multicast copies (windows-udp.ts)
  udp: windowsUdp(bind),
};
