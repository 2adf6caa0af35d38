// Deterministic randomness: everything random in a run (MACs, ISNs, ports, reuseport picks)
// comes from the scenario's seed, so the same file and seed give byte-identical output.

/** splitmix32-style finaliser: a good 32-bit mix of a 32-bit value. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Hash of a string with a seed (FNV-1a, then mixed). */
export function hashString(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

/** Seeded hash of a connection's 4-tuple (the emulator's inet_ehashfn with a seed as secret). */
export function hashTuple(seed: number, saddr: Uint8Array, sport: number, daddr: Uint8Array, dport: number): number {
  let h = mix32(seed ^ 0x9e3779b9);
  for (let i = 0; i < saddr.length; i++) h = mix32(h ^ saddr[i]! ^ (i << 8));
  for (let i = 0; i < daddr.length; i++) h = mix32(h ^ daddr[i]! ^ (i << 8) ^ 0x10000);
  return mix32(h ^ ((sport << 16) | dport));
}

/** A small seeded generator (mulberry32). */
export class Rng {
  private state: number;
  constructor(seed: number, stream = 0) {
    this.state = mix32((seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  }
  /** Uniform uint32. */
  next32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform integer in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.next32() / 4294967296) * n);
  }
}
