// The harness's own names and errnos: scenario names the kernel would refuse as they are (an
// interface "lo" or of 20 characters, host names that sanitize alike) run under index-made
// kernel names and are reported in the scenario's words; address steps report the kernel's
// errno (EEXIST, EADDRNOTAVAIL), SO_BINDTODEVICE "" unbinds; a network the kernel refuses is a
// one-line error with exit 2.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelAvailable, kernelNames, runOnKernel } from '../../src/kernel/run-kernel.js';
import { parseScenario } from '../../src/scenario/load.js';
import { compareWithKernel } from '../../src/testing/kernel-compare.js';
import { cli, ensureBuilt } from '../testing/helpers.js';

const avail = kernelAvailable();
if (!avail.ok) console.log('skipping the harness name and errno tests on the kernel: ' + avail.why);

const NAMES = `name: kernel names
policies: [linux]
links: { lan: {}, other: {} }
hosts:
  "a+b":
    interfaces:
      averyveryverylongif0: { addresses: [10.0.0.1/24, fd00::1/64] }
      lo: { link: other, addresses: [10.0.1.1/24] }
    processes:
      p0: { uid: 0 }
      p1: { uid: 1000 }
  "a=b":
    interfaces:
      eth0: { addresses: [10.0.0.2/24] }
      if0: { link: other, addresses: [10.0.1.2/24] }
steps:
  - { socket: a, process: "a+b/p0", options: { SO_BINDTODEVICE: averyveryverylongif0 } }
  - { bind: a, address: 0.0.0.0:8080 }
  - { listen: a }
  - { socket: b, process: "a+b/p0", options: { SO_BINDTODEVICE: lo } }
  - { bind: b, address: 0.0.0.0:8080 }
  - { listen: b }
  - { connect: { from: "a=b", to: 10.0.0.1:8080 }, expect: a }
  - { connect: { from: "a=b", to: 10.0.1.1:8080 }, expect: b }
  - { socket: c, process: "a+b/p1", options: { SO_BINDTODEVICE: lo } }
  - { setsockopt: c, options: { SO_BINDTODEVICE: "" }, expect: EPERM }
  - { socket: d, process: "a+b/p0", options: { SO_BINDTODEVICE: lo } }
  - { setsockopt: d, options: { SO_BINDTODEVICE: "" } }
  - { bind: d, address: 0.0.0.0:8080, expect: EADDRINUSE }
  - { address: { host: "a=b", interface: if0, add: fd01::2/64 } }
`;

const ADDRESSES = `name: address errnos
policies: [linux]
hosts:
  server:
    interfaces:
      lo: { addresses: [10.0.0.1/24, fd00::1/64] }
steps:
  - { address: { host: server, interface: lo, add: 10.0.0.1/24 } }
  - { address: { host: server, interface: lo, del: 10.0.0.9/24 } }
  - { address: { host: server, interface: lo, add: fd00::1/64 } }
  - { address: { host: server, interface: lo, del: fd00::9/64 } }
  - { address: { host: server, interface: lo, add: 10.0.0.5/24 } }
  - { address: { host: server, interface: lo, del: 10.0.0.5/24 } }
`;

describe('kernelNames', () => {
  it('gives every host its own namespace and every interface a valid name made from its index', () => {
    const n = kernelNames(parseScenario(NAMES, 'names.yaml'), 'bl1x1');
    expect([...n.values()].map((h) => h.ns)).toEqual(['bl1x1-h0-a_b', 'bl1x1-h1-a_b']);
    expect([...n.get('a+b')!.ifaces]).toEqual([['averyveryverylongif0', 'if0'], ['lo', 'if1']]);
    expect([...n.get('a=b')!.ifaces]).toEqual([['eth0', 'if0'], ['if0', 'if1']]);
  });
});

describe.skipIf(!avail.ok)('the harness on the kernel', () => {
  it('runs interfaces named lo or of 20 characters and hosts a+b and a=b, in the scenario\'s names', async () => {
    const s = parseScenario(NAMES, 'names.yaml');
    const cmp = await compareWithKernel(s, NAMES);
    expect(cmp.differences).toEqual([]);
    expect(cmp.rows.map((r) => r.kernel.join(','))).toEqual(
      ['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'a', 'b', 'ok', 'EPERM', 'ok', 'ok', 'EADDRINUSE', 'ok']);
  }, 60_000);

  it('address steps: the kernel\'s EEXIST for an address the interface has, EADDRNOTAVAIL for one it has not', async () => {
    const r = await runOnKernel(parseScenario(ADDRESSES, 'addresses.yaml'));
    expect(r.map((x) => x.result)).toEqual(['EEXIST', 'EADDRNOTAVAIL', 'EEXIST', 'EADDRNOTAVAIL', 'ok', 'ok']);
  }, 60_000);
});
if (!avail.ok) it.skip(`the harness on the kernel needs root on Linux: ${avail.why}`, () => {});

describe.skipIf(!avail.ok)('bindlab verify-kernel on a network the kernel refuses', () => {
  let dir = '';
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'bindlab-names-'));
  }, 180_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('one line naming file, host, interface and address; exit 2', () => {
    const file = join(dir, 'loopback6.yaml');
    writeFileSync(file, ADDRESSES.replace('fd00::1/64', '::1/128'));
    const r = cli(['verify-kernel', file]);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`bindlab: ${file}: the kernel refuses host "server" interface "lo": address ::1/128: ipv6: Cannot assign loopback address on this device.\n`);
    expect(r.status).toBe(2);
  }, 60_000);

  it('a multicast MAC, which no result depends on, is left to the kernel: the scenario runs', () => {
    const file = join(dir, 'mac.yaml');
    writeFileSync(file, ADDRESSES.replace('lo: {', 'lo: { mac: "01:00:5e:00:00:01",'));
    const r = cli(['verify-kernel', file]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^5 +\d+ +address +ok +/m);
  }, 60_000);
});
