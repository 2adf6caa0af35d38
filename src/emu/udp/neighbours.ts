// Neighbour discovery for the datagram layer (src/emu/udp/layer.ts): ARP (IPv4) or neighbour
// solicitation (IPv6) before a unicast datagram or a receiver's reply, as the engine does for
// connects: the cache, else a request and the owner's answer, or unanswered requests.

import type { IpAddr } from '../addr.js';
import type { HostState, IfaceState } from '../host.js';
import { answersNeighbour } from '../routing.js';
import { datagramPacketRecord, withStep } from '../packet-record.js';
import { writeArpFrame, writeNdpFrame } from '../wire/frame.js';
import type { UdpContext } from './context.js';

const BROADCAST_MAC = new Uint8Array([255, 255, 255, 255, 255, 255]);
const ZERO_MAC = new Uint8Array(6);
/** Neighbour solicitations a sender makes before giving up (as for connects: Linux's mcast_solicit). */
const ARP_TRIES = 3;
const ARP_RETRANS_NS = 1e9;

/**
 * Who answers a host's neighbour discovery, kept for the datagrams of one step (layer.ts
 * StepMemo): the links' members and their addresses do not change within a step, only the
 * caches do (looked up each time). Keyed by the objects themselves: a step asks with the same few.
 */
export class Answerers {
  private readonly seen: { host: HostState; out: IfaceState; src: IpAddr | null; dst: IpAddr; owner: IfaceState | undefined }[] = [];

  /** answererOn, less an owner that has src itself when src is given (neighbour's martian rule). */
  get(ctx: UdpContext, host: HostState, out: IfaceState, src: IpAddr | null, dst: IpAddr): IfaceState | undefined {
    for (const e of this.seen) if (e.host === host && e.out === out && e.src === src && e.dst === dst) return e.owner;
    const owner = src === null ? answererOn(ctx, host, out, dst) : answererFrom(ctx, host, out, src, dst);
    // A step asks for a handful (its route's next hop, each reply's); more would be a scan
    if (this.seen.length < 16) this.seen.push({ host, out, src, dst, owner });
    return owner;
  }
}

/** The owner of dst that answers a request from src on out's link (answererOn), unless it has src itself. */
function answererFrom(ctx: UdpContext, host: HostState, out: IfaceState, src: IpAddr, dst: IpAddr): IfaceState | undefined {
  const owner = answererOn(ctx, host, out, dst);
  // A request whose sender address the owner has itself is a martian: no reply [net/ipv4/arp.c arp_process]
  return owner && dst.family === 4 && owner.host.ifaceOwning(src) ? undefined : owner;
}

/**
 * Neighbour discovery from the sender for dst on its link (as for connects): the cache, else a
 * request and the owner's answer, or three unanswered requests 1 s apart. Returns the owner.
 * `answerers`: the step's, when its datagrams share them.
 */
export function neighbour(ctx: UdpContext, host: HostState, out: IfaceState, src: IpAddr, dst: IpAddr, index: number, to: string, answerers: Answerers | null = null): IfaceState | null {
  const owner = answerers ? answerers.get(ctx, host, out, src, dst) : answererFrom(ctx, host, out, src, dst);
  if (owner && known(host, out, dst)) return owner;
  let t = ctx.now;
  const record = owner ? undefined : withStep(datagramPacketRecord(ctx.policy.name, to, 'unreachable', [], `no host on link ${out.link.name} has ${dst.text} [net/ipv4/arp.c]`), ctx.stepIndex);
  const tries = owner ? 1 : ARP_TRIES;
  for (let i = 0; i < tries; i++) {
    solicit(ctx, out, src, dst, t, owner ? undefined : `bindlab ${ctx.policy.name}: no host on link ${out.link.name} has ${dst.text}; unanswered (datagram ${index + 1})`, record);
    if (!owner) t += ARP_RETRANS_NS;
  }
  if (!owner) { ctx.now = t; return null; }
  t += out.link.latencyNs;
  advertise(ctx, owner, out, dst, src, t);
  learn(host, out, dst, owner, src);
  ctx.now = t + out.link.latencyNs;
  return owner;
}

/**
 * The member of out's link that answers neighbour discovery for dst by the policy's rule
 * (routing.ts answersNeighbour: Linux's IPv4 for any address of its host, otherwise its own), as
 * for connects; none when the hosts speak no IPv6 (the policy's families).
 */
function answererOn(ctx: UdpContext, host: HostState, out: IfaceState, dst: IpAddr): IfaceState | undefined {
  if (dst.family === 6 && !ctx.policy.families.includes('inet6')) return undefined;
  return out.link.members.find((m) => m.host !== host && answersNeighbour(ctx.policy.routing, m, dst));
}

/** Whether the host has an entry for dst: its own, or learnt on out from a request dst sent it (a router's, forwarded-frames.ts) [net/ipv4/arp.c arp_process: neigh_event_ns]. */
function known(host: HostState, out: IfaceState, dst: IpAddr): boolean {
  return host.neighbours.has(dst.text) || host.neighbours.has(`${out.name} ${dst.text}`);
}

/** Both ends keep the other's MAC; a router also by interface, as its hops look them up (forwarded-frames.ts). */
function learn(host: HostState, out: IfaceState, dst: IpAddr, owner: IfaceState, src: IpAddr): void {
  host.neighbours.set(dst.text, owner.mac);
  owner.host.neighbours.set(src.text, out.mac);
  if (host.forward) host.neighbours.set(`${out.name} ${dst.text}`, owner.mac);
  if (owner.host.forward) owner.host.neighbours.set(`${owner.name} ${src.text}`, out.mac);
}

/** The same for a receiver's reply at time t (the clock moves on only when frames were exchanged); null when nobody answers. */
export function neighbourAt(ctx: UdpContext, host: HostState, out: IfaceState, src: IpAddr, dst: IpAddr, t: number, answerers: Answerers | null = null): IfaceState | null {
  const owner = answerers ? answerers.get(ctx, host, out, null, dst) : answererOn(ctx, host, out, dst);
  if (owner && known(host, out, dst)) return owner;
  solicit(ctx, out, src, dst, t, owner ? undefined : `bindlab ${ctx.policy.name}: the reply's neighbour ${dst.text} is not on link ${out.link.name}`);
  if (!owner) return null;
  const at = t + out.link.latencyNs;
  advertise(ctx, owner, out, dst, src, at);
  learn(host, out, dst, owner, src);
  ctx.now = Math.max(ctx.now, at + out.link.latencyNs);
  return owner;
}

function solicit(ctx: UdpContext, out: IfaceState, src: IpAddr, dst: IpAddr, t: number, comment: string | undefined, record?: string): void {
  if (!ctx.capturing) return;
  const len = dst.family === 4
    ? writeArpFrame(ctx.frame, { op: 1, senderMac: out.mac, senderIp: src, targetMac: ZERO_MAC, targetIp: dst, dstMac: BROADCAST_MAC })
    : writeNdpFrame(ctx.frame, { type: 'ns', srcMac: out.mac, src, target: dst });
  ctx.emit(out.link, t, len, comment, record);
}

function advertise(ctx: UdpContext, owner: IfaceState, asker: IfaceState, addr: IpAddr, askerAddr: IpAddr, t: number): void {
  if (!ctx.capturing) return;
  const len = addr.family === 4
    ? writeArpFrame(ctx.frame, { op: 2, senderMac: owner.mac, senderIp: addr, targetMac: asker.mac, targetIp: askerAddr, dstMac: asker.mac })
    : writeNdpFrame(ctx.frame, { type: 'na', srcMac: owner.mac, dstMac: asker.mac, src: addr, dst: askerAddr, target: addr, solicited: true, override: true, router: owner.host.forward });
  ctx.emit(owner.link, t, len, undefined);
}
