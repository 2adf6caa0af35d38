// A small configuration of one server host: its addresses, a few sockets (owner uid, wildcard or
// one of the addresses, options) and the order of their socket/bind/listen calls; then one
// connection to each address. Or, for UDP (issue 18), datagram sockets and their binds, then one
// datagram to each address. Built straight into a Scenario (no YAML on the hot path) and written
// as YAML for findings.

import { parseCidr, parseEndpoint, parseIp } from '../emu/addr.js';
import type { DatagramStep, OptionName, Scenario, SockOptions, Step } from '../scenario/types.js';
import { DEFAULT_LINK } from '../scenario/load.js';

export const PORT = 8080;
/** The two owners: uid 1000 and uid 1001 (not root, so uid rules apply). */
export const UIDS = [1000, 1001] as const;
export const PROCESS = (uid: 0 | 1): string => `u${UIDS[uid]}`;

export interface SockSpec {
  readonly name: string;
  /** Index into UIDS. */
  readonly uid: 0 | 1;
  /** 0: the wildcard; k: the host's k-th address (10.0.0.k). */
  readonly addr: number;
  readonly options: readonly OptionName[];
}

export interface Event { readonly kind: 'socket' | 'bind' | 'listen'; readonly sock: number }

export interface Config {
  /** Datagram sockets, and a datagram to each address instead of a connection. */
  readonly udp?: boolean;
  /** Number of IPv4 addresses of the server: 10.0.0.1 .. 10.0.0.N. */
  readonly addresses: number;
  readonly socks: readonly SockSpec[];
  readonly events: readonly Event[];
  /** Addresses (1-based) the client connects to, in order, after the events. */
  readonly connects: readonly number[];
}

export const addrText = (k: number): string => (k === 0 ? '0.0.0.0' : `10.0.0.${k}`);

const SYSCTL = { ipNonlocalBind: false, ipLocalPortRange: [32768, 60999] as const, ipUnprivilegedPortStart: 1024, promoteSecondaries: false };
const POS = { line: 1, col: 1 };

const hostsCache = new Map<number, Scenario['hosts']>();
const stepCache = new Map<string, Step>();

function hostsFor(n: number): Scenario['hosts'] {
  let h = hostsCache.get(n);
  if (!h) {
    h = [
      {
        name: 'server', sysctl: SYSCTL,
        interfaces: [{ name: 'eth0', link: 'lan', addresses: Array.from({ length: n }, (_, i) => parseCidr(`10.0.0.${i + 1}/24`)!) }],
        processes: UIDS.map((uid, i) => ({ name: PROCESS(i as 0 | 1), uid })),
      },
      { name: 'client', sysctl: SYSCTL, interfaces: [{ name: 'eth0', link: 'lan', addresses: [parseCidr('10.0.0.100/24')!] }], processes: [] },
    ];
    hostsCache.set(n, h);
  }
  return h;
}

/** Steps are immutable records: one object per (kind, socket spec, index) is shared by every configuration. */
function stepFor(kind: Event['kind'] | 'connect', s: SockSpec | null, target: number, index: number, udp: boolean): Step {
  const key = `${udp ? 'u' : 't'}${kind}|${s ? `${s.name}:${s.uid}:${s.addr}:${s.options.join('+')}` : target}|${index}`;
  let st = stepCache.get(key);
  if (st) return st;
  if (kind === 'socket') {
    const options: SockOptions = Object.fromEntries(s!.options.map((o) => [o, true]));
    st = { kind: 'socket', index, pos: POS, socket: s!.name, host: 'server', process: PROCESS(s!.uid), family: 'inet', ...(udp ? { type: 'udp' as const } : {}), options };
  } else if (kind === 'bind') {
    st = { kind: 'bind', index, pos: POS, socket: s!.name, address: parseEndpoint(`${addrText(s!.addr)}:${PORT}`)! };
  } else if (kind === 'listen') {
    st = { kind: 'listen', index, pos: POS, socket: s!.name, backlog: 128 };
  } else if (udp) {
    const dg: DatagramStep = { kind: 'datagram', index, pos: POS, from: 'client', to: { addr: parseIp(addrText(target))!, port: PORT }, count: 1, reply: false };
    st = dg as unknown as Step;
  } else {
    st = { kind: 'connect', index, pos: POS, from: 'client', to: { addr: parseIp(addrText(target))!, port: PORT }, close: 'client', count: 1 };
  }
  stepCache.set(key, st);
  return st;
}

/** The scenario a configuration stands for; step i of `events` is step i of the scenario, then the connects. */
export function toScenario(c: Config, file = 'audit.yaml'): Scenario {
  const udp = c.udp === true;
  const steps: Step[] = c.events.map((e, i) => stepFor(e.kind, c.socks[e.sock]!, 0, i, udp));
  for (const k of c.connects) steps.push(stepFor('connect', null, k, steps.length, udp));
  return { file, name: 'audit configuration', seed: 1, hosts: hostsFor(c.addresses), links: [DEFAULT_LINK], steps };
}

/** The configuration without one socket (and its calls). */
export function without(c: Config, sock: number): Config {
  const keep = c.socks.map((_, i) => i).filter((i) => i !== sock);
  const renumber = new Map(keep.map((old, i) => [old, i]));
  return {
    ...(c.udp ? { udp: true } : {}),
    addresses: c.addresses,
    socks: keep.map((i) => c.socks[i]!),
    events: c.events.filter((e) => e.sock !== sock).map((e) => ({ kind: e.kind, sock: renumber.get(e.sock)! })),
    connects: c.connects,
  };
}

/** A key that identifies a configuration's behaviour (socket names included). */
export function configKey(c: Config): string {
  return `${c.udp ? 'udp|' : ''}${c.addresses}|${c.socks.map((s) => `${s.name}:${s.uid}:${s.addr}:${s.options.join('+')}`).join(',')}|${c.events.map((e) => `${e.kind[0]}${e.sock}`).join('')}|${c.connects.join(',')}`;
}

/** A YAML scalar list item for an option set: "{ SO_REUSEADDR: true }". */
const optionsYaml = (o: readonly OptionName[]): string => `{ ${o.map((x) => `${x}: true`).join(', ')} }`;

export interface YamlOptions {
  readonly name: string;
  readonly description: string;
  /** The `policies:` entry: a name, or a YAML flow list of custom policy objects and the name. */
  readonly policiesYaml: string;
  /** The policy's results for each step, written as expectations. */
  readonly results: readonly string[];
  /** Notes per step index. */
  readonly notes?: ReadonlyMap<number, string>;
}

/**
 * The configuration as a scenario file that reproduces it: every step expects what the policy did.
 * No `$schema` comment: its path depends on where the file goes (the CLI adds it when writing).
 */
export function toYaml(c: Config, o: YamlOptions): string {
  const lines = [
    `name: ${JSON.stringify(o.name)}`,
    'description: >',
    ...wrap(o.description, 90).map((l) => `  ${l}`),
    'seed: 1',
    `policies: ${o.policiesYaml}`,
    'hosts:',
    '  server:',
    '    interfaces:',
    `      eth0: { addresses: [${Array.from({ length: c.addresses }, (_, i) => `10.0.0.${i + 1}/24`).join(', ')}] }`,
    '    processes:',
    ...UIDS.map((uid, i) => `      ${PROCESS(i as 0 | 1)}: { uid: ${uid} }`),
    '  client:',
    '    interfaces:',
    '      eth0: { addresses: [10.0.0.100/24] }',
    'steps:',
  ];
  const expect = (i: number): string => `expect: ${o.results[i]}`;
  const note = (i: number): string => (o.notes?.has(i) ? `, note: ${JSON.stringify(o.notes.get(i))}` : '');
  c.events.forEach((e, i) => {
    const s = c.socks[e.sock]!;
    if (e.kind === 'socket') {
      lines.push(`  - { socket: ${s.name}, process: server/${PROCESS(s.uid)}${c.udp ? ', type: udp' : ''}${s.options.length ? `, options: ${optionsYaml(s.options)}` : ''}, ${expect(i)}${note(i)} }`);
    } else if (e.kind === 'bind') {
      lines.push(`  - { bind: ${s.name}, address: "${addrText(s.addr)}:${PORT}", ${expect(i)}${note(i)} }`);
    } else {
      lines.push(`  - { listen: ${s.name}, ${expect(i)}${note(i)} }`);
    }
  });
  c.connects.forEach((k, j) => {
    const i = c.events.length + j;
    lines.push(`  - { ${c.udp ? 'datagram' : 'connect'}: { from: client, to: "${addrText(k)}:${PORT}" }, ${expect(i)}${note(i)} }`);
  });
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/)) {
    if (line && line.length + 1 + w.length > width) { out.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) out.push(line);
  return out;
}
