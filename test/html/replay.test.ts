// The replay page: one row per replayed connection, ≠ where policies disagree, capture links,
// everything escaped.
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReplayHtml } from '../../src/html/replay.js';
import type { ReplayReport } from '../../src/replay/replay.js';
import { loadScenarioFile } from '../../src/scenario/load.js';

const ROOT = resolve(import.meta.dirname, '../..');

describe('replay page', () => {
  const scenario = loadScenarioFile(join(ROOT, 'scenarios/pajari-1999.yaml'));
  const conn = (index: number, result: string) => ({ index, time: '1999-02-15T08:17:44.000001Z', client: '10.0.0.100:40000', server: '10.0.0.12:8080', result });
  const report = {
    capture: 'web<1>.pcapng', scenario: scenario.name, file: 'scenarios/pajari-1999.yaml', packets: 12, attempts: 2, replaced: 4,
    skipped: { 'not-tcp': 3 },
    policies: {
      linux: { connections: [conn(0, 'any'), conn(1, 'refused')], results: { any: 1, refused: 1 }, output: '/w/out/web.linux.pcapng' },
      'pajari-1999': { connections: [conn(0, 'fax12'), conn(1, 'refused')], results: { fax12: 1, refused: 1 }, output: '/w/out/web.pajari-1999.pcapng' },
    },
  } as unknown as ReplayReport;
  const page = renderReplayHtml(scenario, report, { baseDir: '/w/out' });

  it('has one row per connection and marks the divergent one', () => {
    expect((page.match(/<tr class="(div|same)">/g) ?? []).length).toBe(2);
    expect((page.match(/<tr class="div">/g) ?? []).length).toBe(1);
    expect(page).toContain('<b>1</b> connection where policies disagree');
    expect(page).toMatch(/data-policy="pajari-1999"><span class="r">fax12<\/span>/);
  });

  it('links the output captures relative to the page and escapes the capture name', () => {
    expect(page).toContain('href="web.linux.pcapng" download');
    expect(page).toContain('replay of web&lt;1&gt;.pcapng');
    expect(page).not.toMatch(/<script|web<1>/);
  });
});
