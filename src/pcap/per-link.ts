// Classic pcap holds one link type per file and has neither interface names nor packet comments,
// so a run with several links (a LAN, each host's loopback) is written as one pcap per link:
// BASE.<link>.pcap, each renamed into place on finish(). The comments (who accepted each SYN, by
// which rule) exist only in pcapng; the CLI says so.

import type { Publication } from '../io/publish.js';
import { PcapWriter, type PcapWriterOptions } from './pcap-writer.js';
import type { CaptureInterface, PacketSink } from './sink.js';

/** A link's name as a file name part: "server/lo" → "server-lo". */
export function linkFilePart(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-');
}

/** One PcapWriter per interface (link), made when the interface is declared. */
export class PcapPerLinkWriter implements PacketSink {
  private readonly writers: PcapWriter[] = [];
  private closed = false;

  /**
   * `pathFor(part)` gives the file of a link, `part` being its name made safe for a file name; with a
   * publication, the files appear when it commits (with the run's other outputs), else each on finish().
   */
  constructor(private readonly pathFor: (linkPart: string) => string, private readonly opts: PcapWriterOptions,
    private readonly publication: Publication | null = null) {}

  /** The files, in the order the links were declared. */
  get paths(): string[] {
    return this.writers.map((w) => w.finalPath);
  }

  addInterface(iface: CaptureInterface): number {
    if (this.closed) throw new Error('the per-link pcap writer is already finished or aborted');
    const taken = new Set(this.paths);
    let path = this.pathFor(linkFilePart(iface.name));
    // Two links whose names differ only in characters a file name cannot hold still get two files.
    for (let n = 2; taken.has(path); n++) path = this.pathFor(`${linkFilePart(iface.name)}-${n}`);
    const w = new PcapWriter(this.publication ? { publication: this.publication, path } : path, this.opts);
    w.addInterface(iface);
    this.writers.push(w);
    return this.writers.length - 1;
  }

  /** Dropped: classic pcap has no name resolution block. */
  addName(): void {}

  packet(ifaceId: number, timeNs: number, frame: Uint8Array, len: number): void {
    const w = this.writers[ifaceId];
    if (!w) throw new RangeError(`packet on undeclared interface ${ifaceId}`);
    w.packet(0, timeNs, frame, len);
  }

  finish(): void {
    this.closed = true;
    for (const w of this.writers) w.finish();
  }

  abort(): void {
    this.closed = true;
    for (const w of this.writers) w.abort();
  }
}
