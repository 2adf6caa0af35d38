// The HTML report as text: escaping, the matrix's cells and marks, the counts, the recorder's
// grouping of packets into attempts, relative capture links, colour contrast, and that the
// runner's observe hook changes nothing in the captures.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordPolicies } from '../../src/html/record.js';
import { captureHref, COLOUR_PAIRS, PALETTE, renderHtmlReport, type HtmlScenarioRun } from '../../src/html/report.js';
import { esc, html, raw } from '../../src/html/template.js';
import { runScenario, type ScenarioReport } from '../../src/runner.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PAJARI = join(ROOT, 'scenarios/pajari-1999.yaml');
/** The policies the 1999 scenario was written for (the report's counts below depend on them). */
const POLICIES = ['linux-1.3.60', 'pajari-1999', 'linux'];
const tmp = mkdtempSync(join(tmpdir(), 'bindlab-html-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function runPajari(max?: number, outDir: string | null = null): HtmlScenarioRun {
  const scenario = loadScenarioFile(PAJARI);
  const rec = recordPolicies(max);
  const report = runScenario(scenario, { policies: POLICIES, outDir, observe: rec.observe });
  return { scenario, report, recordings: rec.finish() };
}

const count = (s: string, needle: RegExp): number => (s.match(needle) ?? []).length;

/** The rendered matrix cells of one step: policy -> cell HTML. */
function cells(page: string, step: number): Map<string, string> {
  const row = new RegExp(`<tr class="(div|same)" id="s0-step-${step}">(.*?)</tr>`, 's').exec(page);
  expect(row, `row of step ${step}`).not.toBeNull();
  const out = new Map<string, string>();
  for (const m of row![2]!.matchAll(/<td class="[^"]*" data-policy="([^"]+)" data-result="[^"]*">(.*?)<\/td>/gs)) out.set(m[1]!, m[2]!);
  return out;
}

const text = (cellHtml: string): string => cellHtml.replace(/<[^>]+>/g, '');

describe('template', () => {
  it.each([
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['a & b', 'a &amp; b'],
    ['"quoted" \'single\'', '&quot;quoted&quot; &#39;single&#39;'],
    ['plain', 'plain'],
  ])('esc(%j)', (input, want) => {
    expect(esc(input)).toBe(want);
  });

  it('escapes interpolations, joins arrays, keeps markup made by the tag and raw()', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p title="${'x" onmouseover="y'}">${['<', inner, raw('<br>'), null, undefined, false, 3]}</p>`.text)
      .toBe('<p title="x&quot; onmouseover=&quot;y">&lt;<b>&lt;i&gt;</b><br>3</p>');
  });
});

describe('report page', () => {
  const run = runPajari();
  const page = renderHtmlReport([run], { baseDir: tmp });

  it('is one self-contained document: no scripts, no external resources', () => {
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(page).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|src=/i);
    expect(page).not.toMatch(/href="(https?:)?\/\//);
  });

  it('has one row per step and one cell per policy, each linking to its explanation', () => {
    expect(count(page, /<tr class="(div|same)" id="s0-step-/g)).toBe(run.scenario.steps.length);
    for (const step of run.scenario.steps) {
      const c = cells(page, step.index);
      expect([...c.keys()]).toEqual(POLICIES);
      POLICIES.forEach((p, k) => {
        expect(c.get(p)).toContain(`href="#s0-why-${step.index}-${k}"`);
        expect(page).toContain(`id="s0-why-${step.index}-${k}"`);
      });
    }
  });

  it.each([
    [4, 'EADDRINUSE ✓', 'EADDRINUSE ✓', 'EADDRINUSE ✓', false],
    [10, 'EADDRINUSE ✓', 'ok ✓', 'EADDRINUSE ✓', true],
    [21, 'any ✓', 'fax12 ✓', 'any ✓', true],
    [24, 'unreachable ✓', 'unreachable ✓', 'unreachable ✓', false],
    [25, 'refused ✓', 'refused ✓', 'refused ✓', false],
    [0, 'ok', 'ok', 'ok', false],
  ])('step %i: %s | %s | %s (divergent: %s)', (step, a, b, c, div) => {
    const row = cells(page, step);
    expect(POLICIES.map((p) => text(row.get(p)!))).toEqual([a, b, c]);
    const tr = new RegExp(`<tr class="(div|same)" id="s0-step-${step}">`).exec(page)!;
    expect(tr[1]).toBe(div ? 'div' : 'same');
  });

  it('marks divergent rows with ≠ as well as colour, and counts them', () => {
    const divergent = [10, 13, 16, 21, 22, 23];
    expect(count(page, /<tr class="div"/g)).toBe(divergent.length);
    expect(count(page, /aria-label="policies disagree">≠</g)).toBe(divergent.length);
    expect(page).toContain(`<b>${divergent.length}</b> steps where policies disagree`);
    expect(page).toContain('<b>51</b> expectations held');
    expect(page).toContain('<b>0</b> expectations failed');
  });

  it('gives each policy a section with its counts and capture link; each attempt\'s ladder once per distinct drawing, naming the policies that share it', () => {
    // Issue 15: was 21 ladders (7 per policy). linux acknowledges data and banner at once (quick-ack,
    // docs/packets.md), so its accepted attempts are drawn apart; the unanswered and refused ones stay shared.
    expect(count(page, /<svg class="ladder"/g)).toBe(15);
    // A whole word of data-policies: "linux" is not a part of "linux-1.3.60".
    for (const p of POLICIES) expect(count(page, new RegExp(`<figure class="conn \\w+" data-policies="(?:[^"]* )?${p.replace(/\./g, '\\.')}(?: [^"]*)?"`, 'g'))).toBe(7);
    expect(page).toMatch(/<figure class="conn good" data-policies="linux-1\.3\.60 pajari-1999"><figcaption><a href="#s0-why-5-0">step #5<\/a>/);
    expect(page).toMatch(/<figure class="conn expected" data-policies="linux-1\.3\.60 pajari-1999 linux"><figcaption><a href="#s0-why-24-0">step #24<\/a>/);
    expect(count(page, /<section class="policy"/g)).toBe(POLICIES.length);
    expect(page).toContain('7 connection attempts, 53 packets');
    expect(page).toContain('7 connection attempts, 61 packets');
    expect(page).toContain('no capture written');
  });

  it('names the accepting socket, shows RSTs and unanswered ARP with symbols, and puts decision comments in <title>', () => {
    const pajari = [...page.matchAll(/<figure class="conn \w+" data-policies="[^"]*\bpajari-1999\b[^"]*">.*?<\/figure>/gs)].map((m) => m[0]).join('\n');
    expect(pajari).toContain('multi/fax12 ▸ fax12');
    expect(pajari).toContain('✓ accepted by fax12 (multi/fax12)');
    expect(pajari).toMatch(/<g class="pkt rst"[^>]*><title>10\.0\.0\.11:9090 → 10\.0\.0\.100:\d+ \[RST, ACK\]/);
    expect(pajari).toContain('RST, ACK ✗');
    expect(count(pajari, /<g class="pkt unanswered"/g)).toBe(3);
    expect(pajari).toContain('○ unreachable: nobody answers ARP for 10.0.0.99 (expected)');
    expect(pajari).toContain('bindlab pajari-1999: SYN to 10.0.0.12:8080 accepted by multi/fax12/fax12.');
  });

  it('marks a failed expectation with ✗ and the wanted value', () => {
    const report = structuredClone(run.report) as ScenarioReport;
    const steps = report.policies.linux!.steps as { passed?: boolean; expected?: readonly string[] }[];
    steps[21] = { ...steps[21], passed: false, expected: ['fax12'] };
    (report.policies.linux as { expectations: { passed: number; failed: number } }).expectations = { passed: 16, failed: 1 };
    const p = renderHtmlReport([{ ...run, report }], { baseDir: tmp });
    const c = cells(p, 21).get('linux')!;
    expect(text(c)).toBe('any ✗ want fax12');
    expect(p).toMatch(/<td class="cell fail" data-policy="linux"/);
    expect(p).toContain('<b>1</b> expectation failed');
    expect(p).toContain('✗ expected fax12');
  });

  it('escapes everything that comes from the scenario', () => {
    const file = join(tmp, 'evil.yaml');
    writeFileSync(file, [
      'name: "<script>alert(1)</script> & friends"',
      'description: "</style><img src=x onerror=alert(2)>"',
      'hosts:',
      '  h: { interfaces: { eth0: { addresses: [10.0.0.1/24] } }, processes: { p: {} } }',
      '  c: { interfaces: { eth0: { addresses: [10.0.0.2/24] } } }',
      'steps:',
      '  - socket: s',
      '    process: h/p',
      '  - bind: s',
      '    address: 10.0.0.1:80',
      '    note: "a note with <b>markup</b> & \\"quotes\\""',
      '  - listen: s',
      '  - connect: { from: c, to: 10.0.0.1:80, send: "<x>\\r\\n" }',
      '',
    ].join('\n'));
    const scenario = loadScenarioFile(file);
    const rec = recordPolicies();
    const report = runScenario(scenario, { policies: ['linux'], observe: rec.observe });
    const p = renderHtmlReport([{ scenario, report, recordings: rec.finish() }], { baseDir: tmp });
    expect(p).not.toMatch(/<script|<img|<b>markup/);
    expect(p).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends');
    expect(p).toContain('&lt;/style&gt;&lt;img src=x onerror=alert(2)&gt;');
    expect(p).toContain('a note with &lt;b&gt;markup&lt;/b&gt; &amp; &quot;quotes&quot;');
    expect(p).toContain('&quot;&lt;x&gt;\\r\\n&quot;');
  });
});

describe('expected refusals are drawn apart from problems', () => {
  it('an unreachable or refused attempt whose expectation held is "as expected", a failed expectation a problem', () => {
    const run = runPajari();
    const page = renderHtmlReport([run], { baseDir: tmp });
    // Steps 24 (unreachable) and 25 (refused) expect what happens.
    expect(page).toMatch(/<figure class="conn expected" data-policies="linux-1\.3\.60 pajari-1999 linux"><figcaption><a href="#s0-why-24-0">/);
    expect(page).toContain('○ unreachable: nobody answers ARP for 10.0.0.99 (expected)');
    expect(page).not.toMatch(/<figure class="conn bad"/);
    const report = structuredClone(run.report) as ScenarioReport;
    const steps = report.policies.linux!.steps as { passed?: boolean; expected?: readonly string[] }[];
    steps[25] = { ...steps[25], passed: false, expected: ['any'] };
    const bad = renderHtmlReport([{ ...run, report }], { baseDir: tmp });
    expect(bad).toMatch(/<figure class="conn bad" data-policies="linux"><figcaption><a href="#s0-why-25-2">/);
    expect(bad).toContain('✗ refused: RST from multi');
  });
});

describe('recorder', () => {
  it('groups packets into attempts: handshake with its ARP, unanswered ARP alone, RST', () => {
    const rec = runPajari().recordings!.get('linux')!;
    expect(rec.attempts).toBe(7);
    // Linux acknowledges the data and the banner at once (quick-ack mode; docs/packets.md).
    expect(rec.packets).toBe(61);
    const [first, , , , , unreachable, refused] = rec.connections;
    expect(first!.packets.map((p) => p.label)).toEqual([
      'ARP who-has 10.0.0.1', 'ARP reply: 10.0.0.1 is here', 'SYN', 'SYN, ACK', 'ACK', 'PSH, ACK len=6', 'ACK', 'PSH, ACK len=29', 'ACK', 'FIN, ACK', 'FIN, ACK', 'ACK',
    ]);
    expect(first!.packets.map((p) => p.toServer)).toEqual([true, false, true, false, true, true, false, false, true, true, false, true]);
    expect(first!.packets[7]!.preview).toBe('bindlab solo/inetd/solo-any\\r\\n');
    expect(unreachable!.server).toBe('10.0.0.99');
    expect(unreachable!.packets.map((p) => p.kind)).toEqual(['arp-request', 'arp-request', 'arp-request']);
    expect(unreachable!.packets[0]!.comment).toContain('unanswered');
    expect(refused!.packets.map((p) => p.label)).toEqual(['SYN', 'RST, ACK']);
  });

  it('keeps only the first N attempts and says so in the page', () => {
    const run = runPajari(2);
    const rec = run.recordings!.get('linux')!;
    expect(rec.connections.length).toBe(2);
    expect(rec.attempts).toBe(7);
    const page = renderHtmlReport([run], { baseDir: tmp });
    expect(count(page, /<svg class="ladder"/g)).toBe(4); // each attempt drawn alike by linux-1.3.60 and pajari-1999, apart by linux (its quick ACKs)
    expect(page).toContain('showing the first 2 of 7 connection attempts (61 packets); the rest are in the capture');
  });
});

describe('captures', () => {
  it('links each capture relative to the page', () => {
    expect(captureHref('/w/out', '/w/out/x.linux.pcapng')).toBe('x.linux.pcapng');
    expect(captureHref('/w/report', '/w/out/a b#1.pcapng')).toBe('../out/a%20b%231.pcapng');
  });

  it('observing the packets leaves the capture bytes unchanged', () => {
    const scenario = loadScenarioFile(PAJARI);
    const plain = join(tmp, 'plain');
    const observed = join(tmp, 'observed');
    runScenario(scenario, { policies: POLICIES, outDir: plain });
    const run = runPajari(undefined, observed);
    for (const p of POLICIES) {
      const name = `pajari-1999.${p}.pcapng`;
      expect(readFileSync(join(observed, name)).equals(readFileSync(join(plain, name))), name).toBe(true);
      expect(run.report.policies[p]!.output).toBe(join(observed, name));
    }
    const page = renderHtmlReport([run], { baseDir: observed });
    expect(page).toContain('href="pajari-1999.linux.pcapng" download>pajari-1999.linux.pcapng</a>');
  });
});

describe('colours', () => {
  /** WCAG 2 relative luminance and contrast ratio. */
  const lum = (hex: string): number => {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255).map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
  };
  const contrast = (a: string, b: string): number => {
    const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m);
    return (x! + 0.05) / (y! + 0.05);
  };

  it.each(COLOUR_PAIRS.map(([f, b]) => [f, b] as const))('%s on %s is at least 4.5:1', (fg, bg) => {
    expect(contrast(PALETTE[fg], PALETTE[bg])).toBeGreaterThanOrEqual(4.5);
  });
});
