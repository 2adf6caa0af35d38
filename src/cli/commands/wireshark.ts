// bindlab wireshark [--install]: where the Lua postdissector and the "bindlab" profile are and how
// to use them; --install copies them into the user's own Wireshark folders (under the home only).
import { InstallError, installWireshark, shippedFiles, userFolders, PROFILE_NAME } from '../../wireshark/install.js';
import { UsageError, type ExitCode } from '../common.js';
import type { WiresharkArgs } from '../builders.js';

const quote = (p: string): string => (/^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, `'\\''`)}'`);

export function wiresharkCommand(argv: WiresharkArgs): ExitCode {
  const shipped = shippedFiles();
  if (argv.install) {
    let report;
    try {
      report = installWireshark();
    } catch (e) {
      if (e instanceof InstallError) throw new UsageError(e.message);
      throw e;
    }
    const lines = report.files.map((f) => `  ${f.action.padEnd(9)} ${f.path}${f.backup ? ` (the previous one kept as ${f.backup})` : ''}`);
    const changed = report.files.filter((f) => f.action !== 'unchanged').length;
    process.stdout.write(`${changed === 0 ? 'bindlab wireshark: already installed, nothing changed' : `bindlab wireshark: installed ${changed} of ${report.files.length} files`}\n`
      + `${lines.join('\n')}\n`
      + `Wireshark loads the plugin when it starts (a running one: Analyze > Reload Lua Plugins); choose the profile with -C ${PROFILE_NAME}:\n`
      + `  wireshark -C ${PROFILE_NAME} out/hijack.pajari-1999.pcapng\n`
      + `  tshark -C ${PROFILE_NAME} -r out/hijack.pajari-1999.pcapng -Y 'bindlab.other_uid == 1'\n`);
    return 0;
  }
  const lua = quote(shipped.plugin);
  let target = '';
  try {
    const f = userFolders();
    target = `  plugin  -> ${f.plugins}/\n  profile -> ${f.profile}/\n`;
  } catch (e) {
    if (!(e instanceof InstallError)) throw e;
    target = `  (cannot install here: ${e.message})\n`;
  }
  process.stdout.write(`bindlab's Wireshark files:
  Lua postdissector  ${shipped.plugin}
  profile            ${shipped.profile}/ (${shipped.profileFiles.join(', ')})

The postdissector reads the decision record bindlab writes beside each packet comment and adds
the fields bindlab.policy, bindlab.result, bindlab.socket, bindlab.accepted_by, bindlab.host,
bindlab.process, bindlab.uid, bindlab.group, bindlab.displaced, bindlab.other_uid, bindlab.rule,
bindlab.citation, bindlab.step, and for replays bindlab.observed and bindlab.agree.

Use it once, without installing anything:
  tshark -X lua_script:${lua} -r out/hijack.pajari-1999.pcapng -Y 'bindlab.socket == "steal"'
  wireshark -X lua_script:${lua} out/hijack.pajari-1999.pcapng

Install the plugin and the profile (columns Policy, Result, Accepted by, uid, Rule; another uid's
accepts in red, refusals grey, replay disagreements orange) into your own Wireshark folders:
  bindlab wireshark --install
${target}then: wireshark -C ${PROFILE_NAME} out/hijack.pajari-1999.pcapng
`);
  return 0;
}
