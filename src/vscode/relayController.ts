// SMC: Start Relay / Stop Relay as the user sees them: confirmation before binding anything
// but loopback (once per address), progress while starting, errors that say what to do, and a
// notice when the relay dies. The process itself is LocalRelay (localRelay.ts).
//
// The relay outlives a window reload (issue 11): it runs detached with a lease file this window
// touches (docs/extension.md "The local relay"); its record (pid, address, start time, data
// directory) is kept in globalState, and the next window adopts it only after LocalRelay.adopt
// has checked it is still this relay. A host killed outright stops renewing the lease, and the
// relay stops by itself smc.localRelay.leaseSeconds later.
import * as vscode from 'vscode';
import { utimes, writeFile } from 'node:fs/promises';
import { formatHostPort } from '../core/hostPort';
import { isLoopback, readSettings } from './config';
import { Disposable, toDisposable } from './lifecycle';
import { LocalRelay, LocalRelayError, parseRecord, type LocalRelayOptions, type RunningRelay } from './localRelay';
import type { Logs } from './log';

const CONFIRMED_BINDS = 'smc.confirmedRelayBinds';
/** globalState: the LocalRelayRecord of the relay a window started (no secret in it). */
export const RELAY_RECORD_STATE = 'smc.localRelay.record';

export class RelayController extends Disposable {
  private relay: LocalRelay | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Resolves once the record of an earlier window's relay was checked (and adopted or dropped). */
  readonly ready: Promise<void>;

  constructor(private readonly context: vscode.ExtensionContext, private readonly logs: Logs) {
    super();
    this._register(toDisposable(() => {
      this.stopRenewing();
      this.relay?.killNow();
    }));
    this.ready = this.adoptRecorded().catch((e: unknown) => {
      this.logs.log('local relay record not used', { error: e instanceof Error ? e.message : String(e) });
    });
  }

  get running(): RunningRelay | undefined {
    return this.relay?.current;
  }

  private get relayDir(): vscode.Uri {
    return vscode.Uri.joinPath(this.context.globalStorageUri, 'relay');
  }

  private relayOptions(host: string, port: number): LocalRelayOptions {
    const dir = this.relayDir.fsPath;
    const storage = this.context.globalStorageUri.fsPath;
    return {
      execPath: process.execPath,
      electron: process.versions.electron !== undefined,
      cliPath: vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'cli.js').fsPath,
      dataDir: dir,
      host,
      port,
      onLog: this.logs.relayLine,
      logFile: `${storage}/relay.log`,
      lease: { file: `${storage}/relay.lease`, ttlSeconds: readSettings().localRelayLeaseSeconds },
    };
  }

  /** An earlier window's relay, if its record still names this relay: watched and renewed again. */
  private async adoptRecorded(): Promise<void> {
    const record = parseRecord(this.context.globalState.get(RELAY_RECORD_STATE));
    if (!record) return;
    const options = this.relayOptions(record.host, record.port);
    const relay = await LocalRelay.adopt(options, record);
    if (!relay) {
      // Dead, or not ours any more (a reused pid, another program on the port): forget it,
      // signal nothing.
      this.logs.log('local relay record dropped', { pid: record.pid, port: record.port });
      await this.context.globalState.update(RELAY_RECORD_STATE, undefined);
      return;
    }
    if (this.relay?.current) return;
    this.relay = relay;
    this.watch(relay);
    await this.renew(options);
    this.startRenewing(options);
    this.logs.log('local relay found again', { pid: record.pid, port: record.port });
  }

  /** Touches the lease file now (creating it), so the relay knows a window still wants it. */
  private async renew(options: LocalRelayOptions): Promise<void> {
    const file = options.lease?.file;
    if (!file) return;
    const now = new Date();
    await utimes(file, now, now).catch(() => writeFile(file, '', { mode: 0o600 }));
  }

  private startRenewing(options: LocalRelayOptions): void {
    this.stopRenewing();
    const ttl = options.lease?.ttlSeconds ?? 300;
    // A few renewals per lease: a busy host that misses one does not lose the relay.
    this.renewTimer = setInterval(() => void this.renew(options).catch(() => undefined), Math.max(500, Math.min(ttl * 250, 30_000)));
  }

  private stopRenewing(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private watch(relay: LocalRelay): void {
    relay.onExit((error) => {
      if (this.relay === relay) {
        this.relay = undefined;
        this.stopRenewing();
        void this.context.globalState.update(RELAY_RECORD_STATE, undefined);
      }
      if (!error) return;
      void vscode.window
        .showErrorMessage(`The local SMC relay stopped unexpectedly. ${error.message}`, 'Restart Relay', 'Show Log')
        .then((choice) => {
          if (choice === 'Restart Relay') void vscode.commands.executeCommand('smc.startRelay');
          else if (choice === 'Show Log') this.logs.showRelay();
        });
    });
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
    await this.ready;
    if (this.relay?.current) {
      const r = this.relay.current;
      void vscode.window.showInformationMessage(`The SMC relay is already running on ${formatHostPort(r.host, r.port)}.`);
      return r;
    }
    const s = readSettings();
    if (!(await this.confirmBind(s.localRelayHost))) return undefined;
    await vscode.workspace.fs.createDirectory(this.relayDir);
    const options = this.relayOptions(s.localRelayHost, s.localRelayPort);
    const relay = new LocalRelay(options);
    this.relay = relay;
    this.watch(relay);
    try {
      await this.renew(options);
      const running = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `SMC: starting a relay on ${s.localRelayHost}:${s.localRelayPort}…` },
        () => relay.start(),
      );
      this.startRenewing(options);
      await this.context.globalState.update(RELAY_RECORD_STATE, { pid: running.pid, host: running.host, port: running.port, startedAt: Date.now(), dataDir: options.dataDir });
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

  /** The window closes or reloads: the relay keeps running; only its lease is no longer renewed here. */
  detach(): void {
    this.stopRenewing();
    this.relay?.detach();
  }

  /** Stops the relay gracefully (clients get `bye`, §1.7). */
  async stop(quiet = false): Promise<void> {
    await this.ready;
    const relay = this.relay;
    if (!relay) {
      if (!quiet) void vscode.window.showInformationMessage('No local SMC relay is running.');
      return;
    }
    // While the window closes (deactivate, quiet) no UI: just stop and wait.
    if (quiet) await relay.stop();
    else await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'SMC: stopping the relay…' }, () => relay.stop());
    if (this.relay === relay) this.relay = undefined;
    this.stopRenewing();
    await this.context.globalState.update(RELAY_RECORD_STATE, undefined);
    this.logs.log('local relay stopped');
  }
}
