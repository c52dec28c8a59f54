// The terminal client as tests run it: `node dist/cli.js` (after `node scripts/build.mjs`) with a
// config folder of its own (SMC_HOME), either to its end (`runSmc`, or `runSmcAsync` where this
// process must keep answering meanwhile) or as a running
// `smc chat --json` (`JsonChat`: one line of stdin = one message, one JSON object per line of
// stdout).
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI_PATH } from './relayProcess';

/** One line of `smc chat --json` output. */
export type ChatLine = Record<string, unknown>;

export interface SmcRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `smc ARGS` to its end with `SMC_HOME=home`, `input` on stdin. */
export function runSmc(home: string, args: string[], input = '', timeoutMs = 30_000): SmcRun {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SMC_HOME: home }, input, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `smc ARGS` to its end, like `runSmc`, without blocking this process (a Delivery Service or a
 * proxy that lives in it must go on answering); killed after `timeoutMs`.
 */
export function runSmcAsync(home: string, args: string[], input = '', timeoutMs = 30_000): Promise<SmcRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SMC_HOME: home } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** A running `smc chat --json ...args` and what it printed. */
export class JsonChat {
  /** Every stdout line, parsed. */
  readonly lines: ChatLine[] = [];
  /** Every stderr line. */
  readonly stderr: string[] = [];
  readonly child: ChildProcess;
  /** Settles with the exit code. */
  readonly exit: Promise<number | null>;

  constructor(home: string, args: string[]) {
    this.child = spawn(process.execPath, [CLI_PATH, 'chat', '--json', ...args], { env: { ...process.env, SMC_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.lines.push(JSON.parse(l) as ChatLine));
    createInterface({ input: this.child.stderr! }).on('line', (l) => this.stderr.push(l));
    this.exit = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Sends one message (one line on stdin). */
  send(text: string): void {
    this.child.stdin!.write(`${text}\n`);
  }

  /** Closes stdin: the chat ends once what it sent is acked. */
  end(): void {
    this.child.stdin!.end();
  }

  texts(): string[] {
    return this.lines.map((l) => String(l.text));
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Makes a room with `smc room new` and returns its invite. */
export function newInvite(home: string, relay: string, name: string): string {
  const r = runSmc(home, ['room', 'new', '--name', name, '--relay', relay]);
  assert.equal(r.code, 0, r.stderr);
  const m = /smc:\/\/[^\s']+/.exec(r.stdout);
  assert.ok(m, 'room new prints an invite');
  return m[0];
}
