// A host's connect()ed client sockets kept compactly: slots in typed arrays (plus arrays of
// shared address and name references), chained per local port in connect order. A run makes one
// per connection; with clients closing first nearly all of them sit in TIME_WAIT at once, and a
// Sock object each (in the host's owner lists) was a quarter of a big run's time in allocation,
// old-generation promotion and Map churn. HostState turns them into Sock owners (clientSock, the
// same objects the socket layer would have made) when anything else needs to see the port table.

import type { IpAddr } from './addr.js';
import type { Sock, SockOpts, SockState } from './policy/types.js';

/** A connect()ed client socket sets no options; one shared, frozen record serves them all. */
export const CLIENT_OPTS: SockOpts = Object.freeze({ reuseaddr: false, reuseport: false, reuseportLb: false, exclusive: false, v6only: false, freebind: false, device: null }) as SockOpts;

/** A client's connected socket as the socket layer shows it to policies. */
export function clientSock(id: number, hostName: string, proc: string, uid: number, src: IpAddr, sport: number, dst: IpAddr, dport: number,
  createdSeq: number, state: SockState = 'ESTABLISHED', ipv6only = false): Sock {
  return {
    id, name: hostName, kind: 'client', hostName, processName: proc, uid,
    family: src.family === 6 ? 'inet6' : 'inet',
    opts: CLIENT_OPTS,
    // connect() alone never makes an IPv6 socket IPv6-only (a bind to a specific address does
    // [net/ipv6/af_inet6.c __inet6_bind]): its IPv4 side still overlaps a 0.0.0.0 bind
    // [net/ipv4/inet_connection_sock.c ipv4_rcv_saddr_equal with tcp_v6_connect's LOOPBACK4_IPV6].
    state, local: src, port: sport, ipv6only, listener: null, createdSeq, boundSeq: 0,
    listenSeq: 0, group: null, remote: { addr: dst, port: dport },
  };
}

const ESTABLISHED = 1;
const TIME_WAIT = 2;
/** Slots scanned rather than indexed by port. */
const SMALL = 32;

// Plain arrays of small integers, not typed arrays: the audit makes ~100,000 small runs, and an
// ArrayBuffer each (made, grown, tracked by the GC) cost more there than the bench gained.

/**
 * Slots of client connections; beyond SMALL slots also chained per local port (ports' heads and
 * tails in lazily made pages of 256 ports).
 */
export class ClientConns {
  /** Live connections. */
  live = 0;
  /** Slots ever used; slots below it that are free are chained from freeHead through next. */
  private top = 0;
  private freeHead = -1;
  private readonly local: IpAddr[] = [];
  private readonly remote: IpAddr[] = [];
  private readonly proc: string[] = [];
  private readonly port: number[] = [];
  private readonly rport: number[] = [];
  private readonly uid: number[] = [];
  private readonly id: number[] = [];
  private readonly seq: number[] = [];
  private readonly state: number[] = [];
  /** Whether a bind() before the connect made the socket IPv6-only (a specific IPv6 source). */
  private readonly v6only: boolean[] = [];
  private readonly next: number[] = [];
  private readonly prev: number[] = [];
  /** Whether slots are chained per port (beyond SMALL slots; below, a scan of the slots is cheaper than the pages). */
  private indexed = false;
  /** Per page of 256 ports: [head + 1, tail + 1] of each port's chain (0: none). */
  private readonly pages: (number[] | undefined)[] = [];

  add(src: IpAddr, sport: number, dst: IpAddr, dport: number, proc: string, uid: number, id: number, seq: number, v6only = false): number {
    let s = this.freeHead;
    if (s >= 0) this.freeHead = this.next[s]!;
    else s = this.top++;
    // s is at most the arrays' length: a new slot appends.
    this.local[s] = src; this.remote[s] = dst; this.proc[s] = proc;
    this.port[s] = sport; this.rport[s] = dport; this.uid[s] = uid; this.id[s] = id; this.seq[s] = seq;
    this.state[s] = ESTABLISHED;
    this.v6only[s] = v6only;
    this.next[s] = -1;
    this.prev[s] = -1;
    if (this.indexed) this.link(s);
    else if (this.top > SMALL) {
      this.indexed = true;
      for (let i = 0; i < this.top; i++) if (this.state[i] !== 0) this.link(i);
    }
    this.live++;
    return s;
  }

  remove(s: number): void {
    if (this.indexed) {
      const sport = this.port[s]!;
      const page = this.pages[sport >>> 8]!;
      const at = (sport & 255) * 2;
      const p = this.prev[s]!;
      const n = this.next[s]!;
      if (p >= 0) this.next[p] = n; else page[at] = n + 1;
      if (n >= 0) this.prev[n] = p; else page[at + 1] = p + 1;
    }
    this.state[s] = 0;
    this.next[s] = this.freeHead;
    this.freeHead = s;
    this.live--;
  }

  /** Appends slot s to its port's chain. */
  private link(s: number): void {
    const sport = this.port[s]!;
    let page = this.pages[sport >>> 8];
    if (page === undefined) this.pages[sport >>> 8] = page = new Array<number>(512).fill(0);
    const at = (sport & 255) * 2;
    const tail = page[at + 1]! - 1;
    this.prev[s] = tail;
    this.next[s] = -1;
    if (tail >= 0) this.next[tail] = s; else page[at] = s + 1;
    page[at + 1] = s + 1;
  }

  timeWait(s: number): void {
    this.state[s] = TIME_WAIT;
  }

  /** Whether anything holds the port. */
  holds(port: number): boolean {
    if (!this.indexed) {
      for (let s = 0; s < this.top; s++) if (this.state[s] !== 0 && this.port[s] === port) return true;
      return false;
    }
    const page = this.pages[port >>> 8];
    return page !== undefined && page[(port & 255) * 2] !== 0;
  }

  /** The slot of the port's connection with this 4-tuple, or -1 (see HostState.clientPortFree). */
  tupleSlot(port: number, src: IpAddr, dst: IpAddr, dport: number): number {
    if (!this.indexed) {
      for (let s = 0; s < this.top; s++) if (this.state[s] !== 0 && this.port[s] === port && this.sameTuple(s, src, dst, dport)) return s;
      return -1;
    }
    const page = this.pages[port >>> 8];
    if (page === undefined) return -1;
    for (let s = page[(port & 255) * 2]! - 1; s >= 0; s = this.next[s]!) if (this.sameTuple(s, src, dst, dport)) return s;
    return -1;
  }

  /**
   * What the port's connections of this 4-tuple are: bit 1, one is there; bit 2, one of them is
   * in TIME_WAIT (for PortTupleBits).
   */
  tupleStates(port: number, src: IpAddr, dst: IpAddr, dport: number): number {
    let out = 0;
    if (!this.indexed) {
      for (let s = 0; s < this.top; s++) {
        if (this.state[s] !== 0 && this.port[s] === port && this.sameTuple(s, src, dst, dport)) out |= this.state[s] === TIME_WAIT ? 3 : 1;
      }
      return out;
    }
    const page = this.pages[port >>> 8];
    if (page === undefined) return 0;
    for (let s = page[(port & 255) * 2]! - 1; s >= 0; s = this.next[s]!) {
      if (this.sameTuple(s, src, dst, dport)) out |= this.state[s] === TIME_WAIT ? 3 : 1;
    }
    return out;
  }

  /** Calls f with the 4-tuple of every live slot. */
  eachTuple(f: (src: IpAddr, sport: number, dst: IpAddr, dport: number) => void): void {
    for (let s = 0; s < this.top; s++) if (this.state[s] !== 0) f(this.local[s]!, this.port[s]!, this.remote[s]!, this.rport[s]!);
  }

  /** The 4-tuple of a live slot. */
  tupleOf(s: number): { src: IpAddr; sport: number; dst: IpAddr; dport: number } {
    return { src: this.local[s]!, sport: this.port[s]!, dst: this.remote[s]!, dport: this.rport[s]! };
  }

  /** The socket id of a live slot (-1 when the slot is free). */
  idOf(s: number): number {
    return this.state[s] !== 0 ? this.id[s]! : -1;
  }

  private sameTuple(s: number, src: IpAddr, dst: IpAddr, dport: number): boolean {
    if (this.rport[s] !== dport) return false;
    const r = this.remote[s]!;
    const l = this.local[s]!;
    return (r === dst || r.text === dst.text) && (l === src || l.text === src.text);
  }

  /**
   * Every live connection as a Sock, in connect order (createdSeq grows with it; so each port's
   * connections come in the order they took the port); `out(slot, sock)` gets each.
   */
  materialise(hostName: string, out: (slot: number, sock: Sock) => void): void {
    const slots: number[] = [];
    for (let s = 0; s < this.top; s++) if (this.state[s] !== 0) slots.push(s);
    slots.sort((a, b) => this.seq[a]! - this.seq[b]!);
    for (const s of slots) {
      out(s, clientSock(this.id[s]!, hostName, this.proc[s]!, this.uid[s]!, this.local[s]!, this.port[s]!, this.remote[s]!, this.rport[s]!,
        this.seq[s]!, this.state[s] === TIME_WAIT ? 'TIME_WAIT' : 'ESTABLISHED', this.v6only[s]!));
    }
  }
}

/**
 * Client connections in TIME_WAIT in expiry order (expiries are added in time order): a FIFO of
 * (host, slot, until), so 100,000 waiting connections are no objects.
 */
export class ClientTimeWaits<H> {
  private hosts: H[] = [];
  private slots: number[] = [];
  /** The connection's socket id: a TIME_WAIT taken over early frees its slot for another connection. */
  private ids: number[] = [];
  private until: number[] = [];
  private head = 0;

  push(host: H, slot: number, id: number, until: number): void {
    this.hosts.push(host);
    this.slots.push(slot);
    this.ids.push(id);
    this.until.push(until);
  }

  /** Ends every TIME_WAIT due by now: `end(host, slot, id)` for each, oldest first. */
  expire(now: number, end: (host: H, slot: number, id: number) => void): void {
    let head = this.head;
    const until = this.until;
    const n = until.length;
    while (head < n && until[head]! <= now) {
      end(this.hosts[head]!, this.slots[head]!, this.ids[head]!);
      head++;
    }
    this.head = head;
    if (head > 4096 && head * 2 > n) {
      this.hosts = this.hosts.slice(head);
      this.slots = this.slots.slice(head);
      this.ids = this.ids.slice(head);
      this.until = until.slice(head);
      this.head = 0;
    }
  }
}
