// Every citation the CLI can print leads somewhere a user can follow (issue 15, item 1): the
// policy catalogue and each policy's sources and open points (`bindlab policies [NAME]`), the rule
// vocabulary (`policies --rules`), the rule that decided each step of every shipped scenario under
// every policy (the matrix's reasons, `run --json`), `explain`'s printed output on every step, and
// `bindlab init`'s starter. Each resolves to a page of docs/ (with the anchor present), a public
// URL or a public source file; and nothing the package ships names the team's own notes.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describePolicy, ruleDocs } from '../../src/emu/policy/describe.js';
import { BUILTIN_POLICIES } from '../../src/emu/policy/names.js';
import { policyResolver } from '../../src/emu/policy/registry.js';
import { renderExplanation } from '../../src/cli/commands/explain.js';
import { explainStep } from '../../src/explain/explain.js';
import { runScenario } from '../../src/runner.js';
import { loadScenarioFile } from '../../src/scenario/load.js';
import { STARTER_SCENARIO } from '../../src/testing/starter.js';
import { citationProblems, docsRefProblems, docsRefs, FORBIDDEN, ROOT, trailingCitation } from './resolve.js';

/** "where: citation: problem" for every citation that does not resolve. */
function unresolved(cites: Iterable<[where: string, citation: string]>): string[] {
  const out = new Set<string>();
  for (const [where, c] of cites) for (const p of citationProblems(c)) out.add(`${where}: "${c}": ${p}`);
  return [...out];
}

const SHIPPED = ['scenarios', 'captures'].flatMap((d) =>
  readdirSync(join(ROOT, d)).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(d, f)));

describe('the resolver itself', () => {
  it.each([
    ['net/ipv4/inet_connection_sock.c inet_csk_bind_conflict', true],
    ['2.0 net/ipv4/af_inet.c get_sock', true],
    ['https://learn.microsoft.com/en-us/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse', true],
    ['docs/policies/linux.md#bind-conflicts', true],
    ['Linux inet_csk_bind_conflict (SEMANTICS §1.3)', false],
    ['Format: SCENARIO.md.', false],
    ['4.4BSD in_pcbbind', false],
    ['docs/policies/linux.md#no-such-heading', false],
    ['docs/no-such-page.md', false],
    ['older XNU in6_pcb.c (index id 833099757)', false],
  ])('%s resolves: %s', (c, ok) => {
    expect(citationProblems(c).length === 0).toBe(ok);
  });
});

describe('every citation the CLI prints resolves', () => {
  const resolve = policyResolver();

  it('bindlab policies NAME: rule sources, routing sources, sources, UNCONFIRMED notes of every built-in policy', () => {
    const cites: [string, string][] = [];
    for (const name of BUILTIN_POLICIES) {
      const d = describePolicy(resolve(name));
      for (const r of d.rules ?? []) if (r.source) cites.push([`${name} rule ${r.rule}`, r.source]);
      for (const s of d.sources) cites.push([`${name} source`, s]);
      for (const r of d.routing) cites.push([`${name} routing ${r.aspect}`, r.source]);
      for (const u of d.unconfirmed) cites.push([`${name} UNCONFIRMED`, u]);
      // Every policy names its page of docs/.
      expect(d.sources.some((s) => docsRefs(s).length > 0), `${name}: no source names its docs/policies page`).toBe(true);
    }
    expect(unresolved(cites)).toEqual([]);
  });

  it('bindlab policies --rules: the source of every choice of the vocabulary', () => {
    const cites: [string, string][] = ruleDocs(BUILTIN_POLICIES).flatMap((d) => d.choices.map((c): [string, string] => [`${d.rule}: ${c.value}`, c.source]));
    expect(cites.length).toBeGreaterThan(20);
    expect(unresolved(cites)).toEqual([]);
  });

  it('the reason of every step of every shipped scenario under every policy, and explain on every step', () => {
    const cites: [string, string][] = [];
    const uncited: string[] = [];
    for (const file of SHIPPED) {
      const scenario = loadScenarioFile(join(ROOT, file));
      const report = runScenario(scenario, { policies: BUILTIN_POLICIES, outDir: null });
      for (const [policy, run] of Object.entries(report.policies)) {
        for (const s of run.steps) {
          const where = `${file} step ${s.index} (${s.kind}) under ${policy}`;
          const c = s.reason === undefined ? undefined : trailingCitation(s.reason);
          if (c !== undefined) cites.push([where, c]);
          // A decision of the policy's rules (not a socket created, a clock advanced) says where it comes from.
          // (A socket whose socket() failed is not open: the engine's EBADF, no policy's rule.)
          else if ((s.kind === 'bind' || s.kind === 'listen') && !/is not open$/.test(s.reason ?? '')) uncited.push(`${where}: ${s.reason}`);
          // explain, as the CLI prints it: every line that cites (the rule of each decision record, its notes).
          const text = renderExplanation(`step ${s.index}`, explainStep(scenario, resolve(policy), s.index));
          for (const line of text.split('\n')) {
            const lc = trailingCitation(line);
            if (lc !== undefined) cites.push([`explain ${where}`, lc]);
          }
        }
      }
    }
    expect(cites.length).toBeGreaterThan(1000);
    expect(cites.filter(([w]) => w.startsWith('explain')).length).toBeGreaterThan(1000);
    expect(uncited).toEqual([]);
    expect(unresolved(cites)).toEqual([]);
  }, 600_000);

  it('the rules of custom policies: one per rule choice, over the 1999 scenario and the reuseport one', () => {
    // Every choice of the vocabulary on top of linux and of bsd44 (custom.ts writes these reasons).
    const customs = ruleDocs(BUILTIN_POLICIES).flatMap((d) => d.choices.flatMap((c) => ['linux', 'bsd44'].map((base) => ({
      name: `${base}-${d.rule}-${c.value}`, extends: base, rules: { [d.rule]: d.rule === 'listenRecheck' ? c.value === 'true' : c.value },
      file: 'custom.yaml', pos: { line: 1, col: 1 },
    }))));
    const resolveCustom = policyResolver(customs);
    const cites: [string, string][] = [];
    for (const file of ['scenarios/pajari-1999.yaml', 'scenarios/reuseport.yaml', 'scenarios/timewait-restart.yaml', 'scenarios/hijack.yaml']) {
      const scenario = loadScenarioFile(join(ROOT, file), { customPolicies: customs });
      const report = runScenario(scenario, { policies: customs.map((c) => c.name), outDir: null });
      for (const [policy, run] of Object.entries(report.policies)) {
        for (const s of run.steps) {
          const c = s.reason === undefined ? undefined : trailingCitation(s.reason);
          if (c !== undefined) cites.push([`${file} step ${s.index} under ${policy}`, c]);
        }
      }
      for (const c of customs) for (const r of describePolicy(resolveCustom(c.name)).rules ?? []) if (r.source) cites.push([`${c.name} rule ${r.rule}`, r.source]);
    }
    expect(cites.length).toBeGreaterThan(500);
    expect(unresolved(cites)).toEqual([]);
  }, 600_000);

  it("bindlab init's starter points to the format in docs/, and nowhere else", () => {
    const refs = docsRefs(STARTER_SCENARIO);
    expect(refs).toContain('docs/scenario-format.md');
    expect(refs.flatMap(docsRefProblems)).toEqual([]);
    expect(STARTER_SCENARIO).not.toMatch(FORBIDDEN);
  });
});

/** Files under a path, recursively (no node_modules, no hidden folders). */
function walk(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).filter((f) => !f.startsWith('.') && f !== 'node_modules').flatMap((f) => walk(join(path, f)));
}

describe('what the package ships', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };

  it('includes docs/', () => {
    expect(pkg.files).toContain('docs');
  });

  it('names none of the team\'s own notes (SEMANTICS.md, SCENARIO.md, KERNEL-FACTS.md, shared/)', () => {
    // dist/ is built from src/, so src/ stands for it.
    const roots = [...pkg.files.filter((f) => f !== 'dist'), 'src', 'README.md', 'package.json'];
    const found: string[] = [];
    for (const file of roots.flatMap((r) => walk(join(ROOT, r)))) {
      if (!/\.(ts|js|mjs|json|md|yaml|yml|py|txt|lua)$/.test(file)) continue;
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        const m = FORBIDDEN.exec(line);
        if (m) found.push(`${relative(ROOT, file)}:${i + 1}: ${m[0]}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('every docs/ link in the README and in docs/ resolves', () => {
    const problems: string[] = [];
    for (const file of [join(ROOT, 'README.md'), ...walk(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'))]) {
      const text = readFileSync(file, 'utf8');
      const base = relative(ROOT, file).replace(/[^/]*$/, '');
      // Markdown links to local .md files, relative to the file; and docs/ paths in text.
      for (const m of text.matchAll(/\]\((?!https?:)([^)\s]+?\.md(?:#[\w.-]+)?)\)/g)) {
        const target = join(base, m[1]!).replace(/\\/g, '/');
        problems.push(...docsRefProblems(target).map((p) => `${relative(ROOT, file)}: ${p}`));
      }
      for (const m of text.matchAll(/\]\(#([\w.-]+)\)/g)) {
        problems.push(...docsRefProblems(`${relative(ROOT, file)}#${m[1]}`).map((p) => `${relative(ROOT, file)}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const page of ['docs/scenario-format.md', 'docs/report.md', 'docs/rules.md', 'docs/policies/', 'docs/kernel-observations.md', 'docs/os-tests-and-published-claims.md']) {
      expect(readme.includes(`](${page}`), `the README links ${page}`).toBe(true);
    }
  });
});
