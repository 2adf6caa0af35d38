// Commands in the real-kernel oracle's network namespaces (src/kernel/run-kernel.ts): ip with
// its errors in one line, tcpdump started and stopped without losing a segment, ss for TIME_WAIT
// sockets whose 60 s are over. No scenario logic here.

import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';

export function firstLine(e: unknown): string {
  const err = e as { stderr?: Buffer | string; message?: string };
  const text = err.stderr ? String(err.stderr) : String(err.message ?? e);
  return text.trim().split('\n')[0] ?? '';
}

export function run(cmd: string, args: readonly string[], input?: string): Promise<void> {
  return new Promise((resolveP, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolveP();
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.trim()}`));
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** The first line of what a failed setup command printed, without ip's batch line numbers. */
export function setupProblem(e: unknown): string {
  const m = /failed \(\d+\): ([^\n]*)/.exec(String((e as Error).message ?? e));
  return (m?.[1] ?? firstLine(e)).replace(/^Error: /, '').trim();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** tcpdump in a namespace, ready once it says it is listening. */
export async function startTcpdump(ns: string, path: string, device: string): Promise<ChildProcess> {
  // At a higher priority than the agents: on a busy machine a starved tcpdump falls behind. A 16 MiB
  // capture buffer: with a 256 KiB snaplen the default 2 MiB ring holds only a few frames, and a
  // burst (a datagram looping between two routers, 63 copies in a few hundred µs) lost half of them.
  const child = spawn('ip', ['netns', 'exec', ns, 'nice', '-n', '-10', 'tcpdump', '-i', device, '-Z', 'root', '--immediate-mode', '-U', '-n', '-s', '262144', '-B', '16384',
    '-w', path, 'tcp or udp or icmp or icmp6'], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolveP, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`tcpdump in ${ns} did not start: ${err.trim()}`)), 15000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) { clearTimeout(timer); resolveP(); }
    });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`tcpdump in ${ns} exited (${code}): ${err.trim()}`)); });
  });
  return child;
}

/**
 * Stops tcpdump once it has written out what it holds: on SIGINT it leaves the packets still in
 * its capture ring unwritten, so its file must first stop growing (for 500 ms; at most 10 s on a busy machine).
 */
export async function stopTcpdump(child: ChildProcess, path: string): Promise<void> {
  const size = () => { try { return statSync(path).size; } catch { return -1; } };
  let last = size();
  for (let still = 0, waited = 0; still < 10 && waited < 10000; waited += 50) {
    await sleep(50);
    const now = size();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return new Promise((resolveP) => {
    if (child.exitCode !== null || child.signalCode !== null) { resolveP(); return; }
    child.removeAllListeners('exit');
    child.on('exit', () => resolveP());
    child.kill('SIGINT');
  });
}

/**
 * TIME_WAIT lasts TCP_TIMEWAIT_LEN (60 s), but its timer sits in a coarse timer-wheel level
 * (HZ=250: 2.048 s granularity), so the socket really goes away 0-2 s late (measured 60.4 to
 * 61.8 s; docs/kernel-observations.md). After a wait step, TIME_WAIT sockets whose 60 s are
 * over are given up to 3 s to disappear, so the run agrees with the 60 s of the model.
 */
export async function settleTimeWait(ns: string): Promise<void> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const out = await capture('ip', ['netns', 'exec', ns, 'ss', '-tanoH', 'state', 'time-wait']).catch(() => '');
    const expired = out
      .split('\n')
      .map((l) => /timer:\(timewait,([^,]*),/.exec(l)?.[1])
      .filter((t): t is string => t !== undefined)
      .filter((t) => remainingMs(t) <= 50);
    if (!expired.length || Date.now() > deadline) return;
    await sleep(100);
  }
}

/** ss prints timers as "8.408ms", "58sec", "1min2sec" or "" (already due). */
function remainingMs(t: string): number {
  let ms = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|sec|min)/g)) {
    ms += Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'sec' ? 1000 : 60000);
  }
  return ms;
}

export function capture(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolveP, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolveP(out) : reject(new Error(`${cmd} failed (${code})`))));
  });
}
