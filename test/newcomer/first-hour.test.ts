// Issue 15, "a newcomer's first hour": what a new user meets in the first minutes, each as a test
// that failed before the fix. The CLI through the built binary; the library where it is the API.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderMatrix } from '../../src/cli/matrix.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile, parseScenario } from '../../src/scenario/load.js';
import { ScenarioErrors } from '../../src/scenario/types.js';
import { collectScenarioFiles, testScenarios } from '../../src/testing/suite.js';
import { kernelAvailable } from '../../src/kernel/run-kernel.js';
import { CLI, cli, ensureBuilt, ROOT, scratch } from '../testing/helpers.js';
import { FAST } from '../tools.js';

let tmp = '';
beforeAll(() => { ensureBuilt(); tmp = scratch('newcomer'); }, 300_000);
afterAll(() => { rmSync(tmp, { recursive: true, force: true }); });

const ONE = `name: one listener
policies: [linux]
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    processes:
      p: { uid: 0 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
  - socket: a
    process: server/p
  - bind: a
    address: 0.0.0.0:8080
  - listen: a
  - connect: { from: client, to: 10.0.0.1:8080 }
`;

describe('bindlab test . in a project that installed bindlab (item 3)', () => {
  it('skips node_modules and hidden folders when searching a directory, not files named outright', async () => {
    const project = join(tmp, 'project');
    mkdirSync(join(project, 'node_modules/bindlab/scenarios'), { recursive: true });
    mkdirSync(join(project, '.cache'), { recursive: true });
    mkdirSync(join(project, 'mine'), { recursive: true });
    cpSync(join(ROOT, 'scenarios/hijack.yaml'), join(project, 'node_modules/bindlab/scenarios/hijack.yaml'));
    writeFileSync(join(project, '.cache/old.yaml'), ONE);
    writeFileSync(join(project, 'mine/one.yaml'), ONE);
    expect(collectScenarioFiles([project])).toEqual([join(project, 'mine/one.yaml')]);
    expect((await testScenarios([project])).scenarios.map((s) => s.file)).toEqual([join(project, 'mine/one.yaml')]);
    // Named outright, a hidden folder is searched.
    expect(collectScenarioFiles([join(project, '.cache')])).toEqual([join(project, '.cache/old.yaml')]);
    const r = cli(['test', '.'], { cwd: project });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('PASS mine/one.yaml');
    expect(r.stdout).not.toContain('hijack');
  });
});

describe('--json has one shape for one file or many (item 5)', () => {
  it('one report object per line, each as SCENARIO.md gives it', () => {
    const a = join(tmp, 'a.yaml');
    writeFileSync(a, ONE);
    const one = cli(['run', a, '--no-capture', '--json']);
    const two = cli(['run', a, 'scenarios/hijack.yaml', '--no-capture', '-p', 'linux', '--json']);
    expect(one.status).toBe(0);
    const lines = (s: string) => s.trimEnd().split('\n').map((l) => JSON.parse(l) as { file: string; policies: object });
    expect(lines(one.stdout)).toHaveLength(1);
    expect(lines(two.stdout).map((r) => r.file)).toEqual([a, 'scenarios/hijack.yaml']);
    for (const r of [...lines(one.stdout), ...lines(two.stdout)]) {
      expect(Array.isArray(r)).toBe(false);
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['scenario', 'file', 'policies']));
    }
  });
});

describe('the matrix (items 6 and 11)', () => {
  it("shows a connect's source: (three connects that differ only in it are three distinct rows)", () => {
    const text = ONE.replace(/  - connect: .*\n$/, `  - connect: { from: client, to: 10.0.0.1:8080, source: 10.0.0.100 }
  - connect: { from: client, to: 10.0.0.1:8080, source: "10.0.0.100:40000" }
  - connect: { from: client, to: 10.0.0.1:8080, source: 0.0.0.0 }
`);
    const sc = parseScenario(text, 'src.yaml');
    const m = renderMatrix(sc, runScenario(sc, { outDir: null }), { color: false });
    expect(m).toMatch(/connect client from 10\.0\.0\.100 -> 10\.0\.0\.1:8080/);
    expect(m).toMatch(/connect client from 10\.0\.0\.100:40000 -> 10\.0\.0\.1:8080/);
    expect(m).toMatch(/connect client from 0\.0\.0\.0 -> 10\.0\.0\.1:8080/);
  });

  it('with several files, each matrix names its file', () => {
    const r = cli(['run', 'scenarios/hijack.yaml', 'scenarios/loopback.yaml', '--no-capture', '-p', 'linux']);
    expect(r.stdout).toMatch(/^.*\(scenarios\/hijack\.yaml\)$/m);
    expect(r.stdout).toMatch(/^.*\(scenarios\/loopback\.yaml\)$/m);
  });

  it.each([100, 80])('npm start (the 1999 scenario, every policy) fits a %i-column terminal', (columns) => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    const args = pkg.scripts.start.split(' ').slice(2);
    const r = spawnSync(process.execPath, [CLI, ...args, '--no-capture'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: String(columns) } });
    expect(r.status).toBe(0);
    for (const l of r.stdout.split('\n')) expect(l.length, l).toBeLessThanOrEqual(columns);
    // Every policy is named, and the 1999 answer is there: pajari-1999 gives 10.0.0.12 to fax12.
    for (const p of ['linux-1.3.60', 'pajari-1999', 'linux-2.2', 'linux', 'bsd44', 'freebsd', 'macos', 'windows', 'illumos']) expect(r.stdout).toMatch(new RegExp(`(^|\\s)${p}(\\s|$)`, 'm'));
    expect(r.stdout).toMatch(/≠\s+21\s+connect client ->.*\sany\s+fax12\s/);
  });
});

describe('small things of the first minutes (item 9)', () => {
  it('--version prints the package version', () => {
    const r = cli(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('counts read as English: 1 host, 1 policy, no expectations', () => {
    const a = join(tmp, 'single.yaml');
    writeFileSync(a, ONE.replace(/  client:\n.*\n.*\n/, '').replace(/  - connect: .*\n$/, ''));
    expect(cli(['validate', a]).stdout).toBe(`${a}: ok (1 host, 3 steps)\n`);
    expect(cli(['test', a]).stdout).toContain('(1 policy, 3 steps, 0 expectations)');
    const run = cli(['run', a, '--no-capture']);
    expect(run.stdout).toContain('linux: no expectations');
    expect(run.stdout).not.toContain('expectations 0 passed');
  });

  it('the ≠ legend only when more than one policy ran', () => {
    expect(cli(['run', 'scenarios/hijack.yaml', '--no-capture', '-p', 'linux']).stdout).not.toContain('≠');
    expect(cli(['run', 'scenarios/hijack.yaml', '--no-capture', '-p', 'linux', '-p', 'bsd44']).stdout).toContain('≠ policies disagree');
  });

  it.each([
    [['run', '--bogus', 'f.yaml'], 'run: unknown option --bogus'],
    [['run', 'f.yaml', '--bogus'], 'run: unknown option --bogus'],
    [['test', '-x'], 'test: unknown option -x'],
  ])('%j names the unknown option', (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toContain('needs more arguments');
  });

  it('bindlab test without a scenarios/ folder says so, with what to do', () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty, { recursive: true });
    const r = cli(['test'], { cwd: empty });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bindlab: no scenarios\/ directory here: .*bindlab test PATH/);
    expect(r.stderr).not.toMatch(/ENOENT|:1:1/);
  });

  it('npm install has no peer-dependency conflict (esbuild against vite)', () => {
    const r = spawnSync('npm', ['ls', 'esbuild', '--all'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout + r.stderr).not.toMatch(/invalid|ELSPROBLEMS/);
    expect(r.status).toBe(0);
  }, 120_000);
});

describe('verify-kernel says what a wait: step waits for (item 8)', () => {
  const root = FAST ? { ok: false as const, why: 'BINDLAB_TEST_FAST=1 (npm run test:fast) leaves the kernel out' } : kernelAvailable();
  it.skipIf(!root.ok)(`names the step, the time and the TIME_WAIT connections${root.ok ? '' : ` (skipped: ${root.why})`}`, () => {
    const f = join(tmp, 'wait.yaml');
    writeFileSync(f, ONE.replace(/  - connect: .*\n$/, '  - connect: { from: client, to: 10.0.0.1:8080, close: server }\n  - wait: 1s\n'));
    const r = cli(['verify-kernel', f]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`${f}: step 4 (line 19): wait 1 s on the real clock`);
    expect(r.stderr).toContain('1 connection is in TIME_WAIT');
  }, 120_000);
});

describe('validate reports every file and every independent problem (item 4)', () => {
  const FIVE = `name: five mistakes
seed: x
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.300/24] }
    processes:
      p: { uid: 0, gid: 3 }
  client:
    interfaces:
      eth0: { addresses: [10.0.0.100/24] }
steps:
  - socket: a
    process: server/p
  - bind: a
    address: 0.0.0.0:99999
  - listen: a
    backlog: -1
  - connect: { from: client, to: 10.0.0.1:8080 }
`;
  const CROSS = `name: cross references
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    processes:
      p: { uid: 0 }
steps:
  - socket: a
    process: server/nobody
  - bind: b
    address: 0.0.0.0:80
  - connect: { from: nowhere, to: 10.0.0.1:80 }
  - listen: a
`;

  it('every file is checked; each file has each of its independent problems on a line, none echoing another', () => {
    const five = join(tmp, 'five.yaml');
    const cross = join(tmp, 'cross.yaml');
    writeFileSync(five, FIVE);
    writeFileSync(cross, CROSS);
    const r = cli(['validate', five, 'scenarios/hijack.yaml', cross]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('scenarios/hijack.yaml: ok (2 hosts, 14 steps)\n');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `bindlab: ${five}:2:7: seed: expected an integer, got string "x"`,
      `bindlab: ${five}:6:27: interface address "10.0.0.300/24" is not an IPv4 or IPv6 address with an optional /prefix`,
      `bindlab: ${five}:8:20: unknown key "gid" in process; expected one of: uid`,
      `bindlab: ${five}:16:14: bind address "0.0.0.0:99999" is not an IPv4 or IPv6 address with a port`,
      `bindlab: ${five}:18:14: steps[2].backlog: -1 is out of range 0..2147483647`,
      // The socket step's wrong process does not make "listen: a" an unknown socket too.
      `bindlab: ${cross}:10:14: process "server/nobody": host "server" has no process "nobody"; its processes are: p`,
      `bindlab: ${cross}:11:11: bind names socket "b", which no earlier socket step creates; sockets so far: a`,
      `bindlab: ${cross}:13:22: connect from "nowhere": no host "nowhere"; hosts are: server`,
      'bindlab: 8 problems in 2 files of 3',
    ]);
  });

  it('the library: one ScenarioError (the first problem\'s position) carrying every problem', () => {
    let caught: unknown;
    try { parseScenario(FIVE, 'five.yaml'); } catch (e) { caught = e; }
    expect(caught).toBeInstanceOf(ScenarioErrors);
    const e = caught as ScenarioErrors;
    expect([e.line, e.col]).toEqual([2, 7]);
    expect(e.errors.map((x) => `${x.line}:${x.col}`)).toEqual(['2:7', '6:27', '8:20', '16:14', '18:14']);
  });

  it('a misspelt key is one problem, not also a missing key', () => {
    const text = FIVE.replace('seed: x\n', '').replace('eth0: { addresses: [10.0.0.300/24] }', 'eth0: { adresses: [10.0.0.3/24] }')
      .replace('p: { uid: 0, gid: 3 }', 'p: { uid: 0 }').replace('0.0.0.0:99999', '0.0.0.0:80').replace('backlog: -1', 'backlog: 1');
    expect(() => parseScenario(text, 'typo.yaml')).toThrow(/^typo\.yaml:5:15: unknown key "adresses" in interface; expected one of: mac, addresses, link$/);
  });
});

describe('--format pcap loses nothing in silence (item 7)', () => {
  it('one pcap per link (the LAN and each loopback), together every packet of the pcapng, and the CLI says what pcap cannot hold', () => {
    const sc = loadScenarioFile(join(ROOT, 'scenarios/loopback.yaml'));
    const dir = join(tmp, 'pcap-links');
    const ng = runScenario(sc, { policies: ['linux'], outDir: dir });
    const pcap = runScenario(sc, { policies: ['linux'], outDir: dir, format: 'pcap' });
    const outputs = pcap.policies['linux']!.outputs!;
    expect(outputs.map((p) => p.slice(dir.length + 1))).toEqual(['loopback.linux.lan.pcap', 'loopback.linux.server-lo.pcap', 'loopback.linux.client-lo.pcap']);
    // Records per file, by walking the classic pcap records (24-byte header, 16-byte record headers).
    const records = (p: string): number => {
      const b = readFileSync(p);
      expect(b.readUInt32LE(20)).toBe(1); // LINKTYPE_ETHERNET
      let n = 0;
      for (let at = 24; at < b.length; n++) at += 16 + b.readUInt32LE(at + 8);
      return n;
    };
    const perLink = outputs.map(records);
    for (const n of perLink) expect(n).toBeGreaterThan(0);
    const r = spawnSync('tshark', ['-r', ng.policies['linux']!.output!, '-T', 'fields', '-e', 'frame.interface_name'], { encoding: 'utf8' });
    if (r.status === 0) {
      const names = r.stdout.trim().split('\n');
      expect(perLink).toEqual(['lan', 'server/lo', 'client/lo'].map((l) => names.filter((x) => x === l).length));
    } else {
      expect(perLink.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    }
  });
});

describe('the README\'s library claims hold for the package (item 9)', () => {
  it('openCapture is exported by the package entry (dist/index.js) and reads a shipped capture', async () => {
    const lib = await import(join(ROOT, 'dist/index.js')) as typeof import('../../src/index.js');
    expect(typeof lib.openCapture).toBe('function');
    const reader = lib.openCapture(join(ROOT, 'captures/reuseport.pcap'));
    let n = 0;
    try {
      while (await lib.nextPacket(reader)) n++;
    } finally { reader.close(); }
    expect(n).toBeGreaterThan(0);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain("import { openCapture, nextPacket } from 'bindlab'");
  });
});

describe('generated MACs (item 9)', () => {
  it('are locally administered unicast, deterministic per seed, and named by no Wireshark table', () => {
    const sc = loadScenarioFile(join(ROOT, 'scenarios/pajari-1999.yaml'));
    const dir = join(tmp, 'macs');
    const path = runScenario(sc, { policies: ['linux'], outDir: dir }).policies['linux']!.output!;
    const again = runScenario(sc, { policies: ['linux'], outDir: join(dir, 'again') }).policies['linux']!.output!;
    expect(readFileSync(path).equals(readFileSync(again))).toBe(true);
    const r = spawnSync('tshark', ['-r', path, '-T', 'fields', '-e', 'eth.src', '-e', 'eth.src_resolved'], { encoding: 'utf8' });
    if (r.status !== 0) return; // no tshark here: the table lookups below need it
    const pairs = [...new Set(r.stdout.trim().split('\n'))].map((l) => l.split('\t') as [string, string]);
    expect(pairs.length).toBeGreaterThan(1);
    for (const [mac, resolved] of pairs) {
      const first = parseInt(mac.slice(0, 2), 16);
      expect(first & 1, mac).toBe(0); // unicast
      expect(first & 2, mac).toBe(2); // locally administered
      // Unresolved, Wireshark prints the bytes back: no manufacturer and no well-known address.
      expect(resolved, mac).toBe(mac);
      expect(resolved).not.toMatch(/MS-NLB/);
    }
    // The tables themselves, where installed: no entry covers the prefix.
    for (const table of ['/usr/share/wireshark/manuf', '/usr/share/wireshark/wka']) {
      let text = '';
      try { text = readFileSync(table, 'utf8'); } catch { continue; }
      expect(text).not.toMatch(/^12[:-]/im);
    }
  });
});

describe('$schema paths in the files the CLI writes resolve where they are written (item 9)', () => {
  const schemaOf = (file: string): string => {
    const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(readFileSync(file, 'utf8'));
    expect(m, file).not.toBeNull();
    return resolve(dirname(file), m![1]!);
  };
  const SCHEMA = join(ROOT, 'schema/scenario.schema.json');

  it('init, in a directory outside the repository', () => {
    const dir = join(tmp, 'elsewhere/deeper');
    expect(cli(['init', dir]).status).toBe(0);
    expect(schemaOf(join(dir, 'starter.yaml'))).toBe(SCHEMA);
    expect(existsSync(schemaOf(join(dir, 'starter.yaml')))).toBe(true);
  });

  it('audit --out, in a directory outside the repository, and the files still load', () => {
    const dir = join(tmp, 'findings/x');
    const r = cli(['audit', '-p', 'pajari-1999', '--addresses', '1', '--sockets', '2', '--out', dir]);
    expect(r.status).toBe(1);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(schemaOf(join(dir, f))).toBe(SCHEMA);
      expect(() => loadScenarioFile(join(dir, f))).not.toThrow();
    }
  });
});
