// The outbox kept across restarts (src/core/client/sender.ts, relayClient.ts restoreOutbox;
// docs/protocol.md §1.5) over scripted transports: saved before the send goes out, in order
// within a room while saves are slow, removed on ack, restored by join() with the same id and
// body, only this identity's envelopes of this room, and bounded: one more is refused with
// outbox_full, nothing queued, nothing dropped.
import { strict as assert } from 'node:assert';
import { RoomCipher, generateIdentity, generateMessageId, generateRoomKey } from '../../src/core/crypto/index';
import { ClientError, RelayClient, type OutgoingMessage, type ClientTuning } from '../../src/core/client/index';
import { MemoryStateStore, OutboxState, type OutboxStore, type PendingEnvelope } from '../../src/core/keys/index';
import { ScriptedNetwork, type ScriptedTransport, welcomeFrame } from '../helpers/scriptedTransport';
import { until } from '../helpers/until';

/** An OutboxState whose saves wait until released, to see what goes out before a save ends. */
class SlowStore implements OutboxStore {
  readonly inner = new OutboxState(new MemoryStateStore());
  private readonly held: (() => void)[] = [];
  load(room: string): PendingEnvelope[] {
    return this.inner.load(room);
  }
  save(e: PendingEnvelope): Promise<void> {
    // Stored at once, in call order, as the real stores do; the answer waits.
    const saved = this.inner.save(e);
    return new Promise((resolve) => this.held.push(() => void saved.then(resolve)));
  }
  remove(room: string, id: string): Promise<void> {
    return this.inner.remove(room, id);
  }
  forget(room: string): Promise<void> {
    return this.inner.forget(room);
  }
  /** Lets the oldest held save finish. */
  releaseOldest(): void {
    this.held.shift()?.();
  }
  /** Lets the newest held save finish. */
  releaseNewest(): void {
    this.held.pop()?.();
  }
}

const identity = generateIdentity();
const key = generateRoomKey();
const cipher = new RoomCipher(key);

function client(net: ScriptedNetwork, outbox: OutboxStore, tuning: Partial<ClientTuning> = {}) {
  const c = new RelayClient({
    host: '127.0.0.1', port: 1, agent: 'smc-test/0', identity, displayName: 'me', transport: net.factory, outbox,
    tuning: { reconnectBaseMs: 5, reconnectMaxMs: 10, ...tuning },
  });
  const restored: OutgoingMessage[] = [];
  c.on('restored', (o) => restored.push(o));
  c.on('error', () => undefined);
  return { c, restored };
}

function joinedOn(t: ScriptedTransport, room: string): void {
  t.open();
  t.frame(welcomeFrame());
  const join = t.of('join').at(-1)!;
  t.frame({ t: 'joined', rid: join.rid, room, head: 0, sid: 's1' });
  t.frame({ t: 'synced', rid: join.rid, room, head: 0, from: 1 });
}

describe('RelayClient outbox kept across restarts', () => {
  it('saves before sending, keeps the order of a room while saves are slow, forgets on ack', async () => {
    const net = new ScriptedNetwork();
    const store = new SlowStore();
    const { c } = client(net, store);
    const { room } = c.join({ key, name: 'r' });
    c.connect();
    joinedOn(net.last, room);
    const a = c.sendText(room, 'a');
    const b = c.sendText(room, 'b');
    assert.equal(net.last.of('send').length, 0, 'nothing goes out before it is saved');
    // b's save ends first: b still waits for a.
    store.releaseNewest();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(net.last.of('send').length, 0, 'b waits for a');
    store.releaseOldest();
    await until('a and b sent', () => net.last.of('send').length === 2);
    assert.deepEqual(net.last.of('send').map((f) => f.id), [a.id, b.id]);
    assert.deepEqual(store.load(room).map((e) => e.id), [a.id, b.id]);
    const [sa] = net.last.of('send');
    net.last.frame({ t: 'ack', rid: sa!.rid, room, id: a.id, seq: 1, ts: 1 });
    await until('a forgotten', () => store.load(room).length === 1);
    assert.deepEqual(store.load(room).map((e) => e.id), [b.id]);
    await c.disconnect();
  });

  it('a new client restores the room at join: same id, same body, reported as restored; foreign envelopes are dropped', async () => {
    const store = new OutboxState(new MemoryStateStore());
    const net1 = new ScriptedNetwork();
    const first = client(net1, store);
    const { room } = first.c.join({ key, name: 'r' });
    const sent = first.c.sendText(room, 'kept');
    await until('saved', () => store.load(room).length === 1);
    const body = store.load(room)[0]!.body;
    // Put there by someone else: a valid envelope of the room, signed by another identity.
    const otherId = generateMessageId();
    await store.save({ room, id: otherId, body: cipher.seal({ id: otherId, ts: 1, name: 'me', type: 'text', text: 'not mine' }, generateIdentity()) });
    const junkId = generateMessageId();
    await store.save({ room, id: junkId, body: 'AQ' });
    await first.c.disconnect();

    const net2 = new ScriptedNetwork();
    const second = client(net2, store);
    second.c.join({ key, name: 'r' });
    assert.deepEqual(second.restored.map((o) => [o.id, o.message.text, o.message.own, o.state]), [[sent.id, 'kept', true, 'sending']]);
    assert.equal(second.c.pendingCount, 1);
    second.c.connect();
    joinedOn(net2.last, room);
    await until('sent again', () => net2.last.of('send').length === 1);
    assert.deepEqual(net2.last.of('send').map((f) => [f.id, f.body]), [[sent.id, body]]);
    await until('foreign entries dropped from the store', () => store.load(room).length === 1);
    await second.c.disconnect();
  });

  it('refuses one more message than its bound with outbox_full, and takes it once there is room', async () => {
    const net = new ScriptedNetwork();
    const store = new OutboxState(new MemoryStateStore());
    const { c } = client(net, store, { outboxLimit: 3 });
    const { room } = c.join({ key, name: 'r' });
    for (const t of ['1', '2', '3']) c.sendText(room, t);
    assert.throws(() => c.sendText(room, '4'), (e: unknown) => e instanceof ClientError && e.code === 'outbox_full' && /3 messages already wait/.test(e.message));
    assert.equal(c.pendingCount, 3, 'nothing dropped, nothing queued');
    await until('all saved', () => store.load(room).length === 3);
    c.connect();
    joinedOn(net.last, room);
    await until('sent', () => net.last.of('send').length === 3);
    const [s1] = net.last.of('send');
    net.last.frame({ t: 'ack', rid: s1!.rid, room, id: s1!.id, seq: 1, ts: 1 });
    await until('room again', () => c.pendingCount === 2);
    c.sendText(room, '4');
    await c.disconnect();
  });

  it('bounds the bytes queued too', () => {
    const net = new ScriptedNetwork();
    const { c } = client(net, new OutboxState(new MemoryStateStore()), { outboxBytes: 2_000 });
    const { room } = c.join({ key, name: 'r' });
    c.sendText(room, 'x'.repeat(500));
    assert.throws(() => c.sendText(room, 'y'.repeat(1_500)), (e: unknown) => e instanceof ClientError && e.code === 'outbox_full');
    assert.equal(c.pendingCount, 1);
  });
});
