// Replayed connections by 4-tuple, looked up once per captured packet. A connection is a slot
// number; its tuple lives in typed arrays (no object per connection), so a capture with a
// hundred thousand half-open connections (a SYN flood, a port scan) costs a fixed few MB and
// leaves no garbage. The index is open addressing (linear probing, backward-shift deletion)
// over a symmetric 32-bit hash of the tuple read straight from the packet's bytes, so both
// directions of a connection land on one probe sequence and no key is made per packet. Each
// address is also kept as one 32-bit word (IPv4: the address itself), so a probe compares
// integers and reads bytes only for IPv6. Full: the oldest connection's slot is taken.

import { makeIp, type IpAddr } from '../emu/addr.js';

/** An address as one 32-bit word (an int32): IPv4 itself, IPv6 its four words xor-ed. */
export function addrWord(buf: Uint8Array, at: number, len: number): number {
  let w = 0;
  for (let i = 0; i < len; i += 4) w ^= (buf[at + i]! << 24) | (buf[at + i + 1]! << 16) | (buf[at + i + 2]! << 8) | buf[at + i + 3]!;
  return w;
}

/** One endpoint's share of the hash (murmur3's multipliers); adding the two makes it symmetric. */
function endpointMix(addr: number, port: number): number {
  let h = Math.imul(addr ^ Math.imul(port, 0x9e3779b1), 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  return Math.imul(h, 0x1b873593);
}

/** The same value for a->b and b->a (an int32) from the addresses' words: a connection's two directions hash alike. */
export function tupleHash(aWord: number, aPort: number, bWord: number, bPort: number): number {
  let h = (endpointMix(aWord, aPort) + endpointMix(bWord, bPort)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  // Left an int32 (no >>> 0: a uint32 past 2^31 is a boxed number); the index masks it.
  return h ^ (h >>> 13);
}

/** A DataView of the last buffer lookup() read (a capture reader's buffer changes only when refilled). */
const views: { buf: Uint8Array; view: DataView } = { buf: new Uint8Array(0), view: new DataView(new ArrayBuffer(0)) };
function viewOf(buf: Uint8Array): DataView {
  views.buf = buf;
  views.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return views.view;
}

const NONE = -1;
/** Entries of the index to begin with (see the constructor). */
const INITIAL_INDEX = 1024;
/** A slot's record in `rec` (int32s, one cache line's half): hash, family, ports, address words, age links. */
const R_HASH = 0, R_FAMILY = 1, R_PORTS = 2, R_CWORD = 3, R_SWORD = 4, R_OLDER = 5, R_NEWER = 6, REC = 8;

export class ConnectionTable {
  readonly capacity: number;
  /** Whether the last find() matched the packet as the server's (destination = the client). */
  reversed = false;
  /**
   * Per slot, side by side so a probe touches one cache line: the tuple's hash, its family (0 when
   * free), the client's port << 16 | the server's, the addresses' words, and the age list's links.
   */
  private readonly rec: Int32Array;
  /** Per slot: the client's and the server's address (16 bytes each; IPv4 in the first 4). */
  private readonly cAddr: Uint8Array;
  private readonly sAddr: Uint8Array;
  private oldest = NONE;
  private newest = NONE;
  /** Free slots, a stack. */
  private readonly free: Int32Array;
  private freeCount: number;
  /** The open-addressing index: pairs of (slot + 1, hash), 0 for empty; the hash saves reading the slot's record on a miss. */
  private index: Int32Array;
  private mask: number;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.rec = new Int32Array(capacity * REC);
    this.cAddr = new Uint8Array(capacity * 16);
    this.sAddr = new Uint8Array(capacity * 16);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeCount = capacity;
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.maxIndex = cap;
    // Small at first, doubled as connections come (at most half full): a capture's connections
    // at once are usually few, and a probe of an index that stays in the CPU's cache costs less
    // than one of 512 KiB (decisions-only replay of 10M packets in-process: 1.40 -> 1.23 s of CPU).
    cap = Math.min(cap, INITIAL_INDEX);
    this.index = new Int32Array(cap * 2);
    this.mask = cap - 1;
  }

  /** The index's largest size: the first power of two at least twice the capacity. */
  private readonly maxIndex: number;

  /** The index at twice its size, every entry placed anew. */
  private growIndex(): void {
    const old = this.index;
    const cap = (this.mask + 1) * 2;
    const index = new Int32Array(cap * 2);
    const mask = cap - 1;
    for (let k = 0; k < old.length; k += 2) {
      const e = old[k]!;
      if (e === 0) continue;
      const h = old[k + 1]!;
      let i = h & mask;
      while (index[2 * i] !== 0) i = (i + 1) & mask;
      index[2 * i] = e;
      index[2 * i + 1] = h;
    }
    this.index = index;
    this.mask = mask;
  }

  /** The slot of the connection tracked longest (-1: none). */
  get oldestSlot(): number {
    return this.oldest;
  }

  /** Connections tracked now. */
  get size(): number {
    return this.capacity - this.freeCount;
  }

  /** The addresses' words and the tuple's hash of the last lookup() (for add()). */
  srcWord = 0;
  dstWord = 0;
  hash = 0;

  /**
   * find() of the packet buf[srcAt]:sport -> buf[dstAt]:dport (addresses of 4 or 16 bytes by
   * family), its words and hash computed here and kept in srcWord, dstWord and hash. One call
   * for the packet loop (V8 inlines these functions into it, not into a caller with more to inline).
   */
  lookup(buf: Uint8Array, family: number, srcAt: number, sport: number, dstAt: number, dport: number): number {
    let srcWord: number, dstWord: number;
    if (family === 4) {
      // addrWord's value, read as one word (10M packets, decisions only: 0.80 -> 0.75 s of CPU).
      const v = buf === views.buf ? views.view : viewOf(buf);
      srcWord = v.getInt32(srcAt);
      dstWord = v.getInt32(dstAt);
    } else {
      srcWord = addrWord(buf, srcAt, 16);
      dstWord = addrWord(buf, dstAt, 16);
    }
    this.srcWord = srcWord;
    this.dstWord = dstWord;
    // The connection of the last packet found, first: a connection's packets come in runs. (IPv4
    // only, where the words are the addresses; a slot freed or reused holds another tuple or none.)
    const rec = this.rec;
    const r = this.last * REC;
    if (family === 4 && rec[r + R_FAMILY] === 4 && !this.twice) {
      const ports = rec[r + R_PORTS]!, cWord = rec[r + R_CWORD]!, sWord = rec[r + R_SWORD]!;
      if (ports === ((sport << 16) | dport) && cWord === srcWord && sWord === dstWord) {
        this.hash = rec[r + R_HASH]!;
        this.reversed = false;
        return this.last;
      }
      if (ports === ((dport << 16) | sport) && cWord === dstWord && sWord === srcWord) {
        this.hash = rec[r + R_HASH]!;
        this.reversed = true;
        return this.last;
      }
    }
    const hash = tupleHash(srcWord, sport, dstWord, dport);
    this.hash = hash;
    const e = this.find(buf, srcAt, srcWord, sport, dstAt, dstWord, dport, family, hash);
    if (e >= 0) this.last = e;
    return e;
  }

  /** The slot lookup() found last (see there). */
  private last = 0;
  /**
   * Whether a packet has ever matched two tracked connections (a tuple added while it, or its
   * reverse, was tracked: a SYN from a connection's server). find() then gives the first in the
   * index's order, which the last slot found need not be: lookup() always asks find() from then on.
   */
  private twice = false;

  /**
   * The slot of the packet src:sport -> dst:dport in either direction (see `reversed`), or -1;
   * srcWord and dstWord are the addresses' addrWord, hash their tupleHash.
   */
  find(buf: Uint8Array, srcAt: number, srcWord: number, sport: number, dstAt: number, dstWord: number, dport: number, family: number,
    hash: number): number {
    const index = this.index;
    const rec = this.rec;
    const mask = this.mask;
    const forward = (sport << 16) | dport;
    const backward = (dport << 16) | sport;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const e = index[2 * i]! - 1;
      if (e < 0) return NONE;
      if (index[2 * i + 1] !== hash) continue;
      const r = e * REC;
      if (rec[r + R_FAMILY] !== family) continue;
      const ports = rec[r + R_PORTS]!;
      if (ports === forward && rec[r + R_CWORD] === srcWord && rec[r + R_SWORD] === dstWord && (family === 4 || this.sameAddrs(e, buf, srcAt, dstAt))) {
        this.reversed = false;
        return e;
      }
      if (ports === backward && rec[r + R_CWORD] === dstWord && rec[r + R_SWORD] === srcWord && (family === 4 || this.sameAddrs(e, buf, dstAt, srcAt))) {
        this.reversed = true;
        return e;
      }
    }
  }

  /**
   * Tracks a new connection from the client address buf[cAt] (4 or 16 bytes by family) to the
   * server's buf[sAt], whose tuple is not tracked; returns its slot. When every slot is taken, the
   * oldest connection goes and its slot is reused: the caller sets all its per-slot state anew.
   */
  add(family: 4 | 6, buf: Uint8Array, cAt: number, cWord: number, cPort: number, sAt: number, sWord: number, sPort: number, hash: number): number {
    if (this.freeCount === 0) this.delete(this.oldest);
    if (!this.twice) {
      const reversed = this.reversed;
      if (this.find(buf, cAt, cWord, cPort, sAt, sWord, sPort, family, hash) >= 0) this.twice = true;
      this.reversed = reversed;
    }
    const slot = this.free[--this.freeCount]!;
    if (2 * (this.capacity - this.freeCount) > this.mask + 1 && this.mask + 1 < this.maxIndex) this.growIndex();
    const len = family === 4 ? 4 : 16;
    for (let i = 0; i < len; i++) {
      this.cAddr[slot * 16 + i] = buf[cAt + i]!;
      this.sAddr[slot * 16 + i] = buf[sAt + i]!;
    }
    const rec = this.rec;
    const r = slot * REC;
    rec[r + R_HASH] = hash;
    rec[r + R_FAMILY] = family;
    rec[r + R_PORTS] = (cPort << 16) | sPort;
    rec[r + R_CWORD] = cWord;
    rec[r + R_SWORD] = sWord;
    const index = this.index;
    let i = hash & this.mask;
    while (index[2 * i] !== 0) i = (i + 1) & this.mask;
    index[2 * i] = slot + 1;
    index[2 * i + 1] = hash;
    rec[r + R_NEWER] = NONE;
    rec[r + R_OLDER] = this.newest;
    if (this.newest !== NONE) rec[this.newest * REC + R_NEWER] = slot; else this.oldest = slot;
    this.newest = slot;
    return slot;
  }

  /** Stops tracking the connection in slot (a tracked one; -1: nothing to do). */
  delete(slot: number): void {
    if (slot < 0) return;
    const index = this.index;
    const rec = this.rec;
    const mask = this.mask;
    let i = rec[slot * REC + R_HASH]! & mask;
    for (;;) {
      const e = index[2 * i]!;
      if (e === 0) return;
      if (e === slot + 1) break;
      i = (i + 1) & mask;
    }
    // Backward shift: later entries of the run move up unless their home lies after the hole.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const e = index[2 * j]!;
      if (e === 0) break;
      const h = index[2 * j + 1]!;
      const home = h & mask;
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) { index[2 * i] = e; index[2 * i + 1] = h; i = j; }
    }
    index[2 * i] = 0;
    index[2 * i + 1] = 0;
    const r = slot * REC;
    rec[r + R_FAMILY] = 0;
    const o = rec[r + R_OLDER]!;
    const n = rec[r + R_NEWER]!;
    if (o !== NONE) rec[o * REC + R_NEWER] = n; else this.oldest = n;
    if (n !== NONE) rec[n * REC + R_OLDER] = o; else this.newest = o;
    rec[r + R_OLDER] = rec[r + R_NEWER] = NONE;
    this.free[this.freeCount++] = slot;
  }

  /** The tracked connections' slots, oldest first. */
  slots(): number[] {
    const out: number[] = [];
    for (let s = this.oldest; s !== NONE; s = this.rec[s * REC + R_NEWER]!) out.push(s);
    return out;
  }

  /** The client's address and port of a tracked connection. */
  clientEndpoint(slot: number): { addr: IpAddr; port: number } {
    const family = this.rec[slot * REC + R_FAMILY] === 4 ? 4 : 6;
    return { addr: makeIp(family, this.cAddr.subarray(slot * 16, slot * 16 + (family === 4 ? 4 : 16))), port: this.clientPort(slot) };
  }

  /** The client's and the server's port of a tracked connection. */
  clientPort(slot: number): number {
    return this.rec[slot * REC + R_PORTS]! >>> 16;
  }

  serverPort(slot: number): number {
    return this.rec[slot * REC + R_PORTS]! & 0xffff;
  }

  /** Whether the client of the tracked connection in slot is the address at buf[at] (4 or 16 bytes by family) and port. */
  isClient(slot: number, family: 4 | 6, buf: Uint8Array, at: number, port: number): boolean {
    const r = slot * REC;
    if (this.rec[r + R_FAMILY] !== family || this.rec[r + R_PORTS]! >>> 16 !== port) return false;
    const base = slot * 16, len = family === 4 ? 4 : 16;
    for (let i = 0; i < len; i++) if (this.cAddr[base + i] !== buf[at + i]) return false;
    return true;
  }

  /** Whether slot's client and server addresses (IPv6) are those at buf[cAt] and buf[sAt]. */
  private sameAddrs(slot: number, buf: Uint8Array, cAt: number, sAt: number): boolean {
    return this.same(this.cAddr, slot, buf, cAt) && this.same(this.sAddr, slot, buf, sAt);
  }

  private same(addrs: Uint8Array, slot: number, buf: Uint8Array, at: number): boolean {
    const base = slot * 16;
    for (let i = 0; i < 16; i++) if (addrs[base + i] !== buf[at + i]) return false;
    return true;
  }
}
