// A host in a run: its interfaces and addresses, neighbour cache, and socket tables indexed the
// way the kernel indexes them (owners by port, listeners by port in list order), so neither a
// bind nor a SYN scans every socket.

import { inSubnet, isLoopback, isMulticast, type Cidr, type IpAddr } from './addr.js';
import type { Host, Sysctl } from '../scenario/types.js';
import type { HostView, Sock } from './policy/types.js';
import type { Rng } from './rng.js';

export interface LinkState {
  readonly name: string;
  readonly latencyNs: number;
  /** Capture interface id in the sink. */
  captureId: number;
  /** Interfaces attached, in scenario order. */
  readonly members: IfaceState[];
}

export interface IfaceState {
  readonly host: HostState;
  readonly name: string;
  readonly mac: Uint8Array;
  readonly macText: string;
  /** Mutable: address steps add and remove aliases. The first of each family is the primary. */
  readonly addresses: Cidr[];
  readonly link: LinkState;
}

export class HostState implements HostView {
  readonly name: string;
  readonly ifaces: IfaceState[] = [];
  readonly sysctl: Sysctl;
  readonly uids: ReadonlyMap<string, number>;
  /** IPv4/IPv6 neighbour cache: address text -> MAC. */
  readonly neighbours = new Map<string, Uint8Array>();
  /** Every socket holding a local port. */
  private readonly byPort = new Map<number, Sock[]>();
  /** Listening sockets per port, in the kernel's list order. */
  private readonly listenersByPort = new Map<number, Sock[]>();
  /** Bound, unconnected, non-listening sockets per port. */
  private readonly boundByPort = new Map<number, Sock[]>();
  /** Bumped whenever a listener or bound socket comes or goes, so cached lookups know they are stale. */
  listenerVersion = 0;

  constructor(spec: Host, private readonly rng: Rng) {
    this.name = spec.name;
    this.sysctl = spec.sysctl;
    this.uids = new Map(spec.processes.map((p) => [p.name, p.uid]));
  }

  get interfaces(): readonly string[] {
    return this.ifaces.map((i) => i.name);
  }

  addresses(family: 4 | 6): readonly IpAddr[] {
    const out: IpAddr[] = [];
    for (const i of this.ifaces) for (const c of i.addresses) if (c.addr.family === family && !isLoopback(c.addr)) out.push(c.addr);
    return out;
  }

  /** The interface that has this address assigned, if any. */
  ifaceOwning(addr: IpAddr): IfaceState | undefined {
    for (const i of this.ifaces) for (const c of i.addresses) if (c.addr.text === addr.text) return i;
    return undefined;
  }

  isLocal(addr: IpAddr): boolean {
    if (isLoopback(addr)) return true; // lo: 127.0.0.0/8 and ::1
    if (this.ifaceOwning(addr)) return true;
    if (addr.family === 4) {
      // Linux inet_addr_type: multicast and the subnets' broadcast addresses are bindable too
      if (isMulticast(addr) || addr.text === '255.255.255.255') return true;
      for (const i of this.ifaces) for (const c of i.addresses) if (c.addr.family === 4 && c.prefix < 31 && isBroadcastOf(c, addr)) return true;
    }
    return false;
  }

  owners(port: number): Iterable<Sock> {
    return this.byPort.get(port) ?? EMPTY_LIST;
  }

  portHeld(port: number): boolean {
    return this.byPort.has(port);
  }

  random(n: number): number {
    return this.rng.below(n);
  }

  // Owners per port are short arrays (a Set costs more to make than it saves for a handful).
  addOwner(sk: Sock): void {
    const l = this.byPort.get(sk.port);
    if (l) l.push(sk); else this.byPort.set(sk.port, [sk]);
  }

  removeOwner(sk: Sock): void {
    const l = this.byPort.get(sk.port);
    if (!l) return;
    const i = l.indexOf(sk);
    if (i < 0) return;
    l.splice(i, 1);
    if (l.length === 0) this.byPort.delete(sk.port);
  }

  listeners(port: number): readonly Sock[] {
    return this.listenersByPort.get(port) ?? EMPTY_LIST;
  }

  addListener(sk: Sock, where: 'head' | 'tail'): void {
    let l = this.listenersByPort.get(sk.port);
    if (!l) this.listenersByPort.set(sk.port, (l = []));
    if (where === 'head') l.unshift(sk); else l.push(sk);
    this.listenerVersion++;
  }

  removeListener(sk: Sock): void {
    const l = this.listenersByPort.get(sk.port);
    if (!l) return;
    const i = l.indexOf(sk);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.listenersByPort.delete(sk.port);
    this.listenerVersion++;
  }

  /** Unconnected, non-listening user sockets bound to the port (BSD lookups see them), newest socket first. */
  boundOnly(port: number): readonly Sock[] {
    return this.boundByPort.get(port) ?? EMPTY_LIST;
  }

  addBound(sk: Sock): void {
    let l = this.boundByPort.get(sk.port);
    if (!l) this.boundByPort.set(sk.port, (l = []));
    l.push(sk);
    l.sort((a, b) => b.createdSeq - a.createdSeq);
    this.listenerVersion++;
  }

  removeBound(sk: Sock): void {
    const l = this.boundByPort.get(sk.port);
    if (!l) return;
    const i = l.indexOf(sk);
    if (i < 0) return;
    l.splice(i, 1);
    if (l.length === 0) this.boundByPort.delete(sk.port);
    this.listenerVersion++;
  }
}

const EMPTY_LIST: readonly Sock[] = [];

function isBroadcastOf(c: Cidr, addr: IpAddr): boolean {
  if (!inSubnet(c, addr)) return false;
  let bits = c.prefix;
  for (let i = 0; i < 4; i++, bits -= 8) {
    const hostMask = bits >= 8 ? 0 : bits <= 0 ? 0xff : 0xff >> bits;
    if ((addr.bytes[i]! & hostMask) !== hostMask) return false;
  }
  return true;
}
