// The packet record: the machine-readable form of a decision, written on the packets that carry it beside the
// human comment: a second pcapng opt_comment `bindlab/1 {JSON}`. wireshark/bindlab.lua turns it
// into fields (bindlab.socket, bindlab.result, ...). docs/wireshark.md is its specification: a
// field is added there first, and a change of meaning takes a new version number.

import type { LookupResult, Sock } from './policy/types.js';

export const RECORD_VERSION = 1;
/** What a record comment starts with; the JSON object follows. */
export const RECORD_PREFIX = `bindlab/${RECORD_VERSION} `;

/** A socket as a record names it. */
export interface RecordSocket {
  readonly host: string;
  readonly process: string;
  readonly socket: string;
  readonly uid: number;
}

/** What a connection attempt came to, in the record's words (docs/report.md's, with `accepted` for a socket's name). */
export type RecordResult = 'accepted' | 'refused' | 'timeout' | 'unreachable' | `E${string}`;

/** The rule's text and its citation: the bracketed source reference the rule ends with, when it has one. */
export function splitCitation(rule: string): { readonly text: string; readonly citation: string | undefined } {
  const m = /\s*\[([^[\]]*)\]\s*$/.exec(rule);
  if (!m) return { text: rule, citation: undefined };
  return { text: rule.slice(0, m.index), citation: m[1] };
}

const socketOf = (s: Sock): RecordSocket => ({ host: s.hostName, process: s.processName, socket: s.name, uid: s.uid });

/**
 * The record of a SYN's decision under `policy` for destination `to` ("10.0.0.2:8080",
 * "[fd00::1]:80"). `displaced`: the listener of another uid that would have had the connection
 * had the accepting socket's group not been there (displacedListener). Keys come in a fixed order:
 * same decision, same bytes.
 */
export function lookupPacketRecord(policy: string, to: string, lookup: LookupResult, displaced: Sock | null): string {
  const { text, citation } = splitCitation(lookup.rule);
  const sock = lookup.action === 'accept' ? lookup.sock : null;
  const out: Record<string, unknown> = { policy, result: sock ? 'accepted' : lookup.action === 'rst' ? 'refused' : 'timeout', to };
  if (sock) {
    Object.assign(out, socketOf(sock));
    if (lookup.candidates.length > 1) out.group = lookup.candidates.map((s) => s.name);
    if (displaced) out.displaced = socketOf(displaced);
  }
  out.rule = text;
  if (citation !== undefined) out.citation = citation;
  return RECORD_PREFIX + JSON.stringify(out);
}

/** The record of a connection attempt that ended without a SYN answered or sent (unreachable, or a connect() errno). */
export function outcomePacketRecord(policy: string, to: string, result: RecordResult, rule: string): string {
  const { text, citation } = splitCitation(rule);
  const out: Record<string, unknown> = { policy, result, to, rule: text };
  if (citation !== undefined) out.citation = citation;
  return RECORD_PREFIX + JSON.stringify(out);
}

/** record with the scenario step it was made in (a string splice: records are objects, `}` ends them). */
export function withStep(record: string, step: number): string {
  return `${record.slice(0, -1)},"step":${step}}`;
}

/**
 * record with a replay's verdict: whether the policy agrees with what the capture shows the real
 * server did (`observed`: a socket name, "accepted", "refused" or "unanswered").
 */
export function withAgreement(record: string, agree: boolean, observed: string): string {
  return `${record.slice(0, -1)},"observed":${JSON.stringify(observed)},"agree":${agree}}`;
}

/**
 * The listener that would have got the connection without the accepting socket's group, when it
 * belongs to another uid: a second lookup over the port's listeners less the group. Only asked
 * when the port's listeners are of more than one uid (else no other uid can be displaced).
 */
export function displacedListener(lookup: LookupResult, listeners: readonly Sock[], again: (rest: readonly Sock[]) => LookupResult): Sock | null {
  const sock = lookup.action === 'accept' ? lookup.sock : null;
  if (!sock || listeners.every((l) => l.uid === sock.uid)) return null;
  const group = new Set<Sock>(lookup.candidates);
  group.add(sock);
  const alt = again(listeners.filter((l) => !group.has(l)));
  return alt.action === 'accept' && alt.sock && alt.sock.uid !== sock.uid ? alt.sock : null;
}

/**
 * The record of a UDP datagram's delivery (issue 18) under `policy` to `to`: `result` is the
 * datagram step's word (`received` when sockets took it, `port-unreachable`, `dropped`,
 * `unreachable`, an errno); `receivers` every socket that got a copy (the first also as the
 * socket fields); `reply`: the packet is a receiver's answer, `icmp`: the ICMP error.
 */
export function datagramPacketRecord(policy: string, to: string, result: string, receivers: readonly Sock[], rule: string,
  packet: 'datagram' | 'reply' | 'icmp' = 'datagram'): string {
  const { text, citation } = splitCitation(rule);
  const out: Record<string, unknown> = { policy, result, to, protocol: 'udp' };
  if (packet !== 'datagram') out.packet = packet;
  if (receivers.length > 0) {
    Object.assign(out, socketOf(receivers[0]!));
    if (receivers.length > 1) out.receivers = receivers.map((s) => s.name);
  }
  out.rule = text;
  if (citation !== undefined) out.citation = citation;
  return RECORD_PREFIX + JSON.stringify(out);
}
