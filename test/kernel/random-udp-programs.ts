// Seeded random UDP programs for comparing the emulator's `linux` policy with the real kernel
// (issue 18): datagram sockets of several uids and families with the UDP options, binds to the
// wildcard, aliases, the subnet and limited broadcast and group addresses, joins and leaves on
// either interface, connect(2), a TCP socket now and then on the same port (UDP and TCP ports
// are apart), then datagrams unicast, broadcast and multicast from the client, the server itself
// and scenario sockets, some answered. Few ports and addresses, so that sharing, groups and
// copies happen often. Deterministic per seed; YAML text for the project's loader.

import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { mulberry32 } from './random-programs.js';

interface Sock {
  name: string;
  family: 'inet' | 'inet6';
  proc: string;
  host: 'server' | 'client';
  port?: number;
  /** Groups joined, with the interface named (if any). */
  groups: { group: string; iface?: string }[];
  closed?: boolean;
}

const PORTS = [5300, 5353, 5400];
const GROUPS4 = ['224.0.0.251', '239.1.1.1'];
const GROUPS6 = ['ff02::fb', 'ff05::1:3'];

export function randomUdpProgram(seed: number): string {
  const rnd = mulberry32(seed ^ 0x0bad5eed);
  const chance = (p: number) => rnd() < p;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

  const nAliases = int(1, 3);
  const v4 = Array.from({ length: nAliases }, (_, i) => `10.0.0.${i + 1}`);
  const eth1 = chance(0.3);
  const uids = chance(0.5) ? [0, 1000] : [0, 1000, 1001];
  const procs = uids.map((u, i) => ({ name: `p${i}`, uid: u }));

  const out: string[] = [];
  out.push(`name: random UDP program ${seed}`);
  out.push(`seed: ${seed}`);
  out.push('policies: [linux]');
  if (eth1) out.push('links: { lan: { latency: 100us }, lan2: { latency: 100us } }');
  out.push('hosts:');
  out.push('  server:');
  out.push('    interfaces:');
  out.push(`      eth0: { addresses: [${v4.map((a) => a + '/24').join(', ')}, fd00::1/64] }`);
  if (eth1) out.push('      eth1: { addresses: [10.0.1.1/24, fd01::1/64], link: lan2 }');
  out.push('    processes:');
  for (const p of procs) out.push(`      ${p.name}: { uid: ${p.uid} }`);
  out.push('  client:');
  out.push('    interfaces:');
  out.push('      eth0: { addresses: [10.0.0.100/24, fd00::100/64] }');
  if (eth1) out.push('      eth1: { addresses: [10.0.1.100/24, fd01::100/64], link: lan2 }');
  out.push('    processes:');
  out.push('      c0: { uid: 0 }');
  out.push('steps:');
  const step = (s: string) => out.push(`  - ${s}`);

  const devices = eth1 ? ['eth0', 'eth1'] : ['eth0'];
  const socks: Sock[] = [];
  const usedPorts = new Set<number>();
  let nSock = 0;

  const options = (family: 'inet' | 'inet6'): string => {
    const o: string[] = [];
    if (chance(0.5)) o.push('SO_REUSEADDR: true');
    if (chance(0.3)) o.push('SO_REUSEPORT: true');
    if (chance(0.3)) o.push('SO_BROADCAST: true');
    if (family === 'inet6' && chance(0.35)) o.push(`IPV6_V6ONLY: ${chance(0.7)}`);
    if (chance(0.15)) o.push('IP_MULTICAST_ALL: false');
    if (chance(0.1)) o.push(family === 'inet6' && chance(0.5) ? 'IPV6_MULTICAST_LOOP: false' : 'IP_MULTICAST_LOOP: false');
    if (chance(0.2)) o.push(family === 'inet6' ? 'IPV6_RECVPKTINFO: true' : 'IP_PKTINFO: true');
    if (chance(0.07)) o.push(`SO_BINDTODEVICE: ${pick(devices)}`);
    if (chance(0.05)) o.push(`IP_MULTICAST_IF: ${pick(devices)}`);
    for (let i = o.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [o[i], o[j]] = [o[j]!, o[i]!];
    }
    return o.length ? `, options: { ${o.join(', ')} }` : '';
  };

  const newSocket = (host: 'server' | 'client' = 'server', family?: 'inet' | 'inet6'): Sock => {
    const s: Sock = {
      name: `u${++nSock}`,
      family: family ?? (chance(0.7) ? 'inet' : 'inet6'),
      proc: host === 'server' ? `server/${pick(procs).name}` : 'client/c0',
      host,
      groups: [],
    };
    const fam = s.family === 'inet6' ? ', family: inet6' : '';
    step(`{ socket: ${s.name}, process: ${s.proc}, type: udp${fam}${options(s.family)} }`);
    socks.push(s);
    return s;
  };

  const address = (s: Sock, p: number): string => {
    const r = rnd();
    if (s.host === 'client') return r < 0.6 ? `0.0.0.0:${p}` : `10.0.0.100:${p}`;
    if (s.family === 'inet') {
      if (r < 0.35) return `0.0.0.0:${p}`;
      if (r < 0.7) return `${pick(v4)}:${p}`;
      if (r < 0.78) return `10.0.0.255:${p}`;
      if (r < 0.82) return `255.255.255.255:${p}`;
      if (r < 0.9) return `${pick(GROUPS4)}:${p}`;
      if (r < 0.95 && eth1) return `10.0.1.1:${p}`;
      return `10.0.0.77:${p}`; // not local: EADDRNOTAVAIL
    }
    if (r < 0.45) return `"[::]:${p}"`;
    if (r < 0.7) return `"[fd00::1]:${p}"`;
    if (r < 0.9) return `"[::ffff:${pick(v4)}]:${p}"`;
    return `"[fd00::77]:${p}"`;
  };

  const join = (s: Sock): void => {
    const v6group = s.family === 'inet6' && chance(0.5);
    const group = v6group ? pick(GROUPS6) : pick(GROUPS4);
    // A link-scope IPv6 group needs an interface (the route to ff02:: is every link's).
    const iface = v6group && group.startsWith('ff02') ? pick(devices) : chance(0.6) ? pick(devices) : undefined;
    step(`{ join: ${s.name}, group: "${group}"${iface ? `, interface: ${iface}` : ''} }`);
    s.groups.push({ group, ...(iface ? { iface } : {}) });
  };

  const bindSock = (s: Sock, p = pick(PORTS)): void => {
    if (chance(0.08)) {
      step(`{ setsockopt: ${s.name}${options(s.family) || ', options: { SO_REUSEADDR: true }'} }`);
    }
    step(`{ bind: ${s.name}, address: ${address(s, p)} }`);
    usedPorts.add(p);
    s.port = p;
    if (s.host === 'server' && chance(0.35)) join(s);
    if (chance(0.1)) step(`{ connect: ${s.name}, to: ${s.family === 'inet6' ? (chance(0.5) ? '"[fd00::100]:7000"' : '"[::ffff:10.0.0.100]:7000"') : '10.0.0.100:7000'} }`);
    if (chance(0.06)) step(`{ setsockopt: ${s.name}, options: { ${pick(['SO_REUSEADDR', 'SO_REUSEPORT', 'SO_BROADCAST', 'IP_MULTICAST_ALL'])}: ${chance(0.5)} } }`);
  };

  // A client socket that may broadcast (a fresh socket may not: EACCES), bound when it first sends.
  const broadcaster = chance(0.7);
  if (broadcaster) step('{ socket: bc, process: client/c0, type: udp, options: { SO_BROADCAST: true } }');

  // Phase 1: 2-5 server sockets (an occasional one on the client), binds interleaved.
  const n = int(2, 5);
  const pending: Sock[] = [];
  for (let i = 0; i < n; i++) pending.push(newSocket());
  if (chance(0.2)) pending.push(newSocket('client', 'inet'));
  while (pending.length) bindSock(pending.splice(Math.floor(rnd() * pending.length), 1)[0]!);
  // A TCP socket on a UDP port: the port spaces are apart, so its bind is never refused for them.
  if (chance(0.2)) {
    step(`{ socket: t1, process: server/${pick(procs).name} }`);
    step(`{ bind: t1, address: 0.0.0.0:${pick([...usedPorts])} }`);
  }

  const targets = (p: number): string[] => {
    const t = [...v4.map((a) => `${a}:${p}`), `"[fd00::1]:${p}"`, `10.0.0.255:${p}`];
    if (chance(0.3)) t.push(`255.255.255.255:${p}`);
    if (eth1) t.push(`10.0.1.1:${p}`, `10.0.1.255:${p}`);
    t.push(`${pick(GROUPS4)}:${p}`);
    if (chance(0.4)) t.push(`"[${pick(GROUPS6)}]:${p}"`);
    return t;
  };
  const sendAll = (): void => {
    for (const p of [...usedPorts].sort((a, b) => a - b)) {
      for (const to of targets(p)) {
        if (!chance(0.7)) continue;
        const group6 = to.includes('[ff');
        const multicast = group6 || /^2(2[4-9]|3\d)\./.test(to);
        // A link-scope IPv6 group is sent out of a named interface.
        const iface = group6 || (multicast && chance(0.4)) ? `, interface: ${pick(devices)}` : '';
        const count = chance(0.15) ? `, count: ${int(2, 3)}` : '';
        const reply = chance(0.3) ? ', reply: true' : '';
        const r = rnd();
        const broadcast = /^(10\.0\.[01]\.255|255\.255\.255\.255):/.test(to);
        if (broadcaster && broadcast && chance(0.7)) {
          step(`{ datagram: { socket: bc, to: ${to}${iface}${count}${reply} } }`);
        } else if (r < 0.12) {
          step(`{ datagram: { from: server, to: ${to}${iface}${count}${reply} } }`);
        } else if (r < 0.22 && socks.some((s) => s.port !== undefined && !s.closed && (s.family === 'inet6' || !to.startsWith('"[')))) {
          // An inet6 socket writes an IPv4 destination v4-mapped; an inet one sends to IPv4 only.
          const s = pick(socks.filter((x) => x.port !== undefined && !x.closed && (x.family === 'inet6' || !to.startsWith('"['))));
          const dst = s.family === 'inet6' && !to.startsWith('"[') ? `"[::ffff:${to.replace(/:(\d+)$/, ']:$1')}"` : to;
          step(`{ datagram: { socket: ${s.name}, to: ${dst}${iface}${reply} } }`);
        } else {
          const src = chance(0.25) ? ', source: 10.0.0.100:7000' : chance(0.2) ? `, source: 10.0.0.100:${int(7001, 7100)}` : '';
          const v6 = to.startsWith('"[');
          step(`{ datagram: { from: client, to: ${to}${v6 ? '' : src}${iface}${count}${reply} } }`);
        }
      }
    }
  };
  sendAll();

  // Phase 2: some sockets close or leave their groups, new ones bind, and everything again.
  for (const s of socks.filter(() => chance(0.3))) {
    const g = s.groups[0];
    // Now and then a leave names no interface although the join did: the route's may be another.
    if (g && chance(0.5)) step(`{ leave: ${s.name}, group: "${g.group}"${g.iface && chance(0.8) ? `, interface: ${g.iface}` : ''} }`);
    else {
      step(`{ close: ${s.name} }`);
      s.closed = true;
    }
  }
  const m = int(1, 2);
  for (let i = 0; i < m; i++) bindSock(newSocket());
  sendAll();
  return out.join('\n') + '\n';
}

/**
 * The same program with the client behind a router: the client on a link of its own (10.9.0.100,
 * fd09::100) with default routes by the router, the server's default routes by it too, so that
 * every datagram, reply and ICMP error between them crosses the router (one hop, TTL one lower);
 * multicast and the server's broadcasts stay on the server's link, and 10.0.0.255 from the client
 * is the router's own broadcast. Null for a program with a second link (the client's eth1).
 */
export function routedUdpProgram(seed: number): string | null {
  const text = randomUdpProgram(seed);
  if (text.includes('lan2')) return null;
  const doc = parseYaml(text.replaceAll('10.0.0.100', '10.9.0.100').replaceAll('fd00::100', 'fd09::100')) as Record<string, any>;
  doc['name'] = `random UDP program ${seed} behind a router`;
  doc['links'] = { lan: { latency: '100us' }, far: { latency: '100us' } };
  const hosts = doc['hosts'] as Record<string, any>;
  hosts['server'].routes = [{ to: 'default', via: '10.0.0.254' }, { to: 'default', via: 'fd00::fe' }];
  hosts['client'].interfaces = { eth0: { addresses: ['10.9.0.100/24', 'fd09::100/64'], link: 'far' } };
  hosts['client'].routes = [{ to: 'default', via: '10.9.0.254' }, { to: 'default', via: 'fd09::fe' }];
  hosts['router'] = {
    interfaces: { eth0: { addresses: ['10.0.0.254/24', 'fd00::fe/64'], link: 'lan' }, eth1: { addresses: ['10.9.0.254/24', 'fd09::fe/64'], link: 'far' } },
    forward: true,
    routes: [],
  };
  return stringifyYaml(doc);
}
