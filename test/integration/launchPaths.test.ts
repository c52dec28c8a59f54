// How the local relay process is started differs between hosts (issue 4 §2): in desktop
// VS Code process.execPath is Electron and must run as Node (ELECTRON_RUN_AS_NODE=1); in a
// remote or web host (code-server, here) it already is Node and the variable must be absent.
// Both paths run for real here through LocalRelay (src/vscode/localRelay.ts), and the
// extension's own choice is checked against the host it runs in. The process is inspected
// through /proc (Linux, where CI runs).
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { LocalRelay } from '../../src/vscode/localRelay';
import { activateExtension, eventually, setSetting, type TestingApi } from './extension';
import { freePort, helloWelcome, portClosed } from './net';

const HAS_PROC = existsSync('/proc/self/environ');

function environOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return env;
}

function cmdlineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

describe('local relay launch paths (desktop Electron vs remote/web Node)', function () {
  this.timeout(60_000);
  let cliPath = '';
  const dirs: string[] = [];

  before(async () => {
    const { ext } = await activateExtension();
    cliPath = join(ext.extensionPath, 'dist', 'cli.js');
  });

  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function runRelay(electron: boolean): Promise<{ env: Map<string, string> | undefined; cmdline: string[] | undefined }> {
    const dataDir = mkdtempSync(join(tmpdir(), 'smc-launch-'));
    dirs.push(dataDir);
    const port = await freePort();
    const relay = new LocalRelay({ execPath: process.execPath, electron, cliPath, dataDir, host: '127.0.0.1', port, onLog: () => undefined });
    const running = await relay.start();
    try {
      assert.equal(running.port, port);
      const welcome = await helloWelcome(port);
      assert.equal(welcome.t, 'welcome');
      return HAS_PROC ? { env: environOf(running.pid), cmdline: cmdlineOf(running.pid) } : { env: undefined, cmdline: undefined };
    } finally {
      await relay.stop();
      assert.ok(await portClosed(port), 'the port is still open after stop()');
    }
  }

  it('desktop path: runs process.execPath with ELECTRON_RUN_AS_NODE=1 and dist/cli.js relay', async () => {
    const { env, cmdline } = await runRelay(true);
    if (env && cmdline) {
      assert.equal(env.get('ELECTRON_RUN_AS_NODE'), '1');
      assert.equal(cmdline[1], cliPath);
      assert.equal(cmdline[2], 'relay');
    }
  });

  it('remote/web path: runs process.execPath as plain Node, without ELECTRON_RUN_AS_NODE', async () => {
    const saved = process.env.ELECTRON_RUN_AS_NODE;
    process.env.ELECTRON_RUN_AS_NODE = '1'; // as inherited in a desktop extension host: must be dropped
    try {
      const { env } = await runRelay(false);
      if (env) assert.equal(env.has('ELECTRON_RUN_AS_NODE'), false);
    } finally {
      if (saved === undefined) delete process.env.ELECTRON_RUN_AS_NODE;
      else process.env.ELECTRON_RUN_AS_NODE = saved;
    }
  });

  it('SMC: Start Relay picks the path of the host it runs in', async function () {
    const { testing }: { testing: TestingApi } = await activateExtension();
    const port = await freePort();
    const restore = await setSetting('smc.localRelay.port', port);
    try {
      await vscode.commands.executeCommand('smc.startRelay');
      const pid = await eventually('the relay pid', () => testing.relayPid());
      const inElectron = typeof process.versions.electron === 'string';
      // code-server: the web UI, the extension host on the server's Node.
      if (!inElectron) assert.ok(vscode.env.uiKind === vscode.UIKind.Web || vscode.env.remoteName !== undefined);
      if (HAS_PROC) {
        assert.equal(realpathSync(`/proc/${pid}/exe`), realpathSync(process.execPath), 'the relay does not run on the host\'s own binary');
        assert.equal(environOf(pid).get('ELECTRON_RUN_AS_NODE'), inElectron ? '1' : undefined);
      }
    } finally {
      await vscode.commands.executeCommand('smc.stopRelay');
      await restore();
    }
  });
});
