// The replay's connection table (src/replay/connection-table.ts) against a plain Map of the same
// connections: random adds, lookups from either side and deletions, past the size its index starts
// at (it grows as connections come) and up to its capacity (the oldest goes).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addrWord, ConnectionTable, tupleHash } from '../../src/replay/connection-table.js';

interface Tuple { family: 4 | 6; c: number[]; cPort: number; s: number[]; sPort: number }

const key = (t: Tuple): string => `${t.family} ${t.c.join('.')}:${t.cPort} ${t.s.join('.')}:${t.sPort}`;

/** The tuple's addresses in one buffer (client at 0, server at 16), as a packet holds them. */
function bytes(t: Tuple, reversed: boolean): Uint8Array {
  const b = new Uint8Array(32);
  b.set(reversed ? t.s : t.c, 0);
  b.set(reversed ? t.c : t.s, 16);
  return b;
}

function find(table: ConnectionTable, t: Tuple, reversed: boolean): number {
  const b = bytes(t, reversed);
  const len = t.family === 4 ? 4 : 16;
  const [sp, dp] = reversed ? [t.sPort, t.cPort] : [t.cPort, t.sPort];
  const sw = addrWord(b, 0, len), dw = addrWord(b, 16, len);
  return table.find(b, 0, sw, sp, 16, dw, dp, t.family, tupleHash(sw, sp, dw, dp));
}

function add(table: ConnectionTable, t: Tuple): number {
  const b = bytes(t, false);
  const len = t.family === 4 ? 4 : 16;
  const cw = addrWord(b, 0, len), sw = addrWord(b, 16, len);
  return table.add(t.family, b, 0, cw, t.cPort, 16, sw, t.sPort, tupleHash(cw, t.cPort, sw, t.sPort));
}

// Few distinct addresses and ports, so that tuples collide in parts (same words, other ports; IPv6 addresses with the same xor).
const byte = fc.constantFrom(0, 1, 2, 10, 255);
const tuple: fc.Arbitrary<Tuple> = fc.oneof(
  fc.record({ family: fc.constant(4 as const), c: fc.array(byte, { minLength: 4, maxLength: 4 }), cPort: fc.integer({ min: 1, max: 4000 }),
    s: fc.array(byte, { minLength: 4, maxLength: 4 }), sPort: fc.constantFrom(80, 8080) }),
  fc.record({ family: fc.constant(6 as const), c: fc.array(byte, { minLength: 16, maxLength: 16 }), cPort: fc.integer({ min: 1, max: 4000 }),
    s: fc.array(byte, { minLength: 16, maxLength: 16 }), sPort: fc.constantFrom(80, 8080) }),
);
const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), t: tuple }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), i: fc.nat() }) },
);

describe('ConnectionTable', () => {
  it('finds what a Map finds, from either side, as its index grows and when full (the oldest goes)', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 3000, size: 'max' }), fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 600, max: 2500 })), (ops, capacity) => {
      const table = new ConnectionTable(capacity);
      const model = new Map<string, { t: Tuple; slot: number }>();
      for (const o of ops) {
        if (o.kind === 'add') {
          if (model.has(key(o.t))) continue;
          if (model.size === capacity) {
            // Full: the oldest connection leaves for the new one.
            const oldest = table.oldestSlot;
            const gone = [...model].find(([, v]) => v.slot === oldest)!;
            model.delete(gone[0]);
          }
          model.set(key(o.t), { t: o.t, slot: add(table, o.t) });
        } else if (model.size > 0) {
          const [k, v] = [...model][o.i % model.size]!;
          table.delete(v.slot);
          model.delete(k);
        }
        expect(table.size).toBe(model.size);
      }
      for (const { t, slot } of model.values()) {
        expect(find(table, t, false)).toBe(slot);
        expect(table.reversed).toBe(false);
        expect(find(table, t, true)).toBe(slot);
        expect(table.reversed).toBe(true);
      }
      // Tuples not in the table are not found.
      for (const o of ops) if (o.kind === 'add' && !model.has(key(o.t))) expect(find(table, o.t, false)).toBe(-1);
    }), { numRuns: 30 });
  });

  it('lookup (the last connection found first) gives what find gives, also when a tuple is tracked beside its reverse', () => {
    // Small tables and few tuples: lookups hit the last connection often, adds meet their reverse and themselves.
    const few = fc.record({ family: fc.constant(4 as const), c: fc.constantFrom([10, 0, 0, 1], [10, 0, 0, 2]), cPort: fc.constantFrom(80, 4000, 4001),
      s: fc.constantFrom([10, 0, 0, 1], [10, 0, 0, 2]), sPort: fc.constantFrom(80, 4000) });
    const step = fc.oneof(
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('add' as const), t: fc.oneof(few, tuple) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), i: fc.nat() }) },
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('lookup' as const), t: fc.oneof(few, tuple), reversed: fc.boolean() }) },
    );
    fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 400, size: 'max' }), fc.integer({ min: 1, max: 12 }), (steps, capacity) => {
      const table = new ConnectionTable(capacity);
      const slots: number[] = [];
      for (const s of steps) {
        if (s.kind === 'add') slots.push(add(table, s.t));
        else if (s.kind === 'delete') {
          if (slots.length > 0) table.delete(slots.splice(s.i % slots.length, 1)[0]!);
        } else {
          const b = bytes(s.t, s.reversed);
          const [sp, dp] = s.reversed ? [s.t.sPort, s.t.cPort] : [s.t.cPort, s.t.sPort];
          const got = table.lookup(b, s.t.family, 0, sp, 16, dp);
          const got2 = { slot: got, reversed: table.reversed, hash: table.hash, words: [table.srcWord, table.dstWord] };
          const len = s.t.family === 4 ? 4 : 16;
          const sw = addrWord(b, 0, len), dw = addrWord(b, 16, len);
          const want = table.find(b, 0, sw, sp, 16, dw, dp, s.t.family, tupleHash(sw, sp, dw, dp));
          expect(got2).toEqual({ slot: want, reversed: table.reversed, hash: tupleHash(sw, sp, dw, dp), words: [sw, dw] });
        }
      }
    }), { numRuns: 300 });
  });
});
