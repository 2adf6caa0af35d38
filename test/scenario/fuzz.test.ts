// Scenario loading under random YAML with anchors and aliases (forward, backward, into their own
// node, nested alias bombs) and random bytes: a Scenario or a ScenarioError with a position and a
// bounded message, every time, in bounded time; never another exception, a stack overflow or a hang.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseScenario } from '../../src/scenario/load.js';
import { ScenarioError } from '../../src/scenario/types.js';

const ANCHORS = ['a', 'b', 'c', 'd'];

/** A YAML value in flow style: scalars, lists and maps, any of them anchored, or an alias. */
const value: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom('x', '1', '0.5', 'true', 'null', '"10.0.0.1:80"', 'server/p', 'client', 'web', '!!float 7', 'ok'),
    fc.constantFrom(...ANCHORS).map((a) => `*${a}`),
    fc.tuple(fc.option(fc.constantFrom(...ANCHORS)), fc.array(tie('v'), { maxLength: 4 }))
      .map(([a, items]) => `${a ? `&${a} ` : ''}[${items.join(', ')}]`),
    fc.tuple(fc.option(fc.constantFrom(...ANCHORS)), fc.array(fc.tuple(fc.constantFrom('name', 'hosts', 'steps', 'k', 'interfaces', 'addresses', 'socket', 'process', 'options'), tie('v')), { maxLength: 4 }))
      .map(([a, entries]) => `${a ? `&${a} ` : ''}{${[...new Map(entries)].map(([k, v]) => `${k}: ${v}`).join(', ')}}`),
  ),
})).v;

/** A scenario that is valid apart from what the fuzzer puts in: anchors and aliases in its places. */
function scenario(hostsExtra: string, stepExtra: string, options: string): string {
  return `name: fuzz
description: ${hostsExtra}
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    processes:
      p: &proc { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
  - socket: web
    process: server/p
    options: ${options}
  - bind: web
    address: 0.0.0.0:80
  - ${stepExtra}
`;
}

/** Alias bombs of random shape: `levels` anchors of `width` aliases each to the one before. */
const bomb = fc.record({ levels: fc.integer({ min: 1, max: 12 }), width: fc.integer({ min: 1, max: 40 }), at: fc.constantFrom('hosts', 'x', 'steps') })
  .map(({ levels, width, at }) => {
    let s = 'name: bomb\nb0: &b0 [1, 2, 3]\n';
    for (let i = 1; i <= levels; i++) s += `b${i}: &b${i} [${Array(width).fill(`*b${i - 1}`).join(', ')}]\n`;
    return `${s}${at}: *b${levels}\n`;
  });

/** Parses, returning 'ok' or the error; asserts the outcome is one of the two and fast. */
function outcome(text: string): string {
  const t = performance.now();
  try {
    parseScenario(text, 'f.yaml');
    return 'ok';
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    expect(e.message).toMatch(/^f\.yaml:\d+:\d+: /);
    expect(e.line).toBeGreaterThanOrEqual(1);
    // At most 50 problems listed and a count of the rest, each line bounded.
    const lines = e.message.split('\n');
    expect(lines.length).toBeLessThanOrEqual(51);
    for (const l of lines) expect(l.length).toBeLessThan(1200);
    return e.detail;
  } finally {
    // Generous: a busy machine; a loader that expands a bomb runs minutes.
    expect(performance.now() - t).toBeLessThan(5_000);
  }
}

describe('fuzz: scenario loading', () => {
  it('random anchors and aliases anywhere: a Scenario or a ScenarioError, quickly', () => {
    let loaded = 0;
    fc.assert(fc.property(value, value, fc.oneof(value, fc.constant('{ SO_REUSEADDR: true }')), (hostsExtra, stepExtra, options) => {
      if (outcome(scenario(hostsExtra, `wait: 1s\n    note: ${stepExtra}`, options)) === 'ok') loaded++;
      outcome(scenario(hostsExtra, `connect: ${stepExtra}`, options));
      // Whole documents of random values too.
      outcome(`name: ${stepExtra}\nhosts: ${hostsExtra}\nsteps: ${options}\n`);
    }), { numRuns: 400, seed: 17 });
    // Not every case is an error: aliases and anchors in their right places load.
    expect(outcome(scenario('&a [1, *a]', 'listen: web', '{ SO_REUSEADDR: true }'))).toMatch(/alias cycle/);
    expect(outcome(scenario('&a text', 'listen: web\n    note: *a', '&o { SO_REUSEADDR: true }'))).toBe('ok');
    expect(loaded).toBeGreaterThan(0);
  }, 120_000);

  it('aliases where values belong load as the same scenario written out without them', () => {
    const OPTS = ['{ SO_REUSEADDR: true }', '{ SO_REUSEPORT: true, SO_REUSEADDR: false }', '{}'];
    fc.assert(fc.property(fc.array(fc.record({ opts: fc.integer({ min: 0, max: 2 }), alias: fc.boolean(), uid: fc.integer({ min: 0, max: 3 }) }), { minLength: 1, maxLength: 8 }), (socks) => {
      const write = (aliases: boolean): string => {
        const first = new Map<number, number>();
        let steps = '';
        socks.forEach((k, i) => {
          const seen = first.get(k.opts);
          const opts = aliases && k.alias && seen !== undefined ? `*o${k.opts}` : `${aliases && seen === undefined ? `&o${k.opts} ` : ''}${OPTS[k.opts]}`;
          if (seen === undefined) first.set(k.opts, i);
          steps += `  - socket: s${i}\n    process: server/p${i}\n    options: ${opts}\n`;
        });
        // A process whose uid equals the last anchored one's is an alias of it.
        let anchored = -1;
        const procs = socks.map((k, i) => {
          if (aliases && anchored >= 0 && socks[anchored]!.uid === k.uid) return `      p${i}: *u${anchored}`;
          if (aliases) anchored = i;
          return `      p${i}: ${aliases ? `&u${i} ` : ''}{ uid: ${k.uid} }`;
        }).join('\n');
        return `name: same\nhosts:\n  server:\n    interfaces:\n      eth0: { addresses: [10.0.0.1/24] }\n    processes:\n${procs}\nsteps:\n${steps}`;
      };
      const strip = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === 'pos' ? undefined : v)));
      expect(strip(parseScenario(write(true), 'f.yaml'))).toEqual(strip(parseScenario(write(false), 'f.yaml')));
    }), { numRuns: 200, seed: 20 });
  }, 120_000);

  it('alias bombs of every shape: refused by a bound or loaded, in bounded time', () => {
    fc.assert(fc.property(bomb, (text) => { outcome(text); }), { numRuns: 200, seed: 18 });
  }, 120_000);

  it('random bytes and random text: a ScenarioError with a position, never the input echoed whole', () => {
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b).toString('latin1')), fc.string({ maxLength: 4096 })), (text) => {
      outcome(text);
    }), { numRuns: 500, seed: 19 });
  }, 120_000);
});
