// Bundles the three programs with esbuild:
//   dist/extension.js  the VS Code extension host side (CommonJS, `vscode` external)
//   dist/cli.js        the `smc` command (relay, room, chat), plain Node
//   dist/webview.js    the chat panel UI, browser-only
//   dist/verifyWorker.js  the signature verification worker thread of the client
// and copies the webview's static assets (CSS, codicons) into dist/, because the packaged
// extension ships no node_modules (.vscodeignore) and the webview may load only from dist/.
import * as esbuild from 'esbuild';
import { copyFile, mkdir, chmod, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));

const common = {
  bundle: true,
  minify: production,
  sourcemap: production ? false : 'linked',
  sourcesContent: false,
  logLevel: 'warning',
  define: { __SMC_VERSION__: JSON.stringify(pkg.version) },
};

const targets = [
  {
    ...common,
    entryPoints: ['src/vscode/extension.ts'],
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
  },
  {
    ...common,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // pg (the relay's PostgreSQL client) requires the optional native binding `pg-native` only
    // when asked to; we never ask, so it stays out of the bundle.
    external: ['pg-native'],
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    // The signature verification worker the client's WorkerSignatureVerifier starts (next to
    // dist/cli.js and dist/extension.js).
    ...common,
    entryPoints: ['src/node/verifyWorker.ts'],
    outfile: 'dist/verifyWorker.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
  },
  {
    ...common,
    entryPoints: ['webview/main.ts'],
    outfile: 'dist/webview.js',
    platform: 'browser',
    format: 'iife',
    target: 'chrome120',
  },
].filter((t) => existsSync(t.entryPoints[0]));

async function copyAssets() {
  await mkdir('dist', { recursive: true });
  const codicons = require.resolve('@vscode/codicons/dist/codicon.css');
  await copyFile(codicons, 'dist/codicon.css');
  await copyFile(codicons.replace(/codicon\.css$/, 'codicon.ttf'), 'dist/codicon.ttf');
  if (existsSync('media/webview.css')) await copyFile('media/webview.css', 'dist/webview.css');
}

if (watch) {
  for (const t of targets) (await esbuild.context(t)).watch();
  await copyAssets();
  console.log('[watch] build started');
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
  await copyAssets();
  if (existsSync('dist/cli.js')) await chmod('dist/cli.js', 0o755);
}
