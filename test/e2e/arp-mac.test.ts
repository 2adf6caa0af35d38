// `mac: arp`: an interface's MAC comes from this machine's ARP table (@network-utils/arp-lookup,
// which reads `arp -an`), so a capture can be replayed onto a real LAN. Absent: a clear error,
// exit 2. Present: the frames carry that MAC. The second case builds its own ARP entry inside a
// private network namespace (root only), never touching the machine's own table.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bin/bindlab.js');
const tmp = mkdtempSync(join(tmpdir(), 'bindlab-arp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const scenario = (addr: string): string => `name: mac from the ARP table
hosts:
  server:
    interfaces:
      eth0: { mac: arp, addresses: [${addr}/24] }
    processes: { p: { uid: 0 } }
  client:
    interfaces:
      eth0: { addresses: [${addr.replace(/\.\d+$/, '.100')}/24] }
steps:
  - socket: s
    process: server/p
  - bind: s
    address: 0.0.0.0:8080
  - listen: s
  - connect: { from: client, to: ${addr}:8080 }
    expect: s
`;

const isRoot = process.getuid?.() === 0;
const haveTools = ['/usr/sbin/arp', '/usr/bin/unshare', '/usr/sbin/ip', '/usr/bin/tshark'].every((p) => existsSync(p));
if (!isRoot || !haveTools) console.log(`skipping the mac: arp success case: ${!isRoot ? 'not root (it needs a network namespace of its own)' : 'arp, unshare, ip or tshark missing'}`);

describe('mac: arp', () => {
  it('without an ARP entry: a clear error naming the interface and address, exit 2, no capture', () => {
    const file = join(tmp, 'absent.yaml');
    // 192.0.2.0/24 is TEST-NET-1: no real table has it.
    writeFileSync(file, scenario('192.0.2.77'));
    const r = spawnSync(process.execPath, [CLI, 'run', file, '-o', join(tmp, 'out-absent'), '-p', 'linux'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/interface server\/eth0 has mac: arp, but this machine's ARP table (has no entry for 192\.0\.2\.77|could not be read)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(tmp, 'out-absent', 'absent.linux.pcapng'))).toBe(false);
  });

  it.skipIf(!isRoot || !haveTools)('with an ARP entry (in a private namespace): the server answers with that MAC', () => {
    const file = join(tmp, 'present.yaml');
    writeFileSync(file, scenario('10.77.0.9'));
    const out = join(tmp, 'out-present');
    const script = [
      'ip link add d0 type veth peer name d1', 'ip link set d1 up', 'ip link set d0 up', 'ip addr add 10.77.0.1/24 dev d0',
      'ip neigh add 10.77.0.9 lladdr 02:aa:bb:cc:dd:09 dev d0 nud permanent',
      `"${process.execPath}" "${CLI}" run "${file}" -o "${out}" -p linux`,
    ].join(' && ');
    const r = spawnSync('unshare', ['-n', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const t = spawnSync('tshark', ['-r', join(out, 'present.linux.pcapng'), '-Y', 'arp.opcode == 2', '-T', 'fields', '-e', 'eth.src'], { encoding: 'utf8' });
    expect(t.stdout.trim().split('\n')).toEqual(['02:aa:bb:cc:dd:09']);
  });
});
