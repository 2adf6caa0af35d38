// pcapng writer (draft-ietf-opsawg-pcapng): one section, little-endian, streamed through one
// preallocated buffer into a temporary file that finish() renames into place.
// Blocks: SHB, then an IDB per interface, an NRB before the next packet whenever names were
// added, and an EPB per packet. The packet path allocates nothing.

import { copyBytes } from '../emu/wire/copy.js';
import { BufferedOutput, type OutputTarget } from './output-file.js';
import type { CaptureInterface, InPlaceSink } from './sink.js';
import { Utf8Memo } from './utf8-memo.js';
import { bytes, inMemory, kernels, release } from '../wasm/packets.js';

export interface PcapngWriterOptions {
  /** Wall-clock time (Unix seconds) of timeNs 0. */
  readonly startEpochSeconds: number;
  /** Timestamp resolution of every interface (if_tsresol 6 or 9). Default 'ns'. */
  readonly tsresol?: 'us' | 'ns';
  /** shb_userappl. Default "bindlab". */
  readonly application?: string;
  /** Output buffer size, flushed with one write when full. Default 1 MiB. */
  readonly chunkBytes?: number;
}

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_NRB = 0x00000004;
const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const NRB_RECORD_END = 0;
const NRB_RECORD_IPV4 = 1;
const NRB_RECORD_IPV6 = 2;
const TWO_32 = 4294967296;
/** 2^-32: a product by it is exactly the quotient by 2^32 (a power of two), and a multiplication is cheaper than a division. */
const TWO_M32 = 1 / 4294967296;
const MAX_OPTION_BYTES = 0xffff;

const utf8 = new TextEncoder();
/** Distinct packet comments whose bytes a writer keeps (a scenario's decisions are far fewer). */
const COMMENTS_KEPT = 4096;

const pad4 = (n: number): number => (n + 3) & ~3;
/** Comments staged in the WebAssembly memory for its packetBlock: slots, and the most bytes a slot holds (a longer comment is written in JavaScript). */
const STAGE_SLOTS = 8, STAGE_SLOT_BYTES = 8192;

interface PendingName {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly name: string;
}

export class PcapngWriter extends BufferedOutput implements InPlaceSink {
  private readonly snaplens: number[] = [];
  private pendingNames: PendingName[] = [];
  /** Timestamp units per nanosecond divisor: 1 for ns, 1000 for us. */
  private readonly nsPerUnit: number;
  /** startEpochSeconds in timestamp units, as two 32-bit halves. */
  private readonly baseHi: number;
  private readonly baseLo: number;
  /** Packet comments' UTF-8 bytes, by comment (at most COMMENTS_KEPT; then forgotten all at once). */
  private readonly comments = new Utf8Memo(COMMENTS_KEPT);

  constructor(target: OutputTarget, opts: PcapngWriterOptions) {
    // Checked before the temporary file exists, so a bad option leaves nothing behind.
    const whole = Math.floor(opts.startEpochSeconds);
    if (!Number.isFinite(whole) || whole < 0) throw new RangeError(`startEpochSeconds ${opts.startEpochSeconds}`);
    super(target, opts.chunkBytes, 'pcapng writer');
    const ns = (opts.tsresol ?? 'ns') === 'ns';
    this.nsPerUnit = ns ? 1 : 1000;
    // BigInt once here so the epoch in ns (about 2^61) never passes through a float64.
    const unitsPerSec = ns ? 1_000_000_000n : 1_000_000n;
    const base = BigInt(whole) * unitsPerSec +
      BigInt(Math.round((opts.startEpochSeconds - whole) * Number(unitsPerSec)));
    this.baseHi = Number(base >> 32n);
    this.baseLo = Number(base & 0xffffffffn);
    this.writeShb(opts.application ?? 'bindlab');
  }

  addInterface(iface: CaptureInterface): number {
    this.assertOpen();
    const name = utf8.encode(iface.name);
    const desc = iface.description !== undefined ? utf8.encode(iface.description) : null;
    const len = 16 + 4 + pad4(name.length) + (desc ? 4 + pad4(desc.length) : 0) + 8 + 4 + 4;
    this.reserve(len);
    const v = this.view;
    let p = this.pos;
    v.setUint32(p, BT_IDB, true);
    v.setUint32(p + 4, len, true);
    v.setUint16(p + 8, iface.linkType, true);
    v.setUint16(p + 10, 0, true);
    v.setUint32(p + 12, iface.snaplen, true);
    p = this.putOption(p + 16, IF_NAME, name);
    if (desc) p = this.putOption(p, IF_DESCRIPTION, desc);
    p = this.putOption(p, IF_TSRESOL, Uint8Array.of(this.nsPerUnit === 1 ? 9 : 6));
    v.setUint32(p, OPT_ENDOFOPT, true);
    v.setUint32(p + 4, len, true);
    this.pos = p + 8;
    this.snaplens.push(iface.snaplen > 0 ? iface.snaplen : 0x7fffffff);
    return this.snaplens.length - 1;
  }

  addName(addr: { readonly family: 4 | 6; readonly bytes: Uint8Array }, name: string): void {
    this.assertOpen();
    this.pendingNames.push({ family: addr.family, bytes: Uint8Array.from(addr.bytes), name });
  }

  packet(ifaceId: number, timeNs: number, frame: Uint8Array, len: number, comment?: string, record?: string): void {
    const at = this.reserveFrame(len, comment, record);
    // subarray + set measured 3x faster than a byte loop at 130 bytes, view allocation included.
    this.buf.set(len === frame.length ? frame : frame.subarray(0, len), at);
    this.commitFrame(ifaceId, timeNs, len, comment, record);
  }

  /** The buffer reserveFrame's offsets point into. */
  get frameBuffer(): Uint8Array {
    return this.buf;
  }

  /**
   * Room for a frame of up to maxLen bytes, written in place at the returned offset of
   * frameBuffer, then stored by commitFrame with its real length (no copy of the frame).
   */
  reserveFrame(maxLen: number, comment?: string, record?: string): number {
    if (this.closed) this.assertOpen();
    if (this.pendingNames.length !== 0) this.writeNrb();
    // Worst case: header 28 + data + comment options (4 + 3 bytes per UTF-16 unit + pad each) + end 4 + trailer 4.
    const worst = 28 + ((maxLen + 3) & ~3) + (comment !== undefined ? 8 + comment.length * 3 + 4 : 0)
      + (record !== undefined ? 8 + record.length * 3 : 0) + 4;
    if (this.pos + worst > this.buf.length) this.makeRoom(worst);
    return this.pos + 28;
  }

  /** Stores the frame written at the offset reserveFrame gave, as an EPB (comment, then record: two opt_comment options). */
  commitFrame(ifaceId: number, timeNs: number, len: number, comment?: string, record?: string): void {
    this.frameTimeNs = timeNs;
    // The memo's arrays are never written into: stable.
    this.commitFrameAt(ifaceId, len, comment !== undefined ? this.comments.bytes(comment) : null, record !== undefined ? this.comments.bytes(record) : null);
  }

  /** Whether frameBuffer is in the WebAssembly memory (wasm/packets.ts), and its address there. */
  get frameInMemory(): boolean {
    return this.bufInMemory;
  }

  get frameBase(): number {
    return this.bufBase;
  }

  /** A DataView of frameBuffer (read it after reserveFrame, as frameBuffer). */
  get frameView(): DataView {
    return this.view;
  }

  /**
   * reserveFrame for a frame whose comments are given as their UTF-8 bytes (null: none), as a
   * caller that writes the same comments again and again keeps them: see commitFrameBytes.
   */
  reserveFrameBytes(maxLen: number, comment: Uint8Array | null, record: Uint8Array | null): number {
    if (this.closed) this.assertOpen();
    if (this.pendingNames.length !== 0) this.writeNrb();
    // Header 28 + data + each comment option (4 + bytes + pad) + end of options 4 + trailer 4.
    const worst = 28 + ((maxLen + 3) & ~3) + (comment !== null ? comment.length + 7 : 0) + (record !== null ? record.length + 7 : 0) + 8;
    if (this.pos + worst > this.buf.length) this.makeRoom(worst);
    return this.pos + 28;
  }

  /**
   * commitFrame with its comments as UTF-8 bytes (null: none), read during the call only: the
   * caller may write other bytes into the same arrays for the next frame.
   */
  commitFrameBytes(ifaceId: number, timeNs: number, len: number, comment: Uint8Array | null, record: Uint8Array | null): void {
    this.frameTimeNs = timeNs;
    this.commitFrameAt(ifaceId, len, comment, record, false);
  }

  /**
   * The time (ns) of the frame commitFrameAt stores next. A field, not an argument: a double
   * passed to a call that is not inlined is boxed in a new heap number, one per packet (a
   * replay's scavenges); a store into a double field is not. -0: a double from the start.
   */
  frameTimeNs = -0;

  /**
   * commitFrameBytes at frameTimeNs. stable (the default): the comment arrays are never written
   * into (a decision's bytes, a Utf8Memo's), so the writer may keep a copy of each by identity
   * where the WebAssembly module builds blocks (see staged); false: read them during the call only.
   */
  commitFrameAt(ifaceId: number, len: number, comment: Uint8Array | null, record: Uint8Array | null, stable = true): void {
    const timeNs = this.frameTimeNs;
    const snaplen = this.snaplens[ifaceId];
    if (snaplen === undefined) throw new RangeError(`packet on undeclared interface ${ifaceId}`);
    if (!(timeNs >= 0)) throw new RangeError(`timeNs ${timeNs}`);
    const cap = len < snaplen ? len : snaplen;
    const buf = this.buf;
    const p = this.pos;
    if (this.bufInMemory && (stable || (comment === null && record === null))) {
      // The block built in the WebAssembly memory (assembly/packets.ts packetBlock), as below,
      // its comments copied from where they are staged there.
      const cAt = comment !== null ? this.staged(comment, -1) : 0, rAt = record !== null ? this.staged(record, cAt) : 0;
      if (cAt >= 0 && rAt >= 0) {
        const base = this.bufBase;
        this.pos = kernels!.packetBlock(base + p, ifaceId, timeNs, this.nsPerUnit, this.baseHi, this.baseLo, cap, len,
          cAt, comment !== null ? comment.length : -1, rAt, record !== null ? record.length : -1) - base;
        this.lastBlockAt = p;
        return;
      }
    }
    const capPad = (cap + 3) & ~3;
    const v = this.view;

    const units = this.nsPerUnit === 1 ? Math.floor(timeNs) : Math.floor(timeNs / 1000);
    // The carry from the low word without a branch (a branch first taken late deoptimizes), and
    // no % (a float64 remainder is a call to fmod: 8% of the replay's writing).
    const unitsHi = Math.floor(units * TWO_M32);
    const sum = this.baseLo + (units - unitsHi * TWO_32);
    const carry = Math.floor(sum * TWO_M32);
    const lo = sum - carry * TWO_32;
    const hi = this.baseHi + unitsHi + carry;

    v.setUint32(p, BT_EPB, true);
    v.setUint32(p + 8, ifaceId, true);
    v.setUint32(p + 12, hi, true);
    v.setUint32(p + 16, lo, true);
    v.setUint32(p + 20, cap, true);
    v.setUint32(p + 24, len, true);
    const d = p + 28;
    let q = d + cap;
    while (q < d + capPad) buf[q++] = 0;
    if (comment !== null || record !== null) {
      if (comment !== null) q = this.putComment(p, q, comment);
      if (record !== null) q = this.putComment(p, q, record);
      v.setUint32(q, OPT_ENDOFOPT, true);
      q += 4;
    }
    const total = q + 4 - p;
    v.setUint32(p + 4, total, true);
    v.setUint32(q, total, true);
    this.pos = q + 4;
    this.lastBlockAt = p;
  }

  /**
   * The region of the WebAssembly memory where comments are staged for packetBlock (allocated
   * with the first), the comment arrays whose copies are in its slots (arrays from Utf8Memo or a
   * decision: never written into, so the same array is the same bytes), and the next slot to reuse.
   */
  private stage: Buffer | null = null;
  private stageBase = 0;
  private readonly stagedOf: (Uint8Array | null)[] = new Array<Uint8Array | null>(STAGE_SLOTS).fill(null);
  private readonly stagedAt = new Int32Array(STAGE_SLOTS);
  private stageNext = 0;

  /**
   * The address of a copy of b in the WebAssembly memory (copied there if it is not yet, into a
   * slot other than the one at address keep), or -1 when it cannot be.
   */
  private staged(b: Uint8Array, keep: number): number {
    const of = this.stagedOf;
    for (let i = 0; i < STAGE_SLOTS; i++) if (of[i] === b) return this.stagedAt[i]!;
    if (b.length > STAGE_SLOT_BYTES) return -1;
    if (this.stage === null) {
      const stage = bytes(STAGE_SLOTS * STAGE_SLOT_BYTES);
      if (!inMemory(stage)) return -1;
      this.stage = stage;
      this.stageBase = stage.byteOffset;
    }
    let i = this.stageNext;
    if (this.stagedAt[i] === keep && of[i] !== null) i = i + 1 === STAGE_SLOTS ? 0 : i + 1;
    this.stageNext = i + 1 === STAGE_SLOTS ? 0 : i + 1;
    this.stage.set(b, i * STAGE_SLOT_BYTES);
    of[i] = b;
    this.stagedAt[i] = this.stageBase + i * STAGE_SLOT_BYTES;
    return this.stagedAt[i]!;
  }

  protected override dropBuffer(): void {
    super.dropBuffer();
    if (this.stage !== null) release(this.stage);
    this.stage = null;
    this.stagedOf.fill(null);
  }

  /** Where the last packet's block starts in frameBuffer (see lastPacket). */
  private lastBlockAt = -1;
  /** Buffers flushed so far: a block's place in frameBuffer holds only while this stays. */
  private flushes = 0;

  protected override flush(): void {
    super.flush();
    this.flushes++;
  }

  /** Where the packet block just committed starts in frameBuffer, for copyPacket (with flushCount). */
  get lastPacketAt(): number {
    return this.lastBlockAt;
  }

  /** Buffers flushed so far (see copyPacket). */
  get flushCount(): number {
    return this.flushes;
  }

  /**
   * Appends a copy of the packet block that `other` committed at `at` (its lastPacketAt), when its
   * buffer still holds it (no flush since): the same packet in a writer whose interfaces were
   * declared alike; `flushes` is other's flushCount then. Returns false, writing nothing, when
   * the block is no longer there.
   */
  copyPacket(other: PcapngWriter, at: number, flushes: number): boolean {
    if (at < 0 || other.flushes !== flushes) return false;
    const n = other.view.getUint32(at + 4, true);
    const start = this.reserveFrame(n - 32) - 28;
    copyBytes(this.buf, start, other.buf, at, at + n);
    this.pos = start + n;
    this.lastBlockAt = start;
    return true;
  }

  /**
   * Adds a comment option after the others of the packet block just committed (replay keeps an
   * input packet's comments and appends its decision). The room must have been reserved with the
   * frame: reserveFrame(len + 8 per extra comment, all the comments' text).
   */
  appendComment(comment: string): void {
    const p = this.lastBlockAt;
    const v = this.view;
    const buf = this.buf;
    const total = p < 0 ? 0 : v.getUint32(p + 4, true);
    if (p < 0 || p + total !== this.pos) throw new RangeError('appendComment: no packet block was just committed');
    const optsAt = p + 28 + ((v.getUint32(p + 20, true) + 3) & ~3);
    // With options, the end-of-options marker goes: the comment takes its place.
    let q = optsAt < p + total - 4 ? p + total - 8 : p + total - 4;
    const bytes = this.comments.bytes(comment);
    const n = bytes.length;
    if (n > MAX_OPTION_BYTES) throw new RangeError(`comment of ${n} bytes exceeds 65535`);
    if (q + 4 + n + 3 + 8 > buf.length) throw new RangeError('appendComment: no room reserved for the comment');
    v.setUint16(q, OPT_COMMENT, true);
    v.setUint16(q + 2, n, true);
    buf.set(bytes, q + 4);
    q += 4 + n;
    while (((q - p) & 3) !== 0) buf[q++] = 0;
    v.setUint32(q, OPT_ENDOFOPT, true);
    q += 4;
    const len = q + 4 - p;
    v.setUint32(p + 4, len, true);
    v.setUint32(q, len, true);
    this.pos = q + 4;
  }

  /** An opt_comment of these UTF-8 bytes at q of the block starting at p; returns the offset after it (padded). */
  private putComment(p: number, q: number, bytes: Uint8Array): number {
    const buf = this.buf;
    const start = q + 4;
    const n = bytes.length;
    if (n > MAX_OPTION_BYTES) throw new RangeError(`comment of ${n} bytes exceeds 65535`);
    // A native copy costs more than a loop for a short comment (a record's reference: 23 bytes).
    if (n <= 32) for (let i = 0; i < n; i++) buf[start + i] = bytes[i]!;
    else buf.set(bytes, start);
    this.view.setUint16(q, OPT_COMMENT, true);
    this.view.setUint16(q + 2, n, true);
    q = start + n;
    while (((q - p) & 3) !== 0) buf[q++] = 0;
    return q;
  }


  private writeShb(application: string): void {
    const app = utf8.encode(application);
    const len = 24 + 4 + pad4(app.length) + 4 + 4;
    this.reserve(len);
    const v = this.view;
    const p = this.pos;
    v.setUint32(p, BT_SHB, true);
    v.setUint32(p + 4, len, true);
    v.setUint32(p + 8, BYTE_ORDER_MAGIC, true);
    v.setUint16(p + 12, 1, true); // major
    v.setUint16(p + 14, 0, true); // minor
    v.setInt32(p + 16, -1, true); // section length unknown (-1 as 64 bits)
    v.setInt32(p + 20, -1, true);
    const q = this.putOption(p + 24, SHB_USERAPPL, app);
    v.setUint32(q, OPT_ENDOFOPT, true);
    v.setUint32(q + 4, len, true);
    this.pos = q + 8;
  }

  private writeNrb(): void {
    const names = this.pendingNames;
    this.pendingNames = [];
    const encoded = names.map((n) => utf8.encode(n.name));
    let len = 8 + 4 + 4; // header, end record, trailer
    for (let i = 0; i < names.length; i++) len += 4 + pad4(names[i]!.bytes.length + encoded[i]!.length + 1);
    this.reserve(len);
    const v = this.view;
    const buf = this.buf;
    let p = this.pos;
    v.setUint32(p, BT_NRB, true);
    v.setUint32(p + 4, len, true);
    p += 8;
    for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      const bodyLen = n.bytes.length + encoded[i]!.length + 1;
      v.setUint16(p, n.family === 4 ? NRB_RECORD_IPV4 : NRB_RECORD_IPV6, true);
      v.setUint16(p + 2, bodyLen, true);
      buf.set(n.bytes, p + 4);
      buf.set(encoded[i]!, p + 4 + n.bytes.length);
      buf.fill(0, p + 4 + n.bytes.length + encoded[i]!.length, p + 4 + pad4(bodyLen)); // NUL and padding
      p += 4 + pad4(bodyLen);
    }
    v.setUint32(p, (NRB_RECORD_END << 16) | 0, true);
    v.setUint32(p + 4, len, true);
    this.pos = p + 8;
  }

  /** Writes option code/length/value with zero padding at p; returns the next offset. */
  private putOption(p: number, code: number, value: Uint8Array): number {
    if (value.length > MAX_OPTION_BYTES) throw new RangeError(`option ${code} of ${value.length} bytes exceeds 65535`);
    this.view.setUint16(p, code, true);
    this.view.setUint16(p + 2, value.length, true);
    this.buf.set(value, p + 4);
    const end = p + 4 + pad4(value.length);
    this.buf.fill(0, p + 4 + value.length, end);
    return end;
  }

}
