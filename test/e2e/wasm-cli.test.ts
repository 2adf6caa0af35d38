// The installed command builds replay outputs in WebAssembly: the bundle (dist/bin/cli.cjs) and
// the replay's worker threads (dist/bin/worker.js) find dist/wasm/packets.wasm, and the package
// ships it. BINDLAB_WASM=1 makes a module that cannot load an error, BINDLAB_WASM=0 leaves it out:
// the outputs of both are the same bytes, one policy in the command's own thread or several in workers.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'dist/bin/bindlab.js');

function replay(wasm: '0' | '1', policies: string[], jobs: number): Map<string, Buffer> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), `bindlab-wasm-cli-${wasm}-`));
  try {
    const r = spawnSync(process.execPath, [CLI, 'replay', 'captures/dual-stack.pcapng', '-s', 'captures/dual-stack.yaml', ...policies.flatMap((p) => ['-p', p]),
      '--jobs', String(jobs), '-o', out, '--no-progress'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, BINDLAB_WASM: wasm } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return new Map(fs.readdirSync(out).map((n) => [n, fs.readFileSync(path.join(out, n))]));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

describe('replay outputs built in WebAssembly by the command', () => {
  it.each([[['linux'], 1], [['linux', 'freebsd', 'windows'], 3]] as const)('are the JavaScript\'s bytes (%j, %i jobs)', (policies, jobs) => {
    const wasm = replay('1', [...policies], jobs), js = replay('0', [...policies], jobs);
    expect([...wasm.keys()].sort()).toEqual([...js.keys()].sort());
    expect(wasm.size).toBe(policies.length);
    for (const [name, bytes] of wasm) expect(bytes.equals(js.get(name)!), name).toBe(true);
  });

  it('ship in the package', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toContain('dist/wasm/packets.wasm');
    expect(files).toContain('dist/bin/cli.cjs');
  });
});
