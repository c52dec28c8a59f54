// The VS Code host tests, stage 4 of `npm test` (scripts/test.mjs):
//   1. provision code-server, Node 24 and Chromium (scripts/provision.mjs, cached in .vscode-test/)
//   2. build what is stale (dist/ by esbuild, out/ by tsc) and package the .vsix
//   3. the integration suite (test/integration/) inside code-server's real extension host,
//      with the work tree as the extension under development
//   4. the end-to-end suites (test/e2e/*.e2e.ts) in Chromium against code-server with the
//      packaged .vsix installed, next to `smc chat --json`
// Exit code 0 only if every suite passed. Everything started is killed (process groups) even on
// failure; screenshots and logs land in test-results/. How it works: docs/testing.md.
//
// Options: --only integration|e2e, --grep PATTERN (both suites).
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, statSync, readdirSync, mkdirSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { provision } from './provision.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(ROOT);
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const only = opt('--only');
const grep = opt('--grep');
const RESULTS = join(ROOT, 'test-results');
const VSIX = join(RESULTS, 'smc.vsix');

function say(msg) {
  console.log(`[host-tests] ${msg}`);
}

function step(what, cmd, args, opts = {}) {
  say(`${what}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status ?? r.signal})`);
}

/** Newest modification time of the .ts files under `dirs` (recursive). */
function newestTs(dirs) {
  let newest = 0;
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  dirs.forEach(walk);
  return newest;
}

function compileIfStale() {
  const marker = join(ROOT, 'out', 'test', 'integration', 'index.js');
  const stale = !existsSync(marker) || statSync(marker).mtimeMs < newestTs(['src', 'test', 'bench']);
  if (stale) step('compile tests', 'npx', ['tsc', '-p', 'tsconfig.json', '--outDir', 'out']);
  else say('compiled tests are up to date');
}

/** Runs mocha over the e2e files in a child Node; resolves with its exit code. */
function runE2e(env) {
  const dir = join(ROOT, 'out', 'test', 'e2e');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.e2e.js')).sort().map((f) => join(dir, f)) : [];
  if (files.length === 0) {
    console.error('[host-tests] no end-to-end tests found in out/test/e2e/ (*.e2e.js)');
    return Promise.resolve(1);
  }
  const args = [join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'), '--no-config', '--timeout', '180000', '--reporter', 'spec', '--exit'];
  if (grep) args.push('--grep', grep);
  args.push(...files);
  say(`end-to-end: ${files.length} file(s)`);
  // Its own process group, so that a hung suite can be ended with everything it started.
  const child = spawn(process.execPath, args, { stdio: 'inherit', env, detached: true });
  const kill = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', kill);
  return new Promise((res) => child.once('exit', (code, signal) => res(code ?? (signal ? 1 : 0))));
}

async function main() {
  mkdirSync(RESULTS, { recursive: true });
  const paths = provision();
  const env = {
    ...process.env,
    SMC_NODE24_BIN_DIR: paths.nodeBinDir,
    SMC_CODE_SERVER: paths.codeServer,
    SMC_CHROMIUM: paths.browser,
    SMC_TEST_RESULTS: RESULTS,
  };
  Object.assign(process.env, env);

  step('build', process.execPath, ['scripts/build.mjs']);
  compileIfStale();

  const results = {};
  if (only !== 'e2e') {
    const harness = await import(pathToFileURL(join(ROOT, 'out', 'test', 'e2e', 'harness.js')).href);
    const workspace = harness.makeTempDir('ws-integration');
    say('integration suite inside code-server\'s extension host');
    try {
      const code = await harness.runExtensionTests(harness.hostPathsFromEnv(), {
        extensionPath: ROOT,
        testsPath: join(ROOT, 'out', 'test', 'integration', 'index.js'),
        workspace,
        env: grep ? { SMC_INTEGRATION_GREP: grep } : {},
      });
      results.integration = code;
    } catch (e) {
      console.error(`[host-tests] integration suite could not run: ${e instanceof Error ? e.stack : e}`);
      results.integration = 1;
    } finally {
      await harness.stopAll();
      rmSync(workspace, { recursive: true, force: true });
    }
  }
  if (only !== 'integration') {
    // The issue's "done when": the packaged .vsix, installed into code-server, is what the
    // end-to-end tests drive. Packaging rebuilds dist/ minified.
    rmSync(VSIX, { force: true });
    step('production build', process.execPath, ['scripts/build.mjs', '--production']);
    step('package', 'npx', ['vsce', 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '-o', VSIX], {
      env: { ...env, npm_config_yes: 'true' },
    });
    env.SMC_VSIX = VSIX;
    results.e2e = await runE2e(env);
  }
  const failed = Object.entries(results).filter(([, c]) => c !== 0);
  for (const [suite, code] of Object.entries(results)) say(`${suite}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`}`);
  say(`screenshots and logs: ${RESULTS}`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`[host-tests] ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  },
);
