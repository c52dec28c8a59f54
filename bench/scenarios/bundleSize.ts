// Scenario 8 (issue 4 "Done when"): size of the extension bundle dist/extension.js, without the
// webview (its own bundle), built as `npm run build:production` builds it — the same esbuild
// options as scripts/build.mjs with --production — into a temp directory, so that the dist/
// other engineers are using is left alone. esbuild's metafile splits the bytes by source.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildExtension, buildWebview } from '../lib/productionBuild';
import { fmt, result, type RunContext, type Scenario } from '../lib/report';
import { REPO } from '../lib/servers';

const ENTRY = path.join(REPO, 'src', 'vscode', 'extension.ts');
const TARGET_BYTES = 300 * 1000;

export const bundleSize: Scenario = {
  id: 'bundle-size',
  title: '8. Extension bundle size (dist/extension.js, production build, without the webview)',
  async run(_ctx: RunContext) {
    const r = result(this.id, this.title);
    if (!existsSync(ENTRY)) {
      r.status = 'not measured';
      r.notes.push('src/vscode/extension.ts does not exist yet, so there is no extension bundle to measure.');
      return r;
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'smc-bench-bundle-'));
    try {
      const outfile = path.join(dir, 'extension.js');
      const built = await buildExtension(ENTRY, outfile);
      const bytes = statSync(outfile).size;
      const emptyEntry = path.join(dir, 'empty.ts');
      writeFileSync(emptyEntry, 'export function activate(): void {}\nexport function deactivate(): void {}\n');
      const emptyOut = path.join(dir, 'empty.js');
      await buildExtension(emptyEntry, emptyOut);
      const emptyBytes = statSync(emptyOut).size;
      // Bytes in the output per input, grouped: our src/ folders and each npm package.
      const groups = new Map<string, number>();
      for (const output of Object.values(built.metafile?.outputs ?? {})) {
        for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
          const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
          const group = m?.[1] ? `npm: ${m[1]}` : input.split('/').slice(0, 2).join('/');
          groups.set(group, (groups.get(group) ?? 0) + bytesInOutput);
        }
      }
      const top = [...groups.entries()].filter(([, b]) => b >= 50).sort((a, b) => b[1] - a[1]).slice(0, 8);
      const webviewOut = path.join(dir, 'webview.js');
      const webviewBytes = existsSync(path.join(REPO, 'webview', 'main.ts')) ? (await buildWebview(webviewOut), statSync(webviewOut).size) : NaN;
      r.metrics.push(
        { name: 'dist/extension.js, production (minified, no source map)', value: fmt.kb(bytes), baseline: `${fmt.kb(emptyBytes)} (empty extension, same options)`, target: '≤ 300 KB', met: bytes <= TARGET_BYTES },
        { name: 'for reference, not counted: dist/webview.js, production', value: fmt.kb(webviewBytes), baseline: '—', target: '—' },
      );
      r.notes.push(
        `Built from src/vscode/extension.ts with scripts/build.mjs's production options (bundle, minify, cjs, node20, \`vscode\` external) into a temp directory. Largest contributors (bytes in the output): ${top.map(([g, b]) => `${g} ${fmt.kb(b)}`).join(', ')}.`,
        'The webview bundle is separate: the panel loads it in the browser when it opens, activation never does.',
      );
      if (bytes > TARGET_BYTES) r.limits.push(`The largest contributors above account for the size; ${top[0]?.[0]} alone is ${fmt.kb(top[0]?.[1] ?? 0)}.`);
    } catch (e) {
      r.status = 'failed';
      r.notes.push(`The production build failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return r;
  },
};
