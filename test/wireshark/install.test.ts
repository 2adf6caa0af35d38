// `bindlab wireshark` and `--install`: the shipped files exist and are in the package, the folders
// are Wireshark's own (as `tshark -G folders` names them), an install goes under the home only,
// says what it did, and a second one changes nothing.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installWireshark, insideHome, InstallError, shippedFiles, userFolders } from '../../src/wireshark/install.js';
import { CLI, ROOT, ensureBuilt } from '../testing/helpers.js';
import { FAST } from '../tools.js';

const home = () => mkdtempSync(join(tmpdir(), 'bindlab-home-'));

const CACHE = mkdtempSync(join(tmpdir(), 'bindlab-cache-'));

function cli(args: string[], env: Record<string, string>): ReturnType<typeof spawnSync<string>> {
  // The CLI's code cache (src/cli/launch.ts) goes outside the home these tests look into.
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', XDG_CACHE_HOME: CACHE, ...env };
  for (const k of ['XDG_CONFIG_HOME', 'WIRESHARK_CONFIG_DIR']) if (!(k in env)) delete e[k];
  return spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: e });
}

/** Every file under dir, relative. */
function tree(dir: string, at = ''): string[] {
  if (!existsSync(join(dir, at))) return [];
  return readdirSync(join(dir, at), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tree(dir, join(at, e.name)) : [join(at, e.name)]).sort();
}

describe('the shipped Wireshark files', () => {
  it('are the plugin and a profile with colouring rules, columns and filter buttons, listed in package.json "files"', () => {
    const s = shippedFiles();
    expect(existsSync(s.plugin)).toBe(true);
    expect(s.profileFiles).toEqual(['colorfilters', 'dfilter_buttons', 'preferences']);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('wireshark');
    expect(readFileSync(join(s.profile, 'preferences'), 'utf8')).toMatch(/"Accepted by", "%Cus:bindlab\.accepted_by:0:R"/);
    expect(readFileSync(join(s.profile, 'colorfilters'), 'utf8')).toMatch(/^@bindlab: another uid took the connection@bindlab\.other_uid == 1@/m);
  });
});

describe('userFolders: where Wireshark looks (tshark -G folders)', () => {
  it.each([
    ['the defaults', {}, '.config/wireshark'],
    ['XDG_CONFIG_HOME', { XDG_CONFIG_HOME: 'XDG' }, 'XDG/wireshark'],
    ['WIRESHARK_CONFIG_DIR first', { XDG_CONFIG_HOME: 'XDG', WIRESHARK_CONFIG_DIR: 'WS' }, 'WS'],
  ])('%s', (_name, extra, config) => {
    const h = home();
    const env = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, join(h, v)]));
    const f = userFolders({ HOME: h, ...env }, 'linux');
    expect(f.config).toBe(join(h, config));
    expect(f.profile).toBe(join(h, config, 'profiles', 'bindlab'));
    expect(f.plugins).toBe(join(h, '.local/lib/wireshark/plugins'));
  });

  it('an existing ~/.wireshark wins over XDG_CONFIG_HOME, as in Wireshark', () => {
    const h = home();
    mkdirSync(join(h, '.wireshark'));
    expect(userFolders({ HOME: h, XDG_CONFIG_HOME: join(h, 'xdg') }, 'linux').config).toBe(join(h, '.wireshark'));
  });

  it.skipIf(FAST || spawnSync('tshark', ['-v'], { stdio: 'ignore' }).status !== 0)('agrees with tshark -G folders', () => {
    const h = home();
    const env = { ...process.env, HOME: h, XDG_CONFIG_HOME: join(h, 'xdg') };
    delete env.WIRESHARK_CONFIG_DIR;
    const out = spawnSync('tshark', ['-G', 'folders'], { encoding: 'utf8', env }).stdout;
    const folder = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(out)?.[1];
    const f = userFolders({ HOME: h, XDG_CONFIG_HOME: join(h, 'xdg') }, 'linux');
    expect(folder('Personal configuration')).toBe(f.config);
    expect(folder('Personal Lua Plugins')).toBe(f.plugins);
  });
});

describe('installWireshark', () => {
  it('copies the plugin and the profile, then a second install changes nothing', () => {
    const h = home();
    const first = installWireshark({ HOME: h }, shippedFiles(), 'linux');
    expect(first.files.map((f) => f.action)).toEqual(['new', 'new', 'new', 'new']);
    expect(tree(h)).toEqual(['.config/wireshark/profiles/bindlab/colorfilters', '.config/wireshark/profiles/bindlab/dfilter_buttons',
      '.config/wireshark/profiles/bindlab/preferences', '.local/lib/wireshark/plugins/bindlab.lua']);
    expect(readFileSync(join(h, '.local/lib/wireshark/plugins/bindlab.lua'))).toEqual(readFileSync(shippedFiles().plugin));
    const second = installWireshark({ HOME: h }, shippedFiles(), 'linux');
    expect(second.files.map((f) => f.action)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(tree(h).length).toBe(4);
  });

  it('keeps a file the user changed as FILE.bak and leaves the profile\'s other files alone', () => {
    const h = home();
    installWireshark({ HOME: h }, shippedFiles(), 'linux');
    const prefs = join(h, '.config/wireshark/profiles/bindlab/preferences');
    writeFileSync(prefs, 'gui.column.format: "No.", "%m"\n');
    writeFileSync(join(h, '.config/wireshark/profiles/bindlab/recent'), 'kept\n');
    const r = installWireshark({ HOME: h }, shippedFiles(), 'linux');
    expect(r.files.find((f) => f.path === prefs)).toEqual({ path: prefs, action: 'updated', backup: `${prefs}.bak` });
    expect(readFileSync(`${prefs}.bak`, 'utf8')).toBe('gui.column.format: "No.", "%m"\n');
    expect(readFileSync(prefs)).toEqual(readFileSync(join(shippedFiles().profile, 'preferences')));
    expect(readFileSync(join(h, '.config/wireshark/profiles/bindlab/recent'), 'utf8')).toBe('kept\n');
  });

  it.each([
    ['XDG_CONFIG_HOME outside the home', (h: string, out: string) => ({ HOME: h, XDG_CONFIG_HOME: out })],
    ['WIRESHARK_CONFIG_DIR outside the home', (h: string, out: string) => ({ HOME: h, WIRESHARK_CONFIG_DIR: out })],
    ['a plugin folder that links outside the home', (h: string, out: string) => {
      mkdirSync(join(h, '.local/lib/wireshark'), { recursive: true });
      symlinkSync(out, join(h, '.local/lib/wireshark/plugins'));
      return { HOME: h };
    }],
  ])('refuses %s and writes nothing', (_name, envOf) => {
    const h = home();
    const out = mkdtempSync(join(tmpdir(), 'bindlab-outside-'));
    const env = envOf(h, out);
    const before = tree(h);
    expect(() => installWireshark(env, shippedFiles(), 'linux')).toThrow(InstallError);
    expect(tree(out)).toEqual([]);
    expect(tree(h)).toEqual(before);
  });

  it('insideHome: the home itself and its parents are not inside it', () => {
    const h = home();
    expect(insideHome(join(h, 'a/b'), h)).toBe(true);
    expect(insideHome(h, h)).toBe(false);
    expect(insideHome(join(h, '..'), h)).toBe(false);
    expect(insideHome(join(h, '../x'), h)).toBe(false);
  });
});

describe('bindlab wireshark (the CLI)', () => {
  it('prints where the files are and how to use them', () => {
    ensureBuilt();
    const h = home();
    const r = cli(['wireshark'], { HOME: h });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Lua postdissector  ${shippedFiles().plugin}`);
    expect(r.stdout).toContain(`tshark -X lua_script:${shippedFiles().plugin}`);
    expect(r.stdout).toContain(`profile -> ${join(h, '.config/wireshark/profiles/bindlab')}/`);
    expect(tree(h)).toEqual([]);
  });

  it('--install says what it did; again, that nothing changed; outside the home, exit 2', () => {
    ensureBuilt();
    const h = home();
    const first = cli(['wireshark', '--install'], { HOME: h });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^bindlab wireshark: installed 4 of 4 files$/m);
    expect(first.stdout).toContain(`new       ${join(h, '.local/lib/wireshark/plugins/bindlab.lua')}`);
    const again = cli(['wireshark', '--install'], { HOME: h });
    expect(again.stdout).toMatch(/^bindlab wireshark: already installed, nothing changed$/m);
    const out = mkdtempSync(join(tmpdir(), 'bindlab-outside-'));
    const refused = cli(['wireshark', '--install'], { HOME: home(), XDG_CONFIG_HOME: out });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/^bindlab: .* is outside the home folder .*; nothing installed/);
    expect(refused.stderr).not.toMatch(/at .*\.js/);
  });
});
