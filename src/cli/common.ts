// What every command shares: the input-error type (exit 2, no stack trace) and colour choice.
import { BUILTIN_POLICIES } from '../emu/policy/names.js';

/** An input problem: printed as "bindlab: message" without a stack trace, exit 2. */
export class UsageError extends Error {}

/** Colour only on a TTY and never with NO_COLOR (https://no-color.org). */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
}

export function checkPolicies(names: readonly string[] | undefined, known: readonly string[] = BUILTIN_POLICIES): void {
  for (const n of names ?? []) {
    if (!known.includes(n)) throw new UsageError(`unknown policy "${n}"; known policies: ${known.join(', ')}`);
  }
}

/** A command's result: the process exit code. */
export type ExitCode = 0 | 1 | 2;
