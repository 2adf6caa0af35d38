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
import { pathToFileURL } from 'node:url';
import { kernelNames, runOnKernel, type KernelStepResult } from '../kernel/run-kernel.js';
import { loadScenarioFile } from '../scenario/load.js';
import type { Scenario } from '../scenario/types.js';

interface Recording { readonly scenario: string; readonly out: string; readonly tool: CaptureTool }

/** The capture tool's command line, to run in namespace ns writing file; dev gives the kernel's name of a scenario interface (if0, ...). */
export type CaptureTool = (ns: string, file: string, dev: (iface: string) => string) => string[];

/** Waits until the interface is up (carrier included), then runs the tool in the namespace. */
const whenUp = (ns: string, iface: string, command: string): string[] =>
  ['ip', 'netns', 'exec', ns, 'sh', '-c', `until ip link show ${iface} | grep -q 'UP,LOWER_UP'; do sleep 0.01; done; exec ${command}`];

/** tcpdump on iface ('any': every interface, SLL2) with extra options, TCP and ARP only. */
export const tcpdump = (extra: string[], iface = 'eth0'): CaptureTool => (ns, file, dev) =>
  whenUp(ns, iface === 'any' ? dev('eth0') : dev(iface), `tcpdump -U --immediate-mode -n -s 262144 -i ${iface === 'any' ? 'any' : dev(iface)} ${extra.join(' ')} -w ${file} tcp or arp`);
const dumpcap: CaptureTool = (ns, file, dev) => whenUp(ns, dev('eth0'), `dumpcap -q -i ${dev('eth0')} -f 'tcp or arp' -w ${file}`);

/** What tcpdump ("listening on") and dumpcap ("Capturing on") print once they capture. */
const LISTENING = /listening on|Capturing on/;
/** A generous bound for a capture tool to start on a busy machine. */
const TOOL_START_MS = 60_000;

export const RECORDINGS: readonly Recording[] = [
  { scenario: 'captures/reuseport.yaml', out: 'captures/reuseport.pcap', tool: tcpdump([]) },
  { scenario: 'captures/reuseport.yaml', out: 'captures/reuseport.any.pcap', tool: tcpdump(['--time-stamp-precision', 'nano'], 'any') },
  { scenario: 'captures/dual-stack.yaml', out: 'captures/dual-stack.pcapng', tool: dumpcap },
  { scenario: 'captures/dual-stack.yaml', out: 'captures/dual-stack.ns.pcap', tool: tcpdump(['--time-stamp-precision', 'nano']) },
];

/**
 * Runs the scenario on this machine's kernel (root) while tool captures in the namespace of
 * host `on` (default: the client), into file; returns the kernel's results. Nothing leaves the
 * namespaces, which are removed afterwards.
 */
export async function recordCapture(scenario: Scenario, file: string, tool: CaptureTool, on = 'client'): Promise<KernelStepResult[]> {
  if (existsSync(file)) unlinkSync(file);
  let cap: ChildProcess | undefined;
  let stderr = '';
  let kept: string[] = [];
  // The harness names interfaces by index (kernelNames): the prefix does not matter here.
  const names = kernelNames(scenario, 'x');
  let results: KernelStepResult[];
  try {
    // keep: the namespaces stay until the capture tool has stopped (a vanishing interface loses its ring buffer).
    results = await runOnKernel(scenario, {
      keep: true,
      log: (line) => {
        const k = /^kept namespaces (.*)$/.exec(line);
        if (k) kept = k[1]!.split(' ');
      },
      // The steps wait until the tool says it listens: on a busy machine it may take seconds to start.
      beforeSteps: async (nsOf) => {
        const ns = nsOf(on);
        if (!ns) return;
        const [cmd, ...args] = tool(ns, file, (iface) => names.get(on)?.ifaces.get(iface) ?? iface);
        const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        cap = child;
        await new Promise<void>((ready, fail) => {
          const timer = setTimeout(() => fail(new Error(`${cmd} in ${ns} did not start listening within ${TOOL_START_MS / 1000} s: ${stderr.trim()}`)), TOOL_START_MS);
          child.stderr!.on('data', (d: Buffer) => {
            stderr += d.toString();
            if (LISTENING.test(stderr)) { clearTimeout(timer); ready(); }
          });
          child.once('error', (e) => { clearTimeout(timer); fail(e); });
          child.once('exit', (code) => { clearTimeout(timer); fail(new Error(`${cmd} in ${ns} exited (${code}) before listening: ${stderr.trim()}`)); });
        });
      },
    });
  } finally {
    const c = cap as ChildProcess | undefined;
    if (c) {
      await new Promise((res) => setTimeout(res, 300));
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((res) => c.once('exit', res));
        c.kill('SIGINT');
        await exited;
      }
    }
    for (const ns of kept) await new Promise((res) => spawn('ip', ['netns', 'del', ns], { stdio: 'ignore' }).once('exit', res));
  }
  if (!cap) throw new Error(`${scenario.file}: there is no host ${on} to capture on`);
  if (!existsSync(file)) throw new Error(`${file}: the capture tool wrote nothing: ${stderr}`);
  if (process.env["RECORD_DEBUG"]) process.stdout.write(stderr);
  return results;
}

async function record(r: Recording): Promise<void> {
  const results = await recordCapture(loadScenarioFile(r.scenario), join(process.cwd(), r.out), r.tool);
  const connects = results.filter((s) => s.kind === 'connect').map((s) => (s.results ?? [s.result]).join(',')).join(' | ');
  process.stdout.write(`${r.out}: ${statSync(join(process.cwd(), r.out)).size} bytes; kernel: ${connects}\n`);
}

// Run as a script (not when imported by the tests).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const only = process.argv.slice(2);
  for (const r of RECORDINGS) if (only.length === 0 || only.some((o) => r.out.includes(o))) await record(r);
}
