// Classic libpcap reader (draft-ietf-opsawg-pcap): either byte order, microsecond (a1b2c3d4)
// or nanosecond (a1b23c4d) timestamps, one link type per file. Streams through one buffer (two with read-ahead).
//
//   const r = PcapReader.open('x.pcap');            // or new PcapReader(bytes, { name })
//   try { while (r.next()) use(r.data, r.offset, r.caplen, r.tsSec, r.tsNsec); } finally { r.close(); }

import {
  MAX_CAPLEN, StreamedReader, hex32, type CaptureReader, type CaptureReaderOptions, type ChunkedInput,
} from './capture-reader.js';

export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
/** The link type sits in the low bits; the top ones carry FCS information [pcap-linktype LT_LINKTYPE]. */
const LINKTYPE_MASK = 0x03ffffff;

export class PcapReader extends StreamedReader implements CaptureReader {
  readonly format = 'pcap' as const;
  /** True when the file is big-endian (magic read as a1b2c3d4 in network order). */
  readonly bigEndian: boolean;
  /** True for the nanosecond magic a1b23c4d. */
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly linkType: number;
  /** As in the header; a header value of 0 is reported as MAX_CAPLEN. */
  readonly snaplen: number;
  readonly interfaceId = 0;
  readonly section = 0;

  data: Uint8Array;
  offset = 0;
  caplen = 0;
  origLen = 0;
  tsSec = 0;
  tsNsec = 0;
  recordOffset = 0;
  index = -1;

  private readonly little: boolean;
  private readonly fracToNs: number;
  /** One second in the file's timestamp fraction (1e6 or 1e9): fractions must stay below it. */
  private readonly fracLimit: number;

  /** Opens a file; the caller must close() it (also after an error). */
  static open(path: string, options: CaptureReaderOptions = {}): PcapReader {
    return new PcapReader(path, options);
  }

  /** Reads from a path (streamed), from bytes already in memory, or from an input already open (a stream). */
  constructor(source: string | Uint8Array | ChunkedInput, options: CaptureReaderOptions = {}) {
    super(source, options);
    try {
      const inp = this.in;
      if (!inp.ensure(4)) throw this.error(0, `file too short for a pcap header (${inp.available} of 24 bytes)`);
      const be = inp.view.getUint32(0, false);
      const le = inp.view.getUint32(0, true);
      if (be === MAGIC_US || be === MAGIC_NS) this.little = false;
      else if (le === MAGIC_US || le === MAGIC_NS) this.little = true;
      else throw this.error(0, `bad magic ${hex32(be)}: not a classic pcap file (want a1b2c3d4 or a1b23c4d in either byte order)`);
      this.bigEndian = !this.little;
      this.nanosecond = (this.little ? le : be) === MAGIC_NS;
      this.fracToNs = this.nanosecond ? 1 : 1000;
      this.fracLimit = this.nanosecond ? 1e9 : 1e6;
      if (!inp.ensure(PCAP_GLOBAL_HEADER_LEN)) throw this.error(0, `truncated pcap header (${inp.available} of 24 bytes)`);
      const v = inp.view;
      this.versionMajor = v.getUint16(4, this.little);
      this.versionMinor = v.getUint16(6, this.little);
      if (this.versionMajor !== 2) throw this.error(4, `unsupported pcap version ${this.versionMajor}.${this.versionMinor} (want 2.x)`);
      const snap = v.getUint32(16, this.little);
      this.snaplen = snap === 0 ? MAX_CAPLEN : snap;
      this.linkType = v.getUint32(20, this.little) & LINKTYPE_MASK;
      if (options.linkTypes && !options.linkTypes.includes(this.linkType)) {
        throw this.error(20, `unknown link type ${this.linkType} (this reader takes ${options.linkTypes.join(', ')})`);
      }
      inp.start = PCAP_GLOBAL_HEADER_LEN;
      this.data = inp.buf;
    } catch (e) {
      this.in.close();
      throw e;
    }
  }

  next(): boolean {
    const inp = this.in;
    const avail = inp.end - inp.start;
    // One path for a record wholly buffered (nearly always), and one call for any other: its
    // header or its data cut by the window's end, or the end of the file.
    if (avail < PCAP_RECORD_HEADER_LEN || avail < PCAP_RECORD_HEADER_LEN + inp.view.getUint32(inp.start + 8, this.little)) return this.nextSlow();
    return this.take();
  }

  /** next() when the record is not wholly buffered: makes it so, or ends (false) or fails. */
  private nextSlow(): boolean {
    const inp = this.in;
    if (!inp.ensure(PCAP_RECORD_HEADER_LEN)) {
      if (inp.waiting) return false;
      if (inp.available === 0) return this.atEnd();
      return this.truncated(this.error(inp.position, `truncated record header (${inp.available} of 16 bytes)`));
    }
    const caplen = inp.view.getUint32(inp.start + 8, this.little);
    const need = PCAP_RECORD_HEADER_LEN + caplen;
    if (caplen <= MAX_CAPLEN && !inp.ensure(need)) {
      if (inp.waiting) return false;
      return this.truncated(this.error(inp.position, `truncated packet: record of ${caplen} bytes, the file ends after ${inp.available - PCAP_RECORD_HEADER_LEN}`));
    }
    return this.take();
  }

  /** The record at the window's start, whose header is buffered (and its data, when its length is valid). */
  private take(): boolean {
    const inp = this.in;
    const v = inp.view;
    const little = this.little;
    const p = inp.start;
    const caplen = v.getUint32(p + 8, little);
    const frac = v.getUint32(p + 4, little);
    // A captured length above the file's snapshot length is read whole, as tshark and classic
    // pcap's libpcap do (sf-pcap.c checks only max_snaplen_for_dlt: 256 KiB here).
    if (caplen > MAX_CAPLEN) throw this.error(this.in.position, `captured length ${caplen} exceeds 262144 (256 KiB)`);
    this.recordOffset = inp.base + p;
    this.tsSec = v.getUint32(p, little);
    this.tsNsec = frac * this.fracToNs;
    // A fraction of a second or more: libpcap hands it on as it is (sf-pcap.c does not check it),
    // a struct timeval of that many µs past tv_sec: the same instant with the whole seconds carried.
    if (frac >= this.fracLimit) this.carry(frac);
    this.origLen = v.getUint32(p + 12, little);
    this.caplen = caplen;
    this.data = inp.buf;
    this.offset = p + PCAP_RECORD_HEADER_LEN;
    inp.start = p + PCAP_RECORD_HEADER_LEN + caplen;
    this.index++;
    return true;
  }

  /** A timestamp fraction of a second or more: whole seconds carried into tsSec (tsNsec stays below 1e9). */
  private carry(frac: number): void {
    const whole = Math.floor(frac / this.fracLimit);
    this.tsSec += whole;
    this.tsNsec = (frac - whole * this.fracLimit) * this.fracToNs;
  }
}
