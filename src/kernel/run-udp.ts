// The real-kernel oracle's datagram steps (issue 18): UDP connect(2), group membership, and
// datagrams sent from a fresh socket or a scenario socket, with every socket that received a
// copy, the ICMP the sender saw, and the replies. Results are in the emulator's vocabulary: a
// socket name, `a+b` for copies, port-unreachable, unreachable, dropped, or the send's errno.
//
// How a datagram is observed: it carries a tag of its own after the step's data ("[bl-d#N]"),
// so a copy read from any socket of any process is attributed exactly, a late one included.
// After the send every process holding a datagram socket reads them all (non-blocking reads
// during a settle, in parallel); with `reply: true` each receiver answers at once with its
// banner and the same tag, and the sender reads the answers and the source they came from. The
// sender's ICMP errors come from its error queue (IP_RECVERR / IPV6_RECVERR, which the harness
// turns on before a socket's first send: delivery does not look at it). With nothing received
// and no error, the sender's neighbour entry tells "unreachable" (nobody answered ARP / NDP)
// from "dropped".

import type { Agent, Json } from './agents.js';
import type { DatagramStep, MembershipStep, UdpConnectStep } from '../scenario/types.js';

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
  /** The kernel's name of a scenario interface. */
  ifName(host: string, iface: string): string;
  log(line: string): void;
  /** Base settle time in ms (the time a datagram is given to arrive; default 60). */
  readonly settleMs?: number;
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
interface ErrorSeen { readonly tag: number | null; readonly errno?: string; readonly origin?: number }

let tagCounter = 0;

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
        // A fresh socket is a tool's (dig, nc -u -b): it may send to a broadcast address.
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
    const dev = step.interface ? this.ctx.ifName(host, step.interface) : '';
    const results: string[] = [];
    const deliveries: KernelDelivery[] = [];
    try {
      for (let i = 0; i < step.count; i++) {
        const tag = ++tagCounter;
        const sent = await sender.request('udp_send', { name, to: step.to.addr.text, port: step.to.port, data: step.data ?? '', tag, dev });
        this.lateErrors(sent);
        if (sent['result'] !== 'ok') {
          results.push(String(sent['result']));
          deliveries.push({ receivers: [] });
          continue;
        }
        const d = await this.observe(tag, step, sender);
        results.push(d.result);
        deliveries.push(d.delivery);
      }
    } finally {
      if (step.socket === undefined) await sender.request('udp_forget', { name });
    }
    return { result: results[0] ?? 'dropped', results, deliveries };
  }

  private lateErrors(r: Json): void {
    for (const e of (r['errors'] as ErrorSeen[] | undefined) ?? []) {
      if (e.tag !== null) this.ctx.log(`datagram ${e.tag}: ${e.errno ?? 'an error'} came after its step was judged`);
    }
  }

  /** Reads every holder until the datagram's copies, replies and errors are in. */
  private async observe(tag: number, step: DatagramStep, sender: Agent): Promise<{ result: string; delivery: KernelDelivery }> {
    const got: Got[] = [];
    const replies: Reply[] = [];
    const errors: ErrorSeen[] = [];
    const poll = async (waitMs: number): Promise<void> => {
      const agents = [...this.holders];
      const answers = await Promise.all(agents.map((a) =>
        a.request('udp_poll', { wait_ms: waitMs, reply_tags: step.reply ? [tag] : [] }, waitMs + 15000).then((r) => ({ a, r }))));
      for (const { a, r } of answers) {
        for (const g of (r['got'] as { tag: number; socket: string }[]) ?? []) {
          if (g.tag === tag) got.push({ tag, socket: g.socket, agent: a });
          else this.ctx.log(`datagram ${g.tag}: a copy reached ${g.socket} after its step was judged`);
        }
        for (const x of (r['replies'] as Reply[]) ?? []) if (x.tag === tag) replies.push(x);
        for (const e of (r['errors'] as ErrorSeen[]) ?? []) if (e.tag === tag) errors.push(e);
        for (const e of (r['reply_errors'] as { socket: string; errno: string }[]) ?? []) {
          this.ctx.log(`datagram ${tag}: ${e.socket}'s reply failed: ${e.errno}`);
        }
      }
    };
    // Copies first (they and any ICMP arrive together), then a second look for late copies on
    // other hosts, the replies and the ICMP.
    await poll(this.settle);
    await poll(Math.round(this.settle * 2 / 3));
    if (step.reply) {
      // Answers still on their way: more looks, up to about a second.
      for (let i = 0; i < 5 && replies.length < got.length; i++) await poll(this.settle * 3);
    }
    if (!got.length && !errors.length) {
      // Nothing arrived and nothing came back: an unanswered neighbour, or a silent drop.
      const n = await sender.request('neigh_wait', { addr: step.to.addr.text, wait_ms: 5000 }, 20000);
      await poll(n['result'] === 'failed' ? this.settle * 3 : this.settle);
      if (!got.length && !errors.length && n['result'] === 'failed') return { result: 'unreachable', delivery: { receivers: [] } };
    }
    if (got.length) {
      // A step's fresh socket is no scenario socket; should it hear its own datagram, it is "(sender)".
      const named = got.map((g) => ({ socket: g.socket === FRESH_SOCKET ? '(sender)' : g.socket, full: `${g.agent.label}/${g.socket === FRESH_SOCKET ? '(sender)' : g.socket}` }));
      named.sort((a, b) => (a.full < b.full ? -1 : a.full > b.full ? 1 : 0));
      const receivers = named.map((n) => n.full);
      const delivery: KernelDelivery = step.reply
        ? { receivers, replyFrom: named.map((n) => replies.find((x) => bannerSocket(x.banner) === n.socket)?.from ?? 'none') }
        : { receivers };
      return { result: receiverText(named.map((n) => n.socket)), delivery };
    }
    const e = errors.find((x) => x.errno !== undefined);
    if (!e) return { result: 'dropped', delivery: { receivers: [] } };
    // ICMP port unreachable (IPv4 type 3 code 3, ICMPv6 type 1 code 4) reads ECONNREFUSED; an
    // unanswered neighbour comes back as host unreachable from the sender's own stack.
    if (e.errno === 'ECONNREFUSED') return { result: 'port-unreachable', delivery: { receivers: [] } };
    if (e.errno === 'EHOSTUNREACH' || e.errno === 'ENETUNREACH') return { result: 'unreachable', delivery: { receivers: [] } };
    return { result: e.errno!, delivery: { receivers: [] } };
  }
}

/** The socket a reply's banner names: "bindlab HOST/PROC/SOCKET\r\n". */
function bannerSocket(banner: string): string {
  return /^bindlab [^/]+\/[^/]+\/(.+)\r\n$/.exec(banner)?.[1] ?? '';
}

function failed(count: number, errno: string): DatagramOutcome {
  const results = Array<string>(count).fill(errno);
  return { result: errno, results, deliveries: results.map(() => ({ receivers: [] })) };
}
