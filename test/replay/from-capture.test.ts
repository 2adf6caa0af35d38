// bindlab init --from-capture: a starter scenario read off a real capture (captures/, recorded on
// the kernel) that loads, and against which the capture replays with linux agreeing throughout.
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { scanCapture, starterFromCapture } from '../../src/replay/from-capture.js';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { formatEndpoint } from '../../src/emu/addr.js';

const ROOT = path.join(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/bin/bindlab.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-from-capture-'));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });

beforeAll(() => {
  spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { encoding: 'utf8' });
}, 120_000);

describe('init --from-capture', () => {
  it.each([
    // capture, listeners (socket: address), a connection's verdict
    ['reuseport.pcap', ['a2 0.0.0.0:8080', 'w1 0.0.0.0:8080', 'w2 0.0.0.0:8080'], 14],
    ['dual-stack.pcapng', ['web4 0.0.0.0:80', 'web6 [::]:80'], 8],
    ['dual-stack.ns.pcap', ['web4 0.0.0.0:80', 'web6 [::]:80'], 8],
  ])('%s: the listeners seen accepting, named by their banners; linux agrees with the capture throughout', async (name, listeners, connections) => {
    const file = path.join(ROOT, 'captures', name);
    const starter = starterFromCapture(scanCapture(file), `captures/${name}`);
    const yaml = path.join(tmp, `${name}.yaml`);
    fs.writeFileSync(yaml, starter.text);
    const scenario = loadScenarioFile(yaml);
    expect(scenario.hosts.map((h) => h.name)).toEqual(['server', 'client']);
    const binds = scenario.steps.flatMap((s) => (s.kind === 'bind' ? [`${s.socket} ${formatEndpoint(s.address)}`] : []));
    expect(binds).toEqual(listeners);
    expect(starter.maps).toEqual([]);
    const r = await replayCapture(file, scenario, { policies: ['linux'], outDir: null });
    expect(r.attempts).toBe(connections);
    expect(r.policies.linux!.agreement).toEqual({ agree: connections, disagree: 0, disagreements: [] });
    // The refused connections have no listener: the scenario refuses them too.
    expect(r.policies.linux!.results.refused).toBeGreaterThan(0);
  });

  it.each(['dns-aliases.pcap', 'dns-aliases.pcapng'])('%s (UDP): a socket per name the answers gave, on the alias it answered or the wildcard where it answered from another address; linux agrees throughout', async (name) => {
    const file = path.join(ROOT, 'captures', name);
    const starter = starterFromCapture(scanCapture(file), `captures/${name}`);
    expect([starter.servers, starter.listeners, starter.udpSockets]).toEqual([1, 0, 4]);
    const yaml = path.join(tmp, `${name}.yaml`);
    fs.writeFileSync(yaml, starter.text);
    const scenario = loadScenarioFile(yaml);
    // 10.0.0.1 got datagrams, and is also where the wildcard sockets answered from: one host with the three aliases.
    expect(scenario.hosts.map((h) => [h.name, h.interfaces.flatMap((i) => i.addresses.map((c) => c.addr.text))])).toEqual([
      ['server', ['10.0.0.1', '10.0.0.2', '10.0.0.3']], ['client', ['10.0.0.100']]]);
    const binds = scenario.steps.flatMap((s) => (s.kind === 'bind' ? [`${s.socket} ${formatEndpoint(s.address)}`] : []));
    expect(binds).toEqual(['cache 0.0.0.0:53', 'dns1 10.0.0.1:53', 'dns2 10.0.0.2:53', 'stub 0.0.0.0:5300']);
    // The sockets sharing port 53 need SO_REUSEADDR (a specific and a wildcard one); the stub alone does not.
    expect(scenario.steps.flatMap((s) => (s.kind === 'socket' ? [`${s.socket} ${s.type} ${s.options.SO_REUSEADDR ?? false}`] : []))).toEqual([
      'cache udp true', 'dns1 udp true', 'dns2 udp true', 'stub udp false']);
    const r = await replayCapture(file, scenario, { policies: ['linux'], outDir: null });
    expect(r.datagrams).toBe(10);
    expect(r.policies.linux!.agreement).toEqual({ agree: 10, disagree: 0, disagreements: [] });
    expect(r.policies.linux!.datagramResults['port-unreachable']).toBe(2);
  });

  it('the CLI writes DIR/<capture>.yaml, validated, and says how to replay it; a second time needs --force', () => {
    const dir = path.join(tmp, 'cli');
    const r = cli(['init', dir, '--from-capture', 'captures/dual-stack.pcapng']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${path.join(dir, 'dual-stack.yaml')}: 1 server host, 2 listeners`);
    expect(r.stdout).toContain(`next: bindlab replay captures/dual-stack.pcapng -s ${path.join(dir, 'dual-stack.yaml')} -p linux --check`);
    expect(cli(['validate', path.join(dir, 'dual-stack.yaml')]).status).toBe(0);
    const check = cli(['replay', 'captures/dual-stack.pcapng', '-s', path.join(dir, 'dual-stack.yaml'), '-p', 'linux', '--check', '--no-output']);
    expect(check.status, check.stdout).toBe(0);
    expect(check.stdout).toMatch(/^linux .* 8 of 8 /m);
    const again = cli(['init', dir, '--from-capture', 'captures/dual-stack.pcapng']);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain('exists; --force overwrites it');
    const bad = cli(['init', dir, '--from-capture', 'README.md']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^bindlab: README\.md: byte 0: bad magic/);
  });
});
