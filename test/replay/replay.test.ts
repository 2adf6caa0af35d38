// bindlab replay: the library over the fixtures and the real-kernel captures, and the CLI's bad
// input, --map, --json and Ctrl-C behaviour through the built binary.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { replayCapture } from '../../src/replay/replay.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { openCapture, readCaptureBytes } from '../../src/pcap/index.js';
import { parseIp } from '../../src/emu/addr.js';
import { PcapWriter } from '../../src/pcap/pcap-writer.js';
import { conversation } from '../pcap/fixture-captures.js';
import { FAST } from '../tools.js';

const ROOT = path.join(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/bin/bindlab.js');
const FIX = path.join(ROOT, 'test/pcap/fixtures');
const WEB = path.join(ROOT, 'test/replay/fixtures/web.yaml');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-replay-'));

beforeAll(() => {
  // Other work in progress may fail type checking; tsc still emits, and the CLI is what is tested.
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { encoding: 'utf8' });
  if (!fs.existsSync(CLI)) throw new Error('no dist/bin/bindlab.js');
}, 120_000);

const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });

describe('replay over the fixtures (every link type and file flavour)', () => {
  const files = fs.readdirSync(FIX);
  it.each(files)('%s', async (name) => {
    const out = path.join(tmp, name);
    const r = await replayCapture(path.join(FIX, name), loadScenarioFile(WEB), { outDir: out });
    const linux = r.policies['linux']!;
    expect(linux.connections.map((c) => [c.client, c.server, c.result])).toEqual([
      ['10.0.0.100:40000', '10.0.0.1:80', 'web'],
      ['10.0.0.100:40002', '10.0.0.2:81', 'refused'],
      ['[fd00::100]:40006', '[fd00::1]:80', 'web6'],
    ]);
    expect(linux.connections[0]!.observed).toBe('web');
    expect(r.skipped['not-to-a-scenario-host']).toBe(1);
    // The fixtures' UDP packet (a TCP frame with its protocol changed) has a UDP length of 0: malformed UDP, not "not TCP".
    expect(r.skipped['not-tcp']).toBe(0);
    expect(r.skipped.malformed).toBe(1);
    expect(r.skipped.fragment).toBe(1);
    expect(r.skipped.truncated).toBe(name.includes('snaplen') ? 1 : 0);
    expect(r.skipped['not-ip']).toBe(name.startsWith('raw') || name.startsWith('null') ? 0 : 1);
    expect(r.replaced).toBe(3);
    // The output: the client's 5 packets of the web connection, 2 SYNs; the server's SYN-ACK, banner, FIN, RST, SYN-ACK.
    const o = readCaptureBytes(fs.readFileSync(linux.output!));
    let n = 0;
    while (o.next()) { n++; expect(o.linkType).toBe(1); }
    expect(n).toBe(5 + 2 + 5);
    expect(fs.readdirSync(out)).toEqual([`${path.basename(name, path.extname(name))}.linux.pcapng`]);
  });
});

describe('replay of the real-kernel captures under linux matches what the kernel did', () => {
  const caps = fs.readdirSync(path.join(ROOT, 'captures')).filter((f) => /\.(pcap|pcapng)$/.test(f));
  it('has captures', () => { expect(caps.length).toBeGreaterThanOrEqual(3); });
  it.each(caps)('%s', async (name) => {
    const file = path.join(ROOT, 'captures', name);
    expect(fs.statSync(file).size).toBeLessThan(1 << 20);
    const scenario = loadScenarioFile(path.join(ROOT, 'captures', `${name.split('.')[0]}.yaml`));
    const r = await replayCapture(file, scenario, { policies: ['linux'] });
    const conns = r.policies['linux']!.connections;
    const wanted = scenario.steps.filter((s) => s.kind === 'connect').reduce((n, s) => n + (s.kind === 'connect' ? s.count : 0), 0);
    expect(conns.length).toBe(wanted);
    for (const c of conns) {
      // The kernel's answer is in the capture: the banner names the socket, or an RST.
      expect(c.observed, `${c.client} -> ${c.server}`).toBeDefined();
      // Within a SO_REUSEPORT group the kernel hashes with its own secret: any member will do.
      if (c.candidates) expect(c.candidates, `${c.client} -> ${c.server}`).toContain(c.observed);
      else expect(c.result, `${c.client} -> ${c.server}`).toBe(c.observed);
    }
    // Datagrams (UDP captures): each answered by the socket the policy picks (its reply names it), or by an ICMP port unreachable.
    const datagrams = r.policies['linux']!.datagrams;
    expect(datagrams.length).toBe(scenario.steps.reduce((n, s) => n + (s.kind === 'datagram' ? s.count : 0), 0));
    for (const d of datagrams) {
      if (d.candidates) expect(d.candidates, `${d.client} -> ${d.server}`).toContain(d.observed);
      else expect(d.result, `${d.client} -> ${d.server}`).toBe(d.observed);
    }
    // Every TCP capture has a refused connection too.
    if (conns.length > 0) expect(conns.some((c) => c.result === 'refused')).toBe(true);
  });
});

describe('an OS without IPv6: one answer in run and in replay', () => {
  it.each(['bsd44', 'linux-1.3.60'])('%s: the IPv6 connections are unreachable in both, and the output has no server packet over IPv6', async (policy) => {
    const scenario = loadScenarioFile(path.join(ROOT, 'captures/dual-stack.yaml'));
    const ran = runScenario(scenario, { policies: [policy], outDir: null }).policies[policy]!;
    const v6run = ran.steps.filter((r) => { const s = scenario.steps[r.index]!; return s.kind === 'connect' && s.to.addr.family === 6; }).map((r) => r.result);
    expect(v6run.length).toBeGreaterThan(0);
    expect(new Set(v6run)).toEqual(new Set(['unreachable']));
    const out = path.join(tmp, `no-ipv6-${policy}`);
    const r = await replayCapture(path.join(ROOT, 'captures/dual-stack.pcapng'), scenario, { policies: [policy], outDir: out });
    const conns = r.policies[policy]!.connections;
    const v6 = conns.filter((c) => c.server.startsWith('['));
    expect(v6.length).toBe(4);
    expect(new Set(v6.map((c) => c.result))).toEqual(new Set(['unreachable']));
    expect(conns.filter((c) => !c.server.startsWith('[')).every((c) => c.result !== 'unreachable')).toBe(true);
    // The output: IPv6 frames are only the client's (the SYNs, with the decision's comment).
    const o = readCaptureBytes(fs.readFileSync(r.policies[policy]!.output!));
    let v6frames = 0;
    while (o.next()) {
      const d = o.data, at = o.offset;
      if (d[at + 12] === 0x86 && d[at + 13] === 0xdd) {
        v6frames++;
        expect(Buffer.from(d.subarray(at + 6, at + 12)).toString('hex')).toBe('020000000064');
        expect(d[at + 14 + 40 + 13]! & 0x12).toBe(0x02);
      }
    }
    expect(v6frames).toBeGreaterThanOrEqual(4);
  });
});

describe('several policies in one replay', () => {
  // Where policies' servers answer alike, a client packet's frame is built once and copied into
  // the other outputs: each output must still be byte for byte the one its policy writes alone.
  const caps = fs.readdirSync(path.join(ROOT, 'captures')).filter((f) => /\.(pcap|pcapng)$/.test(f));
  it.each(caps)('%s: every policy\'s output is the one it writes when replayed alone', async (name) => {
    const file = path.join(ROOT, 'captures', name);
    const scenario = loadScenarioFile(path.join(ROOT, 'captures', `${name.split('.')[0]}.yaml`));
    const all = path.join(tmp, `all-${name}`);
    const r = await replayCapture(file, scenario, { outDir: all, jobs: 1 });
    const policies = Object.keys(r.policies);
    expect(policies.length).toBeGreaterThanOrEqual(9);
    for (const p of policies) {
      const alone = path.join(tmp, `alone-${name}-${p}`);
      await replayCapture(file, scenario, { policies: [p], outDir: alone });
      const a = fs.readFileSync(r.policies[p]!.output!);
      const b = fs.readFileSync(path.join(alone, path.basename(r.policies[p]!.output!)));
      expect(Buffer.compare(a, b), `${name} under ${p}`).toBe(0);
    }
  });
});

describe('bindlab replay (CLI)', () => {
  it('prints the report with --json and writes one capture per policy', () => {
    const out = path.join(tmp, 'cli-json');
    const r = cli(['replay', 'captures/reuseport.pcap', '-s', 'captures/reuseport.yaml', '-p', 'linux', '-p', 'pajari-1999', '-o', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as { capture: string; scenario: string; skipped: Record<string, number>; policies: Record<string, { connections: { result: string }[]; output: string }> };
    expect(rep.capture).toBe('captures/reuseport.pcap');
    expect(Object.keys(rep.policies)).toEqual(['linux', 'pajari-1999']);
    expect(rep.policies['pajari-1999']!.connections.filter((c) => c.result === 'a2')).toHaveLength(0);
    expect(fs.readdirSync(out).sort()).toEqual(['reuseport.linux.pcapng', 'reuseport.pajari-1999.pcapng']);
    if (FAST) return; // tshark is not used by npm run test:fast (test/tools.ts)
    const tshark = spawnSync('tshark', ['-r', path.join(out, 'reuseport.linux.pcapng'), '-Y', 'frame.comment', '-T', 'fields', '-e', 'frame.comment'], { encoding: 'utf8' });
    if (tshark.status === 0) expect(tshark.stdout).toContain('bindlab linux: SYN to 10.0.0.2:8080 accepted by server/alias/a2');
  });

  it('prints a summary per policy', () => {
    const r = cli(['replay', 'captures/reuseport.pcap', '-s', 'captures/reuseport.yaml', '-p', 'linux', '-o', path.join(tmp, 'cli-sum')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/policy +a2 +w1 +w2 +refused +agree with the capture +output/);
    // The kernel's SO_REUSEPORT picks are members of the group linux picks from: all 14 agree.
    expect(r.stdout).toMatch(/^linux +3 +\d+ +\d+ +3 +14 of 14 /m);
    expect(r.stdout).not.toContain('disagrees');
  });

  it('--map puts a captured address on a scenario address', async () => {
    const sc = loadScenarioFile(WEB);
    const r = await replayCapture(path.join(FIX, 'eth-vlan-be-us.pcap'), sc, { map: new Map([['10.9.9.9', parseIp('10.0.0.1')!]]) });
    expect(r.policies['linux']!.connections.map((c) => c.server)).toContain('10.0.0.1:80');
    expect(r.skipped['not-to-a-scenario-host']).toBe(0);
    const bad = cli(['replay', 'test/pcap/fixtures/raw-be-ns.pcap', '-s', WEB, '--map', '10.9.9.9=fd00::1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('bindlab: --map 10.9.9.9=fd00::1: both addresses must be of one family\n');
  });

  it.each([
    ['bad magic', Buffer.from('this is not a capture'), /: byte 0: bad magic 0x74686973/],
    ['truncated, in two threads', fs.readFileSync(path.join(ROOT, 'captures/reuseport.pcap')).subarray(0, 500), /: byte \d+: truncated packet: record of \d+ bytes, the file ends after \d+/],
    ['truncated', fs.readFileSync(path.join(ROOT, 'captures/reuseport.pcap')).subarray(0, 500), /: byte \d+: truncated packet: record of \d+ bytes, the file ends after \d+/],
    ['unknown link type', Buffer.concat([Buffer.from([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 147, 0, 0, 0])]), /: byte 20: unknown link type 147/],
  ])('%s: exit 2, the byte offset, nothing left behind', (name, bytes, msg) => {
    const file = path.join(tmp, `${name.replace(/ /g, '-')}.pcap`);
    fs.writeFileSync(file, bytes);
    const out = path.join(tmp, `out-${name.replace(/ /g, '-')}`);
    const threads = name.endsWith('two threads') ? ['-j', '2', '-p', 'freebsd', '-p', 'windows'] : [];
    // A capture cut inside its last record is replayed up to the cut unless --strict (inputs.test.ts).
    const strict = name.startsWith('truncated') ? ['--strict'] : [];
    const r = cli(['replay', file, '-s', 'captures/reuseport.yaml', '-o', out, '-p', 'linux', ...threads, ...strict]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.startsWith(`bindlab: ${file}: byte `)).toBe(true);
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
  });

  it('draws a progress bar on a terminal (script(1) gives the CLI one), none otherwise', () => {
    const args = ['replay', path.join(ROOT, 'captures/reuseport.pcap'), '-s', path.join(ROOT, 'captures/reuseport.yaml'), '-p', 'linux', '--no-output'];
    if (spawnSync('script', ['--version']).status !== 0) {
      console.log('skipped: script(1) from util-linux is not installed, so the CLI cannot be given a terminal');
      return;
    }
    const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8' });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/replay \[[^\]]*\] 100% \| [\d.]+\/[\d.]+ MiB/);
    const plain = cli(args);
    expect(plain.status).toBe(0);
    expect(plain.stderr).toBe('');
  });

  it.each([['one thread', '1'], ['three threads', '3']])('Ctrl-C stops cleanly and leaves no partial output (%s)', async (_name, jobs) => {
    // A capture long enough to be interrupted: the fixture conversation 40,000 times.
    const big = path.join(tmp, `long-${jobs}.pcap`);
    const w = new PcapWriter(big, { startEpochSeconds: 1_764_000_000, tsresol: 'us' });
    w.addInterface({ name: 'eth0', linkType: 1, snaplen: 262144 });
    const conv = conversation();
    for (let i = 0; i < 40_000; i++) for (const p of conv) w.packet(0, i * 2e6 + p.t * 1000, p.frame, p.frame.length);
    w.finish();
    const out = path.join(tmp, `interrupted-${jobs}`);
    const child = spawn(process.execPath, [CLI, 'replay', big, '-s', WEB, '-o', out, '-j', jobs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    // Interrupt once it is replaying (the bar is off: not a TTY; wait for the output directory).
    for (let i = 0; i < 200 && child.exitCode === null && !fs.existsSync(out); i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 100));
    if (child.exitCode === null) child.kill('SIGINT');
    const code = await exited;
    if (code === 0) { console.warn("replay finished before the signal"); return; } // nothing to check on this machine
    expect(code).toBe(130);
    expect(stderr).toContain('replay interrupted; no output written');
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
  }, 60_000);

  it('several threads write the same bytes and report as one thread (--jobs)', () => {
    const read = (dir: string) => Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f))]));
    for (const [capture, scenario] of [['captures/reuseport.pcap', 'captures/reuseport.yaml'], ['captures/dual-stack.pcapng', 'captures/dual-stack.yaml']] as const) {
      const out = path.join(tmp, `jobs-${path.basename(capture)}`);
      const one = cli(['replay', capture, '-s', scenario, '-o', out, '--json', '-j', '1']);
      expect(one.status, one.stderr).toBe(0);
      const files = read(out);
      fs.rmSync(out, { recursive: true });
      const three = cli(['replay', capture, '-s', scenario, '-o', out, '--json', '-j', '3']);
      expect(three.status, three.stderr).toBe(0);
      expect(three.stdout).toBe(one.stdout);
      expect(Object.keys(files)).toHaveLength(9);
      const again = read(out);
      expect(Object.keys(again)).toEqual(Object.keys(files));
      for (const f of Object.keys(files)) expect(Buffer.compare(again[f]!, files[f]!), f).toBe(0);
    }
  }, 60_000);

  it('--jobs must be a whole number of threads', () => {
    const r = cli(['replay', 'captures/reuseport.pcap', '-s', 'captures/reuseport.yaml', '-j', '0']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('bindlab: --jobs 0: want a whole number of threads, 1 or more\n');
  });

  it("replays under the scenario's own policies (a custom policy without SO_REUSEPORT: the later binds on 8080 fail)", async () => {
    const text = fs.readFileSync(path.join(ROOT, 'captures/reuseport.yaml'), 'utf8')
      .replace('hosts:', 'policies: [linux, { name: no-reuseport, extends: linux, rules: { reuseport: none } }]\nhosts:');
    const file = path.join(tmp, 'custom-policy.yaml');
    fs.writeFileSync(file, text);
    const r = await replayCapture(path.join(ROOT, 'captures/reuseport.pcap'), loadScenarioFile(file), { outDir: path.join(tmp, 'custom-out') });
    expect(Object.keys(r.policies)).toEqual(['linux', 'no-reuseport']);
    // 8 connections reach the pair on the wildcard: shared under linux. Without SO_REUSEPORT the
    // binds of w2 and of a2 (on an alias, over the wildcard) fail: w1 takes all 11 to port 8080.
    expect((r.policies.linux!.results.w1 ?? 0) + (r.policies.linux!.results.w2 ?? 0)).toBe(8);
    expect(r.policies.linux!.results.w2).toBeGreaterThan(0);
    expect(r.policies['no-reuseport']!.results.w1).toBe(11);
    expect(r.policies['no-reuseport']!.results.w2).toBeUndefined();
    expect(r.policies['no-reuseport']!.results.a2).toBeUndefined();
    expect(fs.existsSync(path.join(tmp, 'custom-out', 'reuseport.no-reuseport.pcapng'))).toBe(true);
  });

  it('a capture of several MiB (the reader refills its buffer): every output frame is between its client\'s MAC and the server\'s', () => {
    // The conversation 20,000 times, the client's MAC's last byte changing each time (i % 200).
    const big = path.join(tmp, 'macs.pcap');
    const w = new PcapWriter(big, { startEpochSeconds: 1_764_000_000, tsresol: 'us' });
    w.addInterface({ name: 'eth0', linkType: 1, snaplen: 262144 });
    const conv = conversation();
    for (let i = 0; i < 20_000; i++) {
      for (const p of conv) {
        const f = Uint8Array.from(p.frame);
        if (f[11] === 0x64) f[11] = i % 200; // the client's frame: its source MAC
        else if (f[5] === 0x64) f[5] = i % 200; // the server's: its destination
        w.packet(0, i * 2e6 + p.t * 1000, f, f.length);
      }
    }
    w.finish();
    expect(fs.statSync(big).size).toBeGreaterThan(4 << 20);
    const out = path.join(tmp, 'macs-out');
    const r = cli(['replay', big, '-s', WEB, '-o', out, '-p', 'linux', '--no-progress']);
    expect(r.status, r.stderr).toBe(0);
    const server = '020000000001';
    const clients = new Set<string>();
    const reader = openCapture(path.join(out, 'macs.linux.pcapng'));
    let frames = 0;
    try {
      while (reader.next()) {
        const hex = Buffer.from(reader.data.subarray(reader.offset, reader.offset + 12)).toString('hex');
        const [dst, src] = [hex.slice(0, 12), hex.slice(12, 24)];
        const client = dst === server ? src : dst;
        expect(dst === server || src === server, `frame ${reader.index}: ${hex}`).toBe(true);
        expect(client.slice(0, 10), `frame ${reader.index}: ${hex}`).toBe('0200000000');
        clients.add(client);
        frames++;
      }
    } finally { reader.close(); }
    expect(frames).toBeGreaterThan(100_000);
    expect(clients.size).toBe(200);
  }, 60_000);

  it('a SYN flood past the tracked-connection bound: every SYN decided, memory bounded', () => {
    // 100,000 SYNs that never complete, from 16 addresses, to the web listener.
    const flood = path.join(tmp, 'flood.pcap');
    const w = new PcapWriter(flood, { startEpochSeconds: 1_764_000_000, tsresol: 'us' });
    w.addInterface({ name: 'eth0', linkType: 1, snaplen: 262144 });
    const syn = conversation()[1]!.frame;
    const f = Uint8Array.from(syn);
    const dv = new DataView(f.buffer);
    for (let i = 0; i < 100_000; i++) {
      f[29] = 100 + (i % 16); // 10.0.0.100..115
      dv.setUint16(24, 0); // the IPv4 checksum: replay recomputes it
      dv.setUint16(34, 1024 + Math.floor(i / 16));
      dv.setUint32(38, (i * 2654435761) >>> 0);
      w.packet(0, i * 1000, f, f.length);
    }
    w.finish();
    const time = fs.existsSync('/usr/bin/time');
    const args = ['replay', flood, '-s', WEB, '-o', path.join(tmp, 'flood-out'), '-p', 'linux', '-p', 'bsd44', '--no-progress'];
    const r = time
      ? spawnSync('/usr/bin/time', ['-f', 'maxrss %M', process.execPath, CLI, ...args], { cwd: ROOT, encoding: 'utf8' })
      : cli(args);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/100,?000/);
    if (time) {
      const kib = Number(/maxrss (\d+)/.exec(r.stderr)![1]);
      expect(kib / 1024).toBeLessThan(150);
    } else console.warn('no /usr/bin/time: peak memory not checked');
    const json = spawnSync(process.execPath, [CLI, 'replay', flood, '-s', WEB, '-p', 'linux', '--no-output', '--json', '--no-progress'],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
    const report = JSON.parse(json.stdout);
    expect(report.attempts).toBe(100_000);
    expect(report.policies.linux.results.web).toBe(100_000);
  }, 120_000);
});
