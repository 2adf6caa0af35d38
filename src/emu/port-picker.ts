// connect()'s choice of a local port, found without trying taken ports one by one.
//
// Linux tries the ephemeral range from a hashed offset, even ports first, then odd, each port
// in turn [net/ipv4/inet_hashtables.c __inet_hash_connect]. With TIME_WAIT holding every port a
// connection used, a busy client tries thousands of ports per connect: the kernel pays that, and
// so did bindlab (12 clients x 20,000 connections: 39 s). The answer depends only on which ports
// are free, so it is found here by skipping, a 32-bit word at a time, the ports a bitmap marks as
// held by a connection of the same 4-tuple; each port the bitmap does not rule out is still
// asked the host's exact question (bound sockets, other owners, TIME_WAIT takeover), so the pick
// is the one trying every port gives.

/** The host's exact answer: may the connection use this port? (It may take over a TIME_WAIT when it says yes.) */
export type PortFree = (port: number) => boolean;

/** A pick: the port, and the index i (0, 2, 4, ...) in its parity's sequence where it was found. */
export interface PortPick {
  readonly port: number;
  readonly i: number;
}

/**
 * The kernel's order, one port at a time: offset (even), offset + 2, ... (mod n), then the odd
 * ones [net/ipv4/inet_hashtables.c __inet_hash_connect]. n is the range's size, even when above 1.
 * The reference for PortTupleBits' pick (test/emu/port-picker.test.ts compares the two); with
 * `tries`, gives up (null) after that many ports.
 */
export function pickPortLinear(low: number, n: number, offset: number, free: PortFree, tries = Infinity): PortPick | null {
  for (let parity = 0; parity < 2; parity++) {
    for (let i = 0; i < n; i += 2) {
      if (tries-- <= 0) return null;
      const port = low + ((offset + i + parity) % n);
      if (free(port)) return { port, i };
    }
  }
  return null;
}

const WORDS = 1024; // 32768 ports of one parity, 32 a word

/**
 * The ports held by client connections of one 4-tuple key (source, destination, destination port)
 * on one host: `held`, any such connection on the port; `timeWait`, one of them in TIME_WAIT.
 * Per parity of the port number, bit q of word q >> 5 is port 2q + parity.
 */
export class PortTupleBits {
  private readonly held = [new Uint32Array(WORDS), new Uint32Array(WORDS)] as const;
  private readonly timeWait = [new Uint32Array(WORDS), new Uint32Array(WORDS)] as const;

  /** Records what holds the port now (from the host's own table: see HostState.tupleState). */
  set(port: number, held: boolean, timeWait: boolean): void {
    const a = port & 1;
    const q = port >>> 1;
    const bit = 1 << (q & 31);
    const w = q >>> 5;
    if (held) this.held[a][w] |= bit; else this.held[a][w] &= ~bit;
    if (timeWait) this.timeWait[a][w] |= bit; else this.timeWait[a][w] &= ~bit;
  }

  /**
   * pickPortLinear's answer, trying only ports the bitmap does not rule out: a port held by a
   * connection of this 4-tuple is never free, unless (takeover) one of them is in TIME_WAIT,
   * which the exact question then decides [net/ipv4/tcp_ipv4.c tcp_twsk_unique].
   */
  pick(low: number, n: number, offset: number, takeover: boolean, free: PortFree): PortPick | null {
    for (let parity = 0; parity < 2; parity++) {
      // This parity's ports in the kernel's order: from low + offset + parity up to the range's
      // last of that parity, then from low + parity up to just before the start.
      const first = low + parity;
      const last = low + n - 2 + parity;
      const start = low + offset + parity;
      const a = first & 1;
      let port = this.scan(a, start >>> 1, last >>> 1, takeover, free);
      if (port < 0 && start > first) port = this.scan(a, first >>> 1, (start - 2) >>> 1, takeover, free);
      if (port >= 0) return { port, i: (port - low - parity - offset + n) % n };
    }
    return null;
  }

  /** The first port 2q + a, q from qFrom to qTo, not ruled out and free; -1 if none. */
  private scan(a: number, qFrom: number, qTo: number, takeover: boolean, free: PortFree): number {
    const held = this.held[a];
    const tw = this.timeWait[a];
    let q = qFrom;
    while (q <= qTo) {
      const w = q >>> 5;
      const ruledOut = takeover ? held[w]! & ~tw[w]! : held[w]!;
      // Candidates in this word from bit q & 31 up.
      let cand = ~ruledOut & (-1 << (q & 31));
      while (cand !== 0) {
        const b = 31 - Math.clz32(cand & -cand);
        const at = (w << 5) | b;
        if (at > qTo) return -1;
        const port = 2 * at + a;
        if (free(port)) return port;
        cand &= cand - 1;
      }
      q = (w + 1) << 5;
    }
    return -1;
  }
}
