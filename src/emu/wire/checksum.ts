// The Internet checksum (RFC 1071): one's complement sum of 16-bit big-endian words.
// Sums are kept unfolded as plain numbers (a float64 holds 2^53, i.e. billions of words
// before any risk) and folded once at the end. Nothing here allocates.

/** Adds the 16-bit words of buf[at..end) to sum; an odd last byte is padded with zero. */
export function sumWords(buf: Uint8Array, at: number, end: number, sum = 0): number {
  let i = at;
  const even = end - ((end - at) & 1);
  // Two words per iteration keeps the loop short without hurting small headers.
  for (; i + 3 < even; i += 4) {
    sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!);
  }
  for (; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (even !== end) sum += buf[end - 1]! << 8;
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
