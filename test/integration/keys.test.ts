// Keys live in SecretStorage and nowhere else (issue 4 §4, PROTOCOL.md §2.1): after joining a
// room from an invite, the room key is found again through the extension (Copy Invite Link reads
// it back from SecretStorage), and in no file the host, the extension or the relay writes:
// the workspace, the user data folder (settings, globalState database, global storage with the
// relay's data, logs). Searched as raw bytes, base64url, base64 and hex.
import { strict as assert } from 'node:assert';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { encodeB64u, formatInvite, generateRoomKey, parseInvite } from '../../src/core/crypto';
import { activateExtension, eventually, setSetting, type TestingApi } from './extension';
import { freePort } from './net';

/** Every regular file under `dir` (symlinks not followed). */
function* filesUnder(dir: string): Generator<string> {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* filesUnder(p);
    else if (e.isFile()) yield p;
  }
}

/** Files under `dirs` that contain any of `needles`, and how many files were read. */
function filesContaining(dirs: string[], needles: Buffer[]): { hits: string[]; scanned: string[] } {
  const hits: string[] = [];
  const scanned: string[] = [];
  for (const dir of dirs) {
    for (const f of filesUnder(dir)) {
      if (lstatSync(f).size > 64 * 1024 * 1024) continue;
      const data = readFileSync(f);
      scanned.push(f);
      if (needles.some((n) => data.includes(n))) hits.push(f);
    }
  }
  return { hits, scanned };
}

/**
 * The folders this host writes to: the workspace, and the folder holding the host's user data,
 * which the runner names in SMC_TEST_USER_DATA_DIR (test/e2e/harness.ts for code-server: its
 * whole fresh folder; .vscode-test.mjs for desktop VS Code: --user-data-dir).
 */
function writtenFolders(): string[] {
  const dirs = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  const ud = process.env.SMC_TEST_USER_DATA_DIR;
  if (!ud) throw new Error('SMC_TEST_USER_DATA_DIR is not set: the runner must name the user data folder');
  dirs.push(ud);
  return dirs;
}

describe('keys stay in SecretStorage', function () {
  this.timeout(90_000);
  let testing: TestingApi;
  const restore: (() => Promise<void>)[] = [];
  const key = generateRoomKey();
  let port = 0;

  before(async () => {
    ({ testing } = await activateExtension());
    port = await freePort();
    restore.push(await setSetting('smc.localRelay.port', port));
    await vscode.commands.executeCommand('smc.startRelay');
    await eventually('the relay to listen', () => testing.relayPort());
  });

  after(async () => {
    await vscode.commands.executeCommand('smc.disconnect');
    await vscode.commands.executeCommand('smc.stopRelay');
    for (const r of restore.reverse()) await r();
  });

  it('joins from an invite and keeps the key where Copy Invite Link finds it again', async () => {
    const invite = formatInvite({ host: '127.0.0.1', port, name: 'keys-test', key });
    await vscode.commands.executeCommand('smc.joinRoom', invite);
    const room = await eventually('the joined room to be current', () => {
      const r = testing.currentRoom();
      return r?.name === 'keys-test' ? r : undefined;
    });
    assert.equal(room.relay, `127.0.0.1:${port}`);
    await eventually('the connection', () => (testing.connectionState() === 'connected' ? true : undefined));
    await vscode.env.clipboard.writeText('');
    await vscode.commands.executeCommand('smc.copyInvite');
    const copied = await eventually('the invite on the clipboard', async () => {
      const t = await vscode.env.clipboard.readText();
      return t.startsWith('smc://') ? t : undefined;
    });
    assert.ok(parseInvite(copied).key.equals(key), 'the invite copied back does not carry the room key');
    await vscode.env.clipboard.writeText('');
  });

  it('writes the key to no file of the workspace, user data, global storage or relay data', async () => {
    // Give coalesced state writes time to reach the disk before looking (no assertion on time).
    await new Promise((r) => setTimeout(r, 1_500));
    const needles = [key, Buffer.from(encodeB64u(key)), Buffer.from(key.toString('base64')), Buffer.from(key.toString('hex')), Buffer.from(key.toString('hex').toUpperCase())];
    const dirs = writtenFolders();
    const { hits, scanned } = filesContaining(dirs, needles);
    assert.deepEqual(hits, [], `the room key was found in: ${hits.join(', ')}`);
    // The search must have covered what the host and the relay wrote, or it proves nothing.
    assert.ok(scanned.some((f) => f.endsWith('settings.json')), `the user settings were not searched (${scanned.length} files)`);
    assert.ok(scanned.some((f) => f.includes('globalStorage')), `the extension's global storage (relay data) was not searched (${scanned.length} files)`);
  });

  it('keeps the key out of the settings', () => {
    const all = JSON.stringify(vscode.workspace.getConfiguration('smc'));
    assert.ok(!all.includes(encodeB64u(key)) && !all.includes(key.toString('hex')), 'the key is in the smc settings');
  });
});
