// Replayed connections by 4-tuple, looked up once per captured packet: an open-addressing table
// (linear probing, backward-shift deletion) over a symmetric 32-bit hash of the tuple read straight
// from the packet's bytes, so both directions of a connection land on one probe sequence and no
// key (string, or number past 2^31) is made per packet. Each address is also kept as one 32-bit
// word (IPv4: the address itself), so a probe compares integers and reads bytes only for IPv6.
// Capped: past `max` entries the oldest goes.

/** What the table needs of an entry: its tuple, hash and place in the age list. */
export interface TupleEntry {
  family: number;
  /** The client's and the server's address bytes (4 or 16) and ports. */
  cAddr: Uint8Array;
  cPort: number;
  sAddr: Uint8Array;
  sPort: number;
  /** addrWord of cAddr and sAddr. */
  cWord: number;
  sWord: number;
  hash: number;
  older: TupleEntry | null;
  newer: TupleEntry | null;
}

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
  // Left an int32 (no >>> 0: a uint32 past 2^31 is a boxed number); the table masks it.
  return h ^ (h >>> 13);
}

function sameAddr(a: Uint8Array, buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[at + i]) return false;
  return true;
}

export class ConnectionTable<T extends TupleEntry> {
  private readonly slots: (T | undefined)[];
  private readonly mask: number;
  private count = 0;
  private oldest: T | null = null;
  private newest: T | null = null;
  /** Whether the last find() matched the packet as the server's (destination = the client). */
  reversed = false;

  constructor(private readonly max: number, private readonly onEvict: (e: T) => void = () => {}) {
    let cap = 16;
    while (cap < max * 2) cap *= 2;
    this.slots = new Array<T | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  /**
   * The entry of the packet src:sport -> dst:dport in either direction (see `reversed`), or
   * undefined; srcWord and dstWord are the addresses' addrWord, hash their tupleHash.
   */
  find(buf: Uint8Array, srcAt: number, srcWord: number, sport: number, dstAt: number, dstWord: number, dport: number, family: number,
    hash: number): T | undefined {
    const slots = this.slots;
    const mask = this.mask;
    const v6 = family === 6;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const e = slots[i];
      if (e === undefined) return undefined;
      if (e.hash !== hash || e.family !== family) continue;
      if (e.cPort === sport && e.sPort === dport && e.cWord === srcWord && e.sWord === dstWord
        && (!v6 || (sameAddr(e.cAddr, buf, srcAt) && sameAddr(e.sAddr, buf, dstAt)))) {
        this.reversed = false;
        return e;
      }
      if (e.cPort === dport && e.sPort === sport && e.cWord === dstWord && e.sWord === srcWord
        && (!v6 || (sameAddr(e.cAddr, buf, dstAt) && sameAddr(e.sAddr, buf, srcAt)))) {
        this.reversed = true;
        return e;
      }
    }
  }

  /** Adds e (its hash set, its tuple not in the table); the oldest entry goes when full. */
  add(e: T): void {
    if (this.count >= this.max && this.oldest) {
      const old = this.oldest;
      this.delete(old);
      this.onEvict(old);
    }
    const slots = this.slots;
    let i = e.hash & this.mask;
    while (slots[i] !== undefined) i = (i + 1) & this.mask;
    slots[i] = e;
    this.count++;
    e.newer = null;
    e.older = this.newest;
    if (this.newest) this.newest.newer = e; else this.oldest = e;
    this.newest = e;
  }

  /** Removes e if present. */
  delete(e: T): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = e.hash & mask;
    for (;;) {
      const f = slots[i];
      if (f === undefined) return;
      if (f === e) break;
      i = (i + 1) & mask;
    }
    // Backward shift: later entries of the run move up unless their home lies after the hole.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const f = slots[j];
      if (f === undefined) break;
      const home = f.hash & mask;
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) { slots[i] = f; i = j; }
    }
    slots[i] = undefined;
    this.count--;
    if (e.older) e.older.newer = e.newer; else this.oldest = e.newer as T | null;
    if (e.newer) e.newer.older = e.older; else this.newest = e.older as T | null;
    e.older = e.newer = null;
  }
}
