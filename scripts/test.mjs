// `npm test`: every check CI runs, in order, each announced before it starts.
//   1. lint and typecheck   2. build   3. unit + relay/client tests in plain Node (mocha)
//   4. VS Code host tests (integration + end-to-end in code-server and Chromium)
// Stage 4 provisions what it needs (scripts/provision.mjs) into the git-ignored .vscode-test/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const stages = [
  ['lint', 'npx', ['eslint', '.']],
  ['typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']],
  ['typecheck webview', 'npx', ['tsc', '-p', 'webview/tsconfig.json', '--noEmit']],
  ['build', 'node', ['scripts/build.mjs']],
  ['compile tests', 'npx', ['tsc', '-p', 'tsconfig.json', '--outDir', 'out']],
  ['unit and relay tests (mocha)', 'npx', ['mocha']],
];
if (existsSync('scripts/test-host.mjs') && !process.argv.includes('--no-host')) {
  stages.push(['VS Code host tests (code-server + Chromium)', 'node', ['scripts/test-host.mjs']]);
}

const started = Date.now();
for (const [name, cmd, args] of stages) {
  const t0 = Date.now();
  console.log(`\n==> ${name}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`\n==> ${name}: FAILED after ${secs}s (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.log(`==> ${name}: ok (${secs}s)`);
}
console.log(`\nAll checks passed in ${((Date.now() - started) / 1000).toFixed(0)}s.`);
