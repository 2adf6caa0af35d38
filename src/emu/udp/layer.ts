// The UDP socket layer (issue 18): datagram sockets with their own port space, bind and
// connect(2) by the policy's UDP rules, multicast memberships with their IGMPv3/MLDv2 reports,
// and datagram steps: the sender's route and source, ARP/NDP, delivery to one socket or a copy to
// each (the policy's `udp.deliver`), ICMP port unreachable, and each receiver's reply from the
// source address its OS picks. The engine (src/emu/engine.ts) hands UDP steps and sockets here.

import { IPV4_ANY, IPV6_ANY, formatEndpoint, isLoopback, isMulticast, isV4Mapped, isWildcard, v4FromMapped, v4ToMapped, type IpAddr } from '../addr.js';
import type { HostState, IfaceState } from '../host.js';
import { ownerView, ownersRecord } from '../decision-record.js';
import { conflictInfo, conflictOf } from '../conflict-info.js';
import { datagramPacketRecord, withStep } from '../packet-record.js';
import { describe } from '../policy/common.js';
import type { HostView, Sock, SockOpts } from '../policy/types.js';
import type { DatagramInfo, DeliveryResult, UdpRules } from '../policy/udp-types.js';
import type { ConflictInfo, DatagramDelivery, DecisionCandidate } from '../results.js';
import { hashString, hashTuple, mix32 } from '../rng.js';
import { multicastMac } from '../wire/frame.js';
import { writeUdpFrame } from '../wire/udp.js';
import { CHANGE_TO_EXCLUDE, CHANGE_TO_INCLUDE, quotedLength, writePortUnreachableFrame } from '../wire/icmp.js';
import { OPTION_NAMES, UDP_OPTION_NAMES, type DatagramStep, type MembershipStep, type OptionName, type SockOptions, type UdpConnectStep, type UdpOptionName } from '../../scenario/types.js';
import type { UdpContext } from './context.js';
import { UdpTables, isUdpSock, type UdpSocket } from './tables.js';
import { dnsQuery, dnsTxtResponse, parseDnsQuery } from './dns.js';
import { neighbour, neighbourAt } from './neighbours.js';
import { IcmpLimiter, groupReport } from './side-packets.js';
import { LOOPBACK_V4, LOOPBACK_V6, type PendingRouterError, carry, routerAsks, datagramRoute, firstHop, hopsLatency, isBroadcastAt, portUnreachableBack, routerError, sendRouterError, sendScope, strongHostDrop, walkPast, wire } from './routed.js';
import { hopsText, type Hop, type Walk } from '../forwarding.js';

const BROADCAST_MAC = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC = new Uint8Array(6);
/** Groups every host is in without a join, never reported: all-hosts and all-nodes [net/ipv4/igmp.c IGMP_ALL_HOSTS; net/ipv6/mcast.c]. */
const ALL_HOSTS = new Set(['224.0.0.1', 'ff02::1']);
/** Gap between the datagrams of one step, and between the replies to one datagram. */
const DATAGRAM_GAP_NS = 100_000;
const REPLY_GAP_NS = 1_000;
/** The TTL / hop limit of multicast: IP_MULTICAST_TTL and IPV6_MULTICAST_HOPS default to 1 [net/ipv4/af_inet.c inet_create: mc_ttl = 1; net/ipv6/af_inet6.c inet6_create: IPV6_DEFAULT_MCASTHOPS]. */
const MULTICAST_TTL = 1;
const UDP_SET: ReadonlySet<string> = new Set(UDP_OPTION_NAMES);
/** Linux's: IP_PKTINFO [net/ipv4/ip_sockglue.c do_ip_setsockopt], no IP_RECVDSTADDR (include/uapi/linux/in.h defines none: ENOPROTOOPT). */
const LINUX_DST_OPTIONS: NonNullable<UdpRules['dstAddrOptions']> = { pktinfo: true, recvdstaddr: false, cite: 'include/uapi/linux/in.h: no IP_RECVDSTADDR; net/ipv4/ip_sockglue.c do_ip_setsockopt → -ENOPROTOOPT' };
const TCP_SET: ReadonlySet<string> = new Set(OPTION_NAMES);

type Outcome = { result: string; reason: string; conflict?: ConflictInfo };

/** One datagram's fate: the step's result word, the receivers, the replies' sources, why. */
interface Sent {
  readonly result: string;
  readonly receivers: readonly UdpSocket[];
  readonly replyFrom: readonly string[];
  readonly reason: string;
  /** Results this policy could as well have given: a SO_REUSEPORT group's members for a pick from it, else [result]. */
  readonly candidates: readonly string[];
}

/** Where a datagram arrives: a host, the interface it comes in on, and (looped back) the socket that sent it. */
interface Arrival {
  readonly host: HostState;
  readonly iface: IfaceState;
  /** The device the sockets see it on (the address's own for the host's own unicast). */
  readonly inDevice: string;
  readonly loopedFrom?: UdpSocket;
  /** How it is taken there when not as sent: a directed broadcast that a router's subnet has. */
  readonly cast?: 'broadcast';
}

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
  private readonly routerErrors: PendingRouterError[] = [];
  private readonly resolving = new Map<string, number>();
  /** The IPv4 id counters of datagramIpId, by socket or by source, destination and protocol. */
  private readonly ipIds = new Map<string, number>();

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
  private autobind(sk: UdpSocket): Outcome | null {
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
  private mappedToV6(sk: UdpSocket, to: IpAddr): Outcome | null {
    // (a socket bound to ::ffff:0.0.0.0 is left sending, as main's first version of this rule had it)
    if (sk.family !== 'inet6' || !sk.local || !isV4Mapped(sk.local) || isWildcard(v4FromMapped(sk.local)) || to.family !== 6 || isV4Mapped(to) || isWildcard(to)) return null;
    return { result: 'EAFNOSUPPORT', reason: `${sk.name}'s local address ${sk.local.text} is v4-mapped: it cannot reach the IPv6 address ${to.text} [net/ipv6/ip6_output.c ip6_dst_lookup_tail]` };
  }

  /** Leaves the socket's SO_REUSEPORT group: the last member takes its slot [net/core/sock_reuseport.c reuseport_detach_sock]. */
  private leaveGroup(sk: Sock): void {
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

  /** A datagram step: every datagram's result, its receivers and the sources of their replies. */
  datagram(step: DatagramStep): Outcome & { results: string[]; deliveries: DatagramDelivery[]; candidates: (readonly string[])[] } {
    // A step that sends nothing has that result for each of its datagrams.
    const none = (o: Outcome): Outcome & { results: string[]; deliveries: DatagramDelivery[]; candidates: (readonly string[])[] } => ({
      ...o, results: new Array<string>(step.count).fill(o.result),
      deliveries: Array.from({ length: step.count }, () => ({ receivers: [] })), candidates: new Array<readonly string[]>(step.count).fill([]),
    });
    if (!this.rules) return none(this.unsupported());
    let sk: UdpSocket;
    let fresh = false;
    if (step.socket !== undefined) {
      const s = this.ctx.sockets.get(step.socket);
      if (!s || !isUdpSock(s)) return none({ result: 'EBADF', reason: `socket ${step.socket} is not open` });
      sk = s;
    } else {
      const host = this.ctx.hosts.get(step.from!)!;
      // A fresh socket of the destination's family (a v4-mapped destination is IPv4)
      const family = wire(step.to.addr).family === 6 ? 'inet6' : 'inet';
      // Named for what it is in explain and the captures' comments: the sender's own fresh socket.
      const made = this.socket('(sendto socket)', host, step.fromProcess ?? '', family, {}, 'client');
      if (!made.sock) return none(made);
      sk = made.sock;
      // A tool's socket (dig, nc -u -b, a DHCP client): it may send to a broadcast address, as the
      // kernel harness's fresh sockets do; a scenario socket needs SO_BROADCAST set by its steps.
      sk.udp.broadcast = true;
      fresh = true;
      if (step.source) {
        const d = this.bind(sk, wire(step.source.addr), step.source.port ?? 0);
        if (d.result !== 'ok') { this.leaveGroup(sk); return none(d); }
      }
    }
    const failed = this.autobind(sk);
    if (failed) return none(failed);
    const results: string[] = [];
    const deliveries: DatagramDelivery[] = [];
    const candidates: (readonly string[])[] = [];
    let reason = '';
    for (let i = 0; i < step.count; i++) {
      const s = this.send(sk, step, i);
      results.push(s.result);
      deliveries.push({
        receivers: s.receivers.map((r) => `${r.hostName}/${r.processName}/${r.name}`),
        ...(step.reply ? { replyFrom: [...s.replyFrom] } : {}),
      });
      candidates.push(s.candidates);
      if (i === 0) reason = s.reason;
      this.ctx.now += DATAGRAM_GAP_NS;
    }
    // Routers' errors, in the order they leave (routed.ts sendRouterError); the step ends when the last is in.
    for (const p of this.routerErrors.splice(0).sort((a, b) => a.at + a.e.waitNs - (b.at + b.e.waitNs))) {
      this.ctx.now = Math.max(this.ctx.now, sendRouterError(this.ctx, p) + DATAGRAM_GAP_NS);
    }
    if (fresh) {
      // The fresh socket is closed after the step (not through close(): it has no scenario name).
      this.tablesOf(this.ctx.hosts.get(sk.hostName)!).remove(sk);
      this.leaveGroup(sk);
    }
    return { result: results[0]!, reason, results, deliveries, candidates };
  }

  /** One datagram from sk: route, neighbour, the frame, delivery at each host it reaches, ICMP and replies. */
  private send(sk: UdpSocket, step: DatagramStep, index: number): Sent {
    const ctx = this.ctx;
    const rules = this.rules!;
    const host = ctx.hosts.get(sk.hostName)!;
    const fp = ctx.policy.fingerprint;
    let dst = wire(step.to.addr);
    const dport = step.to.port;
    const to = ep(dst, dport);
    const fail = (result: string, reason: string, record = true): Sent => {
      if (record && ctx.recording) ctx.record({ step: ctx.stepIndex, connection: index, kind: 'route', host: host.name, address: to, candidates: [], result, rule: reason });
      return { result, receivers: [], replyFrom: [], reason, candidates: [result] };
    };
    // A v4-mapped destination from an IPv6-only socket [net/ipv6/udp.c udpv6_sendmsg: ipv6_only_sock → -ENETUNREACH]
    if (isV4Mapped(step.to.addr) && sk.ipv6only) return fail('ENETUNREACH', 'an IPv6-only socket cannot send to a v4-mapped address [net/ipv6/udp.c udpv6_sendmsg]');
    // sendto(0.0.0.0 / ::) goes to the loopback [net/ipv4/route.c ip_route_output_key_hash_rcu: !daddr → loopback]
    if (isWildcard(dst)) dst = dst.family === 4 ? LOOPBACK_V4 : LOOPBACK_V6;
    const route = datagramRoute(this.ctx, host, sk, dst, step.interface ?? (isMulticast(dst) ? sk.multicastIf : null));
    if ('errno' in route) return fail(route.errno, route.reason);
    // A v4-mapped source toward IPv6, once the route is found [net/ipv6/ip6_output.c ip6_dst_lookup_tail: the route's error first]
    const mapped = this.mappedToV6(sk, step.to.addr);
    if (mapped) return fail(mapped.result, mapped.reason);
    const { cast, iface: out, src } = route;
    // Broadcast needs SO_BROADCAST [net/ipv4/udp.c udp_sendmsg: RTCF_BROADCAST && !SOCK_BROADCAST → -EACCES]
    if (cast === 'broadcast' && !sk.udp.broadcast) {
      return fail('EACCES', `${dst.text} is a broadcast address and the sending socket lacks SO_BROADCAST [net/ipv4/udp.c udp_sendmsg]`);
    }
    const sport = sk.port;
    const link = out.link;
    const lat = link.latencyNs;
    const ttl = cast === 'multicast' ? MULTICAST_TTL : dst.family === 6 ? fp.hopLimit : fp.ttl;
    // Where it arrives, and with what destination MAC.
    const arrivals: Arrival[] = [];
    let dstMac: Uint8Array;
    /** The links a unicast datagram crosses (routed.ts); a walk that ends short of a host taking it; why a strong host does not. */
    let hops: readonly Hop[] = [];
    let stopped: (Walk & { kind: 'dropped' | 'icmp' }) | null = null;
    let notTaken: string | null = null;
    if (route.local) {
      dstMac = ZERO_MAC;
      // Over the loopback, the sockets see the device holding the address [net/ipv4/route.c ip_route_output_key_hash_rcu: RTN_LOCAL orig_oif]
      const holder = host.ifaceOwning(dst);
      arrivals.push({ host, iface: out, inDevice: holder?.name ?? 'lo' });
    } else if (cast === 'unicast') {
      // To the route's gateway, or to dst on the link; then on through routers (routed.ts).
      const next = route.via ?? dst;
      const owner = neighbour(this.ctx, host, out, src, next, index, to);
      if (!owner) return fail('unreachable', `no host on link ${link.name} answers for ${next.text}${next === dst ? '' : ` (the gateway to ${dst.text})`}; the datagram is never sent [net/core/neighbour.c, net/ipv4/arp.c]`, false);
      dstMac = owner.mac;
      const w = walkPast(ctx, out, owner, next, src, dst, ttl);
      if (w === null) arrivals.push({ host: owner.host, iface: owner, inDevice: owner.name });
      else {
        hops = w.hops;
        if (w.kind !== 'arrived') stopped = w;
        else if ((notTaken = strongHostDrop(ctx, w.at, dst)) === null) {
          // A directed broadcast of the last router's subnet is that router's own, not forwarded
          // [net/ipv4/route.c ip_route_input_slow: RTN_BROADCAST → brd_input; bc_forwarding 0]
          arrivals.push({ host: w.at.host, iface: w.at, inDevice: w.at.name, ...(isBroadcastAt(w.at.host, dst) ? { cast: 'broadcast' as const } : {}) });
        }
      }
    } else {
      dstMac = cast === 'broadcast' ? BROADCAST_MAC : multicastMac(dst);
      // Only on the sender's link: routers do not forward them. A broadcast is delivered to the
      // router itself [net/ipv4/route.c ip_route_input_slow: RTN_BROADCAST → local; a directed one
      // is forwarded only with bc_forwarding, default 0; RFC 1812 §5.3.5.1], multicast only by a
      // multicast routing daemon [ip_route_input_mc: IN_DEV_MFORWARD, set by net/ipv4/ipmr.c MRT_INIT]
      for (const m of link.members) if (m.host !== host) arrivals.push({ host: m.host, iface: m, inDevice: m.name });
      // Broadcast always comes back to the sending host; multicast unless IP_MULTICAST_LOOP is off
      // [net/ipv4/ip_output.c ip_mc_output: RTCF_BROADCAST clone; sk_mc_loop; net/ipv6/ip6_output.c ip6_finish_output2]
      if (cast === 'broadcast' || sk.udp.multicastLoop) arrivals.push({ host, iface: out, inDevice: out.name, loopedFrom: sk });
    }
    const t0 = ctx.now;
    const hash = hashTuple(ctx.seed, src.bytes, sport, dst.bytes, dport);
    // Each host's decision, before any frame: the datagram's own comment says what came of it.
    const receivers: UdpSocket[] = [];
    const decided: { arrival: Arrival; res: DeliveryResult }[] = [];
    for (const a of arrivals) {
      const res = this.deliverAt(a, a.cast ?? cast, src, sport, dst, dport, hash, index, to);
      if (res) { decided.push({ arrival: a, res }); receivers.push(...(res.receivers as UdpSocket[])); }
    }
    const unreachable = decided.filter((d) => d.res.action === 'port-unreachable');
    // When it arrives (the routers' neighbour discovery, written with the frames, adds to it: see `late`).
    const arrives = t0 + (hops.length > 1 ? hopsLatency(hops) : lat);
    // A router's ICMP error (routed.ts), decided as it arrives there.
    const routerErr = stopped?.kind === 'icmp' ? routerError(ctx, this.icmp, this.resolving, stopped, host, src, dst, arrives) : null;
    // ICMP port unreachable from each host that had nobody for a unicast, as its per-peer rate
    // limit lets it: a withheld one leaves the sender with nothing, `dropped` [net/ipv4/icmp.c
    // icmpv4_xrlim_allow; net/ipv6/icmp.c icmpv6_xrlim_allow]
    let t = arrives;
    const icmpAt: { arrival: Arrival; t: number }[] = [];
    for (const { arrival } of unreachable) {
      if (!this.icmp.allowed(arrival.host, src, route.local, t)) continue;
      icmpAt.push({ arrival, t });
      t += REPLY_GAP_NS;
    }
    const result = receivers.length > 0 ? receivers.map((r) => r.name).sort().join('+') : icmpAt.length > 0 ? 'port-unreachable' : routerErr?.reached ? 'unreachable' : 'dropped';
    const withheld = receivers.length === 0 && unreachable.length > 0 && icmpAt.length === 0
      ? `; the ICMP port unreachable is withheld by the per-peer rate limit, the sender sees nothing [net/ipv4/icmp.c icmpv4_xrlim_allow; net/ipv6/icmp.c icmpv6_xrlim_allow]` : '';
    // Through routers the reason starts with the way it went (forwarding.ts hopsText; a loop cut short).
    const way = hops.length > 6 ? `${hopsText(hops.slice(0, 4))} → … (${hops.length} links in all)` : hopsText(hops);
    const reason = (hops.length > 1 ? `${way}: ` : '') + (routerErr ? routerErr.why : stopped ? stopped.why : notTaken ? notTaken
      : decided.length === 1 ? decided[0]!.res.rule
      : decided.length === 0 ? `no host on link ${link.name} takes ${to} [net/ipv4/ip_input.c ip_rcv_finish]`
      : decided.map((d) => `${d.arrival.host.name}: ${d.res.rule}`).join('; ')) + withheld;
    // The datagram itself.
    // A `query:` step sends a DNS query whose ID is the seed's for this step and datagram.
    const payload = step.query ? dnsQuery(hashString(ctx.seed, `dns id ${ctx.stepIndex} ${index}`) & 0xffff, step.query.name, step.query.qtype) : this.encoder.encode(step.data ?? '');
    const ipId = this.datagramIpId(sk, src, dst, 17);
    const who = receivers.length ? `received by ${receivers.map((r) => describe(r)).join(' and ')}` : result === 'port-unreachable' ? 'refused: nobody takes it, ICMP port unreachable'
      : withheld ? 'dropped: nobody takes it, its ICMP rate-limited' : stopped || notTaken ? `${result === 'unreachable' ? 'answered by a router' : 'dropped'} on its way` : 'dropped: nobody takes it';
    const comment = ctx.capturing ? `bindlab ${ctx.policy.name}: datagram ${index + 1} to ${to} ${who}. ${reason}` : '';
    const record = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, to, receivers.length ? 'received' : result, receivers, reason), ctx.stepIndex) : undefined;
    const spec = { srcMac: out.mac, dstMac, src, dst, ttl, ipId, dontFragment: fp.dontFragment, srcPort: sport, dstPort: dport, payload };
    /** How much later than `arrives` it got there: the routers' neighbour discovery. */
    let late = 0;
    if (hops.length > 0) late = carry(ctx, hops, t0, { kind: 'udp', spec }, comment, record) - arrives;
    else if (ctx.capturing) ctx.emit(link, t0, writeUdpFrame(ctx.frame, spec), comment, record);
    // The datagram as the last host got it: what an ICMP error quotes.
    const lastTtl = ttl - Math.max(0, hops.length - 1);
    // A router's error is written once the step's datagrams are out: they do not wait for it (datagram()).
    if (routerErr) {
      routerAsks(ctx, routerErr, arrives + late, 0);
      const errRecord = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, to, result, [], routerErr.why, 'icmp'), ctx.stepIndex) : undefined;
      this.routerErrors.push({ e: routerErr, src, at: arrives + late, quoted: this.quote(src, dst, sport, dport, payload, lastTtl, ipId, fp.dontFragment), index, record: errRecord });
    }
    t += late;
    // The ICMP errors the rate limit let go.
    let quoted: Uint8Array | null = null;
    for (const { arrival, t: at } of icmpAt) {
      if (!ctx.capturing && hops.length <= 1) continue;
      quoted ??= this.quote(src, dst, sport, dport, payload, lastTtl, ipId, fp.dontFragment);
      const f = { srcMac: arrival.iface.mac, dstMac: out.mac, src: dst, dst: src, ttl: dst.family === 6 ? fp.hopLimit : fp.ttl, ipId: this.datagramIpId(null, dst, src, 1), dontFragment: false, tos: dst.family === 6 ? 0 : 0xc0 };
      const note = `bindlab ${ctx.policy.name}: ICMP${dst.family === 6 ? 'v6' : ''} port unreachable for ${to}`;
      const rec = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, to, 'port-unreachable', [], unreachable[0]!.res.rule, 'icmp'), ctx.stepIndex) : undefined;
      // Through routers it goes back by the host's own route (routed.ts); on one link straight back.
      if (hops.length > 1) t = Math.max(t, portUnreachableBack(ctx, arrival.iface, dst, src, at + late, f, quoted, note, rec));
      else ctx.emit(arrival.iface.link, at, writePortUnreachableFrame(ctx.frame, f, quoted), note, rec);
    }
    const replyFrom: string[] = [];
    if (step.reply) {
      for (const { arrival, res } of decided) {
        for (const r of res.receivers as UdpSocket[]) {
          const from = this.reply(r, arrival, cast, route.local, dst, dport, src, sport, sk, t, payload, index);
          replyFrom.push(from.at);
          t = from.t + REPLY_GAP_NS;
        }
      }
    }
    ctx.now = Math.max(ctx.now, t + lat);
    // One receiver picked from a group: any member was as likely; else the result itself.
    const only = decided.length === 1 && receivers.length === 1 ? decided[0]!.res.candidates : [];
    const candidates = only.length > 1 ? only.map((s) => s.name) : [result];
    return { result, receivers, replyFrom, reason, candidates };
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
    const dg: DatagramInfo = {
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
   * A receiver's answer (`bindlab HOST/PROC/SOCKET\r\n`) from the source its OS picks: its bound
   * address; with IP_PKTINFO the address the datagram came to; else the route's source toward the
   * sender [net/ipv4/udp.c udp_sendmsg: inet_saddr, ipc.addr from IP_PKTINFO's ipi_spec_dst
   * (fib_compute_spec_dst), else ip_route_output_flow's saddr]. Delivered at the sender like any
   * datagram (a sender connected elsewhere refuses it: ICMP port unreachable back). `at` is the
   * source as the sending socket sees it: `none` when the reply never reaches that socket (it is
   * connected to another peer, bound to a group or broadcast address, or nothing came back), as a
   * recvfrom() on it would tell [net/ipv4/udp.c __udp4_lib_lookup: the reply's lookup picks another
   * socket or none].
   */
  private reply(r: UdpSocket, arrival: Arrival, cast: 'unicast' | 'broadcast' | 'multicast', local: boolean, qdst: IpAddr, qport: number,
    client: IpAddr, cport: number, sender: UdpSocket, t: number, query: Uint8Array, index: number): { at: string; t: number } {
    const ctx = this.ctx;
    const clientHost = ctx.hosts.get(sender.hostName)!;
    const h = arrival.host;
    const fp = ctx.policy.fingerprint;
    const back = local || h === clientHost;
    const route = back ? null : ctx.egress(h, client);
    const { src, how } = this.replySource(r, h, cast, back, route, qdst, client);
    const port = r.port;
    if (!src) return { at: 'none', t };
    const at = ep(src, port);
    const payload = this.replyPayload(r, query);
    const comment = this.replyComment(r, at, how, cast, src, qdst, qport);
    // The path back: the loopback, or the route toward the sender (by the policy's Routing.send:
    // routed.ts sendScope), a neighbour there, and on through routers.
    const ttl = client.family === 6 ? fp.hopLimit : fp.ttl;
    let out: IfaceState;
    let peer: IfaceState | null;
    let w: Walk | null = null;
    if (back) { out = ctx.loopbackOf(h); peer = out; }
    else {
      if (!route) return { at: 'none', t };
      const oif = sendScope(ctx, h, src);
      const first = oif && oif !== route.iface ? firstHop(ctx, h, client, oif) : { iface: route.iface, next: route.via ?? client };
      if (!first) return { at: 'none', t };
      out = first.iface;
      peer = neighbourAt(this.ctx, h, out, src, first.next, t);
      t = ctx.now > t ? ctx.now : t;
      if (peer) w = walkPast(ctx, out, peer, first.next, src, client, ttl);
    }
    const routed = w !== null && w.hops.length > 1;
    const stuck = w !== null && w.kind === 'icmp' ? w : null;
    const ipId = routed || stuck || ctx.capturing ? this.datagramIpId(r, src, client, 17) : 0;
    const spec = { srcMac: out.mac, dstMac: peer ? peer.mac : BROADCAST_MAC, src, dst: client, ttl, ipId, dontFragment: fp.dontFragment, srcPort: port, dstPort: cport, payload };
    const record = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, ep(client, cport), 'received', [r], comment, 'reply'), ctx.stepIndex) : undefined;
    const reachedAt = routed ? carry(ctx, w!.hops, t, { kind: 'udp', spec }, comment, record) : t + out.link.latencyNs;
    if (!routed && ctx.capturing) ctx.emit(out.link, t, writeUdpFrame(ctx.frame, spec), comment, record);
    // A router that cannot forward the reply answers its sender, after the step's datagrams (routed.ts).
    if (stuck) {
      const e = routerError(ctx, this.icmp, this.resolving, stuck, h, src, client, reachedAt);
      routerAsks(ctx, e, reachedAt, 0);
      const quoted = this.quote(src, client, port, cport, payload, ttl - (stuck.hops.length - 1), ipId, fp.dontFragment);
      const errRecord = ctx.capturing ? withStep(datagramPacketRecord(ctx.policy.name, ep(client, cport), 'dropped', [], e.why, 'icmp'), ctx.stepIndex) : undefined;
      this.routerErrors.push({ e, src, at: reachedAt, quoted, index, record: errRecord });
    }
    if (!peer) return { at: 'none', t };
    // Where it arrives: the loopback's host, or the end of its walk, where a strong host may not take it (routed.ts).
    const end = back ? peer : w === null ? peer : w.kind === 'arrived' ? w.at : null;
    const there = end && (back || strongHostDrop(ctx, end, client) === null) ? end : null;
    if (!there) return { at: 'none', t };
    // Delivered at the sender's host like any datagram.
    const res = this.deliverAt({ host: there.host, iface: there, inDevice: back ? (clientHost.ifaceOwning(client)?.name ?? 'lo') : there.name }, 'unicast', src, port, client, cport,
      hashTuple(ctx.seed, src.bytes, port, client.bytes, cport), index, ep(client, cport), 'reply');
    if (res && res.action === 'port-unreachable' && ctx.capturing && this.icmp.allowed(there.host, src, back, t)) {
      const q = this.quote(src, client, port, cport, payload, ttl - (routed ? w!.hops.length - 1 : 0), 0, fp.dontFragment);
      const f = { srcMac: there.mac, dstMac: out.mac, src: client, dst: src, ttl, ipId: this.datagramIpId(null, client, src, 1), dontFragment: false, tos: client.family === 6 ? 0 : 0xc0 };
      const note = `bindlab ${ctx.policy.name}: the sender refuses ${r.name}'s reply from ${at}: ICMP port unreachable. ${res.rule}`;
      const rec = withStep(datagramPacketRecord(ctx.policy.name, ep(client, cport), 'port-unreachable', [], res.rule, 'icmp'), ctx.stepIndex);
      if (routed) portUnreachableBack(ctx, there, client, src, t + hopsLatency(w!.hops), f, q, note, rec);
      else ctx.emit(there.link, t + out.link.latencyNs, writePortUnreachableFrame(ctx.frame, f, q), note, rec);
    }
    return { at: res && res.receivers.includes(sender) ? at : 'none', t };
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
    const banner = `bindlab ${r.hostName}/${r.processName}/${r.name}`;
    const dns = parseDnsQuery(query);
    return dns ? dnsTxtResponse(dns, this.encoder.encode(banner)) : this.encoder.encode(`${banner}\r\n`);
  }

  /** @internal (udp/replay.ts) */
  replyComment(r: UdpSocket, at: string, how: string, cast: 'unicast' | 'broadcast' | 'multicast', src: IpAddr, qdst: IpAddr, qport: number): string {
    const differs = cast === 'unicast' && src.text !== qdst.text;
    return `bindlab ${this.ctx.policy.name}: ${r.name}'s reply leaves from ${at}, ${how}${differs ? `, not ${ep(qdst, qport)} the datagram went to (a client that checks the source drops it: why multi-homed UDP servers bind each address)` : ''}`;
  }

  /** The offending datagram as an ICMP error quotes it: its IP header on, cut to what fits. */
  private quote(src: IpAddr, dst: IpAddr, sport: number, dport: number, payload: Uint8Array, ttl: number, ipId: number, df: boolean): Uint8Array {
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
  datagramIpId(sk: UdpSocket | null, src: IpAddr, dst: IpAddr, proto: number): number {
    const fp = this.ctx.policy.fingerprint;
    if (src.family === 6) return 0;
    if (fp.ipId === 'zero-with-df' && fp.dontFragment && sk) return 0;
    if (fp.ipId === 'random') { this.ipId = (this.ipId + 1) & 0xffff; return mix32(this.ctx.seed ^ this.ipId ^ 0x1d) & 0xffff; }
    const key = fp.ipId === 'host-counter' ? `host ${sk?.hostName ?? src.text}`
      : sk && sk.state === 'ESTABLISHED' ? `sock ${sk.id}` : `${src.text} ${dst.text} ${proto}`;
    const next = this.ipIds.get(key) ?? (hashString(this.ctx.seed, `ipid ${key}`) & 0xffff);
    this.ipIds.set(key, (next + 1) & 0xffff);
    return next;
  }

}

