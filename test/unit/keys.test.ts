// Key storage (issue 3 §2): KeyStore over a SecretStore, RoomList and KnownKeys over a
// StateStore, with the in-memory stores (the file stores have their own tests).
import { strict as assert } from 'node:assert';
import { deriveRoomId, encodeB64u, generateRoomKey, identityFromSeed } from '../../src/core/crypto';
import {
  IDENTITY_SECRET, KeyStore, KeyStoreError, KNOWN_KEYS_STATE, KnownKeys, MAX_KNOWN_NAMES_PER_ROOM, MemorySecretStore,
  MemoryStateStore, nameKey, ROOM_LIST_STATE, RoomList, SecretStore, StateStore,
} from '../../src/core/keys';
import { CoalescedWriter } from '../../src/core/keys/coalescedWriter';

/** A SecretStore that counts calls and answers after a turn of the event loop, like a real one. */
class SlowSecretStore implements SecretStore {
  readonly inner = new MemorySecretStore();
  stores = 0;
  async get(key: string) { await new Promise((r) => setImmediate(r)); return this.inner.get(key); }
  async store(key: string, value: string) { this.stores++; await new Promise((r) => setImmediate(r)); return this.inner.store(key, value); }
  async delete(key: string) { return this.inner.delete(key); }
}

/** A StateStore that records every update and finishes it only on the next turn. */
class RecordingStateStore implements StateStore {
  readonly inner = new MemoryStateStore();
  updates = 0;
  get<T>(key: string) { return this.inner.get<T>(key); }
  async update(key: string, value: unknown) { this.updates++; await new Promise((r) => setImmediate(r)); return this.inner.update(key, value); }
}

describe('KeyStore', () => {
  it('creates the identity on first use, once for concurrent callers, and gives the same one afterwards', async () => {
    const secrets = new SlowSecretStore();
    const store = new KeyStore(secrets);
    const [x, y] = await Promise.all([store.identity(), store.identity()]);
    assert.equal(x, y);
    assert.equal(secrets.stores, 1);
    const stored = await secrets.inner.get(IDENTITY_SECRET);
    assert.ok(stored !== undefined && /^[A-Za-z0-9_-]{43}$/.test(stored));
    assert.ok(x.seed.equals(Buffer.from(stored, 'base64url')));
    const reloaded = await new KeyStore(secrets).identity();
    assert.ok(reloaded.publicKey.equals(x.publicKey));
    assert.ok(reloaded.publicKey.equals(identityFromSeed(reloaded.seed).publicKey));
    assert.equal(secrets.stores, 1);
  });

  it('refuses a damaged stored identity instead of replacing it', async () => {
    const secrets = new MemorySecretStore();
    await secrets.store(IDENTITY_SECRET, 'not a seed');
    const store = new KeyStore(secrets);
    await assert.rejects(store.identity(), (e: unknown) => e instanceof KeyStoreError && /damaged/.test(e.message));
    assert.equal(await secrets.get(IDENTITY_SECRET), 'not a seed');
    // Once the user removes it, a new identity is created.
    await secrets.delete(IDENTITY_SECRET);
    assert.ok((await store.identity()).publicKey.length === 32);
  });

  it('stores, returns and deletes room keys under smc.room.<roomId>', async () => {
    const secrets = new MemorySecretStore();
    const store = new KeyStore(secrets);
    const key = generateRoomKey();
    const room = deriveRoomId(key);
    assert.equal(await store.roomKey(room), undefined);
    await store.setRoomKey(room, key);
    assert.equal(await secrets.get(`smc.room.${room}`), encodeB64u(key));
    assert.ok((await store.roomKey(room))!.equals(key));
    await store.deleteRoomKey(room);
    assert.equal(await store.roomKey(room), undefined);
  });

  it('refuses a key that does not belong to the room, a malformed room id, and a damaged stored key', async () => {
    const secrets = new MemorySecretStore();
    const store = new KeyStore(secrets);
    const key = generateRoomKey();
    await assert.rejects(store.setRoomKey(deriveRoomId(generateRoomKey()), key), KeyStoreError);
    await assert.rejects(store.setRoomKey(deriveRoomId(key), key.subarray(0, 31)), KeyStoreError);
    await assert.rejects(store.roomKey('../../etc'), KeyStoreError);
    const room = deriveRoomId(key);
    await secrets.store(`smc.room.${room}`, encodeB64u(generateRoomKey()));
    await assert.rejects(store.roomKey(room), /damaged/);
  });
});

describe('RoomList', () => {
  const entry = (n: number) => ({ room: deriveRoomId(generateRoomKey()), name: `room ${n}`, relay: '127.0.0.1:7878', lastSeq: 0 });

  it('adds, updates, removes, and persists rooms apart from keys', async () => {
    const state = new MemoryStateStore();
    const list = new RoomList(state);
    const a = entry(1);
    const b = entry(2);
    await list.upsert(a);
    await list.upsert(b);
    await list.setLastSeq(a.room, 42);
    assert.equal(list.get(a.room)!.lastSeq, 42);
    await list.upsert({ ...b, name: 'renamed' });
    assert.deepEqual(new RoomList(state).all(), [{ ...a, lastSeq: 42 }, { ...b, name: 'renamed' }]);
    await list.remove(a.room);
    assert.deepEqual(new RoomList(state).all().map((e) => e.room), [b.room]);
    assert.equal(list.get(a.room), undefined);
    // Nothing secret in the state: only these four fields.
    assert.deepEqual(Object.keys(state.get<object[]>(ROOM_LIST_STATE)![0]!).sort(), ['lastSeq', 'name', 'relay', 'room']);
  });

  it('returns copies, ignores malformed stored entries and refuses malformed new ones', async () => {
    const state = new MemoryStateStore();
    const good = entry(1);
    await state.update(ROOM_LIST_STATE, [good, { room: 'x' }, null, 7, { ...entry(2), lastSeq: -1 }]);
    const list = new RoomList(state);
    assert.deepEqual(list.all(), [good]);
    list.all()[0]!.lastSeq = 99;
    assert.equal(list.get(good.room)!.lastSeq, 0);
    await assert.rejects(list.upsert({ ...good, lastSeq: 1.5 }), TypeError);
    assert.equal(new RoomList(new MemoryStateStore()).all().length, 0);
  });

  it('coalesces a burst of last-seq updates into few writes that end with the last value', async () => {
    const state = new RecordingStateStore();
    const list = new RoomList(state);
    const a = entry(1);
    await list.upsert(a);
    const before = state.updates;
    const writes: Promise<void>[] = [];
    for (let seq = 1; seq <= 1000; seq++) writes.push(list.setLastSeq(a.room, seq));
    await Promise.all(writes);
    assert.ok(state.updates - before <= 2, `${state.updates - before} writes`);
    assert.equal(new RoomList(state).get(a.room)!.lastSeq, 1000);
  });
});

describe('KnownKeys', () => {
  const room = deriveRoomId(generateRoomKey());
  const other = deriveRoomId(generateRoomKey());

  it('remembers the first key per name per room and flags another key as changed', async () => {
    const state = new MemoryStateStore();
    const known = new KnownKeys(state);
    assert.equal(known.check(room, 'George', 'AAAA'), 'new');
    await known.trust(room, 'George', 'AAAA');
    assert.equal(known.check(room, 'George', 'AAAA'), 'same');
    assert.equal(known.check(room, 'George', 'BBBB'), 'changed');
    assert.equal(known.check(other, 'George', 'BBBB'), 'new');
    // Persisted: a new instance over the same state knows it.
    const again = new KnownKeys(state);
    assert.equal(again.check(room, 'George', 'BBBB'), 'changed');
    // After the user verifies the new key, it is the known one.
    await again.trust(room, 'George', 'BBBB');
    assert.equal(new KnownKeys(state).check(room, 'George', 'BBBB'), 'same');
    assert.equal(new KnownKeys(state).known(room, 'George'), 'BBBB');
    await again.forgetRoom(room);
    assert.equal(new KnownKeys(state).check(room, 'George', 'BBBB'), 'new');
  });

  it('treats look-alike names as one name', async () => {
    const known = new KnownKeys(new MemoryStateStore());
    await known.trust(room, 'George', 'AAAA');
    for (const n of ['george', 'GEORGE ', ' George', 'Ｇｅｏｒｇｅ']) assert.equal(known.check(room, n, 'BBBB'), 'changed', n);
    assert.equal(nameKey('Ann  Lee'), nameKey('ann lee'));
  });

  it('does not grow without bound, and survives hostile names and stored junk', async () => {
    const state = new MemoryStateStore();
    const known = new KnownKeys(state);
    for (let i = 0; i < MAX_KNOWN_NAMES_PER_ROOM + 10; i++) await known.trust(room, `n${i}`, 'F');
    assert.equal(Object.keys(state.get<Record<string, object>>(KNOWN_KEYS_STATE)![room]!).length, MAX_KNOWN_NAMES_PER_ROOM);
    // Full, the table cannot vouch for a name it has not seen: fail closed (issue 7 §2.2, found
    // by flooding 1 000 names and then posting as someone who spoke after the flood).
    assert.equal(known.check(room, 'carol', 'CAROL'), 'changed');
    assert.equal(known.check(room, 'n5', 'F'), 'same');
    assert.equal(known.check(room, 'n5', 'G'), 'changed');
    assert.equal(known.check('another room', 'carol', 'CAROL'), 'new');
    await known.trust(other, '__proto__', 'P');
    assert.equal(new KnownKeys(state).check(other, '__proto__', 'P'), 'same');
    await state.update(KNOWN_KEYS_STATE, { [room]: 'junk', [other]: { a: 5, b: 'X' } });
    const loaded = new KnownKeys(state);
    assert.equal(loaded.check(room, 'a', 'X'), 'new');
    assert.equal(loaded.check(other, 'a', 'X'), 'new');
    assert.equal(loaded.check(other, 'b', 'X'), 'same');
  });
});

describe('CoalescedWriter', () => {
  it('writes the latest state after every schedule, with at most one write queued', async () => {
    let value = 0;
    const written: number[] = [];
    const w = new CoalescedWriter(async () => { const v = value; await new Promise((r) => setImmediate(r)); written.push(v); });
    const all: Promise<void>[] = [];
    for (let i = 1; i <= 5; i++) { value = i; all.push(w.schedule()); }
    await Promise.all(all);
    assert.deepEqual(written, [1, 5]);
    value = 6;
    await w.schedule();
    assert.deepEqual(written, [1, 5, 6]);
  });

  it('passes a failed write to its caller and keeps working', async () => {
    let fail = true;
    const w = new CoalescedWriter(async () => { if (fail) throw new Error('disk full'); });
    await assert.rejects(w.schedule(), /disk full/);
    fail = false;
    await w.schedule();
  });
});
