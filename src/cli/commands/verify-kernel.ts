// bindlab verify-kernel FILE...: the scenario's socket program on the live Linux kernel beside
// the `linux` policy, step by step. Root on Linux only (network namespaces, a veth per interface).
import { mkdirSync, readFileSync } from 'node:fs';
import { KernelSetupError, kernelAvailable } from '../../kernel/run-kernel.js';
import { parseScenario } from '../../scenario/load.js';
import { compareWithKernel, renderSideBySide } from '../../testing/kernel-compare.js';
import { UsageError, type ExitCode } from '../common.js';
import type { VerifyKernelArgs } from '../builders.js';

export async function verifyKernelCommand(argv: VerifyKernelArgs): Promise<ExitCode> {
  const avail = kernelAvailable();
  if (!avail.ok) throw new UsageError(`verify-kernel needs root on Linux: ${avail.why}`);
  // Load every file first, so that a typo fails before namespaces are made.
  const scenarios = argv.files.map((f) => {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      throw new UsageError(`${f}: cannot read scenario: ${(e as Error).message.replace(/, \w+ '.*'$/, '')}`);
    }
    return { text, scenario: parseScenario(text, f) };
  });
  if (argv.capture) {
    try {
      mkdirSync(argv.capture, { recursive: true });
    } catch (e) {
      throw new UsageError(`--capture ${argv.capture}: ${(e as Error).message}`);
    }
  }
  let differ = false;
  for (const { text, scenario } of scenarios) {
    const log = argv.verbose ? (l: string) => process.stderr.write(`${l}\n`) : undefined;
    let cmp;
    try {
      // A long wait: is silence a hang? Say on stderr what is being waited for.
      const onWait = (l: string) => process.stderr.write(`${scenario.file}: ${l}\n`);
      cmp = await compareWithKernel(scenario, text, { keep: argv.keep, log, onWait, ...(argv.capture ? { captureDir: argv.capture } : {}) });
    } catch (e) {
      if (e instanceof KernelSetupError) throw new UsageError(`${scenario.file}: ${e.message}`);
      throw e;
    }
    process.stdout.write(`${renderSideBySide(cmp)}\n`);
    for (const d of cmp.differences) process.stdout.write(`  ${d}\n`);
    if (cmp.packets) {
      const p = cmp.packets;
      process.stdout.write(p.differences.length === 0
        ? `${scenario.file}: the kernel's packets and the linux policy's agree on every header fact of ${p.connections} connections${p.datagrams ? ` and ${p.datagrams} datagrams and ICMP errors` : ''}\n`
        : `${scenario.file}: packets of ${p.connections} connections${p.datagrams ? ` and ${p.datagrams} datagrams and ICMP errors` : ''} compared; ${p.differences.length} header facts differ\n`);
      for (const d of p.differences) process.stdout.write(`  ${d}\n`);
      process.stdout.write(`  captures: ${p.files.join(', ')}\n`);
      if (p.differences.length) differ = true;
    }
    process.stdout.write('\n');
    if (cmp.differences.length) differ = true;
  }
  return differ ? 1 : 0;
}
