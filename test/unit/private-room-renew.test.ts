// A private room's own message that went stale (docs/protocol.md §3.3: written under an epoch a
// lower seq ended, so every member ignores it) goes again under a new id, and what targets it
// goes with it: a file's chunks, an edit, a reaction, a reply (src/core/private/privateRoom.ts
// renew, src/core/private/featureRoom.ts renamed). Over the in-memory Delivery Service
// (test/helpers/privateDs.ts): bob's update and alice's messages reach the relay "at the same
// moment", bob's commit first, so alice's messages are stored after the end of their epoch.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { createKeyPackage, MlsGroup } from '../../src/core/mls';
import { HistoryStore, MemoryHistoryLog, PrivateRoom, decodeSaved, freshMeta, newPrivateRoom, type PrivateMeta } from '../../src/core/private';
import { LocalFeatureRoom } from '../../src/core/private/featureRoom';
import { messageOfRecord } from '../../src/core/private/historyMessage';
import type { ChatMessage, EffectEvent, FileEvent, Transport, TransportEvents, TransportFactory } from '../../src/core/client/types';
import { PrivateDs } from '../helpers/privateDs';

function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) return resolve();
      if (Date.now() - start > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

/**
 * A member's way to the DS: it can hold the acks of its own sends (a relay that answers late),
 * make the relay's frames smaller (welcome maxFrame, so that bodies go in parts, §3.3.1), and
 * die (a crash: nothing more in or out, and no reconnect).
 */
class Wire {
  holding: ((f: Record<string, unknown>) => boolean) | undefined;
  /** Stored messages not delivered (a catch-up without them: only their acks say their seqs). */
  dropping: ((f: Record<string, unknown>) => boolean) | undefined;
  private held: (() => void)[] = [];
  maxFrame: number | undefined;
  dead = false;
  /** The ids of every `send` written. */
  readonly sent: string[] = [];
  constructor(private readonly ds: PrivateDs) {}

  readonly factory: TransportFactory = (host, port) => {
    if (this.dead) return { write: () => undefined, close: () => undefined, on: () => undefined };
    const t = this.ds.factory(host, port);
    const on = <E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): void => {
      if (event !== 'line') {
        t.on(event, (...args) => {
          if (!this.dead) listener(...args);
        });
        return;
      }
      const deliver = listener as (line: string) => void;
      t.on('line', (line) => {
        if (this.dead) return;
        const f = JSON.parse(line) as Record<string, unknown>;
        if (f.t === 'welcome' && this.maxFrame !== undefined) return deliver(JSON.stringify({ ...f, maxFrame: this.maxFrame }));
        if (f.t === 'msg' && this.dropping?.(f) === true) return;
        if (f.t === 'ack' && this.holding?.(f) === true) {
          this.held.push(() => deliver(line));
          return;
        }
        deliver(line);
      });
    };
    const wrapped: Transport = {
      write: (line) => {
        if (this.dead) return;
        const f = JSON.parse(line) as Record<string, unknown>;
        if (f.t === 'send') this.sent.push(String(f.id));
        t.write(line);
      },
      close: () => t.close(),
      on,
    };
    return wrapped;
  };

  release(): void {
    this.holding = undefined;
    const held = this.held;
    this.held = [];
    for (const run of held) run();
  }
}

interface Member {
  id: Identity;
  name: string;
  room: PrivateRoom;
  wire: Wire;
  log: MemoryHistoryLog;
  history: HistoryStore;
  saved: string[];
  /** While set, saves wait for ever (a process about to be killed). */
  stall: { on: boolean };
  logs: { event: string; fields?: Record<string, unknown> }[];
  features: LocalFeatureRoom;
  messages: ChatMessage[];
  effects: EffectEvent[];
  files: FileEvent[];
  renames: { from: string; to: string }[];
  uiRenames: { from: string; to: string }[];
}

function member(ds: PrivateDs, roomId: string, id: Identity, name: string, group: MlsGroup, meta: PrivateMeta, reuse: { log?: MemoryHistoryLog; wire?: Wire } = {}): Member {
  const saved: string[] = [];
  const log = reuse.log ?? new MemoryHistoryLog();
  const wire = reuse.wire ?? new Wire(ds);
  const history = new HistoryStore(roomId, Buffer.alloc(32, 7), log);
  const stall = { on: false };
  const logs: Member['logs'] = [];
  const room = new PrivateRoom({
    room: roomId, name: 'team', host: '127.0.0.1', port: 7878, agent: 'test', transport: wire.factory, identity: id, displayName: name,
    group, meta, history,
    save: (t) => (stall.on ? new Promise<void>(() => undefined) : (saved.push(t), Promise.resolve())),
    log: (event, fields) => logs.push(fields !== undefined ? { event, fields } : { event }),
    tuning: { reconnectBaseMs: 10, reconnectMaxMs: 50 },
  });
  const m = { id, name, room, wire, log, history, saved, stall, logs, messages: [], effects: [], files: [], renames: [], uiRenames: [] } as Omit<Member, 'features'> as Member;
  m.features = new LocalFeatureRoom(roomId, room.fingerprint, room, {
    message: (x) => m.messages.push(x),
    effects: (e) => m.effects.push(e),
    file: (e) => m.files.push(e),
    renamed: (from, to) => m.uiRenames.push({ from, to }),
  });
  room.on('message', (x) => m.features.receive(x));
  room.on('outgoing', (o) => m.features.outgoing(o));
  room.on('renamed', (r) => {
    m.renames.push(r);
    m.features.renamed(r.from, r.to);
  });
  return m;
}

/** alice creates the room and adds bob (as the lobby desk would). */
async function pair(ds: PrivateDs, aliceMaxFrame?: number): Promise<{ roomId: string; alice: Member; bob: Member }> {
  const aliceId = generateIdentity();
  const created = await newPrivateRoom(aliceId);
  const wire = new Wire(ds);
  wire.maxFrame = aliceMaxFrame;
  const alice = member(ds, created.room, aliceId, 'alice', created.group, created.meta, { wire });
  alice.room.connect();
  await until(() => alice.room.state === 'connected' && ds.rooms.has(created.room), 'the reset');
  const bobId = generateIdentity();
  const kp = await createKeyPackage(bobId);
  const committed = new Promise<{ seq: number; welcome: Uint8Array | undefined }>((resolve) => alice.room.once('committed', (e) => resolve(e)));
  alice.room.add(kp.publicBytes);
  const { seq, welcome } = await committed;
  alice.room.announceAdded('I'.repeat(22), bobId.publicKey, 'bob');
  const meta = freshMeta(Date.now());
  meta.applied = seq;
  const bob = member(ds, created.room, bobId, 'bob', await MlsGroup.join(bobId, kp, welcome!), meta);
  bob.room.connect();
  await until(() => alice.room.epoch === 1 && bob.room.epoch === 1 && !alice.room.committing, 'both in epoch 1');
  await alice.room.drain();
  await bob.room.drain();
  return { roomId: created.room, alice, bob };
}

/** bob's update reaches the relay first; what alice writes meanwhile is stored after it, stale (§3.3). */
async function raceBobsUpdate(ds: PrivateDs, bob: Member, alicesSends: () => number, write: () => void): Promise<void> {
  ds.hold();
  bob.room.update();
  await until(() => ds.heldCount === 1, "bob's commit at the relay");
  write();
  await until(() => ds.heldCount === 1 + alicesSends(), "alice's sends at the relay");
  // One group commit of the relay: the rekey goes out after all of it, so alice's sends are stored.
  ds.release(true);
}

const complete = (m: Member): Extract<FileEvent, { state: 'complete' }> | undefined =>
  m.files.find((f): f is Extract<FileEvent, { state: 'complete' }> => f.state === 'complete');

describe('private room: what targets a renewed message is renewed with it (docs/protocol.md §3.3)', function () {
  this.timeout(90_000);
  let ds: PrivateDs;
  let open: Member[] = [];

  beforeEach(() => {
    ds = new PrivateDs();
    open = [];
  });

  afterEach(async () => {
    for (const m of open) await m.room.disconnect();
  });

  for (const lateAcks of [false, true]) it(`a file whose message went stale goes again with its chunks retargeted: bob gets it whole, alice's upload completes${lateAcks ? ' (the old ids known only from late acks)' : ''}`, async () => {
    const { alice, bob } = await pair(ds);
    open = [alice, bob];
    // The acks of alice's chunks come after her file message's stale seq is applied (a relay
    // that answers late): the old ids' copies in the catch-up after the rekey, or (lateAcks)
    // those acks alone, must fill their seqs as own: not stall the room, not be opened.
    let file = '';
    const oldChunks = new Set<string>();
    alice.wire.holding = (f) => f.id !== file;
    if (lateAcks) alice.wire.dropping = (f) => oldChunks.has(String(f.id));
    const bytes = randomBytes(100_000);
    let done: Promise<void> | undefined;
    const before = alice.wire.sent.length;
    await raceBobsUpdate(ds, bob, () => 5, () => {
      const sent = alice.features.sendFile({ name: 'plan.bin', bytes });
      file = sent.message.id;
      assert.equal(sent.chunks, 4);
      done = sent.done;
    });
    for (const id of alice.wire.sent.slice(before)) if (id !== file) oldChunks.add(id);
    assert.equal(oldChunks.size, 4);
    await until(() => alice.logs.some((l) => l.event === 'own_message_stale'), "alice's file message stale");
    alice.wire.release();
    await until(() => complete(bob) !== undefined || bob.files.some((f) => f.state === 'failed'), 'bob has the file whole');
    const got = complete(bob)!;
    assert.ok(got, JSON.stringify(bob.files.map((f) => f.state)));
    assert.ok(Buffer.from(got.bytes).equals(bytes));
    assert.notEqual(got.file, file, 'the file went again under a new id');
    await done;
    // One rename for the file and one for each chunk; the UI heard each.
    assert.equal(alice.renames.length, 5, JSON.stringify(alice.renames));
    assert.deepEqual(alice.uiRenames, alice.renames);
    assert.deepEqual(alice.renames[0], { from: file, to: got.file });
    assert.ok(alice.files.some((f) => f.state === 'uploaded' && f.file === got.file));
    await alice.room.drain();
    // Nothing stalls: alice applied every seq of the relay, and her history holds the new ids only, acked.
    const stored = ds.rooms.get(alice.room.room)!.messages;
    await until(() => alice.room.applied === stored.length, 'alice applied every seq');
    const { records } = await alice.history.load();
    const renamedFrom = new Set(alice.renames.map((r) => r.from));
    assert.ok(!records.some((r) => renamedFrom.has(r.id)), 'an old id is still in the history');
    const chunks = records.map((r) => messageOfRecord(alice.room.room, r, alice.id.publicKey.toString('hex'))).filter((m) => m?.type === 'file-chunk');
    assert.equal(chunks.length, 4);
    for (const c of chunks) assert.equal(c!.target, got.file);
    assert.ok(records.filter((r) => r.id === got.file || chunks.some((c) => c!.id === r.id)).every((r) => r.seq > 0));
    // The old ids' acks and copies were own: none opened as someone else's message.
    const opened = alice.logs.filter((l) => ['stale', 'message_refused', 'not_of_this_group'].includes(l.event));
    assert.deepEqual(opened, []);
  });

  it('an edit, a reaction and a reply (in parts, §3.3.1) of a stale message follow it; a later reaction on the new id applies', async () => {
    // Small frames for alice: the long reply goes in parts, acked after the rename.
    const { alice, bob } = await pair(ds, 8_192);
    open = [alice, bob];
    let first = '';
    alice.wire.holding = (f) => f.id !== first;
    const long = 'x'.repeat(12_000);
    const parts = (): number => Number(alice.logs.filter((l) => l.event === 'sent_in_parts').at(-1)?.fields?.parts ?? 1);
    await raceBobsUpdate(ds, bob, () => 3 + parts(), () => {
      const m = alice.features.sendText('deploy at 5');
      first = m.id;
      alice.features.sendPayload({ type: 'edit', target: m.id, text: 'deploy at 6' });
      alice.features.sendPayload({ type: 'reaction', target: m.id, emoji: '👍' });
      alice.features.sendPayload({ type: 'text', text: long, reply: alice.features.replyTo(m.id)! });
    });
    await until(() => alice.logs.some((l) => l.event === 'own_message_stale'), 'the stale seq');
    alice.wire.release();
    await until(() => bob.messages.some((m) => m.text === long), 'bob has the reply');
    const shown = bob.messages.find((m) => m.type === 'text' && m.text !== long)!;
    const reply = bob.messages.find((m) => m.text === long)!;
    assert.notEqual(shown.id, first, 'the message went again under a new id');
    assert.equal(reply.reply?.to, shown.id, 'the reply names the id bob has');
    const renamed = alice.uiRenames.find((r) => r.from === first);
    assert.ok(renamed, JSON.stringify(alice.uiRenames));
    assert.equal(shown.id, renamed.to);
    await until(() => bob.features.view(renamed.to)?.edited === true && bob.features.view(renamed.to)!.reactions.length === 1, 'the edit and reaction applied');
    assert.equal(bob.features.view(renamed.to)!.text, 'deploy at 6');
    assert.ok(alice.logs.some((l) => l.event === 'sent_in_parts'), 'the reply went in parts');
    // alice's side knows the message under its new id: her reaction again (a toggle) applies at bob.
    assert.equal(alice.features.view(renamed.to)?.text, 'deploy at 6');
    assert.equal(alice.features.view(renamed.to)?.reactions.length, 1);
    alice.features.sendPayload({ type: 'reaction', target: renamed.to, emoji: '👍' });
    await until(() => bob.features.view(renamed.to)!.reactions.length === 0, 'the toggle applied');
    await alice.room.drain();
    const stored = ds.rooms.get(alice.room.room)!.messages;
    await until(() => alice.room.applied === stored.length, 'alice applied every seq');
    // The old ids' parts and copies were own: none opened, no part refused.
    const opened = alice.logs.filter((l) => ['stale', 'message_refused', 'not_of_this_group', 'part_refused', 'not_an_mls_message'].includes(l.event));
    assert.deepEqual(opened, []);
  });

  it('a restart right after the stale seq, before anything went again: the chunks keep their new target', async () => {
    const { roomId, alice, bob } = await pair(ds);
    open = [bob];
    const bytes = randomBytes(70_000);
    // alice's process is killed once her file message is found stale: nothing of it leaves again.
    alice.room.on('renamed', () => (alice.stall.on = true));
    let file = '';
    await raceBobsUpdate(ds, bob, () => 4, () => {
      file = alice.features.sendFile({ name: 'plan.bin', bytes }).message.id;
    });
    await until(() => alice.logs.some((l) => l.event === 'own_message_stale') && alice.renames.length === 4, 'the renames');
    await new Promise((r) => setTimeout(r, 200));
    alice.wire.dead = true;
    const sendsBefore = ds.rooms.get(roomId)!.messages.length;
    const saved = decodeSaved(alice.saved[alice.saved.length - 1]!);
    const back = member(ds, roomId, alice.id, 'alice', await MlsGroup.import(saved.state, alice.id), saved.meta, { log: alice.log });
    open = [bob, back];
    back.room.restorePending((await back.history.load()).records);
    back.room.connect();
    await until(() => complete(bob) !== undefined, 'bob has the file whole');
    assert.ok(Buffer.from(complete(bob)!.bytes).equals(bytes));
    // It went under the ids the renames gave, written before the crash (no second rename).
    assert.equal(complete(bob)!.file, alice.renames.find((r) => r.from === file)!.to);
    assert.ok(ds.rooms.get(roomId)!.messages.length > sendsBefore);
    await back.room.drain();
  });
});
