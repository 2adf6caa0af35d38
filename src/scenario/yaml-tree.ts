// YAML text → the position-carrying tree of schema.ts, with the guards hostile input needs:
// a size limit, UTF-8 only (the position of the first byte that is not), aliases bounded by
// the yaml library's own count (maxAliasCount) and by the size of the tree they expand to,
// alias cycles refused where they close, and every quoted piece of input shortened (excerpt).

import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Alias,
  type Node as YamlNode,
} from 'yaml';
import type { TreeNode } from './schema.js';
import { excerpt, ScenarioError, type SourcePos } from './types.js';

/**
 * The largest scenario file read. The shipped scenarios are 2-12 KiB; 4 MiB holds some 60,000
 * connect steps. The yaml library parses about 1 MiB a second (2.5 s when the machine is busy)
 * and a 5 MiB scenario takes 0.85 GB to check, so past this a file is refused rather than left
 * to run for minutes or run the heap out (a 30 MB file did).
 */
export const MAX_SCENARIO_BYTES = 4 << 20;

/**
 * The yaml library's guard against alias bombs ("billion laughs"): an alias's use count times
 * the aliases inside what it names may not pass this (yaml's Alias.resolve; its default is 100,
 * raised so that one anchored map may serve a few hundred steps).
 */
export const MAX_ALIAS_COUNT = 1000;

/** The most values (maps, lists, scalars) a scenario may hold once its aliases are expanded. */
export const MAX_TREE_NODES = 2_000_000;

const MIB = 1 << 20;
const FLOAT_TAG = 'tag:yaml.org,2002:float';
const mib = (n: number): string => `${(n / MIB).toFixed(1)} MiB`;

/** Refuses a scenario larger than MAX_SCENARIO_BYTES; `bytes` is its size. */
export function checkScenarioSize(bytes: number, file: string, what = 'scenario'): void {
  if (bytes <= MAX_SCENARIO_BYTES) return;
  throw new ScenarioError(file, 1, 1,
    `${what} file is ${mib(bytes)}; bindlab reads ${what} files of at most ${MAX_SCENARIO_BYTES / MIB} MiB (a scenario is a few KiB; 60,000 connect steps fit in 4 MiB)`);
}

/**
 * The text of a scenario file's bytes, which must be UTF-8: else a ScenarioError at the line and
 * column of the first byte that is not, with its byte offset. A UTF-8 byte-order mark is allowed.
 */
export function decodeScenario(bytes: Uint8Array, file: string, what = 'scenario'): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buf.toString('utf8');
  // Node replaces each invalid sequence with U+FFFD: only then can the bytes differ from the text's encoding.
  if (!text.includes('\ufffd')) return text;
  const back = Buffer.from(text, 'utf8');
  let at = 0;
  const n = Math.min(back.length, buf.length);
  while (at < n && back[at] === buf[at]) at++;
  if (at === buf.length && back.length === buf.length) return text;
  const lineStart = buf.lastIndexOf(0x0a, at - 1) + 1;
  const line = countNewlines(buf, at) + 1;
  const col = buf.toString('utf8', lineStart, at).length + 1;
  const hex = buf.subarray(at, Math.min(at + 4, buf.length)).toString('hex').replace(/(..)/g, ' $1').trim();
  const utf16 = (buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff) ? '; the file looks like UTF-16: save it as UTF-8' : '';
  throw new ScenarioError(file, line, col, `${what} is not UTF-8 text: byte offset ${at} holds ${hex} (${byteWhy(buf, at)})${utf16}`);
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Why the byte at `at` does not start a UTF-8 character, in a few words. */
function byteWhy(buf: Buffer, at: number): string {
  const b = buf[at]!;
  if (b >= 0x80 && b <= 0xbf) return 'a continuation byte with no lead byte';
  if (b === 0xc0 || b === 0xc1 || b >= 0xf5) return `0x${b.toString(16)} never occurs in UTF-8`;
  return 'a lead byte not followed by its continuation bytes, or an overlong or surrogate form';
}

/** Parses YAML text into the tree, or throws a ScenarioError at the fault's line and column. */
export function yamlTree(text: string, file: string): TreeNode {
  checkScenarioSize(Buffer.byteLength(text, 'utf8'), file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const posAt = (offset: number): SourcePos => {
    const { line, col } = lines.linePos(offset);
    return { line, col };
  };
  const fail: (offset: number, message: string) => never = (offset, message) => {
    const { line, col } = posAt(offset);
    throw new ScenarioError(file, line, col, message);
  };
  const problem = doc.errors[0];
  if (problem) fail(problem.pos[0], `YAML: ${excerpt(problem.message, 300, false)}`);
  if (doc.contents === null) {
    throw new ScenarioError(file, 1, 1, 'the scenario is empty; expected a map with keys name, hosts and steps');
  }
  const startOf = (node: unknown): number => (node as YamlNode | null)?.range?.[0] ?? 0;

  // Each alias's target: the last node before it with its anchor (YAML 1.2 §3.2.2.2). A visit is
  // in document order, a node before its contents: an alias inside its own anchor's node finds it.
  const targets = new Map<Alias, YamlNode>();
  const anchors = new Map<string, YamlNode>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (!target) fail(startOf(node), `alias *${excerpt(node.source, 40, false)} names no anchor before it (write &${excerpt(node.source, 40, false)} on an earlier value)`);
        targets.set(node, target);
      } else if (node.anchor) anchors.set(node.anchor, node);
    },
  });

  if (targets.size > 0) {
    checkAliasCycles(doc.contents, targets, startOf, posAt, fail);
    try {
      doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (e) {
      if (!(e instanceof ReferenceError)) throw e;
      const worst = largestAlias(targets, expandedSizes(doc.contents, targets));
      fail(startOf(worst), `YAML aliases expand too far: more than the yaml library's bound of ${MAX_ALIAS_COUNT} alias uses (maxAliasCount), a guard against "billion laughs"; the largest is this *${excerpt(worst.source, 40, false)}`);
    }
  }
  const sizes = expandedSizes(doc.contents, targets);
  const total = sizes.get(doc.contents as YamlNode) ?? 0;
  if (total > MAX_TREE_NODES) {
    const worst = targets.size ? largestAlias(targets, sizes) : undefined;
    if (worst) fail(startOf(worst), `YAML aliases expand the scenario to ${total.toLocaleString('en-US')} values, more than the ${MAX_TREE_NODES.toLocaleString('en-US')} a scenario may hold; the largest is this *${excerpt(worst.source, 40, false)} (${(sizes.get(targets.get(worst)!) ?? 1).toLocaleString('en-US')} values)`);
    fail(0, `the scenario holds ${total.toLocaleString('en-US')} values, more than the ${MAX_TREE_NODES.toLocaleString('en-US')} a scenario may hold`);
  }

  // Each anchored node is converted once: an alias shares its target's tree (positions are the anchor's).
  const converted = new Map<YamlNode, TreeNode>();
  const convert = (node: unknown): TreeNode => {
    if (isAlias(node)) return convert(targets.get(node));
    const done = converted.get(node as YamlNode);
    if (done) return done;
    const at = posAt(startOf(node));
    let out: TreeNode;
    if (isMap(node)) {
      out = {
        kind: 'map',
        pos: at,
        entries: node.items.map((pair) => {
          const key = isAlias(pair.key) ? targets.get(pair.key) : pair.key;
          const keyPos = posAt(startOf(key) || startOf(node));
          if (!isScalar(key) || typeof key.value !== 'string') {
            throw new ScenarioError(file, keyPos.line, keyPos.col, `keys must be strings, got ${isScalar(key) ? excerpt(JSON.stringify(key.value)) : 'a collection'}`);
          }
          // A key without a value ("bind:") is null; give it the key's position.
          const value = pair.value === null ? { kind: 'scalar' as const, value: null, pos: keyPos } : convert(pair.value);
          return { key: key.value, keyPos, value };
        }),
      };
    } else if (isSeq(node)) {
      out = { kind: 'list', pos: at, items: node.items.map(convert) };
    } else if (isScalar(node)) {
      let v = node.value;
      // yaml leaves "!!float 7" a string (its float pattern wants a point): the tag says it is a number.
      if (node.tag === FLOAT_TAG && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) v = Number(v);
      out = { kind: 'scalar', value: v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : String(v), pos: at };
      // A number written as a float (7.0, 1e3, !!float 7) keeps how: an integer field refuses it by name.
      if (typeof v === 'number' && (node.tag === FLOAT_TAG || (node.tag === undefined && node.format !== 'HEX' && /[.eE]|inf|nan/i.test(node.source ?? '')))) {
        out = { ...out, float: node.tag === FLOAT_TAG ? `!!float ${String(node.source ?? v)}` : String(node.source) };
      }
    } else {
      out = { kind: 'scalar', value: null, pos: at };
    }
    if ((node as YamlNode | null)?.anchor) converted.set(node as YamlNode, out);
    return out;
  };
  return convert(doc.contents);
}

/** Refuses an alias that names a node it is inside: the value would contain itself. */
function checkAliasCycles(root: unknown, targets: ReadonlyMap<Alias, YamlNode>, startOf: (n: unknown) => number,
  where: (offset: number) => SourcePos, fail: (offset: number, message: string) => never): void {
  // Depth-first over the graph of nodes and alias edges; a node on the current path reached again closes a cycle.
  const onPath = new Set<unknown>();
  const finished = new Set<unknown>();
  const stack: { node: unknown; children: unknown[]; next: number }[] = [];
  const enter = (node: unknown): void => {
    onPath.add(node);
    stack.push({ node, children: childrenOf(node), next: 0 });
  };
  enter(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.children.length) {
      stack.pop();
      onPath.delete(top.node);
      finished.add(top.node);
      continue;
    }
    const child = top.children[top.next++];
    const next = isAlias(child) ? targets.get(child) : child;
    if (next === undefined || next === null || finished.has(next)) continue;
    if (onPath.has(next)) {
      const alias = child as Alias;
      const anchored = where((next as YamlNode).range?.[0] ?? 0);
      fail(startOf(alias), `alias *${excerpt(alias.source, 40, false)} is inside the value its anchor &${excerpt(alias.source, 40, false)} names (at ${anchored.line}:${anchored.col}): an alias cycle, the value would contain itself`);
    }
    enter(next);
  }
}

function childrenOf(node: unknown): unknown[] {
  if (isMap(node)) return node.items.flatMap((p) => [p.key, p.value]);
  if (isSeq(node)) return node.items;
  return [];
}

/** Per map and list: how many values it expands to (itself included). The graph is acyclic here. */
function expandedSizes(root: unknown, targets: ReadonlyMap<Alias, YamlNode>): Map<YamlNode, number> {
  const sizes = new Map<YamlNode, number>();
  const isCollection = (n: unknown): boolean => isMap(n) || isSeq(n);
  if (!isCollection(root)) return sizes;
  // Post-order without recursion (a deeply nested document must not overflow the stack).
  const stack: { node: unknown; children: unknown[]; next: number; sum: number }[] = [{ node: root, children: childrenOf(root), next: 0, sum: 1 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.children.length) {
      stack.pop();
      sizes.set(top.node as YamlNode, top.sum);
      if (stack.length) stack[stack.length - 1]!.sum += top.sum;
      continue;
    }
    const child = top.children[top.next++];
    const node = isAlias(child) ? targets.get(child) : child;
    if (node === null || node === undefined) continue;
    if (!isCollection(node)) { top.sum += 1; continue; }
    const known = sizes.get(node as YamlNode);
    if (known !== undefined) top.sum += known;
    else stack.push({ node, children: childrenOf(node), next: 0, sum: 1 });
  }
  return sizes;
}

/** The alias whose target expands to the most values (the first of equals in document order). */
function largestAlias(targets: ReadonlyMap<Alias, YamlNode>, sizes: ReadonlyMap<YamlNode, number>): Alias {
  let best: Alias | undefined;
  let bestSize = -1;
  for (const [alias, target] of targets) {
    const s = sizes.get(target) ?? 1;
    if (s > bestSize) { best = alias; bestSize = s; }
  }
  return best!;
}
