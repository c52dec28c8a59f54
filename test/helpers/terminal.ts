// A real terminal for the interactive `smc chat` tests: tmux, on a server socket of its own
// (-L, a random name) so that nothing else is touched, runs a command in a 120x40 pane; the
// test types with send-keys and reads the screen with capture-pane. Needs tmux (CI installs it).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { until } from './until';

/** Whether tmux can be run here (a suite that needs it fails in `before` when it cannot). */
export const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/** `s` quoted for sh, as one word. */
export const shq = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/** One tmux server of our own (-L), one session running the CLI. */
export class Terminal {
  private readonly socket = `smc-test-${randomBytes(6).toString('hex')}`;
  private readonly socketPath: string;

  constructor(command: string) {
    // The trailing echo/sleep keep the pane readable after the CLI exits, to see its exit code.
    this.tmux('new-session', '-d', '-x', '120', '-y', '40', '-s', 'chat', `${command}; echo "EXIT=$?"; sleep 60`);
    this.socketPath = this.tmux('display-message', '-p', '#{socket_path}').trim();
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-t', 'chat');
  }

  /** Non-empty lines of the screen. */
  lines(): string[] {
    return this.screen().split('\n').filter((l) => l.trim() !== '');
  }

  /** Types `text` literally. */
  type(text: string): void {
    this.tmux('send-keys', '-t', 'chat', '-l', text);
  }

  enter(): void {
    this.tmux('send-keys', '-t', 'chat', 'Enter');
  }

  /** Presses a key by its tmux name (`C-d`, `BSpace`, ...). */
  key(name: string): void {
    this.tmux('send-keys', '-t', 'chat', name);
  }

  /** Resolves with the screen once `pred` holds for it; a timeout shows the last screen. */
  waitFor(what: string, pred: (screen: string) => boolean, timeoutMs?: number): Promise<string> {
    // Every look is a capture-pane process: 50 ms between looks keeps the load down.
    return until(what, () => {
      const s = this.screen();
      return pred(s) ? s : undefined;
    }, timeoutMs, () => this.screen(), 50);
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
    // tmux leaves its socket file behind; it is ours (a random name), so remove it.
    if (this.socketPath.includes(this.socket)) rmSync(this.socketPath, { force: true });
  }
}
