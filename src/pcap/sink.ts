// Where the emulator's frames go. The capture writers implement it; they know nothing of
// scenarios or policies.

export const LINKTYPE_ETHERNET = 1;

export interface CaptureInterface {
  /** if_name in pcapng (the link's name). */
  readonly name: string;
  readonly linkType: number;
  readonly snaplen: number;
  /** if_description, optional. */
  readonly description?: string;
}

export interface PacketSink {
  /** Declares an interface before its first packet; returns its id (0, 1, ...). */
  addInterface(iface: CaptureInterface): number;
  /** A name resolution entry (pcapng NRB); may be called at any time, written before the next packet. */
  addName(addr: { readonly family: 4 | 6; readonly bytes: Uint8Array }, name: string): void;
  /**
   * One frame: bytes frame[0..len) seen on interface ifaceId at timeNs, nanoseconds since the
   * writer's start time (its `startEpochSeconds` option; a float64 holds 104 days of ns exactly).
   * The sink copies what it needs before returning; frame is reused by the caller.
   * comment becomes the packet's opt_comment (pcapng) and is dropped in classic pcap; record, a
   * second opt_comment after it (bindlab's machine-readable decision, docs/wireshark.md), too.
   */
  packet(ifaceId: number, timeNs: number, frame: Uint8Array, len: number, comment?: string, record?: string): void;
}

/**
 * A sink that lets the caller write a frame straight into its own buffer: reserveFrame gives the
 * offset in frameBuffer (read it after reserveFrame: the buffer may be replaced to fit a frame)
 * for up to maxLen bytes, and commitFrame stores what was written there. Same result as packet().
 */
export interface InPlaceSink extends PacketSink {
  readonly frameBuffer: Uint8Array;
  reserveFrame(maxLen: number, comment?: string, record?: string): number;
  commitFrame(ifaceId: number, timeNs: number, len: number, comment?: string, record?: string): void;
}

export function isInPlaceSink(s: PacketSink): s is InPlaceSink {
  return typeof (s as Partial<InPlaceSink>).reserveFrame === 'function';
}
