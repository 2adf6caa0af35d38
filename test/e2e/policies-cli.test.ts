// bindlab policies / explain / audit through the built CLI (node dist/bin/bindlab.js).

import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../testing/helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/bin/bindlab.js');

const cli = (args: readonly string[]): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

beforeAll(ensureBuilt, 180_000);

/**
 * An audit is ~100,000 emulated runs, 5-10 s of CPU on an idle 2-core machine: a hang guard with
 * room for a machine many times busier (speed is measured by npm run bench, never here).
 */
const AUDIT_TIMEOUT = 600_000;

describe('bindlab policies', () => {
  it('lists the catalogue with titles', () => {
    const r = cli(['policies']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^linux-1\.3\.60 +Linux 1\.3\.60/m);
    expect(r.stdout).toMatch(/^pajari-1999 +Pajari's 1999 proposal/m);
  });

  it('NAME: rules in words with citations, sources, UNCONFIRMED notes', () => {
    const r = cli(['policies', 'linux-1.3.60']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('reuseaddrOverListener: refuse\n      no: SO_REUSEADDR never overlaps a listener [Linux net/ipv4/inet_connection_sock.c inet_csk_bind_conflict');
    expect(r.stdout).toContain('Sources:\n  Linux 2.0.x net/ipv4/af_inet.c (NET3.034) inet_bind, get_sock, inet_listen');
    expect(r.stdout).toContain('UNCONFIRMED / open points:\n  - 1.3.60 itself not seen');
    const j = JSON.parse(cli(['policies', 'linux', '--json']).stdout) as { name: string; rules: { rule: string; value: string }[] };
    expect(j.rules.find((x) => x.rule === 'reuseport')!.value).toBe('same-uid');
  });

  it('--rules documents every choice and who makes it; --policy-file adds custom ones', () => {
    const r = cli(['policies', '--rules']);
    expect(r.status).toBe(0);
    for (const c of ['both', 'newcomer', 'allow-if-multihomed-n-1', 'exact-duplicates', 'other-uid-refused', 'linux-score', 'bsd-best-match', 'most-specific', 'drop', 'specific-only']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
    expect(r.stdout).toMatch(/^  allow-if-multihomed-n-1 +\(pajari-1999\)/m);
    const dir = mkdtempSync(join(tmpdir(), 'bindlab-pol-'));
    writeFileSync(join(dir, 'fix.yaml'), '- { name: my-fix, extends: linux, rules: { reuseaddrOverListener: allow-if-multihomed-n-1 } }\n');
    const p = cli(['policies', 'my-fix', '--policy-file', join(dir, 'fix.yaml')]);
    expect(p.status).toBe(0);
    expect(p.stdout).toContain('my-fix: linux with reuseaddrOverListener: allow-if-multihomed-n-1\nextends linux');
    expect(p.stdout).toContain('  *reuseaddrOverListener: allow-if-multihomed-n-1');
    expect(cli(['policies', 'nope']).status).toBe(2);
  });
});

describe('bindlab explain', () => {
  it('the 1999 case: step 10 under linux names the conflicting socket multi/inetd/any, LISTEN, SO_REUSEADDR', () => {
    const r = cli(['explain', 'scenarios/pajari-1999.yaml', '--policy', 'linux', '--step', '10']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^step 10 \(bind fax12 10\.0\.0\.12:8080\) under linux: EADDRINUSE$/m);
    expect(r.stdout).toMatch(/^rule: .*the other socket is listening .*\[net\/ipv4\/inet_connection_sock\.c inet_csk_bind_conflict\]$/m);
    expect(r.stdout).toContain('conflicting socket: multi/inetd/any (uid 0, LISTEN on 0.0.0.0:8080, SO_REUSEADDR)');
    const j = JSON.parse(cli(['explain', 'scenarios/pajari-1999.yaml', '-p', 'linux', '--step', '10', '--json']).stdout) as { conflict: object };
    expect(j.conflict).toEqual({ host: 'multi', process: 'inetd', socket: 'any', uid: 0, kind: 'socket', address: '0.0.0.0:8080', options: ['SO_REUSEADDR'], state: 'LISTEN' });
  });

  it('a connection: every socket the engine looked at, the one it picked marked, with the policy\'s own notes', () => {
    const r = cli(['explain', 'scenarios/pajari-1999.yaml', '-p', 'pajari-1999', '--step', '21']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('lookup most-specific: fax12');
    expect(r.stdout).toMatch(/^  -> multi\/fax12\/fax12 \(uid 0, LISTEN on 10\.0\.0\.12:8080, SO_REUSEADDR\): got the connection; score 1 \(specific address\)$/m);
    expect(r.stdout).toMatch(/^     multi\/inetd\/any \(uid 0, LISTEN on 0\.0\.0\.0:8080, SO_REUSEADDR\): not picked; score 0 \(wildcard\), below the best match's 1$/m);
    const l = cli(['explain', 'scenarios/pajari-1999.yaml', '-p', 'linux', '--step', '21']);
    expect(l.stdout).toMatch(/^  -> multi\/inetd\/any .*: got the connection; wildcard pass: score 2$/m);
    const j = JSON.parse(cli(['explain', 'scenarios/pajari-1999.yaml', '-p', 'linux', '--step', '21', '--json']).stdout) as { decisions: { kind: string; result: string; candidates: { socket: string; verdict: string }[] }[] };
    expect(j.decisions).toHaveLength(1);
    expect(j.decisions[0]!.kind).toBe('lookup');
    expect(j.decisions[0]!.candidates.filter((c) => c.verdict === 'accepted').map((c) => c.socket)).toEqual(['any']);
  });

  it('device-bound listeners: judged by the interface the SYN arrives on, not the one holding the address', () => {
    // c1 on eth0's link asks for eth1's address: the server answers ARP on eth0 (any interface
    // answers for any of the host's addresses), so the eth0-bound listener gets the connection.
    const dir = mkdtempSync(join(tmpdir(), 'bindlab-explain-'));
    const file = join(dir, 'weak-host.yaml');
    writeFileSync(file, `name: weak host
policies: [linux]
links: { lan: { latency: 100us }, lan2: { latency: 100us } }
hosts:
  server:
    interfaces:
      eth0: { addresses: [10.0.0.1/24] }
      eth1: { addresses: [10.0.1.1/24], link: lan2 }
    processes: { p: { uid: 0 } }
  c1:
    interfaces: { eth0: { addresses: [10.0.0.100/24] } }
steps:
  - { socket: d0, process: server/p, options: { SO_BINDTODEVICE: eth0 } }
  - { bind: d0, address: 0.0.0.0:8080 }
  - { listen: d0 }
  - { socket: d1, process: server/p, options: { SO_BINDTODEVICE: eth1 } }
  - { bind: d1, address: 0.0.0.0:8080 }
  - { listen: d1 }
  - { connect: { from: c1, to: 10.0.1.1:8080 }, expect: d0 }
`);
    const r = cli(['explain', file, '-p', 'linux', '--step', '6']);
    rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^  -> server\/p\/d0 .*: got the connection; wildcard pass: score \d+ \(device-bound\)$/m);
    expect(r.stdout).toMatch(/^     server\/p\/d1 .*: not picked; wildcard pass: bound to device eth1, the SYN arrives on eth0$/m);
  });

  it('bad input exits 2', () => {
    expect(cli(['explain', 'scenarios/pajari-1999.yaml', '-p', 'linux', '--step', '999']).status).toBe(2);
    expect(cli(['explain', 'scenarios/pajari-1999.yaml', '-p', 'nope', '--step', '1']).status).toBe(2);
  });
});

describe('bindlab audit', () => {
  it('pajari-1999: hijacks, exit 1, scenario files in --out that run clean', () => {
    const out = mkdtempSync(join(tmpdir(), 'bindlab-audit-'));
    const r = cli(['audit', '--policy', 'pajari-1999', '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^explored [\d,]+ configurations in [\d.]+ s$/m);
    expect(r.stdout).toMatch(/^hijacks: \d+ configurations, \d+ distinct$/m);
    const files = readdirSync(out);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(readFileSync(join(out, f), 'utf8')).toContain('policies: [pajari-1999]');
      expect(cli(['run', join(out, f), '--no-capture']).status).toBe(0);
    }
  }, AUDIT_TIMEOUT);

  it('linux: nothing found, exit 0; --json has the counts', () => {
    const r = cli(['audit', '-p', 'linux', '--addresses', '2', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { configurations: number; seconds: number; hijacks: number; findings: unknown[]; multihomed: { n: number; permittedWith: unknown }[] };
    expect(j.hijacks).toBe(0);
    expect(j.findings).toEqual([]);
    expect(j.multihomed).toEqual([{ n: 2, permittedWith: [['SO_REUSEPORT'], ['SO_REUSEPORT']] }]);
    expect(j.configurations).toBeGreaterThan(1000);
  }, AUDIT_TIMEOUT);

  it('linux-1.3.60: the multi-homed setup is refused', () => {
    const r = cli(['audit', '-p', 'linux-1.3.60']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('n=2 REFUSED; n=3 REFUSED');
  }, AUDIT_TIMEOUT);

  it('bad input exits 2', () => {
    expect(cli(['audit', '-p', 'nope']).status).toBe(2);
    expect(cli(['audit', '-p', 'linux', '--addresses', '7']).status).toBe(2);
  });
});
