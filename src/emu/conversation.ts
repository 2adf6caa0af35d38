// The packets of one emulated TCP connection as the policy's OS sends them: the handshake, the
// client's data cut at the MSS in flights the congestion and receive windows allow, the server's
// banner, each close sequence, a refusal and unanswered SYNs. The header fields that follow a rule
// rather than a constant (IPv4 ID, IPv6 flow label, MSS from the path's MTU, windows and window
// scale) are worked out here from the policy's fingerprint row (policy/fingerprint.ts); the frame
// itself is the wire layer's (SegmentOut writes it). One Conversation per run, reset per connection.

import type { IpAddr } from './addr.js';
import type { Hop } from './forwarding.js';
import type { Fingerprint } from './policy/types.js';
import { LINUX_RMEM_MAX, LINUX_TCP_RMEM, linuxEstablishedWindow, linuxInitialWindow, linuxWindowScale, mssForMtu } from './policy/fingerprint.js';
import { mix32 } from './rng.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpOption } from './wire/tcp.js';

/** Where the segments go: the engine's frame writer. */
export interface SegmentOut {
  /** A segment whose options carry its timestamps (the conversation's own timestamps option, set per segment). */
  segment(link: { readonly captureId: number }, t: number, from: ConnEnd, to: ConnEnd, seq: number, ack: number, flags: number,
    window: number, options: readonly TcpOption[], payload: Uint8Array, ipId: number, flowLabel: number,
    comment: string | undefined, record?: string): void;
}

/** One end of a connection: what its segments carry and how far it has got. */
export interface ConnEnd {
  /** What its segments go out on, from which MAC to which (the server may answer by another link: routing). */
  link: { readonly captureId: number; readonly latencyNs: number };
  mac: Uint8Array;
  dstMac: Uint8Array;
  /** Through routers: every link its segments cross, the first included (link, mac and dstMac then only time them); empty: one link. */
  hops: readonly Hop[];
  ip: IpAddr;
  port: number;
  /** Sequence number of the next byte to send. */
  next: number;
  /** The IPv4 ID its connected socket gives the next segment ('per-socket'); unused otherwise. */
  ipId: number;
  /** IPv6 flow label of its segments (0: none). */
  flow: number;
  /** TSval at t0 (timestamps tick in ms). */
  ts: number;
  /** MSS option value: the path's MTU less the headers. */
  mss: number;
  /** Window field of the SYN or SYN-ACK, and after the handshake (scaled). */
  initialWindow: number;
  window: number;
  scale: number;
  /** Bytes received (FINs count one), and the right edge of the window last advertised, from the peer's first byte. */
  received: number;
  edge: number;
}

/** A connection left open (close: none), to be closed later by its server. */
export interface OpenConnection {
  readonly client: ConnEnd;
  readonly server: ConnEnd;
  readonly t0: number;
}

/** Per-host facts a connection's packets depend on. */
export interface EndFacts {
  readonly host: string;
  readonly tcpRmem: readonly [number, number, number] | undefined;
  /** MTU of the interface the connection uses (loopback included). */
  readonly mtu: number;
}

const EMPTY: Uint8Array = new Uint8Array(0);
const NO_OPTS: readonly TcpOption[] = [];
const NO_LINK = { captureId: -1, latencyNs: 0 };
/** Bytes of the timestamps option (with its NOPs) in every segment after the handshake. */
const TS_ALIGNED = 12;

/**
 * A fingerprint's option list (`fp.synOptions`, `fp.synAckOptions`) as TCP options: the MSS,
 * timestamps and window scale are the given records, whose values the sender sets per segment.
 */
export function optionList(kinds: readonly string[], mss: TcpOption, ts: TcpOption, ws: TcpOption): TcpOption[] {
  return kinds.map((k): TcpOption => {
    switch (k) {
      case 'mss': return mss;
      case 'sackPermitted': return { kind: 'sackPermitted' };
      case 'timestamps': return ts;
      case 'windowScale': return ws;
      default: return { kind: 'nop' };
    }
  });
}

/** The options of every segment after the handshake: NOP, NOP, timestamps when the OS uses them, else none. */
export function dataOptionList(fp: Fingerprint, ts: TcpOption): TcpOption[] {
  return fp.synOptions.includes('timestamps') ? [{ kind: 'nop' }, { kind: 'nop' }, ts] : [];
}

const NO_HOPS: readonly Hop[] = [];
const newEnd = (): ConnEnd => ({ link: NO_LINK, mac: EMPTY, dstMac: EMPTY, hops: NO_HOPS, ip: undefined as unknown as IpAddr, port: 0, next: 0, ipId: 0, flow: 0, ts: 0, mss: 0, initialWindow: 0, window: 0, scale: 0, received: 0, edge: 0 });

export class Conversation {
  private readonly fp: Fingerprint;
  private readonly ts = { kind: 'timestamps' as const, tsval: 0, tsecr: 0 };
  private readonly mssOpt = { kind: 'mss' as const, mss: 0 };
  private readonly wsOpt = { kind: 'windowScale' as const, shift: 0 };
  private readonly synOpts: TcpOption[];
  private readonly synAckOpts: TcpOption[];
  /** After the handshake: NOP, NOP, TS when the OS uses timestamps. */
  readonly dataOpts: readonly TcpOption[];
  private readonly timestamps: boolean;
  /** 'host-counter' IDs: the next ID of each host. */
  private readonly hostIds = new Map<string, number>();
  private randomIds = 0;
  client: ConnEnd = newEnd();
  server: ConnEnd = newEnd();
  private clientHost = '';
  private serverHost = '';
  private t0 = 0;

  constructor(fp: Fingerprint, private readonly out: SegmentOut, private readonly seed: number, private readonly rmemMax = LINUX_RMEM_MAX) {
    this.fp = fp;
    this.synOpts = optionList(fp.synOptions, this.mssOpt, this.ts, this.wsOpt);
    this.synAckOpts = optionList(fp.synAckOptions, this.mssOpt, this.ts, this.wsOpt);
    this.timestamps = fp.synOptions.includes('timestamps');
    this.dataOpts = dataOptionList(fp, this.ts);
  }

  /**
   * Starts a connection: both ends' addresses, ISNs and TSvals, and the header fields that
   * depend on the path (MSS from the MTU) and the hosts' sysctls (Linux windows and scale).
   * `key` is a seeded per-connection value from which the random fields (IDs, labels) come.
   */
  begin(t0: number, key: number,
    c: EndFacts, clink: { readonly captureId: number; readonly latencyNs: number }, cmac: Uint8Array, cdst: Uint8Array, src: IpAddr, sport: number, cIsn: number, cTs: number,
    s: EndFacts, slink: { readonly captureId: number; readonly latencyNs: number }, smac: Uint8Array, sdst: Uint8Array, dst: IpAddr, dport: number, sIsn: number, sTs: number): void {
    this.t0 = t0;
    this.client = this.end(this.client, c, cmac, src, sport, cIsn, cTs, false, key);
    this.server = this.end(this.server, s, smac, dst, dport, sIsn, sTs, true, key);
    this.client.link = clink; this.client.dstMac = cdst;
    this.server.link = slink; this.server.dstMac = sdst;
    this.clientHost = c.host; this.serverHost = s.host;
  }

  private end(e: ConnEnd, f: EndFacts, mac: Uint8Array, ip: IpAddr, port: number, isn: number, ts: number, server: boolean, key: number): ConnEnd {
    const fp = this.fp;
    e.mac = mac; e.hops = NO_HOPS; e.ip = ip; e.port = port; e.next = isn; e.ts = ts; e.received = 0;
    e.mss = mssForMtu(f.mtu, ip.family);
    if (fp.windowRule === 'linux') {
      const rmem = f.tcpRmem ?? LINUX_TCP_RMEM;
      e.initialWindow = linuxInitialWindow(rmem[1], e.mss, server, this.timestamps);
      e.scale = linuxWindowScale(rmem[2], this.rmemMax);
      e.window = linuxEstablishedWindow(e.initialWindow, e.scale);
      e.edge = e.initialWindow;
    } else {
      e.initialWindow = server ? fp.synAckWindow : fp.synWindow;
      e.scale = fp.windowScale;
      e.window = fp.window;
    }
    // A connected socket's first ID is random [tcp_v4_connect, tcp_v4_syn_recv_sock: get_random_u16()].
    e.ipId = mix32(key ^ (server ? 0x51d5 : 0xc1e7)) & 0xffff;
    e.flow = fp.flowLabel === 'per-direction' ? flowLabelOf(mix32(key ^ (server ? 0xf10e : 0xf1c1))) : 0;
    return e;
  }

  /** Resumes a connection left open, for its close. */
  resume(o: OpenConnection): void {
    this.t0 = o.t0;
    this.client = o.client; this.server = o.server;
  }

  /** The open connection's state, detached from this conversation (which the next connection reuses). */
  detach(): OpenConnection {
    const o = { client: this.client, server: this.server, t0: this.t0 };
    this.client = newEnd();
    this.server = newEnd();
    return o;
  }

  // ---- the IPv4 ID and the timestamps of each segment

  /** The IPv4 ID of the next segment `from` sends; `socket` false when no connected socket sends it. */
  private id(from: ConnEnd, socket: boolean): number {
    const fp = this.fp;
    switch (fp.ipId) {
      case 'per-socket':
        // Without a connected socket (a SYN-ACK from the request, a RST) a DF datagram has ID 0 [include/net/ip.h ip_select_ident_segs].
        if (!socket && fp.dontFragment) return 0;
        return from.ipId++ & 0xffff;
      case 'zero-with-df':
        if (fp.dontFragment) return 0;
        return this.hostCounter(from === this.client ? this.clientHost : this.serverHost);
      case 'random':
        return mix32(this.seed ^ 0x1d1d ^ Math.imul(++this.randomIds, 0x9e3779b1)) & 0xffff;
      case 'host-counter':
        return this.hostCounter(from === this.client ? this.clientHost : this.serverHost);
    }
  }

  private hostCounter(host: string): number {
    const id = this.hostIds.get(host) ?? (mix32(this.seed ^ hashName(host)) & 0xffff);
    this.hostIds.set(host, (id + 1) & 0xffff);
    return id;
  }

  private emit(link: { readonly captureId: number }, t: number, from: ConnEnd, to: ConnEnd, seq: number, ack: number, flags: number,
    window: number, options: readonly TcpOption[], payload: Uint8Array, tsval: number, tsecr: number, ipId: number, flowLabel: number,
    comment: string | undefined, record?: string): void {
    this.ts.tsval = tsval >>> 0; this.ts.tsecr = tsecr >>> 0;
    this.out.segment(link, t, from, to, seq, ack, flags, window, options, payload, ipId, flowLabel, comment, record);
  }

  private tsOf(e: ConnEnd, t: number): number {
    return e.ts + Math.floor((t - this.t0) / 1e6);
  }

  /** One segment from `from` after the handshake (a connected socket's). */
  private seg(t: number, from: ConnEnd, to: ConnEnd, flags: number, payload: Uint8Array, lat: number, ack = to.next): void {
    this.emit(from.link, t, from, to, from.next, ack, flags, this.windowOf(from), this.dataOpts, payload,
      this.tsOf(from, t), this.tsOf(to, t - lat), this.id(from, true), from.flow, undefined);
    const n = payload.length + ((flags & TCP_FIN) !== 0 ? 1 : 0);
    from.next += n;
    to.received += n;
  }

  /**
   * The window field `e` advertises now. Linux keeps the right edge it last advertised and rounds
   * what is left up to the scale's unit [net/ipv4/tcp_output.c tcp_select_window: a new window
   * smaller than the current one becomes ALIGN(cur_win, 1 << rcv_wscale)]: 65160 less 18 bytes
   * received is 509 at scale 7, as 6.18 sends it. Past one segment received the receive buffer
   * would grow (tcp_rcv_space_adjust, not modelled): the window stays at its initial size.
   */
  private windowOf(e: ConnEnd): number {
    if (this.fp.windowRule !== 'linux') return e.window;
    const unit = 2 ** e.scale;
    if (e.received > e.mss) return e.window;
    const w = Math.ceil(Math.max(0, e.edge - e.received) / unit);
    e.edge = e.received + w * unit;
    return w;
  }

  // ---- the handshake, a refusal, unanswered SYNs

  /** The client's SYN (attempt 0, or retransmission i, one RTO later each). */
  syn(t: number, attempt: number, comment: string | undefined, record?: string): void {
    const c = this.client;
    this.mssOpt.mss = c.mss; this.wsOpt.shift = c.scale;
    if (attempt > 0 && this.fp.windowRule === 'linux' && c.flow !== 0) {
      // Each timeout picks a new txhash, so a new flow label [net/ipv4/tcp_timer.c tcp_write_timeout: sk_rethink_txhash].
      c.flow = flowLabelOf(mix32(c.flow ^ 0x5eed ^ attempt));
    }
    this.emit(c.link, t, c, this.server, c.next, 0, TCP_SYN, c.initialWindow, this.synOpts, EMPTY,
      this.tsOf(c, t), 0, this.id(c, true), c.flow, comment, record);
  }

  /** The server's SYN-ACK, sent for the listener before a child socket exists. */
  synAck(t: number, comment: string | undefined, record?: string): void {
    const s = this.server;
    const c = this.client;
    this.mssOpt.mss = s.mss; this.wsOpt.shift = s.scale;
    this.emit(s.link, t, s, c, s.next, c.next + 1, TCP_SYN | TCP_ACK, s.initialWindow, this.synAckOpts, EMPTY,
      this.tsOf(s, t), c.ts, this.id(s, false), s.flow, comment, record);
  }

  /** The server refuses: RST-ACK, window 0, no options, from no socket [net/ipv4/tcp_ipv4.c tcp_v4_send_reset]. */
  rst(t: number, comment: string | undefined, tupleHash: number, record?: string): void {
    const s = this.server;
    const c = this.client;
    // No socket: the label comes from the reply's flow hash [net/ipv6/tcp_ipv6.c tcp_v6_send_response].
    const flow = this.fp.flowLabel === 'per-direction' ? flowLabelOf(mix32(tupleHash ^ 0x7e5e7)) : 0;
    this.emit(s.link, t, s, c, 0, c.next + 1, TCP_RST | TCP_ACK, 0, NO_OPTS, EMPTY, 0, 0, this.id(s, false), flow, comment, record);
  }

  // ---- an accepted connection

  /**
   * After the SYN-ACK sent at t (syn and synAck first): to the end of the close (or to the open
   * connection's quiet state), as the OS sends it; returns the time the connection's last packet
   * arrives. `close`: who closes first.
   */
  established(t: number, data: Uint8Array, banner: Uint8Array, close: 'client' | 'server' | 'none'): number {
    const lat = this.client.link.latencyNs;
    const c = this.client;
    const s = this.server;
    c.next += 1; s.next += 1;
    t += lat;
    this.seg(t, c, s, TCP_ACK, EMPTY, lat);
    const quick = this.fp.quickAck;
    if (data.length > 0) t = this.sendData(t, data);
    else t += lat;
    // t: the server has what the client sent; it answers with its banner.
    this.seg(t, s, c, TCP_PSH | TCP_ACK, banner, lat);
    if (close === 'server') {
      // The server closes right after its banner [Linux: the child's FIN follows at once].
      const bannerEnd = s.next;
      this.seg(t, s, c, TCP_FIN | TCP_ACK, EMPTY, lat);
      t += lat;
      if (quick) this.seg(t, c, s, TCP_ACK, EMPTY, lat, bannerEnd); // the banner, acknowledged as it arrives, before the FIN
      this.seg(t, c, s, TCP_FIN | TCP_ACK, EMPTY, lat);
      t += lat;
      this.seg(t, s, c, TCP_ACK, EMPTY, lat);
      return t;
    }
    t += lat;
    if (close === 'client') {
      if (quick) this.seg(t, c, s, TCP_ACK, EMPTY, lat);
      return this.closeFrom(t, c, s, lat);
    }
    // Left open: the client acknowledges the banner.
    this.seg(t, c, s, TCP_ACK, EMPTY, lat);
    return t;
  }

  /** The server closes a connection left open: its FIN, the client's FIN, its last ACK. Returns the last ACK's time. */
  serverCloses(t: number): number {
    const lat = this.client.link.latencyNs;
    return this.closeFrom(t, this.server, this.client, lat);
  }

  /** `first` closes: its FIN, the peer's FIN (acknowledging it), its last ACK. Returns the last ACK's time. */
  private closeFrom(t: number, first: ConnEnd, peer: ConnEnd, lat: number): number {
    this.seg(t, first, peer, TCP_FIN | TCP_ACK, EMPTY, lat);
    t += lat;
    this.seg(t, peer, first, TCP_FIN | TCP_ACK, EMPTY, lat);
    t += lat;
    this.seg(t, first, peer, TCP_ACK, EMPTY, lat);
    return t;
  }

  /**
   * The client's data from t, cut at the MSS both ends allow (less the timestamps option), in
   * flights of at most the congestion window (from the initial window, growing by each segment
   * acknowledged: slow start, RFC 5681 §3.1) and the server's receive window; the server
   * acknowledges every second segment and a flight's last (RFC 9293 §3.8.6.3, RFC 1122
   * 4.2.3.2). Returns the time the last segment reaches the server.
   */
  private sendData(t: number, data: Uint8Array): number {
    const lat = this.client.link.latencyNs;
    const c = this.client;
    const s = this.server;
    const size = Math.min(c.mss, s.mss) - (this.timestamps ? TS_ALIGNED : 0);
    // The SYN-ACK's window is not scaled; later ACKs' are [RFC 7323 §2.2].
    let rwnd = s.initialWindow;
    let cwnd = this.fp.initialCwnd;
    let sent = 0;
    for (;;) {
      const budget = Math.max(size, Math.min(cwnd * size, rwnd));
      let inFlight = 0;
      let segs = 0;
      while (sent < data.length && inFlight < budget) {
        const n = Math.min(size, data.length - sent, budget - inFlight);
        const last = sent + n >= data.length || inFlight + n >= budget;
        // PSH on the last segment of what was handed over or could be sent [net/ipv4/tcp.c tcp_push].
        this.seg(t, c, s, last ? TCP_PSH | TCP_ACK : TCP_ACK, data.subarray(sent, sent + n), lat);
        sent += n; inFlight += n; segs++;
      }
      t += lat;
      // The server's ACKs as the flight arrives: every second segment, and the flight's last
      // (when the banner does not carry it: the server is a quick-acker or more is coming).
      for (let i = 2; i <= segs; i += 2) if (i < segs || this.fp.quickAck || sent < data.length) this.seg(t, s, c, TCP_ACK, EMPTY, lat);
      if (segs % 2 === 1 && (this.fp.quickAck || sent < data.length)) this.seg(t, s, c, TCP_ACK, EMPTY, lat);
      if (sent >= data.length) return t;
      cwnd += segs;
      rwnd = s.window * 2 ** s.scale;
      t += lat;
    }
  }
}

/** A 20-bit flow label, never 0 (0 means "no label") [RFC 6437 §3]. */
function flowLabelOf(x: number): number {
  return (x & 0xfffff) || 1;
}

function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
