// The audit over datagram sockets (issue 18): who can take another uid's UDP datagrams. Under
// linux, SO_REUSEADDR on UDP has no uid check and the socket bound last on an address takes its
// unicast datagrams (udp_lib_lport_inuse; docs/kernel-observations.md, UDP), so another uid can
// take them; a wildcard socket beside per-alias ones of one uid is permitted. Each finding is a
// scenario that loads and holds under linux (test/kernel/udp.test.ts runs them on the kernel too).

import { describe, expect, it } from 'vitest';
import { audit, type AuditReport } from '../../src/audit/audit.js';
import { runPolicy } from '../../src/emu/engine.js';
import { getPolicy } from '../../src/emu/policy/index.js';
import { parseScenario } from '../../src/scenario/load.js';

const linux = getPolicy('linux');
if (!linux.udp) console.log('skipping the UDP audit: the linux policy has no UDP rules yet');
const AUDIT_TIMEOUT = 600_000;

let report: AuditReport | undefined;
const reportOf = (): AuditReport => (report ??= audit(linux, { udp: true }));

describe.skipIf(!linux.udp)('bindlab audit --udp under linux', () => {
  it('finds another uid taking the datagrams of the socket that bound first, and permits the per-alias setup', () => {
    const r = reportOf();
    expect(r.udp).toBe(true);
    expect(r.hijacks).toBeGreaterThan(0);
    expect(r.findings.map((f) => f.summary)).toContain(
      "uid 1001's s2 (SO_REUSEADDR on 10.0.0.1, bound after s1) takes datagrams to 10.0.0.1:8080 from uid 1000's s1 (SO_REUSEADDR on 10.0.0.1), which bound first");
    expect(r.multihomed.map((m) => m.n)).toEqual([2, 3]);
    expect(r.multihomed.every((m) => m.permittedWith !== null)).toBe(true);
    expect(r.findings.every((f) => f.kind === 'hijack' && /^\d\d-udp-hijack-/.test(f.file))).toBe(true);
  }, AUDIT_TIMEOUT);

  it('every finding is a UDP scenario that loads and reproduces it, and without the thief the first socket gets the datagram', () => {
    for (const f of reportOf().findings) {
      const sc = parseScenario(f.scenario, f.file);
      expect(sc.steps.some((s) => s.kind === 'socket' && s.type === 'udp')).toBe(true);
      const run = runPolicy(sc, linux);
      expect({ file: f.file, ...run.expectations }).toEqual({ file: f.file, passed: sc.steps.length, failed: 0 });
      const thief = run.steps.at(-1)!.result;
      const lines = f.scenario.split('\n').filter((l) => !new RegExp(`^\\s+- \\{ (socket|bind): ${thief},`).test(l))
        .map((l) => l.replace(/(\{ datagram: \{[^}]*\}), expect: .*$/, '$1 }'));
      const victim = /from uid \d+'s (\S+)/.exec(f.summary)![1]!;
      expect(runPolicy(parseScenario(lines.join('\n'), f.file), linux).steps.at(-1)!.result).toBe(victim);
    }
  }, AUDIT_TIMEOUT);
});

it('a policy without UDP rules cannot be audited for datagrams', () => {
  const none = { ...linux, name: 'no-udp', udp: undefined };
  expect(() => audit(none, { udp: true })).toThrow('no-udp has no UDP rules');
});
