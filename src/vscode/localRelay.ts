// SMC: Start Relay / Stop Relay (README "Chat from VS Code", step 2): `smc relay` (dist/cli.js) as a separate process,
// never inside the extension host, so that a relay crash or load cannot freeze the editor.
// In desktop VS Code process.execPath is Electron, which runs as plain Node with
// ELECTRON_RUN_AS_NODE=1; in a remote or web host (code-server) it already is Node.
// No vscode import: the process handling is tested in plain Node (test/system/vscode-localRelay).
import { spawn, type ChildProcess } from 'node:child_process';
import { formatHostPort } from '../core/hostPort';
import { createInterface } from 'node:readline';

export interface LocalRelayOptions {
  /** The Node (or Electron) binary; process.execPath in the extension host. */
  execPath: string;
  /** True in desktop VS Code (Electron): sets ELECTRON_RUN_AS_NODE=1. */
  electron: boolean;
  /** Absolute path of dist/cli.js. */
  cliPath: string;
  /** The relay's data directory (under the extension's global storage). */
  dataDir: string;
  host: string;
  port: number;
  /** One line of the relay's log (already a single line, no secrets: the relay logs none). */
  onLog: (line: string) => void;
  /** How long the relay may take to listen. */
  startTimeoutMs?: number;
  /** How long a graceful stop may take before the process is killed (§1.7 says 10 s). */
  stopTimeoutMs?: number;
}

export type RelayFailure = 'port_in_use' | 'permission' | 'data_dir' | 'exited' | 'timeout' | 'spawn';

/** A start that failed, with a message that says what to do next. */
export class LocalRelayError extends Error {
  override readonly name = 'LocalRelayError';
  constructor(readonly reason: RelayFailure, message: string) {
    super(message);
  }
}

export interface RunningRelay {
  pid: number;
  host: string;
  port: number;
}

/** Classifies the relay's last words into a failure the user can act on. */
export function classifyRelayExit(lines: readonly string[], host: string, port: number, code: number | null): LocalRelayError {
  const text = lines.join('\n');
  if (/EADDRINUSE|address already in use|port .* in use/i.test(text)) {
    return new LocalRelayError('port_in_use', `Port ${port} on ${host} is already in use. Another relay may be running there (connect to it with "SMC: Connect to Relay"), or set another port in the setting smc.localRelay.port.`);
  }
  if (/EACCES|permission denied/i.test(text) && /listen|bind|port/i.test(text)) {
    return new LocalRelayError('permission', `The relay may not listen on ${formatHostPort(host, port)} (permission denied). Choose a port above 1024 in smc.localRelay.port.`);
  }
  if (/EADDRNOTAVAIL/i.test(text)) {
    return new LocalRelayError('permission', `${host} is not an address of this machine. Change the setting smc.localRelay.host.`);
  }
  if (/lock|data dir|EROFS|ENOSPC|not writable/i.test(text)) {
    return new LocalRelayError('data_dir', `The relay could not use its data directory: ${lastMeaningful(lines)}. See the "SMC Relay" output.`);
  }
  return new LocalRelayError('exited', `The relay stopped (exit code ${code ?? 'none'}): ${lastMeaningful(lines)}. See the "SMC Relay" output.`);
}

function lastMeaningful(lines: readonly string[]): string {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]?.trim();
    if (l) return l.length > 200 ? `${l.slice(0, 200)}…` : l;
  }
  return 'no output';
}

/** Reads the port from the relay's `listening` log line (json or text format). */
export function parseListening(line: string): number | undefined {
  const trimmed = line.trim();
  if (trimmed.startsWith('{')) {
    try {
      const rec = JSON.parse(trimmed) as { event?: unknown; port?: unknown };
      return rec.event === 'listening' && typeof rec.port === 'number' ? rec.port : undefined;
    } catch {
      return undefined;
    }
  }
  const m = /\blistening\b.*\bport=(\d+)/.exec(trimmed);
  return m ? Number(m[1]) : undefined;
}

export class LocalRelay {
  private child: ChildProcess | undefined;
  private running: RunningRelay | undefined;
  private stopping = false;
  private readonly exitListeners = new Set<(error: LocalRelayError | undefined) => void>();

  constructor(private readonly options: LocalRelayOptions) {}

  get current(): RunningRelay | undefined {
    return this.running;
  }

  /** Called when a relay that was running stops: with an error unless Stop Relay asked. */
  onExit(listener: (error: LocalRelayError | undefined) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** Starts the relay and resolves once it listens. */
  start(): Promise<RunningRelay> {
    if (this.running) return Promise.resolve(this.running);
    if (this.child) return Promise.reject(new LocalRelayError('spawn', 'The relay is already starting.'));
    const o = this.options;
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (o.electron) env.ELECTRON_RUN_AS_NODE = '1';
    else delete env.ELECTRON_RUN_AS_NODE;
    const args = [o.cliPath, 'relay', '--host', o.host, '--port', String(o.port), '--data', o.dataDir, '--log-format', 'json'];
    return new Promise<RunningRelay>((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn(o.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
      } catch (e) {
        reject(new LocalRelayError('spawn', `Could not start the relay process: ${e instanceof Error ? e.message : String(e)}`));
        return;
      }
      this.child = child;
      this.stopping = false;
      const recent: string[] = [];
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const timer = setTimeout(() => {
        settle(() => reject(new LocalRelayError('timeout', 'The relay did not start listening in time. See the "SMC Relay" output.')));
        child.kill('SIGKILL');
      }, o.startTimeoutMs ?? 15_000);
      const onLine = (line: string): void => {
        if (line.length === 0) return;
        o.onLog(line);
        recent.push(line);
        if (recent.length > 20) recent.shift();
        const port = parseListening(line);
        if (port !== undefined && child.pid !== undefined) {
          this.running = { pid: child.pid, host: o.host, port };
          const running = this.running;
          settle(() => resolve(running));
        }
      };
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', onLine);
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', onLine);
      child.once('error', (e) => {
        settle(() => reject(new LocalRelayError('spawn', `Could not start the relay process: ${e.message}`)));
      });
      child.once('exit', (code, signal) => {
        const wasRunning = this.running !== undefined;
        const requested = this.stopping;
        this.child = undefined;
        this.running = undefined;
        const error = classifyRelayExit(recent, o.host, o.port, code);
        o.onLog(`relay process exited (${signal ? `signal ${signal}` : `code ${code ?? 'none'}`})`);
        settle(() => reject(error));
        if (wasRunning) for (const l of [...this.exitListeners]) l(requested ? undefined : error);
      });
    });
  }

  /**
   * Stops the relay gracefully: SIGTERM, so it sends every client `bye` and finishes durable
   * writes (docs/protocol.md §1.7), then SIGKILL if it has not exited in time.
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs ?? 12_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  /** Last resort when the extension host itself exits: no waiting possible. */
  killNow(): void {
    this.stopping = true;
    this.child?.kill('SIGTERM');
  }
}
