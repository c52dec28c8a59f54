// The extension host's view of a room's chat features (src/vscode/roomFeatures.ts), fed by the
// client core's own RoomFeatures (src/core/client/roomFeatures.ts) as RelayClient feeds it: what
// an item shows after edits, deletes and reactions (docs/protocol.md §2.3.3, §2.3.4), a reply's
// quote (§2.3.1), mentions (§2.3.2), and the bytes of files (§2.3.5) held and purged.
import { strict as assert } from 'node:assert';
import { RoomFeatures as CoreFeatures } from '../../src/core/client/roomFeatures';
import type { ChatMessage } from '../../src/core/client/types';
import { fileMessages } from '../../src/core/payload';
import type { ChatItem } from '../../src/shared/messages';
import { RoomFeatures } from '../../src/vscode/roomFeatures';
import { itemFromMessage } from '../../src/vscode/timeline';

const ALICE = 'AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA';
const BOB = 'BBBB BBBB BBBB BBBB BBBB BBBB BBBB BBBB';
const MALLORY = 'CCCC CCCC CCCC CCCC CCCC CCCC CCCC CCCC';
const id = (n: number): string => `m${n}`.padEnd(22, 'x');

function msg(seq: number, from: string, name: string, over: Partial<ChatMessage>): ChatMessage {
  return {
    room: 'r', seq, ts: 1_000 + seq, id: id(seq), name, fingerprint: from, shortFingerprint: from.slice(0, 9),
    type: 'text', verified: true, keyChanged: false, own: from === ALICE, history: false, ...over,
  };
}

/** The core and the host's adapter wired as ChatSession wires them; the items by key. */
function room() {
  const core = new CoreFeatures('r', ALICE);
  const mine = new RoomFeatures(() => ALICE);
  const items = new Map<string, ChatItem>();
  const redraw = (keys: string[]): void => {
    for (const k of keys) {
      const it = items.get(k);
      if (it) items.set(k, mine.decorate(it, (x) => items.get(x)));
    }
  };
  const receive = (m: ChatMessage): void => {
    const out = core.receive(m);
    if (out.message) {
      const ch = mine.onMessage(out.message);
      items.set(out.message.id, mine.decorate(itemFromMessage(out.message, 'received'), (x) => items.get(x)));
      redraw(ch.changed);
    }
    for (const e of out.effects) {
      const ch = mine.onEffect(e);
      redraw([...ch.deleted, ...ch.changed]);
    }
    for (const f of out.files) redraw(mine.onFile(f).changed);
  };
  return { core, mine, items, receive };
}

describe('extension room features (issue 12)', () => {
  it('shows an edit by the sender, refuses one by another key, and a delete removes everything', () => {
    const r = room();
    r.receive(msg(1, BOB, 'Bob', { text: 'teh plan' }));
    r.receive(msg(2, MALLORY, 'Bob', { type: 'edit', target: id(1), text: 'send me the keys' }));
    assert.equal(r.items.get(id(1))?.text, 'teh plan', 'an edit under another key applied');
    assert.equal(r.items.get(id(1))?.edited, undefined);
    r.receive(msg(3, BOB, 'Bob', { type: 'edit', target: id(1), text: 'the plan' }));
    assert.equal(r.items.get(id(1))?.text, 'the plan');
    assert.equal(r.items.get(id(1))?.edited, true);
    r.receive(msg(4, ALICE, 'Alice', { type: 'reaction', target: id(1), emoji: '👍' }));
    r.receive(msg(5, MALLORY, 'Bob', { type: 'delete', target: id(1) }));
    assert.equal(r.items.get(id(1))?.deleted, undefined, 'a delete under another key applied');
    r.receive(msg(6, BOB, 'Bob', { type: 'delete', target: id(1) }));
    const gone = r.items.get(id(1))!;
    assert.equal(gone.deleted, true);
    assert.equal(gone.text, undefined);
    assert.equal(gone.reactions, undefined);
    assert.equal(RoomFeatures.searchableText(gone), '');
  });

  it('shows reactions with who reacted, by name, "you" for the own key, toggled by parity', () => {
    const r = room();
    r.receive(msg(1, BOB, 'Bob', { text: 'ship it?' }));
    r.receive(msg(2, ALICE, 'Alice', { type: 'reaction', target: id(1), emoji: '🚀' }));
    r.receive(msg(3, BOB, 'Bob', { type: 'reaction', target: id(1), emoji: '🚀' }));
    assert.deepEqual(r.items.get(id(1))?.reactions, [{ emoji: '🚀', count: 2, names: ['you', 'Bob'], mine: true }]);
    r.receive(msg(4, ALICE, 'Alice', { type: 'reaction', target: id(1), emoji: '🚀' }));
    assert.deepEqual(r.items.get(id(1))?.reactions, [{ emoji: '🚀', count: 1, names: ['Bob'], mine: false }]);
  });

  it('a reply shows the original\'s text and sender, flags a wrong `from`, and follows the original when it loads later', () => {
    const r = room();
    // The reply first (a history page comes newest first), with a quote that lies.
    r.receive(msg(5, MALLORY, 'Mallory', { text: 'agreed', reply: { to: id(1), from: ALICE, quote: 'Alice said: rm -rf /' } }));
    assert.deepEqual(r.items.get(id(5))?.reply, { to: id(1), quote: 'Alice said: rm -rf /' });
    r.receive(msg(1, BOB, 'Bob', { text: 'let us   meet\nat noon' }));
    assert.deepEqual(r.items.get(id(5))?.reply, { to: id(1), quote: 'let us meet at noon', name: 'Bob', mismatch: true });
    r.receive(msg(6, BOB, 'Bob', { type: 'delete', target: id(1) }));
    assert.deepEqual(r.items.get(id(5))?.reply, { to: id(1), quote: '', name: 'Bob', deleted: true });
  });

  it('is mentioned only by its own fingerprint in `mentions`, and highlights only @names that bind', () => {
    const r = room();
    r.receive(msg(1, ALICE, 'Alice', { text: 'hi' }));
    r.receive(msg(2, BOB, 'Bob', { text: '@Alice look, @Carol too', mentions: [ALICE] }));
    assert.equal(r.items.get(id(2))?.mentionsMe, true);
    assert.deepEqual(r.items.get(id(2))?.mentionNames, ['@Alice']);
    // The name in the text without the fingerprint in `mentions` is no mention (§2.3.2).
    r.receive(msg(3, MALLORY, 'Mallory', { text: '@Alice fake mention' }));
    assert.equal(r.items.get(id(3))?.mentionsMe, undefined);
    assert.equal(r.items.get(id(3))?.mentionNames, undefined);
  });

  it('holds a complete file\'s verified bytes, flags a previewable image, and drops the bytes on delete', () => {
    const r = room();
    // A PNG signature and an IHDR of 10 × 10 pixels, then filler: 3 chunks of the file.
    const ihdr = Buffer.alloc(25);
    ihdr.writeUInt32BE(13, 0);
    ihdr.write('IHDR', 4, 'ascii');
    ihdr.writeUInt32BE(10, 8);
    ihdr.writeUInt32BE(10, 12);
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, Buffer.alloc(70_000, 7)]);
    let n = 100;
    const { file, chunks } = fileMessages({ id: id(10), ts: 1, name: 'Bob', fileName: 'shot.png', mime: 'image/png', bytes: png }, () => id(n++));
    // Chunks before their file message (newest first), then the file message.
    chunks.forEach((c, i) => r.receive(msg(20 + i, BOB, 'Bob', { ...c, id: c.id })));
    r.receive(msg(10, BOB, 'Bob', { ...file }));
    assert.equal(r.items.get(id(10))?.file?.state, 'complete');
    assert.equal(r.items.get(id(10))?.file?.image, true);
    assert.ok(r.mine.fileBytes(id(10))?.equals(png));
    r.receive(msg(40, BOB, 'Bob', { type: 'delete', target: id(10) }));
    assert.equal(r.mine.fileBytes(id(10)), undefined, 'a deleted file\'s bytes are still held');
    assert.equal(r.items.get(id(10))?.file, undefined);
  });

  it('never previews HTML under image/png, and a tampered chunk fails the file with nothing kept', () => {
    const r = room();
    const html = Buffer.from('<html><script>alert(1)</script></html>');
    const a = fileMessages({ id: id(1), ts: 1, name: 'Bob', fileName: 'x.png', mime: 'image/png', bytes: html }, () => id(2));
    r.receive(msg(1, BOB, 'Bob', { ...a.file }));
    r.receive(msg(2, BOB, 'Bob', { ...a.chunks[0]! }));
    assert.equal(r.items.get(id(1))?.file?.state, 'complete');
    assert.equal(r.items.get(id(1))?.file?.image, undefined);
    const bytes = Buffer.alloc(40_000, 1);
    let n = 60;
    const b = fileMessages({ id: id(50), ts: 1, name: 'Bob', fileName: 'b.bin', bytes }, () => id(n++));
    r.receive(msg(50, BOB, 'Bob', { ...b.file }));
    const tampered = { ...b.chunks[1]!, data: Buffer.alloc(10_000, 2).toString('base64url') };
    r.receive(msg(60, BOB, 'Bob', { ...b.chunks[0]! }));
    r.receive(msg(61, BOB, 'Bob', tampered));
    assert.equal(r.items.get(id(50))?.file?.state, 'failed');
    assert.equal(r.mine.fileBytes(id(50)), undefined);
  });
});
