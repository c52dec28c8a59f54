// A TLS relay in code-server (issue 11, "TLS relays"): a room from an smcs:// invite connects
// with TLS pinned to the relay's certificate (docs/protocol.md §1.8, src/node/tcpTransport.ts),
// another client over TLS sees the extension online, Copy Invite Link gives the smcs:// invite
// back, and an invite pinning another certificate is refused with a clear reason, never
// "connected". The relay is the real `smc relay --tls-cert --tls-key` with the test certificate
// of test/helpers/tls (public key: tests only).
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { RelayClient } from '../../src/core/client';
import { formatInvite, generateIdentity, generateRoomKey, parseInvite } from '../../src/core/crypto';
import { createTlsTransportFactory } from '../../src/node/tcpTransport';
import { activateExtension, eventually, EXTENSION_ID, setSetting, type TestingApi } from './extension';

interface TlsRelay { child: ChildProcess; port: number; fingerprint: string; dataDir: string; output: string[] }

/** `smc relay` with TLS on a free port; resolves once its `listening` line names the port and fingerprint. */
function startTlsRelay(root: string): Promise<TlsRelay> {
  const dataDir = mkdtempSync(join(tmpdir(), 'smc-tls-relay-'));
  const child = spawn(process.execPath, [
    join(root, 'dist', 'cli.js'), 'relay', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--data', dataDir,
    '--tls-cert', join(root, 'test', 'helpers', 'tls', 'relay-test.crt'), '--tls-key', join(root, 'test', 'helpers', 'tls', 'relay-test.key'),
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the TLS relay did not listen within 20 s: ${output.join('')}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output.push(chunk.toString('utf8'));
      for (const line of output.join('').split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const r = JSON.parse(line) as { event?: string; port?: number; fingerprint?: string; tls?: boolean };
          if (r.event === 'listening' && typeof r.port === 'number' && typeof r.fingerprint === 'string') {
            clearTimeout(timer);
            resolve({ child, port: r.port, fingerprint: r.fingerprint, dataDir, output });
            return;
          }
        } catch {
          // a partial line: wait for the rest
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the TLS relay exited (code ${code}): ${output.join('')}`)));
  });
}

describe('a TLS relay (smcs:// invites, pinned certificate)', function () {
  this.timeout(120_000);
  let testing: TestingApi;
  let relay: TlsRelay;
  const restore: (() => Promise<void>)[] = [];
  const others: RelayClient[] = [];

  before(async () => {
    ({ testing } = await activateExtension());
    const root = vscode.extensions.getExtension(EXTENSION_ID)?.extensionPath;
    assert.ok(root, 'no extension path');
    relay = await startTlsRelay(root);
    assert.match(relay.fingerprint.replace(/:/g, ''), /^[0-9a-fA-F]{64}$/, `the relay printed no SHA-256 fingerprint: ${relay.fingerprint}`);
    restore.push(await setSetting('smc.displayName', 'Tess'));
  });

  after(async () => {
    for (const c of others) await c.disconnect();
    await vscode.commands.executeCommand('smc.disconnect');
    for (const r of restore.reverse()) await r();
    if (relay) {
      // The relay writes its data folder until it has exited: remove the folder after that.
      const child = relay.child;
      const exited = child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
      rmSync(relay.dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    }
  });

  it('joins a room from an smcs:// invite over TLS, and another TLS client sees it online', async () => {
    const key = generateRoomKey();
    const invite = formatInvite({ host: '127.0.0.1', port: relay.port, name: 'tls-room', key, tls: { fingerprint: relay.fingerprint } });
    assert.match(invite, /^smcs:\/\//);
    await vscode.commands.executeCommand('smc.joinRoom', invite);
    await eventually('connected to the TLS relay', () => (testing.connectionState() === 'connected' ? true : undefined), 60_000);
    assert.equal(testing.currentRoom()?.name, 'tls-room');
    // Someone else, through the core over TLS with the same pin: both are in the room.
    const other = new RelayClient({
      host: '127.0.0.1', port: relay.port, agent: 'integration-tls', identity: generateIdentity(), displayName: 'Olga',
      transport: createTlsTransportFactory(relay.fingerprint),
    });
    others.push(other);
    other.join({ key, name: 'tls-room' });
    other.connect();
    await eventually('two online in the TLS room', () => (testing.onlineCount() === 2 ? true : undefined), 60_000);
    assert.match(testing.statusText(), /tls-room · 2 online/);
  });

  it('Copy Invite Link gives the smcs:// invite with the same pin back', async () => {
    await vscode.commands.executeCommand('smc.copyInvite');
    const copied = parseInvite(await vscode.env.clipboard.readText());
    assert.equal(copied.port, relay.port);
    assert.equal(copied.tls?.fingerprint, relay.fingerprint.replace(/:/g, '').toLowerCase(), 'the copied invite lost the TLS pin');
    copied.key.fill(0);
  });

  it('refuses a relay whose certificate is not the pinned one, says why, and never connects', async () => {
    const wrongPin = 'ab'.repeat(32);
    const invite = formatInvite({ host: '127.0.0.1', port: relay.port, name: 'wrong-pin', key: generateRoomKey(), tls: { fingerprint: wrongPin } });
    await vscode.commands.executeCommand('smc.joinRoom', invite);
    const reason = await eventually('a connection error naming the certificate', () => {
      const e = testing.lastConnectionError();
      return e !== undefined && /TLS certificate does not match/.test(e) ? e : undefined;
    }, 60_000);
    assert.match(reason, new RegExp(wrongPin), 'the error does not name the expected fingerprint');
    assert.match(reason, new RegExp(relay.fingerprint.replace(/:/g, '').toLowerCase()), 'the error does not name the certificate it got');
    assert.notEqual(testing.connectionState(), 'connected', 'connected to a relay with the wrong certificate');
    await vscode.commands.executeCommand('smc.disconnect');
  });

  it('a plain smc:// invite to the TLS relay does not connect either (no silent downgrade)', async () => {
    const invite = formatInvite({ host: '127.0.0.1', port: relay.port, name: 'plain-to-tls', key: generateRoomKey() });
    await vscode.commands.executeCommand('smc.joinRoom', invite);
    // The relay's TLS server reads the plain hello as a broken handshake and closes: the client
    // reports a connection error about this relay (not the certificate one of the step before).
    await eventually('a connection error for the plain client', () => {
      const e = testing.lastConnectionError();
      return e !== undefined && !/TLS certificate/.test(e) && e.includes(String(relay.port)) ? e : undefined;
    }, 60_000);
    assert.notEqual(testing.connectionState(), 'connected', 'plain TCP "connected" to a TLS relay');
    await vscode.commands.executeCommand('smc.disconnect');
  });
});
