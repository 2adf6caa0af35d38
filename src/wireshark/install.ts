// Where bindlab's Wireshark files are (the Lua postdissector and the "bindlab" configuration
// profile, shipped in the package's wireshark/ folder) and where Wireshark looks for a user's
// own: `bindlab wireshark` prints both, `--install` copies ours there. Only ever under the
// user's home: a folder that resolves outside it is refused, not written.

import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROFILE_NAME = 'bindlab';
export const PLUGIN_FILE = 'bindlab.lua';

/** The package's wireshark/ folder: two levels above this module in src/, dist/ and dist/bin/ alike. */
export function shippedFolder(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = resolve(here, '..', '..', 'wireshark');
  if (!existsSync(join(dir, PLUGIN_FILE))) throw new Error(`bindlab's wireshark/ folder is missing (looked in ${dir})`);
  return dir;
}

export interface ShippedFiles {
  readonly plugin: string;
  readonly profile: string;
  /** The profile's files, by name (colorfilters, preferences, ...). */
  readonly profileFiles: readonly string[];
}

export function shippedFiles(dir = shippedFolder()): ShippedFiles {
  const profile = join(dir, 'profiles', PROFILE_NAME);
  return { plugin: join(dir, PLUGIN_FILE), profile, profileFiles: readdirSync(profile).filter((f) => !f.startsWith('.')).sort() };
}

/** Environment the folders depend on (process.env by default; tests pass their own). */
export interface WiresharkEnv {
  readonly HOME?: string;
  readonly XDG_CONFIG_HOME?: string;
  readonly WIRESHARK_CONFIG_DIR?: string;
  readonly APPDATA?: string;
}

export interface UserFolders {
  readonly home: string;
  /** Wireshark's personal Lua plugin folder. */
  readonly plugins: string;
  /** Wireshark's personal configuration folder (profiles/ is under it). */
  readonly config: string;
  readonly profile: string;
}

/**
 * The folders Wireshark (3.x, 4.x) reads a user's Lua plugins and profiles from, as
 * `tshark -G folders` shows them [wsutil/filesystem.c get_persconffile_dir_no_profile,
 * get_plugins_pers_dir]: the configuration folder is $WIRESHARK_CONFIG_DIR, else ~/.wireshark
 * when it exists, else $XDG_CONFIG_HOME/wireshark (~/.config/wireshark); Lua plugins are in
 * ~/.local/lib/wireshark/plugins. On Windows both are under %APPDATA%\Wireshark.
 */
export function userFolders(env: WiresharkEnv = process.env, platform: NodeJS.Platform = process.platform): UserFolders {
  const home = env.HOME && env.HOME !== '' ? env.HOME : homedir();
  if (!isAbsolute(home)) throw new InstallError(`HOME is "${home}", not an absolute path`);
  let config: string;
  let plugins: string;
  if (platform === 'win32') {
    const appdata = env.APPDATA && env.APPDATA !== '' ? env.APPDATA : join(home, 'AppData', 'Roaming');
    config = env.WIRESHARK_CONFIG_DIR || join(appdata, 'Wireshark');
    plugins = join(appdata, 'Wireshark', 'plugins');
  } else {
    const legacy = join(home, '.wireshark');
    const xdg = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(home, '.config');
    config = env.WIRESHARK_CONFIG_DIR || (isDirectory(legacy) ? legacy : join(xdg, 'wireshark'));
    plugins = join(home, '.local', 'lib', 'wireshark', 'plugins');
  }
  return { home, plugins, config, profile: join(config, 'profiles', PROFILE_NAME) };
}

function isDirectory(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

/** A refusal to install (a folder outside the home, an unusable HOME): exit 2, nothing written. */
export class InstallError extends Error {
  override readonly name = 'InstallError';
}

/** The real path of p's nearest existing ancestor (p itself when it exists) joined with the rest. */
function realTarget(p: string): string {
  let existing = resolve(p);
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const up = dirname(existing);
    if (up === existing) break;
    rest.unshift(existing.slice(up.length + (up.endsWith(sep) ? 0 : 1)));
    existing = up;
  }
  return join(realpathSync(existing), ...rest);
}

/** Whether `p`, links resolved, lies strictly inside `home`. */
export function insideHome(p: string, home: string): boolean {
  const h = realTarget(home);
  const r = relative(h, realTarget(p));
  return r !== '' && !r.startsWith('..') && !isAbsolute(r);
}

export type FileAction = 'new' | 'updated' | 'unchanged';

export interface InstalledFile {
  readonly path: string;
  readonly action: FileAction;
  /** Where a different file that was there is kept (updated only). */
  readonly backup?: string;
}

export interface InstallReport {
  readonly folders: UserFolders;
  readonly files: readonly InstalledFile[];
}

/**
 * Copies the plugin and the profile into the user's folders. Every target is checked to lie
 * inside the home before anything is written; each file is written under a temporary name in
 * its folder and renamed over the old one; a file that is already the same is left alone (a
 * second install changes nothing), and a different one is kept as FILE.bak first.
 */
export function installWireshark(env: WiresharkEnv = process.env, shipped: ShippedFiles = shippedFiles(),
  platform: NodeJS.Platform = process.platform): InstallReport {
  const folders = userFolders(env, platform);
  const home = folders.home;
  if (!existsSync(home)) throw new InstallError(`home folder ${home} does not exist`);
  if (realTarget(home) === resolve('/')) throw new InstallError('the home folder is /; refusing to install outside a user\'s own folder');
  const copies: [string, string][] = [[shipped.plugin, join(folders.plugins, PLUGIN_FILE)]];
  for (const f of shipped.profileFiles) copies.push([join(shipped.profile, f), join(folders.profile, f)]);
  for (const [, to] of copies) {
    if (!insideHome(to, home)) throw new InstallError(`${to} is outside the home folder ${home}; nothing installed (check WIRESHARK_CONFIG_DIR, XDG_CONFIG_HOME)`);
  }
  const files: InstalledFile[] = [];
  for (const [from, to] of copies) files.push(copyAtomic(from, to));
  return { folders, files };
}

function copyAtomic(from: string, to: string): InstalledFile {
  const bytes = readFileSync(from);
  let old: Buffer | null = null;
  try { old = readFileSync(to); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  if (old && old.equals(bytes)) return { path: to, action: 'unchanged' };
  mkdirSync(dirname(to), { recursive: true });
  const tmp = `${to}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    let backup: string | undefined;
    if (old) {
      backup = `${to}.bak`;
      writeFileSync(backup, old);
    }
    renameSync(tmp, to);
    return backup ? { path: to, action: 'updated', backup } : { path: to, action: 'new' };
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
