// Wireshark's dissection of many captures without starting tshark for each: sharkd (Wireshark's
// daemon, in the same package as tshark's libraries) loads one file after another in one
// process; each load starts a fresh dissection (conversations, sequence analysis), as tshark -r
// does. Starting tshark costs about 0.2 s of CPU; the captures test reads hundreds of files.
// Protocol: JSON-RPC 2.0, one request and one answer per line on stdin/stdout
// (https://wiki.wireshark.org/Development/sharkd).

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';

/** One frame's fields, as the captures test checks them. */
export interface SharkFrame {
  number: number;
  /** frame.comment, all occurrences joined by "," ('' when none). */
  comment: string;
  syn: boolean;
  rst: boolean;
  stream: number | null;
  malformed: boolean;
  ipChecksum: string[];
  tcpChecksum: string[];
  icmpv6Checksum: string[];
  /** Expert infos of the frame: severity (the _ws.expert.severity value) and message. */
  experts: { severity: number; message: string }[];
}

export interface SharkFile {
  frames: SharkFrame[];
  /** Follow TCP Stream of the streams asked for: stream index -> the payload text, both directions in order. */
  follow: Map<number, string>;
}

/** _ws.expert.severity by the names sharkd's expert tap uses [epan/proto.h PI_COMMENT .. PI_ERROR]. */
const SEVERITY: Record<string, number> = { Comment: 0x00100000, Chat: 0x00200000, Note: 0x00400000, Warning: 0x00600000, Error: 0x00800000 };

const COLUMNS = ['tcp.flags.syn', 'tcp.flags.reset', 'tcp.stream', '_ws.malformed', 'ip.checksum.status', 'tcp.checksum.status',
  'icmpv6.checksum.status', 'frame.comment'];

export function sharkdAvailable(): boolean {
  const r = spawnSync('sharkd', ['-v'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

class Session {
  private readonly child: ChildProcessWithoutNullStreams;
  private next = 1;
  private readonly waiting = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
  /** Files are read one after another in a session: load, then its questions. */
  private queue: Promise<unknown> = Promise.resolve();
  private stderr = '';

  constructor(prefs: Record<string, string>) {
    this.child = spawn('sharkd', ['-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let msg: { id?: number; result?: unknown; error?: { message?: string } };
      try { msg = JSON.parse(line) as typeof msg; } catch { return; }
      const w = msg.id !== undefined ? this.waiting.get(msg.id) : undefined;
      if (!w) return;
      this.waiting.delete(msg.id!);
      if (msg.error) w.fail(new Error(`sharkd: ${msg.error.message ?? JSON.stringify(msg.error)}`));
      else w.ok(msg.result);
    });
    this.child.on('exit', (code, signal) => {
      const e = new Error(`sharkd exited (${code ?? signal}): ${this.stderr.trim()}`);
      for (const w of this.waiting.values()) w.fail(e);
      this.waiting.clear();
    });
    for (const [name, value] of Object.entries(prefs)) void this.call('setconf', { name, value });
  }

  private call(method: string, params: Record<string, unknown>): Promise<unknown> {
    const id = this.next++;
    return new Promise((ok, fail) => {
      this.waiting.set(id, { ok, fail });
      this.child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  }

  read(file: string, followStreams: number): Promise<SharkFile> {
    const job = this.queue.then(() => this.readNow(file, followStreams));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private async readNow(file: string, followStreams: number): Promise<SharkFile> {
    await this.call('load', { file });
    const cols = Object.fromEntries(COLUMNS.map((c, i) => [`column${i}`, `${c}:0`]));
    const rows = (await this.call('frames', cols)) as { num: number; c: string[] }[];
    const tap = (await this.call('tap', { tap0: 'expert' })) as { taps: { details?: { f: number; s: string; m: string }[] }[] };
    const experts = new Map<number, { severity: number; message: string }[]>();
    // Grouped by frame (the tap lists the last frame first).
    for (const d of [...(tap.taps[0]?.details ?? [])].reverse()) {
      const sev = SEVERITY[d.s];
      if (sev === undefined) throw new Error(`sharkd: unknown expert severity ${d.s}`);
      let l = experts.get(d.f);
      if (!l) experts.set(d.f, (l = []));
      l.push({ severity: sev, message: d.m });
    }
    const list = (v: string | undefined): string[] => (v ? v.split(',') : []);
    const frames = rows.map((r): SharkFrame => {
      const [syn, rst, stream, malformed, ip, tcp, icmpv6, comment] = r.c;
      return {
        number: r.num, comment: comment ?? '', syn: list(syn).includes('Set'), rst: list(rst).includes('Set'),
        stream: stream ? Number(stream.split(',')[0]) : null, malformed: (malformed ?? '') !== '',
        ipChecksum: list(ip), tcpChecksum: list(tcp), icmpv6Checksum: list(icmpv6), experts: experts.get(r.num) ?? [],
      };
    });
    const follow = new Map<number, string>();
    for (let s = 0; s < followStreams; s++) {
      const f = (await this.call('follow', { follow: 'TCP', filter: `tcp.stream eq ${s}` })) as { payloads?: { d: string }[] };
      follow.set(s, (f.payloads ?? []).map((p) => Buffer.from(p.d, 'base64').toString('latin1')).join(''));
    }
    return { frames, follow };
  }

  /** Ends the session; resolves when sharkd has exited. */
  close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const gone = new Promise<void>((done) => this.child.once('exit', () => done()));
    this.child.stdin.end();
    return gone;
  }
}

/**
 * A few sharkd processes (one per core) that read the files given to them, each file once,
 * with the preferences given (e.g. tcp.check_checksum: TRUE).
 */
export class Sharkd {
  private readonly sessions: Session[];
  private turn = 0;
  private readonly files = new Map<string, Promise<SharkFile>>();

  constructor(prefs: Record<string, string>, sessions = Math.max(1, availableParallelism())) {
    this.sessions = Array.from({ length: sessions }, () => new Session(prefs));
  }

  /** The file's frames and Follow TCP Stream of streams 0 .. followStreams - 1 (the first caller's count). */
  read(file: string, followStreams = 0): Promise<SharkFile> {
    let p = this.files.get(file);
    if (!p) this.files.set(file, (p = this.sessions[this.turn++ % this.sessions.length]!.read(file, followStreams)));
    return p;
  }

  /** Ends every session; resolves when every sharkd has exited. */
  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.close()));
  }
}
