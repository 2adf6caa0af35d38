// A host's UDP sockets: their own port space beside TCP's (a UDP bind never meets a TCP socket),
// its multicast memberships per interface, and the HostView the policies' UDP rules get, whose
// owners(port) yields the port's UDP sockets (src/emu/policy/udp-types.ts).

import type { IpAddr } from '../addr.js';
import type { HostState } from '../host.js';
import type { BindBucket, HostView, Sock } from '../policy/types.js';
import type { UdpSock } from '../policy/udp-types.js';

/** A UDP socket as the socket layer keeps it: what policies see, and where its multicast leaves. */
export interface UdpSocket extends UdpSock {
  /** IP_MULTICAST_IF: an interface name, or null for the route's choice. */
  multicastIf: string | null;
}

export function isUdpSock(sk: Sock): sk is UdpSocket {
  return (sk as Partial<UdpSocket>).udp !== undefined;
}

const NONE: readonly UdpSocket[] = [];

export class UdpTables {
  /** Bound sockets per port, in bind order (boundSeq ascending). */
  private readonly byPort = new Map<number, UdpSocket[]>();
  /** Sockets of the host that joined each group on each interface: "IFACE GROUP" -> count. */
  private readonly groups = new Map<string, number>();
  /** The view the policy's UDP rules get. */
  readonly view: HostView;

  constructor(readonly host: HostState) {
    this.view = new UdpHostView(host, this);
  }

  owners(port: number): readonly UdpSocket[] {
    return this.byPort.get(port) ?? NONE;
  }

  add(sk: UdpSocket): void {
    const l = this.byPort.get(sk.port);
    if (l) l.push(sk); else this.byPort.set(sk.port, [sk]);
    this.byPort.get(sk.port)!.sort((a, b) => a.boundSeq - b.boundSeq);
  }

  remove(sk: UdpSocket): void {
    const l = this.byPort.get(sk.port);
    if (!l) return;
    const i = l.indexOf(sk);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.byPort.delete(sk.port);
  }

  /** Re-sorts a port after a socket's boundSeq changed (connect() rehashed it). */
  resort(port: number): void {
    this.byPort.get(port)?.sort((a, b) => a.boundSeq - b.boundSeq);
  }

  /** Counts a socket's membership; true when it is the host's first on that interface (a report goes out). */
  join(device: string, group: IpAddr): boolean {
    const k = `${device} ${group.text}`;
    const n = this.groups.get(k) ?? 0;
    this.groups.set(k, n + 1);
    return n === 0;
  }

  /** Drops one membership; true when it was the host's last on that interface. */
  leave(device: string, group: IpAddr): boolean {
    const k = `${device} ${group.text}`;
    const n = this.groups.get(k) ?? 0;
    if (n <= 1) { this.groups.delete(k); return n === 1; }
    this.groups.set(k, n - 1);
    return false;
  }

  /** Whether some socket of the host joined the group on the interface. */
  member(device: string, group: IpAddr): boolean {
    return this.groups.has(`${device} ${group.text}`);
  }
}

/**
 * The host as the policy's UDP rules see it: everything but the port tables is the host's own
 * (addresses, sysctl, the seeded random). A class that delegates, not Object.create(host): a host
 * made a prototype leaves V8's fast paths, and every run got 2.5 times slower.
 */
class UdpHostView implements HostView {
  constructor(private readonly host: HostState, private readonly tables: UdpTables) {}
  get name(): string { return this.host.name; }
  get interfaces(): readonly string[] { return this.host.interfaces; }
  get sysctl(): HostView['sysctl'] { return this.host.sysctl; }
  addresses(family: 4 | 6): readonly IpAddr[] { return this.host.addresses(family); }
  isLocal(addr: IpAddr): boolean { return this.host.isLocal(addr); }
  interfaceOf(addr: IpAddr): string | undefined { return this.host.interfaceOf(addr); }
  random(n: number): number { return this.host.random(n); }
  owners(port: number): Iterable<Sock> { return this.tables.owners(port); }
  portHeld(port: number): boolean { return this.tables.owners(port).length > 0; }
  // Linux's bind buckets are TCP's fast path; UDP has none.
  bindBucket(): BindBucket | undefined { return undefined; }
  setBindBucket(): void {}
}
