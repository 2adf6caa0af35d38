// A host's `routes:` (docs/scenario-format.md) after validateTree: each checked as Linux's
// `ip route add` checks it, so that a scenario the kernel would refuse is refused here with
// file:line:col, and the kernel harness can install every route the emulator uses.

import { inSubnet, parseCidr, parseIp, type Cidr, type IpAddr } from '../emu/addr.js';
import type { TreeMap, TreeNode } from './schema.js';
import type { Interface, RouteSpec, SourcePos } from './types.js';

/** The metric `ip route add` gives a route without one: 0 for IPv4, IP6_RT_PRIO_USER (1024) for IPv6 [include/net/ip6_route.h]. */
export const DEFAULT_METRIC = { 4: 0, 6: 1024 } as const;
/** The metric of an IPv4 connected route [net/ipv4/fib_frontend.c fib_add_ifaddr: ifa_rt_priority 0] and an IPv6 one [net/ipv6/addrconf.c IP6_RT_PRIO_ADDRCONF = 256]. */
export const CONNECTED_METRIC = { 4: 0, 6: 256 } as const;

const field = (m: TreeMap, key: string): TreeNode | undefined => m.entries.find((e) => e.key === key)?.value;
const str = (n: TreeNode): string => String((n as { value: unknown }).value);

/** Whether a prefix has host bits set (10.1.0.5/16): the kernel refuses it [net/ipv4/fib_frontend.c rtm_to_fib_config → fib_table_insert: key & ~mask → "Invalid prefix for given prefix length"]. */
function hostBits(c: Cidr): boolean {
  const b = c.addr.bytes;
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, c.prefix - i * 8));
    if ((b[i]! & (0xff >> keep)) !== 0) return true;
  }
  return false;
}

/**
 * The routes of host `host` with interfaces `ifaces`, in order; `fail` throws a positioned error.
 * Checks, as the kernel's route add does: via and/or dev; one family throughout; dev an interface
 * of the host; the gateway on a connected subnet (of dev when given) or an earlier device route
 * [net/ipv4/fib_semantics.c fib_check_nh_v4_gw: the gateway must be reachable by a link-scope
 * route; net/ipv6/route.c ip6_validate_gw]; src an address of the host, on any interface (seen on
 * 6.18 for IPv6 too) [net/ipv4/fib_semantics.c fib_valid_prefsrc; ip6_route_info_create]; no second route
 * to one prefix with one metric [fib_table_insert, fib6_add_rt2node: NLM_F_EXCL → -EEXIST].
 */
export function parseRoutes(host: string, ifaces: readonly Interface[], nodes: readonly TreeNode[],
  fail: (pos: SourcePos, message: string) => never): RouteSpec[] {
  const out: RouteSpec[] = [];
  const own = (a: IpAddr): boolean => ifaces.some((i) => i.addresses.some((c) => c.addr.text === a.text));
  for (const node of nodes) {
    const m = node as TreeMap;
    const toNode = field(m, 'to')!;
    const viaNode = field(m, 'via');
    const devNode = field(m, 'dev');
    const metricNode = field(m, 'metric');
    const srcNode = field(m, 'src');
    const via = viaNode ? parseIp(str(viaNode))! : undefined;
    const src = srcNode ? parseIp(str(srcNode))! : undefined;
    const toText = str(toNode);
    let to: Cidr;
    if (toText === 'default') {
      const family = via?.family ?? src?.family;
      if (!family) fail(toNode.pos, `route "default" of host "${host}" with only a device: write to: 0.0.0.0/0 or ::/0 to say which family`);
      to = parseCidr(family === 4 ? '0.0.0.0/0' : '::/0')!;
    } else {
      to = parseCidr(toText)!;
      if (hostBits(to)) fail(toNode.pos, `route destination "${toText}" has bits set past its /${to.prefix}; the kernel refuses it (write the network, e.g. the address with those bits zero)`);
    }
    const fam = to.addr.family;
    if (!viaNode && !devNode) fail(m.pos, `route to ${toText} of host "${host}" needs a gateway (via) or a device (dev), or both`);
    for (const [n, a] of [[viaNode, via], [srcNode, src]] as const) {
      if (n && a && a.family !== fam) fail(n.pos, `route to ${toText} is IPv${fam} but ${str(n)} is IPv${a.family}`);
    }
    let dev: Interface | undefined;
    if (devNode) {
      dev = ifaces.find((i) => i.name === str(devNode));
      if (!dev) fail(devNode.pos, `route device "${str(devNode)}" is not an interface of host "${host}"; its interfaces: ${ifaces.map((i) => i.name).join(', ')}`);
    }
    if (via) {
      // The kernel takes it (a nexthop it reaches over its own loopback); bindlab does not model that.
      if (own(via)) fail(viaNode!.pos, `route gateway ${via.text} is an address of host "${host}" itself; bindlab does not model a gateway on the host itself`);
      // On-link: a connected subnet, or an earlier route without a gateway (a device route).
      let best: { iface: Interface; prefix: number } | undefined;
      for (const i of ifaces) {
        if (dev && i !== dev) continue;
        for (const c of i.addresses) if (c.addr.family === fam && c.prefix < (fam === 4 ? 32 : 128) && inSubnet(c, via) && (!best || c.prefix > best.prefix)) best = { iface: i, prefix: c.prefix };
      }
      for (const r of out) {
        if (r.via || (dev && r.dev !== dev.name) || r.to.addr.family !== fam || !inSubnet(r.to, via)) continue;
        if (!best || r.to.prefix > best.prefix) best = { iface: ifaces.find((i) => i.name === r.dev)!, prefix: r.to.prefix };
      }
      // A link-local IPv6 gateway is on the link of the device named.
      if (!best && dev && fam === 6 && via.bytes[0] === 0xfe && (via.bytes[1]! & 0xc0) === 0x80) best = { iface: dev, prefix: 64 };
      if (!best) {
        fail(viaNode!.pos, `route gateway ${via.text} is on no connected subnet of host "${host}"${dev ? ` on ${dev.name}` : ''}: the kernel refuses a gateway it cannot reach on a link ("Nexthop has invalid gateway")`);
      }
      dev ??= best.iface;
    }
    if (src && srcNode && !own(src)) fail(srcNode.pos, `route source ${src.text} is not an address of host "${host}"; the kernel refuses it ("Invalid prefsrc address")`);
    const metric = metricNode ? Number((metricNode as { value: number }).value) : DEFAULT_METRIC[fam];
    const twice = out.find((r) => r.to.text === to.text && r.metric === metric);
    if (twice) fail(toNode.pos, `host "${host}" already has a route to ${to.text} with metric ${metric} (line ${twice.pos.line}); the kernel refuses a second one (EEXIST): give it another metric`);
    if (metric === CONNECTED_METRIC[fam]) {
      const conn = ifaces.find((i) => i.addresses.some((c) => c.addr.family === fam && c.prefix === to.prefix && inSubnet(to, c.addr)));
      if (conn) fail(toNode.pos, `route to ${to.text} with metric ${metric} is the connected route of ${conn.name}'s address; the kernel refuses a second one (EEXIST): give it another metric`);
    }
    out.push({ to, ...(via ? { via } : {}), dev: dev!.name, metric, ...(src ? { src } : {}), pos: m.pos });
  }
  return out;
}
