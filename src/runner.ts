// Runs a loaded scenario under its policies and writes one capture per policy. This is the
// library entry the CLI uses; it never prints and never exits.

import { basename, extname, join, relative, resolve as resolvePath } from 'node:path';
import { runPolicySlices, scenarioWork, START_EPOCH_SECONDS } from './emu/engine.js';
import { Publication } from './io/publish.js';
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
  /**
   * The run's outputs join this publication and are renamed into place by the caller's commit()
   * (the CLI publishes every scenario's captures and the HTML report together); else runScenario
   * publishes this scenario's captures itself once every policy has run.
   */
  readonly publication?: Publication;
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

/** A run stopped by its AbortSignal (SIGINT/SIGTERM in the CLI): every temporary output is removed. */
export class RunInterrupted extends Error {
  override readonly name = 'RunInterrupted';
  constructor() { super('run interrupted; no output written'); }
}

/**
 * Runs the scenario under each policy. Captures are written under temporary names and renamed into
 * place together once every policy has run (with options.publication: by the caller's commit()).
 */
export function runScenario(scenario: Scenario, options: RunScenarioOptions = {}): ScenarioReport {
  const it = scenarioSlices(scenario, options);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

/** Milliseconds of emulation between returns to the event loop in runScenarioAsync. */
const SLICE_MS = 20;

/**
 * runScenario returning to the event loop every few milliseconds, so that signals are handled
 * mid-run: when `signal` aborts, the temporaries are removed and RunInterrupted is thrown.
 */
export async function runScenarioAsync(scenario: Scenario, options: RunScenarioOptions & { readonly signal?: AbortSignal } = {}): Promise<ScenarioReport> {
  const it = scenarioSlices(scenario, options);
  let since = performance.now();
  try {
    for (;;) {
      if (options.signal?.aborted) throw new RunInterrupted();
      const r = it.next();
      if (r.done) return r.value;
      if (performance.now() - since < SLICE_MS) continue;
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  } catch (e) {
    // The generator's own cleanup (its finally) runs on return().
    it.return(undefined as never);
    throw e;
  }
}

/** The capture paths of a run, in order, and the scenarios that would write each. */
export function capturePaths(scenarios: readonly Scenario[], policies: readonly string[] | undefined, outDir: string, format: CaptureFormat): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const sc of scenarios) {
    for (const policy of policiesFor(sc, policies)) {
      const path = resolvePath(capturePath(outDir, sc.file, policy, format));
      const files = out.get(path) ?? [];
      if (!files.includes(sc.file)) files.push(sc.file);
      out.set(path, files);
    }
  }
  return out;
}

/**
 * Two scenarios of one run whose captures would have one name (a/x.yaml and b/x.yaml both write
 * OUT/x.<policy>.pcapng): a message saying so, or null. The run refuses rather than let one replace
 * the other or invent names the user did not ask for.
 */
export function captureCollision(scenarios: readonly Scenario[], policies: readonly string[] | undefined, outDir: string, format: CaptureFormat): string | null {
  for (const [path, files] of capturePaths(scenarios, policies, outDir, format)) {
    if (files.length < 2) continue;
    const same = new Set(files.map((f) => resolvePath(f))).size === 1;
    if (same) return `${files[0]} is named twice: its captures (${relativePath(path)}) would be written twice`;
    return `${files.join(' and ')} would both write ${relativePath(path)} (captures are named OUT/<file name>.<policy>.${format}); rename one, or run them separately with different --out directories`;
  }
  return null;
}

function relativePath(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
}

function* scenarioSlices(scenario: Scenario, options: RunScenarioOptions): Generator<void, ScenarioReport> {
  const format = options.format ?? 'pcapng';
  const policies: Record<string, PolicyRun> = {};
  // Built-in policies and the scenario's custom ones (its policies list or a --policy-file).
  const resolve = policyResolver(scenario.customPolicies);
  const names = policiesFor(scenario, options.policies);
  const work = scenarioWork(scenario);
  let before = 0;
  const tell = options.onProgress;
  const publication = options.outDir ? options.publication ?? new Publication() : null;
  let done = false;
  try {
    for (const name of names) {
      const policy = resolve(name);
      const observer = options.observe?.(name);
      const base = before;
      const onProgress = tell ? (unitsDone: number): void => tell(base + unitsDone, work * names.length) : undefined;
      before += work;
      if (!publication || !options.outDir) {
        policies[name] = yield* runPolicySlices(scenario, policy, { sink: observer, macs: options.macs, onProgress });
        continue;
      }
      const path = capturePath(options.outDir, scenario.file, name, format);
      const writerOpts = { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'ns' as const, application: 'bindlab' };
      const target = { publication, path };
      const outDir = options.outDir;
      // Classic pcap: one file per link, OUT/<stem>.<policy>.<link>.pcap (one link type a file, no comments).
      const writer = format === 'pcap'
        ? new PcapPerLinkWriter((link) => capturePath(outDir, scenario.file, `${name}.${link}`, 'pcap'), writerOpts, publication)
        : new PcapngWriter(target, writerOpts);
      const run = yield* runPolicySlices(scenario, policy, { sink: observer ? tee(writer, observer) : writer, macs: options.macs, onProgress });
      writer.finish();
      if (writer instanceof PcapPerLinkWriter) {
        run.outputs = writer.paths;
        run.output = writer.paths[0]!;
      } else {
        run.output = path;
      }
      policies[name] = run;
    }
    // Every policy's capture is whole: all of them into place at once (or by the caller, with the run's other outputs).
    if (publication && !options.publication) publication.commit();
    done = true;
  } finally {
    // An error, or the caller stopping the slices: nothing of this run stays behind.
    if (!done) publication?.abort();
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
