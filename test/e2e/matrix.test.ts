// The terminal matrix: on a narrow terminal the policy columns come in blocks that fit its width,
// each block with every step; without a width (a pipe) it is one block.
import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { renderMatrix } from '../../src/cli/matrix.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';

const scenario = loadScenarioFile(path.join(import.meta.dirname, '../../scenarios/pajari-1999.yaml'));
const report = runScenario(scenario, {});
/** The header of each block: its first line and the lines of stacked policy names under it. */
const headers = (text: string): string[][] => {
  const lines = text.split('\n');
  const out: string[][] = [];
  lines.forEach((l, i) => {
    if (!/^\s+#\s+step\s/.test(l)) return;
    const h = [l];
    for (let j = i + 1; j < lines.length && /^\s+\S/.test(lines[j]!) && !/^\s*(≠\s+)?\d/.test(lines[j]!); j++) h.push(lines[j]!);
    out.push(h);
  });
  return out;
};
const policiesIn = (h: readonly string[]) => h.flatMap((l, i) => l.trim().split(/\s+/).slice(i === 0 ? 2 : 0));

describe('matrix width', () => {
  it.each([60, 80, 100, 132])('fits %i columns: policies with the same results share a column, blocks when needed, every step in each', (columns) => {
    const text = renderMatrix(scenario, report, { color: false, width: columns });
    const blocks = headers(text);
    if (columns < 100) expect(blocks.length).toBeGreaterThan(1);
    else expect(blocks).toHaveLength(1);
    // Every policy once across the blocks' headers.
    expect(blocks.flatMap(policiesIn).sort()).toEqual([...BUILTIN_POLICIES].sort());
    const lines = text.split('\n');
    const table = lines.slice(0, lines.findIndex((l) => l.startsWith('linux-1.3.60: expectations')));
    for (const l of table) expect(l.length, l).toBeLessThanOrEqual(columns);
    // Each block lists all 26 steps; the divergence marks are the whole matrix's, in every block.
    // The table's blocks are separated by empty lines; the first holds the title too.
    const parts = table.join('\n').split('\n\n').map((p) => p.split('\n')).filter((p) => p.some((l) => /^\s+#\s+step\s/.test(l)));
    expect(parts).toHaveLength(blocks.length);
    for (const part of parts) {
      const rows = part.filter((l) => /^(≠| )\s+\d+\s\s+\S/.test(l));
      expect(rows.map((r) => r.trim().replace(/^≠\s+/, '').split(/\s+/)[0])).toEqual(scenario.steps.map((s) => String(s.index)));
      expect(rows[4]!.startsWith('≠')).toBe(true);
      expect(rows[0]!.startsWith('≠')).toBe(false);
    }
  });

  it('is one block without a width (stdout is not a terminal), labels whole', () => {
    const text = renderMatrix(scenario, report, { color: false });
    expect(headers(text)).toHaveLength(1);
    expect(text).toMatch(/^≠\s+23\s+connect client -> 10\.0\.0\.14:8080 \(close: server\)\s/m);
  });

  it('puts policies that agree on every step in one column, and only those', () => {
    const [h] = headers(renderMatrix(scenario, report, { color: false }));
    const columns = new Map<string, string[]>();
    // Column by position of each name in the header lines.
    for (const l of h!) for (const m of l.matchAll(/\S+/g)) if (m[0] !== '#' && m[0] !== 'step') (columns.get(String(m.index)) ?? columns.set(String(m.index), []).get(String(m.index))!).push(m[0]);
    const same = (a: string, b: string) => JSON.stringify(report.policies[a]!.steps.map((s) => s.results ?? s.result)) === JSON.stringify(report.policies[b]!.steps.map((s) => s.results ?? s.result));
    const groups = [...columns.values()];
    for (const g of groups) for (const p of g) expect(same(g[0]!, p)).toBe(true);
    for (let i = 0; i < groups.length; i++) for (let j = i + 1; j < groups.length; j++) expect(same(groups[i]![0]!, groups[j]![0]!)).toBe(false);
    expect(groups.length).toBeLessThan(BUILTIN_POLICIES.length);
  });
});
