// Wireshark speaks bindlab, checked with the real tshark: every shipped scenario under its
// policies and a replay, all captures merged into one file (one tshark run reads them all), the
// Lua postdissector loaded. `bindlab.socket == "X"` must select exactly the packets of the
// connections the JSON report says X accepted (their SYN and SYN-ACK), every decision packet's
// fields must say what the report says, and the installed profile must load with -C, colour and
// show its columns. Skipped, with the reason printed, without tshark and mergecap.

import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ReplayReport } from '../../src/replay/replay.js';
import { replayCapture } from '../../src/replay/replay.js';
import { agreement } from '../../src/replay/agreement.js';
import { openCapture } from '../../src/pcap/open-capture.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { recordReference } from '../../src/replay/record-reference.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { installWireshark, shippedFiles } from '../../src/wireshark/install.js';
import { CLI, ensureBuilt } from '../testing/helpers.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const LUA = shippedFiles().plugin;
const missing = ['tshark', 'mergecap'].filter((c) => spawnSync(c, ['-v'], { stdio: 'ignore' }).status !== 0);
const skip = missing.length > 0 ? `${missing.join(' and ')} not runnable: the Wireshark checks are skipped` : '';
if (skip) console.warn(skip);

interface Step { index: number; kind: string; result: string; results?: string[]; candidates?: string[][]; reason?: string }
interface ScenarioJson { file: string; policies: Record<string, { steps: Step[]; output: string }> }

/** One capture inside the merged file: frames first..last (1-based, inclusive). */
interface Part { name: string; policy: string; first: number; last: number; steps?: Step[]; replay?: ReplayReport['policies'][string] }

/** A decision packet as tshark shows it with bindlab.lua. */
interface Frame {
  number: number; syn: boolean; ack: boolean; rst: boolean; arpRequest: boolean; ns: boolean;
  policy: string; result: string; socket: string; acceptedBy: string; uid: string; group: string; displaced: string; otherUid: string;
  rule: string; citation: string; step: string; to: string; observed: string; agree: string; ports: string[];
  /** "udp" on the records of datagram steps (issue 18), which test/e2e/udp-captures.test.ts checks. */
  protocol: string;
}
const FIELDS = ['frame.number', 'tcp.flags.syn', 'tcp.flags.ack', 'tcp.flags.reset', 'arp.opcode', 'icmpv6.type', 'bindlab.policy',
  'bindlab.result', 'bindlab.socket', 'bindlab.accepted_by', 'bindlab.uid', 'bindlab.group', 'bindlab.displaced', 'bindlab.other_uid',
  'bindlab.rule', 'bindlab.citation', 'bindlab.step', 'bindlab.to', 'bindlab.observed', 'bindlab.agree', 'tcp.srcport', 'tcp.dstport', 'bindlab.protocol'];

const tmp = mkdtempSync(join(tmpdir(), 'bindlab-wireshark-'));
const merged = join(tmp, 'all.pcapng');
const parts: Part[] = [];
let frames: Frame[] = [];

async function tshark(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  return run('tshark', ['-X', `lua_script:${LUA}`, ...args], { maxBuffer: 256 << 20, env });
}

/** Frame numbers a display filter selects in the merged capture. */
async function select(filter: string): Promise<number[]> {
  const { stdout } = await tshark(['-r', merged, '-Y', filter, '-T', 'fields', '-e', 'frame.number']);
  return stdout.split('\n').filter((l) => l !== '').map(Number);
}

function countPackets(file: string): number {
  const r = openCapture(file);
  let n = 0;
  try { while (r.next()) n++; } finally { r.close(); }
  return n;
}

const on = (v: string | undefined): boolean => v === '1' || v === 'True';
const partOf = (n: number): Part => parts.find((p) => n >= p.first && n <= p.last)!;
const inPart = (p: Part) => frames.filter((f) => f.number >= p.first && f.number <= p.last);
const isAccept = (r: string): boolean => !['refused', 'timeout', 'unreachable'].includes(r) && !/^E[A-Z]+$/.test(r);

beforeAll(async () => {
  if (skip) return;
  ensureBuilt();
  // Every shipped scenario through the CLI, as a user runs it: the JSON report and the captures.
  const scenarios = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.yaml')).sort().map((f) => join('scenarios', f));
  const r = spawnSync(process.execPath, [CLI, 'run', ...scenarios, '--json', '-o', join(tmp, 'run')],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, NO_COLOR: '1' } });
  expect(r.status, `${r.error?.message ?? ''} ${r.stderr}`).toBeLessThan(2);
  // One report per line, a file's each (the JSON report contract).
  const reports = r.stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ScenarioJson);
  expect(reports.length).toBe(scenarios.length);
  const files: string[] = [];
  let next = 1;
  for (const rep of reports) {
    for (const [policy, pr] of Object.entries(rep.policies)) {
      const n = countPackets(pr.output);
      parts.push({ name: rep.file, policy, first: next, last: next + n - 1, steps: pr.steps });
      files.push(pr.output);
      next += n;
    }
  }
  // And a replay of a real capture.
  const replay = await replayCapture(join(ROOT, 'captures/reuseport.pcap'), loadScenarioFile(join(ROOT, 'captures/reuseport.yaml')),
    { outDir: join(tmp, 'replay') });
  for (const [policy, pr] of Object.entries(replay.policies)) {
    const n = countPackets(pr.output!);
    parts.push({ name: 'replay of captures/reuseport.pcap', policy, first: next, last: next + n - 1, replay: pr });
    files.push(pr.output!);
    next += n;
  }
  await run('mergecap', ['-a', '-F', 'pcapng', '-w', merged, ...files]);
  const { stdout } = await tshark(['-r', merged, '-Y', 'bindlab', '-T', 'fields', '-E', 'occurrence=f', ...FIELDS.flatMap((f) => ['-e', f])]);
  frames = stdout.split('\n').filter((l) => l !== '').map((l) => {
    const v = l.split('\t');
    return {
      number: Number(v[0]), syn: on(v[1]), ack: on(v[2]), rst: on(v[3]), arpRequest: v[4] === '1', ns: v[5] === '135',
      policy: v[6]!, result: v[7]!, socket: v[8]!, acceptedBy: v[9]!, uid: v[10]!, group: v[11]!, displaced: v[12]!, otherUid: v[13]!,
      rule: v[14]!, citation: v[15]!, step: v[16]!, to: v[17]!, observed: v[18]!, agree: v[19]!, ports: [v[20]!, v[21]!], protocol: v[22] ?? '',
    };
  });
}, 240_000);

describe('bindlab.lua over every shipped scenario and a replay (one merged capture)', () => {
  it('every decision packet carries its policy, and the captures have decisions', ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    expect(frames.length).toBeGreaterThan(1000);
    for (const f of frames) expect(f.policy, `frame ${f.number}`).toBe(partOf(f.number).policy);
  });

  it('each connect step\'s packets say what the JSON report says: result, socket, group, rule and citation', ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    let checked = 0;
    for (const part of parts.filter((p) => p.steps)) {
      // TCP's decisions; a datagram step's are the UDP test's (test/e2e/udp-captures.test.ts).
      const mine = inPart(part).filter((f) => f.protocol !== 'udp');
      const where = `${part.name} ${part.policy}`;
      // Every decision packet belongs to a connect step of the report.
      const connects = new Map(part.steps!.filter((s) => s.kind === 'connect').map((s) => [s.index, s]));
      for (const f of mine) expect(connects.has(Number(f.step)), `${where} frame ${f.number} step ${f.step}`).toBe(true);
      for (const step of connects.values()) {
        const at = `${where} step ${step.index}`;
        const results = step.results ?? [step.result];
        const got = mine.filter((f) => Number(f.step) === step.index);
        const n = (r: string) => results.filter((x) => x === r).length;
        for (const name of new Set(results.filter(isAccept))) {
          const sel = got.filter((f) => f.socket === name);
          expect(sel.every((f) => f.result === 'accepted' && f.acceptedBy.endsWith(`/${name}`)), at).toBe(true);
          // The SYN and the SYN-ACK of each connection it accepted, nothing else.
          expect(sel.filter((f) => f.syn && !f.ack).length, `${at}: SYNs to ${name}`).toBe(n(name));
          expect(sel.filter((f) => f.syn && f.ack).length, `${at}: SYN-ACKs of ${name}`).toBe(n(name));
          expect(sel.length, at).toBe(2 * n(name));
        }
        const refused = got.filter((f) => f.result === 'refused');
        expect(refused.filter((f) => f.syn && !f.ack).length, `${at}: refused SYNs`).toBe(n('refused'));
        expect(refused.filter((f) => f.rst).length, `${at}: RSTs`).toBe(n('refused'));
        expect(refused.length, at).toBe(2 * n('refused'));
        const timeouts = got.filter((f) => f.result === 'timeout');
        expect(timeouts.every((f) => f.syn && !f.ack), at).toBe(true);
        expect(timeouts.length >= n('timeout') && (n('timeout') > 0) === (timeouts.length > 0), at).toBe(true);
        const unreachable = got.filter((f) => f.result === 'unreachable');
        // Unanswered neighbour discovery, or SYNs a router answered with an ICMP error (scenarios/router.yaml).
        const icmp = unreachable.some((f) => f.syn);
        expect(unreachable.every((f) => f.arpRequest || f.ns || (f.syn && !f.ack)), at).toBe(true);
        // Unanswered neighbour discovery or a router's error, unless the client had no route at all.
        if (n('unreachable') > 0 && (step.reason?.startsWith('nobody on link') || icmp)) expect(unreachable.length, at).toBeGreaterThanOrEqual(n('unreachable'));
        else expect(unreachable.length, at).toBe(0);
        // A connect() that failed in the client (an errno) sent nothing.
        expect(got.length, at).toBe(results.filter(isAccept).length * 2 + 2 * n('refused') + timeouts.length + unreachable.length);
        // The SO_REUSEPORT group picked from, when there was a choice.
        results.forEach((r, i) => {
          const cands = step.candidates?.[i];
          if (!isAccept(r) || !cands) return;
          for (const f of got.filter((g) => g.socket === r)) expect(f.group, at).toBe(cands.length > 1 ? cands.join(',') : '');
        });
        // One connection: the rule and its citation are the report's reason.
        if (results.length === 1 && got.length > 0 && step.reason) {
          for (const f of got) expect(f.citation ? `${f.rule} [${f.citation}]` : f.rule, at).toBe(step.reason);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('`bindlab.socket == "X"` selects exactly the SYN and SYN-ACK of the connections the report gives X, in every capture', async ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    // One tshark per round; round k asks, in every capture at once, for its k-th accepting socket.
    const names = parts.map((p) => {
      const all = p.steps ? p.steps.flatMap((s) => (s.kind === 'connect' ? s.results ?? [s.result] : [])) : p.replay!.connections.map((c) => c.result);
      return [...new Set(all.filter(isAccept))].map((name) => ({ name, connections: all.filter((x) => x === name).length }));
    });
    const rounds = Math.max(...names.map((n) => n.length));
    expect(rounds).toBeGreaterThan(1);
    for (let k = 0; k < rounds; k++) {
      const asked = parts.flatMap((p, i) => (names[i]![k] ? [{ part: p, ...names[i]![k]! }] : []));
      const filter = asked.map((a) => `(frame.number >= ${a.part.first} && frame.number <= ${a.part.last} && bindlab.socket == "${a.name}")`).join(' || ');
      const got = await select(filter);
      for (const a of asked) {
        const sel = got.filter((n) => n >= a.part.first && n <= a.part.last);
        const where = `${a.part.name} ${a.part.policy}: bindlab.socket == "${a.name}"`;
        const byNumber = new Map(frames.map((f) => [f.number, f]));
        const fs = sel.map((n) => byNumber.get(n)!);
        expect(fs.filter((f) => f.syn && !f.ack).length, where).toBe(a.connections);
        expect(fs.filter((f) => f.syn && f.ack).length, where).toBe(a.connections);
        // A run: nothing else. A replay: the emulated banner too, when it says the verdict.
        if (a.part.steps) expect(sel.length, where).toBe(2 * a.connections);
        else expect(fs.filter((f) => !f.syn).every((f) => f.agree !== ''), where).toBe(true);
      }
    }
  }, 120_000);

  it('`bindlab.result == "refused" && bindlab.policy == "linux"` selects the SYN and RST of every connection linux refused', async ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    const got = await select('bindlab.result == "refused" && bindlab.policy == "linux"');
    let want = 0;
    for (const p of parts.filter((x) => x.policy === 'linux')) {
      if (p.steps) want += p.steps.flatMap((s) => (s.kind === 'connect' ? s.results ?? [s.result] : [])).filter((r) => r === 'refused').length;
      else want += p.replay!.connections.filter((c) => c.result === 'refused').length;
    }
    expect(want).toBeGreaterThan(0);
    expect(got.length).toBe(2 * want);
    expect(got.every((n) => partOf(n).policy === 'linux')).toBe(true);
  }, 60_000);

  it('a replay\'s decisions are on the captured SYN and the emulated answer, as its report says', ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    for (const part of parts.filter((p) => p.replay)) {
      const mine = inPart(part);
      for (const c of part.replay!.connections) {
        const [host, port] = [c.server.slice(0, c.server.lastIndexOf(':')), c.server.slice(c.server.lastIndexOf(':') + 1)];
        expect(mine.some((f) => f.to === `${host}:${port}`), `${part.policy} ${c.server}`).toBe(true);
      }
      const results = part.replay!.connections.map((c) => c.result);
      for (const name of new Set(results.filter(isAccept))) {
        const n = results.filter((r) => r === name).length;
        const sel = mine.filter((f) => f.socket === name);
        expect(sel.filter((f) => f.syn && f.ack).length, `${part.policy} ${name}`).toBe(n);
        expect(sel.filter((f) => f.syn && !f.ack).length, `${part.policy} ${name}`).toBe(n);
      }
    }
  });
});

describe('a replay\'s verdicts in Wireshark', () => {
  it('the emulated answer and banner say whether the policy agrees with what the capture had shown by then, as the report judges it', ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    let verdicts = 0, final = 0, disagree = 0;
    for (const part of parts.filter((p) => p.replay)) {
      const mine = inPart(part);
      const conns = part.replay!.connections;
      for (const c of conns) {
        const port = c.client.slice(c.client.lastIndexOf(':') + 1);
        if (conns.filter((x) => x.client === c.client).length > 1) continue; // a reused port: not one connection's packets
        const own = mine.filter((f) => f.ports.includes(port) && f.agree !== '');
        for (const f of own) {
          verdicts++;
          // The verdict on what the capture had shown when the packet was written: the report's rule (agreement()).
          expect(on(f.agree), `${part.policy} ${c.client} frame ${f.number}`).toBe(agreement(f.observed, c, part.policy).agrees);
          if (f.observed === c.observed && c.agreement) {
            final++;
            expect(on(f.agree), `${part.policy} ${c.client} frame ${f.number}`).toBe(c.agreement.agrees);
            if (!c.agreement.agrees) disagree++;
          }
        }
      }
    }
    expect(verdicts).toBeGreaterThan(0);
    expect(final).toBeGreaterThan(0);
    expect(disagree).toBeGreaterThan(0);
  });

  it('`bindlab.agree == 0` selects only emulated server packets of connections the policy decided otherwise than the capture shows', async ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    const got = await select('bindlab.agree == 0');
    const byNumber = new Map(frames.map((f) => [f.number, f]));
    expect(got.length).toBeGreaterThan(0);
    for (const n of got) {
      const part = partOf(n);
      expect(part.replay, `frame ${n}`).toBeDefined();
      const f = byNumber.get(n)!;
      // Sent by the server side: its source port is the scenario server's.
      expect(f.to.endsWith(`:${f.ports[0]}`), `frame ${n}`).toBe(true);
      const c = part.replay!.connections.find((x) => f.ports.includes(x.client.slice(x.client.lastIndexOf(':') + 1)))!;
      expect(c.agreement?.agrees === false || agreement(f.observed, c).agrees === false, `frame ${n}`).toBe(true);
    }
  }, 60_000);
});

describe('the bindlab profile, installed under a home of its own', () => {
  const home = mkdtempSync(join(tmpdir(), 'bindlab-wireshark-home-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.XDG_CONFIG_HOME;
  delete env.WIRESHARK_CONFIG_DIR;

  it('loads with -C without warnings, colours another uid\'s accept red and refusals grey, and shows its columns', async ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    installWireshark({ HOME: home });
    const hijack = parts.find((p) => p.name === 'scenarios/hijack.yaml' && p.policy === 'pajari-1999')!;
    const args = ['-C', 'bindlab', '-r', merged, '-Y', `frame.number >= ${hijack.first} && frame.number <= ${hijack.last}`];
    // The plugin comes from the personal plugin folder here, not -X.
    const colours = await run('tshark', [...args, '--color', '-T', 'fields', '-e', 'frame.number', '-e', 'frame.coloring_rule.name', '-e', 'bindlab.socket', '-e', 'bindlab.result'], { env });
    const noise = (s: string) => s.split('\n').filter((l) => l !== '' && !/^Running as user "root"/.test(l));
    expect(noise(colours.stderr)).toEqual([]);
    const rows = colours.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    const rule = (pred: (r: string[]) => boolean) => [...new Set(rows.filter(pred).map((r) => r[1]))];
    expect(rule((r) => r[2] === 'steal')).toEqual(['bindlab: another uid took the connection']);
    expect(rule((r) => r[2] === 'web')).toEqual(['bindlab: accepted']);
    const refused = parts.find((p) => p.name === 'scenarios/pajari-1999.yaml' && p.policy === 'linux')!;
    const grey = await run('tshark', ['-C', 'bindlab', '-r', merged, '--color', '-Y', `frame.number >= ${refused.first} && frame.number <= ${refused.last} && bindlab.result == "refused"`,
      '-T', 'fields', '-e', 'frame.coloring_rule.name'], { env });
    expect([...new Set(grey.stdout.split('\n').filter((l) => l !== ''))]).toEqual(['bindlab: refused (RST)']);
    // The profile's columns in tshark's one-line summary: policy, result, accepted by, uid, rule.
    const summary = await run('tshark', [...args, '-Y', `frame.number >= ${hijack.first} && frame.number <= ${hijack.last} && bindlab.socket == "steal"`], { env });
    expect(noise(summary.stderr)).toEqual([]);
    const lines = summary.stdout.split('\n').filter((l) => l !== '');
    expect(lines.length).toBe(2);
    for (const l of lines) expect(l).toMatch(/pajari-1999 accepted server\/mallory\/steal 1001 specific-address socket server\/mallory\/steal/);
  }, 60_000);
});

describe('a replay\'s references in Wireshark', () => {
  it('bindlab.lua finds the record a reference stands for by the same key (UTF-8 record), and notes a reference to no earlier record', async ({ skip: skipIt }) => {
    if (skip) return skipIt(skip);
    // Three packets carrying: a record in full (a non-ASCII socket name), a reference to it, a reference to nothing.
    const src = openCapture(join(ROOT, 'captures/reuseport.pcap'));
    let frame: Uint8Array;
    try {
      while (src.next() && src.caplen < 54);
      frame = src.data.slice(src.offset, src.offset + src.caplen);
    } finally {
      src.close();
    }
    const record = 'bindlab/1 {"policy":"linux","result":"accepted","to":"10.0.0.1:8080","host":"server","process":"w\u00e9b","socket":"caf\u00e9","uid":7,"rule":"r"}';
    const file = join(tmp, 'references.pcapng');
    const w = new PcapngWriter(file, { startEpochSeconds: 1_000_000 });
    const id = w.addInterface({ name: 'lan', linkType: 1, snaplen: 262144 });
    w.packet(id, 0, frame, frame.length, 'bindlab linux: SYN to 10.0.0.1:8080 accepted by server/w\u00e9b/caf\u00e9. r', record);
    w.packet(id, 1000, frame, frame.length, 'bindlab linux: SYN to 10.0.0.1:8080 accepted by server/w\u00e9b/caf\u00e9', recordReference(record));
    w.packet(id, 2000, frame, frame.length, undefined, recordReference(record.replace('"uid":7', '"uid":8')));
    w.finish();
    const { stdout } = await tshark(['-r', file, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', '-e', 'bindlab.accepted_by', '-e', 'bindlab.uid',
      '-e', '_ws.expert.message']);
    const rows = stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    expect(rows[0]!.slice(0, 2)).toEqual(['server/w\u00e9b/caf\u00e9', '7']);
    expect(rows[1]!.slice(0, 2)).toEqual(['server/w\u00e9b/caf\u00e9', '7']);
    expect(rows[2]!.slice(0, 2)).toEqual(['', '']);
    expect(rows[2]![2]).toMatch(/bindlab record: refers to a record \(key [0-9a-f]{12}\) that no earlier packet carries in full/);
  });
});
