// The real-kernel oracle's datagram steps (issue 18): UDP connect(2), group membership, and
// datagrams sent from a fresh socket or a scenario socket, with every socket that received a
// copy, the ICMP the sender saw, and the replies. Results are in the emulator's vocabulary: a
// socket name, `a+b` for copies, port-unreachable, unreachable, dropped, or the send's errno.
//
// How a datagram is observed: it carries a tag of its own after the step's data ("[bl-d#N]"),
// so a copy read from any socket of any process is attributed exactly, a late one included.
// After the send every process holding a datagram socket reads them all (non-blocking reads
// during a settle, in parallel); with `reply: true` each receiver answers at once with its
// banner and the same tag, and the sender reads the answers and the source they came from. ICMP
// errors are seen where they arrive: a root agent per host holds raw ICMP and ICMPv6 sockets and
// reads every error that quotes a tagged datagram (so the sending socket is never touched, and an
// error comes back even when no socket of the sender matches it). With nothing received and no
// error, the sender's neighbour entry tells "unreachable" (nobody answered ARP / NDP) from "dropped".

import type { Agent } from './agents.js';
import type { DatagramStep, MembershipStep, Scenario, UdpConnectStep } from '../scenario/types.js';
import { isMulticast, isV4Mapped, v4FromMapped, type Cidr, type IpAddr } from '../emu/addr.js';
import { isBroadcastOf } from '../emu/host.js';

/** One datagram as the kernel delivered it. */
export interface KernelDelivery {
  /** Every socket that received a copy, as HOST/PROCESS/SOCKET, sorted. */
  readonly receivers: readonly string[];
  /** With reply: per receiver, the source of its answer as the sender saw it ("10.0.0.2:53"), or "none". */
  readonly replyFrom?: readonly string[];
}

export interface DatagramOutcome {
  readonly result: string;
  readonly results: readonly string[];
  readonly deliveries: readonly KernelDelivery[];
}

/** What the datagram runner needs from the scenario run. */
export interface UdpRunContext {
  /** The agent holding a scenario socket, and the host it is on. */
  socketAgent(name: string): Agent | undefined;
  socketHost(name: string): string | undefined;
  /** A host's agent for fresh sockets (`from: HOST` or `HOST/PROC`: that process's uid). */
  clientAgent(host: string, process?: string): Agent;
  /** The root agent of a host that watches its ICMP errors (op icmp_watch done). */
  icmpWatcher(host: string): Agent;
  /** The kernel's name of a scenario interface. */
  ifName(host: string, iface: string): string;
  log(line: string): void;
  /** Base settle time in ms (the time a datagram is given to arrive; default 60). */
  readonly settleMs?: number;
  /**
   * Whether a router may answer a datagram to `to` with host unreachable, which comes only once its
   * ARP gives up (3 s): see lateRouterErrors. Absent: no routers.
   */
  readonly lateRouterError?: (to: IpAddr) => boolean;
}

/** The socket name the harness gives a datagram step's fresh socket (no scenario name can hold "@"). */
export const FRESH_SOCKET = '@datagram';

/**
 * The order copies are listed in, as the emulator writes `a+b`: by name (the emulator's
 * formatReceivers). Kept in one place so both sides agree.
 */
export function receiverOrder(names: readonly string[]): string[] {
  return [...names].sort();
}

/** `a+b` of the receivers; one name alone. */
export function receiverText(names: readonly string[]): string {
  return receiverOrder(names).join('+');
}

interface Got { readonly tag: number; readonly socket: string; readonly agent: Agent }
interface Reply { readonly tag: number; readonly socket: string; readonly banner: string; readonly from: string }
/** An ICMP error about a tagged datagram, as a host received it. */
interface ErrorSeen { readonly tag: number; readonly what: 'port-unreachable' | 'unreachable' }

let tagCounter = 0;

/** How long a router's neighbour resolution takes to fail (mcast_solicit 3 × retrans_time 1 s), with a margin. */
const ROUTER_ARP_MS = 3600;

export class DatagramRunner {
  /** Every agent that holds a datagram socket: the ones read after each send. */
  private readonly holders = new Set<Agent>();
  private readonly settle: number;

  constructor(private readonly ctx: UdpRunContext) {
    this.settle = ctx.settleMs ?? 60;
  }

  /** A datagram socket was made in this agent. */
  holds(agent: Agent): void {
    this.holders.add(agent);
  }

  async udpConnect(step: UdpConnectStep): Promise<string> {
    const a = this.ctx.socketAgent(step.socket);
    if (!a) return 'EBADF';
    const r = await a.request('udp_connect', { name: step.socket, to: step.to.addr.text, port: step.to.port });
    return String(r['result']);
  }

  async membership(step: MembershipStep): Promise<string> {
    const a = this.ctx.socketAgent(step.socket);
    if (!a) return 'EBADF';
    const host = this.ctx.socketHost(step.socket)!;
    const r = await a.request('membership', {
      name: step.socket,
      verb: step.kind,
      group: step.group.text,
      dev: step.interface ? this.ctx.ifName(host, step.interface) : '',
    });
    return String(r['result']);
  }

  async datagram(step: DatagramStep): Promise<DatagramOutcome> {
    let sender: Agent | undefined;
    let name: string;
    let host: string;
    if (step.socket !== undefined) {
      name = step.socket;
      sender = this.ctx.socketAgent(name);
      host = this.ctx.socketHost(name) ?? '';
      if (!sender) return failed(step.count, 'EBADF');
    } else {
      host = step.from!;
      sender = this.ctx.clientAgent(host, step.fromProcess);
      name = FRESH_SOCKET;
      const r = await sender.request('udp_fresh', {
        name,
        family: step.to.addr.family === 6 ? 'inet6' : 'inet',
        // SO_BROADCAST, as the emulator's fresh socket (docs/scenario-format.md): a tool's
        // socket (nc -u -b) may send to a broadcast address.
        options: [['SO_BROADCAST', true]],
        source: step.source?.addr.text,
        source_port: step.source?.port,
      });
      if (r['result'] !== 'ok') {
        await sender.request('udp_forget', { name });
        return failed(step.count, String(r['result']));
      }
    }
    this.holders.add(sender);
    this.holders.add(this.ctx.icmpWatcher(host));
    const dev = step.interface ? this.ctx.ifName(host, step.interface) : '';
    try {
      // The step's datagrams leave back to back, as the emulator sends them (100 µs apart): the
      // kernel's ICMP rate limit then sees them as one burst, whatever the machine's load.
      const tags = Array.from({ length: step.count }, () => ++tagCounter);
      const sent = await sender.request('udp_send', { name, to: step.to.addr.text, port: step.to.port, data: step.data ?? '', tags, dev });
      const sendResults = (sent['results'] as string[] | undefined) ?? tags.map(() => String(sent['error'] ?? 'EIO'));
      const outs = await this.observe(tags.filter((_, i) => sendResults[i] === 'ok'), step, sender);
      const judged = tags.map((tag, i) => (sendResults[i] === 'ok' ? outs.get(tag)! : { result: sendResults[i]!, delivery: { receivers: [] } }));
      const results = judged.map((j) => j.result);
      return { result: results[0] ?? 'dropped', results, deliveries: judged.map((j) => j.delivery) };
    } finally {
      if (step.socket === undefined) await sender.request('udp_forget', { name });
    }
  }

  /** Reads every holder until the datagrams' copies, replies and errors are in; judges each. */
  private async observe(tags: readonly number[], step: DatagramStep, sender: Agent): Promise<Map<number, { result: string; delivery: KernelDelivery }>> {
    const judged = new Map<number, { result: string; delivery: KernelDelivery }>();
    if (!tags.length) return judged;
    const mine = new Set(tags);
    const senderName = step.socket ?? FRESH_SOCKET;
    const got: Got[] = [];
    const replies: Reply[] = [];
    const errors: ErrorSeen[] = [];
    const poll = async (waitMs: number): Promise<void> => {
      const agents = [...this.holders];
      const answers = await Promise.all(agents.map((a) =>
        a.request('udp_poll', { wait_ms: waitMs, reply_tags: step.reply ? tags : [] }, waitMs + 15000).then((r) => ({ a, r }))));
      for (const { a, r } of answers) {
        for (const g of (r['got'] as { tag: number; socket: string }[]) ?? []) {
          if (mine.has(g.tag)) got.push({ tag: g.tag, socket: g.socket, agent: a });
          else this.ctx.log(`datagram ${g.tag}: a copy reached ${g.socket} after its step was judged`);
        }
        // A reply counts only as the sending socket reads it: another socket of the host may take it
        // (a better-scoring one on the same port), and then the sender never hears an answer.
        for (const x of (r['replies'] as Reply[]) ?? []) if (mine.has(x.tag) && a === sender && x.socket === senderName) replies.push(x);
        for (const e of (r['errors'] as ErrorSeen[]) ?? []) {
          if (mine.has(e.tag)) errors.push(e);
          else this.ctx.log(`datagram ${e.tag}: its ICMP ${e.what} came after its step was judged`);
        }
        for (const e of (r['pending'] as { socket: string; errno: string }[]) ?? []) this.ctx.log(`${e.socket}: a read failed with ${e.errno} (a connected socket's pending ICMP error)`);
        for (const e of (r['reply_errors'] as { socket: string; errno: string }[]) ?? []) {
          this.ctx.log(`datagram ${step.index}: ${e.socket}'s reply failed: ${e.errno}`);
        }
      }
    };
    const settled = (tag: number) => got.some((g) => g.tag === tag) || errors.some((e) => e.tag === tag);
    // Copies first (they and any ICMP arrive together), then a second look for late copies on
    // other hosts, the replies and the ICMP.
    await poll(this.settle);
    await poll(Math.round(this.settle * 2 / 3));
    if (step.reply) {
      // Answers still on their way: more looks, up to about a second.
      for (let i = 0; i < 5 && replies.length < got.length; i++) await poll(this.settle * 3);
    }
    let neighbourFailed = false;
    if (!tags.every(settled)) {
      // Something neither arrived nor came back: an unanswered neighbour, or a silent drop.
      const n = await sender.request('neigh_wait', { addr: step.to.addr.text, wait_ms: 5000 }, 20000);
      neighbourFailed = n['result'] === 'failed';
      await poll(neighbourFailed ? this.settle * 3 : this.settle);
      // Past a router: its host unreachable comes once its own ARP gives up (3 tries 1 s apart).
      if (!neighbourFailed && this.ctx.lateRouterError?.(step.to.addr) && !tags.every(settled)) await poll(ROUTER_ARP_MS);
    }
    for (const tag of tags) judged.set(tag, this.judge(tag, step, got, replies, errors, neighbourFailed));
    return judged;
  }

  private judge(tag: number, step: DatagramStep, allGot: readonly Got[], replies: readonly Reply[], allErrors: readonly ErrorSeen[], neighbourFailed: boolean): { result: string; delivery: KernelDelivery } {
    const got = allGot.filter((g) => g.tag === tag);
    if (got.length) {
      // A step's fresh socket is no scenario socket; should it hear its own datagram, it is "(sender)".
      const named = got.map((g) => {
        const socket = g.socket === FRESH_SOCKET ? '(sender)' : g.socket;
        return { socket, full: `${g.agent.label}/${socket}` };
      });
      named.sort((a, b) => (a.full < b.full ? -1 : a.full > b.full ? 1 : 0));
      const receivers = named.map((n) => n.full);
      const mine = replies.filter((x) => x.tag === tag);
      const delivery: KernelDelivery = step.reply
        ? { receivers, replyFrom: named.map((n) => mine.find((x) => bannerSocket(x.banner) === n.socket)?.from ?? 'none') }
        : { receivers };
      return { result: receiverText(named.map((n) => n.socket)), delivery };
    }
    const none = { receivers: [] };
    // ICMP port unreachable (IPv4 type 3 code 3, ICMPv6 type 1 code 4); an unanswered neighbour
    // comes back as host (address) unreachable from the sender's own stack.
    const e = allErrors.find((x) => x.tag === tag);
    if (e) return { result: e.what, delivery: none };
    return { result: neighbourFailed ? 'unreachable' : 'dropped', delivery: none };
  }
}

/**
 * For a scenario with routers: whether a datagram to `to` may meet a router's host unreachable, so
 * that the harness must wait for its ARP to give up: a unicast address no host of the scenario has
 * (declared or added by a step); a host's own address, a group or a broadcast address never do.
 * Undefined without routers.
 */
export function lateRouterErrors(scenario: Scenario): ((to: IpAddr) => boolean) | undefined {
  if (!scenario.hosts.some((h) => h.forward)) return undefined;
  const cidrs: Cidr[] = scenario.hosts.flatMap((h) => h.interfaces.flatMap((i) => i.addresses));
  for (const st of scenario.steps) if (st.kind === 'address' && st.add) cidrs.push(st.add);
  const held = new Set(cidrs.map((c) => c.addr.text));
  return (to) => {
    const a = isV4Mapped(to) ? v4FromMapped(to) : to;
    if (isMulticast(a) || held.has(a.text) || a.text === '255.255.255.255') return false;
    return !(a.family === 4 && cidrs.some((c) => c.addr.family === 4 && c.prefix < 31 && isBroadcastOf(c, a)));
  };
}

/** The socket a reply's banner names: "bindlab HOST/PROC/SOCKET\r\n". */
function bannerSocket(banner: string): string {
  return /^bindlab [^/]+\/[^/]+\/(.+)\r\n$/.exec(banner)?.[1] ?? '';
}

function failed(count: number, errno: string): DatagramOutcome {
  const results = Array<string>(count).fill(errno);
  return { result: errno, results, deliveries: results.map(() => ({ receivers: [] })) };
}
