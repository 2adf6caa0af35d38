// The real-kernel oracle, tested two ways:
//  1. KERNEL-FACTS.md, line by line, as small scenarios whose expected kernel results are
//     asserted directly (this checks the harness itself);
//  2. the emulator's `linux` policy against the kernel, on scenarios/*.yaml and on 200
//     seeded random programs, step by step, through `bindlab verify-kernel`'s compareWithKernel.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCidr, parseEndpoint, parseIp } from '../../src/emu/addr.js';
import { kernelAvailable, runOnKernel, type KernelStepResult } from '../../src/kernel/run-kernel.js';
import { compareWithKernel } from '../../src/testing/kernel-compare.js';
import type { Expectation, Host, Scenario, SockOptions, Step } from '../../src/scenario/types.js';
import { randomProgram } from './random-programs.js';
import { pool } from './kernel-helpers.js';

const avail = kernelAvailable();
if (!avail.ok) console.log('skipping real-kernel comparison: ' + avail.why);

// ---------------------------------------------------------------------------------------------
// Loading: the project's loader when it exists, else a small stand-in for well-formed files.

type Loader = (text: string, file: string) => Scenario;
let projectLoader: Loader | null | undefined;

async function loader(): Promise<Loader> {
  if (projectLoader === undefined) {
    projectLoader = null;
    try {
      const modPath = '../../src/scenario/load.js';
      const mod = (await import(/* @vite-ignore */ modPath)) as { parseScenario?: Loader };
      if (typeof mod.parseScenario === 'function') projectLoader = mod.parseScenario;
    } catch {
      /* not written yet */
    }
  }
  return projectLoader ?? standInParse;
}

function durationNs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)$/.exec(String(text).trim());
  if (!m) throw new Error(`bad duration ${text}`);
  const unit: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  return Number(m[1]) * unit[m[2]!]!;
}

function standInParse(text: string, file: string): Scenario {
  const doc = parseYaml(text) as Record<string, any>;
  const lines = text.split('\n');
  const stepLines: number[] = [];
  let inSteps = false;
  lines.forEach((l, i) => {
    if (/^steps:/.test(l)) inSteps = true;
    else if (/^\S/.test(l)) inSteps = false;
    else if (inSteps && /^\s*- /.test(l) && /^\s{0,4}- /.test(l)) stepLines.push(i + 1);
  });
  const must = <T>(v: T | null, what: string): T => {
    if (v === null || v === undefined) throw new Error(`${file}: bad ${what}`);
    return v;
  };
  const hosts: Host[] = Object.entries(doc.hosts as Record<string, any>).map(([name, h]) => ({
    name,
    interfaces: Object.entries((h.interfaces ?? {}) as Record<string, any>).map(([iname, i]) => ({
      name: iname,
      mac: i.mac,
      link: i.link ?? 'lan',
      addresses: (i.addresses as string[]).map((a) => must(parseCidr(a), `cidr ${a}`)),
    })),
    processes: Object.entries((h.processes ?? {}) as Record<string, any>).map(([p, v]) => ({ name: p, uid: v?.uid ?? 0 })),
    sysctl: {
      ipNonlocalBind: Boolean(h.sysctl?.ip_nonlocal_bind ?? false),
      ipLocalPortRange: (h.sysctl?.ip_local_port_range ?? '32768 60999').split(/\s+/).map(Number) as [number, number],
      ipUnprivilegedPortStart: h.sysctl?.ip_unprivileged_port_start ?? 1024,
    },
  }));
  const linkNames = new Set<string>(Object.keys(doc.links ?? {}));
  for (const h of hosts) for (const i of h.interfaces) linkNames.add(i.link);
  const toList = (v: unknown) => (Array.isArray(v) ? v.map(String) : [String(v)]);
  const steps: Step[] = (doc.steps as Record<string, any>[]).map((s, index) => {
    const pos = { line: stepLines[index] ?? 0, col: 1 };
    let exp: Expectation | undefined;
    if (s.expect !== undefined) {
      if (typeof s.expect === 'object' && !Array.isArray(s.expect)) {
        const byPolicy = new Map<string, string[]>();
        let fallback: string[] | undefined;
        for (const [k, v] of Object.entries(s.expect)) {
          if (k === 'default') fallback = toList(v);
          else byPolicy.set(k, toList(v));
        }
        exp = { byPolicy, ...(fallback ? { fallback } : {}), pos };
      } else exp = { byPolicy: new Map(), fallback: toList(s.expect), pos };
    }
    const base = { index, pos, ...(exp ? { expect: exp } : {}) };
    const opts = (s.options ?? {}) as SockOptions;
    if ('socket' in s) {
      const [host, proc] = String(s.process).split('/');
      return { ...base, kind: 'socket', socket: s.socket, host: host!, process: proc!, family: s.family ?? 'inet', options: opts };
    }
    if ('setsockopt' in s) return { ...base, kind: 'setsockopt', socket: s.setsockopt, options: opts };
    if ('bind' in s) return { ...base, kind: 'bind', socket: s.bind, address: must(parseEndpoint(s.address), `address ${s.address}`) };
    if ('listen' in s) return { ...base, kind: 'listen', socket: s.listen, backlog: s.backlog ?? 128 };
    if ('close' in s) return { ...base, kind: 'close', socket: s.close };
    if ('wait' in s) return { ...base, kind: 'wait', durationNs: durationNs(s.wait) };
    if ('connect' in s) {
      const c = s.connect;
      const [from, fromProcess] = String(c.from).split('/');
      let source: { addr: any; port?: number } | undefined;
      if (c.source) {
        const ep = parseEndpoint(c.source);
        source = ep ? { addr: ep.addr, port: ep.port } : { addr: must(parseIp(c.source), 'source') };
      }
      return {
        ...base,
        kind: 'connect',
        from: from!,
        ...(fromProcess ? { fromProcess } : {}),
        to: must(parseEndpoint(c.to), `to ${c.to}`),
        ...(source ? { source } : {}),
        ...(c.send !== undefined ? { send: String(c.send) } : {}),
        close: c.close ?? 'client',
        count: c.count ?? 1,
      };
    }
    if ('address' in s) {
      const a = s.address;
      return {
        ...base,
        kind: 'address',
        host: a.host,
        interface: a.interface,
        ...(a.add ? { add: must(parseCidr(a.add), 'cidr') } : {}),
        ...(a.del ? { del: must(parseCidr(a.del), 'cidr') } : {}),
      };
    }
    throw new Error(`${file}: step ${index}: unknown kind`);
  });
  return {
    file,
    name: doc.name,
    seed: doc.seed ?? 1,
    policies: doc.policies,
    hosts,
    links: [...linkNames].map((name) => ({ name, latencyNs: 100_000 })),
    steps,
  };
}

function expectedFor(step: Step, policy: string): readonly string[] | undefined {
  const e = step.expect;
  if (!e) return undefined;
  return e.byPolicy.get(policy) ?? e.fallback;
}

// ---------------------------------------------------------------------------------------------
// KERNEL-FACTS.md as scenarios. Each step's `expect` is what the real kernel must answer.

const SERVER = `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24, 10.0.0.2/24, 10.0.0.3/24, fd00::1/64] }
    processes:
      root: { uid: 0 }
      alice: { uid: 1000 }
      bob: { uid: 1001 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }`;

const fact = (name: string, steps: string, hosts = SERVER, links = '') =>
  `name: ${name}\npolicies: [linux]\n${links}hosts:${hosts}\nsteps:\n${steps.replace(/^\n/, '')}`;

interface Fact {
  readonly name: string;
  readonly yaml: string;
  /** Extra checks on the results (ports and such). */
  readonly check?: (r: KernelStepResult[]) => void;
  readonly slow?: boolean;
}

const port = (local: string | undefined) => Number(/:(\d+)$/.exec(local ?? '')?.[1] ?? NaN);

export const FACTS: readonly Fact[] = [
  {
    name: 'LISTEN on 0.0.0.0:P (SO_REUSEADDR) blocks a later specific bind, even with SO_REUSEADDR on both',
    yaml: fact('wild-listen-then-specific', `
  - { socket: w, process: server/root, options: { SO_REUSEADDR: true }, expect: ok }
  - { bind: w, address: 0.0.0.0:8080, expect: ok }
  - { listen: w, expect: ok }
  - { socket: s, process: server/alice, options: { SO_REUSEADDR: true }, expect: ok }
  - { bind: s, address: 10.0.0.2:8080, expect: EADDRINUSE }
`),
  },
  {
    name: 'the other way round: specific listening first, then the wildcard bind fails',
    yaml: fact('specific-listen-then-wild', `
  - { socket: s, process: server/alice, options: { SO_REUSEADDR: true } }
  - { bind: s, address: 10.0.0.2:8080, expect: ok }
  - { listen: s, expect: ok }
  - { socket: w, process: server/root, options: { SO_REUSEADDR: true } }
  - { bind: w, address: 0.0.0.0:8080, expect: EADDRINUSE }
`),
  },
  {
    name: 'SO_REUSEADDR wildcard + specific, both only bound: both binds ok; first listen ok, second EADDRINUSE',
    yaml: fact('both-bound-then-listen', `
  - { socket: w, process: server/root, options: { SO_REUSEADDR: true } }
  - { bind: w, address: 0.0.0.0:8080, expect: ok }
  - { socket: s, process: server/alice, options: { SO_REUSEADDR: true } }
  - { bind: s, address: 10.0.0.2:8080, expect: ok }
  - { listen: w, expect: ok }
  - { listen: s, expect: EADDRINUSE }
`),
  },
  {
    name: 'without SO_REUSEADDR, 10.0.0.2:P after 0.0.0.0:P (bound, not listening) fails',
    yaml: fact('no-reuseaddr-bound', `
  - { socket: w, process: server/root }
  - { bind: w, address: 0.0.0.0:8080, expect: ok }
  - { socket: s, process: server/root }
  - { bind: s, address: 10.0.0.2:8080, expect: EADDRINUSE }
`),
  },
  {
    name: 'SO_REUSEPORT, same uid: two wildcard listeners both work, a connection goes to one of them',
    yaml: fact('reuseport-two-wild', `
  - { socket: a, process: server/alice, options: { SO_REUSEPORT: true } }
  - { bind: a, address: 0.0.0.0:8080, expect: ok }
  - { listen: a, expect: ok }
  - { socket: b, process: server/alice, options: { SO_REUSEPORT: true } }
  - { bind: b, address: 0.0.0.0:8080, expect: ok }
  - { listen: b, expect: ok }
  - { connect: { from: client, to: 10.0.0.1:8080, count: 6 }, expect: [a, b] }
`),
    check: (r) => expect(r[6]!.results!.every((x) => x === 'a' || x === 'b')).toBe(true),
  },
  {
    name: 'SO_REUSEPORT, same uid: wildcard and specific coexist; the specific one gets its own address',
    yaml: fact('reuseport-wild-specific', `
  - { socket: a, process: server/alice, options: { SO_REUSEPORT: true } }
  - { bind: a, address: 0.0.0.0:8080, expect: ok }
  - { listen: a, expect: ok }
  - { socket: b, process: server/alice, options: { SO_REUSEPORT: true } }
  - { bind: b, address: 10.0.0.2:8080, expect: ok }
  - { listen: b, expect: ok }
  - { connect: { from: client, to: 10.0.0.2:8080, count: 3 }, expect: b }
  - { connect: { from: client, to: 10.0.0.1:8080 }, expect: a }
`),
    check: (r) => expect(r[6]!.results).toEqual(['b', 'b', 'b']),
  },
  {
    name: 'SO_REUSEPORT, different uid: EADDRINUSE for the wildcard and for a specific address',
    yaml: fact('reuseport-other-uid', `
  - { socket: a, process: server/alice, options: { SO_REUSEPORT: true } }
  - { bind: a, address: 0.0.0.0:8080, expect: ok }
  - { listen: a, expect: ok }
  - { socket: b, process: server/bob, options: { SO_REUSEPORT: true } }
  - { bind: b, address: 0.0.0.0:8080, expect: EADDRINUSE }
  - { socket: c, process: server/bob, options: { SO_REUSEPORT: true } }
  - { bind: c, address: 10.0.0.2:8080, expect: EADDRINUSE }
`),
  },
  {
    name: 'TIME_WAIT after a server-first close: no SO_REUSEADDR → EADDRINUSE; both SO_REUSEADDR → ok',
    yaml: fact('timewait-reuseaddr', `
  - { socket: l, process: server/root, options: { SO_REUSEADDR: true } }
  - { bind: l, address: 10.0.0.1:8080 }
  - { listen: l }
  - { connect: { from: client, to: 10.0.0.1:8080, close: server, send: "hi" }, expect: l }
  - { close: l, expect: ok }
  - { socket: n, process: server/root }
  - { bind: n, address: 10.0.0.1:8080, expect: EADDRINUSE }
  - { socket: r, process: server/root, options: { SO_REUSEADDR: true } }
  - { bind: r, address: 10.0.0.1:8080, expect: ok }
  - { listen: r, expect: ok }
`),
  },
  {
    name: 'TIME_WAIT carries the old flag: old listener without SO_REUSEADDR → new one WITH it still EADDRINUSE',
    yaml: fact('timewait-old-flag', `
  - { socket: l, process: server/root }
  - { bind: l, address: 10.0.0.1:8080 }
  - { listen: l }
  - { connect: { from: client, to: 10.0.0.1:8080, close: server }, expect: l }
  - { close: l }
  - { socket: r, process: server/root, options: { SO_REUSEADDR: true } }
  - { bind: r, address: 10.0.0.1:8080, expect: EADDRINUSE }
`),
  },
  {
    name: 'client closed first: the server holds no TIME_WAIT, the port is free at once',
    yaml: fact('client-first-close', `
  - { socket: l, process: server/root }
  - { bind: l, address: 10.0.0.1:8080 }
  - { listen: l }
  - { connect: { from: client, to: 10.0.0.1:8080, close: client, send: "x" }, expect: l }
  - { close: l }
  - { socket: n, process: server/root }
  - { bind: n, address: 10.0.0.1:8080, expect: ok }
`),
  },
  {
    name: 'SO_REUSEPORT over a TIME_WAIT of another uid: ok (uid test skipped for TIME_WAIT)',
    yaml: fact('timewait-reuseport-uid', `
  - { socket: l, process: server/alice, options: { SO_REUSEPORT: true } }
  - { bind: l, address: 10.0.0.1:8080 }
  - { listen: l }
  - { connect: { from: client, to: 10.0.0.1:8080, close: server }, expect: l }
  - { close: l }
  - { socket: n, process: server/bob, options: { SO_REUSEPORT: true } }
  - { bind: n, address: 10.0.0.1:8080, expect: ok }
`),
  },
  {
    name: 'close of a listener with an established connection (close: none) leaves server TIME_WAIT',
    yaml: fact('held-then-close', `
  - { socket: l, process: server/root }
  - { bind: l, address: 10.0.0.1:8080 }
  - { listen: l }
  - { connect: { from: client, to: 10.0.0.1:8080, close: none }, expect: l }
  - { close: l }
  - { socket: n, process: server/root }
  - { bind: n, address: 10.0.0.1:8080, expect: EADDRINUSE }
`),
  },
  {
    name: 'after 61 s the TIME_WAIT is gone and the bind succeeds',
    slow: true,
    yaml: fact('timewait-expires', `
  - { socket: l, process: server/root }
  - { bind: l, address: 10.0.0.1:8080 }
  - { listen: l }
  - { connect: { from: client, to: 10.0.0.1:8080, close: server }, expect: l }
  - { close: l }
  - { socket: n, process: server/root }
  - { bind: n, address: 10.0.0.1:8080, expect: EADDRINUSE }
  - { wait: 61s }
  - { socket: m, process: server/root }
  - { bind: m, address: 10.0.0.1:8080, expect: ok }
`),
  },
  {
    name: '[::]:P dual-stack blocks 0.0.0.0:P and receives IPv4 as v4-mapped',
    yaml: fact('dualstack', `
  - { socket: six, process: server/root, family: inet6 }
  - { bind: six, address: "[::]:8080", expect: ok }
  - { listen: six, expect: ok }
  - { socket: four, process: server/root }
  - { bind: four, address: 0.0.0.0:8080, expect: EADDRINUSE }
  - { connect: { from: client, to: 10.0.0.1:8080 }, expect: six }
  - { connect: { from: client, to: "[fd00::1]:8080" }, expect: six }
`),
  },
  {
    name: 'IPV6_V6ONLY=1: [::]:P and 0.0.0.0:P coexist, each family to its own socket',
    yaml: fact('v6only', `
  - { socket: six, process: server/root, family: inet6, options: { IPV6_V6ONLY: true }, expect: ok }
  - { bind: six, address: "[::]:8080", expect: ok }
  - { listen: six, expect: ok }
  - { socket: four, process: server/root }
  - { bind: four, address: 0.0.0.0:8080, expect: ok }
  - { listen: four, expect: ok }
  - { connect: { from: client, to: 10.0.0.1:8080 }, expect: four }
  - { connect: { from: client, to: "[fd00::1]:8080" }, expect: six }
`),
  },
  {
    name: 'SO_BINDTODEVICE eth0 and eth1 both hold 0.0.0.0:P; each gets its own device\'s connections',
    yaml: fact('bindtodevice', `
  - { socket: d0, process: server/root, options: { SO_BINDTODEVICE: eth0 }, expect: ok }
  - { bind: d0, address: 0.0.0.0:8080, expect: ok }
  - { listen: d0, expect: ok }
  - { socket: d1, process: server/root, options: { SO_BINDTODEVICE: eth1 }, expect: ok }
  - { bind: d1, address: 0.0.0.0:8080, expect: ok }
  - { listen: d1, expect: ok }
  - { connect: { from: client, to: 10.0.0.1:8080 }, expect: d0 }
  - { connect: { from: client, to: 10.0.1.1:8080 }, expect: d1 }
`, `
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
      eth1: { addresses: [10.0.1.1/24], link: lan2 }
    processes:
      root: { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
      eth1: { addresses: [10.0.1.100/24], link: lan2 }`, 'links: { lan: { latency: 100us }, lan2: { latency: 100us } }\n'),
  },
  {
    name: 'an address the host does not have: EADDRNOTAVAIL; with IP_FREEBIND ok',
    yaml: fact('nonlocal', `
  - { socket: a, process: server/alice }
  - { bind: a, address: 10.0.0.77:8080, expect: EADDRNOTAVAIL }
  - { socket: b, process: server/alice, options: { IP_FREEBIND: true }, expect: ok }
  - { bind: b, address: 10.0.0.77:8080, expect: ok }
`),
  },
  {
    name: 'uid 1000 binding port 80: EACCES; root: ok',
    yaml: fact('privileged', `
  - { socket: a, process: server/alice }
  - { bind: a, address: 0.0.0.0:80, expect: EACCES }
  - { socket: b, process: server/root }
  - { bind: b, address: 0.0.0.0:80, expect: ok }
`),
  },
  {
    name: 'second bind EINVAL; port 0 picks from 32768-60999; listen() unbound auto-binds',
    yaml: fact('ephemeral', `
  - { socket: a, process: server/alice }
  - { bind: a, address: 10.0.0.1:8080, expect: ok }
  - { bind: a, address: 10.0.0.1:8081, expect: EINVAL }
  - { socket: b, process: server/alice }
  - { bind: b, address: 0.0.0.0:0, expect: ok }
  - { socket: c, process: server/alice }
  - { listen: c, expect: ok }
`),
    check: (r) => {
      expect(port(r[4]!.local)).toBeGreaterThanOrEqual(32768);
      expect(port(r[4]!.local)).toBeLessThanOrEqual(60999);
      expect(port(r[6]!.local)).toBeGreaterThanOrEqual(32768);
      expect(port(r[6]!.local)).toBeLessThanOrEqual(60999);
    },
  },
  {
    name: 'connect to an owned address nobody listens on: refused; to an address nobody has: unreachable',
    yaml: fact('refused-unreachable', `
  - { connect: { from: client, to: 10.0.0.1:9999 }, expect: refused }
  - { connect: { from: client, to: 10.0.0.99:9999 }, expect: unreachable }
  - { connect: { from: server/root, to: 10.0.0.2:9999 }, expect: refused }
`),
  },
  {
    name: 'observed: an unprivileged process may set SO_BINDTODEVICE once; setting it again is EPERM',
    yaml: fact('bindtodevice-twice', `
  - { socket: a, process: server/alice, options: { SO_BINDTODEVICE: eth0 }, expect: ok }
  - { setsockopt: a, options: { SO_BINDTODEVICE: eth0 }, expect: EPERM }
  - { socket: b, process: server/root, options: { SO_BINDTODEVICE: eth0 }, expect: ok }
  - { setsockopt: b, options: { SO_BINDTODEVICE: eth0 }, expect: ok }
`),
  },
  {
    name: 'SO_REUSEPORT_LB and SO_EXCLUSIVEADDRUSE do not exist on Linux: ENOPROTOOPT',
    yaml: fact('no-such-option', `
  - { socket: a, process: server/root, options: { SO_REUSEPORT_LB: true }, expect: ENOPROTOOPT }
  - { socket: b, process: server/root }
  - { setsockopt: b, options: { SO_EXCLUSIVEADDRUSE: true }, expect: ENOPROTOOPT }
`),
  },
];

function describeMismatch(s: Scenario, text: string, r: KernelStepResult[], policy = 'linux'): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (const step of s.steps) {
    const want = expectedFor(step, policy);
    const got = r[step.index]!;
    if (want && !want.includes(got.result)) {
      out.push(`step ${step.index} (line ${step.pos.line}: ${lines[step.pos.line - 1]?.trim()}): kernel ${got.result}, expected ${want.join('|')}`);
    }
  }
  return out;
}

describe.skipIf(!avail.ok)('the harness reproduces KERNEL-FACTS.md', () => {
  it.concurrent.each(FACTS.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    const s = (await loader())(f.yaml, `facts/${f.name}.yaml`);
    const r = await runOnKernel(s);
    expect(r.map((x) => x.index)).toEqual(s.steps.map((x) => x.index));
    expect(describeMismatch(s, f.yaml, r)).toEqual([]);
    f.check?.(r);
  }, 90_000);
});

if (!avail.ok) {
  it.skip(`real kernel: ${avail.why}`, () => {});
}

// ---------------------------------------------------------------------------------------------
// Emulator `linux` against the kernel.

// The comparison itself is `bindlab verify-kernel`'s (src/testing/kernel-compare.ts): the same
// function runs both, lines them up step by step and lists every difference; a connection
// matches any member of the SO_REUSEPORT group the emulator picked from.


const PARALLEL = Number(process.env['BINDLAB_KERNEL_PARALLEL'] ?? 3);
const PROGRAMS = Number(process.env['BINDLAB_KERNEL_PROGRAMS'] ?? 200);

describe.skipIf(!avail.ok)('emulator linux vs the real kernel', () => {
  it('agrees on scenarios/*.yaml and on random programs', async () => {
    const load = await loader();
    const dir = resolve(__dirname, '../../scenarios');
    const cases: { label: string; text: string }[] = [];
    if (existsSync(dir)) {
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
        cases.push({ label: `scenarios/${f}`, text: readFileSync(join(dir, f), 'utf8') });
      }
    }
    for (let seed = 1; seed <= PROGRAMS; seed++) cases.push({ label: `seed ${seed}`, text: randomProgram(seed) });
    const diffs: string[] = [];
    let packetConnections = 0;
    const t0 = Date.now();
    await pool(cases, PARALLEL, async (c) => {
      let s: Scenario;
      try {
        s = load(c.text, c.label);
      } catch (e) {
        diffs.push(`${c.label}: does not load: ${String(e)}`);
        return;
      }
      // Scenario waits of minutes (TIME_WAIT expiry) are run for real; keep them. The shipped
      // scenarios' packets are compared too (the same run: tcpdump in its namespaces).
      const shipped = c.label.startsWith('scenarios/');
      const captureDir = shipped ? mkdtempSync(join(tmpdir(), 'bindlab-kernel-packets-')) : undefined;
      const cmp = await compareWithKernel(s, c.text, captureDir ? { captureDir } : {});
      if (captureDir) rmSync(captureDir, { recursive: true, force: true });
      diffs.push(...cmp.differences, ...(cmp.packets?.differences ?? []));
      if (shipped) packetConnections += cmp.packets?.connections ?? 0;
    });
    console.log(`compared ${cases.length} programs with the kernel in ${((Date.now() - t0) / 1000).toFixed(1)} s; the packets of ${packetConnections} connections of the shipped scenarios header fact by fact`);
    expect(packetConnections).toBeGreaterThan(50);
    if (diffs.length) console.log(diffs.join('\n'));
    expect(diffs).toEqual([]);
  }, 600_000);
});
