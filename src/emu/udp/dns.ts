// A receiver's reply to a DNS query (RFC 1035 §4.1): when the datagram a socket answers is a
// DNS query, its banner goes back as a DNS response (the question echoed, one TXT answer
// `bindlab HOST/PROC/SOCKET`), so that dig and Wireshark read the reply as DNS rather than as a
// malformed message on port 53. Any other payload is answered with the banner itself.

import { DNS_QTYPES, type DnsQtype } from '../../scenario/types.js';

/**
 * A standard query for `name` (RFC 1035 §4.1.1: opcode QUERY, RD set, one question of class IN),
 * as a stub resolver such as dig sends it. `name` is a valid domain name (the loader checked it:
 * labels of 1 to 63 bytes, 253 in all); a trailing dot is the root's and adds nothing.
 */
export function dnsQuery(id: number, name: string, qtype: DnsQtype): Uint8Array {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l !== '');
  const qname = labels.reduce((n, l) => n + 1 + l.length, 1);
  const out = new Uint8Array(12 + qname + 4);
  out[0] = (id >> 8) & 0xff;
  out[1] = id & 0xff;
  out[2] = 0x01; // RD
  out[5] = 1; // QDCOUNT
  let at = 12;
  for (const l of labels) {
    out[at++] = l.length;
    for (let i = 0; i < l.length; i++) out[at++] = l.charCodeAt(i);
  }
  out[at++] = 0;
  const t = DNS_QTYPES[qtype];
  out[at++] = t >> 8;
  out[at++] = t & 0xff;
  out[at++] = 0;
  out[at] = 1; // class IN
  return out;
}

/** The query's ID, flags and question section, when payload is a DNS query with one question. */
interface DnsQuery {
  readonly id: number;
  readonly rd: boolean;
  /** The question section's bytes (name, type, class). */
  readonly question: Uint8Array;
}

/** Reads a standard query (QR 0, opcode 0) with one question and nothing else; null otherwise. */
export function parseDnsQuery(p: Uint8Array): DnsQuery | null {
  if (p.length < 12 + 5) return null;
  const flags = (p[2]! << 8) | p[3]!;
  if (flags & 0x8000 || (flags >> 11) & 0xf) return null;
  const count = (i: number): number => (p[i]! << 8) | p[i + 1]!;
  if (count(4) !== 1 || count(6) !== 0 || count(8) !== 0 || count(10) !== 0) return null;
  let at = 12;
  // Labels up to the root; no compression in a question of a query.
  for (let n = 0; at < p.length; n++) {
    const len = p[at]!;
    if (len === 0) break;
    if (len > 63 || n > 127) return null;
    at += 1 + len;
  }
  if (at >= p.length || at + 5 !== p.length) return null;
  return { id: count(0), rd: (flags & 0x0100) !== 0, question: p.subarray(12, p.length) };
}

/** A response to `q`: authoritative, RD as asked, RA, no error; one TXT answer holding `text` (at most 255 bytes). */
export function dnsTxtResponse(q: DnsQuery, text: Uint8Array): Uint8Array {
  const txt = text.subarray(0, 255);
  const out = new Uint8Array(12 + q.question.length + 12 + 1 + txt.length);
  out[0] = q.id >> 8;
  out[1] = q.id & 0xff;
  out[2] = 0x84 | (q.rd ? 1 : 0); // QR, AA, RD
  out[3] = 0x80; // RA, RCODE 0
  out[5] = 1; // one question
  out[7] = 1; // one answer
  out.set(q.question, 12);
  let at = 12 + q.question.length;
  // The answer's name points at the question's (offset 12); TYPE TXT (16), CLASS IN, TTL 0.
  out.set([0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 1 + txt.length], at);
  at += 12;
  out[at] = txt.length;
  out.set(txt, at + 1);
  return out;
}
