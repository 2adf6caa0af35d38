// The Internet checksum (RFC 1071): one's complement sum of 16-bit big-endian words.
// Sums are kept unfolded as plain numbers (a float64 holds 2^53, i.e. two million 32-bit words
// before any risk) and folded once at the end. Nothing here allocates per call.

/** A DataView of the last buffer summed: kept while callers go on summing in the same buffer. */
let viewBuf: Uint8Array | null = null;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/**
 * Adds the 16-bit words of buf[at..end) to sum; an odd last byte is padded with zero. Reads 32
 * bits at a time: a big-endian word pair adds hi * 65536 + lo, the same sum once folded
 * (65536 = 1 modulo 65535), so foldChecksum gives the same value with half the loads.
 */
export function sumWords(buf: Uint8Array, at: number, end: number, sum = 0): number {
  if (buf !== viewBuf) {
    viewBuf = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const dv = view;
  let i = at;
  const end4 = at + ((end - at) & ~3);
  for (; i < end4; i += 4) sum += dv.getUint32(i);
  if (i + 1 < end) { sum += dv.getUint16(i); i += 2; }
  if (i < end) sum += buf[i]! << 8;
  return sum;
}

/** Folds carries into 16 bits and complements: the value to put in a checksum field. */
export function foldChecksum(sum: number): number {
  // At most a few folds: sum < 2^53 becomes < 2^37, then < 2^22, then < 2^17, then 16 bits.
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The checksum of buf[at..end) alone (e.g. an IPv4 header). */
export function internetChecksum(buf: Uint8Array, at: number, end: number): number {
  return foldChecksum(sumWords(buf, at, end, 0));
}

/** Partial sum of the IPv4 pseudo header (RFC 793 §3.1): src, dst, zero, protocol, length. */
export function pseudoHeaderSumV4(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return (
    ((src[0]! << 8) | src[1]!) + ((src[2]! << 8) | src[3]!) +
    ((dst[0]! << 8) | dst[1]!) + ((dst[2]! << 8) | dst[3]!) +
    protocol + length
  );
}

/** Partial sum of the IPv6 pseudo header (RFC 8200 §8.1): src, dst, 32-bit length, next header. */
export function pseudoHeaderSumV6(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number): number {
  let sum = nextHeader + (length >>> 16) + (length & 0xffff);
  for (let i = 0; i < 16; i += 2) {
    sum += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  }
  return sum;
}

/** Pseudo header sum for either family, chosen by the address length (4 or 16 bytes). */
export function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  return src.length === 4
    ? pseudoHeaderSumV4(src, dst, protocol, length)
    : pseudoHeaderSumV6(src, dst, protocol, length);
}
