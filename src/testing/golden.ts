// Golden captures: a produced capture must equal the stored one byte for byte. On a difference
// the first differing packet is named and decoded: "packet 7 (TCP 10.0.0.100:40512 → 10.0.0.2:8080
// SYN-ACK): tcp.window_size_value golden 29200, got 64240". Packets are numbered from 1, as in Wireshark.

import { existsSync, readFileSync } from 'node:fs';
import { fileError, Publication } from '../io/publish.js';
import { CaptureFormatError } from '../pcap/capture-reader.js';
import { readCaptureRecords, type CaptureRecord } from './capture-records.js';
import { decodePacket } from './packet-fields.js';

export interface GoldenDifference {
  /** 1-based packet number of the first difference; absent when only the file headers differ. */
  readonly packet?: number;
  /** One line, as printed. */
  readonly message: string;
}

export type GoldenOutcome =
  | { readonly status: 'same' }
  | { readonly status: 'missing'; readonly message: string }
  /** The golden file is not a capture (truncated, empty, garbage): the reader's error, with the byte offset. */
  | { readonly status: 'unreadable'; readonly message: string }
  | { readonly status: 'different'; readonly difference: GoldenDifference };

/** Compares a produced capture with its golden copy. */
export function compareGolden(producedPath: string, goldenPath: string): GoldenOutcome {
  if (!existsSync(goldenPath)) return { status: 'missing', message: `no golden capture ${goldenPath} (run with --update to store one)` };
  let golden: Buffer;
  try {
    golden = readFileSync(goldenPath);
  } catch (e) {
    return { status: 'unreadable', message: fileError(e, 'read golden capture', goldenPath).message };
  }
  if (readFileSync(producedPath).equals(golden)) return { status: 'same' };
  try {
    return { status: 'different', difference: firstDifference(readCaptureRecords(goldenPath), readCaptureRecords(producedPath)) };
  } catch (e) {
    // Only the golden file can be damaged (the produced one was just written by us).
    if (e instanceof CaptureFormatError) return { status: 'unreadable', message: `golden capture ${e.message} (run with --update to store a new one)` };
    throw e;
  }
}

/** Stores a produced capture as the golden one (written beside it, fsynced, renamed over it). */
export function updateGolden(producedPath: string, goldenPath: string): void {
  updateGoldens([[producedPath, goldenPath]]);
}

/** Stores several produced captures as golden ones, all renamed into place together or none. */
export function updateGoldens(pairs: readonly (readonly [string, string])[]): void {
  const p = new Publication();
  try {
    for (const [produced, golden] of pairs) {
      let bytes: Buffer;
      try { bytes = readFileSync(produced); } catch (e) { throw fileError(e, 'read', produced); }
      p.writeFile(golden, bytes, { durable: true });
    }
    p.commit();
  } finally {
    p.abort();
  }
}

/** The first record where two captures part, decoded; both sequences are read one record at a time. */
export function firstDifference(golden: Iterable<CaptureRecord>, produced: Iterable<CaptureRecord>): GoldenDifference {
  const g = golden[Symbol.iterator]();
  const p = produced[Symbol.iterator]();
  for (let n = 1; ; n++) {
    const a = g.next();
    const b = p.next();
    if (a.done && b.done) {
      return { message: 'every packet is the same; the file headers differ (section header, interface or name resolution blocks)' };
    }
    if (a.done) return { packet: n, message: `packet ${n} (${decodePacket(b.value!.bytes).summary}): not in the golden capture, which ends after ${n - 1} packets` };
    if (b.done) return { packet: n, message: `packet ${n} (${decodePacket(a.value.bytes).summary}): missing; the produced capture ends after ${n - 1} packets` };
    const why = recordDifference(a.value, b.value);
    if (why) return { packet: n, message: `packet ${n} (${why.summary}): ${why.field}` };
  }
}

function recordDifference(a: CaptureRecord, b: CaptureRecord): { summary: string; field: string } | null {
  const sameBytes = a.bytes.length === b.bytes.length && a.bytes.every((x, i) => x === b.bytes[i]);
  const da = decodePacket(a.bytes);
  if (!sameBytes) {
    const db = decodePacket(b.bytes);
    const summary = da.summary === db.summary ? da.summary : `${da.summary}, now ${db.summary}`;
    const got = new Map(db.fields);
    for (const [name, value] of da.fields) {
      const now = got.get(name);
      if (now !== value) return { summary, field: `${name} golden ${value}, got ${now ?? '(absent)'}` };
    }
    const wanted = new Set(da.fields.map(([n]) => n));
    const extra = db.fields.find(([n]) => !wanted.has(n));
    if (extra) return { summary, field: `${extra[0]} golden (absent), got ${extra[1]}` };
    return { summary, field: 'the bytes differ in a field the decoder does not show (padding or reserved bits)' };
  }
  if (a.interfaceId !== b.interfaceId) return { summary: da.summary, field: `interface golden ${a.interfaceId}, got ${b.interfaceId}` };
  if (a.timestamp !== b.timestamp) return { summary: da.summary, field: `timestamp golden ${a.timestamp}, got ${b.timestamp} (ns since 1970)` };
  if (a.comment !== b.comment) return { summary: da.summary, field: `comment golden ${JSON.stringify(a.comment ?? null)}, got ${JSON.stringify(b.comment ?? null)}` };
  return null;
}
