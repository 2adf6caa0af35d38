// Runs a loaded scenario under its policies and writes one capture per policy. This is the
// library entry the CLI uses; it never prints and never exits.

import { mkdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { runPolicy, scenarioWork, START_EPOCH_SECONDS } from './emu/engine.js';
import { policyResolver } from './emu/policy/registry.js';
import { BUILTIN_POLICIES } from './emu/policy/names.js';
import type { PolicyRun } from './emu/results.js';
import { PcapngWriter } from './pcap/pcapng-writer.js';
import { PcapPerLinkWriter } from './pcap/per-link.js';
import type { CaptureInterface, PacketSink } from './pcap/sink.js';
import type { Scenario } from './scenario/types.js';

export type CaptureFormat = 'pcapng' | 'pcap';

export interface RunScenarioOptions {
  /** Policy names; default: the scenario's `policies`, else every built-in policy. */
  readonly policies?: readonly string[];
  /** Directory for the captures; null or undefined writes none. */
  readonly outDir?: string | null;
  readonly format?: CaptureFormat;
  /** MACs for `mac: arp` interfaces, keyed "HOST/IFACE" (see resolveArpMacs). */
  readonly macs?: ReadonlyMap<string, string>;
  /**
   * An extra sink per policy that sees every packet as well (the HTML report's recorder); the
   * decisions, the report and the capture bytes are the same with or without it.
   */
  readonly observe?: (policy: string) => PacketSink | undefined;
  /** Told now and then how much of the whole run (every policy) is done, in work units out of a total (engine's scenarioWork per policy). */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface ScenarioReport {
  readonly scenario: string;
  readonly file: string;
  readonly description?: string;
  readonly policies: Record<string, PolicyRun>;
}

/** The policies a run covers: the option, else the scenario's list, else all built-in ones. */
export function policiesFor(scenario: Scenario, requested?: readonly string[]): readonly string[] {
  if (requested && requested.length > 0) return requested;
  return scenario.policies ?? BUILTIN_POLICIES;
}

/** OUT/<scenario-file-stem>.<policy>.<format> (for pcap, `policy` is "<policy>.<link>": one file per link) */
export function capturePath(outDir: string, scenarioFile: string, policy: string, format: CaptureFormat): string {
  const stem = basename(scenarioFile, extname(scenarioFile));
  return join(outDir, `${stem}.${policy}.${format}`);
}

/** Runs the scenario under each policy; captures are written to a temporary name and renamed when complete. */
export function runScenario(scenario: Scenario, options: RunScenarioOptions = {}): ScenarioReport {
  const format = options.format ?? 'pcapng';
  const policies: Record<string, PolicyRun> = {};
  if (options.outDir) mkdirSync(options.outDir, { recursive: true });
  // Built-in policies and the scenario's custom ones (its policies list or a --policy-file).
  const resolve = policyResolver(scenario.customPolicies);
  const names = policiesFor(scenario, options.policies);
  const work = scenarioWork(scenario);
  let before = 0;
  const tell = options.onProgress;
  for (const name of names) {
    const policy = resolve(name);
    const observer = options.observe?.(name);
    const base = before;
    const onProgress = tell ? (done: number): void => tell(base + done, work * names.length) : undefined;
    before += work;
    if (!options.outDir) {
      policies[name] = runPolicy(scenario, policy, { sink: observer, macs: options.macs, onProgress });
      continue;
    }
    const path = capturePath(options.outDir, scenario.file, name, format);
    const writerOpts = { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'ns' as const, application: 'bindlab' };
    // Classic pcap: one file per link, OUT/<stem>.<policy>.<link>.pcap (one link type a file, no comments).
    const outDir = options.outDir;
    const writer = format === 'pcap'
      ? new PcapPerLinkWriter((link) => capturePath(outDir, scenario.file, `${name}.${link}`, 'pcap'), writerOpts)
      : new PcapngWriter(path, writerOpts);
    let run: PolicyRun;
    try {
      run = runPolicy(scenario, policy, { sink: observer ? tee(writer, observer) : writer, macs: options.macs, onProgress });
    } catch (e) {
      writer.abort();
      throw e;
    }
    writer.finish();
    if (writer instanceof PcapPerLinkWriter) {
      run.outputs = writer.paths;
      run.output = writer.paths[0]!;
    } else {
      run.output = path;
    }
    policies[name] = run;
  }
  const report: ScenarioReport = { scenario: scenario.name, file: scenario.file, policies };
  if (scenario.description) (report as { description?: string }).description = scenario.description;
  return report;
}

/** A sink that hands everything to the capture writer first, then to the observer (with its own interface ids). */
function tee(first: PacketSink, second: PacketSink): PacketSink {
  const secondIds: number[] = [];
  return {
    addInterface(iface: CaptureInterface): number {
      const id = first.addInterface(iface);
      secondIds[id] = second.addInterface(iface);
      return id;
    },
    addName(addr, name): void {
      first.addName(addr, name);
      second.addName(addr, name);
    },
    packet(ifaceId, timeNs, frame, len, comment, record): void {
      first.packet(ifaceId, timeNs, frame, len, comment, record);
      second.packet(secondIds[ifaceId]!, timeNs, frame, len, comment, record);
    },
  };
}

/** Looks up the MAC of every `mac: arp` interface (by its first address) in this machine's ARP table. */
export async function resolveArpMacs(scenario: Scenario): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const wanted = scenario.hosts.flatMap((h) => h.interfaces.filter((i) => i.mac === 'arp').map((i) => ({ h, i })));
  if (wanted.length === 0) return out;
  // A CommonJS package: its module.exports is the default export, under Node and in the bundle
  // alike (esbuild gives a split CommonJS chunk no named exports).
  const { toMAC } = (await import('@network-utils/arp-lookup')).default;
  for (const { h, i } of wanted) {
    const v4 = i.addresses.find((c) => c.addr.family === 4) ?? i.addresses[0];
    if (!v4) throw new Error(`${scenario.file}: interface ${h.name}/${i.name} has mac: arp but no address to look up`);
    let mac: string | null;
    try {
      mac = await toMAC(v4.addr.text);
    } catch (e) {
      // The library reads the table with `arp -an` (net-tools).
      throw new Error(`${scenario.file}: interface ${h.name}/${i.name} has mac: arp, but this machine's ARP table could not be read (arp -an: ${(e as Error).message.split('\n')[0]})`);
    }
    if (!mac) throw new Error(`${scenario.file}: interface ${h.name}/${i.name} has mac: arp, but this machine's ARP table has no entry for ${v4.addr.text}`);
    out.set(`${h.name}/${i.name}`, mac.toLowerCase());
  }
  return out;
}

/** Whether every expectation of every policy held. */
export function allPassed(report: ScenarioReport): boolean {
  return Object.values(report.policies).every((p) => p.expectations.failed === 0);
}
