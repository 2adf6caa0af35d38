// bindlab init [DIR]: writes a commented starter scenario to DIR/starter.yaml; with
// --from-capture FILE, DIR/<capture>.yaml read off the capture (src/replay/from-capture.ts).
import { existsSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { CaptureFormatError } from '../../pcap/capture-reader.js';
import { scanCapture, starterFromCapture } from '../../replay/from-capture.js';
import { loadScenarioFile } from '../../scenario/load.js';
import { STARTER_FILE, STARTER_SCENARIO } from '../../testing/starter.js';
import { UsageError, type ExitCode } from '../common.js';
import { schemaComment } from '../schema-ref.js';
import type { InitArgs } from '../builders.js';

export function initCommand(argv: InitArgs): ExitCode {
  if (argv['from-capture'] !== undefined) return initFromCapture(argv, argv['from-capture']);
  const path = join(argv.dir, STARTER_FILE);
  if (existsSync(path) && !argv.force) throw new UsageError(`${path} exists; --force overwrites it`);
  mkdirSync(argv.dir, { recursive: true });
  // The schema comment first: editors then complete and check the file, wherever it and bindlab are.
  const text = `${schemaComment(argv.dir)}\n${STARTER_SCENARIO}`;
  writeFileSync(path, text.endsWith('\n') ? text : `${text}\n`);
  process.stdout.write(`wrote ${path}\nnext: bindlab run ${path}   (the matrix; captures in out/)\n      bindlab test ${argv.dir}   (every expectation checked)\n`);
  return 0;
}

function initFromCapture(argv: InitArgs, capture: string): ExitCode {
  const path = join(argv.dir, `${basename(capture, extname(capture))}.yaml`);
  if (existsSync(path) && !argv.force) throw new UsageError(`${path} exists; --force overwrites it`);
  let scanned;
  try {
    scanned = scanCapture(capture);
  } catch (e) {
    if (e instanceof CaptureFormatError) throw new UsageError(e.message);
    throw e;
  }
  const starter = starterFromCapture(scanned, capture);
  if (starter.servers === 0) {
    const syns = [...scanned.endpoints.values()].reduce((n, e) => n + e.syns, 0);
    const datagrams = [...scanned.udp.values()].reduce((n, e) => n + e.datagrams, 0);
    throw new UsageError(`${capture}: no SYN and no UDP datagram in its ${scanned.packets} packets was answered (${syns} SYNs, ${datagrams} datagrams), so no server to write: a capture of both directions is needed`);
  }
  mkdirSync(argv.dir, { recursive: true });
  // Checked by loading it back before it takes its name: a file that does not load is our bug, never the user's.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, starter.text);
  try {
    loadScenarioFile(tmp);
  } catch (e) {
    unlinkSync(tmp);
    throw new Error(`bindlab init --from-capture wrote a scenario that does not load (a bug): ${e instanceof Error ? e.message : String(e)}`);
  }
  renameSync(tmp, path);
  const maps = starter.maps.map((m) => ` --map ${m}`).join('');
  process.stdout.write(`wrote ${path}: ${starter.servers} server host${starter.servers === 1 ? '' : 's'}, ${starter.listeners} listener${starter.listeners === 1 ? '' : 's'}${starter.udpSockets ? `, ${starter.udpSockets} UDP socket${starter.udpSockets === 1 ? '' : 's'}` : ''}\n`
    + (starter.maps.length ? `the capture's loopback or link-local addresses become scenario addresses:${maps}\n` : '')
    + `next: bindlab replay ${capture} -s ${path}${maps} -p linux --check\n`);
  return 0;
}
