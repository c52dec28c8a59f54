// The second person of the end-to-end tests: the real terminal client, `node dist/cli.js`,
// driven through `smc chat --json` (one line of stdin = one message to send, one JSON object
// per line of stdout for each received message; PRODUCT.md "Terminal client").
import { spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { REPO_ROOT, makeTempDir, spawnGroup, waitFor } from './harness';

export const CLI = join(REPO_ROOT, 'dist', 'cli.js');

/** Runs `smc ARGS` to completion with its own config directory; returns stdout. */
export function smc(home: string, args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, SMC_HOME: home }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`smc ${args.join(' ')} failed (exit ${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/** Creates a room with `smc room new` and returns its invite (PROTOCOL.md §2.7). */
export function newRoomInvite(home: string, relay: string, name: string): string {
  const out = smc(home, ['room', 'new', '--relay', relay, '--name', name]);
  const m = /smcs?:\/\/\S+/.exec(out);
  if (!m) throw new Error(`smc room new printed no invite: ${out.replace(/#\S+/g, '#<key>')}`);
  return m[0];
}

/** One received line of `smc chat --json`. */
export type ChatLine = Record<string, unknown>;

/** A running `smc chat --json INVITE` process. */
export class JsonChat {
  readonly lines: ChatLine[] = [];
  readonly stderr: string[] = [];
  private constructor(private readonly child: ChildProcess, readonly home: string, private readonly ownsHome: boolean) {}

  /** Starts `smc chat --json`; without `home`, in a fresh config folder removed by stop(). */
  static start(invite: string, displayName: string, home?: string): JsonChat {
    const dir = home ?? makeTempDir('cli-home');
    const child = spawnGroup(process.execPath, [CLI, 'chat', '--json', '--name', displayName, invite], {
      env: { ...process.env, SMC_HOME: dir },
      capture: true,
    });
    const chat = new JsonChat(child, dir, home === undefined);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.trim()) return;
      try {
        chat.lines.push(JSON.parse(line) as ChatLine);
      } catch {
        chat.stderr.push(`(not JSON on stdout) ${line}`);
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => chat.stderr.push(line));
    return chat;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Sends one message: one line on stdin. */
  send(text: string): void {
    if (text.includes('\n')) throw new Error('smc chat --json sends one line per message');
    this.child.stdin!.write(`${text}\n`);
  }

  /** Waits for a received line matching `pred`; the failure message shows what did arrive. */
  async waitForLine(what: string, pred: (l: ChatLine) => boolean, timeoutMs = 60_000): Promise<ChatLine> {
    try {
      return await waitFor(what, () => {
        if (this.exited) throw new Error(`smc chat exited (${this.child.exitCode}); stderr: ${this.stderr.slice(-10).join(' | ')}`);
        return this.lines.find(pred);
      }, timeoutMs);
    } catch (e) {
      const seen = this.lines.slice(-5).map((l) => JSON.stringify(l).slice(0, 200));
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n  last lines: ${seen.join('\n    ')}\n  stderr: ${this.stderr.slice(-5).join(' | ')}`);
    }
  }

  /** Received chat messages (lines with a text or snippet). */
  messages(): ChatLine[] {
    return this.lines.filter((l) => typeof l.text === 'string' || typeof l.snippet === 'object');
  }

  /** Ends input (the client then waits for its acks and exits, issue 3 §4); kills it if it does not. */
  async stop(): Promise<void> {
    if (!this.exited) {
      const done = new Promise<void>((res) => this.child.once('exit', () => res()));
      this.child.stdin!.end();
      const term = setTimeout(() => this.child.kill('SIGTERM'), 5_000);
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(term);
      clearTimeout(kill);
    }
    if (this.ownsHome) rmSync(this.home, { recursive: true, force: true });
  }
}
