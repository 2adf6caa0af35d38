// Publishing outputs: every file bindlab writes (captures, HTML and JUnit reports, golden captures,
// a scenario rewritten by `test --update`) is first written under a temporary name in its final
// directory, created exclusively (O_EXCL: never an existing file, never through a symbolic link)
// with an unpredictable name, and renamed into place only once all the outputs of one run are
// whole. On an error, or on SIGINT/SIGTERM (the CLI calls abortAllPublications), the temporaries
// are removed and the final names keep whatever they held before. A failure names the file.

import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';

/** A file-system failure on a named file: "cannot write out/x.linux.pcapng: no space left on device (ENOSPC)". */
export class OutputError extends Error {
  override readonly name = 'OutputError';
  constructor(readonly path: string, readonly code: string, message: string) {
    super(message);
  }
}

/** The system's words for an error code, from Node's message ("ENOSPC: no space left on device, write"). */
function reasonOf(e: NodeJS.ErrnoException): string {
  const m = /^[A-Z0-9_]+: (.*?), \w+(?: '.*')?$/s.exec(e.message);
  const text = m ? m[1]! : e.message;
  return e.code ? `${text} (${e.code})` : text;
}

/** An error of `action` ("write", "create", "rename ... to") on `path`, as an OutputError naming the file. */
export function fileError(e: unknown, action: string, path: string): Error {
  if (e instanceof OutputError) return e;
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code !== 'string') return e as Error;
  return new OutputError(path, err.code, `cannot ${action} ${path}: ${reasonOf(err)}`);
}

/**
 * mkdir -p with a precise failure: the directory that could not be made and why (Node's recursive
 * mkdir reports a read-only or unwritable parent as ENOENT on the path asked for).
 */
export function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    return;
  } catch (e) {
    // Walk up to the deepest ancestor that exists, and make each missing level in turn for its own error.
    const missing: string[] = [];
    let at = resolve(dir);
    for (;;) {
      try {
        if (!statSync(at).isDirectory()) throw new OutputError(at, 'ENOTDIR', `cannot create directory ${dir}: ${at} is not a directory (ENOTDIR)`);
        break;
      } catch (s) {
        if (s instanceof OutputError) throw s;
        const parent = dirname(at);
        if (parent === at) throw fileError(e, 'create directory', dir);
        missing.unshift(at);
        at = parent;
      }
    }
    for (const d of missing) {
      try { mkdirSync(d); } catch (m) {
        if ((m as NodeJS.ErrnoException).code === 'EEXIST' && statSync(d).isDirectory()) continue;
        throw fileError(m, 'create directory', d);
      }
    }
  }
}

/** One output being written: its final name, its temporary file and the open descriptor. */
export interface PendingFile {
  readonly finalPath: string;
  readonly tmpPath: string;
  readonly fd: number;
}

export interface PendingOptions {
  /** fsync the file and its directory on commit (a user's scenario, golden captures); captures skip it. */
  readonly durable?: boolean;
  /** The file's permission bits (default: 0o666 less the umask); `test --update` keeps the original's. */
  readonly mode?: number;
}

interface Entry {
  readonly file: PendingFile;
  readonly durable: boolean;
  open: boolean;
}

/** Every publication not yet committed or aborted, for abortAllPublications. */
const live = new Set<Publication>();

/** Scratch directories (a replay's spooled connection lists) to remove with the temporaries. */
const scratch = new Set<string>();
export function keepTemporaryDirectory(dir: string): void { scratch.add(dir); }
export function forgetTemporaryDirectory(dir: string): void { scratch.delete(dir); }

/** Removes every temporary file of this thread's unfinished publications, and its scratch directories (the CLI's SIGINT/SIGTERM handler). */
export function abortAllPublications(): void {
  for (const p of [...live]) p.abort();
  for (const d of [...scratch]) {
    try { rmSync(d, { recursive: true, force: true }); } catch { /* gone */ }
    scratch.delete(d);
  }
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/**
 * The outputs of one run: created by create()/writeFile(), renamed into place together by commit(),
 * or all removed by abort(). Two outputs of one publication may not share a final name.
 */
export class Publication {
  private readonly entries: Entry[] = [];
  private readonly names = new Set<string>();
  private state: 'open' | 'committed' | 'aborted' = 'open';

  constructor() {
    live.add(this);
  }

  /** The final paths of the outputs so far. */
  get finalPaths(): readonly string[] {
    return this.entries.map((e) => e.file.finalPath);
  }

  /**
   * Creates the temporary file of `finalPath` in its directory (made if missing): exclusively, under
   * an unpredictable name (`<name>.<16 hex>.tmp`), never through a symbolic link.
   */
  create(finalPath: string, options: PendingOptions = {}): PendingFile {
    this.assertOpen();
    const key = resolve(finalPath);
    if (this.names.has(key)) throw new OutputError(finalPath, 'EEXIST', `two outputs of this run would both be written to ${finalPath}`);
    makeDirectory(dirname(finalPath));
    let tmpPath = '';
    let fd = -1;
    for (let attempt = 0; fd < 0; attempt++) {
      tmpPath = join(dirname(finalPath), `${basename(finalPath)}.${randomBytes(8).toString('hex')}.tmp`);
      try {
        fd = openSync(tmpPath, CREATE_FLAGS, options.mode ?? 0o666);
      } catch (e) {
        // A name taken (by chance or by someone planting files): another random name, a few times.
        if ((e as NodeJS.ErrnoException).code === 'EEXIST' && attempt < 8) continue;
        throw fileError(e, 'create a temporary file for', finalPath);
      }
    }
    const file = { finalPath, tmpPath, fd };
    this.entries.push({ file, durable: options.durable ?? false, open: true });
    this.names.add(key);
    return file;
  }

  /** Appends buf[off, off + len) to a pending file; a failure names the output. */
  write(file: PendingFile, buf: Uint8Array, off: number, len: number): void {
    writeAll(file, buf, off, len);
  }

  /** A whole output at once: created, written and closed (published by commit()). */
  writeFile(finalPath: string, data: string | Uint8Array, options: PendingOptions = {}): PendingFile {
    const file = this.create(finalPath, options);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    writeAll(file, bytes, 0, bytes.length);
    this.close(file);
    return file;
  }

  /** Closes a pending file's descriptor early (durable files are fsynced first); commit() renames it. */
  close(file: PendingFile): void {
    const e = this.entryOf(file);
    if (!e.open) return;
    e.open = false;
    try {
      if (e.durable) fsyncSync(file.fd);
    } catch (err) {
      try { closeSync(file.fd); } catch { /* already closed */ }
      throw fileError(err, 'write', file.finalPath);
    }
    try { closeSync(file.fd); } catch (err) { throw fileError(err, 'write', file.finalPath); }
  }

  /** Removes one pending file (the others stay for commit or abort). */
  discard(file: PendingFile): void {
    const i = this.entries.findIndex((e) => e.file === file);
    if (i < 0) return;
    const [e] = this.entries.splice(i, 1);
    this.names.delete(resolve(file.finalPath));
    removeTemporary(e!);
  }

  /**
   * Publishes every output: closes them (fsync for durable ones), then renames each into place and
   * fsyncs the directories of durable ones. Nothing is renamed until every file is closed whole; on
   * a failure before that, every temporary is removed. A rename failing part-way (a directory
   * operation, not a matter of space) leaves the earlier ones published: the error says which.
   */
  commit(): void {
    this.assertOpen();
    try {
      for (const e of this.entries) this.close(e.file);
      // A final name that is a directory would fail its rename after others had succeeded: refuse before any.
      for (const { file } of this.entries) {
        let dir = false;
        try { dir = lstatSync(file.finalPath).isDirectory(); } catch { /* absent: fine */ }
        if (dir) throw new OutputError(file.finalPath, 'EISDIR', `cannot write ${file.finalPath}: it is a directory (EISDIR)`);
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    this.state = 'committed';
    live.delete(this);
    const done: string[] = [];
    for (let i = 0; i < this.entries.length; i++) {
      const { file } = this.entries[i]!;
      try {
        renameSync(file.tmpPath, file.finalPath);
        done.push(file.finalPath);
      } catch (err) {
        for (const rest of this.entries.slice(i)) removeTemporary(rest);
        const e = fileError(err, 'rename a temporary file to', file.finalPath);
        if (done.length > 0) e.message += ` (already in place: ${done.join(', ')})`;
        throw e;
      }
    }
    const dirs = new Set(this.entries.filter((e) => e.durable).map((e) => dirname(resolve(e.file.finalPath))));
    for (const d of dirs) syncDirectory(d);
  }

  /** Closes and removes every temporary file; the final names keep what they held. Idempotent. */
  abort(): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    live.delete(this);
    for (const e of this.entries) removeTemporary(e);
  }

  private entryOf(file: PendingFile): Entry {
    const e = this.entries.find((x) => x.file === file);
    if (!e) throw new Error(`${file.finalPath} is not an output of this publication`);
    return e;
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error(`outputs already ${this.state}`);
  }
}

/** Appends buf[off, off + len) to a pending file's descriptor; a failure names the output. */
export function writeAll(file: PendingFile, buf: Uint8Array, off: number, len: number): void {
  const end = off + len;
  try {
    while (off < end) off += writeSync(file.fd, buf, off, end - off);
  } catch (e) {
    throw fileError(e, 'write', file.finalPath);
  }
}

function removeTemporary(e: Entry): void {
  if (e.open) {
    e.open = false;
    try { closeSync(e.file.fd); } catch { /* already closed */ }
  }
  try { unlinkSync(e.file.tmpPath); } catch { /* already gone */ }
}

/** fsync of a directory, so a rename in it survives a crash; file systems that refuse it are let be. */
function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
    fsyncSync(fd);
  } catch { /* EINVAL on some file systems: nothing more can be done */ } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/**
 * Replaces a file's content as one step: written beside it (same permission bits), fsynced, renamed
 * over it. A symbolic link is followed to the file it names, which is what gets replaced; on any
 * failure the original is untouched. (`test --update` rewriting a user's scenario.)
 */
export function replaceFile(path: string, data: string | Uint8Array): void {
  let target = path;
  let mode: number | undefined;
  try {
    target = realpathSync.native(path);
    mode = statSync(target).mode & 0o7777;
  } catch { /* a new file: plain defaults */ }
  const p = new Publication();
  try {
    const f = p.create(target, { durable: true, mode });
    // open()'s mode is narrowed by the umask: the original's bits exactly.
    if (mode !== undefined) fchmodSync(f.fd, mode);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    writeAll(f, bytes, 0, bytes.length);
    p.commit();
  } catch (e) {
    p.abort();
    throw fileError(e, 'write', path);
  }
}
