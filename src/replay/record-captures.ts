// Records captures/ on this machine's Linux kernel (root): each captures/NAME.yaml runs through the
// real-kernel harness (src/kernel/run-kernel.ts: a namespace per host, veth pairs on a bridge),
// while a capture tool listens on the client's side of its veth. Nothing leaves the namespaces.
//
//   npm run build && node dist/replay/record-captures.js            # every captures/*.yaml
//
// The tool per capture: NAME.pcap tcpdump (µs), NAME.ns.pcap tcpdump ns, NAME.any.pcap tcpdump
// -i any (SLL2), NAME.pcapng dumpcap. Which ones are made is in RECORDINGS below.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runOnKernel } from '../kernel/run-kernel.js';
import { loadScenarioFile } from '../scenario/load.js';

interface Recording { readonly scenario: string; readonly out: string; readonly tool: (ns: string, file: string) => string[] }

const tcpdump = (extra: string[], iface = 'eth0') => (ns: string, file: string) =>
  ['ip', 'netns', 'exec', ns, 'sh', '-c', `until ip link show ${iface === 'any' ? 'eth0' : iface} | grep -q 'state UP'; do sleep 0.01; done; exec tcpdump -U --immediate-mode -n -s 262144 -i ${iface} ${extra.join(' ')} -w ${file} tcp or arp`];
const dumpcap = (ns: string, file: string) =>
  ['ip', 'netns', 'exec', ns, 'sh', '-c', `until ip link show eth0 | grep -q 'state UP'; do sleep 0.01; done; exec dumpcap -q -i eth0 -f 'tcp or arp' -w ${file}`];

export const RECORDINGS: readonly Recording[] = [
  { scenario: 'captures/reuseport.yaml', out: 'captures/reuseport.pcap', tool: tcpdump([]) },
  { scenario: 'captures/reuseport.yaml', out: 'captures/reuseport.any.pcap', tool: tcpdump(['--time-stamp-precision', 'nano'], 'any') },
  { scenario: 'captures/dual-stack.yaml', out: 'captures/dual-stack.pcapng', tool: dumpcap },
  { scenario: 'captures/dual-stack.yaml', out: 'captures/dual-stack.ns.pcap', tool: tcpdump(['--time-stamp-precision', 'nano']) },
];

async function record(r: Recording): Promise<void> {
  const scenario = loadScenarioFile(r.scenario);
  const file = join(process.cwd(), r.out);
  if (existsSync(file)) unlinkSync(file);
  let cap: ChildProcess | undefined;
  let stderr = '';
  let kept: string[] = [];
  // keep: the namespaces stay until the capture tool has stopped (a vanishing interface loses its ring buffer).
  const results = await runOnKernel(scenario, {
    keep: true,
    log: (line) => {
      const k = /^kept namespaces (.*)$/.exec(line);
      if (k) kept = k[1]!.split(' ');
      // setupHost logs "[NAMESPACE]" before configuring the host: the client's veth exists by then.
      const m = /^\[(\S+-client)\]/.exec(line);
      if (m && !cap) {
        const [cmd, ...args] = r.tool(m[1]!, file);
        cap = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        cap.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      }
    },
  });
  if (!cap) throw new Error(`${r.scenario}: the client namespace never showed up`);
  await new Promise((res) => setTimeout(res, 300));
  if (cap.exitCode === null && cap.signalCode === null) {
    const exited = new Promise((res) => cap!.once('exit', res));
    cap.kill('SIGINT');
    await exited;
  }
  for (const ns of kept) await new Promise((res) => spawn('ip', ['netns', 'del', ns], { stdio: 'ignore' }).once('exit', res));
  if (!existsSync(file)) throw new Error(`${r.out}: the capture tool wrote nothing: ${stderr}`);
  const connects = results.filter((s) => s.kind === 'connect').map((s) => (s.results ?? [s.result]).join(',')).join(' | ');
  process.stdout.write(`${r.out}: ${statSync(file).size} bytes; kernel: ${connects}\n`);
  if (process.env["RECORD_DEBUG"]) process.stdout.write(stderr);
}

const only = process.argv.slice(2);
for (const r of RECORDINGS) if (only.length === 0 || only.some((o) => r.out.includes(o))) await record(r);
