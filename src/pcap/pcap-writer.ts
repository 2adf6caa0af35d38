// Classic libpcap writer (draft-ietf-opsawg-pcap): little-endian, one link type per file,
// streamed through one preallocated buffer into a temporary file that finish() renames.
// Comments and names have no place in this format and are dropped.

import { BufferedOutput, type OutputTarget } from './output-file.js';
import type { CaptureInterface, PacketSink } from './sink.js';
import { LINKTYPE_ETHERNET } from './sink.js';

export interface PcapWriterOptions {
  /** Wall-clock time (Unix seconds) of timeNs 0. */
  readonly startEpochSeconds: number;
  /** 'us' writes magic 0xa1b2c3d4, 'ns' writes 0xa1b23c4d. Default 'ns'. */
  readonly tsresol?: 'us' | 'ns';
  /** Ignored: the classic format has no place to name the writer. */
  readonly application?: string;
  /** Output buffer size, flushed with one write when full. Default 1 MiB. */
  readonly chunkBytes?: number;
}

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_SNAPLEN = 262144;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

export class PcapWriter extends BufferedOutput implements PacketSink {
  private linkType = -1;
  private interfaces = 0;
  /** The smallest snaplen of any interface: all share one record stream. */
  private snaplen = PCAP_SNAPLEN;
  private readonly ns: boolean;
  private readonly startSec: number;
  /** Sub-second part of startEpochSeconds, in ns. */
  private readonly startFracNs: number;

  constructor(target: OutputTarget, opts: PcapWriterOptions) {
    // Checked before the temporary file exists, so a bad option leaves nothing behind.
    const startSec = Math.floor(opts.startEpochSeconds);
    if (!Number.isFinite(startSec) || startSec < 0) throw new RangeError(`startEpochSeconds ${opts.startEpochSeconds}`);
    super(target, opts.chunkBytes, 'pcap writer');
    this.ns = (opts.tsresol ?? 'ns') === 'ns';
    this.startSec = startSec;
    this.startFracNs = Math.round((opts.startEpochSeconds - this.startSec) * 1e9);
    const v = this.view;
    v.setUint32(0, this.ns ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, PCAP_SNAPLEN, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true); // until the first interface says otherwise
    this.pos = GLOBAL_HEADER_LEN;
  }

  /** Returns 0 for every interface of the file's one link type; throws on a second link type. */
  addInterface(iface: CaptureInterface): number {
    this.assertOpen();
    if (this.linkType === -1) {
      // No packet can precede the first interface, so the header is still in the buffer.
      this.linkType = iface.linkType;
      this.view.setUint32(20, iface.linkType, true);
    } else if (iface.linkType !== this.linkType) {
      throw new Error(`classic pcap holds one link type: ${iface.name} has ${iface.linkType}, the file has ${this.linkType}`);
    }
    const snap = iface.snaplen > 0 && iface.snaplen < PCAP_SNAPLEN ? iface.snaplen : PCAP_SNAPLEN;
    this.interfaces++;
    if (snap < this.snaplen) this.snaplen = snap;
    // Every interface maps to record stream 0; the smallest snaplen applies to all.
    return 0;
  }

  /** Dropped: classic pcap has no name resolution block. */
  addName(_addr: { readonly family: 4 | 6; readonly bytes: Uint8Array }, _name: string): void {
    this.assertOpen();
  }

  /** comment (and record) are dropped: classic pcap records have no options. */
  packet(ifaceId: number, timeNs: number, frame: Uint8Array, len: number, _comment?: string): void {
    if (this.closed) this.assertOpen();
    if (ifaceId !== 0 || this.interfaces === 0) throw new RangeError(`packet on undeclared interface ${ifaceId}`);
    if (!(timeNs >= 0)) throw new RangeError(`timeNs ${timeNs}`);
    const snaplen = this.snaplen;
    const cap = len < snaplen ? len : snaplen;
    const n = RECORD_HEADER_LEN + cap;
    if (this.pos + n > this.buf.length) this.makeRoom(n);
    const t = Math.floor(timeNs) + this.startFracNs;
    const secs = Math.floor(t / 1e9);
    const fracNs = t - secs * 1e9;
    const v = this.view;
    const p = this.pos;
    v.setUint32(p, this.startSec + secs, true);
    v.setUint32(p + 4, this.ns ? fracNs : Math.floor(fracNs / 1000), true);
    v.setUint32(p + 8, cap, true);
    v.setUint32(p + 12, len, true);
    const buf = this.buf;
    const d = p + RECORD_HEADER_LEN;
    // subarray + set measured 3x faster than a byte loop at 130 bytes, view allocation included.
    buf.set(cap === frame.length ? frame : frame.subarray(0, cap), d);
    this.pos = d + cap;
  }
}
