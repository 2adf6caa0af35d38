// The HTML report of the 1999 scenario in headless Chromium (Debian's, driven by playwright-core):
// the matrix's cells, the marks, the number of ladder diagrams, cell links to explanations, the
// no-JavaScript filter, nothing fetched; then a screenshot. BINDLAB_UPDATE_SCREENSHOT=1 writes it
// to docs/report-screenshot.png (the README's picture); otherwise it goes to a temporary directory.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPolicies } from '../../src/html/record.js';
import { writeHtmlReport } from '../../src/html/write.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = '/usr/bin/chromium';
const POLICIES = ['linux-1.3.60', 'pajari-1999', 'linux'];
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.log(`test/html/browser.test.ts: skipped, ${CHROMIUM} is absent (apt-get install chromium)`);

describe.skipIf(!haveChromium)('HTML report in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bindlab-html-browser-'));
  const htmlPath = join(dir, 'report.html');
  const requests: string[] = [];
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const scenario = loadScenarioFile(relative(process.cwd(), join(ROOT, 'scenarios/pajari-1999.yaml')));
    const rec = recordPolicies();
    const report = runScenario(scenario, { policies: POLICIES, outDir: dir, observe: rec.observe });
    writeHtmlReport(htmlPath, [{ scenario, report, recordings: rec.finish() }], 'bindlab run scenarios/pajari-1999.yaml --html report.html');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(htmlPath).href);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches nothing but the page itself and runs no script', async () => {
    expect(requests).toEqual([pathToFileURL(htmlPath).href]);
    expect(await page.evaluate(() => document.scripts.length)).toBe(0);
  });

  it('shows the matrix: one row per step, one column per policy, the cells the engine decided', async () => {
    expect(await page.locator('table.matrix tbody tr').count()).toBe(26);
    expect(await page.locator('table.matrix thead th.pol').allInnerTexts()).toEqual(POLICIES);
    const row = async (step: number): Promise<string[]> =>
      (await page.locator(`#s0-step-${step} td.cell`).allInnerTexts()).map((t) => t.trim());
    expect(await row(10)).toEqual(['EADDRINUSE ✓', 'ok ✓', 'EADDRINUSE ✓']);
    expect(await row(21)).toEqual(['any ✓', 'fax12 ✓', 'any ✓']);
    expect(await row(24)).toEqual(['unreachable ✓', 'unreachable ✓', 'unreachable ✓']);
    expect(await row(25)).toEqual(['refused ✓', 'refused ✓', 'refused ✓']);
    expect(await page.locator('table.matrix tfoot td.cell').allInnerTexts()).toEqual(['17 ✓ · 0 ✗', '17 ✓ · 0 ✗', '17 ✓ · 0 ✗']);
  });

  it('marks divergent rows with ≠ and a background', async () => {
    const divergent = page.locator('table.matrix tbody tr.div');
    expect(await divergent.count()).toBe(6);
    expect(await divergent.locator('td.mk').allInnerTexts()).toEqual(Array(6).fill('≠'));
    const bg = (sel: string): Promise<string> => page.locator(sel).first().evaluate((e) => getComputedStyle(e).backgroundColor);
    expect(await bg('#s0-step-21 td.cell')).not.toBe(await bg('#s0-step-20 td.cell'));
  });

  it('draws each connection attempt once per distinct ladder, naming the policies that share it, with the accepting socket named', async () => {
    // 7 attempts; linux-1.3.60 and pajari-1999 draw steps 5 and 20 alike, linux's accepted attempts
    // differ (its quick ACKs), pajari-1999 differs on steps 21-23; unanswered and refused are shared.
    expect(await page.locator('svg.ladder').count()).toBe(15);
    for (const p of POLICIES) expect(await page.locator(`figure.conn[data-policies~="${p}"] svg.ladder`).count()).toBe(7);
    const pajari = page.locator('figure.conn[data-policies~="pajari-1999"]');
    expect(await pajari.locator('svg.ladder .box.server .b1').allTextContents()).toContain('multi/fax12 ▸ fax12');
    expect(await pajari.locator('g.pkt.rst').count()).toBe(1);
    expect(await pajari.locator('g.pkt.unanswered').count()).toBe(3);
    const rst = await pajari.locator('g.pkt.rst > title').textContent();
    expect(rst).toContain('refused (RST)');
    expect(await pajari.locator('svg.ladder').first().isVisible()).toBe(true);
  });

  it('links a cell to its explanation, which becomes the :target', async () => {
    await page.locator('#s0-step-21 td[data-policy="pajari-1999"] a').click();
    expect(new URL(page.url()).hash).toBe('#s0-why-21-1');
    const target = await page.evaluate(() => document.querySelector(':target')?.textContent ?? '');
    expect(target).toContain('fax12');
    expect(target).toContain('specific-address socket multi/fax12/fax12');
  });

  it('filters to the divergent rows without JavaScript (CSS :has)', async () => {
    await page.locator('input.only-div').check();
    const visible = await page.locator('table.matrix tbody tr').evaluateAll((rows) => rows.filter((r) => (r as HTMLElement).offsetParent !== null).length);
    expect(visible).toBe(6);
    await page.locator('input.only-div').uncheck();
  });

  it('takes a screenshot of the top of the page', async () => {
    await page.goto(pathToFileURL(htmlPath).href);
    const out = process.env.BINDLAB_UPDATE_SCREENSHOT ? join(ROOT, 'docs/report-screenshot.png') : join(dir, 'report-screenshot.png');
    await page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: 0, width: 1400, height: 1900 } });
    const png = readFileSync(out);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(50_000);
  });
}, 60_000);
