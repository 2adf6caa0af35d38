// Hostile and odd scenario input: alias bombs and cycles, huge files, bytes that are not UTF-8,
// garbage quoted back, circular extends, zone ids, long durations, floats for integers and
// counts that cannot be meant. Each is a ScenarioError with file:line:col, quickly.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, loadScenarioFile, parseScenario } from '../../src/scenario/load.js';
import { ScenarioError } from '../../src/scenario/types.js';
import { MAX_SCENARIO_BYTES } from '../../src/scenario/yaml-tree.js';

// Lines 1-11; steps follow from line 12.
const HEAD = `name: t
hosts:
  srv:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, fd00::1/64] }
    processes:
      p: {}
  cli:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
`;
const SOCK = '  - socket: s\n    process: srv/p\n';

function errorOf(load: () => unknown): string {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).message;
  }
  throw new Error('loaded without error');
}
const parseError = (text: string): string => errorOf(() => parseScenario(text, 'x.yaml'));

/** Nine levels of nine aliases each: 9^9 = 387M strings from 500 bytes. */
function laughs(levels = 9): string {
  let s = 'name: laughs\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
  for (let i = 1; i <= levels; i++) s += `l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(', ')}]\n`;
  return `${s}hosts: { srv: *l${levels} }\nsteps: []\n`;
}

describe('YAML aliases', () => {
  it.each<[string, string, string]>([
    ['a list that is its own item', 'name: &a [*a]\nhosts: {}\nsteps: []\n',
      'x.yaml:1:11: alias *a is inside the value its anchor &a names (at 1:10): an alias cycle, the value would contain itself'],
    ['a map that is its own value', 'name: x\nhosts: &h {server: *h}\nsteps: []\n',
      'x.yaml:2:20: alias *h is inside the value its anchor &h names (at 2:11): an alias cycle, the value would contain itself'],
    ['a cycle through two anchors', 'name: x\nhosts: &a { b: &b { a: *a } }\nsteps: []\n',
      'x.yaml:2:24: alias *a is inside the value its anchor &a names (at 2:11): an alias cycle, the value would contain itself'],
    ['an alias before its anchor', 'name: *n\nx: &n t\n', 'x.yaml:1:7: alias *n names no anchor before it (write &n on an earlier value)'],
  ])('%s: refused where the cycle closes', (_name, text, message) => {
    expect(parseError(text)).toBe(message);
  });

  it('a "billion laughs" is refused by the yaml library\'s alias bound, at the alias that expands most, at once', () => {
    const t = performance.now();
    expect(parseError(laughs())).toBe(
      'x.yaml:12:15: YAML aliases expand too far: more than the yaml library\'s bound of 1000 alias uses (maxAliasCount), a guard against "billion laughs"; the largest is this *l9');
    // Today's loader ran 300 s to 4 GB on this; the bound makes it milliseconds (generous for a busy machine).
    expect(performance.now() - t).toBeLessThan(10_000);
  });

  it('a wide anchor aliased within the library\'s bound but expanding past what a scenario may hold is refused too', () => {
    const wide = `[${Array(4_000).fill('0').join(',')}]`;
    const text = `name: wide\nw: &w ${wide}\nhosts: { srv: [${Array(800).fill('*w').join(', ')}] }\nsteps: []\n`;
    expect(parseError(text)).toBe('x.yaml:3:16: YAML aliases expand the scenario to 3,204,811 values, more than the 2,000,000 a scenario may hold; the largest is this *w (4,001 values)');
  });

  it('aliases used as YAML meant them load as the values they name', () => {
    const sc = parseScenario(`${HEAD.replace('p: {}', 'p: &proc { uid: 1000 }\n      q: *proc')}  - socket: &name s\n    process: srv/q\n    options: &reuse { SO_REUSEADDR: true }\n  - bind: *name\n    address: 10.0.0.1:80\n  - socket: t\n    process: srv/p\n    options: *reuse\n`, 'x.yaml');
    expect(sc.hosts[0]!.processes).toEqual([{ name: 'p', uid: 1000 }, { name: 'q', uid: 1000 }]);
    expect(sc.steps.map((s) => s.kind)).toEqual(['socket', 'bind', 'socket']);
    expect(sc.steps[2]).toMatchObject({ socket: 't', options: { SO_REUSEADDR: true } });
  });
});

describe('size and encoding', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bindlab-hostile-'));

  it('a scenario file over the size limit is refused before it is read, saying the limit', () => {
    const file = join(dir, 'huge.yaml');
    writeFileSync(file, `name: huge\n# ${'x'.repeat(MAX_SCENARIO_BYTES)}\n`);
    const t = performance.now();
    expect(errorOf(() => loadScenarioFile(file))).toBe(
      `${file}:1:1: scenario file is 4.0 MiB; bindlab reads scenario files of at most 4 MiB (a scenario is a few KiB; 60,000 connect steps fit in 4 MiB)`);
    expect(performance.now() - t).toBeLessThan(10_000);
  });

  it.each<[string, Uint8Array, string]>([
    ['a Latin-1 byte in a comment', Buffer.concat([Buffer.from('name: t\n# caf'), Buffer.from([0xe9]), Buffer.from('\nhosts: {}\n')]),
      'x.yaml:2:6: scenario is not UTF-8 text: byte offset 13 holds e9 0a 68 6f (a lead byte not followed by its continuation bytes, or an overlong or surrogate form)'],
    ['a stray continuation byte after UTF-8 text', Buffer.concat([Buffer.from('name: "é'), Buffer.from([0x80]), Buffer.from('"\n')]),
      'x.yaml:1:9: scenario is not UTF-8 text: byte offset 9 holds 80 22 0a (a continuation byte with no lead byte)'],
    ['UTF-16', Buffer.from('\ufeffname: t\n', 'utf16le'),
      'x.yaml:1:1: scenario is not UTF-8 text: byte offset 0 holds ff fe 6e 00 (0xff never occurs in UTF-8); the file looks like UTF-16: save it as UTF-8'],
  ])('%s: refused with the byte position', (_name, bytes, message) => {
    const file = join(dir, 'x.yaml');
    writeFileSync(file, bytes);
    expect(errorOf(() => loadScenarioFile(file)).replace(file, 'x.yaml')).toBe(message);
  });

  it('a UTF-8 file with a byte-order mark and a U+FFFD of its own loads', () => {
    const file = join(dir, 'bom.yaml');
    writeFileSync(file, `\ufeff${HEAD.replace('name: t', 'name: "t \ufffd"')}${SOCK}`);
    expect(loadScenarioFile(file).name).toBe('t \ufffd');
  });
});

describe('garbage is quoted as a bounded excerpt', () => {
  it.each<[string, string, RegExp]>([
    ['4 KiB of random bytes as text', Buffer.from(Array.from({ length: 4096 }, (_, i) => 0x21 + ((i * 7919) % 90))).toString('latin1'),
      /^x\.yaml:\d+:\d+: .{0,300}$/],
    ['a 10 MB scalar where a name goes', `name: ${'n'.repeat(10_000_000)}\x01\n`, /^x\.yaml:1:7: name "n{70,80}…" \(10,000,001 characters\) is not a single line$|^x\.yaml:1:1: scenario file is/],
    ['a 100 KB unknown key', `? ${'k'.repeat(100_000)}\n: 1\n`, /^x\.yaml:1:3: unknown key "k{70,80}…" \(100,002 characters\) in scenario; expected one of: name, description, seed, policies, hosts, links, steps$/],
    ['a 100 KB bind address', `${HEAD}${SOCK}  - bind: s\n    address: a${'9'.repeat(100_000)}\n`, /^x\.yaml:15:14: bind address "a9{70,80}…" \(100,003 characters\) is not an IPv4 or IPv6 address with a port$/],
    ['a 100 KB host name', `${HEAD}  - socket: s\n    process: ${'h'.repeat(100_000)}/p\n`, /^x\.yaml:13:14: .{0,1100}\(\d[\d,]+ characters\)$/],
  ])('%s', (_name, text, message) => {
    const m = parseError(text);
    expect(m).toMatch(message);
    expect(m.length).toBeLessThan(1200);
  });
});

describe('a problem per value is listed up to a bound', () => {
  it('100 wrong steps: the first 50 problems and a count of the rest', () => {
    const lines = parseError(`${HEAD}${'  - 1\n'.repeat(100)}`).split('\n');
    expect(lines).toHaveLength(51);
    expect(lines[0]).toBe('x.yaml:12:5: steps[0]: expected a map, got number 1');
    expect(lines[50]).toBe('x.yaml: ... and 50 more problems');
  });

  it('100,000 wrong steps: checking stops after 1000 problems (an Error each: it took 20 s), and says so', () => {
    const t = performance.now();
    const lines = parseError(`${HEAD}${'  - 1\n'.repeat(100_000)}`).split('\n');
    expect(lines).toHaveLength(51);
    expect(lines[50]).toBe('x.yaml: ... and at least 950 more problems (checking stopped after 1000)');
    expect(performance.now() - t).toBeLessThan(30_000);
  }, 60_000);
});

describe('values with their own message', () => {
  it.each<[string, string, string]>([
    ['an IPv6 zone id on an interface address', HEAD.replace('fd00::1/64', 'fe80::1%eth0/64') + SOCK,
      'x.yaml:5:40: interface address "fe80::1%eth0/64" has an IPv6 zone id (%eth0): scenarios write none; a link-local address belongs to the interface it is listed under, and a socket picks its interface with SO_BINDTODEVICE'],
    ['an IPv6 zone id on a connect address', `${HEAD}  - connect: { from: cli, to: "[fe80::1%eth0]:80" }\n`,
      'x.yaml:12:31: connect address "[fe80::1%eth0]:80" has an IPv6 zone id (%eth0): scenarios write none; a link-local address belongs to the interface it is listed under, and a socket picks its interface with SO_BINDTODEVICE'],
    ['a wait past 2^53 ns', `${HEAD}  - wait: 3000h\n`,
      'x.yaml:12:11: wait duration "3000h" is too long: durations are counted in nanoseconds up to 2^53 - 1, about 104 days (104d = 2501h)'],
    ['a duration finer than a nanosecond', `${HEAD}  - wait: 0.5ns\n`, 'x.yaml:12:11: wait duration "0.5ns" is not a whole number of nanoseconds'],
    ['a !!float seed', `seed: !!float 7\n${HEAD}${SOCK}`, 'x.yaml:1:15: seed: !!float 7 is written as a floating-point number; seed takes an integer: write 7'],
    ['a seed written 7.0', `seed: 7.0\n${HEAD}${SOCK}`, 'x.yaml:1:7: seed: 7.0 is written as a floating-point number; seed takes an integer: write 7'],
    ['a count that cannot be meant', `${HEAD}  - connect: { from: cli, to: 10.0.0.1:80, count: 2147483647 }\n`,
      'x.yaml:12:51: steps[0].connect.count: 2147483647 is more than 65535: one client has at most 65535 source ports toward one destination, so more connections in one step cannot all be distinct; a larger count is a typo or would only repeat port exhaustion (each connect past it fails with EADDRNOTAVAIL)'],
    ['circular extends', `policies:\n  - { name: a, extends: b, rules: {} }\n  - { name: b, extends: a, rules: {} }\n${HEAD}${SOCK}`,
      'x.yaml:2:25: circular extends: "a" extends "b" extends "a"; a custom policy must rest on a built-in one'],
    ['a policy extending itself', `policies:\n  - { name: a, extends: a, rules: {} }\n${HEAD}${SOCK}`,
      'x.yaml:2:25: circular extends: custom policy "a" extends itself; a custom policy must rest on a built-in one'],
    ['extends of a policy defined later', `policies:\n  - { name: a, extends: b, rules: {} }\n  - { name: b, extends: linux, rules: {} }\n${HEAD}${SOCK}`,
      'x.yaml:2:25: custom policy "a" extends "b", which is defined after it (line 3); define "b" first'],
  ])('%s', (_name, text, message) => {
    expect(parseError(text)).toBe(message);
  });

  it('a count of 65535 is accepted', () => {
    const sc = parseScenario(`${HEAD}  - connect: { from: cli, to: 10.0.0.1:80, count: 65535 }\n`, 'x.yaml');
    expect(sc.steps[0]).toMatchObject({ kind: 'connect', count: 65535 });
  });

  it('circular extends in a policy file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'bindlab-hostile-')), 'p.yaml');
    writeFileSync(file, '- { name: a, extends: c, rules: {} }\n- { name: b, extends: a, rules: {} }\n- { name: c, extends: b, rules: {} }\n');
    expect(errorOf(() => loadPolicyFile(file))).toBe(`${file}:1:23: circular extends: "a" extends "c" extends "b" extends "a"; a custom policy must rest on a built-in one`);
  });
});
