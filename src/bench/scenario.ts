// The benchmark's scenario, shared by the run and replay benchmarks (its own module: the run
// benchmark loads the replay one at its end, so the two must not import each other).

export const BENCH_CLIENTS = 8;

/**
 * One server with a wildcard listener on 0.0.0.0:8080 and a specific listener on its alias
 * 10.0.0.2:8080 (refused on linux and linux-1.3.60, so there listen() auto-binds elsewhere);
 * BENCH_CLIENTS clients each connect count times to either address with a payload. Clients close
 * first, so TIME_WAIT (60 s virtual) holds client ports: each client's share of 4-tuples
 * stays far below its 28,232 ephemeral ports.
 */
export function benchScenarioText(connections: number, clients = BENCH_CLIENTS): string {
  const lines = benchHosts('wildcard plus alias listener, many clients', ['10.0.0.1', '10.0.0.2'], ['httpd', 'other'], clients);
  lines.push(
    'steps:',
    '  - socket: web',
    '    process: server/httpd',
    '    options: { SO_REUSEADDR: true }',
    '  - bind: web',
    '    address: 0.0.0.0:8080',
    '  - listen: web',
    '  - socket: alias2',
    '    process: server/other',
    '    options: { SO_REUSEADDR: true }',
    '  - bind: alias2',
    '    address: 10.0.0.2:8080',
    '  - listen: alias2',
  );
  // Two steps per client (one per server address); spread the remainder over the first steps.
  const steps = clients * 2;
  const base = Math.floor(connections / steps);
  let extra = connections - base * steps;
  for (let c = 0; c < clients; c++) {
    for (const to of ['10.0.0.1', '10.0.0.2']) {
      const count = base + (extra > 0 ? 1 : 0);
      if (extra > 0) extra--;
      if (count === 0) continue;
      lines.push(`  - connect: { from: client${c}, to: ${to}:8080, send: "GET / HTTP/1.0\\r\\n\\r\\n", count: ${count} }`);
    }
  }
  return lines.join('\n') + '\n';
}

/** The addresses of the UDP benchmark's server: one name server socket per alias on the first two, the third reaches the wildcard one. */
const UDP_BENCH_ADDRESSES = ['10.0.0.1', '10.0.0.2', '10.0.0.3'];

/**
 * The UDP benchmark: one server with a name server bound to each of two aliases and a cache on
 * the wildcard address (port 53, all with SO_REUSEADDR), and BENCH_CLIENTS clients; `steps`
 * datagram steps (each from a fresh client socket: its own port) send `count` DNS queries each,
 * in turn to the three addresses, every one answered.
 */
export function benchUdpScenarioText(steps: number, count: number, clients = BENCH_CLIENTS): string {
  const lines = benchHosts('DNS server per alias beside a wildcard cache, many clients', UDP_BENCH_ADDRESSES, ['named', 'cache'], clients);
  lines.push(
    'steps:',
    '  - { socket: dns1, process: server/named, type: udp, options: { SO_REUSEADDR: true } }',
    '  - { bind: dns1, address: "10.0.0.1:53" }',
    '  - { socket: dns2, process: server/named, type: udp, options: { SO_REUSEADDR: true } }',
    '  - { bind: dns2, address: "10.0.0.2:53" }',
    '  - { socket: cache, process: server/cache, type: udp, options: { SO_REUSEADDR: true } }',
    '  - { bind: cache, address: "0.0.0.0:53" }',
  );
  for (let s = 0; s < steps; s++) {
    const to = UDP_BENCH_ADDRESSES[s % UDP_BENCH_ADDRESSES.length]!;
    lines.push(`  - datagram: { from: client${s % clients}, to: "${to}:53", query: host${s % 64}.example, count: ${count}, reply: true }`);
  }
  return lines.join('\n') + '\n';
}

/** A bench scenario's first lines: its name, seed 42, a server with these addresses and processes (uid 0), and the clients 10.0.1.N. */
function benchHosts(name: string, addresses: readonly string[], processes: readonly string[], clients: number): string[] {
  const lines = ['name: bench - ' + name, 'seed: 42', 'hosts:', '  server:', '    interfaces:',
    `      eth0: { addresses: [${addresses.map((a) => `${a}/16`).join(', ')}] }`, '    processes:', ...processes.map((p) => `      ${p}: { uid: 0 }`)];
  for (let c = 0; c < clients; c++) lines.push(`  client${c}:`, '    interfaces:', `      eth0: { addresses: [10.0.1.${c + 1}/16] }`);
  return lines;
}
