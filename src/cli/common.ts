// What every command shares: the input-error type (exit 2, no stack trace) and colour choice.
import { BUILTIN_POLICIES } from '../emu/policy/names.js';
import { abortAllPublications } from '../io/publish.js';

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

/** A command stopped by SIGINT or SIGTERM: exit 128 + the signal's number, as a shell reports it. */
export class Interrupted extends Error {
  readonly exitCode: number;
  constructor(readonly signal: 'SIGINT' | 'SIGTERM', what: string) {
    super(`${what} (${signal})`);
    this.exitCode = 128 + (signal === 'SIGINT' ? 2 : 15);
  }
}

/**
 * Runs a command that writes outputs with SIGINT and SIGTERM handled: the first aborts `signal`
 * (the command stops at its next check, its temporary files removed) and the command ends with
 * Interrupted; a second removes every temporary file at once and exits.
 */
export async function withSignals<T>(what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let got: 'SIGINT' | 'SIGTERM' | null = null;
  const on = (sig: 'SIGINT' | 'SIGTERM'): void => {
    if (got) {
      abortAllPublications();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    }
    got = sig;
    ac.abort();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  try {
    const result = await fn(ac.signal);
    if (got) throw new Interrupted(got, `${what} interrupted after its outputs were written`);
    return result;
  } catch (e) {
    if (got) {
      abortAllPublications();
      if (e instanceof Interrupted) throw e;
      throw new Interrupted(got, `${what} interrupted; no output written`);
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', on);
    process.removeListener('SIGTERM', on);
  }
}
