// The UDP captures (issue 18) read back by tshark: the shipped UDP scenarios under every policy
// through the built CLI, each capture checked for malformed packets, warnings, and the UDP, IPv4,
// ICMP, ICMPv6 and IGMP checksums; every datagram a step sends carries its decision (comment and
// bindlab/1 record); the DNS answers name the socket the JSON report names, and leave from the
// address the report's replyFrom says.

import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../testing/helpers.js';
import { noTshark } from '../tools.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bin/bindlab.js');
const SCENARIOS = readdirSync(join(ROOT, 'scenarios')).filter((f) => /^udp-.*\.yaml$/.test(f)).sort();
const NO_TSHARK = noTshark();
if (NO_TSHARK) console.log(`udp-captures.test: ${NO_TSHARK}; the capture checks are skipped`);

const PREFS = ['ip.check_checksum', 'udp.check_checksum'].flatMap((p) => ['-o', `${p}:TRUE`]);
const FIELDS = ['frame.number', 'frame.comment', '_ws.malformed', '_ws.expert.severity', 'udp.srcport', 'udp.dstport', 'ip.src', 'ipv6.src',
  'ip.checksum.status', 'udp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status', 'igmp.checksum.status', 'dns.txt', 'icmp.type', 'igmp.type'];
const WARNING = 0x00600000;

interface Row { readonly [field: string]: string }

async function read(file: string): Promise<Row[]> {
  const { stdout } = await run('tshark', ['-r', file, ...PREFS, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|',
    ...FIELDS.flatMap((f) => ['-e', f])], { maxBuffer: 1 << 26 });
  return stdout.split('\n').filter((l) => l !== '').map((l) => Object.fromEntries(l.split('\t').map((v, i) => [FIELDS[i]!, v])));
}

interface Report { readonly policies: Record<string, { readonly steps: readonly { readonly kind: string; readonly result: string; readonly deliveries?: readonly { readonly receivers: readonly string[]; readonly replyFrom?: readonly string[] }[] }[] }> }

const LUA = join(ROOT, 'wireshark/bindlab.lua');

describe.skipIf(NO_TSHARK !== '')('UDP captures in tshark', () => {
  let dir = '';
  const reports = new Map<string, Report>();
  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'bindlab-udp-'));
    for (const s of SCENARIOS) {
      const r = await run('node', [CLI, 'run', join(ROOT, 'scenarios', s), '-o', dir, '--json']);
      reports.set(s, JSON.parse(r.stdout) as Report);
    }
  }, 600_000);
  afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  it('ships five UDP scenarios', () => {
    expect(SCENARIOS).toEqual(['udp-broadcast.yaml', 'udp-dns-aliases.yaml', 'udp-multicast-receivers.yaml', 'udp-reuseport.yaml', 'udp-router.yaml']);
  });

  it('every capture opens clean: no malformed packet, no warning, every checksum good', async () => {
    const problems: string[] = [];
    let udp = 0;
    let icmp = 0;
    let igmp = 0;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.pcapng')).sort()) {
      for (const r of await read(join(dir, f))) {
        const where = `${f} frame ${r['frame.number']}`;
        if (r['_ws.malformed']) problems.push(`${where}: malformed`);
        if ((r['_ws.expert.severity'] ?? '').split('|').some((v) => v !== '' && Number(v) >= WARNING)) problems.push(`${where}: an expert warning or error`);
        for (const k of ['ip.checksum.status', 'udp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status', 'igmp.checksum.status']) {
          // tshark prints 1 for good; the quoted datagram inside an ICMP error is summed too.
          if ((r[k] ?? '').split('|').some((v) => v !== '' && v !== '1')) problems.push(`${where}: ${k} ${r[k]}`);
        }
        if (r['udp.srcport']) udp++;
        if (r['icmp.type'] || r['icmpv6.checksum.status']) icmp++;
        if (r['igmp.type']) igmp++;
      }
    }
    expect(problems).toEqual([]);
    expect(udp).toBeGreaterThan(100);
    expect(icmp).toBeGreaterThan(5);
    expect(igmp).toBeGreaterThan(5);
  }, 600_000);

  it('every datagram a step sends carries its decision', async () => {
    const missing: string[] = [];
    for (const s of SCENARIOS) {
      const stem = s.replace(/\.yaml$/, '');
      for (const r of await read(join(dir, `${stem}.linux.pcapng`))) {
        // Datagrams to the scenario's ports (replies go to the client's ports, and carry their own comment).
        if (!r['udp.dstport'] || !r['frame.comment'].includes('bindlab')) {
          if (r['udp.dstport'] && !r['frame.comment']) missing.push(`${stem} frame ${r['frame.number']}`);
          continue;
        }
        expect(r['frame.comment']).toMatch(/bindlab\/1 \{"policy":"linux"/);
      }
    }
    expect(missing).toEqual([]);
  }, 600_000);

  it('bindlab.lua gives the receivers and the replies as fields', async () => {
    const filter = async (file: string, f: string): Promise<string[]> => {
      const { stdout } = await run('tshark', ['-X', `lua_script:${LUA}`, '-r', join(dir, file), '-Y', f, '-T', 'fields', '-e', 'bindlab.receivers']);
      return stdout.split('\n').filter((l) => l !== '');
    };
    // The subnet broadcasts: two copies on the server, the last one a third on the sender's own host.
    expect(await filter('udp-broadcast.linux.pcapng', 'bindlab.receivers.member == "subnet"')).toEqual(['subnet,any', 'subnet,any,listener']);
    expect(await filter('udp-dns-aliases.linux.pcapng', 'bindlab.packet == "reply"')).toEqual(['alias2', 'alias3', 'alias3', 'resolver', 'pktinfo']);
  }, 600_000);

  it('IPv4 ids as Linux 6.18 sends them: DF, never 0, counting up per source, destination and protocol for an unconnected socket', async () => {
    const { stdout } = await run('tshark', ['-r', join(dir, 'udp-dns-aliases.linux.pcapng'), '-Y', 'udp.dstport == 53 && ip.dst == 10.0.0.3', '-T', 'fields', '-e', 'ip.id', '-e', 'ip.flags.df']);
    const rows = stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    expect(rows.length).toBe(2);
    const [a, b] = rows.map((r) => Number(r[0]));
    expect(a).not.toBe(0);
    expect(b).toBe((a! + 1) & 0xffff);
    expect(rows.every((r) => r[1] === '1' || r[1] === 'True')).toBe(true);
  }, 600_000);

  it('query: NAME sends real DNS queries: example.com, type A, recursion desired, a new ID each', async () => {
    const { stdout } = await run('tshark', ['-r', join(dir, 'udp-dns-aliases.linux.pcapng'), '-Y', 'dns.flags.response == 0', '-T', 'fields',
      '-e', 'dns.qry.name', '-e', 'dns.qry.type', '-e', 'dns.flags.recdesired', '-e', 'dns.id']);
    const rows = stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
    expect(rows.length).toBe(5);
    expect(rows.every((r) => r[0] === 'example.com' && r[1] === '1' && (r[2] === '1' || r[2] === 'True'))).toBe(true);
    expect(new Set(rows.map((r) => r[3])).size).toBe(5);
  }, 600_000);

  it('the DNS answers name the socket the report names, from the address of replyFrom', async () => {
    const report = reports.get('udp-dns-aliases.yaml')!.policies['linux']!;
    const want = report.steps.filter((s) => s.kind === 'datagram').flatMap((s) => (s.deliveries ?? []).flatMap((d) =>
      d.receivers.map((r, i) => `bindlab ${r} from ${d.replyFrom![i]}`)));
    expect(want).toContain('bindlab server/resolver/resolver from 10.0.0.1:53');
    expect(want).toContain('bindlab server/pktinfo/pktinfo from 10.0.0.4:53');
    const rows = await read(join(dir, 'udp-dns-aliases.linux.pcapng'));
    const got = rows.filter((r) => r['dns.txt']).map((r) => `${r['dns.txt']} from ${r['ip.src']}:${r['udp.srcport']}`);
    expect(got).toEqual(want);
  }, 600_000);
});
