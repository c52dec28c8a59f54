// SMC: Start Relay runs `smc relay` as a separate process that a plain TCP client can use
// (PROTOCOL.md §1.3 hello/welcome), SMC: Stop Relay ends it and its port closes; the status
// bar follows the connection to it (issue 4 §1, §2).
import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { formatInvite, generateRoomKey } from '../../src/core/crypto';
import { activateExtension, eventually, setSetting, type TestingApi } from './extension';
import { freePort, helloWelcome, portClosed, processAlive } from './net';

/** Runs a command without waiting for prompts it may leave open (a failure is logged; the state checks that follow fail the test). */
function fire(command: string): void {
  vscode.commands.executeCommand(command).then(undefined, (e: unknown) => {
    console.error(`command ${command} failed: ${e instanceof Error ? e.message : String(e)}`);
  });
}

describe('local relay and the status bar', function () {
  this.timeout(90_000);
  let testing: TestingApi;
  const restore: (() => Promise<void>)[] = [];
  let port = 0;

  before(async () => {
    ({ testing } = await activateExtension());
    port = await freePort();
    restore.push(await setSetting('smc.localRelay.port', port));
    restore.push(await setSetting('smc.localRelay.host', '127.0.0.1'));
    restore.push(await setSetting('smc.relay.host', '127.0.0.1'));
    restore.push(await setSetting('smc.relay.port', port));
  });

  after(async () => {
    await vscode.commands.executeCommand('smc.disconnect');
    await vscode.commands.executeCommand('smc.stopRelay');
    for (const r of restore.reverse()) await r();
  });

  it('starts with the status bar offline', () => {
    assert.equal(testing.connectionState(), 'offline');
    assert.match(testing.statusText(), /SMC offline/);
  });

  it('Start Relay runs a relay process, outside the extension host, that answers hello', async () => {
    await vscode.commands.executeCommand('smc.startRelay');
    const relayPort = await eventually('the relay to listen', () => testing.relayPort());
    assert.equal(relayPort, port, 'the relay does not listen on smc.localRelay.port');
    const pid = testing.relayPid();
    assert.ok(pid !== undefined && processAlive(pid), 'no live relay process');
    assert.notEqual(pid, process.pid, 'the relay runs inside the extension host');
    const welcome = await eventually('welcome from the relay', () => helloWelcome(port));
    assert.equal(welcome.t, 'welcome');
    assert.equal(welcome.v, 1);
    assert.equal(typeof welcome.maxFrame, 'number');
  });

  it('the status bar follows the connection: a room on this relay, online, then offline, then back', async () => {
    await vscode.commands.executeCommand('smc.joinRoom', formatInvite({ host: '127.0.0.1', port, name: 'status-room', key: generateRoomKey() }));
    await eventually('state connected', () => (testing.connectionState() === 'connected' ? true : undefined));
    await eventually('the status bar to show the room', () => (/\$\(lock\) status-room · 1 online/.test(testing.statusText()) ? true : undefined));
    assert.equal(testing.onlineCount(), 1);
    await vscode.commands.executeCommand('smc.disconnect');
    await eventually('state offline', () => (testing.connectionState() === 'offline' ? true : undefined));
    assert.match(testing.statusText(), /SMC offline/);
    fire('smc.toggleConnection'); // the status bar item's command
    await eventually('state connected again', () => (testing.connectionState() === 'connected' ? true : undefined));
    await eventually('the status bar to show the room again', () => (/status-room/.test(testing.statusText()) ? true : undefined));
    await vscode.commands.executeCommand('smc.toggleConnection');
    await eventually('state offline again', () => (testing.connectionState() === 'offline' ? true : undefined));
  });

  it('Stop Relay ends the process and closes the port', async () => {
    const pid = testing.relayPid();
    assert.ok(pid !== undefined, 'no relay running before Stop Relay');
    await vscode.commands.executeCommand('smc.stopRelay');
    await eventually('the relay port to close', async () => ((await portClosed(port)) ? true : undefined));
    await eventually('the relay process to exit', () => (processAlive(pid) ? undefined : true));
    assert.equal(testing.relayPort(), undefined);
  });

  it('the status bar goes to connecting and back to offline when the relay is gone', async () => {
    // Not awaited: a failed connect may show an error with a "Start Relay" button, whose
    // promise settles only when the notification is dismissed.
    fire('smc.connect');
    const seen = await eventually('a state other than connected', () => {
      const s = testing.connectionState();
      return s === 'connecting' || s === 'offline' ? s : undefined;
    });
    assert.notEqual(seen, 'connected');
    assert.doesNotMatch(testing.statusText(), /SMC connected/);
    await vscode.commands.executeCommand('smc.disconnect');
    await eventually('state offline', () => (testing.connectionState() === 'offline' ? true : undefined));
  });
});
