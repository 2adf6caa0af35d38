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
const headers = (text: string) => text.split('\n').filter((l) => /^\s+#\s+step\s/.test(l));

describe('matrix width', () => {
  it.each([80, 100, 132])('fits %i columns: blocks of policies, every step in each', (columns) => {
    const text = renderMatrix(scenario, report, { color: false, width: columns });
    const blocks = headers(text);
    expect(blocks.length).toBeGreaterThan(1);
    // Every policy once, in order, across the blocks' headers.
    expect(blocks.flatMap((h) => h.trim().split(/\s+/).slice(2))).toEqual([...BUILTIN_POLICIES]);
    const table = text.split('\n').slice(1, text.split('\n').findIndex((l) => l.startsWith('linux-1.3.60: expectations')));
    for (const l of table) expect(l.length, l).toBeLessThanOrEqual(columns);
    // Each block lists all 26 steps; the divergence marks are the whole matrix's, in every block.
    for (const b of blocks) {
      const start = table.indexOf(b);
      const rows = table.slice(start + 1, start + 1 + scenario.steps.length);
      expect(rows.map((r) => r.trim().replace(/^≠\s+/, '').split(/\s+/)[0])).toEqual(scenario.steps.map((s) => String(s.index)));
      expect(rows[4]!.startsWith('≠')).toBe(true);
      expect(rows[0]!.startsWith('≠')).toBe(false);
    }
  });

  it('is one block without a width (stdout is not a terminal)', () => {
    expect(headers(renderMatrix(scenario, report, { color: false }))).toHaveLength(1);
  });
});
