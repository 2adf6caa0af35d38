// connect()'s port choice: the bitmap picker (PortTupleBits) must give exactly the port, and the
// index, that trying every port in the kernel's order gives (pickPortLinear), on any occupancy:
// ports held by connections of the same 4-tuple (some in TIME_WAIT, some of those old enough to
// take over), ports a bound socket holds, any range, any offset. And whole runs pick the same
// ports whichever way: a client that connects past half its range (where the bitmap takes over).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PortTupleBits, pickPortLinear } from '../../src/emu/port-picker.js';
import { runPolicy } from '../../src/emu/engine.js';
import { getPolicy } from '../../src/emu/policy/index.js';
import { parseScenario } from '../../src/scenario/load.js';

/** A random occupancy of a port range and the question the host would answer for it. */
const occupancy = fc.record({
  low: fc.integer({ min: 1024, max: 64000 }),
  size: fc.integer({ min: 2, max: 1500 }),
  offsetSeed: fc.nat(),
  /** Per port: 0 free, 1 held (ESTABLISHED), 2 TIME_WAIT too young to take over, 3 TIME_WAIT old enough, 4 a bound socket. */
  states: fc.array(fc.constantFrom(0, 1, 1, 1, 2, 2, 3, 4), { minLength: 1500, maxLength: 1500 }),
  /** Mostly full ranges: the case the bitmap is for. */
  fill: fc.double({ min: 0, max: 1, noNaN: true }),
  takeover: fc.boolean(),
});

describe('the bitmap port picker agrees with trying every port', () => {
  it('on random occupancy: the same port and index, or none from both', () => {
    fc.assert(fc.property(occupancy, ({ low, size, offsetSeed, states, fill, takeover }) => {
      const high = Math.min(65535, low + size - 1);
      let n = high - low + 1;
      if (n > 1) n &= ~1;
      const offset = (offsetSeed % n) & ~1;
      const state = (port: number): number => {
        const s = states[port - low]!;
        // Most ports taken when fill is high: keep a state, else free.
        return (port * 2654435761 >>> 0) / 2 ** 32 < fill ? s : 0;
      };
      const bits = new PortTupleBits();
      // Stray bits outside the range must not matter.
      bits.set(low - 1, true, false);
      bits.set(high + 1, true, true);
      for (let p = low; p <= high; p++) {
        const s = state(p);
        if (s >= 1 && s <= 3) bits.set(p, true, s >= 2);
      }
      const asked: number[] = [];
      const free = (port: number): boolean => {
        asked.push(port);
        const s = state(port);
        return s === 0 || (takeover && s === 3);
      };
      const want = pickPortLinear(low, n, offset, free);
      const got = bits.pick(low, n, offset, takeover, free);
      expect(got).toEqual(want);
      // Nothing outside the range is ever asked about.
      expect(asked.every((p) => p >= low && p <= high)).toBe(true);
    }), { numRuns: 400 });
  });

  it('bits cleared again are free again; a port set twice is still one port; TIME_WAIT only counts with takeover', () => {
    const bits = new PortTupleBits();
    for (let p = 32768; p < 32768 + 100; p++) bits.set(p, true, false);
    const free = () => true;
    expect(bits.pick(32768, 100, 0, false, free)).toBeNull();
    bits.set(32768, false, false);
    expect(bits.pick(32768, 100, 0, false, free)).toEqual({ port: 32768, i: 0 });
    bits.set(32768, true, false);
    bits.set(32768, true, false);
    expect(bits.pick(32768, 100, 0, false, free)).toBeNull();
    bits.set(32769, false, false);
    expect(bits.pick(32768, 100, 0, false, free)).toEqual({ port: 32769, i: 0 });
    bits.set(32800, true, true);
    expect(bits.pick(32768, 100, 0, false, free)).toEqual({ port: 32769, i: 0 });
    expect(bits.pick(32768, 100, 0, true, free)).toEqual({ port: 32800, i: 32 });
    // From offset 40: 32808 .. 32866, then 32768 .. 32806 (32800 is i = 92).
    expect(bits.pick(32768, 100, 40, true, free)).toEqual({ port: 32800, i: 92 });
  });
});

describe('runs past the point where the bitmap takes over', () => {
  // A small range (100 ports) so a few hundred connections exhaust it: each client holds every
  // port it used in TIME_WAIT; the picks past the 64th port per key come from the bitmap, which
  // must follow ports coming free (TIME_WAIT over after 60 s, or taken over on the loopback).
  const scenario = (close: string, loopback: boolean) => parseScenario(`name: ports
seed: 7
hosts:
  server:
    interfaces: { eth0: { addresses: [10.0.0.1/24] } }
    processes: { p: { uid: 0 } }
    sysctl: { ip_local_port_range: "40000 40099" }
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24] } }
    sysctl: { ip_local_port_range: "40000 40099" }
steps:
  - { socket: l, process: server/p }
  - { bind: l, address: 0.0.0.0:8080 }
  - { listen: l }
${'  - { connect: { from: FROM, to: TO:8080, close: CLOSE, count: 60 } }\n'.repeat(2)}  - { wait: 61s }
${'  - { connect: { from: FROM, to: TO:8080, close: CLOSE, count: 60 } }\n'.repeat(2)}  - { wait: 2s }
  - { connect: { from: FROM, to: TO:8080, close: CLOSE, count: 60 } }
`.replace(/FROM/g, loopback ? 'server' : 'client').replace(/TO/g, loopback ? '127.0.0.1' : '10.0.0.1').replace(/CLOSE/g, close), 'ports.yaml');

  it.each([
    ['client closes first (TIME_WAIT holds the ports)', 'client', false],
    ['server closes first', 'server', false],
    ['connections held open', 'none', false],
    ['over the loopback (old TIME_WAITs taken over)', 'client', true],
  ])('%s: every connection gets the port trying each port in turn gives', (_name, close, loopback) => {
    const s = scenario(close as string, loopback as boolean);
    const ports = (linearOnly: boolean): string[] => {
      const out: string[] = [];
      const run = runPolicy(s, getPolicy('linux'), {
        sink: {
          addInterface: () => 0, addName: () => {},
          packet: (_i: number, _t: number, frame: Uint8Array, len: number) => {
            // Ethernet + IPv4 (20 bytes) + TCP: the client's SYNs carry its port.
            if (len >= 54 && frame[12] === 0x08 && frame[13] === 0x00 && frame[23] === 6 && (frame[47]! & 0x12) === 0x02) {
              out.push(String((frame[34]! << 8) | frame[35]!));
            }
          },
        },
        ...(linearOnly ? { linearPortSearch: true } : {}),
      });
      out.push(...run.steps.map((x) => (x.results ?? [x.result]).join(',')));
      return out;
    };
    expect(ports(false)).toEqual(ports(true));
  });
});
