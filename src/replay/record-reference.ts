// A replay's output writes each decision's comment and packet record in full once; a later
// packet with the same record carries a reference to it instead: `bindlab/1 =` and a key of 12
// hex digits made from the record's UTF-8 bytes (docs/wireshark.md, "Replays"). wireshark/
// bindlab.lua computes the same key from each full record it sees and looks references up by
// it, so a reference holds in any file that keeps the full record before it (a merge of
// outputs included). Two polynomial hashes modulo primes below 2^24: every step is exact in
// float64 and in Lua's numbers (integers or doubles), so both sides get the same digits.

import { RECORD_PREFIX } from '../emu/packet-record.js';

const P1 = 16777213, P2 = 16777199;
const utf8 = new TextEncoder();

/** The key of a record: 12 lowercase hex digits. */
export function recordKey(record: string): string {
  let h1 = 0, h2 = 0;
  for (const b of utf8.encode(record)) {
    h1 = (h1 * 257 + b + 1) % P1;
    h2 = (h2 * 263 + b + 1) % P2;
  }
  return h1.toString(16).padStart(6, '0') + h2.toString(16).padStart(6, '0');
}

/** The reference that stands for record on a later packet: `bindlab/1 =` and its key. */
export function recordReference(record: string): string {
  return `${RECORD_PREFIX}=${recordKey(record)}`;
}
