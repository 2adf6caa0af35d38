// What the datagram layer sends besides datagrams (src/emu/udp/layer.ts): a host's group reports
// when its sockets join or leave, and the per-peer limit on its ICMP errors.

import { IPV4_ANY, IPV6_ANY, isLinkLocal6, type IpAddr } from '../addr.js';
import type { HostState, IfaceState } from '../host.js';
import type { UdpRules } from '../policy/udp-types.js';
import { multicastMac } from '../wire/frame.js';
import { CHANGE_TO_EXCLUDE, IGMPV3_ALL_ROUTERS, MLDV2_ALL_ROUTERS, writeGroupReportFrame } from '../wire/icmp.js';
import type { UdpContext } from './context.js';

/**
 * An IGMPv3 membership report (to 224.0.0.22) or MLDv2 listener report (to ff02::16) with one
 * record: a join is CHANGE_TO_EXCLUDE {}, a leave CHANGE_TO_INCLUDE {} [net/ipv4/igmp.c
 * igmpv3_send_cr, igmpv3_newpack: TTL 1, TOS 0xc0, Router Alert; net/ipv6/mcast.c mld_send_cr,
 * mld_newpack: hop limit 1, the link-local source or :: when there is none]. Linux repeats it
 * (robustness 2) within unsolicited_report_interval; the repeat is not shown.
 */
export function groupReport(ctx: UdpContext, iface: IfaceState, group: IpAddr, recordType: number): string {
  const v6 = group.family === 6;
  const what = recordType === CHANGE_TO_EXCLUDE ? 'join' : 'leave';
  if (!ctx.capturing) return `; ${v6 ? 'MLDv2' : 'IGMPv3'} report of the ${what}`;
  const src = v6 ? iface.addresses.find((c) => isLinkLocal6(c.addr))?.addr ?? IPV6_ANY : iface.addresses.find((c) => c.addr.family === 4)?.addr ?? IPV4_ANY;
  const dst = v6 ? MLDV2_ALL_ROUTERS : IGMPV3_ALL_ROUTERS;
  const len = writeGroupReportFrame(ctx.frame, {
    srcMac: iface.mac, dstMac: multicastMac(dst), src, dst, ttl: 1, ipId: 0, dontFragment: !v6, tos: v6 ? 0 : 0xc0,
  }, group, recordType);
  const comment = `bindlab ${ctx.policy.name}: ${iface.host.name} reports its ${what} of ${group.text} on ${iface.name} (${v6 ? 'MLDv2' : 'IGMPv3'})`;
  ctx.emit(iface.link, ctx.now, len, comment);
  return `; ${v6 ? 'MLDv2' : 'IGMPv3'} report of the ${what}`;
}

/** The policy's ICMP rate limit, per host and peer (UdpRules.icmpRateLimit). */
export class IcmpLimiter {
  private readonly tokens = new Map<string, { tokens: number; last: number }>();

  constructor(private readonly limit: UdpRules['icmpRateLimit']) {}

  /** The per-peer ICMP token bucket of the policy (none over the loopback). */
  allowed(host: HostState, peer: IpAddr, loopback: boolean, t: number): boolean {
    const limit = this.limit;
    if (!limit || loopback) return true;
    const k = `${host.name} ${peer.text}`;
    const interval = peer.family === 6 ? limit.v6IntervalNs ?? limit.intervalNs : limit.intervalNs;
    const max = limit.burst * interval;
    // A new peer starts full [net/ipv4/inetpeer.c inet_getpeer: rate_last = jiffies - 60 * HZ]
    const b = this.tokens.get(k) ?? { tokens: max, last: t };
    const tokens = Math.min(max, b.tokens + (t - b.last));
    const ok = tokens >= interval;
    this.tokens.set(k, { tokens: ok ? tokens - interval : tokens, last: t });
    return ok;
  }

  /**
   * A router's IPv4 net unreachable (no route for a packet it would forward): the policy's
   * routeError token first, from the same bucket capped lower, then the ICMP limit as for any error
   * [net/ipv4/route.c ip_error: rate_tokens capped at ip_rt_error_burst, less ip_rt_error_cost, then
   * icmp_send → icmpv4_xrlim_allow on the same inet_peer].
   */
  allowedRouteError(host: HostState, peer: IpAddr, t: number): boolean {
    const re = this.limit?.routeError;
    if (!re || peer.family !== 4) return this.allowed(host, peer, false, t);
    const k = `${host.name} ${peer.text}`;
    const b = this.tokens.get(k) ?? { tokens: this.limit!.burst * this.limit!.intervalNs, last: t };
    const tokens = Math.min(re.burstNs, b.tokens + (t - b.last));
    if (tokens < re.costNs) {
      this.tokens.set(k, { tokens, last: t });
      return false;
    }
    this.tokens.set(k, { tokens: tokens - re.costNs, last: t });
    return this.allowed(host, peer, false, t);
  }
}
