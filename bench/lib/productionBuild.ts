// The production bundles, built the way `npm run build:production` builds them (the options of
// scripts/build.mjs with --production), but into a directory of the benchmark's choosing, so
// that the dist/ other people are using at the same time is left alone.
import * as esbuild from 'esbuild';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from './servers';

function common(): esbuild.BuildOptions {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  return {
    bundle: true, minify: true, sourcemap: false, sourcesContent: false, logLevel: 'silent',
    define: { __SMC_VERSION__: JSON.stringify(pkg.version) }, absWorkingDir: REPO, metafile: true,
  };
}

/** dist/extension.js as the production build makes it (`vscode` external). */
export function buildExtension(entry: string, outfile: string): Promise<esbuild.BuildResult> {
  return esbuild.build({ ...common(), entryPoints: [entry], outfile, platform: 'node', format: 'cjs', target: 'node20', external: ['vscode'] });
}

/** dist/webview.js as the production build makes it. */
export function buildWebview(outfile: string): Promise<esbuild.BuildResult> {
  return esbuild.build({ ...common(), entryPoints: [path.join(REPO, 'webview', 'main.ts')], outfile, platform: 'browser', format: 'iife', target: 'chrome120' });
}

/**
 * A copy of the extension as it ships, in `dir`: package.json, media/, and dist/ with the
 * production bundles and the static assets (CSS, codicons) that scripts/build.mjs copies.
 */
export async function productionExtensionCopy(dir: string): Promise<void> {
  mkdirSync(path.join(dir, 'dist'), { recursive: true });
  copyFileSync(path.join(REPO, 'package.json'), path.join(dir, 'package.json'));
  if (existsSync(path.join(REPO, 'media'))) cpSync(path.join(REPO, 'media'), path.join(dir, 'media'), { recursive: true });
  for (const f of readdirSync(path.join(REPO, 'dist'))) {
    if (/\.(css|ttf)$/.test(f) || f === 'cli.js') copyFileSync(path.join(REPO, 'dist', f), path.join(dir, 'dist', f));
  }
  await buildExtension(path.join(REPO, 'src', 'vscode', 'extension.ts'), path.join(dir, 'dist', 'extension.js'));
  await buildWebview(path.join(dir, 'dist', 'webview.js'));
}
