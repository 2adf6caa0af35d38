// The UDP socket layer (issue 18): datagram sockets with their own port space, bind and
// connect(2) by the policy's UDP rules, multicast memberships with their IGMPv3/MLDv2 reports,
// delivery at a host (the policy's `udp.deliver`) and a receiver's reply source; datagram steps
// (route, ARP/NDP, delivery, ICMP, replies) are datagrams.ts's. The engine (src/emu/engine.ts)
// hands UDP steps and sockets here.

import { IPV4_ANY, IPV6_ANY, formatEndpoint, isLoopback, isMulticast, isV4Mapped, isWildcard, v4FromMapped, v4ToMapped, type IpAddr } from '../addr.js';
import type { HostState, IfaceState } from '../host.js';
import { ownerView, ownersRecord } from '../decision-record.js';
import { conflictInfo, conflictOf } from '../conflict-info.js';
import type { HostView, Sock, SockOpts } from '../policy/types.js';
import type { DatagramInfo, DeliveryResult, UdpRules } from '../policy/udp-types.js';
import type { ConflictInfo, DecisionCandidate } from '../results.js';
import { hashString, mix32 } from '../rng.js';
import { writeUdpFrame } from '../wire/udp.js';
import { CHANGE_TO_EXCLUDE, CHANGE_TO_INCLUDE, quotedLength } from '../wire/icmp.js';
import { OPTION_NAMES, UDP_OPTION_NAMES, type DatagramStep, type MembershipStep, type OptionName, type SockOptions, type UdpConnectStep, type UdpOptionName } from '../../scenario/types.js';
import type { UdpContext } from './context.js';
import { UdpTables, isUdpSock, type UdpSocket } from './tables.js';
import { dnsTxtResponse, parseDnsQuery } from './dns.js';
import { Datagrams, type DatagramOutcome } from './datagrams.js';
import { IcmpLimiter, groupReport } from './side-packets.js';
import { LOOPBACK_V4, LOOPBACK_V6, type PendingRouterError, datagramRoute, isBroadcastAt, wire } from './routed.js';
import type { Arrival, StepMemo } from './step-memo.js';

const ZERO_MAC = new Uint8Array(6);
/** Groups every host is in without a join, never reported: all-hosts and all-nodes [net/ipv4/igmp.c IGMP_ALL_HOSTS; net/ipv6/mcast.c]. */
const ALL_HOSTS = new Set(['224.0.0.1', 'ff02::1']);
const UDP_SET: ReadonlySet<string> = new Set(UDP_OPTION_NAMES);
/** Linux's: IP_PKTINFO [net/ipv4/ip_sockglue.c do_ip_setsockopt], no IP_RECVDSTADDR (include/uapi/linux/in.h defines none: ENOPROTOOPT). */
const LINUX_DST_OPTIONS: NonNullable<UdpRules['dstAddrOptions']> = { pktinfo: true, recvdstaddr: false, cite: 'include/uapi/linux/in.h: no IP_RECVDSTADDR; net/ipv4/ip_sockglue.c do_ip_setsockopt → -ENOPROTOOPT' };
const TCP_SET: ReadonlySet<string> = new Set(OPTION_NAMES);

export type Outcome = { result: string; reason: string; conflict?: ConflictInfo };

const ep = (addr: IpAddr, port: number): string => formatEndpoint({ addr, port });

/** One for the process: a run is often tiny (an audit makes ~100,000), so nothing per run that need not be. */
const ENCODER = new TextEncoder();

export class UdpLayer {
  private readonly tables = new Map<HostState, UdpTables>();
  /** ICMP rate limit per host and peer. */
  /** @internal (udp/replay.ts) */
  readonly icmp: IcmpLimiter;
  private readonly encoder = ENCODER;
  private ipId = 0;
  /** Routers' errors for the current step's datagrams, written after them; when each router's neighbour resolution under way fails. */
  /** @internal (udp/datagrams.ts) */
  readonly routerErrors: PendingRouterError[] = [];
  /** @internal (udp/datagrams.ts) */
  readonly resolving = new Map<string, number>();
  /** The IPv4 id counters of datagramIpId, by socket or by source, destination and protocol. */
  private readonly ipIds = new Map<string, number>();

  private readonly datagrams = new Datagrams(this);

  constructor(readonly ctx: UdpContext) {
    this.icmp = new IcmpLimiter(ctx.policy.udp?.icmpRateLimit);
  }

  /** The policy's UDP rules, or undefined: UDP is not modelled under it. */
  get rules(): UdpRules | undefined {
    return this.ctx.policy.udp;
  }

  unsupported(): Outcome {
    return { result: 'unsupported', reason: `UDP is not modelled under policy ${this.ctx.policy.name} yet (it has no UDP rules): no guess is made [docs/scenario-format.md#udp]` };
  }

  tablesOf(host: HostState): UdpTables {
    let t = this.tables.get(host);
    if (!t) this.tables.set(host, (t = new UdpTables(host)));
    return t;
  }

  // ---- sockets ------------------------------------------------------------------------------

  socket(name: string, host: HostState, processName: string, family: 'inet' | 'inet6', options: SockOptions, kind: 'socket' | 'client' = 'socket'): Outcome & { sock?: UdpSocket } {
    if (!this.rules) return this.unsupported();
    if (!this.ctx.policy.families.includes(family)) return { result: 'EAFNOSUPPORT', reason: `${this.ctx.policy.name} has no ${family} sockets` };
    const opts: SockOpts = { reuseaddr: false, reuseport: false, reuseportLb: false, exclusive: false, v6only: false, freebind: false, device: null };
    const sk: UdpSocket = {
      id: this.ctx.nextSockId(), name, kind, hostName: host.name, processName, uid: host.uids.get(processName) ?? 0, family, opts,
      state: 'CLOSE', local: null, port: 0, ipv6only: false, listener: null, createdSeq: this.ctx.nextSeq(), boundSeq: 0, listenSeq: 0,
      group: null, remote: null,
      // IPv4 IP_MULTICAST_ALL starts on for an AF_INET socket only [net/ipv4/af_inet.c inet_create:
      // inet_set_bit(MC_ALL); net/ipv6/af_inet6.c inet6_create sets no MC_ALL (np->mc_all is IPv6's)]
      udp: { broadcast: false, multicastLoop: true, multicastAll: family === 'inet', pktinfo: false, memberships: [] },
      multicastIf: null,
    };
    if (kind === 'socket') this.ctx.sockets.set(name, sk);
    const d = this.setOptions(sk, options);
    return d.result === 'ok' ? { result: 'ok', reason: `UDP socket ${name} created`, sock: sk } : d;
  }

  /** setsockopt: the datagram options here, the others by the policy's rules (as for TCP). */
  setOptions(sk: Sock, options: SockOptions): Outcome {
    const host = this.ctx.hosts.get(sk.hostName)!;
    // A TCP socket's options see the host itself: no UDP tables are made for it.
    const view: HostView = isUdpSock(sk) ? this.tablesOf(host).view : host;
    for (const [k, v] of Object.entries(options) as [string, boolean | string | undefined][]) {
      if (v === undefined) continue;
      if (UDP_SET.has(k)) {
        const d = this.udpOption(sk, k as UdpOptionName, v);
        if (d) return d;
      } else if (TCP_SET.has(k)) {
        const d = this.ctx.policy.setsockopt(sk, k as OptionName, v, view);
        if (d.errno) return { result: d.errno, reason: d.rule };
      }
    }
    return { result: 'ok', reason: 'options set' };
  }

  /** A datagram option; on a TCP socket it is accepted and changes nothing (as on Linux). Returns a failure, or null. */
  private udpOption(sk: Sock, option: UdpOptionName, value: boolean | string): Outcome | null {
    const on = value === true;
    // IPv6-level options on an inet socket: ENOPROTOOPT [net/ipv4/udp.c udp_setsockopt → ip_setsockopt: level != SOL_IP]
    if ((option === 'IPV6_MULTICAST_LOOP' || option === 'IPV6_RECVPKTINFO') && sk.family !== 'inet6') {
      return { result: 'ENOPROTOOPT', reason: `${option} is an IPv6 option and this is an inet socket [net/ipv4/ip_sockglue.c ip_setsockopt]` };
    }
    // IP_PKTINFO and IP_RECVDSTADDR exist by OS (UdpRules.dstAddrOptions; Linux: IP_PKTINFO only)
    const dstOpts = this.rules?.dstAddrOptions ?? LINUX_DST_OPTIONS;
    if ((option === 'IP_PKTINFO' && !dstOpts.pktinfo) || (option === 'IP_RECVDSTADDR' && !dstOpts.recvdstaddr)) {
      return { result: 'ENOPROTOOPT', reason: `${this.ctx.policy.name} has no ${option} [${dstOpts.cite}]` };
    }
    if (option === 'IP_MULTICAST_ALL' && !this.rules?.hasMulticastAll) {
      return { result: 'ENOPROTOOPT', reason: `IP_MULTICAST_ALL is Linux's (2.6.31 and later); ${this.ctx.policy.name} has no such option` };
    }
    if (!isUdpSock(sk)) return null;
    switch (option) {
      case 'SO_BROADCAST': sk.udp.broadcast = on; break;
      case 'IP_MULTICAST_LOOP':
      case 'IPV6_MULTICAST_LOOP': sk.udp.multicastLoop = on; break;
      case 'IP_MULTICAST_ALL': sk.udp.multicastAll = on; break;
      case 'IP_PKTINFO':
      case 'IPV6_RECVPKTINFO': sk.udp.pktinfo = on; break;
      // Learning the address is not replying from it: that takes IP_SENDSRCADDR, where the OS has it
      case 'IP_RECVDSTADDR': sk.udp.recvDstAddr = on && dstOpts.recvdstaddr === 'reply-from'; break;
      case 'IP_MULTICAST_IF': {
        const dev = typeof value === 'string' && value !== '' ? value : null;
        // Another interface than the socket's SO_BINDTODEVICE [net/ipv4/ip_sockglue.c do_ip_setsockopt
        // IP_MULTICAST_IF: sk_bound_dev_if && imr_ifindex != sk_bound_dev_if → -EINVAL]; "" (index 0) resets first
        if (dev && sk.opts.device && dev !== sk.opts.device) {
          return { result: 'EINVAL', reason: `IP_MULTICAST_IF ${dev} is not ${sk.name}'s bound device ${sk.opts.device} [net/ipv4/ip_sockglue.c do_ip_setsockopt]` };
        }
        sk.multicastIf = dev;
        break;
      }
    }
    return null;
  }

  bind(sk: UdpSocket, addr: IpAddr, port: number): Outcome {
    const rules = this.rules;
    if (!rules) return this.unsupported();
    const host = this.ctx.hosts.get(sk.hostName)!;
    const t = this.tablesOf(host);
    const before = this.ctx.recording && port !== 0 ? t.owners(port).map(ownerView) : null;
    const d = rules.bind(sk, addr, port, t.view);
    if (this.ctx.recording) {
      const owners = before ?? (d.port ? t.owners(d.port).map(ownerView) : []);
      this.ctx.record(ownersRecord(this.ctx.stepIndex, 'bind', sk.hostName, ep(addr, d.port ?? port), owners, d.conflict, d.errno ?? 'ok', d.rule));
    }
    if (d.errno) {
      if (sk.group) this.leaveGroup(sk);
      return { result: d.errno, reason: d.rule, ...conflictOf(d) };
    }
    sk.local = addr;
    sk.port = d.port ?? port;
    sk.boundSeq = this.ctx.nextSeq();
    t.add(sk);
    return { result: 'ok', reason: `bound ${ep(addr, sk.port)}: ${d.rule}` };
  }

  /** sendto()/connect() on an unbound socket binds the wildcard and a free port first [net/ipv4/af_inet.c inet_autobind]. */
  /** @internal (udp/datagrams.ts) */
  autobind(sk: UdpSocket): Outcome | null {
    if (sk.port !== 0) return null;
    const d = this.bind(sk, sk.family === 'inet6' ? IPV6_ANY : IPV4_ANY, 0);
    return d.result === 'ok' ? null : d;
  }

  /** connect(2) on a UDP socket: its peer, and a wildcard local address fixed to the route's source. */
  connect(step: UdpConnectStep): Outcome {
    if (!this.rules) return this.unsupported();
    const sk = this.ctx.sockets.get(step.socket);
    if (!sk || !isUdpSock(sk)) return { result: 'EBADF', reason: `socket ${step.socket} is not open` };
    const host = this.ctx.hosts.get(sk.hostName)!;
    let dst = wire(step.to.addr);
    // A v4-mapped peer on an IPv6-only socket [net/ipv6/datagram.c __ip6_datagram_connect: ipv6_only_sock → -ENETUNREACH]
    if (isV4Mapped(step.to.addr) && sk.ipv6only) return { result: 'ENETUNREACH', reason: 'an IPv6-only socket cannot connect to a v4-mapped address [net/ipv6/datagram.c __ip6_datagram_connect]' };
    if (isWildcard(dst)) dst = dst.family === 4 ? LOOPBACK_V4 : LOOPBACK_V6;
    const route = datagramRoute(this.ctx, host, sk, dst, null);
    if ('errno' in route) return { result: route.errno, reason: route.reason };
    // After the route: its error comes first [net/ipv6/ip6_output.c ip6_dst_lookup_tail]
    const mapped = this.mappedToV6(sk, step.to.addr);
    if (mapped) return mapped;
    // A broadcast peer needs SO_BROADCAST [net/ipv4/datagram.c __ip4_datagram_connect: RTCF_BROADCAST && !SOCK_BROADCAST → -EACCES]
    if (route.cast === 'broadcast' && !sk.udp.broadcast) return { result: 'EACCES', reason: `${dst.text} is a broadcast address and ${sk.name} lacks SO_BROADCAST [net/ipv4/datagram.c __ip4_datagram_connect]` };
    const failed = this.autobind(sk);
    if (failed) return failed;
    const t = this.tablesOf(host);
    let moved = '';
    if (sk.local && isWildcard(sk.local)) {
      // The local address becomes the route's source, and the socket is rehashed to it (leaving a
      // SO_REUSEPORT group) [net/ipv4/datagram.c __ip4_datagram_connect: inet_rcv_saddr = fl4->saddr,
      // sk_prot->rehash; net/ipv4/udp.c udp_lib_rehash: reuseport_detach_sock]
      sk.local = sk.family === 'inet6' && route.src.family === 4 ? v4ToMapped(route.src) : route.src;
      if (sk.group) this.leaveGroup(sk);
      sk.boundSeq = this.ctx.nextSeq();
      t.resort(sk.port);
      moved = `; its local address becomes ${route.src.text}, the route's source`;
    }
    sk.state = 'ESTABLISHED';
    sk.remote = { addr: sk.family === 'inet6' && dst.family === 4 ? v4ToMapped(dst) : dst, port: step.to.port };
    return { result: 'ok', reason: `${sk.name} connected to ${ep(dst, step.to.port)}${moved} [net/ipv4/datagram.c __ip4_datagram_connect; net/ipv6/datagram.c __ip6_datagram_connect]` };
  }

  /**
   * An AF_INET6 socket whose local address is v4-mapped (bound to ::ffff:a.b.c.d, or connected to
   * a v4-mapped peer, which maps its source) cannot send or connect to an IPv6 address: IPv4-mapped
   * sources never go on the wire [net/ipv6/ip6_output.c ip6_dst_lookup_tail: v4-mapped saddr and a
   * daddr neither v4-mapped nor any → -EAFNOSUPPORT (upstream ec5e3b0a1d41)]. null: it may.
   */
  /** @internal (udp/datagrams.ts) */
  mappedToV6(sk: UdpSocket, to: IpAddr): Outcome | null {
    // (a socket bound to ::ffff:0.0.0.0 is left sending, as main's first version of this rule had it)
    if (sk.family !== 'inet6' || !sk.local || !isV4Mapped(sk.local) || isWildcard(v4FromMapped(sk.local)) || to.family !== 6 || isV4Mapped(to) || isWildcard(to)) return null;
    return { result: 'EAFNOSUPPORT', reason: `${sk.name}'s local address ${sk.local.text} is v4-mapped: it cannot reach the IPv6 address ${to.text} [net/ipv6/ip6_output.c ip6_dst_lookup_tail]` };
  }

  /** Leaves the socket's SO_REUSEPORT group: the last member takes its slot [net/core/sock_reuseport.c reuseport_detach_sock]. */
  /** @internal (udp/datagrams.ts) */
  leaveGroup(sk: Sock): void {
    const g = sk.group;
    if (!g) return;
    const i = g.members.indexOf(sk);
    const last = g.members.pop()!;
    if (last !== sk && i >= 0) g.members[i] = last;
    sk.group = null;
  }

  join(step: MembershipStep): Outcome {
    if (!this.rules) return this.unsupported();
    const sk = this.ctx.sockets.get(step.socket);
    if (!sk || !isUdpSock(sk)) return { result: 'EBADF', reason: `socket ${step.socket} is not open` };
    const host = this.ctx.hosts.get(sk.hostName)!;
    const group = step.group;
    const v6 = group.family === 6;
    const iface = this.groupInterface(host, step);
    // No interface for the group [net/ipv4/igmp.c ip_mc_join_group: ip_mc_find_dev → -ENODEV]
    if (!iface) return { result: 'ENODEV', reason: `no route to ${group.text} picks an interface [net/ipv4/igmp.c ip_mc_find_dev]` };
    const cite = v6 ? 'net/ipv6/mcast.c ipv6_sock_mc_join' : 'net/ipv4/igmp.c __ip_mc_join_group';
    const list = sk.udp.memberships;
    if (step.kind === 'join') {
      // The same group on the same interface twice [__ip_mc_join_group / __ipv6_sock_mc_join: -EADDRINUSE]
      if (list.some((m) => m.group.text === group.text && m.device === iface.name)) {
        return { result: 'EADDRINUSE', reason: `${sk.name} already joined ${group.text} on ${iface.name} [${cite}]` };
      }
      // The newest membership first, as the kernel's list [__ip_mc_join_group: iml->next_rcu = inet->mc_list]
      list.unshift({ group, device: iface.name });
      const first = this.tablesOf(host).join(iface.name, group);
      const reported = first && !ALL_HOSTS.has(group.text) ? groupReport(this.ctx, iface, group, CHANGE_TO_EXCLUDE) : '';
      return { result: 'ok', reason: `${sk.name} joined ${group.text} on ${host.name}/${iface.name}${reported} [${cite}]` };
    }
    // IPv4 without an interface under Linux: the route's (ip_mc_find_dev fills imr_ifindex in, then
    // only a membership there matches) [net/ipv4/igmp.c ip_mc_leave_group, ip_mc_find_dev]; IPv6 with
    // ifindex 0, and the BSDs: the first membership of the group on any interface [net/ipv6/mcast.c
    // ipv6_sock_mc_drop; FreeBSD sys/netinet/in_mcast.c inp_leave_group → imo_match_group, ifp NULL]
    const anyDevice = step.interface === undefined && (v6 || !this.rules.leaveByRouteInterface);
    const i = list.findIndex((m) => m.group.text === group.text && (anyDevice || m.device === iface.name));
    const dropCite = v6 ? 'net/ipv6/mcast.c ipv6_sock_mc_drop' : 'net/ipv4/igmp.c ip_mc_leave_group';
    if (i < 0) return { result: 'EADDRNOTAVAIL', reason: `${sk.name} is not a member of ${group.text}${anyDevice ? '' : ` on ${iface.name}${step.interface ? '' : ' (the route\'s interface to the group)'}`} [${dropCite}]` };
    const [m] = list.splice(i, 1);
    return { result: 'ok', reason: `${sk.name} left ${group.text} on ${host.name}/${m!.device}${this.dropMembership(host, m!.device, group)} [${dropCite}]` };
  }

  /** A membership goes: the host reports leaving when it was its last on the interface. */
  private dropMembership(host: HostState, device: string, group: IpAddr): string {
    const last = this.tablesOf(host).leave(device, group);
    const iface = host.ifaces.find((i) => i.name === device);
    return last && iface && !ALL_HOSTS.has(group.text) ? groupReport(this.ctx, iface, group, CHANGE_TO_INCLUDE) : '';
  }

  /** The interface of a join: the one named, else the route's to the group [net/ipv4/igmp.c ip_mc_find_dev; net/ipv6/mcast.c __ipv6_sock_mc_join: rt6_lookup]. */
  private groupInterface(host: HostState, step: MembershipStep): IfaceState | undefined {
    if (step.interface) return host.ifaces.find((i) => i.name === step.interface);
    return this.ctx.routeIface(host, step.group);
  }

  /** close(2): out of the port's table, its group, and its memberships. */
  close(sk: UdpSocket): Outcome {
    const host = this.ctx.hosts.get(sk.hostName)!;
    if (sk.port !== 0) this.tablesOf(host).remove(sk);
    this.leaveGroup(sk);
    // The socket's memberships go with it [net/ipv4/igmp.c ip_mc_drop_socket; net/ipv6/mcast.c ipv6_sock_mc_close]
    let reports = '';
    for (const m of sk.udp.memberships.splice(0)) reports += this.dropMembership(host, m.device, m.group);
    this.ctx.sockets.delete(sk.name);
    sk.state = 'CLOSE';
    return { result: 'ok', reason: `closed${reports}` };
  }

  // ---- datagrams ----------------------------------------------------------------------------

  /** A datagram step: every datagram's result, its receivers and the sources of their replies (datagrams.ts). */
  datagram(step: DatagramStep): DatagramOutcome {
    return this.datagrams.datagram(step);
  }

  /** The policy's delivery at one host, or null when the datagram is not for it (another subnet's broadcast). */
  /** @internal (udp/replay.ts) */
  deliverAt(a: Arrival, cast: 'unicast' | 'broadcast' | 'multicast', src: IpAddr, sport: number, dst: IpAddr, dport: number,
    hash: number, index: number, to: string, packet: 'datagram' | 'reply' = 'datagram'): DeliveryResult | null {
    const h = a.host;
    // A broadcast is the host's only to 255.255.255.255 or one of its subnets' broadcast addresses
    // [net/ipv4/route.c ip_route_input_slow: RTN_BROADCAST]; another is not for it (no forwarding).
    if (cast === 'broadcast' && !isBroadcastAt(h, dst)) return null;
    const t = this.tablesOf(h);
    const hostMember = cast === 'multicast' && (ALL_HOSTS.has(dst.text) || t.member(a.iface.name, dst));
    const notes = this.ctx.recording ? new Map<Sock, string[]>() : null;
    // The spreads only when there is something to add (object spread is V8's slow path)
    const dg: DatagramInfo = !a.loopedFrom && !notes ? { dst, dport, src, sport, inDevice: a.inDevice, cast, hash, hostMember } : {
      dst, dport, src, sport, inDevice: a.inDevice, cast, hash, hostMember,
      ...(a.loopedFrom ? { loopedFrom: a.loopedFrom } : {}),
      ...(notes ? { note: (sk: Sock, words: string) => { const l = notes.get(sk); if (l) l.push(words); else notes.set(sk, [words]); } } : {}),
    };
    const socks = t.owners(dport);
    const res = this.rules!.deliver(dg, socks, t.view);
    if (notes) {
      const got = new Set<Sock>(res.receivers);
      const group = new Set<Sock>(res.candidates);
      const candidates = socks.map((sk): DecisionCandidate => {
        const n = notes.get(sk);
        return { ...conflictInfo(sk), verdict: got.has(sk) ? 'accepted' : group.has(sk) ? 'group' : 'passed-over', ...(n ? { notes: n } : {}) };
      });
      const result = res.receivers.length ? res.receivers.map((r) => r.name).sort().join('+') : res.action === 'port-unreachable' ? 'port-unreachable' : 'dropped';
      this.ctx.record({ step: this.ctx.stepIndex, connection: index, kind: 'lookup', packet, host: h.name, address: to, ingress: a.inDevice, candidates, result, rule: res.rule });
    }
    return res;
  }

  /**
   * Where receiver r's reply to client leaves from, and why: its bound address; with IP_PKTINFO the
   * address the datagram came to; else the route's source toward the sender (the loopback's when
   * `back`) [net/ipv4/udp.c udp_sendmsg: inet_saddr, ipc.addr from IP_PKTINFO's ipi_spec_dst
   * (fib_compute_spec_dst), else ip_route_output_flow's saddr]. undefined: no route.
   */
  /** @internal (udp/replay.ts) */
  replySource(r: UdpSocket, h: HostState, cast: 'unicast' | 'broadcast' | 'multicast', back: boolean, route: { readonly src: IpAddr } | null,
    qdst: IpAddr, client: IpAddr): { src: IpAddr | undefined; how: string } {
    const bound = r.local && !isWildcard(r.local) ? wire(r.local) : null;
    const specific = bound && !isMulticast(bound) && !(bound.family === 4 && isBroadcastAt(h, bound)) ? bound : null;
    if (specific) return { src: specific, how: 'its bound address' };
    if (r.udp.pktinfo && cast === 'unicast') return { src: qdst, how: 'the address the query came to (IP_PKTINFO)' };
    if (r.udp.recvDstAddr && cast === 'unicast') return { src: qdst, how: 'the address the query came to (IP_RECVDSTADDR, sent back as IP_SENDSRCADDR)' };
    const src = back ? (isLoopback(client) ? (client.family === 4 ? LOOPBACK_V4 : LOOPBACK_V6) : this.ctx.localSource(h, client)) : route?.src;
    return { src, how: 'the route\'s source toward the sender' };
  }

  /** A receiver's reply payload: a DNS query is answered in DNS (dns.ts), anything else with the banner. */
  /** @internal (udp/replay.ts) */
  replyPayload(r: UdpSocket, query: Uint8Array): Uint8Array {
    return this.replyPayloadOf(r, query).payload;
  }

  /** replyPayload, and whether it is a DNS answer. */
  /** @internal (udp/datagrams.ts) */
  replyPayloadOf(r: UdpSocket, query: Uint8Array): { payload: Uint8Array; dns: boolean } {
    const banner = `bindlab ${r.hostName}/${r.processName}/${r.name}`;
    const dns = parseDnsQuery(query);
    return dns ? { payload: dnsTxtResponse(dns, this.encoder.encode(banner)), dns: true } : { payload: this.encoder.encode(`${banner}\r\n`), dns: false };
  }

  /** UTF-8 of a step's data. */
  /** @internal (udp/datagrams.ts) */
  encode(text: string): Uint8Array {
    return this.encoder.encode(text);
  }

  /** @internal (udp/replay.ts) */
  replyComment(r: UdpSocket, at: string, how: string, cast: 'unicast' | 'broadcast' | 'multicast', src: IpAddr, qdst: IpAddr, qport: number): string {
    const differs = cast === 'unicast' && src.text !== qdst.text;
    return `bindlab ${this.ctx.policy.name}: ${r.name}'s reply leaves from ${at}, ${how}${differs ? `, not ${ep(qdst, qport)} the datagram went to (a client that checks the source drops it: why multi-homed UDP servers bind each address)` : ''}`;
  }

  /** The offending datagram as an ICMP error quotes it: its IP header on, cut to what fits. */
  /** @internal (udp/datagrams.ts) */
  quote(src: IpAddr, dst: IpAddr, sport: number, dport: number, payload: Uint8Array, ttl: number, ipId: number, df: boolean): Uint8Array {
    const buf = new Uint8Array(14 + 48 + payload.length);
    const len = writeUdpFrame(buf, { srcMac: ZERO_MAC, dstMac: ZERO_MAC, src, dst, ttl, ipId, dontFragment: df, srcPort: sport, dstPort: dport, payload });
    return buf.slice(14, 14 + quotedLength(dst.family, len - 14));
  }

  /**
   * IPv4 id of a datagram: Linux ('per-socket') counts per connected socket from a random start
   * (inet_id, set at connect), and for an unconnected socket (or an ICMP error, not under DF)
   * per source, destination and protocol from a random start [include/net/ip.h
   * ip_select_ident_segs, net/ipv4/route.c __ip_select_ident]: seen on 6.18, never 0. FreeBSD
   * ('zero-with-df') sends 0 under DF; 'random' a random id; 'host-counter' one host counter.
   */
  /** @internal (udp/replay.ts) */
  datagramIpId(sk: UdpSocket | null, src: IpAddr, dst: IpAddr, proto: number, memo: StepMemo | null = null): number {
    const fp = this.ctx.policy.fingerprint;
    if (src.family === 6) return 0;
    if (fp.ipId === 'zero-with-df' && fp.dontFragment && sk) return 0;
    if (fp.ipId === 'random') { this.ipId = (this.ipId + 1) & 0xffff; return mix32(this.ctx.seed ^ this.ipId ^ 0x1d) & 0xffff; }
    const key = memo ? ipIdKeyIn(memo, fp.ipId, sk, src, dst, proto) : ipIdKey(fp.ipId, sk, src, dst, proto);
    const next = this.ipIds.get(key) ?? (hashString(this.ctx.seed, `ipid ${key}`) & 0xffff);
    this.ipIds.set(key, (next + 1) & 0xffff);
    return next;
  }

}

/** The counter of datagramIpId: one host counter, a connected socket's own, else per source, destination and protocol. */
function ipIdKey(mode: string, sk: UdpSocket | null, src: IpAddr, dst: IpAddr, proto: number): string {
  return mode === 'host-counter' ? `host ${sk?.hostName ?? src.text}` : sk && sk.state === 'ESTABLISHED' ? `sock ${sk.id}` : `${src.text} ${dst.text} ${proto}`;
}

/** ipIdKey, the same string again for the step's same few (a socket's state does not change within a step). */
function ipIdKeyIn(memo: StepMemo, mode: string, sk: UdpSocket | null, src: IpAddr, dst: IpAddr, proto: number): string {
  for (const e of memo.ipIdKeys) if (e.sk === sk && e.src === src && e.dst === dst && e.proto === proto) return e.key;
  const key = ipIdKey(mode, sk, src, dst, proto);
  if (memo.ipIdKeys.length < 16) memo.ipIdKeys.push({ sk, src, dst, proto, key });
  return key;
}
