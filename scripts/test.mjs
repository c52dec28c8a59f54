// `npm test`: every check CI runs, in order, each announced before it starts.
//   1. lint and typecheck   2. build
//   3. unit tests: pure logic in one Node process (test/unit, seconds)
//   4. system tests: real relay, CLI, tmux and PostgreSQL processes over loopback (test/system)
//   5. VS Code host tests (integration + end-to-end in code-server and Chromium)
// Stages 3 and 4 are the globs of .mocharc.json, one mocha run each, fast ones first, so that a
// broken rule fails in seconds; plain `npx mocha` still runs both in that order (docs/testing.md).
// Stage 5 provisions what it needs (scripts/provision.mjs) into the git-ignored .vscode-test/.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const mocharc = JSON.parse(readFileSync('.mocharc.json', 'utf8'));
const suiteNames = {
  'out/test/unit/**/*.test.js': 'unit tests: pure logic, in process (mocha test/unit)',
  'out/test/system/**/*.test.js': 'system tests: real processes and sockets on loopback (mocha test/system)',
};
// --no-config: mocha would otherwise add the whole spec of .mocharc.json to each run.
const mochaStage = (glob) => [suiteNames[glob] ?? `mocha ${glob}`, 'npx', [
  'mocha', '--no-config', '--timeout', String(mocharc.timeout), '--reporter', mocharc.reporter,
  ...(mocharc.exit ? ['--exit'] : []), glob,
]];

const stages = [
  ['lint', 'npx', ['eslint', '.']],
  ['typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']],
  ['typecheck webview', 'npx', ['tsc', '-p', 'webview/tsconfig.json', '--noEmit']],
  ['build', 'node', ['scripts/build.mjs']],
  ['compile tests', 'npx', ['tsc', '-p', 'tsconfig.json', '--outDir', 'out']],
  ...mocharc.spec.map(mochaStage),
];
if (existsSync('scripts/test-host.mjs') && !process.argv.includes('--no-host')) {
  stages.push(['VS Code host tests (code-server + Chromium)', 'node', ['scripts/test-host.mjs']]);
}

// Compiled tests of files that were moved or deleted would still match the globs and run.
rmSync('out/test', { recursive: true, force: true });

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
