// The emulator's `linux` policy against the live kernel, step by step. One code path for
// `bindlab verify-kernel` and the suite's real-kernel comparison (test/kernel/kernel.test.ts):
// compareWithKernel runs both, compareRuns lines them up, renderSideBySide prints them.
// A connection matches when the kernel's socket is any member of the SO_REUSEPORT group the
// emulator picked from: which member gets it depends on a hash the emulator does not reproduce.
// A datagram likewise (one receiver, any member of the group); copies (`a+b`) match as a set, and
// with `reply: true` each receiver's answer must come from the same source on both sides.

import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runPolicy, START_EPOCH_SECONDS } from '../emu/engine.js';
import type { Policy } from '../emu/policy/types.js';
import type { StepResult } from '../emu/results.js';
import { ETHERNET_HEADER_LEN } from '../emu/wire/ethernet.js';
import { kernelAvailable, runOnKernel, type KernelCaptureFile, type KernelRunOptions, type KernelStep, type KernelStepResult } from '../kernel/run-kernel.js';
import { LINKTYPE_ETHERNET } from '../pcap/linktypes.js';
import { openCapture } from '../pcap/open-capture.js';
import { PcapngWriter } from '../pcap/pcapng-writer.js';
import type { CaptureInterface, PacketSink } from '../pcap/sink.js';
import type { Scenario } from '../scenario/types.js';
import type { KernelDelivery } from '../kernel/run-udp.js';
import { comparePackets, tcpFactsAt, type TcpFacts } from './packet-compare.js';
import { compareDatagrams, datagramFactsAt, type DatagramFacts } from './datagram-compare.js';

export interface KernelComparisonRow {
  readonly index: number;
  readonly kind: KernelStep['kind'];
  readonly line: number;
  /** The step's first source line, trimmed (empty without source text). */
  readonly source: string;
  /** One result per connection (datagram) for connect (datagram) steps, else one. */
  readonly kernel: readonly string[];
  readonly linux: readonly string[];
  /** Connect steps: per connection, the sockets the emulator's pick was made among. */
  readonly candidates?: readonly (readonly string[])[];
  /** Datagram steps with reply: true: per datagram, where the answers came from ("10.0.0.2:53", "a,b" for copies). */
  readonly replies?: { readonly kernel: readonly string[]; readonly linux: readonly string[] };
  readonly agree: boolean;
}

export interface KernelComparison {
  readonly file: string;
  readonly rows: readonly KernelComparisonRow[];
  /** One line per disagreement, naming file, step, line and both results. */
  readonly differences: readonly string[];
  /** With a capture directory: the packets compared (connections matched, datagrams and their errors matched) and where they differ. */
  readonly packets?: { readonly connections: number; readonly datagrams: number; readonly differences: readonly string[]; readonly files: readonly string[] };
}

/** The emulator side: the same fields the kernel harness reports. */
type EmulatorStep = Pick<StepResult, 'index' | 'result' | 'results' | 'candidates'> & { readonly deliveries?: readonly KernelDelivery[] };

/** A datagram result's receivers as a set (`a+b` in any order), or the outcome itself. */
const receiverSet = (r: string): string => r.split('+').sort().join('+');

/**
 * Where one datagram's kernel and emulator results differ, in words, or null. One receiver
 * matches any socket the emulator picked among; copies match as a set; replies by receiver.
 */
export function datagramDifference(kernel: string, emulator: string, candidates: readonly string[] | undefined,
  kd: KernelDelivery | undefined, ed: KernelDelivery | undefined): string | null {
  const group = candidates && candidates.length > 1 ? candidates : null;
  const same = receiverSet(kernel) === receiverSet(emulator) || (group !== null && !kernel.includes('+') && group.includes(kernel));
  if (!same) return `kernel ${kernel} vs emulator ${emulator}${group ? ` (candidates ${group.join(',')})` : ''}`;
  if (kd?.replyFrom && ed?.replyFrom) {
    const emulated = new Map(ed.receivers.map((r, i) => [r, ed.replyFrom![i]]));
    const wrong = kd.receivers.flatMap((r, i) => {
      const e = emulated.get(r);
      return e !== undefined && e !== kd.replyFrom![i] ? [`${r} answered from ${kd.replyFrom![i]} on the kernel, ${e} in the emulator`] : [];
    });
    if (wrong.length) return wrong.join('; ');
  }
  return null;
}

/** Lines up kernel and emulator results of one scenario (pure; no kernel needed). */
export function compareRuns(scenario: Scenario, text: string, kernel: readonly KernelStepResult[], emulator: readonly EmulatorStep[]): KernelComparison {
  const lines = text.split('\n');
  const rows: KernelComparisonRow[] = [];
  const differences: string[] = [];
  for (const step of scenario.steps as readonly KernelStep[]) {
    const source = lines[step.pos.line - 1]?.trim() ?? '';
    const where = `${scenario.file} step ${step.index} (line ${step.pos.line}: ${source || step.kind})`;
    const k = kernel.find((x) => x.index === step.index);
    const e = emulator.find((x) => x.index === step.index);
    const kr = k ? k.results ?? [k.result] : [];
    const er = e ? e.results ?? [e.result] : [];
    if (!k || !e) {
      differences.push(`${where}: ${!k ? 'the kernel' : 'the emulator'} has no result`);
      rows.push({ index: step.index, kind: step.kind, line: step.pos.line, source, kernel: kr, linux: er, agree: false });
      continue;
    }
    if (step.kind === 'datagram') {
      let agree = kr.length === er.length;
      if (!agree) differences.push(`${where}: kernel sent ${kr.length} datagrams, emulator ${er.length}`);
      const candidates = kr.map((_, i) => e.candidates?.[i] ?? [er[i] ?? e.result]);
      kr.forEach((got, i) => {
        const d = datagramDifference(got, er[i] ?? '(none)', e.candidates?.[i], k.deliveries?.[i], e.deliveries?.[i]);
        if (d) {
          agree = false;
          differences.push(`${where} datagram ${i + 1}: ${d}`);
        }
      });
      const replyText = (ds: readonly KernelDelivery[] | undefined) => (ds ?? []).map((d) => (d.replyFrom ?? []).join(','));
      const replies = step.reply ? { replies: { kernel: replyText(k.deliveries), linux: replyText(e.deliveries) } } : {};
      rows.push({ index: step.index, kind: step.kind, line: step.pos.line, source, kernel: kr, linux: er, candidates, agree, ...replies });
      continue;
    }
    if (step.kind !== 'connect') {
      const agree = k.result === e.result;
      if (!agree) differences.push(`${where}: kernel ${k.result} vs emulator ${e.result}`);
      rows.push({ index: step.index, kind: step.kind, line: step.pos.line, source, kernel: kr, linux: er, agree });
      continue;
    }
    const candidates = kr.map((_, i) => {
      const c = e.candidates?.[i];
      return c && c.length ? c : [er[i] ?? e.result];
    });
    let agree = kr.length === er.length;
    if (!agree) differences.push(`${where}: kernel made ${kr.length} connections, emulator ${er.length}`);
    kr.forEach((got, i) => {
      if (!candidates[i]!.includes(got)) {
        agree = false;
        differences.push(`${where} connection ${i + 1}: kernel ${got} vs emulator ${er[i]} (candidates ${candidates[i]!.join(',')})`);
      }
    });
    rows.push({ index: step.index, kind: step.kind, line: step.pos.line, source, kernel: kr, linux: er, candidates, agree });
  }
  return { file: scenario.file, rows, differences };
}

/**
 * Runs the scenario on the live kernel and under the `linux` policy and compares them. Needs root
 * on Linux. With `captureDir`, the kernel's TCP segments are recorded there too (one file per
 * host), with the emulated capture beside them, and compared header field by field. `policy`
 * replaces `linux` (a variant of it: the tests' linux without its ICMP rate limit).
 */
export async function compareWithKernel(scenario: Scenario, text: string,
  options: KernelRunOptions & { readonly captureDir?: string; readonly policy?: Policy } = {}): Promise<KernelComparison> {
  const avail = kernelAvailable();
  if (!avail.ok) throw new Error(`verify-kernel needs root on Linux: ${avail.why}`);
  const dir = options.captureDir;
  const prefix = basename(scenario.file).replace(/\.ya?ml$/, '');
  const captures: KernelCaptureFile[] = [];
  const kernel = await runOnKernel(scenario, dir ? { ...options, capture: { dir, prefix, captures } } : options);
  if (!dir) {
    const emulator = runPolicy(scenario, options.policy ?? 'linux');
    return compareRuns(scenario, text, kernel, emulator.steps);
  }
  // The emulated side at this machine's net.core.rmem_max (not per namespace: the kernel's scale uses the host's).
  const rmemMax = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());
  const emulatedPath = join(dir, `${prefix}.linux.pcapng`);
  const writer = new PcapngWriter(emulatedPath, { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'ns', application: 'bindlab verify-kernel' });
  const sink = new FactSink(writer);
  const emulator = runPolicy(scenario, options.policy ?? 'linux', { sink, rmemMax });
  writer.finish();
  // Each host's segments in its own file; together, in the order they were sent (one clock for all namespaces).
  const kernelPackets = captures.flatMap(readKernelCapture).sort((a, b) => a.t - b.t);
  const packets = comparePackets(scenario.file, kernelPackets.flatMap((x) => (x.tcp ? [x.tcp] : [])), sink.facts);
  const datagrams = compareDatagrams(scenario.file, kernelPackets.flatMap((x) => (x.datagram ? [x.datagram] : [])), sink.datagrams);
  const cmp = compareRuns(scenario, text, kernel, emulator.steps);
  return { ...cmp, packets: { connections: packets.connections, datagrams: datagrams.datagrams, differences: [...packets.differences, ...datagrams.differences],
    files: [...captures.map((c) => c.path), emulatedPath] } };
}

/** Passes frames on to a capture writer and keeps their TCP facts, and those of datagrams off the loopback (datagramFacts). */
class FactSink implements PacketSink {
  readonly facts: TcpFacts[] = [];
  readonly datagrams: DatagramFacts[] = [];
  private readonly names: string[] = [];
  constructor(private readonly out: PacketSink) {}
  addInterface(iface: CaptureInterface): number {
    this.names.push(iface.name);
    return this.out.addInterface(iface);
  }
  addName(addr: { readonly family: 4 | 6; readonly bytes: Uint8Array }, name: string): void { this.out.addName(addr, name); }
  packet(ifaceId: number, timeNs: number, frame: Uint8Array, len: number, comment?: string): void {
    this.out.packet(ifaceId, timeNs, frame, len, comment);
    const bytes = frame.slice(0, len);
    const f = tcpFactsAt(this.names[ifaceId]!, bytes, ETHERNET_HEADER_LEN, (bytes[12]! << 8) | bytes[13]!);
    if (f) this.facts.push(f);
    const d = datagramFacts(this.names[ifaceId]!, bytes);
    if (d) this.datagrams.push(d);
  }
}

/**
 * A frame's datagram facts (datagram-compare.ts), but not on a loopback: the kernel's lo is
 * captured only on hosts that connect (TCP), so its datagrams there are not all seen.
 */
function datagramFacts(where: string, frame: Uint8Array): DatagramFacts | null {
  return where.endsWith('/lo') ? null : datagramFactsAt(where, frame, ETHERNET_HEADER_LEN, (frame[12]! << 8) | frame[13]!);
}

/**
 * The TCP segments and datagrams a host sent, from its tcpdump captures: on a link each segment once, as it
 * left its sender (its source MAC is the interface's own); on lo every segment.
 */
function readKernelCapture(c: KernelCaptureFile): { t: number; tcp: TcpFacts | null; datagram: DatagramFacts | null }[] {
  const out: { t: number; tcp: TcpFacts | null; datagram: DatagramFacts | null }[] = [];
  const mac = c.mac ? Uint8Array.from(c.mac.split(':').map((x) => parseInt(x, 16))) : null;
  const r = openCapture(c.path);
  try {
    while (r.next()) {
      if (r.linkType !== LINKTYPE_ETHERNET || r.caplen < ETHERNET_HEADER_LEN) continue;
      const b = r.data.slice(r.offset, r.offset + r.caplen);
      if (mac && !mac.every((x, i) => b[6 + i] === x)) continue;
      const tcp = tcpFactsAt(c.where, b, ETHERNET_HEADER_LEN, (b[12]! << 8) | b[13]!);
      const datagram = tcp ? null : datagramFacts(c.where, b);
      if (tcp || datagram) out.push({ t: r.tsSec * 1e9 + r.tsNsec, tcp, datagram });
    }
  } finally {
    r.close();
  }
  return out;
}

/** Collapses runs of one value: "w1 ×3, w2" for eight connections. */
function summarize(results: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i < results.length; ) {
    let j = i;
    while (j < results.length && results[j] === results[i]) j++;
    parts.push(j - i > 1 ? `${results[i]} ×${j - i}` : results[i]!);
    i = j;
  }
  return parts.join(', ') || '-';
}

/** The side-by-side table: step, line, kind, kernel, linux, and = or ≠. */
export function renderSideBySide(c: KernelComparison): string {
  const head = ['step', 'line', 'kind', 'kernel', 'linux (emulated)', ''];
  const body = c.rows.map((r) => {
    const groups = r.candidates?.some((g) => g.length > 1) ? ` (group ${[...new Set(r.candidates.flat())].join(',')})` : '';
    const from = (xs: readonly string[] | undefined) => (xs && xs.some((x) => x) ? ` (replies from ${summarize(xs.map((x) => x || 'none'))})` : '');
    return [String(r.index), String(r.line), r.kind, summarize(r.kernel) + from(r.replies?.kernel), summarize(r.linux) + groups + from(r.replies?.linux), r.agree ? '=' : '≠ DIFFERENT'];
  });
  const widths = head.map((h, i) => body.reduce((w, b) => Math.max(w, b[i]!.length), h.length));
  const fmt = (cells: string[]) => cells.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  const agreeing = c.rows.filter((r) => r.agree).length;
  const verdict = c.differences.length === 0
    ? `${c.file}: the kernel and the linux policy agree on all ${c.rows.length} steps`
    : `${c.file}: ${c.rows.length - agreeing} of ${c.rows.length} steps differ`;
  return [`${c.file}: live kernel beside the linux policy`, fmt(head), ...body.map(fmt), verdict].join('\n');
}
