// A host in a run: its interfaces and addresses, neighbour cache, and socket tables indexed the
// way the kernel indexes them (owners by port, listeners by port in list order), so neither a
// bind nor a SYN scans every socket.

import { inSubnet, isLoopback, isMulticast, type Cidr, type IpAddr } from './addr.js';
import type { Host, RouteSpec, Sysctl } from '../scenario/types.js';
import type { BindBucket, HostView, Sock } from './policy/types.js';
import type { Rng } from './rng.js';
import { ClientConns, clientSock } from './client-conns.js';
import { PortTupleBits } from './port-picker.js';

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
  /** The automatic fe80:: address (routing.ts eui64LinkLocal), where the policy models it. */
  readonly linkLocal?: IpAddr;
}

/** Whether host has addr as one of its interfaces' automatic link-local addresses. */
export function ownsLinkLocal(host: HostState, addr: IpAddr): boolean {
  if (addr.family !== 6) return false;
  for (const i of host.ifaces) if (i.linkLocal !== undefined && i.linkLocal.text === addr.text) return true;
  return false;
}

/** Whether iface has IPv6 address addr: one of its addresses or its automatic link-local one. */
export function holds6(iface: IfaceState, addr: IpAddr): boolean {
  if (iface.linkLocal !== undefined && iface.linkLocal.text === addr.text) return true;
  for (const c of iface.addresses) if (c.addr.text === addr.text) return true;
  return false;
}

export class HostState implements HostView {
  readonly name: string;
  readonly ifaces: IfaceState[] = [];
  readonly sysctl: Sysctl;
  /** The routes the scenario declares (routing.ts findRoute). */
  readonly routes: readonly RouteSpec[];
  /** It declares no `routes:` at all: a default route of each family on its first interface. */
  readonly defaultOnFirst: boolean;
  /** Forwards packets between its interfaces (routing.ts walk). */
  readonly forward: boolean;
  readonly uids: ReadonlyMap<string, number>;
  /** IPv4/IPv6 neighbour cache: address text -> MAC. */
  readonly neighbours = new Map<string, Uint8Array>();
  /** Every socket holding a local port. */
  private readonly byPort = new Map<number, Sock[]>();
  /** Listening sockets per port, in the kernel's list order. */
  private readonly listenersByPort = new Map<number, Sock[]>();
  /** Bound, unconnected, non-listening sockets per port. */
  private readonly boundByPort = new Map<number, Sock[]>();
  /** A policy's per-port bind bucket (Linux's fast-path cache), dropped with the port's last owner. */
  private readonly bindBuckets = new Map<number, BindBucket>();
  /** Bumped whenever a listener or bound socket comes or goes, so cached lookups know they are stale. */
  listenerVersion = 0;
  /**
   * True while the host's own connect()ed sockets are kept in `clients` rather than as Sock owners:
   * until any other socket holds a port here or anything asks for a port's owners (then they are
   * made into Socks, in connect order, and every later one is a Sock from the start).
   */
  compactClients = true;
  /** The compact client connections, made on the first. */
  private clients: ClientConns | null = null;
  /** Client connections made into Socks, by slot (slots are not reused after that). */
  private clientSocks: Sock[] | null = null;

  constructor(spec: Host, private readonly rng: Rng) {
    this.name = spec.name;
    this.sysctl = spec.sysctl;
    this.routes = spec.routes ?? [];
    this.defaultOnFirst = spec.routes === undefined;
    this.forward = spec.forward ?? false;
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

  interfaceOf(addr: IpAddr): string | undefined {
    return this.ifaceOwning(addr)?.name ?? (isLoopback(addr) ? 'lo' : undefined);
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
    if (this.clients !== null && this.compactClients) this.materialiseClients();
    return this.byPort.get(port) ?? EMPTY_LIST;
  }

  portHeld(port: number): boolean {
    return this.byPort.has(port) || (this.compactClients && this.clients !== null && this.clients.holds(port));
  }

  /**
   * A port nothing holds has no bucket: the next bind makes a new one; and once only sockets connect()
   * bound hold it (SOCK_CONNECT_BIND), the bucket's fast-path record is gone, as when connect() made it
   * [net/ipv4/inet_hashtables.c inet_bind_bucket_destroy, inet_bind2_bucket_destroy: fastreuse =
   * fastreuseport = -1 when every remaining owner is connect()-bound (6.18)]. Found by the fifth hunt.
   */
  bindBucket(port: number): BindBucket | undefined {
    const tb = this.bindBuckets.get(port);
    if (tb === undefined) return undefined;
    if (this.portHeld(port) && this.boundOwnerHolds(port)) return tb;
    this.bindBuckets.delete(port);
    return undefined;
  }

  setBindBucket(port: number, bucket: BindBucket): void {
    this.bindBuckets.set(port, bucket);
  }

  /**
   * Ports whose bind bucket a bind() (or listen's auto-bind) made or touched: connect() never
   * picks them while a socket that bind() made holds them [net/ipv4/inet_hashtables.c
   * __inet_hash_connect: tb->fastreuse >= 0 || tb->fastreuseport >= 0 → next port]. The bucket
   * becomes connect()'s again when the last such owner goes (TIME_WAIT included), though
   * connections connect() made may still hold the port (seen on 6.18: __inet_put_port, the
   * sockets connect() bound carry SOCK_CONNECT_BIND). Forgotten lazily.
   */
  private readonly bindMade = new Set<number>();
  /** Client connections whose port a bind() took first (a connect's `source:`): slot -> port, and how many per port. */
  private readonly boundClients = new Map<number, number>();
  private readonly boundClientsPerPort = new Map<number, number>();

  markBindMade(port: number): void {
    this.bindMade.add(port);
  }

  /**
   * Whether a new connection from src may use the port: only other client connections hold it,
   * none of them bound it with bind(), and none has this 4-tuple [net/ipv4/inet_hashtables.c __inet_hash_connect]
   * but a loopback TIME_WAIT begun at or before reuseBefore, which it takes over (see takeOverTimeWait).
   */
  clientPortFree(port: number, src: IpAddr, dst: IpAddr, dport: number, reuseBefore = -Infinity): boolean {
    if (this.bindMade.size !== 0 && this.bindMade.has(port)) {
      if (this.boundOwnerHolds(port)) return false;
      this.bindMade.delete(port);
    }
    if (this.compactClients) {
      const s = this.clients === null ? -1 : this.clients.tupleSlot(port, src, dst, dport);
      return s < 0 || this.takeOverTimeWait(s, src, dst, reuseBefore);
    }
    const l = this.byPort.get(port);
    if (l === undefined) return true;
    for (const o of l) {
      if (o.kind !== 'client') return false;
      if (o.remote!.port === dport && o.remote!.addr.text === dst.text && o.local!.text === src.text) {
        return this.takeOverTimeWait(this.clientSocks!.indexOf(o), src, dst, reuseBefore);
      }
    }
    return true;
  }

  /**
   * Whether connect() may take over the client TIME_WAIT in slot for the same 4-tuple: begun at
   * or before reuseBefore, and to or from a loopback address [net/ipv4/tcp_ipv4.c tcp_twsk_unique,
   * tcp_tw_reuse = 2]; if so, the TIME_WAIT ends now.
   */
  private takeOverTimeWait(slot: number, src: IpAddr, dst: IpAddr, reuseBefore: number): boolean {
    const since = slot < 0 ? undefined : this.twSince.get(slot);
    if (since === undefined || since > reuseBefore || !(isLoopback(src) || isLoopback(dst))) return false;
    this.expireClient(slot);
    return true;
  }

  /** When each client slot in TIME_WAIT began it. */
  private readonly twSince = new Map<number, number>();

  /** The socket id of a client slot (-1 when the slot is free). */
  clientId(slot: number): number {
    if (this.compactClients) return this.clients === null ? -1 : this.clients.idOf(slot);
    return this.clientSocks?.[slot]?.id ?? -1;
  }

  /** Whether a socket that bind() made holds the port: any but connect()'s own clients. */
  private boundOwnerHolds(port: number): boolean {
    if (this.boundClientsPerPort.has(port)) return true;
    const l = this.byPort.get(port);
    if (l !== undefined) for (const o of l) if (o.kind !== 'client') return true;
    return false;
  }

  /**
   * A connect()ed socket of this host, ESTABLISHED, holding its port; returns its slot, the
   * handle of the calls below (a slot of the compact store while compactClients, else of the Socks).
   * `bound`: bind() took the port first (a `source:`).
   */
  addClient(id: number, proc: string, uid: number, src: IpAddr, sport: number, dst: IpAddr, dport: number, createdSeq: number,
    v6only = false, bound = false): number {
    const slot = this.newClient(id, proc, uid, src, sport, dst, dport, createdSeq, v6only);
    if (bound) {
      this.boundClients.set(slot, sport);
      this.boundClientsPerPort.set(sport, (this.boundClientsPerPort.get(sport) ?? 0) + 1);
    }
    return slot;
  }

  private newClient(id: number, proc: string, uid: number, src: IpAddr, sport: number, dst: IpAddr, dport: number, createdSeq: number,
    v6only: boolean): number {
    let slot: number;
    if (this.compactClients) slot = (this.clients ??= new ClientConns()).add(src, sport, dst, dport, proc, uid, id, createdSeq, v6only);
    else {
      const sk = clientSock(id, this.name, proc, uid, src, sport, dst, dport, createdSeq, 'ESTABLISHED', v6only);
      this.addOwner(sk);
      const socks = (this.clientSocks ??= []);
      const free = this.clientFree;
      slot = free !== null && free.length > 0 ? free.pop()! : socks.length;
      socks[slot] = sk;
    }
    if (this.tuplePorts.size !== 0) this.tupleChanged(src, sport, dst, dport);
    return slot;
  }

  // ---- connect()'s port choice (see port-picker.ts) ----

  /** Bitmaps of the ports each busy 4-tuple key holds, made by tupleBits and kept up to date after. */
  private readonly tuplePorts = new Map<string, PortTupleBits>();

  /** The key of connections from src to dst:dport (also the engine's key of its port hash). */
  static tupleKey(src: IpAddr, dst: IpAddr, dport: number): string {
    return `${src.text}|${dst.text}|${dport}`;
  }

  hasTupleBits(key: string): boolean {
    return this.tuplePorts.has(key);
  }

  /** The port bitmap of a 4-tuple key, made from the host's connections on first use. */
  tupleBits(key: string, src: IpAddr, dst: IpAddr, dport: number): PortTupleBits {
    let bits = this.tuplePorts.get(key);
    if (bits !== undefined) return bits;
    bits = new PortTupleBits();
    this.tuplePorts.set(key, bits);
    const mark = (s: IpAddr, sport: number, d: IpAddr, dp: number): void => {
      if (dp === dport && s.text === src.text && d.text === dst.text) {
        const st = this.tupleState(sport, src, dst, dport);
        bits!.set(sport, st !== 0, (st & 2) !== 0);
      }
    };
    if (this.compactClients) this.clients?.eachTuple(mark);
    else for (const sk of this.clientSocks ?? []) if (sk) mark(sk.local!, sk.port, sk.remote!.addr, sk.remote!.port);
    return bits;
  }

  /** Bit 1: a connection of this 4-tuple holds the port; bit 2: one of them is in TIME_WAIT. */
  private tupleState(port: number, src: IpAddr, dst: IpAddr, dport: number): number {
    if (this.compactClients) return this.clients === null ? 0 : this.clients.tupleStates(port, src, dst, dport);
    let out = 0;
    for (const o of this.byPort.get(port) ?? EMPTY_LIST) {
      if (o.kind === 'client' && o.remote!.port === dport && o.remote!.addr.text === dst.text && o.local!.text === src.text) {
        out |= o.state === 'TIME_WAIT' ? 3 : 1;
      }
    }
    return out;
  }

  /** A connection of this 4-tuple came, went or entered TIME_WAIT on sport: its key's bitmap follows. */
  private tupleChanged(src: IpAddr, sport: number, dst: IpAddr, dport: number): void {
    const bits = this.tuplePorts.get(HostState.tupleKey(src, dst, dport));
    if (bits === undefined) return;
    const st = this.tupleState(sport, src, dst, dport);
    bits.set(sport, st !== 0, (st & 2) !== 0);
  }

  /** The 4-tuple of a live client slot. */
  private slotTuple(slot: number): { src: IpAddr; sport: number; dst: IpAddr; dport: number } {
    if (this.compactClients) return this.clients!.tupleOf(slot);
    const sk = this.clientSocks![slot]!;
    return { src: sk.local!, sport: sk.port, dst: sk.remote!.addr, dport: sk.remote!.port };
  }

  /** A client slot goes: it no longer counts as a bound owner of its port. */
  private unbindClient(slot: number): void {
    if (this.boundClients.size === 0) return;
    const port = this.boundClients.get(slot);
    if (port === undefined) return;
    this.boundClients.delete(slot);
    const n = this.boundClientsPerPort.get(port)! - 1;
    if (n === 0) this.boundClientsPerPort.delete(port); else this.boundClientsPerPort.set(port, n);
  }

  /** The client connection of a slot closes (it was ESTABLISHED): the port is no longer held by it. */
  removeClient(slot: number): void {
    const t = this.tuplePorts.size !== 0 ? this.slotTuple(slot) : null;
    this.unbindClient(slot);
    this.twSince.delete(slot);
    if (this.compactClients) this.clients!.remove(slot);
    else this.removeOwner(this.releaseClient(slot));
    if (t !== null) this.tupleChanged(t.src, t.sport, t.dst, t.dport);
  }

  /** The client connection of a slot goes to TIME_WAIT at time `at` (still holding its port). */
  clientTimeWait(slot: number, at: number): void {
    this.twSince.set(slot, at);
    if (this.compactClients) this.clients!.timeWait(slot);
    else this.clientSocks![slot]!.state = 'TIME_WAIT';
    if (this.tuplePorts.size !== 0) {
      const t = this.slotTuple(slot);
      this.tupleChanged(t.src, t.sport, t.dst, t.dport);
    }
  }

  /** The TIME_WAIT of a slot's client connection ends (when given, only if the slot still holds socket `id`). */
  expireClient(slot: number, id?: number): void {
    if (id !== undefined && this.clientId(slot) !== id) return;
    const t = this.tuplePorts.size !== 0 ? this.slotTuple(slot) : null;
    this.unbindClient(slot);
    this.twSince.delete(slot);
    if (this.compactClients) this.clients!.remove(slot);
    else {
      const sk = this.releaseClient(slot);
      if (sk.state === 'TIME_WAIT') this.removeOwner(sk);
    }
    if (t !== null) this.tupleChanged(t.src, t.sport, t.dst, t.dport);
  }

  /** Free slots of clientSocks. */
  private clientFree: number[] | null = null;

  private releaseClient(slot: number): Sock {
    const socks = this.clientSocks!;
    const sk = socks[slot]!;
    socks[slot] = undefined!;
    (this.clientFree ??= []).push(slot);
    return sk;
  }

  /** The compact client connections become Sock owners; the host keeps Socks from now on. */
  private materialiseClients(): void {
    this.compactClients = false;
    const c = this.clients;
    if (c === null) return;
    const socks: Sock[] = (this.clientSocks = []);
    c.materialise(this.name, (slot, sk) => { socks[slot] = sk; this.addOwner(sk); });
    this.clients = null;
  }

  random(n: number): number {
    return this.rng.below(n);
  }

  // Owners per port are short arrays (a Set costs more to make than it saves for a handful).
  addOwner(sk: Sock): void {
    if (this.compactClients) this.materialiseClients();
    const l = this.byPort.get(sk.port);
    if (l) l.push(sk); else this.byPort.set(sk.port, [sk]);
  }

  removeOwner(sk: Sock): void {
    const l = this.byPort.get(sk.port);
    if (!l) return;
    const i = l.indexOf(sk);
    if (i < 0) return;
    l.splice(i, 1);
    if (l.length === 0) {
      this.byPort.delete(sk.port);
      this.bindBuckets.delete(sk.port);
    }
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

/** Whether addr is the broadcast address of subnet c (all host bits set). */
export function isBroadcastOf(c: Cidr, addr: IpAddr): boolean {
  if (!inSubnet(c, addr)) return false;
  let bits = c.prefix;
  for (let i = 0; i < 4; i++, bits -= 8) {
    const hostMask = bits >= 8 ? 0 : bits <= 0 ? 0xff : 0xff >> bits;
    if ((addr.bytes[i]! & hostMask) !== hostMask) return false;
  }
  return true;
}
