// The UDP recorder (src/replay/record-udp-captures.ts) on this machine's kernel: the DNS scenario
// recorded afresh in network namespaces, then read back by replay: each query's answer names the
// socket the kernel chose, from the address the kernel chose. Skipped, with the reason, without
// root, network namespaces, python3 or tcpdump.
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { kernelAvailable } from '../../src/kernel/run-kernel.js';
import { recordUdpCapture } from '../../src/replay/record-udp-captures.js';
import { replayCapture } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { FAST } from '../tools.js';

const ROOT = path.join(import.meta.dirname, '../..');
const FIX = path.join(ROOT, 'test/replay/fixtures/udp');
const avail = FAST ? { ok: false, why: 'BINDLAB_TEST_FAST=1' } : kernelAvailable();
const tcpdumpThere = spawnSync('tcpdump', ['--version']).status === 0;
const why = !avail.ok ? `recording needs root and network namespaces: ${avail.why}` : !tcpdumpThere ? 'tcpdump is not installed' : '';
if (why) console.warn(`skipped: ${why}`);

describe.skipIf(why !== '')('the DNS scenario recorded on this kernel', () => {
  it('each query is answered by the socket Linux picks, from the address Linux picks; port 54 is port-unreachable', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bindlab-udp-record-'));
    const file = path.join(dir, 'dns.pcap');
    const log = await recordUdpCapture(path.join(ROOT, 'captures/dns-aliases.yaml'), file);
    expect(log.server.filter((l) => l.includes(' <- ')).map((l) => l.split(' ')[0])).toEqual(['dns1', 'dns1', 'dns2', 'dns2', 'cache', 'cache', 'stub', 'stub']);
    const r = await replayCapture(file, loadScenarioFile(path.join(FIX, 'dns-hosts.yaml')), { policies: ['linux'] });
    expect(r.policies['linux']!.datagrams.map((d) => `${d.server} ${d.observed} ${d.answeredFrom}`)).toEqual([
      '10.0.0.1:53 dns1 10.0.0.1:53', '10.0.0.1:53 dns1 10.0.0.1:53', '10.0.0.2:53 dns2 10.0.0.2:53', '10.0.0.2:53 dns2 10.0.0.2:53',
      '10.0.0.3:53 cache 10.0.0.1:53', '10.0.0.3:53 cache 10.0.0.1:53', '10.0.0.2:5300 stub 10.0.0.1:5300', '10.0.0.3:5300 stub 10.0.0.1:5300',
      '10.0.0.2:54 port-unreachable 10.0.0.2', '10.0.0.2:54 port-unreachable 10.0.0.2',
    ]);
    expect(fs.statSync(file).size).toBeLessThan(1 << 20);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
