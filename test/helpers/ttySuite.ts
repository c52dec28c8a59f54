// The set-up of the interactive `smc chat` suites (tmux, test/helpers/terminal.ts): for each test
// a folder of its own (one $SMC_HOME a member below it) and a real relay; the terminals and the
// other members (`smc chat --json`) the test starts are killed after it. A machine without tmux
// fails the suite in `before` (CI installs it), never skips it.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonChat } from './cliProcess';
import { CLI_PATH, RelayProcess } from './relayProcess';
import { Terminal, hasTmux, shq } from './terminal';

export class TtySuite {
  private currentDir: string | undefined;
  private currentRelay: RelayProcess | undefined;
  private readonly terms: Terminal[] = [];
  private readonly others: JsonChat[] = [];

  /** The running test's folder. */
  get dir(): string {
    if (this.currentDir === undefined) throw new Error('no test is running');
    return this.currentDir;
  }

  /** The running test's relay. */
  get relay(): RelayProcess {
    if (this.currentRelay === undefined) throw new Error('no test is running');
    return this.currentRelay;
  }

  /** `127.0.0.1:PORT` of that relay. */
  get relayAddr(): string {
    return `127.0.0.1:${this.relay.port}`;
  }

  /** `who`'s $SMC_HOME. */
  home(who: string): string {
    return join(this.dir, who);
  }

  /** `smc room new --name NAME` on the relay with $SMC_HOME `home`; returns its invite. */
  roomNew(home: string, name: string): string {
    const made = spawnSync(process.execPath, [CLI_PATH, 'room', 'new', '--name', name, '--relay', this.relayAddr], { env: { ...process.env, SMC_HOME: home }, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    return /smc:\/\/[^\s']+/.exec(made.stdout)![0];
  }

  /** Interactive `smc chat ARGS` (ARGS quoted for sh by the caller) with $SMC_HOME `home`, NO_COLOR, in tmux. */
  terminal(home: string, args: string): Terminal {
    const t = new Terminal(`env SMC_HOME=${shq(home)} NO_COLOR=1 ${shq(process.execPath)} ${shq(CLI_PATH)} chat ${args}`);
    this.terms.push(t);
    return t;
  }

  /** Another member: `smc chat --json ARGS` with $SMC_HOME `home`. */
  other(home: string, args: string[]): JsonChat {
    const c = new JsonChat(home, args);
    this.others.push(c);
    return c;
  }

  async setUp(prefix: string): Promise<void> {
    this.currentDir = mkdtempSync(join(tmpdir(), prefix));
    this.currentRelay = await RelayProcess.start();
  }

  async tearDown(): Promise<void> {
    for (const t of this.terms.splice(0)) t.kill();
    for (const o of this.others.splice(0)) o.kill();
    await this.currentRelay?.cleanup();
    if (this.currentDir !== undefined) rmSync(this.currentDir, { recursive: true, force: true });
    this.currentRelay = this.currentDir = undefined;
  }
}

/** Registers the hooks of an interactive suite in the calling `describe`; `prefix` names its temporary folders. */
export function ttySuite(prefix: string): TtySuite {
  const s = new TtySuite();
  before(function () {
    if (!hasTmux) throw new Error('tmux is required for the interactive tests (apt-get install tmux)');
  });
  beforeEach(() => s.setUp(prefix));
  afterEach(() => s.tearDown());
  return s;
}
