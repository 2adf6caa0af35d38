// The wire layer's whole error vocabulary (after smoltcp's wire::Error): a packet is too
// short, has an impossible field, fails its checksum, or is valid but not something we speak.

export type WireErrorKind = 'truncated' | 'malformed' | 'checksum' | 'unrecognized';

export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    readonly kind: WireErrorKind,
    /** Byte offset in the buffer where the problem was found. */
    readonly offset: number,
    detail?: string,
  ) {
    super(`${kind} at byte ${offset}${detail ? `: ${detail}` : ''}`);
  }
}

/** Throws a truncated WireError unless buf[at..at+len) lies within [at, end). */
export function need(at: number, len: number, end: number): void {
  if (at + len > end) throw new WireError('truncated', at, `need ${len} bytes, have ${end - at}`);
}
