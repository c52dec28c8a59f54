// Replays across restarts (issue 7 §2.1, PROTOCOL.md §2.8): a relay that replays an earlier
// envelope under a new seq after the client restarted must not get it shown again as new. Real
// processes throughout: a real relay behind a malicious proxy (test/helpers/replayProxy.ts)
// that, on the client's next connection, injects an earlier message again with a new seq
// right after `synced`. Covered: RelayClient with a persistent StateStore (the extension's
// path, fresh joins) and with lastSeq (the terminal's), and `smc chat --json` restarted with
// the same $SMC_HOME. Needs `node scripts/build.mjs` first (npm test does it).
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateIdentity, generateRoomKey } from '../../src/core/crypto/index';
import type { Identity } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import type { ChatMessage, RelayClientOptions } from '../../src/core/client/index';
import { ShownIdsState } from '../../src/core/keys/index';
import { FileStateStore } from '../../src/node/fileStores';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { CLI_PATH, RelayProcess } from '../helpers/relayProcess';
import { ReplayProxy, type ProxyFrame } from '../helpers/replayProxy';
import { until } from '../helpers/until';

/** A RelayClient and the messages it showed. */
class Peer {
  readonly client: RelayClient;
  readonly messages: ChatMessage[] = [];
  readonly logs: string[] = [];
  synced = 0;

  constructor(port: number, name: string, extra: Partial<RelayClientOptions> = {}, identity: Identity = generateIdentity()) {
    this.client = new RelayClient({
      host: '127.0.0.1', port, agent: 'smc-test/0', identity, displayName: name, transport: createTcpTransport,
      log: (e) => this.logs.push(e), tuning: { reconnectBaseMs: 20, reconnectMaxMs: 200 }, ...extra,
    });
    this.client.on('message', (m) => this.messages.push(m));
    this.client.on('synced', () => this.synced++);
    this.client.on('error', () => undefined);
  }

  async joinAndSync(key: Buffer, lastSeq?: number): Promise<string> {
    const before = this.synced;
    this.client.connect();
    const { room } = this.client.join({ key, name: 'r', ...(lastSeq !== undefined ? { lastSeq } : {}) });
    await until('synced', () => this.synced > before);
    return room;
  }

  texts(): string[] {
    return this.messages.map((m) => m.text ?? '');
  }
}

/** The proxy's injection: `frame` again with another seq, once, on connection `conn`. */
function replayOnce(proxy: ReplayProxy, conn: number, frame: ProxyFrame, seq: number, where: 'after' | 'before' = 'after'): { done: () => boolean } {
  let injected = false;
  proxy.arm((c, synced) => {
    if (c !== conn || injected || synced.room !== frame.room) return [];
    injected = true;
    return [{ ...frame, seq }];
  }, where);
  return { done: () => injected };
}

describe('replays across restarts (issue 7 §2.1)', function () {
  this.timeout(60_000);
  let dir: string;
  let relay: RelayProcess;
  let proxy: ReplayProxy;
  const clients: RelayClient[] = [];
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-replay-'));
    relay = await RelayProcess.start();
    proxy = await ReplayProxy.start(relay.port);
  });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await proxy.close();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const peer = (...args: ConstructorParameters<typeof Peer>): Peer => {
    const p = new Peer(...args);
    clients.push(p.client);
    return p;
  };

  for (const [mode, under] of [
    ['fresh join (extension)', 'a new seq'], ['join with lastSeq (terminal)', 'a new seq'],
    ['fresh join (extension)', 'its own seq, unasked'], ['join with lastSeq (terminal)', 'its own seq, unasked'],
    ['fresh join (extension)', 'a new seq, inside the catch-up'], ['join with lastSeq (terminal)', 'a new seq, inside the catch-up'],
  ] as const) {
    it(`RelayClient with a persistent StateStore, ${mode}: an earlier message under ${under} is dropped after a restart`, async () => {
      const key = generateRoomKey();
      const alice = peer(relay.port, 'alice');
      const room = await alice.joinAndSync(key);
      alice.client.sendText(room, 'deploy approved');
      alice.client.sendText(room, 'second');
      await alice.client.drain();

      const bobId = generateIdentity();
      let saved = 0;
      const state1 = new FileStateStore(join(dir, 'bob'));
      const bob1 = peer(proxy.port, 'bob', { shownIds: new ShownIdsState(state1), saveLastSeq: (_r, s) => (saved = s) }, bobId);
      await bob1.joinAndSync(key);
      assert.deepEqual(bob1.texts(), ['deploy approved', 'second']);
      const original = proxy.msgById(bob1.messages[0]!.id)!;
      await bob1.client.disconnect();
      // Resolves once a write started after it is done, i.e. with everything saved before it.
      await state1.update('test.flushed', true);

      // The restart: a new process would read the same state.json.
      // A fresh join loads only the newest message: the older one is not in this run's history.
      const fresh = mode === 'fresh join (extension)';
      const bob2 = peer(proxy.port, 'bob', {
        shownIds: new ShownIdsState(new FileStateStore(join(dir, 'bob'))), tuning: { reconnectBaseMs: 20, initialHistory: 1 },
      }, bobId);
      const inside = under === 'a new seq, inside the catch-up';
      // Inside the catch-up, the replay claims the seq after the relay's head (2).
      const seq = under === 'a new seq' ? 1_000 : inside ? 3 : Number(original.seq);
      const replay = replayOnce(proxy, proxy.connectionCount, original, seq, inside ? 'before' : 'after');
      await bob2.joinAndSync(key, fresh ? undefined : saved);
      await until('the replay was injected', () => replay.done());
      alice.client.sendText(room, 'marker');
      await until('bob2 sees the marker', () => bob2.texts().includes('marker'));
      const shownAsNew = bob2.messages.filter((m) => !m.history).map((m) => m.text);
      assert.deepEqual(shownAsNew, ['marker'], 'the replayed message is not shown again as new');
      if (fresh) {
        // A fresh join shows the newest history again, as history, marked as shown before (the
        // terminal does not print it again). Inside the catch-up, the replay's seq 3 is above
        // the join's head (2): a protocol violation (§1.4), so the client joined again.
        assert.deepEqual(bob2.texts(), ['second', 'marker']);
        assert.ok(bob2.messages[0]!.history);
        assert.equal(bob2.messages[0]!.shownBefore, true);
      } else {
        assert.deepEqual(bob2.texts(), ['marker']);
      }
    });
  }

  it('smc chat --json restarted with the same $SMC_HOME does not print an earlier message replayed under a new seq', async () => {
    const key = generateRoomKey();
    const alice = peer(relay.port, 'alice');
    const room = await alice.joinAndSync(key);
    alice.client.sendText(room, 'deploy approved');
    await alice.client.drain();
    const invite = `smc://127.0.0.1:${proxy.port}/replayed#${key.toString('base64url')}`;
    const home = join(dir, 'bob-home');

    const run = (): { lines: Record<string, unknown>[]; child: ChildProcess; exit: Promise<number | null>; stderr: string[] } => {
      const child = spawn(process.execPath, [CLI_PATH, 'chat', '--json', '--name', 'bob', invite], { env: { ...process.env, SMC_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
      children.push(child);
      const lines: Record<string, unknown>[] = [];
      const stderr: string[] = [];
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
      createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
      return { lines, child, stderr, exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
    };

    const first = run();
    await until('first run prints the message', () => first.lines.some((l) => l.text === 'deploy approved'));
    first.child.stdin!.end();
    assert.equal(await first.exit, 0, first.stderr.join('\n'));
    const original = proxy.msgById(String(first.lines[0]!.id))!;

    const replay = replayOnce(proxy, proxy.connectionCount, original, 1_000);
    const second = run();
    await until('the replay was injected', () => replay.done());
    alice.client.sendText(room, 'marker');
    await until('second run prints the marker', () => second.lines.some((l) => l.text === 'marker'));
    second.child.stdin!.end();
    assert.equal(await second.exit, 0, second.stderr.join('\n'));
    assert.deepEqual(second.lines.map((l) => l.text), ['marker'], 'the replayed message is not printed again');
    // What keeps it: the shown ids in state.json, bounded and compact.
    const state = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as Record<string, unknown>;
    assert.ok(Object.keys(state).some((k) => k.startsWith('smc.shown.')), 'state.json holds the shown ids');
  });
});
