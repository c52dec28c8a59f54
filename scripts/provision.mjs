// Provisions what the VS Code host tests need, into the git-ignored .vscode-test/ folder.
// Idempotent and cached: a piece that is already there is reused (a marker file records a
// finished install, so an interrupted install is redone rather than trusted).
// See docs/testing.md and /work/shared/design/TESTING.md for why each piece is needed:
//   - Node 24 (code-server 4.139 needs it; the project itself keeps the system Node),
//   - code-server 4.139.1 (VS Code's own server + workbench, from the npm registry: the only
//     VS Code that can be had offline here; @vscode/test-electron downloads and fails),
//   - a Chromium to drive it (Debian's /usr/bin/chromium).
// Usage: node scripts/provision.mjs [--quiet]; as a module: `await provision()` returns paths.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve, dirname, delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE = join(ROOT, '.vscode-test');
export const CODE_SERVER_VERSION = '4.139.1';
export const NODE_MAJOR = '24';

const NODE_DIR = join(CACHE, `node${NODE_MAJOR}`);
const CODE_SERVER_DIR = join(CACHE, 'code-server');
export const NODE24_BIN_DIR = join(NODE_DIR, 'node_modules', 'node', 'bin');
export const NODE24 = join(NODE24_BIN_DIR, 'node');
export const CODE_SERVER_BIN = join(CODE_SERVER_DIR, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CHROMIUM = process.env.SMC_CHROMIUM || '/usr/bin/chromium';

function say(msg) {
  console.log(`[provision] ${msg}`);
}

function run(cmd, args, opts = {}) {
  say(`$ ${cmd} ${args.join(' ')}${opts.cwd ? `   (in ${opts.cwd})` : ''}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let aptUpdated = false;
function aptInstall(pkgs, why) {
  if (!isRoot()) {
    throw new Error(`${why}: please install the Debian package(s) ${pkgs.join(' ')} (apt-get install ${pkgs.join(' ')}), or run as root`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    run('apt-get', ['update', '-qq'], { env });
    aptUpdated = true;
  }
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
}

function readMarker(dir) {
  const f = join(dir, '.smc-provisioned');
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
}

function writeMarker(dir, value) {
  writeFileSync(join(dir, '.smc-provisioned'), `${value}\n`);
}

/**
 * The environment for a nested `npm i`. Under `npm test`, npm exports its own config as
 * `npm_config_*` variables (user agent included); the nested npm would take them as its config,
 * and code-server's postinstall, which reads the Node version from `npm_config_user_agent`,
 * would see the outer npm's Node 20 and refuse. So the nested npm starts from a clean slate.
 */
function npmEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Node 24 from the npm registry (the `node` package pulls a platform binary package). */
export function provisionNode() {
  if (readMarker(NODE_DIR) === NODE_MAJOR && existsSync(NODE24)) {
    say(`Node ${NODE_MAJOR}: cached at ${NODE24}`);
    return NODE24;
  }
  mkdirSync(NODE_DIR, { recursive: true });
  if (!existsSync(join(NODE_DIR, 'package.json'))) {
    writeFileSync(join(NODE_DIR, 'package.json'), '{ "name": "smc-node24-cache", "private": true }\n');
  }
  say(`Node ${NODE_MAJOR}: installing into ${NODE_DIR}`);
  run('npm', ['i', '--no-audit', '--no-fund', `node@${NODE_MAJOR}`], { cwd: NODE_DIR, env: npmEnv() });
  const v = spawnSync(NODE24, ['-v'], { encoding: 'utf8' });
  if (v.status !== 0 || !v.stdout.startsWith(`v${NODE_MAJOR}.`)) {
    throw new Error(`Node ${NODE_MAJOR} install did not produce a working ${NODE24}`);
  }
  writeMarker(NODE_DIR, NODE_MAJOR);
  say(`Node ${NODE_MAJOR}: ${v.stdout.trim()} at ${NODE24}`);
  return NODE24;
}

/** code-server builds native modules in its postinstall; `kerberos` needs gssapi headers. */
function ensureKrb5Headers() {
  if (existsSync('/usr/include/gssapi/gssapi.h')) return;
  say('libkrb5-dev missing (code-server\'s kerberos module needs gssapi/gssapi.h): installing');
  aptInstall(['libkrb5-dev'], 'code-server needs gssapi/gssapi.h to build');
}

export function provisionCodeServer() {
  if (readMarker(CODE_SERVER_DIR) === CODE_SERVER_VERSION && existsSync(CODE_SERVER_BIN)) {
    say(`code-server ${CODE_SERVER_VERSION}: cached at ${CODE_SERVER_DIR}`);
    return CODE_SERVER_BIN;
  }
  provisionNode();
  ensureKrb5Headers();
  mkdirSync(CODE_SERVER_DIR, { recursive: true });
  if (!existsSync(join(CODE_SERVER_DIR, 'package.json'))) {
    writeFileSync(join(CODE_SERVER_DIR, 'package.json'), '{ "name": "smc-code-server-cache", "private": true }\n');
  }
  say(`code-server ${CODE_SERVER_VERSION}: installing into ${CODE_SERVER_DIR} (takes minutes, ~620 MB)`);
  // npm_config_yes: node-pty's build calls `npx node-gyp`; --unsafe-perm: it refuses root otherwise.
  run('npm', ['i', '--no-audit', '--no-fund', '--foreground-scripts', '--unsafe-perm', `code-server@${CODE_SERVER_VERSION}`], {
    cwd: CODE_SERVER_DIR,
    env: npmEnv({ npm_config_yes: 'true', PATH: `${NODE24_BIN_DIR}${delimiter}${process.env.PATH}` }),
  });
  if (!existsSync(CODE_SERVER_BIN)) {
    throw new Error(`code-server install finished but ${CODE_SERVER_BIN} is missing`);
  }
  writeMarker(CODE_SERVER_DIR, CODE_SERVER_VERSION);
  say(`code-server ${CODE_SERVER_VERSION}: ready`);
  return CODE_SERVER_BIN;
}

export function provisionBrowser() {
  if (existsSync(CHROMIUM)) {
    say(`browser: ${CHROMIUM}`);
    return CHROMIUM;
  }
  say(`browser: ${CHROMIUM} missing: installing Debian's chromium`);
  aptInstall(['chromium'], 'the end-to-end tests need a Chromium');
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is missing`);
  return CHROMIUM;
}

/** Everything; returns the paths the host test runner needs. */
export function provision() {
  const browser = provisionBrowser();
  const node = provisionNode();
  const codeServer = provisionCodeServer();
  return { node, nodeBinDir: NODE24_BIN_DIR, codeServer, browser };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const p = provision();
    say(`ready: node=${p.node} code-server=${p.codeServer} browser=${p.browser}`);
  } catch (e) {
    console.error(`[provision] FAILED: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
