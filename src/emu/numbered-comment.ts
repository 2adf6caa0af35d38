// Packet comments that differ only by a number ("datagram 17 to ..."): a datagram step's many
// datagrams share one decision, and a comment each. Written to a sink that takes comments as
// UTF-8 bytes (the pcapng writer's reserveFrameBytes/commitFrameBytes), the fixed parts are
// encoded once and only the number is written per packet; any other sink gets the text.

import type { PacketSink } from '../pcap/sink.js';
import { Utf8Memo } from '../pcap/utf8-memo.js';

/** A sink that takes a frame's comments as UTF-8 bytes (null: none), as PcapngWriter does; the same bytes as packet() with their text. */
export interface CommentBytesSink extends PacketSink {
  readonly frameBuffer: Uint8Array;
  reserveFrameBytes(maxLen: number, comment: Uint8Array | null, record: Uint8Array | null): number;
  commitFrameBytes(ifaceId: number, timeNs: number, len: number, comment: Uint8Array | null, record: Uint8Array | null): void;
}

export function isCommentBytesSink(s: PacketSink): s is CommentBytesSink {
  const c = s as Partial<CommentBytesSink>;
  return typeof c.reserveFrameBytes === 'function' && typeof c.commitFrameBytes === 'function';
}

const utf8 = new TextEncoder();
const DIGIT_0 = 0x30;

/** `${head}${n}${tail}` for a non-negative integer n: the text, or its UTF-8 bytes. */
export class NumberedComment {
  private headBytes: Uint8Array | null = null;
  private tailBytes: Uint8Array | null = null;

  constructor(readonly head: string, readonly tail: string) {}

  text(n: number): string {
    return `${this.head}${n}${this.tail}`;
  }

  /**
   * The UTF-8 bytes of text(n), in `scratch` when it fits (else a new array): the parts' bytes
   * joined, as their text joined encodes (neither part is cut inside a character: the number is
   * ASCII). Valid until scratch is written again. `views`: scratch's views by length, kept by the caller.
   */
  bytes(n: number, scratch: Uint8Array, views?: Uint8Array[]): Uint8Array {
    const head = (this.headBytes ??= utf8.encode(this.head));
    const tail = (this.tailBytes ??= utf8.encode(this.tail));
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    const len = head.length + digits + tail.length;
    const out = len <= scratch.length ? scratch : new Uint8Array(len);
    out.set(head, 0);
    let at = head.length + digits;
    for (let x = n, i = 0; i < digits; i++, x = Math.floor(x / 10)) out[--at] = DIGIT_0 + (x % 10);
    out.set(tail, head.length + digits);
    if (out !== scratch || views === undefined) return out.subarray(0, len);
    // scratch's first len bytes, a view made once per length (no object per packet)
    return (views[len] ??= scratch.subarray(0, len));
  }
}

/** Distinct records whose bytes are kept (a scenario's decisions are far fewer; then forgotten all at once). */
const RECORDS_KEPT = 4096;

/** Writes frames with a numbered comment to one sink, by bytes where it takes them. */
export class NumberedCommentWriter {
  private readonly bytesSink: CommentBytesSink | null;
  private readonly scratch = new Uint8Array(4096);
  private readonly views: Uint8Array[] = [];
  private readonly records = new Utf8Memo(RECORDS_KEPT);

  constructor(private readonly sink: PacketSink) {
    this.bytesSink = isCommentBytesSink(sink) ? sink : null;
  }

  /** frame[0..len) on interface captureId at t, with comment number n and the record (packet() of the text otherwise). */
  packet(captureId: number, t: number, frame: Uint8Array, len: number, comment: NumberedComment, n: number, record: string | undefined): void {
    const s = this.bytesSink;
    if (s === null) {
      this.sink.packet(captureId, t, frame, len, comment.text(n), record);
      return;
    }
    const c = comment.bytes(n, this.scratch, this.views);
    const r = record === undefined ? null : this.records.bytes(record);
    const at = s.reserveFrameBytes(len, c, r);
    s.frameBuffer.set(len === frame.length ? frame : frame.subarray(0, len), at);
    s.commitFrameBytes(captureId, t, len, c, r);
  }
}
