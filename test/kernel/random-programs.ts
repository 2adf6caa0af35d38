// Seeded random scenarios for comparing the emulator's `linux` policy with the real kernel.
// Small port set and few addresses, so that bind conflicts, SO_REUSEPORT groups, dual-stack
// overlaps and TIME_WAIT leftovers happen often. Deterministic per seed.

/** mulberry32: a tiny 32-bit PRNG, good enough to pick test cases (random-udp-programs.ts too). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sock {
  name: string;
  family: 'inet' | 'inet6';
  /** host/proc */
  proc: string;
  port?: number;
}

const PORTS = [8080, 8081, 9000];

export function randomProgram(seed: number): string {
  const rnd = mulberry32(seed);
  const chance = (p: number) => rnd() < p;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // Options changed after bind or listen draw from a stream of their own, so the rest of each
  // program stays what it was before they were added.
  const flipRnd = mulberry32(seed ^ 0x5f3759df);
  // Connections from the server host to itself (over its loopback) draw from another stream.
  const selfRnd = mulberry32(seed ^ 0x1b873593);
  // Now and then the client is behind a router (scenario routes, forward, rp_filter): a stream of
  // its own, so the other programs stay what they were.
  const routeRnd = mulberry32(seed ^ 0x2545f491);
  const routed = routeRnd() < 0.12;

  const nAliases = int(1, 4);
  const v4 = Array.from({ length: nAliases }, (_, i) => `10.0.0.${i + 1}`);
  const eth1 = chance(0.2);
  const uids = chance(0.5) ? [0, 1000] : [0, 1000, 1001];
  const procs = uids.map((u, i) => ({ name: `p${i}`, uid: u }));

  const out: string[] = [];
  out.push(`name: random program ${seed}`);
  out.push(`seed: ${seed}`);
  out.push('policies: [linux]');
  if (eth1 || routed) out.push(`links: { lan: { latency: 100us }${eth1 ? ', lan2: { latency: 100us }' : ''}${routed ? ', far: { latency: 100us }' : ''} }`);
  out.push('hosts:');
  out.push('  server:');
  out.push('    interfaces:');
  out.push(`      eth0: { addresses: [${v4.map((a) => a + '/24').join(', ')}, fd00::1/64] }`);
  if (eth1) out.push('      eth1: { addresses: [10.0.1.1/24, fd01::1/64], link: lan2 }');
  out.push('    processes:');
  for (const p of procs) out.push(`      ${p.name}: { uid: ${p.uid} }`);
  if (routed) {
    // The server's way back: a route to the client's subnet, or a default route, by the router.
    out.push('    routes:');
    if (routeRnd() < 0.5) out.push('      - { to: 10.9.0.0/24, via: 10.0.0.254 }', '      - { to: "fd09::/64", via: "fd00::fe" }');
    else out.push('      - { to: default, via: 10.0.0.254 }', '      - { to: default, via: "fd00::fe" }');
    if (routeRnd() < 0.3) out.push(`    sysctl: { rp_filter: ${routeRnd() < 0.5 ? 1 : 2} }`);
    out.push('  router:');
    out.push('    interfaces:');
    out.push('      eth0: { addresses: [10.0.0.254/24, fd00::fe/64] }');
    out.push('      eth1: { addresses: [10.9.0.254/24, fd09::fe/64], link: far }');
    out.push('    forward: true');
    // Sometimes it reaches the server's second subnet by the server's first address (in on eth0 for eth1's address).
    out.push(eth1 && routeRnd() < 0.5 ? '    routes: [{ to: 10.0.1.0/24, via: 10.0.0.1 }]' : '    routes: []');
  }
  out.push('  client:');
  out.push('    interfaces:');
  if (routed) {
    out.push('      eth0: { addresses: [10.9.0.100/24, fd09::100/64], link: far }');
    out.push('    routes: [{ to: default, via: 10.9.0.254 }, { to: default, via: "fd09::fe" }]');
  } else {
    out.push('      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }');
    if (eth1) out.push('      eth1: { addresses: [10.0.1.100/24, fd01::100/64], link: lan2 }');
  }
  out.push('steps:');
  const step = (s: string) => out.push(`  - ${s}`);

  const devices = eth1 ? ['eth0', 'eth1'] : ['eth0'];
  const usedPorts = new Set<number>();
  let nSock = 0;
  const nonlocalAdded = { v4: false };

  const options = (family: 'inet' | 'inet6'): string => {
    const o: string[] = [];
    if (chance(0.5)) o.push('SO_REUSEADDR: true');
    if (chance(0.4)) o.push('SO_REUSEPORT: true');
    if (family === 'inet6' && chance(0.35)) o.push(`IPV6_V6ONLY: ${chance(0.8)}`);
    if (chance(0.08)) o.push(`SO_BINDTODEVICE: ${pick(devices)}`);
    if (chance(0.08)) o.push('IP_FREEBIND: true');
    // Shuffle: options apply in the order given.
    for (let i = o.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [o[i], o[j]] = [o[j]!, o[i]!];
    }
    return o.length ? `, options: { ${o.join(', ')} }` : '';
  };

  const newSocket = (proc?: string, family?: 'inet' | 'inet6', opts?: string): Sock => {
    const s: Sock = {
      name: `s${++nSock}`,
      family: family ?? (chance(0.7) ? 'inet' : 'inet6'),
      proc: proc ?? `server/${pick(procs).name}`,
    };
    const fam = s.family === 'inet6' ? ', family: inet6' : '';
    step(`{ socket: ${s.name}, process: ${s.proc}${fam}${opts ?? options(s.family)} }`);
    return s;
  };

  const port = (): number => {
    const r = rnd();
    if (r < 0.04) return 0;
    if (r < 0.08) return 80;
    return pick(PORTS);
  };

  const address = (s: Sock, p: number): string => {
    const r = rnd();
    if (s.family === 'inet') {
      if (r < 0.35) return `0.0.0.0:${p}`;
      if (r < 0.9) return `${pick(v4)}:${p}`;
      if (r < 0.95 && eth1) return `10.0.1.1:${p}`;
      return `10.0.0.77:${p}`; // not local (EADDRNOTAVAIL unless IP_FREEBIND)
    }
    if (r < 0.4) return `"[::]:${p}"`;
    if (r < 0.7) return `"[fd00::1]:${p}"`;
    if (r < 0.92) return `"[::ffff:${pick(v4)}]:${p}"`;
    return `"[fd00::77]:${p}"`;
  };

  // SO_REUSEPORT or SO_REUSEADDR set or cleared on a bound or listening socket: Linux's bind bucket
  // keeps what the port was taken with, and a listener that sets SO_REUSEPORT later can be joined.
  const maybeFlip = (s: Sock): void => {
    if (flipRnd() >= 0.1) return;
    const opt = flipRnd() < 0.65 ? 'SO_REUSEPORT' : 'SO_REUSEADDR';
    step(`{ setsockopt: ${s.name}, options: { ${opt}: ${flipRnd() < 0.5} } }`);
  };

  const bindAndListen = (s: Sock, p = port()): void => {
    const r = rnd();
    if (r < 0.1) {
      step(`{ listen: ${s.name} }`); // auto-bind an ephemeral port
      return;
    }
    if (chance(0.1)) {
      const o = options(s.family);
      if (o) step(`{ setsockopt: ${s.name}${o} }`);
    }
    step(`{ bind: ${s.name}, address: ${address(s, p)} }`);
    if (p !== 0) usedPorts.add(p);
    s.port = p;
    maybeFlip(s);
    if (chance(0.8)) {
      step(`{ listen: ${s.name} }`);
      maybeFlip(s);
    }
  };

  // Phase 1: 2-5 sockets, binds and listens interleaved.
  const socks: Sock[] = [];
  const n = int(2, 5);
  const pending: (() => void)[][] = [];
  for (let i = 0; i < n; i++) {
    const s = newSocket();
    socks.push(s);
    pending.push([() => bindAndListen(s)]);
  }
  // An occasional second bind on an already bound socket (EINVAL).
  if (chance(0.1)) {
    const s = pick(socks);
    pending.push([() => step(`{ bind: ${s.name}, address: ${s.family === 'inet' ? '0.0.0.0' : '"[::]'}:${pick(PORTS)}${s.family === 'inet' ? '' : '"'} }`)]);
  }
  while (pending.length) {
    const i = Math.floor(rnd() * pending.length);
    pending[i]!.shift()!();
    if (!pending[i]!.length) pending.splice(i, 1);
  }

  // An alias appears for a non-local bind now and then.
  if (chance(0.15)) {
    step('{ address: { host: server, interface: eth0, add: 10.0.0.77/24 } }');
    nonlocalAdded.v4 = true;
  }

  const targets = (): string[] => {
    const t = [...v4, 'fd00::1'];
    if (eth1) t.push('10.0.1.1', 'fd01::1');
    if (nonlocalAdded.v4) t.push('10.0.0.77');
    return t;
  };
  const connectAll = (closeMode: () => string): void => {
    for (const p of [...usedPorts].sort((a, b) => a - b)) {
      for (const a of targets()) {
        const to = a.includes(':') ? `"[${a}]:${p}"` : `${a}:${p}`;
        const count = chance(0.15) ? `, count: ${int(2, 3)}` : '';
        const send = chance(0.3) ? ', send: "hello\\r\\n"' : '';
        step(`{ connect: { from: client, to: ${to}${count}${send}${closeMode()} } }`);
        // Now and then the server connects to itself: the same address, or the loopback.
        if (selfRnd() < 0.06) {
          const self = selfRnd() < 0.5 ? to : a.includes(':') ? `"[::1]:${p}"` : `127.0.0.1:${p}`;
          step(`{ connect: { from: server, to: ${self} } }`);
        }
      }
    }
  };
  connectAll(() => (chance(0.4) ? ', close: server' : ''));

  // Phase 2: some listeners go away (server-side TIME_WAIT stays), new ones re-bind.
  if (chance(0.15)) step(`{ wait: ${pick(['200ms', '500ms', '1s', '2s'])} }`);
  const closing = socks.filter(() => chance(0.5));
  for (const s of closing) step(`{ close: ${s.name} }`);
  const m = int(1, 3);
  for (let i = 0; i < m; i++) {
    const old = closing.length && chance(0.7) ? pick(closing) : undefined;
    const s = newSocket(old && chance(0.6) ? old.proc : undefined, old?.family);
    bindAndListen(s, old?.port && chance(0.8) ? old.port : port());
  }
  connectAll(() => (chance(0.2) ? ', close: server' : chance(0.1) ? ', close: none' : ''));
  // Closing a socket with held connections leaves TIME_WAIT; then one more try.
  const open = socks.filter((s) => !closing.includes(s));
  if (chance(0.5) && open.length) {
    const s = pick(open);
    step(`{ close: ${s.name} }`);
    const t = newSocket(s.proc, s.family);
    bindAndListen(t, s.port ?? pick(PORTS));
    connectAll(() => '');
  }
  return out.join('\n') + '\n';
}
