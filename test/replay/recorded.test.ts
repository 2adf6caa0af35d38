// Replays of captures recorded here, in network namespaces with tcpdump (root): the verdicts
// against what the real server did (--check, --junit, the HTML marks), a capture that replays
// nothing (loopback traffic without --map) and a --map target nobody owns, and every output in
// strict time order (capinfos). Skipped, with the reason, when the kernel harness cannot run.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { kernelAvailable } from '../../src/kernel/run-kernel.js';
import { recordCapture, tcpdump } from '../../src/replay/record-captures.js';
import { parseScenario } from '../../src/scenario/load.js';

const ROOT = path.join(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/bin/bindlab.js');
const XSD = path.join(ROOT, 'test/testing/fixtures/junit.xsd');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-recorded-'));
const avail = kernelAvailable();
const tcpdumpThere = spawnSync('tcpdump', ['--version']).status === 0;
const why = !avail.ok ? `recording captures needs the kernel harness (root, Linux): ${avail.why}` : !tcpdumpThere ? 'tcpdump is not installed' : '';
if (why) console.warn(`skipped: ${why}`);

/** A web server (wildcard listener on 80); the client connects twice to 80 and once to 81 (nobody): accepted, accepted, refused. */
const WEB = (port: number) => `name: recorded web server
hosts:
  server:
    interfaces:
      eth0: { mac: 02:00:00:00:00:01, addresses: [10.0.0.1/24] }
    processes:
      httpd: { uid: 0 }
  client:
    interfaces:
      eth0: { mac: 02:00:00:00:00:64, addresses: [10.0.0.100/24] }
steps:
  - socket: web
    process: server/httpd
  - bind: web
    address: 0.0.0.0:${port}
  - listen: web
  - wait: 1s
    note: lets the capture start
  - connect: { from: client, to: 10.0.0.1:80, count: 2, send: "GET / HTTP/1.0\\r\\n\\r\\n" }
  - connect: { from: client, to: 10.0.0.1:81 }
`;

/** The server connecting to itself over its loopback: 127.0.0.1:80. */
const LOOPBACK = `name: recorded loopback
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
    processes:
      httpd: { uid: 0 }
steps:
  - socket: web
    process: server/httpd
  - bind: web
    address: 0.0.0.0:80
  - listen: web
  - wait: 1s
    note: lets the capture start
  - connect: { from: server, to: 127.0.0.1:80, count: 3 }
`;

const write = (name: string, text: string): string => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
const web = path.join(tmp, 'web.pcap');
const loop = path.join(tmp, 'loopback.pcap');
const webYaml = write('web.yaml', WEB(80));
/** The same hosts with the listener on 81: every policy disagrees with the capture. */
const wrongYaml = write('wrong.yaml', WEB(81));

beforeAll(async () => {
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { encoding: 'utf8' });
  if (why) return;
  await recordCapture(parseScenario(WEB(80), webYaml), web, tcpdump([]));
  await recordCapture(parseScenario(LOOPBACK, path.join(tmp, 'loopback.yaml')), loop, tcpdump([], 'lo'), 'server');
}, 120_000);

describe.skipIf(why !== '')('a capture recorded on the kernel, replayed', () => {
  it('agrees with linux on every connection: the summary says so, --check exits 0, the HTML page marks ✓', () => {
    const out = path.join(tmp, 'agree');
    const r = cli(['replay', web, '-s', webYaml, '-p', 'linux', '-o', out, '--check', '--html', path.join(tmp, 'agree.html')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^linux +2 +1 +3 of 3 /m);
    expect(r.stdout).not.toContain('disagrees');
    const page = fs.readFileSync(path.join(tmp, 'agree.html'), 'utf8');
    expect(page).toContain('linux agrees with the capture on <b>3</b> of 3');
    expect((page.match(/class="cell agree"/g) ?? []).length).toBe(3);
    const json = JSON.parse(cli(['replay', web, '-s', webYaml, '-p', 'linux', '--no-output', '--json']).stdout);
    const conns = json.policies.linux.connections as { result: string; observed?: string; agreement: { agrees: boolean; observed: string } }[];
    expect(conns.map((c) => [c.result, c.agreement.observed, c.agreement.agrees])).toEqual([
      ['web', 'accepted', true], ['web', 'accepted', true], ['refused', 'refused', true],
    ]);
    expect(json.policies.linux.agreement).toEqual({ agree: 3, disagree: 0, disagreements: [] });
  });

  it('a scenario that does not match the host: every connection disagrees, listed; --check exits 1; --junit says which', () => {
    const junit = path.join(tmp, 'wrong.xml');
    const r = cli(['replay', web, '-s', wrongYaml, '-p', 'linux', '-p', 'freebsd', '--no-output', '--check', '--junit', junit, '--html', path.join(tmp, 'wrong.html')]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^linux +1 +2 +0 of 3 /m);
    expect(r.stdout).toContain('linux disagrees with the capture on 3 of 3 connections:');
    expect(r.stdout).toMatch(/#0 10\.0\.0\.100:\d+ -> 10\.0\.0\.1:80: the capture shows web accepting; linux refuses \(RST\)/);
    expect(r.stdout).toMatch(/#2 10\.0\.0\.100:\d+ -> 10\.0\.0\.1:81: the capture shows an RST; linux accepts \(web\)/);
    const lint = spawnSync('xmllint', ['--noout', '--schema', XSD, junit], { encoding: 'utf8' });
    if (lint.error) console.warn('xmllint not installed: the JUnit file is not validated');
    else expect(lint.status, lint.stderr).toBe(0);
    const xml = fs.readFileSync(junit, 'utf8');
    expect(xml).toContain('<testcase name="linux agrees with the capture"');
    expect(xml).toContain('message="linux disagrees with the capture on 3 of 3 connections"');
    expect(xml).toContain('message="freebsd disagrees with the capture on 3 of 3 connections"');
    const page = fs.readFileSync(path.join(tmp, 'wrong.html'), 'utf8');
    expect((page.match(/class="cell fail" data-policy="linux" title="the capture shows/g) ?? []).length).toBe(3);
    // Without --check, a disagreement is a finding, not a failure.
    expect(cli(['replay', web, '-s', wrongYaml, '-p', 'linux', '--no-output']).status).toBe(0);
  });

  it('every output capture is in strict time order (capinfos), its SYN-ACKs before the ACKs that acknowledge them', () => {
    const out = path.join(tmp, 'order');
    const r = cli(['replay', web, '-s', webYaml, '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const files = fs.readdirSync(out);
    expect(files).toHaveLength(9);
    for (const f of files) {
      const c = spawnSync('capinfos', ['-o', '-M', path.join(out, f)], { encoding: 'utf8' });
      if (c.error) { console.warn('capinfos not installed: time order not checked'); return; }
      expect(c.stdout, f).toMatch(/Strict time order:\s+True/);
    }
  });

  it('loopback traffic and a scenario of other addresses: nothing replayed is exit 2 naming the destinations and --map; nothing written', () => {
    const out = path.join(tmp, 'nothing');
    const r = cli(['replay', loop, '-s', webYaml, '-o', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^bindlab: .*loopback\.pcap: nothing replayed: none of its \d+ packets is a connection attempt \(or UDP datagram\) to an address of a scenario host; the capture's SYNs went to 127\.0\.0\.1:80 \(3\): map one onto a scenario address with --map 127\.0\.0\.1=ADDRESS\n$/);
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
    // Mapped onto the server's address, the three connections replay and agree with linux.
    const mapped = cli(['replay', loop, '-s', webYaml, '-p', 'linux', '--map', '127.0.0.1=10.0.0.1', '--no-output', '--check']);
    expect(mapped.status, mapped.stderr).toBe(0);
    expect(mapped.stdout).toMatch(/^linux +3 +3 of 3 /m);
  });

  it('init --from-capture on the recorded captures: a scenario that loads, the --map lines for loopback, and linux agreeing on replay', () => {
    const dir = path.join(tmp, 'init');
    const w = cli(['init', dir, '--from-capture', web]);
    expect(w.status, w.stderr).toBe(0);
    expect(w.stdout).toContain('1 server host, 1 listener');
    const webCheck = cli(['replay', web, '-s', path.join(dir, 'web.yaml'), '-p', 'linux', '--check', '--no-output']);
    expect(webCheck.status, webCheck.stdout).toBe(0);
    expect(webCheck.stdout).toMatch(/^linux +2 +1 +3 of 3 /m);
    // Loopback: 127.0.0.1 cannot be an interface's address; the scenario gets 10.255.0.1 and the command line the --map.
    const l = cli(['init', dir, '--from-capture', loop]);
    expect(l.status, l.stderr).toBe(0);
    expect(l.stdout).toContain('--map 127.0.0.1=10.255.0.1');
    const text = fs.readFileSync(path.join(dir, 'loopback.yaml'), 'utf8');
    expect(text).toContain('addresses: [10.255.0.1/24]');
    const loopCheck = cli(['replay', loop, '-s', path.join(dir, 'loopback.yaml'), '--map', '127.0.0.1=10.255.0.1', '-p', 'linux', '--check', '--no-output']);
    expect(loopCheck.status, loopCheck.stdout).toBe(0);
    expect(loopCheck.stdout).toMatch(/^linux +3 +3 of 3 /m);
  });

  it('a --map target that no scenario host has is exit 2, nothing written', () => {
    const out = path.join(tmp, 'badmap');
    const r = cli(['replay', loop, '-s', webYaml, '--map', '127.0.0.1=10.9.0.77', '-o', out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('bindlab: --map 127.0.0.1=10.9.0.77: no host of');
    // Refused before the capture is read (the CLI's check; the replay's own catches addresses its setup deletes).
    expect(r.stderr).toMatch(/has 10\.9\.0\.77(?: \(after its setup steps\))?; its addresses: 10\.0\.0\.1, 10\.0\.0\.100/);
    expect(fs.existsSync(out) ? fs.readdirSync(out) : []).toEqual([]);
  });
});

if (why) describe('recorded captures', () => { it.skip(`skipped: ${why}`, () => {}); });
