// Every command's options (yargs builders) and argument types, in one light module: main.ts
// loads this for --help and parsing, and imports a command's implementation only when that
// command runs, so `bindlab replay` does not load the HTML report, the audit or the kernel harness.

import type { Argv } from 'yargs';
import { BUILTIN_POLICIES } from '../emu/policy/names.js';
import type { CaptureFormat } from '../runner.js';
import { STARTER_FILE } from '../testing/starter.js';

// audit
export interface AuditArgs { policy: string; addresses: number; sockets: number; udp: boolean; json: boolean; out?: string; show: number; 'policy-file'?: string[] }

export function auditBuilder(y: Argv): Argv<AuditArgs> {
  return y
    .option('policy', { alias: 'p', type: 'string', demandOption: true, describe: 'the policy to audit (built-in, or custom from --policy-file)' })
    .option('addresses', { alias: 'a', type: 'number', default: 3, describe: 'most addresses of the server (1..3); every count from 1 up is explored' })
    .option('sockets', { type: 'number', default: 3, describe: 'most sockets per configuration (2..3)' })
    .option('udp', { type: 'boolean', default: false, describe: 'datagram sockets and datagrams: who can take another uid\'s datagrams' })
    .option('out', { alias: 'o', type: 'string', describe: 'write one scenario file per finding into this directory' })
    .option('show', { type: 'number', default: 2, describe: 'how many findings to print with their scenario text' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' })
    .option('policy-file', { type: 'string', array: true, describe: 'YAML list of custom policies' })
    .example('$0 audit -p pajari-1999', 'the hijacks the 1999 proposal allows, with scenario files')
    .example('$0 audit -p my-fix --policy-file fix.yaml --out findings/', 'judge a fix of your own')
    .example('$0 audit -p linux --udp', 'who can take another uid\'s UDP datagrams under linux') as unknown as Argv<AuditArgs>;
}

// explain
export interface ExplainArgs { file: string; policy: string; step: string; json: boolean; 'policy-file'?: string[] }

export function explainBuilder(y: Argv): Argv<ExplainArgs> {
  return y
    .positional('file', { type: 'string', demandOption: true, describe: 'scenario YAML file' })
    .option('policy', { alias: 'p', type: 'string', demandOption: true, describe: 'the policy (built-in, or custom from the file or --policy-file)' })
    // A string, checked by the command: yargs makes "abc" NaN and "1.5" 1.5 of a number option.
    .option('step', { alias: 's', type: 'string', demandOption: true, describe: 'step index, 0-based as in the matrix and the JSON report' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .option('policy-file', { type: 'string', array: true, describe: 'YAML list of custom policies' })
    .example('$0 explain scenarios/pajari-1999.yaml -p linux --step 10', 'why linux refuses the specific bind: the socket it conflicts with')
    .example('$0 explain scenarios/pajari-1999.yaml -p pajari-1999 --step 21', 'every candidate listener for the connection, with its score') as unknown as Argv<ExplainArgs>;
}

// init
export interface InitArgs { dir: string; force: boolean; 'from-capture'?: string }

export function initBuilder(y: Argv): Argv<InitArgs> {
  return y
    .positional('dir', { type: 'string', default: '.', describe: `directory for ${STARTER_FILE} (created if missing)` })
    .option('force', { type: 'boolean', default: false, describe: `overwrite an existing ${STARTER_FILE}` })
    .option('from-capture', { type: 'string', describe: 'write DIR/<capture>.yaml from a pcap/pcapng: the hosts that answered SYNs, a listener per port seen accepting, the clients, and the --map lines to replay it' })
    .example('$0 init scenarios', `writes scenarios/${STARTER_FILE}`)
    .example('$0 init my --from-capture server.pcap', 'writes my/server.yaml; then bindlab replay server.pcap -s my/server.yaml') as unknown as Argv<InitArgs>;
}

// policies
export interface PoliciesArgs { name?: string; json: boolean; rules: boolean; 'policy-file'?: string[] }

export function policiesBuilder(y: Argv): Argv<PoliciesArgs> {
  return y
    .positional('name', { type: 'string', describe: 'one policy (built-in or from --policy-file)' })
    .option('rules', { type: 'boolean', default: false, describe: 'every rule choice of the vocabulary custom policies are written in' })
    .option('json', { type: 'boolean', default: false, describe: 'print JSON' })
    .option('policy-file', { type: 'string', array: true, describe: 'YAML list of custom policies to include' })
    .example('$0 policies', 'the catalogue')
    .example('$0 policies linux', "linux's rules, sources and open points")
    .example('$0 policies --rules', 'every rule choice, and which policies make it') as unknown as Argv<PoliciesArgs>;
}

// replay
export interface ReplayArgs { capture: string; scenario: string; policy?: string[]; out: string; map?: string[]; json: boolean; output: boolean; progress: boolean; html?: string; jobs?: number; check: boolean; junit?: string; strict: boolean }

export function replayBuilder(y: Argv): Argv<ReplayArgs> {
  return y
    .positional('capture', { type: 'string', demandOption: true, describe: 'pcap or pcapng file, gzip-compressed or not; "-" (standard input) or a FIFO is read as it comes' })
    .option('scenario', { alias: 's', type: 'string', demandOption: true, describe: 'scenario whose steps before the first connect set up the hosts' })
    .option('policy', { alias: 'p', type: 'string', array: true, describe: `policies (default: the scenario's, else all: ${BUILTIN_POLICIES.join(', ')})` })
    .option('out', { alias: 'o', type: 'string', default: 'out', describe: 'directory for the output captures' })
    .option('map', { type: 'string', array: true, describe: 'CAPTURED=SCENARIO address mapping, e.g. 192.168.1.5=10.0.0.1 (repeatable)' })
    .option('output', { type: 'boolean', default: true, describe: 'write a capture per policy (--no-output: decisions only)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the replay report (JSON) instead of the summary' })
    .option('html', { type: 'string', describe: 'also write a self-contained HTML page: hosts, connections x policies, capture links' })
    .option('progress', { type: 'boolean', default: true, describe: 'progress bar on stderr when it is a terminal' })
    .option('jobs', { alias: 'j', type: 'number', describe: 'threads to share the policies\' outputs among (default: one per core, up to 2, for captures of 32 MiB or more; 1: one thread)' })
    .option('check', { type: 'boolean', default: false, describe: 'exit 1 when a policy disagrees with what the capture shows the real server did' })
    .option('junit', { type: 'string', describe: 'also write JUnit XML: per policy, whether it agrees with the capture' })
    .option('strict', { type: 'boolean', default: false, describe: 'refuse a capture cut inside its last record (default: replay what was read and warn)' })
    .example('$0 replay captures/reuseport.pcap -s captures/reuseport.yaml -p linux', 'what linux does with the captured connections')
    .example('$0 replay server.pcap -s server.yaml -p linux --check --junit out/replay.xml', 'CI: does the linux policy agree with this host\'s capture?')
    .example('$0 replay web.pcapng -s scenarios/pajari-1999.yaml --map 192.168.1.5=10.0.0.2 --json', 'map a real address onto a scenario alias')
    .example('tcpdump -i eth0 -w - tcp | $0 replay - -s server.yaml -p linux', 'live traffic, streamed from standard input') as unknown as Argv<ReplayArgs>;
}

// run
export interface RunArgs { files: string[]; policy?: string[]; 'policy-file'?: string[]; out: string; format: CaptureFormat; json: boolean; capture: boolean; html?: string; progress: boolean }

export function runBuilder(y: Argv): Argv<RunArgs> {
  return y
    .positional('files', { type: 'string', array: true, demandOption: true, describe: 'scenario YAML files' })
    .option('policy', { alias: 'p', type: 'string', array: true, describe: `policies to run (default: the scenario's, else all: ${BUILTIN_POLICIES.join(', ')})` })
    .option('policy-file', { type: 'string', array: true, describe: 'YAML list of custom policies {name, extends, rules} (see bindlab policies --rules)' })
    .option('out', { alias: 'o', type: 'string', default: 'out', describe: 'directory for the captures' })
    .option('format', { choices: ['pcapng', 'pcap'] as const, default: 'pcapng' as const, describe: 'capture format' })
    .option('json', { type: 'boolean', default: false, describe: 'print the JSON report instead of the matrix' })
    .option('capture', { type: 'boolean', default: true, describe: 'write captures (--no-capture: decisions only)' })
    .option('html', { type: 'string', describe: 'also write a self-contained HTML report: hosts, matrix, ladder diagrams, capture links' })
    .option('progress', { type: 'boolean', default: true, describe: 'progress bar on stderr when it is a terminal and the run is long (10,000 steps and connections or more)' })
    .example('$0 run scenarios/pajari-1999.yaml', 'all policies; captures in out/')
    .example('$0 run scenarios/reuseport.yaml -p linux --json', 'one policy, the JSON report on stdout')
    .example('$0 run scenarios/*.yaml --format pcap -o /tmp/caps', 'classic pcap files elsewhere')
    .example('$0 run scenarios/pajari-1999.yaml --html out/report.html', 'one page to open in a browser, offline') as unknown as Argv<RunArgs>;
}

// test
export interface TestArgs { paths: string[]; policy?: string[]; junit?: string; golden?: string; update: boolean }

export function testBuilder(y: Argv): Argv<TestArgs> {
  return y
    .positional('paths', { type: 'string', array: true, default: ['scenarios'], describe: 'scenario files or directories (searched for *.yaml)' })
    .option('policy', { alias: 'p', type: 'string', array: true, describe: `policies to run (default: each scenario's, else all: ${BUILTIN_POLICIES.join(', ')})` })
    .option('junit', { type: 'string', describe: 'also write JUnit XML to this file' })
    .option('golden', { type: 'string', describe: 'compare each capture byte for byte with DIR/<scenario>.<policy>.pcapng' })
    .option('update', { type: 'boolean', default: false, describe: 'write the current results into failing expectations (and, with --golden, the golden captures)' })
    .example('$0 test', 'every scenario under scenarios/')
    .example('$0 test scenarios --junit out/junit.xml', 'JUnit XML for CI')
    .example('$0 test scenarios --golden test/golden', 'captures must equal the stored ones')
    .example('$0 test scenarios/hijack.yaml --update', 'accept the current results into the file') as unknown as Argv<TestArgs>;
}

// validate
export interface ValidateArgs { files: string[] }

export function validateBuilder(y: Argv): Argv<ValidateArgs> {
  return y
    .positional('files', { type: 'string', array: true, demandOption: true, describe: 'scenario YAML files' })
    .example('$0 validate scenarios/*.yaml', 'errors name file:line:col') as unknown as Argv<ValidateArgs>;
}

// verify-kernel
export interface VerifyKernelArgs { files: string[]; keep: boolean; verbose: boolean; capture?: string }

export function verifyKernelBuilder(y: Argv): Argv<VerifyKernelArgs> {
  return y
    .positional('files', { type: 'string', array: true, demandOption: true, describe: 'scenario YAML files' })
    .option('keep', { type: 'boolean', default: false, describe: 'leave the network namespaces in place afterwards (ip netns list)' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print the namespace set-up commands on stderr' })
    .option('capture', { type: 'string', describe: 'record what the kernel sends in DIR (tcpdump, one file per host), write the emulated capture beside it and compare them header field by field' })
    .example('sudo $0 verify-kernel --capture out/kernel scenarios/loopback.yaml', 'also the packets: TTL, DF, IP IDs, MSS, windows, options, flow labels, close sequences')
    .example('sudo $0 verify-kernel scenarios/reuseport.yaml', 'kernel and emulator side by side; exit 1 on any difference') as unknown as Argv<VerifyKernelArgs>;
}

// wireshark
export interface WiresharkArgs { install: boolean }

export function wiresharkBuilder(y: Argv): Argv<WiresharkArgs> {
  return y
    .option('install', { type: 'boolean', default: false, describe: "copy the Lua plugin and the profile into your own Wireshark folders (under your home only)" })
    .example('$0 wireshark', 'where the plugin and the profile are, and how to use them')
    .example('$0 wireshark --install', 'then: wireshark -C bindlab out/hijack.pajari-1999.pcapng') as unknown as Argv<WiresharkArgs>;
}
