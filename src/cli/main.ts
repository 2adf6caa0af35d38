#!/usr/bin/env node
// The bindlab command line: thin on purpose. Each command lives in src/cli/commands/ (a builder for
// its options and a function that calls the library and formats what comes back); this file only
// registers them, with the options from builders.ts and each command's module imported when it
// runs (start-up loads yargs and the option tables only). Exit codes: 0 ran and every expectation held, 1 some expectation failed, 2 bad
// input (the message names file:line:col) or an unreadable file.

import { readFileSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ScenarioError } from '../scenario/types.js';
import { Interrupted, UsageError } from './common.js';
import { readableStack } from './stack.js';
import { auditBuilder, explainBuilder, initBuilder, policiesBuilder, replayBuilder, runBuilder, testBuilder, validateBuilder,
  verifyKernelBuilder, wiresharkBuilder } from './builders.js';

/** Each command's options, for naming an unknown option in an error (only built when parsing failed). */
const BUILDERS: Record<string, (y: Argv) => Argv<unknown>> = {
  audit: auditBuilder, explain: explainBuilder, init: initBuilder, policies: policiesBuilder, replay: replayBuilder, run: runBuilder,
  test: testBuilder, validate: validateBuilder, 'verify-kernel': verifyKernelBuilder,
};

/** The options a command takes that the arguments name but the command does not know ("--bogus"). */
function unknownOptions(command: string, args: readonly string[]): string[] {
  const builder = BUILDERS[command];
  if (!builder) return [];
  const known = new Set(Object.keys((builder(yargs([]).help().alias('h', 'help').version()) as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key));
  const out: string[] = [];
  for (const a of args) {
    if (a === '--') break;
    const m = /^--?(?:no-)?([^=]+)/.exec(a);
    if (!m || /^-\d/.test(a)) continue;
    // -abc is three short options; --name may be written in kebab or camel case.
    const names = a.startsWith('--') ? [m[1]!] : [...m[1]!];
    for (const n of names) if (!known.has(n) && !known.has(n.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()))) out.push(a.startsWith('--') ? `--${n}` : `-${n}`);
  }
  return out;
}

/** yargs' complaint in the words of this tool: what was wrong, and where to look. */
function usageMessage(msg: string, args: readonly string[]): string {
  const command = args.find((a) => !a.startsWith('-'));
  if (msg.startsWith('Did you mean') && command) return `unknown command "${command}"; did you mean ${msg.slice('Did you mean '.length)}`;
  if (command && msg === `Unknown argument: ${command}`) return `unknown command "${command}" (see bindlab --help)`;
  if (command && (msg.startsWith('Not enough non-option arguments') || msg.startsWith('Unknown argument'))) {
    // "run --bogus f.yaml": the unknown option took the file as its value; name the option, not the arguments.
    const unknown = unknownOptions(command, args);
    if (unknown.length > 0) return `${command}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (see bindlab ${command} --help)`;
    if (msg.startsWith('Not enough')) return `${command} needs more arguments (see bindlab ${command} --help)`;
  }
  return msg;
}

/** The package's version, from the package.json two levels above this module (dist/cli or dist/bin). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Each command's module, imported when it runs; commands run after parsing, not as yargs handlers. */
const COMMANDS: Record<string, (a: never) => Promise<number>> = {
  audit: async (a) => (await import('./commands/audit.js')).auditCommand(a),
  explain: async (a) => (await import('./commands/explain.js')).explainCommand(a),
  init: async (a) => (await import('./commands/init.js')).initCommand(a),
  policies: async (a) => (await import('./commands/policies.js')).policiesCommand(a),
  replay: async (a) => (await import('./commands/replay.js')).replayCommand(a),
  run: async (a) => (await import('./commands/run.js')).runCommand(a),
  test: async (a) => (await import('./commands/test.js')).testCommand(a),
  validate: async (a) => (await import('./commands/validate.js')).validateCommand(a),
  'verify-kernel': async (a) => (await import('./commands/verify-kernel.js')).verifyKernelCommand(a),
  wireshark: async (a) => (await import('./commands/wireshark.js')).wiresharkCommand(a),
};

/**
 * yargs gives every command a handler (a no-op when none is given) and, after running it, renders
 * the command's help text and keeps it for a later showHelp() (command.js
 * handleValidationAndGetResult): cliui and string-width, ~15 ms of every command's start-up, for a
 * text nobody asks for (--help and errors render their own). The usage object is yargs' own,
 * reached through its internal methods; if a yargs version lacks them, nothing changes.
 */
function skipHelpCache(parser: object): void {
  const internal = (parser as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } }).getInternalMethods?.();
  const usage = internal?.getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
}

export async function main(args: string[]): Promise<number> {
  const parser = yargs(args)
    .scriptName('bindlab')
    .usage('$0 <command> [options]\n\nEmulates how each OS decides bind() conflicts and which listener gets a connection,\nand writes the packets as pcapng per policy.')
    // One line per command: keep this list in alphabetical order of the files.
    .command('audit', 'explore every small configuration under a policy: hijacks and refused multi-homed setups, with scenario files', auditBuilder)
    .command('explain <file>', 'why a step came out as it did: the rule, the conflicting socket, the candidate listeners', explainBuilder)
    .command('init [dir]', 'write a commented starter scenario (DIR/starter.yaml)', initBuilder)
    .command('policies [name]', 'the policy catalogue: each policy\'s rules in words with citations; --rules: the rule vocabulary', policiesBuilder)
    .command('replay <capture>', 'replay a capture\'s connection attempts against a scenario under each policy', replayBuilder)
    .command('run <files..>', 'run scenarios under each policy: matrix, JSON report, captures', runBuilder)
    .command('test [paths..]', 'check every expectation of scenario files or directories; JUnit, golden captures, --update', testBuilder)
    .command('validate <files..>', 'check scenario files without running them', validateBuilder)
    .command('verify-kernel <files..>', 'run scenarios on the live Linux kernel (root) beside the linux policy', verifyKernelBuilder)
    .command('wireshark', 'the Wireshark plugin and profile: fields to filter on (bindlab.socket == "web"), columns, colours; --install', wiresharkBuilder)
    .example('$0 run scenarios/pajari-1999.yaml', 'the 1999 question under every policy; captures in out/')
    .example('$0 run scenarios/hijack.yaml -p linux -p pajari-1999 --json', 'two policies, the JSON report on stdout')
    .example('$0 validate scenarios/*.yaml', 'check files; errors name file:line:col')
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .epilogue('Exit codes: 0 every expectation held, 1 an expectation failed, 2 invalid input.\nOpen a capture in Wireshark: wireshark out/pajari-1999.linux.pcapng (packet comments say who accepted each SYN;\nbindlab wireshark: fields, columns and colours for them).')
    .fail((msg, err) => { throw err ?? new UsageError(usageMessage(msg, args)); })
    .wrap(Math.min(110, process.stdout.columns || 100));
  skipHelpCache(parser);
  const argv = await parser.parseAsync();
  // --help has been shown (yargs exits on it only when told to): nothing to run.
  if (argv.help) return 0;
  const command = COMMANDS[String(argv._[0])];
  if (!command) throw new UsageError(usageMessage(`Unknown argument: ${String(argv._[0])}`, args));
  return command(argv as never);
}

// A reader that stops early (bindlab run ... --json | head): the rest of the output is not wanted; no crash.
process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') throw e; });

main(hideBin(process.argv)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof Interrupted) {
      process.stderr.write(`bindlab: ${e.message}\n`);
      process.exitCode = e.exitCode;
    } else if (e instanceof ScenarioError || e instanceof UsageError) {
      // Several problems of a file: each on its own line, each a file:line:col message.
      process.stderr.write(e.message.split('\n').map((l) => `bindlab: ${l}\n`).join(''));
      process.exitCode = 2;
    } else if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string') {
      process.stderr.write(`bindlab: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      // (The bundle's frames mapped to the compiled modules: stack.ts.)
      process.stderr.write(`bindlab: internal error: ${e instanceof Error ? readableStack(e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 70;
    }
  },
);
