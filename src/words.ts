// Counted nouns in messages: "1 host", "2 hosts", "1 policy", "9 policies".

/** `n` and the noun, singular for exactly one: count(1, 'policy', 'policies') is "1 policy". */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
