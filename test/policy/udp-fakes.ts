// Small hand-built UDP sockets, a host view and datagrams, for table tests of the policies' UDP
// rules without the engine: each table row builds the port's sockets, asks a policy's udp rules,
// and compares what a user would see (the errno of a bind, who received a datagram).

import { isMulticast, isWildcard, isV4Mapped, parseIp, type IpAddr } from '../../src/emu/addr.js';
import type { HostView, Sock } from '../../src/emu/policy/types.js';
import type { DatagramInfo, UdpSock } from '../../src/emu/policy/udp-types.js';

export const ip = (text: string): IpAddr => {
  const a = parseIp(text);
  if (!a) throw new Error(`bad address ${text}`);
  return a;
};

export interface SockSpec {
  readonly family?: 'inet' | 'inet6';
  readonly uid?: number;
  /** "addr" or null (unbound). */
  readonly local?: string | null;
  readonly port?: number;
  readonly reuseaddr?: boolean;
  readonly reuseport?: boolean;
  readonly reuseportLb?: boolean;
  readonly v6only?: boolean;
  readonly device?: string;
  readonly remote?: readonly [string, number];
  /** [group, device] pairs. */
  readonly joins?: readonly (readonly [string, string])[];
  readonly multicastAll?: boolean;
  readonly multicastLoop?: boolean;
}

let seq = 0;

/** A UDP socket; it counts as created and bound now (later sockets are newer). */
export function usock(name: string, spec: SockSpec = {}): UdpSock {
  const family = spec.family ?? (spec.local && spec.local.includes(':') ? 'inet6' : 'inet');
  const local = spec.local === undefined ? null : spec.local === null ? null : ip(spec.local);
  const v6only = spec.v6only ?? false;
  const n = ++seq;
  const sk: UdpSock = {
    id: n, name, kind: 'socket', hostName: 'server', processName: `p${spec.uid ?? 0}`, uid: spec.uid ?? 0, family,
    opts: {
      reuseaddr: spec.reuseaddr ?? false, reuseport: spec.reuseport ?? false, reuseportLb: spec.reuseportLb ?? false,
      exclusive: false, v6only, freebind: false, device: spec.device ?? null,
    },
    state: spec.remote ? 'ESTABLISHED' : 'CLOSE',
    local,
    port: local ? spec.port ?? 53 : 0,
    ipv6only: family === 'inet6' && (v6only || (local !== null && !isWildcard(local) && !isV4Mapped(local))),
    listener: null, createdSeq: n, boundSeq: local ? n : 0, listenSeq: 0, group: null,
    remote: spec.remote ? { addr: ip(spec.remote[0]), port: spec.remote[1] } : null,
    udp: {
      broadcast: false, multicastLoop: spec.multicastLoop ?? true, multicastAll: spec.multicastAll ?? true, pktinfo: false,
      memberships: (spec.joins ?? []).map(([g, d]) => ({ group: ip(g), device: d })),
    },
  };
  return sk;
}

/** A fresh socket to bind (unbound, created now). */
export const fresh = (name: string, spec: Omit<SockSpec, 'local' | 'port'> = {}): UdpSock => usock(name, { ...spec, local: null });

/** server: eth0 10.0.0.1/24, 10.0.0.2/24, fd00::1/64; eth1 10.0.1.1/24; the given sockets on their ports. */
export function hostWith(socks: readonly UdpSock[]): HostView {
  const v4 = ['10.0.0.1', '10.0.0.2', '10.0.1.1'].map(ip);
  const v6 = ['fd00::1'].map(ip);
  const broadcasts = new Set(['10.0.0.255', '10.0.1.255', '255.255.255.255']);
  return {
    name: 'server',
    interfaces: ['eth0', 'eth1'],
    addresses: (f) => (f === 4 ? v4 : v6),
    isLocal: (a) => (a.family === 4 ? a.bytes[0] === 127 || isMulticast(a) || broadcasts.has(a.text) : a.text === '::1')
      || [...v4, ...v6].some((x) => x.text === a.text),
    interfaceOf: (a) => (a.text === '10.0.1.1' ? 'eth1' : [...v4, ...v6].some((x) => x.text === a.text) ? 'eth0' : undefined),
    sysctl: { ipNonlocalBind: false, ipLocalPortRange: [32768, 60999], ipUnprivilegedPortStart: 1024 },
    owners: (port): Iterable<Sock> => socks.filter((s) => s.port === port),
    portHeld: (port) => socks.some((s) => s.port === port),
    bindBucket: () => undefined,
    setBindBucket: () => {},
    random: () => 0,
  };
}

export interface DgSpec {
  readonly dst: string;
  readonly dport?: number;
  readonly src?: string;
  readonly sport?: number;
  readonly inDevice?: string;
  readonly cast?: DatagramInfo['cast'];
  readonly hash?: number;
  readonly hostMember?: boolean;
}

/** A datagram from the client 10.0.0.100:5000 (or fd00::100) on eth0. */
export function dgram(spec: DgSpec): DatagramInfo {
  const dst = ip(spec.dst);
  const cast = spec.cast ?? (isMulticast(dst) ? 'multicast' : /\.255$/.test(spec.dst) ? 'broadcast' : 'unicast');
  return {
    dst, dport: spec.dport ?? 53,
    src: ip(spec.src ?? (dst.family === 6 ? 'fd00::100' : '10.0.0.100')), sport: spec.sport ?? 5000,
    inDevice: spec.inDevice ?? 'eth0', cast, hash: spec.hash ?? 0,
    hostMember: spec.hostMember ?? cast === 'multicast',
  };
}
