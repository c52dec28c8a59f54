// The chat features of a private room (src/core/private/featureRoom.ts, docs/protocol.md
// §2.3.1-2.3.5 over §3.3): LocalFeatureRoom's checks before anything is sent, a file's upload
// (progress, done only once the file message and every chunk are acked, a refused chunk fails
// it), and its renamed() (§3.3: a stale message and its chunks go again under new ids). Real
// PrivateRooms over the in-memory DS (private-feature-harness.ts); MessageNumbers.rename for the
// terminal's numbers (src/cli/chatFeatures.ts).
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { ClientError, type FileEvent } from '../../src/core/client/types';
import { MAX_FILE_BYTES } from '../../src/core/payload/fields';
import { MessageNumbers } from '../../src/cli/chatFeatures';
import { RoomFeatures } from '../../src/core/client/roomFeatures';
import type { ChatMessage } from '../../src/core/client/types';
import { pair, raceBobsUpdate, until, type Member, dsPerTest } from './private-feature-harness';

/** Whether `p` settled (a microtask turn later), and how. */
async function settled(p: Promise<void>): Promise<'pending' | 'resolved' | 'rejected'> {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(() => (state = 'resolved'), () => (state = 'rejected'));
  await new Promise((r) => setImmediate(r));
  return state;
}

const uploads = (m: Member): Extract<FileEvent, { state: 'uploading' | 'uploaded' }>[] =>
  m.files.filter((f): f is Extract<FileEvent, { state: 'uploading' | 'uploaded' }> => f.state === 'uploading' || f.state === 'uploaded');

describe('LocalFeatureRoom: the chat features of a private room (docs/protocol.md §2.3, §3.3)', function () {
  this.timeout(60_000);
  const s = dsPerTest();

  it("refuses, before anything is sent, an edit or delete of another's message and an effect on a message not loaded", async () => {
    const { alice, bob } = await pair(s.ds);
    s.open = [alice, bob];
    const fromBob = bob.features.sendText('from bob');
    await until(() => alice.messages.some((m) => m.id === fromBob.id), 'alice has it');
    await alice.room.drain();
    const sentBefore = alice.wire.sent.length;
    const refused = (f: () => unknown, why: RegExp): void => {
      assert.throws(f, (e: unknown) => e instanceof ClientError && e.code === 'invalid_message' && why.test(e.message));
    };
    refused(() => alice.features.sendPayload({ type: 'edit', target: fromBob.id, text: 'mine now' }), /only its sender can edit/);
    refused(() => alice.features.sendPayload({ type: 'delete', target: fromBob.id }), /only its sender can delete/);
    refused(() => alice.features.sendPayload({ type: 'reaction', target: 'U'.repeat(22), emoji: '👍' }), /not loaded here/);
    refused(() => alice.features.sendPayload({ type: 'edit', target: 'U'.repeat(22), text: 'x' }), /not loaded here/);
    // A reaction on bob's message is anyone's to send; an own deleted message takes no more.
    alice.features.sendPayload({ type: 'reaction', target: fromBob.id, emoji: '👍' });
    const own = alice.features.sendText('mine');
    alice.features.sendPayload({ type: 'delete', target: own.id });
    refused(() => alice.features.sendPayload({ type: 'edit', target: own.id, text: 'again' }), /was deleted/);
    await alice.room.drain();
    assert.equal(alice.wire.sent.length, sentBefore + 3, 'only the reaction, the message and its delete left');
  });

  it('refuses a file over 8 MiB with message_too_large, and sends nothing of it', async () => {
    const { alice, bob } = await pair(s.ds);
    s.open = [alice, bob];
    const sentBefore = alice.wire.sent.length;
    const recordsBefore = (await alice.history.load()).records.length;
    assert.throws(() => alice.features.sendFile({ name: 'big.bin', bytes: Buffer.alloc(MAX_FILE_BYTES + 1) }),
      (e: unknown) => e instanceof ClientError && e.code === 'message_too_large');
    assert.equal(alice.room.pendingCount, 0);
    // Exactly 8 MiB goes (the bound is inclusive).
    const ok = alice.features.sendFile({ name: 'max.bin', bytes: randomBytes(MAX_FILE_BYTES) });
    assert.equal(ok.chunks, Math.ceil(MAX_FILE_BYTES / 30_000));
    await ok.done;
    assert.equal(alice.wire.sent.length, sentBefore + 1 + ok.chunks);
    assert.equal((await alice.history.load()).records.length, recordsBefore + 1 + ok.chunks);
  });

  it("reports the upload's progress, and done resolves only once the file message and every chunk are acked", async () => {
    const { alice, bob } = await pair(s.ds);
    s.open = [alice, bob];
    // The last chunk's ack is late: the others' progress shows, done waits.
    let last = '';
    const first = alice.wire.sent.length;
    alice.wire.holding = (f) => alice.wire.sent.indexOf(String(f.id)) === first + 4;
    const sent = alice.features.sendFile({ name: 'plan.bin', bytes: randomBytes(100_000) });
    assert.equal(sent.chunks, 4);
    await until(() => uploads(alice).length === 3, 'three chunks acked');
    last = alice.wire.sent[first + 4]!;
    assert.ok(last);
    assert.deepEqual(uploads(alice).map((u) => u.state === 'uploading' && u.acked), [1, 2, 3]);
    assert.ok(uploads(alice).every((u) => u.file === sent.message.id && u.chunks === 4));
    assert.equal(await settled(sent.done), 'pending');
    alice.wire.release();
    await sent.done;
    assert.deepEqual(uploads(alice).map((u) => u.state), ['uploading', 'uploading', 'uploading', 'uploading', 'uploaded']);
    await until(() => bob.files.some((f) => f.state === 'complete'), 'bob has it');
  });

  it('a chunk the relay refuses fails the upload: done rejects with the reason', async () => {
    const { alice, bob } = await pair(s.ds);
    s.open = [alice, bob];
    const first = alice.wire.sent.length;
    alice.wire.refusing = (f) => (alice.wire.sent.indexOf(String(f.id)) === first + 2 ? 'bad_request' : undefined);
    const sent = alice.features.sendFile({ name: 'plan.bin', bytes: randomBytes(100_000) });
    await assert.rejects(sent.done, (e: unknown) => e instanceof ClientError && e.code === 'relay_error' && /could not be sent/.test(e.message));
    assert.ok(!uploads(alice).some((u) => u.state === 'uploaded'));
    alice.wire.refusing = undefined;
  });

  it('renamed(): a stale file message and its chunks under new ids, the upload still completes under the new id', async () => {
    const { alice, bob } = await pair(s.ds);
    s.open = [alice, bob];
    let done: Promise<void> | undefined;
    let file = '';
    await raceBobsUpdate(s.ds, bob, () => 3, () => {
      const sent = alice.features.sendFile({ name: 'plan.bin', bytes: randomBytes(50_000) });
      file = sent.message.id;
      done = sent.done;
    });
    await done;
    const to = alice.uiRenames.find((r) => r.from === file)?.to;
    assert.ok(to, JSON.stringify(alice.uiRenames));
    assert.equal(alice.uiRenames.length, 3);
    assert.deepEqual(uploads(alice).map((u) => [u.state, u.file]), [['uploading', to], ['uploading', to], ['uploaded', to]]);
    // The features know it under the new id only: a reply to it names the new id.
    assert.equal(alice.features.view(file), undefined);
    assert.equal(alice.features.replyTo(to)?.to, to);
    await until(() => bob.files.some((f) => f.state === 'complete' && f.file === to), 'bob has it');
  });

  it('RoomFeatures.renamed: the content, its own edit and reaction, and a reply naming it follow the new id; others\' effects on it apply', () => {
    const me = 'AAAA BBBB CCCC DDDD EEEE FFFF 0000 1111';
    const other = '2222 3333 4444 5555 6666 7777 8888 9999';
    const f = new RoomFeatures('room', me);
    const msg = (id: string, fields: Partial<ChatMessage>, fp = me): ChatMessage => ({
      room: 'room', ts: 1, id, name: 'x', fingerprint: fp, shortFingerprint: fp.slice(0, 4), type: 'text', verified: true, keyChanged: false, own: fp === me, history: false, ...fields,
    });
    const [old, fresh, edit, editFresh, reply] = ['O', 'N', 'E', 'F', 'R'].map((c) => c.repeat(22)) as [string, string, string, string, string];
    f.sent(msg(old, { text: 'deploy at 5' }));
    f.sent(msg(edit, { type: 'edit', target: old, text: 'deploy at 6' }));
    f.sent(msg('X'.repeat(22), { type: 'reaction', target: old, emoji: '👍' }));
    f.sent(msg(reply, { text: 'see above', reply: { to: old, from: me, quote: 'deploy at 5' } }));
    f.renamed(old, fresh);
    f.renamed(edit, editFresh);
    assert.equal(f.view(old), undefined);
    const v = f.view(fresh)!;
    assert.equal(v.id, fresh);
    assert.equal(v.text, 'deploy at 6');
    assert.equal(v.reactions.length, 1);
    assert.equal(f.view(reply)!.reply!.to, fresh);
    // The own edit, acked under its new id, keeps applying (its seq ranks it).
    f.acked(msg(editFresh, { type: 'edit', target: fresh, text: 'deploy at 6', seq: 10 }));
    assert.equal(f.view(fresh)!.text, 'deploy at 6');
    // Others' effects on the new id apply; on the old one they wait (nobody has that message).
    const r = f.receive(msg('Y'.repeat(22), { type: 'reaction', target: fresh, emoji: '👀', seq: 11 }, other));
    assert.equal(r.effects[0]!.change, 'reactions');
    assert.equal(f.receive(msg('Z'.repeat(22), { type: 'reaction', target: old, emoji: '👀', seq: 12 }, other)).effects[0]!.change, 'pending');
    assert.equal(f.outgoingProblem({ type: 'edit', target: fresh, text: 'at 7' }), undefined);
  });

  it("MessageNumbers.rename: a renamed message keeps its number, so /reply N names the new id", () => {
    const n = new MessageNumbers();
    assert.equal(n.number('A'.repeat(22)), 1);
    assert.equal(n.number('B'.repeat(22)), 2);
    n.rename('A'.repeat(22), 'C'.repeat(22));
    assert.equal(n.id(1), 'C'.repeat(22));
    assert.equal(n.of('C'.repeat(22)), 1);
    assert.equal(n.of('A'.repeat(22)), undefined);
    // An unknown id, or a new id already numbered, changes nothing.
    n.rename('D'.repeat(22), 'E'.repeat(22));
    n.rename('B'.repeat(22), 'C'.repeat(22));
    assert.equal(n.id(2), 'B'.repeat(22));
    assert.equal(n.number('F'.repeat(22)), 3);
  });
});
