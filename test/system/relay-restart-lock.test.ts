// The data directory's lock against real relay processes (docs/storage.md "Lock"; issue 7 §1.4):
// two relays on one directory would give one seq to two messages and lose acked ones
// (PROTOCOL.md §1.5). The lock must hold whatever the PID namespace of the second relay (two
// containers with the same hostname and one volume: here `unshare --pid --fork --mount-proc`,
// which needs root), must not be blocked by what a SIGKILLed relay left behind, must work in a
// directory whose path is longer than a Unix socket address, and of several relays started at
// the same instant on one directory exactly one may serve.

import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, LineClient, canUsePidNamespaces, randomId, randomRoom, RelayProcess, requirePidNamespaces } from '../helpers/relayProcess';

const EXIT_DATA_DIR = 4;

/** True when this machine can run a program in a new PID namespace (root and util-linux unshare). */
type Outcome = { kind: 'listening'; port: number } | { kind: 'exited'; code: number | null; stderr: string };

/** A relay process started by hand (optionally in its own PID namespace), to learn how its start ends. */
class Starter {
  readonly child: ChildProcess;
  readonly outcome: Promise<Outcome>;
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(dataDir: string, inNewPidNamespace: boolean) {
    const relay = [process.execPath, CLI_PATH, 'relay', '--host', '127.0.0.1', '--port', '0', '--log-format', 'json', '--data', dataDir, '--rate', '0'];
    // --kill-child: when unshare is killed, so is the relay (pid 1 of the namespace).
    this.child = inNewPidNamespace
      ? spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...relay], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(relay[0] as string, relay.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    this.child.stderr?.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.outcome = new Promise((resolve) => {
      let out = '';
      this.child.stdout?.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        for (const line of out.split('\n')) {
          if (!line.includes('"listening"')) continue;
          const rec = JSON.parse(line) as { event: string; port: number };
          if (rec.event === 'listening') resolve({ kind: 'listening', port: rec.port });
        }
      });
      void this.exited.then((code) => resolve({ kind: 'exited', code, stderr: this.stderr }));
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** The relay at `port` still stores and acks a message. */
async function stillServes(port: number): Promise<void> {
  const { client } = await LineClient.open(port);
  try {
    const room = randomRoom();
    assert.equal((await client.request({ t: 'join', room })).t, 'joined');
    const ack = await client.request({ t: 'send', room, id: randomId(), body: 'AAAA' });
    assert.equal(ack.t, 'ack', JSON.stringify(ack));
  } finally {
    client.destroy();
  }
}

describe('relay restart: the data directory lock', function () {
  this.timeout(120_000);
  let root: string;
  const relays: RelayProcess[] = [];
  const starters: Starter[] = [];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'smc-restart-lock-'));
  });

  afterEach(async () => {
    for (const s of starters.splice(0)) await s.stop();
    for (const r of relays.splice(0)) await r.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  function starter(dataDir: string, inNewPidNamespace: boolean): Starter {
    const s = new Starter(dataDir, inNewPidNamespace);
    starters.push(s);
    return s;
  }

  it('a second relay in another PID namespace (same host, same directory) exits 4 naming the holder; the first keeps serving', async function () {
    requirePidNamespaces(this);
    const dataDir = join(root, 'data');
    const first = await RelayProcess.start({ dataDir, args: ['--rate', '0'] });
    relays.push(first);
    const second = starter(dataDir, true);
    const outcome = await second.outcome;
    assert.equal(outcome.kind, 'exited', 'the second relay started on a directory another relay holds');
    assert.equal(outcome.kind === 'exited' && outcome.code, EXIT_DATA_DIR, second.stderr);
    assert.match(second.stderr, /in use by another relay/);
    assert.match(second.stderr, new RegExp(`pid ${first.pid}\\b`), 'the message names the holder');
    await stillServes(first.port);
    assert.equal((await first.stop()).code, 0);
  });

  it('a relay in another PID namespace holds the lock against one started here too', async function () {
    requirePidNamespaces(this);
    const dataDir = join(root, 'data');
    const first = starter(dataDir, true);
    const started = await first.outcome;
    assert.equal(started.kind, 'listening', first.stderr);
    const r = await RelayProcess.run(['relay', '--port', '0', '--data', dataDir]);
    assert.equal(r.code, EXIT_DATA_DIR, r.stderr);
    assert.match(r.stderr, /in use by another relay/);
    if (started.kind === 'listening') await stillServes(started.port);
  });

  it('what a relay killed with SIGKILL leaves behind does not block the next start, in either namespace', async function () {
    const dataDir = join(root, 'data');
    const first = await RelayProcess.start({ dataDir });
    relays.push(first);
    await first.kill();
    assert.ok(readdirSync(dataDir).some((n) => n.startsWith('lock')), 'the killed relay left its lock behind');
    const second = await RelayProcess.start({ dataDir });
    relays.push(second);
    await stillServes(second.port);
    await second.kill();
    if (!canUsePidNamespaces()) return;
    const third = starter(dataDir, true);
    const outcome = await third.outcome;
    assert.equal(outcome.kind, 'listening', third.stderr);
  });

  it('a data directory whose path is longer than a Unix socket address (108 bytes) is locked too', async () => {
    let dataDir = root;
    while (dataDir.length < 180) dataDir = join(dataDir, 'a-rather-long-directory-name');
    mkdirSync(dataDir, { recursive: true });
    const first = await RelayProcess.start({ dataDir });
    relays.push(first);
    const r = await RelayProcess.run(['relay', '--port', '0', '--data', dataDir]);
    assert.equal(r.code, EXIT_DATA_DIR, r.stderr);
    assert.match(r.stderr, /in use by another relay/);
    await stillServes(first.port);
    await first.kill();
    const again = await RelayProcess.start({ dataDir });
    relays.push(again);
    // (Serving first: a SIGTERM in the instant after `listening` meets no handler yet.)
    await stillServes(again.port);
    assert.equal((await again.stop()).code, 0);
    assert.deepEqual(readdirSync(dataDir).filter((n) => n.startsWith('lock')), [], 'a clean stop leaves no lock behind');
  });

  it('of relays started at the same instant on a directory with a stale lock, exactly one serves and the others exit 4', async function () {
    const unshare = canUsePidNamespaces();
    for (let round = 0; round < 4; round++) {
      const dataDir = join(root, `data-${round}`);
      const crashed = await RelayProcess.start({ dataDir });
      await crashed.kill();
      const racers = Array.from({ length: 4 }, (_, i) => starter(dataDir, unshare && i % 2 === 1));
      const outcomes = await Promise.all(racers.map((s) => s.outcome));
      const serving = outcomes.filter((o) => o.kind === 'listening');
      assert.equal(serving.length, 1, `round ${round}: ${serving.length} relays serve one directory; ${JSON.stringify(outcomes)}`);
      for (const o of outcomes) if (o.kind === 'exited') assert.equal(o.code, EXIT_DATA_DIR, o.stderr);
      const winner = serving[0];
      if (winner?.kind === 'listening') await stillServes(winner.port);
      for (const s of starters.splice(0)) await s.stop();
    }
  });
});
