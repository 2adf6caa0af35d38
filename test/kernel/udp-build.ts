// Small UDP scenarios built as objects (the kernel harness's tests), with the hosts of
// docs/kernel-observations.md: a server with three IPv4 aliases and an IPv6 address, a client,
// and optionally a second client and a second link.

import { parseCidr, parseEndpoint, parseIp, type IpAddr } from '../../src/emu/addr.js';
import type { KernelStep } from '../../src/kernel/run-kernel.js';
import type { Expectation, Host, Scenario, SockOptions } from '../../src/scenario/types.js';

const SYSCTL = { ipNonlocalBind: false, ipLocalPortRange: [32768, 60999] as const, ipUnprivilegedPortStart: 1024, promoteSecondaries: false };

/** Options of a UDP socket (the UDP names beside the TCP ones). */
export type UdpOptions = SockOptions & Record<string, boolean | string>;

type Draft = Omit<KernelStep, 'index' | 'pos' | 'expect'> & { expect?: readonly string[] };

const ep = (t: string) => {
  const e = parseEndpoint(t);
  if (!e) throw new Error(`bad endpoint ${t}`);
  return e;
};
const ip = (t: string): IpAddr => {
  const a = parseIp(t);
  if (!a) throw new Error(`bad address ${t}`);
  return a;
};

export const sock = (socket: string, proc: string, options: UdpOptions = {}, family: 'inet' | 'inet6' = 'inet', expect?: string): Draft => {
  const [host, process] = proc.split('/') as [string, string];
  return { kind: 'socket', socket, host, process, family, type: 'udp', options, ...(expect ? { expect: [expect] } : {}) } as Draft;
};
export const tcpSock = (socket: string, proc: string, options: SockOptions = {}, family: 'inet' | 'inet6' = 'inet'): Draft => {
  const [host, process] = proc.split('/') as [string, string];
  return { kind: 'socket', socket, host, process, family, options } as Draft;
};
export const bind = (socket: string, address: string, expect?: string): Draft =>
  ({ kind: 'bind', socket, address: ep(address), ...(expect ? { expect: [expect] } : {}) }) as Draft;
export const setsockopt = (socket: string, options: UdpOptions, expect?: string): Draft =>
  ({ kind: 'setsockopt', socket, options, ...(expect ? { expect: [expect] } : {}) }) as Draft;
export const close = (socket: string): Draft => ({ kind: 'close', socket }) as Draft;
export const wait = (ms: number): Draft => ({ kind: 'wait', durationNs: ms * 1e6 }) as Draft;
export const udpConnect = (socket: string, to: string, expect?: string): Draft =>
  ({ kind: 'udp-connect', socket, to: ep(to), ...(expect ? { expect: [expect] } : {}) }) as Draft;
export const join = (socket: string, group: string, iface?: string, expect?: string): Draft =>
  ({ kind: 'join', socket, group: ip(group), ...(iface ? { interface: iface } : {}), ...(expect ? { expect: [expect] } : {}) }) as Draft;
export const leave = (socket: string, group: string, iface?: string): Draft =>
  ({ kind: 'leave', socket, group: ip(group), ...(iface ? { interface: iface } : {}) }) as Draft;

export interface DatagramDraft {
  from?: string;
  socket?: string;
  to: string;
  source?: string;
  data?: string;
  count?: number;
  reply?: boolean;
  interface?: string;
}

/** A datagram step; `expect` alternatives as the format has them (a name, `a+b`, an outcome). */
export const datagram = (d: DatagramDraft, ...expect: string[]): Draft => {
  const [from, fromProcess] = d.from ? (d.from.split('/') as [string, string | undefined]) : [undefined, undefined];
  let source: { addr: IpAddr; port?: number } | undefined;
  if (d.source) {
    const e = parseEndpoint(d.source);
    source = e ? { addr: e.addr, port: e.port } : { addr: ip(d.source) };
  }
  return {
    kind: 'datagram',
    ...(from ? { from } : {}),
    ...(fromProcess ? { fromProcess } : {}),
    ...(d.socket ? { socket: d.socket } : {}),
    to: ep(d.to),
    ...(source ? { source } : {}),
    ...(d.data !== undefined ? { data: d.data } : {}),
    ...(d.interface ? { interface: d.interface } : {}),
    count: d.count ?? 1,
    reply: d.reply ?? false,
    ...(expect.length ? { expect } : {}),
  } as Draft;
};

export interface Topology {
  /** A second client on the link (10.0.0.101, fd00::101). */
  readonly client2?: boolean;
  /** A second link: server eth1 10.0.1.1/24 fd01::1/64, client eth1 10.0.1.100/24. */
  readonly eth1?: boolean;
}

export function udpScenario(name: string, drafts: readonly Draft[], topo: Topology = {}): Scenario {
  const iface = (n: string, addrs: string[], link = 'lan') => ({ name: n, link, addresses: addrs.map((a) => parseCidr(a)!) });
  const hosts: Host[] = [
    {
      name: 'server', sysctl: SYSCTL,
      interfaces: [iface('eth0', ['10.0.0.1/24', '10.0.0.2/24', '10.0.0.3/24', 'fd00::1/64']), ...(topo.eth1 ? [iface('eth1', ['10.0.1.1/24', 'fd01::1/64'], 'lan2')] : [])],
      processes: [{ name: 'root', uid: 0 }, { name: 'alice', uid: 1000 }, { name: 'bob', uid: 1001 }],
    },
    {
      name: 'client', sysctl: SYSCTL,
      interfaces: [iface('eth0', ['10.0.0.100/24', 'fd00::100/64']), ...(topo.eth1 ? [iface('eth1', ['10.0.1.100/24', 'fd01::100/64'], 'lan2')] : [])],
      processes: [{ name: 'root', uid: 0 }, { name: 'alice', uid: 1000 }],
    },
    ...(topo.client2 ? [{
      name: 'client2', sysctl: SYSCTL,
      interfaces: [iface('eth0', ['10.0.0.101/24', 'fd00::101/64'])],
      processes: [{ name: 'root', uid: 0 }],
    }] : []),
  ];
  const steps = drafts.map((d, index) => {
    const { expect, ...rest } = d;
    const pos = { line: index + 1, col: 1 };
    const exp: Expectation | undefined = expect ? { byPolicy: new Map(), fallback: expect, pos } : undefined;
    return { ...rest, index, pos, ...(exp ? { expect: exp } : {}) } as KernelStep;
  });
  return {
    file: `udp/${name}.yaml`, name, seed: 1,
    hosts,
    links: [{ name: 'lan', latencyNs: 100_000 }, ...(topo.eth1 ? [{ name: 'lan2', latencyNs: 100_000 }] : [])],
    steps: steps as unknown as Scenario['steps'],
  };
}
