// pcapng reader (draft-ietf-opsawg-pcapng): any number of sections, each in its own byte order,
// any number of interfaces per section with their if_tsresol and if_tsoffset; packets from
// Enhanced (EPB), Simple (SPB) and obsolete Packet (PB) blocks. Other blocks (NRB, ISB, DSB,
// custom) are checked for length and skipped. Streams through one buffer (two with read-ahead).
//
//   const r = PcapngReader.open('x.pcapng');
//   try { while (r.next()) use(r.data, r.offset, r.caplen, r.linkType, r.interfaceId); } finally { r.close(); }

import {
  CaptureFormatError, MAX_BLOCK_BYTES, MAX_CAPLEN, StreamedReader, hex32, type CaptureReader, type CaptureReaderOptions, type ChunkedInput,
} from './capture-reader.js';

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_PB = 0x00000002;
export const BT_SPB = 0x00000003;
export const BT_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const TWO_16 = 65536;

const pad4 = (n: number): number => (n + 3) & ~3;

/** One interface of the current section. */
export interface PcapngInterface {
  readonly linkType: number;
  /** 0 in the file (no limit) is reported as MAX_CAPLEN. */
  readonly snaplen: number;
  /** if_tsresol as in the file (default 6: microseconds). */
  readonly tsresol: number;
  /** if_tsoffset in seconds (default 0). */
  readonly tsoffset: number;
  /** File offset of its IDB. */
  readonly blockOffset: number;
}

interface IfaceState extends PcapngInterface {
  /** 10^n divisor when tsresol is a power of ten up to 10^9, else 0. */
  readonly div10: number;
  /** Shift when tsresol is a power of two, else -1. */
  readonly shift2: number;
}

export class PcapngReader extends StreamedReader implements CaptureReader {
  readonly format = 'pcapng' as const;

  data: Uint8Array;
  offset = 0;
  caplen = 0;
  origLen = 0;
  tsSec = 0;
  tsNsec = 0;
  linkType = 0;
  snaplen = 0;
  interfaceId = 0;
  /** -1 until the first section header is read. */
  section = -1;
  recordOffset = 0;
  index = -1;
  /** Byte order of the current section. */
  littleEndian = true;
  /** The current packet's options in data[optionsAt, optionsEnd) (EPB and PB; empty for SPB): see packetComments. */
  optionsAt = 0;
  optionsEnd = 0;

  private ifaces: IfaceState[] = [];
  private readonly allowed: readonly number[] | undefined;

  static open(path: string, options: CaptureReaderOptions = {}): PcapngReader {
    return new PcapngReader(path, options);
  }

  /** Reads from a path (streamed), bytes in memory, or an input already open (a stream). The first block must be an SHB. */
  constructor(source: string | Uint8Array | ChunkedInput, options: CaptureReaderOptions = {}) {
    super(source, options);
    this.allowed = options.linkTypes;
    this.data = this.in.buf;
    try {
      if (!this.in.ensure(4)) throw this.error(0, `file too short for a pcapng section header (${this.in.available} of 28 bytes)`);
      const first = this.in.view.getUint32(0, false);
      if (first !== BT_SHB) throw this.error(0, `bad magic ${hex32(first)}: not a pcapng file (want a section header block 0a0d0d0a)`);
    } catch (e) {
      this.in.close();
      throw e;
    }
  }

  /** Interfaces of the current section, in IDB order. */
  get interfaces(): readonly PcapngInterface[] {
    return this.ifaces;
  }

  next(): boolean {
    const inp = this.in;
    for (;;) {
      if (!inp.ensure(12)) {
        if (inp.waiting) return false;
        if (inp.available === 0) return this.atEnd();
        return this.truncated(this.error(inp.position, `truncated block header (${inp.available} of 12 bytes)`));
      }
      const at = inp.position;
      let v = inp.view;
      let p = inp.start;
      let type = v.getUint32(p, this.littleEndian);
      if (type === BT_SHB) {
        // The type is a palindrome; the byte-order magic after the length fixes the section's order.
        const bom = v.getUint32(p + 8, true);
        if (bom === BYTE_ORDER_MAGIC) this.littleEndian = true;
        else if (bom === 0x4d3c2b1a) this.littleEndian = false;
        else throw this.error(at + 8, `section header byte-order magic ${hex32(v.getUint32(p + 8, false))} is neither 1a2b3c4d nor 4d3c2b1a`);
      } else if (this.section < 0) {
        throw this.error(at, `block type ${hex32(type)} before the first section header`);
      }
      const little = this.littleEndian;
      const len = v.getUint32(p + 4, little);
      if (len < 12 || (len & 3) !== 0) throw this.error(at, `block type ${hex32(type)} has total length ${len} (want a multiple of 4, at least 12)`);
      if (at + len > inp.size) {
        return this.truncated(this.error(at, `block type ${hex32(type)} of ${len} bytes runs past the end of the file (${inp.size - at} bytes left)`));
      }
      const isPacket = type === BT_EPB || type === BT_SPB || type === BT_PB;
      // Blocks not needed are skipped unread in a file; a stream reads them (skipping is reading there).
      if (!isPacket && type !== BT_SHB && type !== BT_IDB && inp.seekable) {
        // Not needed: check the trailer and skip, without buffering the block.
        const trailer = len <= inp.available ? v.getUint32(p + len - 4, little) : inp.readAt32(at + len - 4, little);
        if (trailer !== len) throw this.lengthMismatch(at, type, len, trailer);
        inp.skip(len);
        continue;
      }
      if (len > MAX_BLOCK_BYTES) {
        throw this.error(at, `block type ${hex32(type)} of ${len} bytes is larger than 16 MiB, the most libpcap reads of a block (${len > 1 << 30 ? 'a damaged length?' : 'write smaller blocks'})`);
      }
      if (!inp.ensure(len)) {
        if (inp.waiting) return false;
        return this.truncated(this.error(at, `truncated block type ${hex32(type)}: ${len} bytes claimed, ${inp.available} in the file`));
      }
      v = inp.view;
      p = inp.start;
      type = v.getUint32(p, little);
      const trailer = v.getUint32(p + len - 4, little);
      if (trailer !== len) throw this.lengthMismatch(at, type, len, trailer);
      const bodyEnd = p + len - 4;
      switch (type) {
        case BT_SHB: this.readShb(at, p, bodyEnd); break;
        case BT_IDB: this.readIdb(at, p, bodyEnd); break;
        case BT_EPB: {
          if (len < 32) throw this.error(at, `enhanced packet block of ${len} bytes is shorter than its 32-byte minimum`);
          const id = v.getUint32(p + 8, little);
          const caplen = v.getUint32(p + 20, little);
          this.packet(at, id, caplen, v.getUint32(p + 24, little), p + 28, bodyEnd, 'enhanced packet block');
          this.timestamp(at, v.getUint32(p + 12, little), v.getUint32(p + 16, little));
          this.optionsAt = p + 28 + pad4(caplen); this.optionsEnd = bodyEnd;
          inp.start += len;
          return true;
        }
        case BT_PB: {
          if (len < 32) throw this.error(at, `packet block of ${len} bytes is shorter than its 32-byte minimum`);
          const id = v.getUint16(p + 8, little);
          const caplen = v.getUint32(p + 20, little);
          this.packet(at, id, caplen, v.getUint32(p + 24, little), p + 28, bodyEnd, 'packet block');
          this.timestamp(at, v.getUint32(p + 12, little), v.getUint32(p + 16, little));
          this.optionsAt = p + 28 + pad4(caplen); this.optionsEnd = bodyEnd;
          inp.start += len;
          return true;
        }
        case BT_SPB: {
          if (len < 16) throw this.error(at, `simple packet block of ${len} bytes is shorter than its 16-byte minimum`);
          // No interface field: interface 0; no captured length: the snaplen cuts the packet; no
          // timestamp: the previous packet's is kept [pcapng §4.4].
          const first = this.ifaces[0];
          if (!first) throw this.error(at, 'simple packet block in a section without interfaces');
          const orig = v.getUint32(p + 8, little);
          const caplen = Math.min(orig, first.snaplen, bodyEnd - (p + 12));
          this.packet(at, 0, caplen, orig, p + 12, bodyEnd, 'simple packet block');
          this.optionsAt = this.optionsEnd = 0;
          inp.start += len;
          return true;
        }
      }
      inp.start += len;
    }
  }

  private packet(at: number, id: number, caplen: number, origLen: number, dataAt: number, bodyEnd: number, what: string): void {
    const iface = this.ifaces[id];
    if (!iface) throw this.error(at, `${what} on interface ${id}, but section ${this.section} declares ${this.ifaces.length}`);
    // Above the interface's snapshot length is read whole, as tshark does (libpcap's pcapng reader
    // refuses it, its classic one does not); above libpcap's MAXIMUM_SNAPLEN is damage.
    if (caplen > MAX_CAPLEN) throw this.error(at, `captured length ${caplen} exceeds 262144 (256 KiB)`);
    if (dataAt + pad4(caplen) > bodyEnd) {
      throw this.error(at, `${what}: captured length ${caplen} does not fit the block (${bodyEnd - dataAt} bytes for data and options)`);
    }
    this.recordOffset = at;
    this.data = this.in.buf;
    this.offset = dataAt;
    this.caplen = caplen;
    this.origLen = origLen;
    this.interfaceId = id;
    this.linkType = iface.linkType;
    this.snaplen = iface.snaplen;
    this.index++;
  }

  /** Converts a 64-bit count of the interface's units to seconds and nanoseconds, exactly. */
  private timestamp(at: number, hi: number, lo: number): void {
    const iface = this.ifaces[this.interfaceId]!;
    let sec: number;
    let nsec: number;
    if (iface.div10 > 0) {
      // Long division by 10^n in 16-bit limbs: every intermediate stays below 2^53.
      const d = iface.div10;
      let cur = hi >>> 16;
      const q3 = Math.floor(cur / d); let r = cur - q3 * d;
      cur = r * TWO_16 + (hi & 0xffff);
      const q2 = Math.floor(cur / d); r = cur - q2 * d;
      cur = r * TWO_16 + (lo >>> 16);
      const q1 = Math.floor(cur / d); r = cur - q1 * d;
      cur = r * TWO_16 + (lo & 0xffff);
      const q0 = Math.floor(cur / d); r = cur - q0 * d;
      sec = ((q3 * TWO_16 + q2) * TWO_16 + q1) * TWO_16 + q0;
      nsec = r * (1e9 / d);
    } else if (iface.shift2 >= 0) {
      const k = iface.shift2;
      if (k === 0) { sec = hi * 4294967296 + lo; nsec = 0; }
      else if (k <= 32) {
        const frac = k === 32 ? lo : lo & ((2 ** k) - 1);
        sec = hi * 2 ** (32 - k) + Math.floor(lo / 2 ** k);
        nsec = Math.floor((frac * 1e9) / 2 ** k);
      } else {
        const units = (BigInt(hi) << 32n) | BigInt(lo);
        const one = 1n << BigInt(k);
        sec = Number(units / one);
        nsec = Number(((units % one) * 1_000_000_000n) / one);
      }
    } else {
      // 10^n beyond nanoseconds: rare enough for BigInt.
      const one = 10n ** BigInt(iface.tsresol);
      const units = (BigInt(hi) << 32n) | BigInt(lo);
      sec = Number(units / one);
      nsec = Number(((units % one) * 1_000_000_000n) / one);
    }
    if (!Number.isSafeInteger(sec)) throw this.error(at + 12, `timestamp of ${sec} s is out of range`);
    this.tsSec = sec + iface.tsoffset;
    this.tsNsec = nsec;
  }

  private readShb(at: number, p: number, bodyEnd: number): void {
    const v = this.in.view;
    if (bodyEnd - p < 24) throw this.error(at, `section header block of ${bodyEnd - p + 4} bytes is shorter than its 28-byte minimum`);
    const major = v.getUint16(p + 12, this.littleEndian);
    if (major !== 1) throw this.error(at + 12, `unsupported pcapng version ${major}.${v.getUint16(p + 14, this.littleEndian)} (want 1.x)`);
    this.section++;
    this.ifaces = [];
  }

  private readIdb(at: number, p: number, bodyEnd: number): void {
    const v = this.in.view;
    const little = this.littleEndian;
    if (bodyEnd - p < 16) throw this.error(at, `interface description block of ${bodyEnd - p + 4} bytes is shorter than its 20-byte minimum`);
    const linkType = v.getUint16(p + 8, little);
    if (this.allowed && !this.allowed.includes(linkType)) {
      throw this.error(at + 8, `unknown link type ${linkType} on interface ${this.ifaces.length} (this reader takes ${this.allowed.join(', ')})`);
    }
    const snap = v.getUint32(p + 12, little);
    let tsresol = 6;
    let tsoffset = 0;
    let q = p + 16;
    while (q + 4 <= bodyEnd) {
      const code = v.getUint16(q, little);
      const olen = v.getUint16(q + 2, little);
      if (code === 0) break;
      if (q + 4 + olen > bodyEnd) throw this.error(this.in.base + q, `interface option ${code} of ${olen} bytes runs past its block`);
      if (code === IF_TSRESOL && olen >= 1) tsresol = this.in.buf[q + 4]!;
      if (code === IF_TSOFFSET && olen >= 8) {
        const hi = v.getInt32(little ? q + 8 : q + 4, little);
        const lo = v.getUint32(little ? q + 4 : q + 8, little);
        tsoffset = hi * 4294967296 + lo;
      }
      q += 4 + pad4(olen);
    }
    const pow2 = (tsresol & 0x80) !== 0;
    const n = tsresol & 0x7f;
    this.ifaces.push({
      linkType, snaplen: snap === 0 ? MAX_CAPLEN : snap, tsresol, tsoffset, blockOffset: at,
      div10: !pow2 && n <= 9 ? 10 ** n : 0,
      shift2: pow2 ? n : -1,
    });
  }

  private lengthMismatch(at: number, type: number, len: number, trailer: number | undefined): CaptureFormatError {
    return this.error(at, `block type ${hex32(type)}: total length ${len} in its header but ${trailer ?? 'nothing'} in its trailer`);
  }

}

const OPT_COMMENT = 1;
const utf8Decoder = new TextDecoder();

/**
 * The opt_comment values of the reader's current packet (pcapng §4.3/§3.5), in order; empty when
 * it has none. Options that run past the block end the list (the block's length was checked).
 */
export function packetComments(r: PcapngReader): string[] {
  const out: string[] = [];
  const d = r.data;
  const little = r.littleEndian;
  for (let q = r.optionsAt; q + 4 <= r.optionsEnd;) {
    const code = little ? d[q]! | (d[q + 1]! << 8) : (d[q]! << 8) | d[q + 1]!;
    const len = little ? d[q + 2]! | (d[q + 3]! << 8) : (d[q + 2]! << 8) | d[q + 3]!;
    if (code === 0 || q + 4 + len > r.optionsEnd) break;
    if (code === OPT_COMMENT) out.push(utf8Decoder.decode(d.subarray(q + 4, q + 4 + len)));
    q += 4 + pad4(len);
  }
  return out;
}

