// Test helpers shared by every suite that needs a relay: `RelayProcess` spawns the real
// `smc relay` (node dist/cli.js relay, after `node scripts/build.mjs`) on port 0 in a temporary
// data directory and learns its port from the JSON `listening` log event. The line-protocol
// client (`LineClient`, `randomRoom`, join proofs) lives in ./lineClient and is re-exported
// here. Keep this API stable: other engineers' tests use it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LineClient, withTimeout } from './lineClient';

export { LineClient, joinLine, randomId, randomRoom, rememberRoomKey, roomAuthKeyOf, withTimeout, type Frame } from './lineClient';

/** Repository root (this file compiles to out/test/helpers/). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli.js');

export type LogRecord = Record<string, unknown> & { event: string; level: string };

export interface RelayProcessOptions {
  /** Extra `smc relay` arguments, e.g. ['--rate', '0']. */
  args?: string[];
  /** Extra environment, e.g. { SMC_RELAY_HELLO_TIMEOUT_MS: '200' }. */
  env?: Record<string, string>;
  /** Data directory to use (kept afterwards); default: a fresh temp dir, removed by cleanup(). */
  dataDir?: string;
  /** How long to wait for `listening` (default 10 s). */
  startTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A real relay process. Always call `cleanup()` (e.g. in `afterEach`). */
export class RelayProcess {
  readonly host = '127.0.0.1';
  /** Every JSON log line of the relay, parsed, in order. */
  readonly logs: LogRecord[] = [];
  /** Standard output lines that are not JSON, and all of standard error. */
  readonly otherOutput: string[] = [];
  /** Settles when the process exits. */
  readonly exited: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private readonly logWaiters: { pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    private readonly ownsDataDir: boolean,
    public port: number,
  ) {
    this.exited = new Promise((resolveExit) => {
      child.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolveExit(this.exitInfo);
      });
    });
    let buffered = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.onLine(line);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.otherOutput.push(chunk));
  }

  /** Spawns `node dist/cli.js relay --port 0 --log-format json --data <dir> ...args`. */
  static async start(options: RelayProcessOptions = {}): Promise<RelayProcess> {
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'smc-relay-test-'));
    const child = spawn(process.execPath, [
      CLI_PATH, 'relay', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--data', dataDir,
      ...(options.args ?? []),
    ], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const relay = new RelayProcess(child, dataDir, ownsDataDir, 0);
    try {
      const listening = await Promise.race([
        relay.waitForLog((r) => r.event === 'listening', options.startTimeoutMs ?? 10_000),
        relay.exited.then((e) => {
          throw new Error(`relay exited during start (code ${e.code}, signal ${e.signal}): ${relay.otherOutput.join('')}`);
        }),
      ]);
      relay.port = listening.port as number;
    } catch (err) {
      await relay.cleanup();
      throw err;
    }
    return relay;
  }

  /**
   * Runs `smc relay` with these arguments to its end (for usage errors, --help, exit codes).
   * Does not add --port/--data; give them in `args`.
   */
  static run(args: string[], env: Record<string, string> = {}, timeoutMs = 10_000): Promise<ExitInfo & { stdout: string; stderr: string }> {
    return new Promise((resolveRun, reject) => {
      const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`smc ${args.join(' ')} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolveRun({ code, signal, stdout, stderr });
      });
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The first log record (past or future) matching `pred`. */
  waitForLog(pred: (r: LogRecord) => boolean, timeoutMs = 5_000): Promise<LogRecord> {
    const seen = this.logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveLog, reject) => {
      const waiter = {
        pred,
        resolve: (r: LogRecord) => {
          clearTimeout(timer);
          resolveLog(r);
        },
      };
      const timer = setTimeout(() => {
        this.logWaiters.splice(this.logWaiters.indexOf(waiter), 1);
        reject(new Error(`no matching relay log within ${timeoutMs} ms; last: ${JSON.stringify(this.logs.slice(-5))}`));
      }, timeoutMs);
      this.logWaiters.push(waiter);
    });
  }

  /** Opens a client connection to this relay (not yet hello'd). */
  connect(): Promise<LineClient> {
    return LineClient.connect(this.port, this.host);
  }

  /** Sends a signal (default SIGTERM) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.child.kill(signal);
    return withTimeout(this.exited, timeoutMs, `relay did not exit within ${timeoutMs} ms of ${signal}`);
  }

  /** SIGKILL: the process stops at once, as in a crash. */
  kill(): Promise<ExitInfo> {
    return this.stop('SIGKILL');
  }

  /** Kills the process if still running and removes the data directory if we made it. */
  async cleanup(): Promise<void> {
    if (this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }

  private onLine(line: string): void {
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      this.otherOutput.push(line);
      return;
    }
    this.logs.push(record);
    for (const waiter of [...this.logWaiters]) {
      if (waiter.pred(record)) {
        this.logWaiters.splice(this.logWaiters.indexOf(waiter), 1);
        waiter.resolve(record);
      }
    }
  }
}

/**
 * The lock tests start relays in another PID namespace (`unshare --pid --fork --mount-proc`),
 * which needs util-linux and root. As root (CI) a failure is a failed test, never a silent
 * skip; as another user those tests cannot run, and are marked skipped.
 */
export function requirePidNamespaces(ctx: Mocha.Context): void {
  if (canUsePidNamespaces()) return;
  ctx.skip();
}

/** Whether relays can be started in another PID namespace here (see requirePidNamespaces). */
export function canUsePidNamespaces(): boolean {
  if (spawnSync('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'true'], { stdio: 'ignore' }).status === 0) return true;
  if (process.getuid?.() === 0) throw new Error('unshare --pid --fork --mount-proc failed as root: util-linux is needed for the PID namespace tests');
  return false;
}
