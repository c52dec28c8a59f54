// SMC: Start Relay / Stop Relay (README "Chat from VS Code", step 2): `smc relay` (dist/cli.js) as a separate process,
// never inside the extension host, so that a relay crash or load cannot freeze the editor.
// In desktop VS Code process.execPath is Electron, which runs as plain Node with
// ELECTRON_RUN_AS_NODE=1; in a remote or web host (code-server) it already is Node.
// No vscode import: the process handling is tested in plain Node (test/system/vscode-localRelay).
//
// Detached (issue 11, "a window reload must not kill the local relay"): with `logFile` the relay
// is its own process group with its output in a file, so it outlives the extension host; with
// `lease` it stops by itself once nobody touches the lease file (`smc relay --lease`, docs/relay.md "Options").
// A later host finds it again from a LocalRelayRecord, trusted only after checking that the pid
// runs this relay on this data directory (/proc cmdline, where there is one) and that the port
// answers `hello`; it is stopped with the admin token of its data directory (§1.7), and killed
// by pid only when the pid was verified.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
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
  /** Run detached, the output appended to this file (which is tailed into onLog). */
  logFile?: string;
  /** `smc relay --lease FILE --lease-ttl SECONDS`: the relay stops once FILE is not touched. */
  lease?: { file: string; ttlSeconds: number };
}

/** What a host remembers of the relay it started, to find it again after a reload. */
export interface LocalRelayRecord {
  pid: number;
  host: string;
  port: number;
  /** Date.now() when it listened. */
  startedAt: number;
  dataDir: string;
}

/** A record from storage (any shape) as a LocalRelayRecord, or undefined. */
export function parseRecord(v: unknown): LocalRelayRecord | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const { pid, host, port, startedAt, dataDir } = r;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) return undefined;
  if (typeof port !== 'number' || !Number.isSafeInteger(port) || port < 1 || port > 65535) return undefined;
  if (typeof host !== 'string' || typeof dataDir !== 'string' || typeof startedAt !== 'number') return undefined;
  return { pid, host, port, startedAt, dataDir };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `pid` runs `smc relay` from this cli.js on this data directory: 'yes', 'no', or
 * 'unknown' where the system has no /proc (then the pid is never signalled).
 */
export async function runsThisRelay(pid: number, cliPath: string, dataDir: string): Promise<'yes' | 'no' | 'unknown'> {
  if (process.platform !== 'linux') return 'unknown';
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return 'no';
  }
  const args = raw.split('\0');
  const at = args.indexOf(cliPath);
  const data = args.indexOf('--data');
  return at >= 0 && args[at + 1] === 'relay' && data > at && args[data + 1] === dataDir ? 'yes' : 'no';
}

/** Resolves with the first frame a relay answers to `hello` on host:port, or undefined. */
export function helloAnswer(host: string, port: number, timeoutMs = 5_000): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host: connectableHost(host), port });
    let buf = '';
    const done = (v: Record<string, unknown> | undefined): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    sock.once('error', () => done(undefined));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.length > 65_536) return done(undefined);
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const f = JSON.parse(buf.slice(0, nl)) as unknown;
        done(typeof f === 'object' && f !== null ? (f as Record<string, unknown>) : undefined);
      } catch {
        done(undefined);
      }
    });
    sock.write('{"t":"hello","v":1,"agent":"smc-vscode-probe"}\n');
  });
}

function connectableHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

/** §1.7 admin shutdown with the token of the relay's data directory; resolves once sent. */
async function adminShutdown(host: string, port: number, dataDir: string): Promise<boolean> {
  let token: string;
  try {
    token = ((await readFile(join(dataDir, 'admin-token'), 'utf8')).split('\n')[0] ?? '').trim();
  } catch {
    return false;
  }
  if (token === '') return false;
  return new Promise((resolve) => {
    const sock = connect({ host: connectableHost(host), port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, 5_000);
    sock.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    sock.once('connect', () => {
      sock.write(`${JSON.stringify({ t: 'hello', v: 1, agent: 'smc-vscode' })}\n${JSON.stringify({ t: 'admin', op: 'shutdown', token })}\n`);
      sock.end();
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Appends of a file as lines, from its current end (or its start), polled. */
class FileTail {
  private offset: number;
  private rest = '';
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly file: string, private readonly onLine: (line: string) => void, fromStart: boolean, everyMs = 250) {
    this.offset = fromStart ? 0 : sizeOf(file);
    this.timer = setInterval(() => this.poll(), everyMs);
    this.timer.unref();
  }
  poll(): void {
    const size = sizeOf(this.file);
    if (size < this.offset) this.offset = 0;
    if (size === this.offset) return;
    let fd: number | undefined;
    try {
      fd = openSync(this.file, 'r');
      const len = Math.min(size - this.offset, 1024 * 1024);
      const buf = Buffer.alloc(len);
      const n = readSync(fd, buf, 0, len, this.offset);
      this.offset += n;
      const text = this.rest + buf.subarray(0, n).toString('utf8');
      const lines = text.split('\n');
      this.rest = lines.pop() ?? '';
      for (const l of lines) this.onLine(l);
    } catch {
      // gone or unreadable for now: try again at the next poll
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  stop(): void {
    this.poll();
    clearInterval(this.timer);
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
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
  private tail: FileTail | undefined;
  /** A relay found again from its record (no ChildProcess): watched by polling its pid. */
  private adopted: { pid: number; verified: 'yes' | 'unknown'; watch: NodeJS.Timeout } | undefined;
  private detached = false;

  constructor(private readonly options: LocalRelayOptions) {}

  /**
   * The relay of a record, if it is still this relay: the pid runs `cli.js relay --data
   * <our data dir>` (where /proc can tell) and the port answers `hello` with `welcome`.
   * Anything else (a dead pid, a reused pid, another program on the port, another data
   * directory) gives undefined, and nothing is signalled.
   */
  static async adopt(options: LocalRelayOptions, record: LocalRelayRecord): Promise<LocalRelay | undefined> {
    if (record.dataDir !== options.dataDir || !alive(record.pid)) return undefined;
    const verified = await runsThisRelay(record.pid, options.cliPath, options.dataDir);
    if (verified === 'no') return undefined;
    const welcome = await helloAnswer(record.host, record.port);
    if (welcome?.t !== 'welcome') return undefined;
    const relay = new LocalRelay(options);
    relay.running = { pid: record.pid, host: record.host, port: record.port };
    const watch = setInterval(() => {
      if (alive(record.pid)) return;
      relay.gone(relay.stopping ? undefined : new LocalRelayError('exited', 'The relay stopped (it was not started by this window). See the "SMC Relay" output.'));
    }, 1_000);
    watch.unref();
    relay.adopted = { pid: record.pid, verified, watch };
    if (options.logFile !== undefined) relay.tail = new FileTail(options.logFile, (l) => l && options.onLog(l), false);
    return relay;
  }

  /** The adopted relay exited: tell the listeners once. */
  private gone(error: LocalRelayError | undefined): void {
    if (!this.adopted) return;
    clearInterval(this.adopted.watch);
    this.adopted = undefined;
    this.running = undefined;
    this.tail?.stop();
    this.tail = undefined;
    if (this.detached) return;
    for (const l of [...this.exitListeners]) l(error);
  }

  /**
   * The window goes away (reload, close) but the relay stays: stop watching and tailing; its
   * lease, no longer renewed by this window, ends it unless another window takes it over.
   */
  detach(): void {
    this.detached = true;
    this.tail?.stop();
    this.tail = undefined;
    if (this.adopted) clearInterval(this.adopted.watch);
  }

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
    if (o.lease) args.push('--lease', o.lease.file, '--lease-ttl', String(o.lease.ttlSeconds));
    return new Promise<RunningRelay>((resolve, reject) => {
      let child: ChildProcess;
      let logFd: number | undefined;
      try {
        if (o.logFile !== undefined) {
          // Detached: its own process group, output to a file (a pipe to a dead host would
          // break its writes), not waited for by this process.
          logFd = openSync(o.logFile, 'a', 0o600);
          this.tail = new FileTail(o.logFile, (l) => onLine(l), false);
          child = spawn(o.execPath, args, { env, stdio: ['ignore', logFd, logFd], windowsHide: true, detached: true });
          child.unref();
        } else {
          child = spawn(o.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
        }
      } catch (e) {
        this.tail?.stop();
        this.tail = undefined;
        reject(new LocalRelayError('spawn', `Could not start the relay process: ${e instanceof Error ? e.message : String(e)}`));
        return;
      } finally {
        if (logFd !== undefined) closeSync(logFd);
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
      if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
      if (child.stderr) createInterface({ input: child.stderr }).on('line', onLine);
      child.once('error', (e) => {
        settle(() => reject(new LocalRelayError('spawn', `Could not start the relay process: ${e.message}`)));
      });
      child.once('exit', (code, signal) => {
        this.tail?.stop();
        this.tail = undefined;
        if (this.detached) return;
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
    if (this.adopted) return this.stopAdopted(this.adopted.pid, this.adopted.verified);
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

  /**
   * An adopted relay: the admin shutdown of §1.7 with its data directory's token (only this
   * relay accepts it), then, if it has not exited in time and its pid was verified, SIGKILL.
   */
  private async stopAdopted(pid: number, verified: 'yes' | 'unknown'): Promise<void> {
    const r = this.running;
    if (!r) return;
    this.stopping = true;
    await adminShutdown(r.host, r.port, this.options.dataDir);
    const deadline = Date.now() + (this.options.stopTimeoutMs ?? 12_000);
    while (alive(pid) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    if (alive(pid) && verified === 'yes' && (await runsThisRelay(pid, this.options.cliPath, this.options.dataDir)) === 'yes') {
      process.kill(pid, 'SIGKILL');
    }
    this.gone(undefined);
  }

  /** Last resort when the extension host itself exits: no waiting possible. */
  killNow(): void {
    if (this.options.logFile !== undefined) {
      // Detached on purpose: it outlives this host; its lease decides.
      this.detach();
      return;
    }
    this.stopping = true;
    this.child?.kill('SIGTERM');
  }
}
