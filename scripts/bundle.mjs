// Bundles the compiled command line with esbuild into dist/bin/ (the package's bin is
// dist/bin/bindlab.js, run by `npm run build` after tsc):
//
// - cli.cjs: the whole command line (dist/cli/main.js and all it imports, yaml and yargs too) in one
//   CommonJS file, which bindlab.js compiles through vm.Script with a V8 code cache (launch.ts says
//   why). One file instead of ~170 (yaml alone is 72 CommonJS files) cut start-up by ~35 ms; the
//   code cache another ~50 ms of CPU. Modules a command imports when it runs are wrapped by esbuild
//   and run only then, as before; their code is compiled only when first called.
// - bindlab.js: the launcher (dist/cli/launch.js): Node's own modules only.
// - worker.js: the replay's worker thread (dist/replay/worker.js), an ES module of its own.
//
// Paths the code finds from import.meta.url stay valid: it is the URL of cli.cjs in dist/bin (a
// define below), beside worker.js (replay.ts's WORKER_URL); the kernel agent is found at
// ../../src/kernel/agent.py from dist/bin (agents.ts's agentPath).

import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * string-width (yargs', cliui's and wrap-ansi's, for laying out help text) makes two
 * Intl.Segmenters and Unicode-property regular expressions when its module runs: ~20 ms of CPU
 * at every start, for text only --help and errors lay out. Each ES import of it gets a stand-in that
 * runs the real module (the version its importer resolves) when first called.
 */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      // (cli-progress requires string-width@4 as a function: it is loaded only with the bar, already when needed.)
      if (args.pluginData === 'real' || args.kind !== 'import-statement') return undefined;
      const real = await b.resolve(args.path, { importer: args.importer, resolveDir: args.resolveDir, kind: args.kind, pluginData: 'real' });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: `let real;\nexport default function stringWidth(string, options) {\n  real ??= require(${JSON.stringify(args.path)}).default;\n  return real(string, options);\n}\n`,
      resolveDir: '.',
      loader: 'js',
    }));
  },
};

rmSync('dist/bin', { recursive: true, force: true });
const common = {
  outdir: 'dist/bin',
  entryNames: '[name]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax minified (names kept): less to parse; stack traces map back with the linked source maps.
  minifyWhitespace: true, minifySyntax: true, sourcemap: 'linked',
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: { cli: 'dist/cli/main.js' },
  format: 'cjs',
  outExtension: { '.js': '.cjs' },
  // The launcher passes the file's URL beside __filename (a banner would come before "use strict").
  define: { 'import.meta.url': '__bindlabUrl' },
  plugins: [lazyStringWidth],
});
// The launcher wraps cli.cjs in a function: its #! line (main.ts's) would not parse there. Blanked, so lines keep their numbers.
const cli = readFileSync('dist/bin/cli.cjs', 'utf8');
writeFileSync('dist/bin/cli.cjs', cli.replace(/^#![^\n]*/, ''));
await build({
  ...common,
  entryPoints: { bindlab: 'dist/cli/launch.js', worker: 'dist/replay/worker.js' },
  format: 'esm',
  // The bundled CommonJS packages call require() for Node's own modules.
  banner: { js: "import { createRequire as bindlabCreateRequire } from 'node:module'; const require = bindlabCreateRequire(import.meta.url);" },
});
