// The emulated server's frames in a replay's output (src/replay/server-frames.ts) are built from a
// per-connection header and the policy's encoded options. Each must be byte for byte the frame the
// general builder (emu/wire/frame.ts writeTcpFrame) makes from the same fields, in the same packet
// block with the same comments: for every policy, random connections of both families, every kind
// of segment, any payload and timestamps, connections coming back after others. Built in
// JavaScript and in WebAssembly (assembly/packets.ts serverFrame and packetBlock: a replay's
// output buffers in its memory), against the general builder's frames in an ordinary buffer.

import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeIp, type IpAddr } from '../../src/emu/addr.js';
import { Run, TS_PLACEHOLDER } from '../../src/emu/engine.js';
import { allPolicies } from '../../src/emu/policy/index.js';
import { writeTcpFrame } from '../../src/emu/wire/frame.js';
import type { TcpOption } from '../../src/emu/wire/tcp.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { ServerFrames } from '../../src/replay/server-frames.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { inMemory, loadKernels, useMemory } from '../../src/wasm/packets.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-server-frames-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const scenario = loadScenarioFile(path.join(ROOT, 'captures/dual-stack.yaml'));
const utf8 = new TextEncoder();

const TCP_FIN = 1, TCP_SYN = 2, TCP_RST = 4, TCP_PSH = 8, TCP_ACK = 16;

const u32 = fc.nat({ max: 0xffffffff });
const connection = fc.record({
  family: fc.constantFrom(4, 6),
  server: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  client: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  serverMac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  clientMac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  sport: fc.integer({ min: 0, max: 65535 }),
  cport: fc.integer({ min: 0, max: 65535 }),
  serverIsn: u32,
});
const segment = fc.record({
  kind: fc.constantFrom('syn-ack', 'rst', 'banner', 'fin'),
  seq: u32, ack: u32, tsval: u32,
  tsecr: fc.oneof(u32, fc.constant(0)),
  payload: fc.uint8Array({ maxLength: 90 }),
  comment: fc.option(fc.string({ maxLength: 40 })),
  record: fc.option(fc.string({ maxLength: 30 })),
  t: fc.integer({ min: 0, max: 1e12 }),
});

const addr = (family: number, b: Uint8Array): IpAddr => makeIp(family as 4 | 6, b.slice(0, family === 4 ? 4 : 16));

/** A profile's option list with the frame's own timestamps in place of TS_PLACEHOLDER. */
const withTimestamps = (list: readonly TcpOption[], tsval: number, tsecr: number): TcpOption[] =>
  list.map((o) => (o === TS_PLACEHOLDER ? { kind: 'timestamps', tsval, tsecr } : o));

afterAll(() => useMemory(true));

describe.each([['JavaScript', false], ['WebAssembly', true]] as const)('ServerFrames in %s', (where, wasm) => {
  it.each(allPolicies().map((p) => p.name))('writes the frames writeTcpFrame builds from the same fields, under %s', (policy) => {
    const fileA = path.join(tmp, `${policy}.${where}.template.pcapng`), fileB = path.join(tmp, `${policy}.${where}.general.pcapng`);
    if (wasm) expect(loadKernels()).toBe(true);
    useMemory(wasm);
    const a = new PcapngWriter(fileA, { startEpochSeconds: 1_700_000_000 });
    expect(inMemory(a.frameBuffer)).toBe(wasm);
    useMemory(false);
    const b = new PcapngWriter(fileB, { startEpochSeconds: 1_700_000_000 });
    useMemory(wasm);
    // Each run declares the scenario's links in its writer: interface 0 is the first.
    const runA = new Run(scenario, allPolicies().find((p) => p.name === policy)!, { sink: a });
    new Run(scenario, allPolicies().find((p) => p.name === policy)!, { sink: b });
    const frames = new ServerFrames(runA);
    const frame = new Uint8Array(70000);
    let conn = 0;
    fc.assert(fc.property(fc.array(connection, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(2), segment), { minLength: 1, maxLength: 8 }), (conns, segs) => {
      const ids = conns.map(() => conn++);
      for (const [k, s] of segs) {
        // Connections in turn, as a replay's pending packets come: the header is rebuilt whenever the connection changes.
        const c = conns[k % conns.length]!;
        const server = addr(c.family, c.server), client = addr(c.family, c.client);
        frames.connection(ids[k % conns.length]!, c.serverMac, c.clientMac, server, c.sport, client, c.cport, c.serverIsn);
        const comment = s.comment === null ? null : utf8.encode(s.comment), record = s.record === null ? null : utf8.encode(s.record);
        const profile = runA.replayServerProfile(c.family as 4 | 6);
        let seq = s.seq, ack = s.ack, flags: number, window = profile.window, options: TcpOption[] = [], payload = new Uint8Array(0);
        let ipId: number, flowLabel = runA.replayFlowLabel(c.serverIsn, false);
        if (s.kind === 'syn-ack' || s.kind === 'rst') {
          const accepted = s.kind === 'syn-ack';
          a.frameTimeNs = s.t;
          frames.answer(a, 0, accepted, c.serverIsn, s.ack, s.tsval, s.tsecr, comment, record);
          ack = (s.ack + 1) >>> 0;
          ipId = runA.replayIpId(c.serverIsn, false, 0);
          if (accepted) {
            seq = c.serverIsn; flags = TCP_SYN | TCP_ACK; window = profile.synAckWindow; options = withTimestamps(profile.synAckOptions, s.tsval, s.tsecr);
          } else {
            seq = 0; flags = TCP_RST | TCP_ACK; window = 0; flowLabel = runA.replayFlowLabel(c.serverIsn, true);
          }
        } else {
          flags = s.kind === 'banner' ? TCP_PSH | TCP_ACK : TCP_FIN | TCP_ACK;
          payload = s.kind === 'banner' ? s.payload : payload;
          a.frameTimeNs = s.t;
          frames.segment(a, 0, s.seq, s.ack, flags, payload, s.tsval, s.tsecr, comment, record);
          if (s.tsecr !== 0) options = withTimestamps(profile.dataOptions, s.tsval, s.tsecr);
          ipId = runA.replayIpId(c.serverIsn, true, s.kind === 'fin' ? 1 : 0);
        }
        const len = writeTcpFrame(frame, {
          srcMac: c.serverMac, dstMac: c.clientMac, src: server, dst: client, ttl: profile.ttl, ipId, dontFragment: profile.dontFragment, flowLabel,
          seg: { srcPort: c.sport, dstPort: c.cport, seq, ack, flags, window, urgent: 0, options, payload },
        });
        b.packet(0, s.t, frame, len, s.comment ?? undefined, s.record ?? undefined);
      }
    }), { numRuns: 300 });
    frames.close();
    a.finish(); b.finish();
    useMemory(true);
    const bytesA = fs.readFileSync(fileA), bytesB = fs.readFileSync(fileB);
    expect(bytesA.length).toBeGreaterThan(10000);
    expect(bytesA.equals(bytesB)).toBe(true);
  });
});
