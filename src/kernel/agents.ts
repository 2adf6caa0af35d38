// The real-kernel oracle's agents: one Python process (agent.py) per scenario process, in the
// host's network namespace, running as the process's uid, answering JSON lines.
// Starting Python costs about 0.1 s of CPU, and a scenario has 3 to 6 agents: the suite runs
// some 200 scenarios on the kernel. So agents are forked from one long-lived `agent.py --zygote`
// (root, in this process's namespaces): each child enters the namespace (setns, as `ip netns
// exec` does for the network), drops to its uid as a directly started agent does, and talks
// over a Unix socket this process listens on. The agent itself is the same code either way.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type Json = Record<string, unknown>;

let python: string | undefined;
export function pythonPath(): string {
  // Resolved once: version-manager shims (pyenv) are slow to start.
  python ??= execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { stdio: 'pipe' })
    .toString()
    .trim();
  return python;
}

function agentPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [resolve(here, 'agent.py'), resolve(here, '../../src/kernel/agent.py')]) {
    if (existsSync(p)) return p;
  }
  throw new Error(`agent.py not found next to ${here}`);
}

// ---------------------------------------------------------------------------------------------
// The zygote: one per process, started on first use, gone when this process exits (its stdin closes).

class Zygote {
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly pending = new Map<number, { ok: (pid: number) => void; fail: (e: Error) => void }>();
  private stderr = '';

  constructor() {
    this.child = spawn(pythonPath(), ['-u', agentPath(), '--zygote'], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let msg: Json;
      try { msg = JSON.parse(line) as Json; } catch { return; }
      const p = this.pending.get(Number(msg['id']));
      if (!p) return;
      this.pending.delete(Number(msg['id']));
      if (typeof msg['pid'] === 'number') p.ok(msg['pid']);
      else p.fail(new Error(`cannot start an agent: ${String(msg['error'])}`));
    });
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    this.child.stdin!.on('error', () => {});
    this.child.on('exit', (code, signal) => {
      if (zygote === this) zygote = undefined;
      const e = new Error(`the agent starter exited (${code ?? signal}): ${this.stderr.trim()}`);
      for (const p of this.pending.values()) p.fail(e);
      this.pending.clear();
    });
    // Not a reason for this process to stay alive.
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as Socket).unref?.();
  }

  /** Forks an agent that connects to the socket `sock`; resolves with its pid. */
  start(ns: string, uid: number, name: string, sock: string, err: string): Promise<number> {
    const id = this.nextId++;
    return new Promise((ok, fail) => {
      this.pending.set(id, { ok, fail });
      this.child.stdin!.write(JSON.stringify({ id, ns, uid, name, sock, err }) + '\n');
    });
  }
}

let zygote: Zygote | undefined;
let agentCounter = 0;

// ---------------------------------------------------------------------------------------------

export class Agent {
  private sock: Socket | null = null;
  private server: Server | null;
  private readonly unsent: string[] = [];
  private pid = 0;
  private killed = false;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  private stderr = '';
  private readonly errFile: string;
  private exited = false;
  readonly ready: Promise<Json>;
  /** Names of this agent's sockets that listen (for accept polling). */
  readonly listening = new Set<string>();

  constructor(
    readonly label: string,
    ns: string,
    uid: number,
  ) {
    const z = (zygote ??= new Zygote());
    // A Unix socket file (removed when the server closes, at the connection) and a stderr file
    // (removed when the agent goes), both root's in the temp directory.
    const name = join(tmpdir(), `bindlab-agent-${process.pid}-${++agentCounter}`);
    const path = `${name}.sock`;
    this.errFile = `${name}.err`;
    let readyResolve!: (v: Json) => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => ((readyResolve = res), (readyReject = rej)));
    this.pending.set(0, { resolve: readyResolve, reject: readyReject });
    const server = (this.server = createServer());
    server.once('connection', (sock) => this.attach(sock));
    server.once('error', (e) => this.gone(`cannot listen for it: ${e.message}`));
    server.listen(path, () => {
      z.start(ns, uid, label, path, this.errFile).then((pid) => {
        this.pid = pid;
        if (this.killed) this.kill();
      }, (e: Error) => this.gone(e.message));
    });
  }

  private attach(sock: Socket): void {
    this.closeServer();
    this.sock = sock;
    createInterface({ input: sock }).on('line', (line) => {
      let msg: Json;
      try {
        msg = JSON.parse(line) as Json;
      } catch {
        this.stderr += `unparsable: ${line}\n`;
        return;
      }
      const id = Number(msg['id']);
      const p = this.pending.get(id);
      if (p) {
        this.pending.delete(id);
        p.resolve(msg);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => this.gone('its connection closed'));
    for (const l of this.unsent.splice(0)) sock.write(l);
  }

  private closeServer(): void {
    this.server?.close();
    this.server = null;
  }

  /** The agent is gone: every pending request fails with what it wrote to stderr. */
  private gone(why: string): void {
    if (this.exited) return;
    this.exited = true;
    this.closeServer();
    try { this.stderr += readFileSync(this.errFile, 'utf8'); } catch { /* never started, or killed */ }
    rmSync(this.errFile, { force: true });
    const err = new Error(`agent ${this.label} exited (${why}): ${this.stderr.trim()}`);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  request(op: string, args: Json, timeoutMs = 15000): Promise<Json> {
    if (this.exited) return Promise.reject(new Error(`agent ${this.label} is gone: ${this.stderr.trim()}`));
    const id = this.nextId++;
    return new Promise((resolveP, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`agent ${this.label}: no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          if (typeof v['error'] === 'string' && v['result'] === undefined && v['accepted'] === undefined) {
            reject(new Error(`agent ${this.label}: ${op}: ${v['error']}`));
          } else resolveP(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const line = JSON.stringify({ id, op, ...args }) + '\n';
      if (this.sock) this.sock.write(line); else this.unsent.push(line);
    });
  }

  kill(): void {
    this.killed = true;
    if (this.pid > 0) {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    this.sock?.destroy();
    this.closeServer();
    rmSync(this.errFile, { force: true });
  }
}
