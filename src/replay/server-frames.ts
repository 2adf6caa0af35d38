// The emulated server's frames in a replay's output (its SYN-ACK or RST, banner and FIN), built
// from a per-connection header: the Ethernet and IP headers and the ports are written once per
// connection with the partial checksums of their fixed fields, and each frame adds only its own
// fields (lengths, IPv4 ID, sequence numbers, flags, window, options with its timestamps,
// payload). Byte for byte the frame emu/wire/frame.ts's writeTcpFrame builds from the same
// fields (test/replay/server-frames.test.ts), written straight into the capture writer's buffer
// with its packet block.

import type { IpAddr } from '../emu/addr.js';
import type { ReplayServerProfile, Run } from '../emu/engine.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, writeEthernetHeader } from '../emu/wire/ethernet.js';
import { IPPROTO_TCP, IPV4_HEADER_LEN, writeIpv4Header } from '../emu/wire/ipv4.js';
import { IPV6_HEADER_LEN, writeIpv6Header } from '../emu/wire/ipv6.js';
import { TCP_HEADER_LEN, TCP_MAX_OPTIONS_LEN, TCPOPT_EOL, TCPOPT_NOP, TCPOPT_TIMESTAMPS, writeTcpOptions } from '../emu/wire/tcp.js';
import type { PcapngWriter } from '../pcap/pcapng-writer.js';
import { bytes, inMemory, kernels, release } from '../wasm/packets.js';

const TCP_FIN = 1, TCP_SYN = 2, TCP_RST = 4, TCP_ACK = 16;

/** One kind of segment's options as bytes (EOL-padded), their timestamps' place and the sum of the rest. */
interface Options {
  /** A multiple of 4 bytes. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** Where TSval starts in bytes (TSecr follows); -1: no timestamps option. */
  readonly tsAt: number;
  /** The options' 16-bit words summed with TSval and TSecr zero. */
  readonly sum: number;
  /** Their address in the WebAssembly memory, where a copy is (see ServerFrames.region); -1: none. */
  at: number;
}

/** The options as writeTcpOptions writes them, with where their timestamps go. */
function encodeOptions(list: ReplayServerProfile['synAckOptions']): Options {
  const scratch = new Uint8Array(TCP_MAX_OPTIONS_LEN + 16);
  const len = writeTcpOptions(list, scratch, 0);
  if (len > TCP_MAX_OPTIONS_LEN) throw new Error(`replayed server's options need ${len} bytes, at most 40 fit`);
  const bytes = scratch.slice(0, len);
  let tsAt = -1;
  for (let o = 0; o < len;) {
    const kind = bytes[o]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) { o++; continue; }
    if (kind === TCPOPT_TIMESTAMPS) { tsAt = o + 2; break; }
    o += bytes[o + 1]!;
  }
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  return { bytes, view: new DataView(bytes.buffer), tsAt, sum, at: -1 };
}

/** The profile of one family, with its options encoded. */
interface Family {
  readonly profile: ReplayServerProfile;
  readonly synAck: Options;
  readonly data: Options;
}

const NO_OPTIONS: Options = { bytes: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)), tsAt: -1, sum: 0, at: 0 };
/** Ethernet + IPv6 + ports: the most a connection's header holds. */
const HEAD_MAX = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + 4;
/** The layout of a ServerFrames' region in the WebAssembly memory: the header, four sets of options (two per family), the last payload. */
const REGION_OPTIONS = 64, REGION_PAYLOAD = REGION_OPTIONS + 4 * TCP_MAX_OPTIONS_LEN, REGION_BYTES = 4096;

/** Builds one policy's emulated server frames (one per policy's Run: the headers are its fingerprint's). */
export class ServerFrames {
  private v4: Family | null = null;
  private v6: Family | null = null;
  /** The connection whose header is in head (its index among the replay's attempts; -1: none yet). */
  conn = -1;
  private family: 4 | 6 = 4;
  private fam: Family | null = null;
  /** Ethernet + IP header + the ports, lengths, IPv4 ID and checksums zero (IPv6: the flow label too). */
  private head: Uint8Array = new Uint8Array(HEAD_MAX);
  private headView = new DataView(this.head.buffer);
  private headLen = 0;
  /** IPv4: the IP header's words without total length and ID. */
  private ipBase = 0;
  /** The pseudo header's words without the TCP length, plus the ports. */
  private tcpBase = 0;
  /** The connection's IPv4 IDs (its answer, banner and FIN) and IPv6 flow labels (RST, the rest). */
  private idAnswer = 0;
  private idFirst = 0;
  private idSecond = 0;
  private flowRst = 0;
  private flow = 0;
  /** The last payload summed and its sum (a decision's banner: the same bytes again and again). */
  private lastPayload: Uint8Array | null = null;
  private lastPayloadSum = 0;
  private payloadView: DataView = new DataView(new ArrayBuffer(0));
  /**
   * Where the frames are built from in the WebAssembly memory (wasm/packets.ts serverFrame), when
   * there is room there: the header (head is a view of its start), the options, the last payload.
   * Kept as a field: the region goes back to the arena only once this object is gone.
   */
  private region: Buffer | null = null;
  /** The region's address (-1: no region: the frames are built in JavaScript). */
  private base = -1;
  /** Options copied into the region so far. */
  private optionSets = 0;
  /** Whether the region was asked for (with the first connection: a replay without outputs has none). */
  private placedYet = false;

  constructor(private readonly run: Run) {}

  /** The region, when the WebAssembly memory has room for it; head moves into it. */
  private place(): void {
    this.placedYet = true;
    const region = bytes(REGION_BYTES);
    if (!inMemory(region)) return;
    this.region = region;
    this.base = region.byteOffset;
    this.head = new Uint8Array(region.buffer, region.byteOffset, HEAD_MAX);
    this.headView = new DataView(region.buffer, region.byteOffset, HEAD_MAX);
  }

  /**
   * Makes the connection numbered conn current (a no-op when it is): the server at serverMac and
   * server:sport answering the client at clientMac and client:cport, its ISN serverIsn.
   */
  connection(conn: number, serverMac: Uint8Array, clientMac: Uint8Array, server: IpAddr, sport: number, client: IpAddr, cport: number, serverIsn: number): void {
    if (conn === this.conn) return;
    if (!this.placedYet) this.place();
    this.conn = conn;
    const family = server.family;
    this.family = family;
    const fam = family === 4 ? (this.v4 ??= this.profile(4)) : (this.v6 ??= this.profile(6));
    this.fam = fam;
    const p = fam.profile;
    const h = this.head;
    const s = server.bytes, c = client.bytes;
    let sum = IPPROTO_TCP + sport + cport;
    if (family === 4) {
      writeEthernetHeader(h, 0, clientMac, serverMac, ETHERTYPE_IPV4);
      // Total length, ID and checksum zero here: each frame's own go in.
      writeIpv4Header(h, ETHERNET_HEADER_LEN, s, c, IPPROTO_TCP, p.ttl, 0, p.dontFragment, -IPV4_HEADER_LEN);
      h[ETHERNET_HEADER_LEN + 10] = 0; h[ETHERNET_HEADER_LEN + 11] = 0;
      const addrs = ((s[0]! << 8) | s[1]!) + ((s[2]! << 8) | s[3]!) + ((c[0]! << 8) | c[1]!) + ((c[2]! << 8) | c[3]!);
      this.ipBase = 0x4500 + ((p.dontFragment ? 0x40 : 0) << 8) + ((p.ttl << 8) | IPPROTO_TCP) + addrs;
      sum += addrs;
      this.headLen = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + 4;
    } else {
      writeEthernetHeader(h, 0, clientMac, serverMac, ETHERTYPE_IPV6);
      writeIpv6Header(h, ETHERNET_HEADER_LEN, s, c, IPPROTO_TCP, p.ttl, 0, 0);
      for (let i = 0; i < 16; i += 2) sum += ((s[i]! << 8) | s[i + 1]!) + ((c[i]! << 8) | c[i + 1]!);
      this.headLen = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + 4;
    }
    const tcpAt = this.headLen - 4;
    h[tcpAt] = sport >>> 8; h[tcpAt + 1] = sport; h[tcpAt + 2] = cport >>> 8; h[tcpAt + 3] = cport;
    this.tcpBase = sum;
    const run = this.run;
    this.idAnswer = run.replayIpId(serverIsn, false, 0);
    this.idFirst = run.replayIpId(serverIsn, true, 0);
    this.idSecond = run.replayIpId(serverIsn, true, 1);
    this.flowRst = run.replayFlowLabel(serverIsn, true);
    this.flow = run.replayFlowLabel(serverIsn, false);
  }

  /** Gives the region back (the replay is over: no more frames). */
  close(): void {
    if (this.region !== null) release(this.region);
    this.region = null;
    this.base = -1;
    // head was a view of the region: nothing may write there any more.
    this.head = new Uint8Array(HEAD_MAX);
    this.headView = new DataView(this.head.buffer);
    this.conn = -1;
  }

  private profile(family: 4 | 6): Family {
    const profile = this.run.replayServerProfile(family);
    return { profile, synAck: this.placed(encodeOptions(profile.synAckOptions)), data: this.placed(encodeOptions(profile.dataOptions)) };
  }

  /** The options with a copy in the region (when there is one). */
  private placed(opts: Options): Options {
    if (this.region !== null) {
      const at = REGION_OPTIONS + TCP_MAX_OPTIONS_LEN * this.optionSets++;
      this.region.set(opts.bytes, at);
      opts.at = this.base + at;
    }
    return opts;
  }

  /**
   * The current connection's answer to the client's SYN (ISN clientIsn, TSval clientTsval) into w
   * at w.frameTimeNs: its SYN-ACK (accepted) with TSval serverTsval, or its RST (refused). Comments as UTF-8 (null: none).
   */
  answer(w: PcapngWriter, captureId: number, accepted: boolean, serverIsn: number, clientIsn: number, serverTsval: number, clientTsval: number,
    comment: Uint8Array | null, record: Uint8Array | null): void {
    const fam = this.fam!;
    // Sequence numbers and timestamps as int32 (frame's sums and stores read them alike): an
    // unsigned value past 2^31 would go to frame, not inlined, as a new heap number.
    const ack = (clientIsn + 1) | 0;
    if (accepted) {
      this.frame(w, captureId, serverIsn | 0, ack, TCP_SYN | TCP_ACK, fam.profile.synAckWindow, fam.synAck, EMPTY, serverTsval | 0, clientTsval | 0,
        this.idAnswer, this.flow, comment, record);
    } else {
      this.frame(w, captureId, 0, ack, TCP_RST | TCP_ACK, 0, NO_OPTIONS, EMPTY, 0, 0, this.idAnswer, this.flowRst, comment, record);
    }
  }

  /**
   * The current connection's segment after the handshake (its banner, then its FIN) into w at w.frameTimeNs;
   * timestamps (tsval, tsecr) while the client sends them (tsecr, its TSval, not 0).
   */
  segment(w: PcapngWriter, captureId: number, seq: number, ack: number, flags: number, payload: Uint8Array, tsval: number, tsecr: number,
    comment: Uint8Array | null, record: Uint8Array | null): void {
    const fam = this.fam!;
    // The banner is its child socket's first segment, the FIN its second.
    this.frame(w, captureId, seq | 0, ack | 0, flags, fam.profile.window, tsecr !== 0 ? fam.data : NO_OPTIONS, payload, tsval | 0, tsecr | 0,
      (flags & TCP_FIN) !== 0 ? this.idSecond : this.idFirst, this.flow, comment, record);
  }

  /** A frame of the current connection; seq, ack, tsval and tsecr as int32 (their bits). */
  private frame(w: PcapngWriter, captureId: number, seq: number, ack: number, flags: number, window: number, opts: Options, payload: Uint8Array,
    tsval: number, tsecr: number, ipId: number, flow: number, comment: Uint8Array | null, record: Uint8Array | null): void {
    const headLen = this.headLen;
    const optLen = opts.bytes.length;
    const hlen = TCP_HEADER_LEN + optLen;
    const tcpLen = hlen + payload.length;
    const len = headLen - 4 + tcpLen;
    const at = w.reserveFrameBytes(len, comment, record);
    if (this.base >= 0 && w.frameInMemory && payload.length <= REGION_BYTES - REGION_PAYLOAD) {
      // The same frame built in the WebAssembly memory (assembly/packets.ts serverFrame).
      const n = payload.length;
      const psum = n !== 0 ? this.payloadSum(payload) : 0;
      kernels!.serverFrame(w.frameBase + at, this.base, headLen, this.family === 4 ? 1 : 0, this.ipBase, ipId, flow, this.tcpBase,
        seq, ack, flags, window, opts.at, optLen, opts.sum, opts.tsAt, tsval, tsecr, this.base + REGION_PAYLOAD, n, psum);
      w.commitFrameAt(captureId, len, comment, record);
      return;
    }
    const buf = w.frameBuffer;
    const dv = w.frameView;
    // The connection's header: 4 bytes a move (38 or 58 bytes: a last 2).
    const hv = this.headView;
    let i = 0;
    for (; i + 4 <= headLen; i += 4) dv.setInt32(at + i, hv.getInt32(i, true), true);
    if (i < headLen) dv.setInt16(at + i, hv.getInt16(i, true), true);
    const ipAt = at + ETHERNET_HEADER_LEN;
    if (this.family === 4) {
      const total = IPV4_HEADER_LEN + tcpLen;
      dv.setUint16(ipAt + 2, total);
      dv.setUint16(ipAt + 4, ipId);
      dv.setUint16(ipAt + 10, fold(this.ipBase + total + ipId));
    } else {
      // Version 6, traffic class 0, the flow label [RFC 8200 §3].
      dv.setInt32(ipAt, 0x60000000 | flow);
      dv.setUint16(ipAt + 4, tcpLen);
    }
    const tcpAt = at + headLen - 4;
    const offFlags = (hlen << 10) | flags;
    window &= 0xffff;
    dv.setInt32(tcpAt + 4, seq | 0);
    dv.setInt32(tcpAt + 8, ack | 0);
    dv.setInt32(tcpAt + 12, (offFlags << 16) | window);
    dv.setInt32(tcpAt + 16, 0); // checksum (for now) and urgent pointer
    let sum = this.tcpBase + tcpLen + (seq >>> 16) + (seq & 0xffff) + (ack >>> 16) + (ack & 0xffff) + offFlags + window + opts.sum;
    const o = tcpAt + TCP_HEADER_LEN;
    if (optLen !== 0) {
      const ov = opts.view;
      for (let k = 0; k < optLen; k += 4) dv.setInt32(o + k, ov.getInt32(k, true), true);
      const ts = opts.tsAt;
      if (ts >= 0) {
        dv.setInt32(o + ts, tsval | 0);
        dv.setInt32(o + ts + 4, tsecr | 0);
        sum += (tsval >>> 16) + (tsval & 0xffff) + (tsecr >>> 16) + (tsecr & 0xffff);
      }
    }
    const n = payload.length;
    if (n !== 0) {
      sum += this.payloadSum(payload);
      const pv = this.payloadView;
      const pAt = o + optLen;
      let k = 0;
      for (; k + 4 <= n; k += 4) dv.setInt32(pAt + k, pv.getInt32(k, true), true);
      for (; k < n; k++) buf[pAt + k] = payload[k]!;
    }
    dv.setUint16(tcpAt + 16, fold(sum));
    w.commitFrameAt(captureId, len, comment, record);
  }

  /** The payload's 16-bit words summed (an odd last byte padded with zero); payloadView becomes its view. */
  private payloadSum(payload: Uint8Array): number {
    if (payload === this.lastPayload) return this.lastPayloadSum;
    this.payloadView = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    let sum = 0;
    const n = payload.length;
    for (let i = 0; i + 1 < n; i += 2) sum += (payload[i]! << 8) | payload[i + 1]!;
    if ((n & 1) !== 0) sum += payload[n - 1]! << 8;
    this.lastPayload = payload;
    this.lastPayloadSum = sum;
    // Its copy for serverFrame.
    if (this.region !== null && n <= REGION_BYTES - REGION_PAYLOAD) this.region.set(payload, REGION_PAYLOAD);
    return sum;
  }
}

const EMPTY = new Uint8Array(0);

/** A sum of 16-bit words (below 2^31) folded into 16 bits and complemented: a checksum field's value. */
function fold(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
