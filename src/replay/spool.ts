// The replay report's connection lists on disk rather than in memory: one file of JSON lines per
// policy in a temporary directory, appended as connections become final and read back one at a
// time to stream `--json` and `--html` (a 10M-packet capture's lists are gigabytes of strings).

import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { join } from 'node:path';
import { fileError, forgetTemporaryDirectory, keepTemporaryDirectory } from '../io/publish.js';
import type { ReplayConnection, ReplayDatagram, ReplayReport } from './replay.js';

/** A new spool directory (removed by removeSpool, or by the CLI's signal handler). */
export function createSpool(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bindlab-connections-'));
  keepTemporaryDirectory(dir);
  return dir;
}

export function removeSpool(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  forgetTemporaryDirectory(dir);
}

const fileOf = (dir: string, policy: string): string => join(dir, `${encodeURIComponent(policy)}.jsonl`);

/** The spool key of a policy's UDP datagrams (its connections' key is the policy's name). */
export const datagramSpoolKey = (policy: string): string => `datagrams:${policy}`;

/**
 * Each entry is stored as the JSON report prints it: pretty-printed at the depth of a policy's
 * `connections` list (8 spaces), entries joined by ",\n". So `--json` copies the file as it is,
 * and a reader finds an entry's end at a line that is the indentation and "}".
 */
const INDENT = ' '.repeat(8);

/** Appends one policy's connections through a buffer. */
export class SpoolWriter {
  private readonly fd: number;
  private readonly path: string;
  private buf = '';
  private count = 0;

  constructor(dir: string, policy: string) {
    this.path = fileOf(dir, policy);
    try { this.fd = openSync(this.path, 'wx'); } catch (e) { throw fileError(e, 'create', this.path); }
  }

  add(c: ReplayConnection | ReplayDatagram): void {
    this.buf += `${this.count++ === 0 ? '' : ',\n'}${INDENT}${JSON.stringify(c, null, 2).replace(/\n/g, `\n${INDENT}`)}`;
    if (this.buf.length >= 1 << 20) this.flush();
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    try { writeSync(this.fd, this.buf); } catch (e) { throw fileError(e, 'write', this.path); }
    this.buf = '';
  }
}

/** A policy's spool file in chunks of about 1 MiB (whole UTF-8 characters). */
function* chunks(dir: string, policy: string): Generator<string> {
  const fd = openSync(fileOf(dir, policy), 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    const decoder = new StringDecoder('utf8');
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      yield decoder.write(buf.subarray(0, n));
    }
    const rest = decoder.end();
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
}

/** One policy's connections (or, by datagramSpoolKey, its datagrams), read back in order, one at a time. */
export function* readSpool<T = ReplayConnection>(dir: string, policy: string): Generator<T> {
  const end = `${INDENT}}`;
  let rest = '';
  let record: string[] = [];
  for (const text of chunks(dir, policy)) {
    const lines = (rest + text).split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      if (l === end || l === `${end},`) {
        record.push(end);
        yield JSON.parse(record.join('\n')) as T;
        record = [];
      } else record.push(l);
    }
  }
  if (rest === end) yield JSON.parse([...record, end].join('\n')) as T;
}

/**
 * The replay report as JSON.stringify(report, null, 2) would write it, in pieces (about 1 MiB
 * each), each policy's connections and datagrams copied from the spool.
 */
export function* reportJson(report: ReplayReport, dir: string): Generator<string> {
  const marker = (p: number, list: string): string => `\u0000bindlab-${list}-${p}\u0000`;
  const names = Object.keys(report.policies);
  const policies = Object.fromEntries(names.map((n, p) => [n, { ...report.policies[n]!, connections: [marker(p, 'connections')], datagrams: [marker(p, 'datagrams')] }]));
  const text = JSON.stringify({ ...report, policies }, null, 2);
  let pos = 0;
  for (const [p, name] of names.entries()) {
    for (const [list, key] of [['connections', name], ['datagrams', datagramSpoolKey(name)]] as const) {
      // The placeholder list: "[\n<8 spaces>"marker"\n<6 spaces>]".
      const placeholder = `[\n${INDENT}${JSON.stringify(marker(p, list))}\n${INDENT.slice(2)}]`;
      const at = text.indexOf(placeholder, pos);
      if (at < 0) throw new Error(`replay report: no place for ${name}'s ${list}`);
      yield text.slice(pos, at);
      let any = false;
      for (const chunk of chunks(dir, key)) {
        if (!any) yield '[\n';
        any = true;
        yield chunk;
      }
      yield any ? `\n${INDENT.slice(2)}]` : '[]';
      pos = at + placeholder.length;
    }
  }
  yield text.slice(pos);
}
