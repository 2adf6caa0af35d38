// A decisions-only replay (no output, no list of connections) tracks a connection's packets after
// its SYN in less detail (replayer.ts leanClient, leanServer): its report must be the report of
// the full path, which a replay keeping the list of connections takes. Random captures of
// interleaved connections: retransmitted and repeated SYNs, answers and RSTs from either side,
// banners naming one socket or another, FINs in any order, packets after a connection ended.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseIp } from '../../src/emu/addr.js';
import { writeTcpFrame } from '../../src/emu/wire/frame.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/emu/wire/tcp.js';
import { replayCapture, type ReplayReport } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { buildPcap } from '../pcap/capture-builder.js';

const ROOT = path.join(import.meta.dirname, '../..');
const scenario = loadScenarioFile(path.join(ROOT, 'test/replay/fixtures/web.yaml'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-lean-'));

const CMAC = Uint8Array.of(2, 0, 0, 0, 0, 0x64);
const SMAC = Uint8Array.of(2, 0, 0, 0, 0, 1);
/** Where connections go: the listener (both families), a port nobody has, an address no host has. */
const SERVERS = [['10.0.0.1', 80], ['10.0.0.2', 81], ['10.0.0.1', 81], ['fd00::1', 80], ['10.9.9.9', 80]] as const;
const CLIENTS = ['10.0.0.100', 'fd00::100'] as const;

type Kind = 'syn' | 'syn-again' | 'syn-ack' | 'server-rst' | 'ack' | 'data' | 'banner' | 'client-fin' | 'server-fin' | 'client-rst' | 'server-ack';
const KINDS: readonly Kind[] = ['syn', 'syn-again', 'syn-ack', 'server-rst', 'ack', 'data', 'banner', 'client-fin', 'server-fin', 'client-rst', 'server-ack'];

const event = fc.record({
  conn: fc.integer({ min: 0, max: 3 }),
  kind: fc.constantFrom(...KINDS),
  socket: fc.constantFrom('web', 'web6', 'other'),
  isn: fc.integer({ min: 0, max: 0xffffffff }),
});

/** The capture of the events: connection k goes from client port 40000 + k to SERVERS[conns[k]], its sequence numbers followed. */
function capture(conns: readonly number[], events: readonly { conn: number; kind: Kind; socket: string; isn: number }[]): Uint8Array {
  const buf = new Uint8Array(2048);
  const state = conns.map(() => ({ cSeq: 1000, sSeq: 5000 }));
  const recs = events.map((e, i) => {
    const [addr, port] = SERVERS[conns[e.conn % conns.length]!]!;
    const v6 = addr.includes(':');
    const client = CLIENTS[v6 ? 1 : 0]!;
    const cport = 40000 + e.conn;
    const st = state[e.conn % conns.length]!;
    const fromClient = !['syn-ack', 'server-rst', 'banner', 'server-fin', 'server-ack'].includes(e.kind);
    let flags = TCP_ACK, payload = '';
    let seq = fromClient ? st.cSeq : st.sSeq, ack = fromClient ? st.sSeq : st.cSeq;
    switch (e.kind) {
      case 'syn': seq = e.isn; ack = 0; flags = TCP_SYN; st.cSeq = (e.isn + 1) >>> 0; break;
      case 'syn-again': seq = (st.cSeq - 1) >>> 0; ack = 0; flags = TCP_SYN; break;
      case 'syn-ack': st.sSeq = e.isn; seq = e.isn; ack = st.cSeq; flags = TCP_SYN | TCP_ACK; st.sSeq = (e.isn + 1) >>> 0; break;
      case 'server-rst': case 'client-rst': flags = TCP_RST | TCP_ACK; break;
      case 'data': payload = 'GET / HTTP/1.0\r\n\r\n'; flags = TCP_PSH | TCP_ACK; st.cSeq = (st.cSeq + payload.length) >>> 0; break;
      case 'banner': payload = `bindlab server/httpd/${e.socket}\r\n`; flags = TCP_PSH | TCP_ACK; st.sSeq = (st.sSeq + payload.length) >>> 0; break;
      case 'client-fin': flags = TCP_FIN | TCP_ACK; st.cSeq = (st.cSeq + 1) >>> 0; break;
      case 'server-fin': flags = TCP_FIN | TCP_ACK; st.sSeq = (st.sSeq + 1) >>> 0; break;
      default: break;
    }
    const src = parseIp(fromClient ? client : addr)!, dst = parseIp(fromClient ? addr : client)!;
    const n = writeTcpFrame(buf, {
      srcMac: fromClient ? CMAC : SMAC, dstMac: fromClient ? SMAC : CMAC, src, dst, ttl: 64, ipId: i, dontFragment: true,
      seg: { srcPort: fromClient ? cport : port, dstPort: fromClient ? port : cport, seq, ack, flags, window: 64240, urgent: 0, options: [],
        payload: new TextEncoder().encode(payload) },
    });
    return { sec: 1_764_000_000 + Math.floor(i / 10), frac: (i % 10) * 1000, data: buf.slice(0, n) };
  });
  return buildPcap({ little: true, ns: false, linkType: 1 }, recs);
}

/** The report less its lists of connections and datagrams (what a decisions-only replay leaves empty). */
function withoutLists(r: ReplayReport): unknown {
  return { ...r, policies: Object.fromEntries(Object.entries(r.policies).map(([p, pr]) => [p, { ...pr, connections: [], datagrams: [] }])) };
}

describe('decisions-only replay', () => {
  it('reports what the full path reports, on random captures of interleaved connections', async () => {
    let i = 0;
    const outcomes = { agree: 0, disagree: 0, replaced: 0, inConnection: 0 };
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: SERVERS.length - 1 }), { minLength: 1, maxLength: 4 }),
      // Long enough for a connection to go through its whole life, and then some.
      fc.array(event, { minLength: 20, maxLength: 80, size: 'max' }),
      async (conns, events) => {
        const file = path.join(tmp, `c${i++}.pcap`);
        fs.writeFileSync(file, capture(conns, events));
        // linux-1.3.60 has no IPv6: a connection some policies accept and others do not.
        const options = { policies: ['linux-1.3.60', 'linux', 'windows'], outDir: null, allowNothing: true };
        const lean = await replayCapture(file, scenario, { ...options, keepConnections: false });
        const full = await replayCapture(file, scenario, { ...options, keepConnections: true });
        expect(withoutLists(lean)).toEqual(withoutLists(full));
        outcomes.agree += lean.policies['linux']!.agreement.agree;
        outcomes.disagree += lean.policies['linux']!.agreement.disagree;
        outcomes.replaced += lean.replaced;
        outcomes.inConnection += lean.skipped['not-in-a-replayed-connection'];
        fs.rmSync(file);
      }), { numRuns: 400, seed: 14 });
    // The captures reach every kind of outcome the comparison is about.
    for (const n of Object.values(outcomes)) expect(n).toBeGreaterThan(0);
  }, 120_000);
});
