// RelayClient's chat features (docs/protocol.md §2.3.1-2.3.5) over scripted transports: what
// sendPayload and sendFile put on the wire, what the receiving side makes of reactions, edits,
// deletes and file chunks (in any order, forged, tampered), and the pacing of a file's chunks.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { RoomCipher, fingerprint, generateIdentity, generateMessageId, generateRoomKey, type Identity, type Payload } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import type { ChatMessage, ClientError, EffectEvent, FileEvent } from '../../src/core/client/index';
import { fileMessages } from '../../src/core/payload/index';
import { ScriptedNetwork, type ScriptedTransport, welcomeFrame } from '../helpers/scriptedTransport';
import { until } from '../helpers/until';

const key = generateRoomKey();
const cipher = new RoomCipher(key);
const alice = generateIdentity();
const bob = generateIdentity();

let seq = 0;
/** A stored msg frame of `p` signed by `who`. */
function frame(p: Omit<Payload, 'id' | 'ts'> & { id?: string }, who: Identity): Record<string, unknown> & { id: string } {
  const id = p.id ?? generateMessageId();
  seq++;
  return { t: 'msg', room: cipher.room, seq, ts: seq, id, body: cipher.seal({ ...p, id, ts: seq }, who) };
}

function openSend(f: Record<string, unknown>): Payload {
  const r = cipher.open(String(f.id), String(f.body));
  assert.ok(r.ok, 'the client sealed what it sent');
  return r.payload;
}

interface Harness {
  c: RelayClient;
  t: ScriptedTransport;
  room: string;
  me: Identity;
  messages: ChatMessage[];
  effects: EffectEvent[];
  files: FileEvent[];
  errors: ClientError[];
}

async function joined(tuning: Record<string, number> = {}): Promise<Harness> {
  const net = new ScriptedNetwork();
  const me = generateIdentity();
  const c = new RelayClient({
    host: '127.0.0.1', port: 1, agent: 'smc-test/0', identity: me, displayName: 'me', transport: net.factory,
    tuning: { initialHistory: 1_000, ...tuning },
  });
  const { room } = c.join({ key, name: 'r' });
  c.connect();
  const h: Harness = { c, t: net.last, room, me, messages: [], effects: [], files: [], errors: [] };
  c.on('message', (m) => h.messages.push(m));
  c.on('effects', (e) => h.effects.push(e));
  c.on('file', (f) => h.files.push(f));
  c.on('error', (e) => h.errors.push(e));
  h.t.open();
  h.t.frame(welcomeFrame());
  const join = h.t.of('join').at(-1)!;
  h.t.frame({ t: 'joined', rid: join.rid, room: h.room, head: 0, sid: 's1' });
  h.t.frame({ t: 'synced', rid: join.rid, room: h.room, head: 0, from: 1 });
  return h;
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('RelayClient chat features (§2.3.1-2.3.5)', () => {
  it('sendPayload puts reply, mentions, reaction, edit and delete on the wire as §2.3 encodes them', async () => {
    const h = await joined();
    const text = frame({ name: 'alice', type: 'text', text: 'the **build** broke' }, alice);
    h.t.frame(text);
    await until('alice\'s message', () => h.messages.length === 1);
    const reply = h.c.replyTo(h.room, text.id);
    assert.deepEqual(reply, { to: text.id, from: fingerprint(alice.publicKey), quote: 'the **build** broke' });
    h.c.sendPayload(h.room, { type: 'text', text: 'on it @alice', reply: reply!, mentions: [fingerprint(alice.publicKey)] });
    h.c.sendPayload(h.room, { type: 'reaction', target: text.id, emoji: '👍' });
    const mine = h.c.sendText(h.room, 'typo');
    h.c.sendPayload(h.room, { type: 'edit', target: mine.id, text: 'fixed' });
    h.c.sendPayload(h.room, { type: 'delete', target: mine.id });
    const sent = h.t.of('send').map(openSend);
    assert.deepEqual(sent.map((p) => p.type), ['text', 'reaction', 'text', 'edit', 'delete']);
    assert.deepEqual(sent[0]!.reply, reply);
    assert.deepEqual(sent[0]!.mentions, [fingerprint(alice.publicKey)]);
    assert.equal(sent[1]!.emoji, '👍');
    assert.equal(sent[1]!.target, text.id);
    assert.equal(sent[1]!.text, undefined);
    assert.equal(sent[3]!.text, 'fixed');
    // The own effects applied at once, in order: reaction on alice's, edit then delete of mine.
    assert.deepEqual(h.effects.map((e) => e.change), ['reactions', 'edited', 'deleted']);
    assert.equal(h.c.view(h.room, mine.id)?.deleted, true);
    assert.equal(h.c.view(h.room, mine.id)?.text, undefined);
    assert.deepEqual(h.c.view(h.room, text.id)?.reactions, [{ emoji: '👍', signers: [h.c.fingerprint] }]);
    await h.c.disconnect();
  });

  it('sendPayload refuses what §2.3 forbids, and an edit or delete of someone else\'s message, sending nothing', async () => {
    const h = await joined();
    const text = frame({ name: 'alice', type: 'text', text: 'hi' }, alice);
    h.t.frame(text);
    await until('alice\'s message', () => h.messages.length === 1);
    const refused = (c: Parameters<RelayClient['sendPayload']>[1]): string => {
      try {
        h.c.sendPayload(h.room, c);
      } catch (e) {
        return `${(e as ClientError).code}: ${(e as Error).message}`;
      }
      return 'sent';
    };
    assert.match(refused({ type: 'edit', target: text.id, text: 'mine now' }), /^invalid_message: .*only its sender can edit/);
    assert.match(refused({ type: 'delete', target: text.id }), /^invalid_message: .*only its sender can delete/);
    assert.match(refused({ type: 'reaction', target: text.id, emoji: 'a' }), /^invalid_message: .*emoji/);
    assert.match(refused({ type: 'reaction', target: generateMessageId(), emoji: '👍' }), /^invalid_message: .*not loaded/);
    assert.match(refused({ type: 'text', text: 'x', mentions: ['not a fingerprint'] }), /^invalid_message: .*mentions/);
    assert.match(refused({ type: 'file' as 'text', text: 'x' }), /^invalid_message: .*sendFile/);
    assert.match(refused({ type: 'text', text: 'x'.repeat(16_385) }), /^message_too_large: /);
    assert.equal(h.t.of('send').length, 0);
    assert.equal(h.c.pendingCount, 0);
    await h.c.disconnect();
  });

  it('receives edits, reactions and deletes; an edit or delete under another key is refused whatever its name', async () => {
    const h = await joined();
    const text = frame({ name: 'alice', type: 'text', text: 'original' }, alice);
    h.t.frame(text);
    // Bob, claiming to be alice, edits and deletes alice's message: both refused (§2.3).
    h.t.frame(frame({ name: 'alice', type: 'edit', target: text.id, text: 'forged' }, bob));
    h.t.frame(frame({ name: 'alice', type: 'delete', target: text.id }, bob));
    h.t.frame(frame({ name: 'bob', type: 'reaction', target: text.id, emoji: '🎉' }, bob));
    h.t.frame(frame({ name: 'alice', type: 'edit', target: text.id, text: 'edited' }, alice));
    await until('five messages handled', () => h.effects.length === 4);
    assert.deepEqual(h.effects.map((e) => [e.change, e.why]), [['refused', 'not_the_sender'], ['refused', 'not_the_sender'], ['reactions', undefined], ['edited', undefined]]);
    assert.equal(h.effects[3]!.view?.text, 'edited');
    assert.equal(h.messages.length, 1, 'effects are not timeline messages');
    h.t.frame(frame({ name: 'alice', type: 'delete', target: text.id }, alice));
    await until('the delete', () => h.effects.length === 5);
    assert.equal(h.effects[4]!.change, 'deleted');
    assert.deepEqual(h.c.view(h.room, text.id), { ...h.c.view(h.room, text.id), deleted: true, reactions: [] });
    assert.equal(h.c.view(h.room, text.id)?.text, undefined);
    await h.c.disconnect();
  });

  it('an effect that comes before its target waits, and the target shows with it applied (a history page, newest first)', async () => {
    const h = await joined();
    const id = generateMessageId();
    h.t.frame(frame({ name: 'alice', type: 'edit', target: id, text: 'second thoughts' }, alice));
    h.t.frame(frame({ name: 'bob', type: 'edit', target: id, text: 'forged' }, bob));
    h.t.frame(frame({ name: 'alice', id, type: 'text', text: 'first thoughts' }, alice));
    await until('the target', () => h.messages.length === 1);
    assert.equal(h.messages[0]!.text, 'second thoughts');
    assert.equal(h.messages[0]!.edited, true);
    assert.deepEqual(h.effects.map((e) => e.change), ['pending', 'pending', 'refused']);
    await h.c.disconnect();
  });

  it('a deleted message that comes after its delete shows as deleted, never its text', async () => {
    const h = await joined();
    const id = generateMessageId();
    h.t.frame(frame({ name: 'alice', type: 'delete', target: id }, alice));
    h.t.frame(frame({ name: 'alice', id, type: 'text', text: 'secret' }, alice));
    await until('the target', () => h.messages.length === 1);
    assert.equal(h.messages[0]!.deleted, true);
    assert.equal(h.messages[0]!.text, undefined);
    await h.c.disconnect();
  });

  it('a received file: chunks out of order and twice, one under another key, assemble to the same bytes', async () => {
    const h = await joined();
    const bytes = randomBytes(100_000);
    const { file, chunks } = fileMessages({ id: generateMessageId(), ts: 1, name: 'alice', fileName: 'a.bin', bytes }, generateMessageId);
    const order = [chunks[3]!, chunks[1]!];
    for (const c of order) h.t.frame(frame(c, alice)); // before the file message: pending
    h.t.frame(frame(file, alice));
    h.t.frame(frame({ ...chunks[0]!, id: generateMessageId(), data: chunks[2]!.data!.slice(0, 40_000) }, bob)); // another key: ignored
    h.t.frame(frame({ ...chunks[1]!, id: generateMessageId() }, alice)); // a copy, same bytes: ignored
    h.t.frame(frame(chunks[2]!, alice));
    h.t.frame(frame(chunks[0]!, alice));
    const done = await until('the file', () => h.files.find((f) => f.state === 'complete'));
    assert.ok(done.state === 'complete');
    assert.ok(Buffer.from(done.bytes).equals(bytes));
    assert.equal(done.info.name, 'a.bin');
    assert.equal(done.fingerprint, fingerprint(alice.publicKey));
    assert.equal(h.messages.length, 1, 'only the file message is a timeline message');
    assert.equal(h.messages[0]!.file?.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(h.files.filter((f) => f.state === 'failed').length, 0);
    await h.c.disconnect();
  });

  it('a tampered chunk (signed by the sender, other bytes) makes the file fail; nothing of it is handed over', async () => {
    const h = await joined();
    const bytes = randomBytes(70_000);
    const { file, chunks } = fileMessages({ id: generateMessageId(), ts: 1, name: 'alice', fileName: 'a.bin', bytes }, generateMessageId);
    const flipped = Buffer.from(bytes.subarray(30_000, 60_000));
    flipped[5] = flipped[5]! ^ 1;
    h.t.frame(frame(file, alice));
    h.t.frame(frame(chunks[0]!, alice));
    h.t.frame(frame({ ...chunks[1]!, data: flipped.toString('base64url') }, alice));
    h.t.frame(frame(chunks[2]!, alice));
    const failed = await until('the failure', () => h.files.find((f) => f.state === 'failed'));
    assert.ok(failed.state === 'failed');
    assert.equal(failed.reason, 'hash_mismatch');
    // The honest copy of the part afterwards changes nothing: the file stays failed.
    h.t.frame(frame(chunks[1]!, alice));
    await flush();
    assert.equal(h.files.filter((f) => f.state === 'complete').length, 0);
    await h.c.disconnect();
  });

  it('sendFile: the file message, then its chunks paced (burst, then rate), progress as the relay acks, done once all are acked', async () => {
    const h = await joined({ chunkBurst: 5, chunkRate: 50 });
    const bytes = randomBytes(12 * 30_000 + 7);
    const out = h.c.sendFile(h.room, { name: 'notes.txt', mime: 'text/plain', bytes, text: 'the notes' });
    assert.equal(out.chunks, 13);
    assert.equal(out.message.file?.size, bytes.length);
    // At once: the file message and the burst, no more (the rest waits for tokens).
    const first = h.t.of('send');
    assert.equal(first.length, 6);
    assert.deepEqual(first.map((f) => openSend(f).type), ['file', ...Array<string>(5).fill('file-chunk')]);
    let acked = 0;
    const ackAll = (): void => {
      const sends = h.t.of('send');
      for (; acked < sends.length; acked++) {
        const f = sends[acked]!;
        h.t.frame({ t: 'ack', rid: f.rid, room: h.room, id: f.id, seq: 100 + acked, ts: 1 });
      }
    };
    ackAll();
    await until('every part sent', () => {
      ackAll();
      return h.t.of('send').length === 14;
    });
    ackAll();
    await out.done;
    const got = Buffer.concat(h.t.of('send').slice(1).map((f) => Buffer.from(String(openSend(f).data), 'base64url')));
    assert.ok(got.equals(bytes));
    assert.deepEqual(h.files.filter((f) => f.state === 'uploading').map((f) => f.state === 'uploading' && f.acked), [...Array(13).keys()].map((i) => i + 1));
    assert.equal(h.files.at(-1)!.state, 'uploaded');
    await h.c.disconnect();
  });

  it('sendFile refuses a file over 8 MiB, a hostile name and one the outbox cannot hold whole, queuing nothing', async () => {
    const h = await joined({ outboxBytes: 1_000_000 });
    const code = (f: Parameters<RelayClient['sendFile']>[1]): string => {
      try {
        h.c.sendFile(h.room, f);
      } catch (e) {
        return (e as ClientError).code;
      }
      return 'sent';
    };
    assert.equal(code({ name: 'big.bin', bytes: new Uint8Array(8 * 1024 * 1024 + 1) }), 'message_too_large');
    assert.equal(code({ name: '../../.bashrc', bytes: new Uint8Array(3) }), 'invalid_message');
    assert.equal(code({ name: 'a\u202Etxt.exe', bytes: new Uint8Array(3) }), 'invalid_message');
    assert.equal(code({ name: 'a.txt', mime: 'TEXT/HTML', bytes: new Uint8Array(3) }), 'invalid_message');
    assert.equal(code({ name: 'a.bin', bytes: new Uint8Array(30_000 * 30) }), 'outbox_full');
    assert.equal(h.c.pendingCount, 0);
    assert.equal(h.t.of('send').length, 0);
    assert.equal(code({ name: 'empty.txt', bytes: new Uint8Array(0) }), 'sent');
    await h.c.disconnect();
  });

  it('own file parts are not reported one by one as outgoing messages', async () => {
    const h = await joined();
    const outgoing: string[] = [];
    h.c.on('outgoing', (o) => outgoing.push(o.id));
    const out = h.c.sendFile(h.room, { name: 'a.bin', bytes: randomBytes(65_000) });
    assert.deepEqual([...new Set(outgoing)], [out.id]);
    await h.c.disconnect();
  });
});
