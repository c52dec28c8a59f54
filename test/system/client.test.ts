// RelayClient against the real relay process over real TCP (test/helpers/relayProcess.ts):
// catch-up and live delivery, gap filling with small limits, the outbox across a relay crash
// and restart, rate_limited backoff, replay dedup, key-change marking, presence, typing.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, generateRoomKey, RoomCipher, generateMessageId } from '../../src/core/crypto/index';
import type { Identity } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import type { ChatMessage, ClientTuning, RelayClientOptions, Transport, UnverifiableMessage } from '../../src/core/client/index';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { LineClient, RelayProcess, rememberRoomKey } from '../helpers/relayProcess';
import { until } from '../helpers/until';

const FAST: Partial<ClientTuning> = { reconnectBaseMs: 20, reconnectMaxMs: 200, rateLimitBaseMs: 50, rateLimitMaxMs: 400 };

/** A RelayClient plus everything it emitted. */
class Peer {
  readonly client: RelayClient;
  readonly messages: ChatMessage[] = [];
  readonly bad: UnverifiableMessage[] = [];
  readonly typing: string[] = [];
  readonly logs: { event: string; fields?: Record<string, unknown> }[] = [];
  synced = 0;

  constructor(relay: { host: string; port: number }, name: string, extra: Partial<RelayClientOptions> = {}, readonly identity: Identity = generateIdentity()) {
    this.client = new RelayClient({
      host: relay.host, port: relay.port, agent: 'smc-test/0', identity, displayName: name, transport: createTcpTransport,
      log: (event, fields) => this.logs.push({ event, fields }), ...extra, tuning: { ...FAST, ...extra.tuning },
    });
    this.client.on('message', (m) => this.messages.push(m));
    this.client.on('unverifiable', (u) => this.bad.push(u));
    this.client.on('typing', (t) => this.typing.push(t.name));
    this.client.on('synced', () => this.synced++);
    this.client.on('error', () => undefined);
  }

  async joinAndSync(key: Buffer, lastSeq?: number): Promise<string> {
    const before = this.synced;
    if (this.client.state === 'offline') this.client.connect();
    const { room } = this.client.join({ key, name: 'test', ...(lastSeq !== undefined ? { lastSeq } : {}) });
    await until('synced', () => this.synced > before);
    return room;
  }

  texts(): string[] {
    return this.messages.map((m) => m.text ?? '');
  }
}

describe('RelayClient against a real relay', function () {
  this.timeout(30_000);
  let relay: RelayProcess;
  const peers: Peer[] = [];
  const peer = (...args: ConstructorParameters<typeof Peer>): Peer => {
    const p = new Peer(...args);
    peers.push(p);
    return p;
  };

  beforeEach(async () => {
    relay = await RelayProcess.start();
  });

  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.client.disconnect()));
    await relay.cleanup();
  });

  it('delivers history on join, then live messages, never echoing own sends', async () => {
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const room = await alice.joinAndSync(key);
    for (const t of ['one', 'two', 'three']) alice.client.sendText(room, t);
    assert.deepEqual(await alice.client.drain(), { failed: 0 });

    const bob = peer(relay, 'bob');
    await bob.joinAndSync(key);
    assert.deepEqual(bob.texts(), ['one', 'two', 'three']);
    assert.ok(bob.messages.every((m) => m.history && !m.own && m.verified && m.name === 'alice' && !m.keyChanged));
    assert.deepEqual(bob.messages.map((m) => m.seq), [1, 2, 3]);

    const sent = alice.client.sendText(room, 'live');
    assert.equal(sent.state, 'sending');
    const live = await until('live message', () => bob.messages.find((m) => m.text === 'live'));
    assert.equal(live.history, false);
    assert.equal(live.seq, 4);
    assert.equal(live.id, sent.id);
    assert.equal(live.fingerprint, alice.client.fingerprint);
    await alice.client.drain();
    assert.equal(alice.messages.length, 0, 'a sender never receives its own message back');
    assert.equal(bob.client.lastSeq(room), 4);
  });

  it('fills a gap with history pages when joining with a small limit, in seq order, once', async () => {
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const room = await alice.joinAndSync(key);
    for (let i = 1; i <= 25; i++) alice.client.sendText(room, `m${i}`);
    await alice.client.drain();

    const saved: number[] = [];
    const bob2 = peer(relay, 'bob', { tuning: { joinLimit: 5, historyLimit: 4 }, saveLastSeq: (_r, s) => saved.push(s) });
    await bob2.joinAndSync(key, 3);
    assert.deepEqual(bob2.messages.map((m) => m.seq), Array.from({ length: 22 }, (_, i) => i + 4));
    assert.equal(bob2.client.lastSeq(room), 25);
    assert.equal(saved.at(-1), 25);

    // A fresh join loads only the newest `initialHistory`, then older pages on demand.
    const carol = peer(relay, 'carol', { tuning: { initialHistory: 10, historyLimit: 3 } });
    let more: boolean | undefined;
    carol.client.on('synced', (s) => (more = s.more));
    await carol.joinAndSync(key);
    assert.deepEqual(carol.messages.map((m) => m.seq), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    assert.equal(more, true);
    assert.deepEqual(await carol.client.loadOlder(room), { more: true });
    assert.deepEqual(carol.messages.slice(10).map((m) => m.seq), [13, 14, 15]);
    assert.ok(carol.messages.slice(10).every((m) => m.history));
  });

  it('loads a fresh join larger than one join reply through prefetched pages, exactly initialHistory', async () => {
    await relay.cleanup();
    relay = await RelayProcess.start({ args: ['--rate', '0'] });
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const room = await alice.joinAndSync(key);
    for (let i = 1; i <= 1100; i++) alice.client.sendText(room, `n${i}`);
    await alice.client.drain();
    const bob = peer(relay, 'bob', { tuning: { initialHistory: 1050, historyLimit: 20 } });
    let more: boolean | undefined;
    bob.client.on('synced', (e) => (more = e.more));
    await bob.joinAndSync(key);
    assert.deepEqual(bob.messages.map((m) => m.seq), Array.from({ length: 1050 }, (_, i) => i + 51));
    assert.equal(more, true);
    assert.equal(bob.client.lastSeq(room), 1100);
  });

  it('resends un-acked messages after the relay is killed and restarted: nothing lost, nothing doubled', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'smc-client-test-'));
    try {
      await relay.cleanup();
      relay = await RelayProcess.start({ dataDir });
      const port = relay.port;
      const key = generateRoomKey();
      const alice = peer(relay, 'alice');
      const bob = peer(relay, 'bob');
      const room = await alice.joinAndSync(key);
      await bob.joinAndSync(key);
      const states: string[] = [];
      alice.client.on('state', (s) => states.push(s));
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push(alice.client.sendText(room, `crash ${i}`).id);
      // Kill while sends are in flight (some acked, some not, some never written).
      await until('a first ack', () => alice.client.pendingCount < 40 || undefined);
      await relay.kill();
      for (let i = 40; i < 50; i++) ids.push(alice.client.sendText(room, `crash ${i}`).id);
      relay = await RelayProcess.start({ dataDir, args: ['--port', String(port)] });
      assert.equal(relay.port, port);
      assert.deepEqual(await alice.client.drain(), { failed: 0 });
      await until('bob has every message', () => bob.messages.length >= 50 || undefined);
      const got = bob.messages.map((m) => m.id);
      assert.equal(new Set(got).size, got.length, 'no message shown twice');
      assert.deepEqual(new Set(got), new Set(ids));
      assert.ok(states.includes('connecting') && states.at(-1) === 'connected');

      const carol = peer(relay, 'carol', { tuning: { initialHistory: 1000 } });
      await carol.joinAndSync(key);
      assert.equal(carol.messages.length, 50, 'the relay stored each message exactly once');
      assert.deepEqual(carol.messages.map((m) => m.seq), Array.from({ length: 50 }, (_, i) => i + 1));
    } finally {
      await relay.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reconnects after a graceful relay shutdown (bye) and resumes from its last seq', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'smc-client-test-'));
    try {
      await relay.cleanup();
      relay = await RelayProcess.start({ dataDir });
      const port = relay.port;
      const key = generateRoomKey();
      const alice = peer(relay, 'alice');
      const bob = peer(relay, 'bob');
      const room = await alice.joinAndSync(key);
      await bob.joinAndSync(key);
      alice.client.sendText(room, 'before');
      await until('before', () => bob.messages.length === 1 || undefined);
      const stop = relay.stop('SIGTERM');
      await until('bye seen', () => bob.logs.some((l) => l.event === 'bye') || undefined);
      await stop;
      relay = await RelayProcess.start({ dataDir, args: ['--port', String(port)] });
      alice.client.sendText(room, 'after');
      await until('after', () => bob.messages.some((m) => m.text === 'after') || undefined);
      assert.deepEqual(bob.texts(), ['before', 'after']);
      assert.equal(bob.client.state, 'connected');
    } finally {
      await relay.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('honours rate_limited: backs off and resends until every message is acked once', async () => {
    await relay.cleanup();
    relay = await RelayProcess.start({ args: ['--rate', '5', '--burst', '5'] });
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const bob = peer(relay, 'bob');
    const room = await alice.joinAndSync(key);
    await bob.joinAndSync(key);
    const ids = Array.from({ length: 12 }, (_, i) => alice.client.sendText(room, `r${i}`).id);
    assert.deepEqual(await alice.client.drain(), { failed: 0 });
    assert.ok(alice.logs.some((l) => l.event === 'relay_error' && l.fields?.code === 'rate_limited'), 'the relay refused some sends');
    await until('bob has all', () => bob.messages.length === 12 || undefined);
    assert.deepEqual(new Set(bob.messages.map((m) => m.id)), new Set(ids));
  });

  it('drops a replayed message (same id) instead of showing it twice', async () => {
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const room = await alice.joinAndSync(key);
    // A transport that delivers every stored msg twice, as a replaying relay would.
    const replaying = (host: string, port: number): Transport => {
      const inner = createTcpTransport(host, port);
      return {
        write: (l) => inner.write(l),
        close: () => inner.close(),
        on: (event, listener) => {
          if (event !== 'line') return inner.on(event, listener);
          inner.on('line', (line) => {
            (listener as (l: string) => void)(line);
            const f = JSON.parse(line) as { t: string; seq?: number };
            if (f.t === 'msg') (listener as (l: string) => void)(JSON.stringify({ ...f, seq: (f.seq ?? 0) + 1000 }));
          });
        },
      };
    };
    const bob = peer(relay, 'bob', { transport: replaying });
    await bob.joinAndSync(key);
    alice.client.sendText(room, 'once');
    alice.client.sendText(room, 'twice?');
    await until('both', () => bob.messages.length >= 2 || undefined);
    await alice.client.drain();
    alice.client.sendText(room, 'marker');
    await until('marker', () => bob.messages.some((m) => m.text === 'marker') || undefined);
    assert.deepEqual(bob.texts(), ['once', 'twice?', 'marker']);
    assert.ok(bob.logs.filter((l) => l.event === 'duplicate').length >= 3);
  });

  it('marks a known name with a new key as key changed, and an undecryptable body as unverifiable', async () => {
    const key = generateRoomKey();
    const bob = peer(relay, 'bob');
    const room = await bob.joinAndSync(key);
    const alice1 = peer(relay, 'alice');
    await alice1.joinAndSync(key);
    alice1.client.sendText(room, 'from the first alice');
    await until('first', () => bob.messages.length === 1 || undefined);
    const alice2 = peer(relay, 'alice');
    await alice2.joinAndSync(key);
    alice2.client.sendText(room, 'from another alice');
    await until('second', () => bob.messages.length === 2 || undefined);
    assert.equal(bob.messages[0]!.keyChanged, false);
    assert.equal(bob.messages[1]!.keyChanged, true);
    assert.notEqual(bob.messages[0]!.fingerprint, bob.messages[1]!.fingerprint);

    // A body sealed under another key, sent into this room by hand: never shown as content.
    const { client: raw } = await LineClient.open(relay.port);
    assert.equal(rememberRoomKey(key), room, 'the helper signs this join with the room key (§1.9)');
    await raw.request({ t: 'join', room });
    const forged = new RoomCipher(generateRoomKey()).seal({ id: generateMessageId(), ts: 1, name: 'alice', type: 'text', text: 'forged' }, generateIdentity());
    const id = generateMessageId();
    await raw.request({ t: 'send', room, id, body: forged });
    await until('unverifiable', () => bob.bad.length === 1 || undefined);
    assert.equal(bob.bad[0]!.id, id);
    assert.equal(bob.bad[0]!.seq, 3);
    assert.ok(!bob.texts().includes('forged'));
    assert.ok(bob.logs.some((l) => l.event === 'unverifiable' && typeof l.fields?.reason === 'string'));
    await raw.close();
  });

  it('syncs again from 0 when the relay has less than the client saw (since > head)', async () => {
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const room = await alice.joinAndSync(key);
    for (const t of ['x', 'y', 'z']) alice.client.sendText(room, t);
    await alice.client.drain();
    const bob = peer(relay, 'bob');
    await bob.joinAndSync(key, 100);
    assert.deepEqual(bob.texts(), ['x', 'y', 'z']);
    assert.equal(bob.client.lastSeq(room), 3);
    assert.ok(bob.logs.some((l) => l.event === 'relay_behind'));
  });

  it('detects a dead connection with keepalive pings and reconnects', async () => {
    const key = generateRoomKey();
    let muted = false;
    // A link that silently stops delivering (a half-dead NAT mapping): lines vanish while muted.
    const flaky = (host: string, port: number): Transport => {
      const inner = createTcpTransport(host, port);
      return {
        write: (l) => inner.write(l),
        close: () => inner.close(),
        on: (event, listener) => {
          if (event !== 'line') return inner.on(event, listener);
          inner.on('line', (line) => {
            if (!muted) (listener as (l: string) => void)(line);
          });
        },
      };
    };
    const alice = peer(relay, 'alice', { transport: flaky, tuning: { pingAfterMs: 100, deadAfterMs: 200 } });
    const room = await alice.joinAndSync(key);
    muted = true;
    await until('dead connection noticed', () => alice.logs.some((l) => l.event === 'dead_connection'));
    muted = false;
    await until('reconnected and joined again', () => alice.synced >= 2 || undefined);
    alice.client.sendText(room, 'still here');
    assert.deepEqual(await alice.client.drain(), { failed: 0 });
  });

  it('shows an unacknowledged message as failed while the relay is away, then sent', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'smc-client-test-'));
    try {
      await relay.cleanup();
      relay = await RelayProcess.start({ dataDir });
      const port = relay.port;
      const alice = peer(relay, 'alice', { tuning: { failAfterMs: 100 } });
      const room = await alice.joinAndSync(generateRoomKey());
      const updates: string[] = [];
      alice.client.on('outgoing', (o) => updates.push(o.state));
      await relay.kill();
      const { id } = alice.client.sendText(room, 'waiting');
      await until('failed', () => updates.includes('failed'));
      alice.client.retry(room, id);
      relay = await RelayProcess.start({ dataDir, args: ['--port', String(port)] });
      await alice.client.drain();
      assert.deepEqual(updates.slice(0, 3), ['sending', 'failed', 'sending']);
      assert.equal(updates.at(-1), 'sent');
      assert.equal(updates.filter((u) => u === 'sent').length, 1);
    } finally {
      await relay.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('holds a message too large for a relay with a small maxFrame as failed, without a reconnect loop', async () => {
    await relay.cleanup();
    relay = await RelayProcess.start({ args: ['--max-frame', '8192'] });
    const alice = peer(relay, 'alice');
    const room = await alice.joinAndSync(generateRoomKey());
    const errors: string[] = [];
    alice.client.on('outgoing', (o) => o.state === 'failed' && errors.push(o.error ?? ''));
    alice.client.sendText(room, 'x'.repeat(10_000));
    alice.client.sendText(room, 'small');
    assert.deepEqual(await alice.client.drain(), { failed: 1 });
    assert.match(errors[0]!, /too large for this relay \(it accepts frames of at most 8192 bytes\)/);
    assert.equal(alice.client.state, 'connected');
    assert.ok(!alice.logs.some((l) => l.event === 'closed'));
  });

  it('lists verified presence names, renews them on a name change, and relays typing once per interval', async () => {
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const bob = peer(relay, 'bob');
    const room = await alice.joinAndSync(key);
    await bob.joinAndSync(key);
    const names = (): string[] => (bob.client.presence(room)?.members ?? []).map((m) => `${m.name ?? '?'}${m.verified ? '' : '!'}${m.self ? '*' : ''}`).sort();
    await until('both present', () => names().join() === 'alice,bob*' || undefined);
    const alicePresence = bob.client.presence(room)!.members.find((m) => m.name === 'alice')!;
    assert.equal(alicePresence.fingerprint, alice.client.fingerprint);

    alice.client.setDisplayName('alice2');
    await until('renamed', () => names().join() === 'alice2,bob*' || undefined);

    for (let i = 0; i < 5; i++) alice.client.setTyping(room);
    alice.client.sendText(room, 'after typing');
    await until('text', () => bob.messages.length === 1 || undefined);
    assert.deepEqual(bob.typing, ['alice2']);
    assert.equal(alice.typing.length, 0);
  });
});
