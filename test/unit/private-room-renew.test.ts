// A private room's own message that went stale (docs/protocol.md §3.3: written under an epoch a
// lower seq ended, so every member ignores it) goes again under a new id, and what targets it
// goes with it: a file's chunks, an edit, a reaction, a reply (src/core/private/privateRoom.ts
// renew, src/core/private/featureRoom.ts renamed). Over the in-memory Delivery Service
// (test/helpers/privateDs.ts): bob's update and alice's messages reach the relay "at the same
// moment", bob's commit first, so alice's messages are stored after the end of their epoch.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { MlsGroup } from '../../src/core/mls';
import { decodeSaved } from '../../src/core/private';
import { messageOfRecord } from '../../src/core/private/historyMessage';
import type { FileEvent } from '../../src/core/client/types';
import { member, pair, raceBobsUpdate, until, type Member, dsPerTest } from './private-feature-harness';

const complete = (m: Member): Extract<FileEvent, { state: 'complete' }> | undefined =>
  m.files.find((f): f is Extract<FileEvent, { state: 'complete' }> => f.state === 'complete');

describe('private room: what targets a renewed message is renewed with it (docs/protocol.md §3.3)', function () {
  this.timeout(90_000);
  const s = dsPerTest();

  for (const lateAcks of [false, true]) it(`a file whose message went stale goes again with its chunks retargeted: bob gets it whole, alice's upload completes${lateAcks ? ' (the old ids known only from late acks)' : ''}`, async () => {
    const { alice, bob } = await pair(s.ds);
    s.open = [alice, bob];
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
    await raceBobsUpdate(s.ds, bob, () => 5, () => {
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
    const stored = s.ds.rooms.get(alice.room.room)!.messages;
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
    const { alice, bob } = await pair(s.ds, 8_192);
    s.open = [alice, bob];
    let first = '';
    alice.wire.holding = (f) => f.id !== first;
    const long = 'x'.repeat(12_000);
    const parts = (): number => Number(alice.logs.filter((l) => l.event === 'sent_in_parts').at(-1)?.fields?.parts ?? 1);
    await raceBobsUpdate(s.ds, bob, () => 3 + parts(), () => {
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
    const stored = s.ds.rooms.get(alice.room.room)!.messages;
    await until(() => alice.room.applied === stored.length, 'alice applied every seq');
    // The old ids' parts and copies were own: none opened, no part refused.
    const opened = alice.logs.filter((l) => ['stale', 'message_refused', 'not_of_this_group', 'part_refused', 'not_an_mls_message'].includes(l.event));
    assert.deepEqual(opened, []);
  });

  it('a restart right after the stale seq, before anything went again: the chunks keep their new target', async () => {
    const { roomId, alice, bob } = await pair(s.ds);
    s.open = [bob];
    const bytes = randomBytes(70_000);
    // alice's process is killed once her file message is found stale: nothing of it leaves again.
    alice.room.on('renamed', () => (alice.stall.on = true));
    let file = '';
    await raceBobsUpdate(s.ds, bob, () => 4, () => {
      file = alice.features.sendFile({ name: 'plan.bin', bytes }).message.id;
    });
    await until(() => alice.logs.some((l) => l.event === 'own_message_stale') && alice.renames.length === 4, 'the renames');
    await new Promise((r) => setTimeout(r, 200));
    alice.wire.dead = true;
    const sendsBefore = s.ds.rooms.get(roomId)!.messages.length;
    const saved = decodeSaved(alice.saved[alice.saved.length - 1]!);
    const back = member(s.ds, roomId, alice.id, 'alice', await MlsGroup.import(saved.state, alice.id), saved.meta, { log: alice.log });
    s.open = [bob, back];
    back.room.restorePending((await back.history.load()).records);
    back.room.connect();
    await until(() => complete(bob) !== undefined, 'bob has the file whole');
    assert.ok(Buffer.from(complete(bob)!.bytes).equals(bytes));
    // It went under the ids the renames gave, written before the crash (no second rename).
    assert.equal(complete(bob)!.file, alice.renames.find((r) => r.from === file)!.to);
    assert.ok(s.ds.rooms.get(roomId)!.messages.length > sendsBefore);
    await back.room.drain();
  });
});
