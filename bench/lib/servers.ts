// Starts the programs under test as separate processes: the real relay (`node dist/cli.js
// relay`, the shipped program, with a temp data directory) and the bare baseline server. Both
// are loaded from the benchmark process over loopback TCP only, and measured from outside
// through /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { nowNs } from './stats';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO, 'dist', 'cli.js');
const BASELINE = path.join(REPO, 'out', 'bench', 'baselineServer.js');

export interface ServerProcess {
  kind: 'relay' | 'baseline';
  pid: number;
  port: number;
  /** Nanoseconds from spawn() to the line announcing that it listens. */
  startNs: number;
  /** The data directory (relay only). */
  dataDir?: string;
  /** The last lines the process printed, for error messages. */
  recentOutput(): string;
  stop(): Promise<void>;
}

/** Finds the port in a relay or baseline line that announces listening, or undefined. */
export function listeningPort(line: string): number | undefined {
  if (!/listening/i.test(line)) return undefined;
  const m =
    /"port"\s*:\s*(\d+)/.exec(line) ??
    /\bport[=: ]+(\d+)/i.exec(line) ??
    /(?:127\.0\.0\.1|localhost|\]):(\d{1,5})\b/.exec(line);
  return m?.[1] ? Number(m[1]) : undefined;
}

// Everything started here, so that a bench run that is interrupted leaves no relay and no
// temp directory behind (the handlers run on process exit, also after SIGINT/SIGTERM in run.ts).
const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
  for (const d of ownedDirs) rmSync(d, { recursive: true, force: true });
});

function startProcess(kind: 'relay' | 'baseline', args: string[], env: NodeJS.ProcessEnv, dataDir?: string): Promise<ServerProcess> {
  const t0 = nowNs();
  const child: ChildProcess = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  const recent: string[] = [];
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; liveChildren.delete(child); resolve(); }));
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`${kind} did not announce listening within 60 s`)), 60_000);
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${e.message}\n${recent.join('\n')}`));
    };
    const onText = (stream: NodeJS.ReadableStream): void => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const text = partial + chunk;
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          recent.push(line);
          if (recent.length > 20) recent.shift();
          if (settled) continue;
          const port = listeningPort(line);
          if (port === undefined) continue;
          settled = true;
          clearTimeout(timer);
          const startNs = nowNs() - t0;
          resolve({
            kind,
            pid: child.pid ?? -1,
            port,
            startNs,
            dataDir,
            recentOutput: () => recent.join('\n'),
            stop: async () => {
              if (!exited) {
                child.kill('SIGTERM');
                const force = setTimeout(() => child.kill('SIGKILL'), 12_000);
                await exitedPromise;
                clearTimeout(force);
              }
            },
          });
        }
      });
    };
    if (child.stdout) onText(child.stdout);
    if (child.stderr) onText(child.stderr);
    child.once('error', fail);
    child.once('exit', (code, signal) => fail(new Error(`${kind} exited (${code ?? signal}) before listening`)));
  });
}

export interface RelayOptions {
  /** An existing data directory (kept); otherwise a fresh temp one (removed on stop). */
  dataDir?: string;
  extraArgs?: string[];
}

/**
 * The real relay: `node dist/cli.js relay --rate 0` on a free loopback port. The load generator
 * is one address, so the per-address limits (64 connections, 32 join proofs a second) are
 * lifted and its log lines are not folded. Its line clients join with real proofs (§1.9), so joins cost what they cost a user
 * (one check per join alone: bench/joinProof.ts).
 */
export async function startRelay(opts: RelayOptions = {}): Promise<ServerProcess> {
  const owned = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'smc-bench-relay-'));
  if (owned) ownedDirs.add(dataDir);
  const args = [CLI, 'relay', '--host', '127.0.0.1', '--port', '0', '--data', dataDir, '--rate', '0', '--room-bytes', '0',
    '--max-conns-per-ip', '1000000', '--join-rate-per-ip', '0', '--log-per-addr', '0', ...(opts.extraArgs ?? [])];
  const env = { ...process.env };
  // Flags win over the environment; drop any SMC_RELAY_* the caller's shell may carry.
  for (const k of Object.keys(env)) if (k.startsWith('SMC_RELAY_')) delete env[k];
  let relay: ServerProcess;
  try {
    relay = await startProcess('relay', args, env, dataDir);
  } catch (e) {
    if (owned) {
      rmSync(dataDir, { recursive: true, force: true });
      ownedDirs.delete(dataDir);
    }
    throw e;
  }
  if (!owned) return relay;
  const stop = relay.stop;
  relay.stop = async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
    ownedDirs.delete(dataDir);
  };
  return relay;
}

/** The bare in-process fan-out baseline (bench/baselineServer.ts); `cork` batches writes per tick. */
export function startBaseline(opts: { cork?: boolean } = {}): Promise<ServerProcess> {
  return startProcess('baseline', [BASELINE, ...(opts.cork ? ['--cork'] : [])], { ...process.env });
}

/** Runs `fn` against a freshly started server, and stops the server whatever happens. */
export async function withServer<T>(start: () => Promise<ServerProcess>, fn: (s: ServerProcess) => Promise<T>): Promise<T> {
  const server = await start();
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}
