// Edits, deletes and reactions applied to a room's messages (docs/protocol.md §2.3 "Who may act
// on a message", §2.3.3, §2.3.4): only the original sender's key edits or deletes; the highest
// seq's edit wins whatever the arrival order; a delete is final and leaves nothing; reactions
// toggle by parity, in any order; effects on messages not loaded yet wait, within their bound.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { generateMessageId, Payload } from '../../src/core/crypto';
import { RoomEffects, TimelineMessage } from '../../src/core/payload/effects';

const ALICE = '21FE 31DF A154 A261 6AB7 1B2C 7F04 0A5B';
const MALLORY = '0C5E 8A4E 1F7E 9B3D 2A10 66F1 D4C2 9E07';
const BOB = '7777 8888 9999 AAAA BBBB CCCC DDDD EEEE';

let clock = 1764100000000;
function msg(signer: string, fields: Partial<Payload> & { type: string }, seq?: number, name = 'Alice'): TimelineMessage {
  const payload: Payload = { id: generateMessageId(), ts: clock++, name, ...fields };
  return seq === undefined ? { id: payload.id, signer, payload } : { id: payload.id, seq, signer, payload };
}
const text = (signer: string, t: string, seq?: number): TimelineMessage => msg(signer, { type: 'text', text: t }, seq);
const edit = (signer: string, target: string, t: string, seq?: number, name = 'Alice'): TimelineMessage => msg(signer, { type: 'edit', target, text: t }, seq, name);
const del = (signer: string, target: string, seq?: number): TimelineMessage => msg(signer, { type: 'delete', target }, seq);
const react = (signer: string, target: string, emoji: string, seq?: number): TimelineMessage => msg(signer, { type: 'reaction', target, emoji }, seq);

/** All orders of a few messages, as a fast-check arbitrary. */
const orderOf = <T>(xs: T[]) => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length });

describe('edits, deletes and reactions (§2.3.3, §2.3.4)', () => {
  it('an edit by the original sender replaces the text and marks it edited', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'à 14 h', 1);
    assert.deepEqual(fx.add(m), [{ kind: 'shown', id: m.id }]);
    assert.deepEqual(fx.add(edit(ALICE, m.id, 'à 15 h', 2)), [{ kind: 'edited', id: m.id }]);
    const v = fx.view(m.id)!;
    assert.equal(v.text, 'à 15 h');
    assert.equal(v.edited, true);
    assert.equal(v.name, 'Alice');
  });

  it('an edit or delete under another key is refused, whatever its name', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'le vrai texte', 1);
    fx.add(m);
    const forgedEdit = edit(MALLORY, m.id, 'un faux texte', 2, 'Alice');
    assert.deepEqual(fx.add(forgedEdit), [{ kind: 'refused', id: forgedEdit.id, target: m.id, why: 'not_the_sender' }]);
    const forgedDelete = del(MALLORY, m.id, 3);
    assert.deepEqual(fx.add(forgedDelete), [{ kind: 'refused', id: forgedDelete.id, target: m.id, why: 'not_the_sender' }]);
    const v = fx.view(m.id)!;
    assert.equal(v.text, 'le vrai texte');
    assert.equal(v.edited, false);
    assert.equal(v.deleted, false);
  });

  it('a delete by the sender leaves nothing of the content, its quote or its reactions', () => {
    const fx = new RoomEffects();
    const m = msg(ALICE, { type: 'text', text: 'secret', reply: { to: generateMessageId(), from: BOB, quote: 'q' }, mentions: [BOB] }, 1);
    fx.add(m);
    fx.add(react(BOB, m.id, '👍', 2));
    assert.deepEqual(fx.add(del(ALICE, m.id, 3)), [{ kind: 'deleted', id: m.id }]);
    const v = fx.view(m.id)!;
    assert.equal(v.deleted, true);
    assert.deepEqual(v.reactions, []);
    assert.ok(!JSON.stringify(v).includes('secret') && v.reply === undefined && v.mentions === undefined && v.text === undefined);
    // Final: a later edit or reaction does nothing.
    assert.deepEqual(fx.add(edit(ALICE, m.id, 'revenu', 4)), []);
    assert.deepEqual(fx.add(react(BOB, m.id, '👍', 5)), []);
    assert.equal(fx.view(m.id)!.deleted, true);
  });

  it('the highest seq edit wins, and a delete wins over edits, in any arrival order (property)', () => {
    const m = text(ALICE, 'v0', 1);
    const edits = [edit(ALICE, m.id, 'v2', 2), edit(ALICE, m.id, 'v5', 5), edit(ALICE, m.id, 'v3', 3)];
    const forged = edit(MALLORY, m.id, 'forged', 9);
    const d = del(ALICE, m.id, 7);
    fc.assert(fc.property(orderOf([m, ...edits, forged]), (order) => {
      const fx = new RoomEffects();
      for (const x of order) fx.add(x);
      assert.equal(fx.view(m.id)!.text, 'v5');
    }));
    fc.assert(fc.property(orderOf([m, ...edits, forged, d]), (order) => {
      const fx = new RoomEffects();
      for (const x of order) fx.add(x);
      assert.equal(fx.view(m.id)!.deleted, true);
      assert.equal(fx.view(m.id)!.text, undefined);
    }));
  });

  it("an own edit not acked yet ranks above acked ones, then takes its place by its seq", () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'v0', 1);
    fx.add(m);
    const mine = edit(ALICE, m.id, 'mine');
    fx.add(mine);
    fx.add(edit(ALICE, m.id, 'from my other window', 12));
    assert.equal(fx.view(m.id)!.text, 'mine');
    // Acked under seq 10: below 12.
    assert.deepEqual(fx.add({ ...mine, seq: 10 }), [{ kind: 'edited', id: m.id }]);
    assert.equal(fx.view(m.id)!.text, 'from my other window');
  });

  it('an empty edit removes a caption, and leaves a text message its empty text', () => {
    const fx = new RoomEffects();
    const f = msg(ALICE, { type: 'file', text: 'caption', file: { name: 'a.txt', size: 0, mime: 'text/plain', sha256: 'e'.repeat(64), chunks: 0 } }, 1);
    const t = text(ALICE, 'x', 2);
    fx.add(f);
    fx.add(t);
    fx.add(edit(ALICE, f.id, '', 3));
    fx.add(edit(ALICE, t.id, '', 4));
    assert.equal(fx.view(f.id)!.text, undefined);
    assert.equal(fx.view(f.id)!.file!.name, 'a.txt');
    assert.equal(fx.view(t.id)!.text, '');
  });

  it('an edit replaces the mentions (absent: none)', () => {
    const fx = new RoomEffects();
    const m = msg(ALICE, { type: 'text', text: '@Bob', mentions: [BOB] }, 1);
    fx.add(m);
    assert.deepEqual(fx.view(m.id)!.mentions, [BOB]);
    fx.add(edit(ALICE, m.id, 'nobody', 2));
    assert.equal(fx.view(m.id)!.mentions, undefined);
  });

  it('a reaction toggles: on, off, on again, per key and emoji', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'x', 1);
    fx.add(m);
    fx.add(react(BOB, m.id, '👍', 2));
    fx.add(react(ALICE, m.id, '👍', 3));
    fx.add(react(BOB, m.id, '🎉', 4));
    assert.deepEqual(fx.view(m.id)!.reactions, [{ emoji: '👍', signers: [BOB, ALICE] }, { emoji: '🎉', signers: [BOB] }]);
    fx.add(react(BOB, m.id, '👍', 5));
    assert.deepEqual(fx.view(m.id)!.reactions, [{ emoji: '👍', signers: [ALICE] }, { emoji: '🎉', signers: [BOB] }]);
    fx.add(react(BOB, m.id, '👍', 6));
    assert.deepEqual(fx.view(m.id)!.reactions.find((r) => r.emoji === '👍')!.signers.sort(), [ALICE, BOB].sort());
  });

  it('reactions do not depend on arrival order, target included (property)', () => {
    const m = text(ALICE, 'x', 1);
    const rs = [react(BOB, m.id, '👍', 2), react(BOB, m.id, '👍', 3), react(BOB, m.id, '👍', 4), react(MALLORY, m.id, '👍', 5),
      react(MALLORY, m.id, '🎉', 6), react(MALLORY, m.id, '🎉', 7), react(ALICE, m.id, '❤️', 8)];
    const summary = (fx: RoomEffects) => fx.view(m.id)!.reactions.map((r) => `${r.emoji}:${[...r.signers].sort().join(',')}`).sort();
    fc.assert(fc.property(orderOf([m, ...rs]), (order) => {
      const fx = new RoomEffects();
      for (const x of order) fx.add(x);
      assert.deepEqual(summary(fx), [`❤️:${ALICE}`, `👍:${[BOB, MALLORY].sort().join(',')}`]);
    }));
  });

  it('the same message added twice counts once', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'x', 1);
    const r = react(BOB, m.id, '👍', 2);
    fx.add(m);
    fx.add(r);
    assert.deepEqual(fx.add(r), []);
    assert.deepEqual(fx.add(m), []);
    assert.deepEqual(fx.view(m.id)!.reactions, [{ emoji: '👍', signers: [BOB] }]);
  });

  it('at most 64 distinct emoji on one message', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'x', 1);
    fx.add(m);
    const faces = Array.from({ length: 70 }, (_, i) => String.fromCodePoint(0x1f600 + i));
    faces.forEach((e, i) => fx.add(react(MALLORY, m.id, e, 2 + i)));
    assert.equal(fx.view(m.id)!.reactions.length, 64);
  });

  it('an effect on a message not loaded yet waits, and applies when it arrives (an edit by another key is then refused)', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'old', 1);
    const e = edit(ALICE, m.id, 'new', 5);
    const forged = del(MALLORY, m.id, 6);
    const r = react(BOB, m.id, '👍', 7);
    assert.deepEqual(fx.add(e), [{ kind: 'pending', id: e.id, target: m.id }]);
    fx.add(forged);
    fx.add(r);
    assert.equal(fx.pendingCount(), 3);
    assert.deepEqual(fx.add(m), [
      { kind: 'shown', id: m.id },
      { kind: 'edited', id: m.id },
      { kind: 'refused', id: forged.id, target: m.id, why: 'not_the_sender' },
      { kind: 'reactions', id: m.id },
    ]);
    assert.equal(fx.pendingCount(), 0);
    assert.equal(fx.view(m.id)!.text, 'new');
  });

  it('a delete that waited means the message is never shown with its content', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'secret', 1);
    fx.add(del(ALICE, m.id, 2));
    const changes = fx.add(m);
    assert.deepEqual(changes.map((c) => c.kind), ['shown', 'deleted']);
    assert.equal(fx.view(m.id)!.text, undefined);
  });

  it('pending effects are bounded in number and in text bytes, the oldest dropped first', () => {
    const fx = new RoomEffects({ maxPending: 3, maxPendingTextBytes: 100 });
    const targets = Array.from({ length: 5 }, () => generateMessageId());
    const effects = targets.map((t, i) => react(BOB, t, '👍', 10 + i));
    const all = effects.flatMap((x) => fx.add(x));
    assert.equal(fx.pendingCount(), 3);
    assert.deepEqual(all.filter((c) => c.kind === 'dropped').map((c) => c.id), [effects[0]!.id, effects[1]!.id]);
    const big = edit(ALICE, generateMessageId(), 'x'.repeat(101), 20);
    const out = fx.add(big);
    assert.ok(out.some((c) => c.kind === 'dropped' && c.id === big.id));
    assert.ok(fx.pendingCount() <= 3);
    // A dropped effect met again (a history page) can wait again.
    assert.equal(fx.add(effects[0]!)[0]!.kind, 'pending');
  });

  it('an effect on an effect, a chunk or an unknown type is refused', () => {
    const fx = new RoomEffects();
    const m = text(ALICE, 'x', 1);
    fx.add(m);
    const r = react(BOB, m.id, '👍', 2);
    fx.add(r);
    const chunk = msg(ALICE, { type: 'file-chunk', target: m.id, index: 0, data: 'AA' }, 3);
    fx.add(chunk);
    for (const target of [r.id, chunk.id]) {
      const x = del(BOB, target, 4);
      assert.deepEqual(fx.add(x), [{ kind: 'refused', id: x.id, target, why: 'not_content' }]);
    }
  });
});

describe('RoomEffects memory bound (maxMessages)', () => {
  it('forgets the oldest messages past maxMessages; an effect on a forgotten one waits as pending', () => {
    const fx = new RoomEffects({ maxMessages: 3 });
    const ids = ['AAAAAAAAAAAAAAAAAAAAA0', 'AAAAAAAAAAAAAAAAAAAAA1', 'AAAAAAAAAAAAAAAAAAAAA2', 'AAAAAAAAAAAAAAAAAAAAA3'];
    for (const id of ids) fx.add({ id, signer: 'S', payload: { id, ts: 1, name: 'a', type: 'text', text: id } });
    assert.equal(fx.view(ids[0]!), undefined);
    assert.equal(fx.view(ids[3]!)?.text, ids[3]);
    const edit = { id: 'BBBBBBBBBBBBBBBBBBBBB0', signer: 'S', payload: { id: 'BBBBBBBBBBBBBBBBBBBBB0', ts: 2, name: 'a', type: 'edit', target: ids[0]!, text: 'x' } };
    assert.deepEqual(fx.add(edit).map((c) => c.kind), ['pending']);
  });
});
