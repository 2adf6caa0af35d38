// Whether a citation the product prints leads somewhere a user can follow: a file of the repo's
// docs/ (with the #anchor present), a public URL, or a public source file by name
// (net/ipv4/inet_connection_sock.c, in_pcb.c, nf-winsock-bind.md). Notes kept outside the
// repository (the team's shared SEMANTICS.md, SCENARIO.md, KERNEL-FACTS.md) and search-index ids
// are not something a user has.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');

/** References to files a user of the package never has. */
export const FORBIDDEN = /SEMANTICS|SCENARIO\.md|KERNEL-FACTS|\bshared\/|\bshared docs\b|index id|seed-1999/;
/** docs/x.md or docs/x.md#anchor */
const DOCS_REF = /\bdocs\/[\w/.-]+?\.md(?:#[\w.-]+)?/g;
const URL = /https?:\/\/[^\s\])>"'`]+/;
/** A source or document file by name: path/to/file.c, tcp_timer.h, nf-winsock-bind.md. */
const SOURCE_FILE = /(?:^|[\s([,;:"])(?:[\w.+-]+\/)*[\w+-]+\.(?:c|h|md|txt)\b/;

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors of a markdown file: its headings' slugs (numbered for repeats, as GitHub does) and explicit ids. */
export function anchorsOf(path: string): Set<string> {
  const have = anchorCache.get(path);
  if (have) return have;
  const text = readFileSync(path, 'utf8').replace(/```[\s\S]*?```/g, '');
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const s = slug(m[1]!.replace(/`/g, ''));
    const n = seen.get(s) ?? 0;
    seen.set(s, n + 1);
    anchors.add(n === 0 ? s : `${s}-${n}`);
  }
  for (const m of text.matchAll(/<a (?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  anchorCache.set(path, anchors);
  return anchors;
}

/** The problems of one reference to the repo's docs ("docs/x.md#a"); none when it resolves. */
export function docsRefProblems(ref: string): string[] {
  const [file, anchor] = ref.split('#') as [string, string | undefined];
  const path = join(ROOT, file);
  if (!existsSync(path)) return [`${ref}: ${file} does not exist`];
  if (anchor !== undefined && !anchorsOf(path).has(anchor)) return [`${ref}: no heading or id "${anchor}" in ${file}`];
  return [];
}

/** Every docs/ reference in a text. */
export function docsRefs(text: string): string[] {
  return [...text.matchAll(DOCS_REF)].map((m) => m[0]);
}

/**
 * What is wrong with a citation; [] when it resolves: nothing outside the repository is named,
 * every docs/ reference exists with its anchor, and at least one reference can be followed.
 */
export function citationProblems(citation: string): string[] {
  const problems: string[] = [];
  const bad = FORBIDDEN.exec(citation);
  if (bad) problems.push(`names "${bad[0]}", which a user does not have`);
  const refs = docsRefs(citation);
  for (const r of refs) problems.push(...docsRefProblems(r));
  if (refs.length === 0 && !URL.test(citation) && !SOURCE_FILE.test(citation)) {
    problems.push('names no docs/ page, URL or source file');
  }
  return problems;
}

/**
 * The citation of a decision's reason as the engine and explain print it: the last "[...]" that
 * holds words or a path ("[::]:80" is an address), possibly followed by a remark such as "(UNCONFIRMED)".
 */
export function trailingCitation(reason: string): string | undefined {
  const groups = [...reason.matchAll(/\[([^[\]]*[\s/][^[\]]*)\]/g)];
  return groups.at(-1)?.[1];
}
