// The extension's two Output channels (LogOutputChannel): "SMC" for the extension and client
// events, "SMC Relay" for the local relay's own log lines. Created on first use, so that
// activation does no more than it must. Callers pass event names and non-secret fields only
// (the client core's log contract); nothing here ever receives a key, body or tag.
import * as vscode from 'vscode';
import type { DisposableLike } from './lifecycle';

export type LogFn = (event: string, fields?: Record<string, unknown>) => void;

export class Logs implements DisposableLike {
  private main: vscode.LogOutputChannel | undefined;
  private relay: vscode.LogOutputChannel | undefined;

  readonly log: LogFn = (event, fields) => {
    this.main ??= vscode.window.createOutputChannel('SMC', { log: true });
    this.main.info(fields && Object.keys(fields).length > 0 ? `${event} ${JSON.stringify(fields)}` : event);
  };

  /** One line of the relay's log (json format): its level picks the channel's level. */
  readonly relayLine = (line: string): void => {
    this.relay ??= vscode.window.createOutputChannel('SMC Relay', { log: true });
    const level = /"level":"(warn|error)"/.exec(line)?.[1];
    if (level === 'error') this.relay.error(line);
    else if (level === 'warn') this.relay.warn(line);
    else this.relay.info(line);
  };

  showRelay(): void {
    this.relay ??= vscode.window.createOutputChannel('SMC Relay', { log: true });
    this.relay.show(true);
  }

  dispose(): void {
    this.main?.dispose();
    this.relay?.dispose();
  }
}
