// p0f, the passive OS fingerprinter, on each policy's capture: its SYN (and, where p0f's
// database has the OS's responses, its SYN-ACK) must be named as that OS family. p0f's
// database (/etc/p0f/p0f.fp) knows no 4.4BSD, no illumos or Solaris 11, no SYN-ACK of Linux 3.x+,
// macOS or Windows 10, and no SYN with an IPv6 flow label: there it must say "???" rather than
// another OS. illumos: its sourced SYN (mss,sok,ts,nop,ws; 64240 = 44 × MSS, scale 1; TTL 64; DF)
// is exactly p0f's "Linux (Android)" row, so p0f says that of a real illumos too (docs/packets.md).

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPolicy, START_EPOCH_SECONDS } from '../../src/emu/engine.js';
import { PcapngWriter } from '../../src/pcap/pcapng-writer.js';
import { parseScenario } from '../../src/scenario/load.js';
import { scratch } from '../testing/helpers.js';

const HAS_P0F = spawnSync('p0f', ['-h'], { stdio: 'ignore' }).error === undefined;
if (!HAS_P0F) console.log('p0f.test: p0f is not installed (apt-get install p0f); the fingerprint checks are skipped');

const SCENARIO = parseScenario(`name: p0f
seed: 21
hosts:
  server:
    interfaces: { eth0: { addresses: [10.0.0.1/24, fd00::1/64] } }
    processes: { p: { uid: 0 } }
  client:
    interfaces: { eth0: { addresses: [10.0.0.100/24, fd00::100/64] } }
steps:
  - { socket: l, process: server/p }
  - { bind: l, address: "0.0.0.0:80" }
  - { listen: l }
  - { socket: l6, process: server/p, family: inet6, options: { IPV6_V6ONLY: true } }
  - { bind: l6, address: "[::]:80" }
  - { listen: l6 }
  - { connect: { from: client, to: 10.0.0.1:80, send: "GET /" } }
  - { connect: { from: client, to: "[fd00::1]:80", send: "GET /" } }
`, 'p0f.yaml');

interface Verdict { readonly kind: string; readonly os: string; readonly sig: string }

function p0f(policy: string): Verdict[] {
  const path = join(scratch('p0f'), `${policy}.pcapng`);
  const w = new PcapngWriter(path, { startEpochSeconds: START_EPOCH_SECONDS, tsresol: 'ns', application: 'bindlab' });
  runPolicy(SCENARIO, policy, { sink: w });
  w.finish();
  const r = spawnSync('p0f', ['-r', path], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('.-[').slice(1).flatMap((block) => {
    const kind = /\((syn|syn\+ack)\) \]/.exec(block)?.[1];
    const os = /\| os +=\s*(.*)/.exec(block)?.[1]?.trim();
    const sig = /\| raw_sig +=\s*(.*)/.exec(block)?.[1]?.trim();
    const v6 = block.includes(' fd00:');
    return kind && os !== undefined && sig ? [{ kind: `${kind}${v6 ? '6' : '4'}`, os, sig }] : [];
  });
}

describe.skipIf(!HAS_P0F)('p0f names each policy\'s OS where its database knows it', () => {
  it.each([
    // policy, IPv4 SYN, IPv4 SYN-ACK, IPv6 SYN (p0f's "flow" quirk: a labelled IPv6 SYN matches no row)
    ['linux', /^Linux 2\.2\.x-3\.x$/, /^\?\?\?$/, /^\?\?\?$/],
    ['linux-2.2', /^Linux 2\.4\.x$/, /^Linux 2\.6\.x$/, /^Linux 2\.4\.x$/],
    ['linux-1.3.60', /^Linux /, /^\?\?\?$/, null],
    ['pajari-1999', /^Linux /, /^\?\?\?$/, null],
    ['freebsd', /^FreeBSD 9\.x or newer$/, /^FreeBSD 9\.x$/, /^\?\?\?$/],
    ['macos', /^Mac OS X$/, /^\?\?\?$/, /^\?\?\?$/],
    ['windows', /^Windows NT kernel$/, /^\?\?\?$/, /^Windows NT kernel$/],
    ['illumos', /^Linux \(Android\)$/, /^\?\?\?$/, /^Linux \(Android\)$/],
    ['bsd44', /^\?\?\?$/, /^\?\?\?$/, null],
  ] as const)('%s: SYN %s, SYN-ACK %s', (policy, syn, synAck, syn6) => {
    const v = p0f(policy);
    const of = (kind: string) => v.filter((x) => x.kind === kind).map((x) => x.os);
    expect(of('syn4').length).toBeGreaterThan(0);
    expect(of('syn+ack4').length).toBeGreaterThan(0);
    for (const os of of('syn4')) expect(os).toMatch(syn);
    for (const os of of('syn+ack4')) expect(os).toMatch(synAck);
    if (syn6) for (const os of of('syn6')) expect(os).toMatch(syn6);
    else expect(of('syn6')).toEqual([]); // no IPv6 in that kernel
  }, 60_000);

  it.each(['linux', 'freebsd', 'linux-2.2'])('%s: the SYN-ACK has no id+ quirk (ID 0 with DF, as the OS sends it)', (policy) => {
    const sigs = p0f(policy).filter((x) => x.kind === 'syn+ack4').map((x) => x.sig);
    expect(sigs.length).toBeGreaterThan(0);
    for (const s of sigs) expect(s.split(':').at(-2)).toBe('df');
  }, 60_000);
});
