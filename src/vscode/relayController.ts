// SMC: Start Relay / Stop Relay as the user sees them: confirmation before binding anything
// but loopback (once per address), progress while starting, errors that say what to do, and a
// notice when the relay dies. The process itself is LocalRelay (localRelay.ts).
import * as vscode from 'vscode';
import { formatHostPort } from '../core/hostPort';
import { isLoopback, readSettings } from './config';
import { Disposable, toDisposable } from './lifecycle';
import { LocalRelay, LocalRelayError, type RunningRelay } from './localRelay';
import type { Logs } from './log';

const CONFIRMED_BINDS = 'smc.confirmedRelayBinds';

export class RelayController extends Disposable {
  private relay: LocalRelay | undefined;

  constructor(private readonly context: vscode.ExtensionContext, private readonly logs: Logs) {
    super();
    this._register(toDisposable(() => this.relay?.killNow()));
  }

  get running(): RunningRelay | undefined {
    return this.relay?.current;
  }

  private async confirmBind(host: string): Promise<boolean> {
    if (isLoopback(host)) return true;
    const confirmed = this.context.globalState.get<string[]>(CONFIRMED_BINDS) ?? [];
    if (confirmed.includes(host)) return true;
    const choice = await vscode.window.showWarningMessage(
      `Start the relay on ${host}, reachable from other machines?`,
      {
        modal: true,
        detail: 'The relay cannot read messages, but anyone who can reach this address can connect to it and store data in it. Use 127.0.0.1 to keep it on this machine (setting smc.localRelay.host).',
      },
      'Start on This Address',
    );
    if (choice !== 'Start on This Address') return false;
    await this.context.globalState.update(CONFIRMED_BINDS, [...confirmed, host]);
    return true;
  }

  /** Starts the relay; resolves with it running, or undefined when the user declined or it failed (already reported). */
  async start(): Promise<RunningRelay | undefined> {
    if (this.relay?.current) {
      const r = this.relay.current;
      void vscode.window.showInformationMessage(`The SMC relay is already running on ${formatHostPort(r.host, r.port)}.`);
      return r;
    }
    const s = readSettings();
    if (!(await this.confirmBind(s.localRelayHost))) return undefined;
    const dataDir = vscode.Uri.joinPath(this.context.globalStorageUri, 'relay').fsPath;
    await vscode.workspace.fs.createDirectory(vscode.Uri.joinPath(this.context.globalStorageUri, 'relay'));
    const relay = new LocalRelay({
      execPath: process.execPath,
      electron: process.versions.electron !== undefined,
      cliPath: vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'cli.js').fsPath,
      dataDir,
      host: s.localRelayHost,
      port: s.localRelayPort,
      onLog: this.logs.relayLine,
    });
    this.relay = relay;
    relay.onExit((error) => {
      if (this.relay === relay) this.relay = undefined;
      if (!error) return;
      void vscode.window
        .showErrorMessage(`The local SMC relay stopped unexpectedly. ${error.message}`, 'Restart Relay', 'Show Log')
        .then((choice) => {
          if (choice === 'Restart Relay') void vscode.commands.executeCommand('smc.startRelay');
          else if (choice === 'Show Log') this.logs.showRelay();
        });
    });
    try {
      const running = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `SMC: starting a relay on ${s.localRelayHost}:${s.localRelayPort}…` },
        () => relay.start(),
      );
      this.logs.log('local relay started', { host: running.host, port: running.port, pid: running.pid });
      void vscode.window
        .showInformationMessage(`SMC relay running on ${formatHostPort(running.host, running.port)} (data in the extension's storage).`, 'Connect', 'Show Log')
        .then((choice) => {
          if (choice === 'Connect') void vscode.commands.executeCommand('smc.connect');
          else if (choice === 'Show Log') this.logs.showRelay();
        });
      return running;
    } catch (e) {
      if (this.relay === relay) this.relay = undefined;
      const message = e instanceof LocalRelayError ? e.message : `The relay could not start: ${e instanceof Error ? e.message : String(e)}`;
      const buttons = e instanceof LocalRelayError && e.reason === 'port_in_use' ? ['Connect', 'Open Settings'] : ['Show Log', 'Open Settings'];
      void vscode.window.showErrorMessage(message, ...buttons).then((choice) => {
        if (choice === 'Connect') void vscode.commands.executeCommand('smc.connect');
        else if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'smc.localRelay');
        else if (choice === 'Show Log') this.logs.showRelay();
      });
      return undefined;
    }
  }

  /** Stops the relay gracefully (clients get `bye`, §1.7). */
  async stop(quiet = false): Promise<void> {
    const relay = this.relay;
    if (!relay) {
      if (!quiet) void vscode.window.showInformationMessage('No local SMC relay is running.');
      return;
    }
    // While the window closes (deactivate, quiet) no UI: just stop and wait.
    if (quiet) await relay.stop();
    else await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'SMC: stopping the relay…' }, () => relay.stop());
    if (this.relay === relay) this.relay = undefined;
    this.logs.log('local relay stopped');
  }
}
