// The byte work of a replay's output in WebAssembly (AssemblyScript; `npm run build` compiles it
// to dist/wasm/packets.wasm, src/wasm/packets.ts loads it). Addresses are offsets in the memory
// the module imports, where the capture reader's and the capture writers' buffers live
// (src/wasm/packets.ts allocates them there), so a packet is read where it was read into and
// written where its block is flushed from: no copy in or out.
//
// Each function does what a JavaScript function does byte for byte, the one used when a buffer
// is not in this memory: clientSegment is src/replay/client-rewrite.ts's writeClientSegment,
// packetBlock is src/pcap/pcapng-writer.ts's commitFrameAt, serverFrame is
// src/replay/server-frames.ts's frame. The tests compare them on random input
// (test/replay/client-rewrite.test.ts, server-frames.test.ts, test/wasm/packets.test.ts).
// The rules, cited there too: sums corrected per rewritten field [RFC 1624 §3]; the IPv4 header
// checksum over the header alone [RFC 791 §3.1]; the TCP checksum over the pseudo header and the
// segment [RFC 9293 §3.1, RFC 8200 §8.1]; SACK edges [RFC 2018 §3] and TSecr [RFC 7323 §3] in the
// acknowledged side's sequence and timestamp space; the enhanced packet block and its
// opt_comment options [draft-ietf-opsawg-pcapng, "Enhanced Packet Block", "Options"].
//
// Checksums (RFC 1071): words are loaded little-endian 8 bytes at a time; each 16-bit half is a
// big-endian word with its bytes swapped, and one's complement sums commute with the swap
// [RFC 1071 §2(B)], so a sum is folded and swapped back once at the end.

const TCP_ACK: u8 = 16;
const TCPOPT_EOL: u8 = 0, TCPOPT_NOP: u8 = 1, TCPOPT_SACK: u8 = 5, TCPOPT_TIMESTAMPS: u8 = 8;
const IPPROTO_TCP: u32 = 6;
const BT_EPB: u32 = 6;

/** A 64-bit sum of 32-bit little-endian words folded to 16 bits (still byte-swapped). */
@inline function fold64(s: u64): u32 {
  s = (s & 0xffffffff) + (s >> 32);
  s = (s & 0xffffffff) + (s >> 32);
  let x = <u32>s;
  x = (x & 0xffff) + (x >> 16);
  x = (x & 0xffff) + (x >> 16);
  return x;
}

/** A folded byte-swapped sum swapped back. */
@inline function swap16(x: u32): u32 {
  return ((x & 0xff) << 8) | (x >> 8);
}

/** A sum of 16-bit words (below 2^32) folded into 16 bits and complemented: the checksum field's value. */
@inline function complement(sum: u64): u32 {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return ~(<u32>sum) & 0xffff;
}

@inline function loadBe32(at: usize): u32 {
  return bswap<u32>(load<u32>(at));
}

@inline function storeBe32(at: usize, v: u32): void {
  store<u32>(at, bswap<u32>(v));
}

@inline function loadBe16(at: usize): u32 {
  return <u32>bswap<u16>(load<u16>(at));
}

@inline function storeBe16(at: usize, v: u32): void {
  store<u16>(at, bswap<u16>(<u16>v));
}

/** Copies [from, end) to from + shift, 8 bytes at a time; returns the little-endian 32-bit words' sum (bytes past a multiple of 4: see the tail). */
@inline function copySum(from: usize, end: usize, shift: usize): u64 {
  let sum: u64 = 0;
  let i = from;
  for (; i + 8 <= end; i += 8) {
    const x = load<u64>(i);
    store<u64>(i + shift, x);
    sum += (x & 0xffffffff) + (x >> 32);
  }
  if (i + 4 <= end) {
    const x = load<u32>(i);
    store<u32>(i + shift, x);
    sum += <u64>x;
    i += 4;
  }
  if (i + 2 <= end) {
    const x = load<u16>(i);
    store<u16>(i + shift, x);
    sum += <u64>x;
    i += 2;
  }
  if (i < end) {
    const x = load<u8>(i);
    store<u8>(i + shift, x);
    sum += <u64>x;
  }
  return sum;
}

/** The real server's sequence number as the emulated server's (client-rewrite.ts mapSeq). */
@inline function mapSeq(real: u32, realIsn: u32, emuIsn: u32, emuNext: u32): u32 {
  const offset = real - realIsn;
  const sent = emuNext - emuIsn;
  return emuIsn + (offset < sent ? offset : sent);
}

/** The bytes of each 16-bit half of v swapped. */
@inline function swapHalves(v: u32): u32 {
  return ((v & 0x00ff00ff) << 8) | ((v >> 8) & 0x00ff00ff);
}

/** What replacing the big-endian 32-bit value old by v adds to a sum of the segment's 16-bit words (client-rewrite.ts change). */
@inline function change(old: u32, v: u32, odd: usize): u64 {
  if (odd != 0) { old = swapHalves(old); v = swapHalves(v); }
  return <u64>(v >> 16) + <u64>(v & 0xffff) + 0x1fffe - <u64>(old >> 16) - <u64>(old & 0xffff);
}

/**
 * writeClientSegment's frame: the bytes [from, capEnd) (from: the frame's first byte to copy;
 * the IP header at ip, the TCP segment at [tcp, segEnd)) copied to from + shift (modulo 2^32),
 * the acknowledgement number, SACK edges and TSecr moved into the emulated server's sequence
 * space when mapped is 1 and the segment has ACK, the IPv4 header checksum and (when the capture
 * holds the whole segment) the TCP checksum recomputed. v4: 1 for IPv4, 0 for IPv6.
 */
export function clientSegment(from: usize, shift: usize, ip: usize, tcp: usize, segEnd: usize, capEnd: usize, v4: i32,
  mapped: i32, realIsn: u32, emuIsn: u32, emuNext: u32, emuTsval: u32): void {
  // The link header as captured, the IP header summed as copied.
  copySum(from, ip, shift);
  const hl = copySum(ip, tcp, shift);
  const whole = segEnd <= capEnd;
  const sumEnd = whole ? segEnd : tcp;
  const le = copySum(tcp, sumEnd, shift);
  copySum(sumEnd, capEnd, shift);
  // Corrections for the rewritten fields, read from the capture.
  let fix: u64 = 0;
  const flags = load<u8>(tcp + 13);
  if (mapped != 0 && (flags & TCP_ACK) != 0) {
    const oldAck = loadBe32(tcp + 8);
    const ack = mapSeq(oldAck, realIsn, emuIsn, emuNext);
    storeBe32(tcp + 8 + shift, ack);
    fix += change(oldAck, ack, 0);
    const optEnd = tcp + ((<usize>load<u8>(tcp + 12) >> 4) << 2);
    let o = tcp + 20;
    while (o < optEnd) {
      const kind = load<u8>(o);
      if (kind == TCPOPT_EOL) break;
      if (kind == TCPOPT_NOP) { o++; continue; }
      const n = <usize>load<u8>(o + 1);
      if (n < 2 || o + n > optEnd) break;
      if (kind == TCPOPT_TIMESTAMPS && n == 10) {
        const old = loadBe32(o + 6);
        if (old != 0) {
          storeBe32(o + 6 + shift, emuTsval);
          fix += change(old, emuTsval, (o - tcp) & 1);
        }
      } else if (kind == TCPOPT_SACK) {
        for (let e = o + 2; e + 4 <= o + n; e += 4) {
          const old = loadBe32(e);
          const v = mapSeq(old, realIsn, emuIsn, emuNext);
          storeBe32(e + shift, v);
          fix += change(old, v, (e - tcp) & 1);
        }
      }
      o += n;
    }
  }
  let pseudo: u64;
  if (v4 != 0) {
    storeBe16(ip + shift + 10, complement(<u64>swap16(fold64(hl)) + 0xffff - <u64>loadBe16(ip + 10)));
    if (!whole) return;
    pseudo = <u64>load<u32>(ip + 12) + <u64>load<u32>(ip + 16);
  } else {
    if (!whole) return;
    pseudo = 0;
    for (let i = ip + 8; i < ip + 40; i += 8) {
      const x = load<u64>(i);
      pseudo += (x & 0xffffffff) + (x >> 32);
    }
  }
  const sum = <u64>IPPROTO_TCP + <u64>(segEnd - tcp) + fix + 0xffff - <u64>loadBe16(tcp + 16) + <u64>swap16(fold64(le + pseudo));
  storeBe16(tcp + shift + 16, complement(sum));
}

/** Copies n bytes from src to dst, 8 at a time. */
@inline function copyBytes(dst: usize, src: usize, n: usize): void {
  let i: usize = 0;
  for (; i + 8 <= n; i += 8) store<u64>(dst + i, load<u64>(src + i));
  if (i + 4 <= n) { store<u32>(dst + i, load<u32>(src + i)); i += 4; }
  if (i + 2 <= n) { store<u16>(dst + i, load<u16>(src + i)); i += 2; }
  if (i < n) store<u8>(dst + i, load<u8>(src + i));
}

/**
 * src/replay/server-frames.ts's frame without its block: the emulated server's frame at `at`
 * from the connection's header (head: headLen bytes, the ports last; its fixed fields' sums
 * ipBase and tcpBase), with its own lengths, IPv4 ID (v4) or flow label, sequence numbers,
 * flags, window, options (optLen bytes at opts summing to optsSum with zero timestamps; its
 * TSval at tsAt, -1: none) and payload (payloadLen bytes at payload summing to payloadSum).
 */
export function serverFrame(at: usize, head: usize, headLen: usize, v4: i32, ipBase: u32, ipId: u32, flow: u32, tcpBase: u32,
  seq: u32, ack: u32, flags: u32, window: u32, opts: usize, optLen: usize, optsSum: u32, tsAt: i32, tsval: u32, tsecr: u32,
  payload: usize, payloadLen: usize, payloadSum: u32): void {
  copyBytes(at, head, headLen);
  const ip = at + 14;
  const hlen = 20 + <u32>optLen;
  const tcpLen = hlen + <u32>payloadLen;
  if (v4 != 0) {
    const total = 20 + tcpLen;
    storeBe16(ip + 2, total);
    storeBe16(ip + 4, ipId);
    storeBe16(ip + 10, complement(<u64>ipBase + <u64>total + <u64>ipId));
  } else {
    storeBe32(ip, 0x60000000 | flow);
    storeBe16(ip + 4, tcpLen);
  }
  const tcp = at + headLen - 4;
  const offFlags = (hlen << 10) | flags;
  window &= 0xffff;
  storeBe32(tcp + 4, seq);
  storeBe32(tcp + 8, ack);
  storeBe32(tcp + 12, (offFlags << 16) | window);
  store<u32>(tcp + 16, 0);
  let sum: u64 = <u64>tcpBase + <u64>tcpLen + <u64>(seq >> 16) + <u64>(seq & 0xffff) + <u64>(ack >> 16) + <u64>(ack & 0xffff)
    + <u64>offFlags + <u64>window + <u64>optsSum;
  const o = tcp + 20;
  if (optLen != 0) {
    copyBytes(o, opts, optLen);
    if (tsAt >= 0) {
      storeBe32(o + tsAt, tsval);
      storeBe32(o + tsAt + 4, tsecr);
      sum += <u64>(tsval >> 16) + <u64>(tsval & 0xffff) + <u64>(tsecr >> 16) + <u64>(tsecr & 0xffff);
    }
  }
  if (payloadLen != 0) {
    sum += <u64>payloadSum;
    copyBytes(o + optLen, payload, payloadLen);
  }
  storeBe16(tcp + 16, complement(sum));
}


/** An opt_comment of n bytes from src at q (code 1, its length, the bytes, zeros to a multiple of 4); returns the offset after it. */
@inline function putComment(q: usize, src: usize, n: usize): usize {
  store<u16>(q, 1);
  store<u16>(q + 2, <u16>n);
  copyBytes(q + 4, src, n);
  const end = q + 4 + ((n + 3) & ~3);
  for (let i = q + 4 + n; i < end; i++) store<u8>(i, 0);
  return end;
}

/**
 * commitFrameAt's packet block: the EPB header at p (its frame of len bytes, cap of them
 * captured, already at p + 28), the padding, the comment (cLen bytes at c; -1: none) and the
 * record (rLen bytes at r; -1: none) as two opt_comment options and the end of options when
 * either is there, the end; returns the offset after it. The timestamp: floor(timeNs /
 * nsPerUnit) units after the base (baseHi, baseLo: 64 bits).
 */
export function packetBlock(p: usize, iface: u32, timeNs: f64, nsPerUnit: i32, baseHi: u32, baseLo: u32, cap: u32, len: u32,
  c: usize, cLen: i32, r: usize, rLen: i32): usize {
  const units = nsPerUnit == 1 ? <u64>Math.floor(timeNs) : <u64>Math.floor(timeNs / 1000);
  const ts = ((<u64>baseHi << 32) | <u64>baseLo) + units;
  const capPad = (cap + 3) & ~3;
  store<u32>(p, BT_EPB);
  store<u32>(p + 8, iface);
  store<u32>(p + 12, <u32>(ts >> 32));
  store<u32>(p + 16, <u32>ts);
  store<u32>(p + 20, cap);
  store<u32>(p + 24, len);
  const d = p + 28;
  for (let q = d + cap; q < d + capPad; q++) store<u8>(q, 0);
  let q = d + capPad;
  if (cLen >= 0 || rLen >= 0) {
    if (cLen >= 0) q = putComment(q, c, <usize>cLen);
    if (rLen >= 0) q = putComment(q, r, <usize>rLen);
    store<u32>(q, 0);
    q += 4;
  }
  const total = <u32>(q + 4 - p);
  store<u32>(p + 4, total);
  store<u32>(q, total);
  return q + 4;
}
