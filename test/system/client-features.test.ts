// The chat features of issue 12 (docs/protocol.md §2.3.1-2.3.5) between RelayClients through a
// real relay process over TCP: an 8 MiB file byte-identical on the other side without a single
// rate_limited, the rest of a file sent by the next run after the process stopped midway (the
// outbox), a tampered chunk and a forged edit or delete sent by a malicious member refused by
// every receiver.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoomCipher, generateIdentity, generateMessageId, generateRoomKey, type Identity, type Payload } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import type { ChatMessage, EffectEvent, FileEvent, RelayClientOptions } from '../../src/core/client/index';
import { fileMessages } from '../../src/core/payload/index';
import { FileOutboxStore } from '../../src/node/fileStores';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { LineClient, RelayProcess, rememberRoomKey } from '../helpers/relayProcess';
import { until } from '../helpers/until';

class Peer {
  readonly client: RelayClient;
  readonly messages: ChatMessage[] = [];
  readonly effects: EffectEvent[] = [];
  readonly files: FileEvent[] = [];
  readonly relayErrors: string[] = [];
  synced = 0;

  constructor(relay: { port: number }, name: string, extra: Partial<RelayClientOptions> = {}, readonly identity: Identity = generateIdentity()) {
    this.client = new RelayClient({
      host: '127.0.0.1', port: relay.port, agent: 'smc-test/0', identity, displayName: name, transport: createTcpTransport,
      log: (event, fields) => {
        if (event === 'relay_error') this.relayErrors.push(String(fields?.code));
      },
      ...extra, tuning: { reconnectBaseMs: 20, reconnectMaxMs: 200, initialHistory: 1_000, ...extra.tuning },
    });
    this.client.on('message', (m) => this.messages.push(m));
    this.client.on('effects', (e) => this.effects.push(e));
    this.client.on('file', (f) => this.files.push(f));
    this.client.on('synced', () => this.synced++);
    this.client.on('error', () => undefined);
  }

  async joinAndSync(key: Buffer): Promise<string> {
    const before = this.synced;
    if (this.client.state === 'offline') this.client.connect();
    const { room } = this.client.join({ key, name: 'test' });
    await until('synced', () => this.synced > before);
    return room;
  }

  complete(file: string): Extract<FileEvent, { state: 'complete' }> | undefined {
    const f = this.files.find((e) => e.file === file && e.state === 'complete');
    return f?.state === 'complete' ? f : undefined;
  }
}

/** A member writing frames by hand (signed with its own identity): what a malicious client sends. */
async function rawMember(relay: RelayProcess, key: Buffer): Promise<{ send(p: Omit<Payload, 'ts'>, who: Identity): Promise<void>; close(): Promise<void> }> {
  const room = rememberRoomKey(key);
  const cipher = new RoomCipher(key);
  const { client } = await LineClient.open(relay.port);
  const joined = await client.request({ t: 'join', room });
  assert.equal(joined.t, 'joined');
  return {
    async send(p, who) {
      const ack = await client.request({ t: 'send', room, id: p.id, body: cipher.seal({ ...p, ts: Date.now() }, who) });
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
    },
    close: () => client.close(),
  };
}

describe('chat features through a real relay (issue 12)', function () {
  this.timeout(120_000);
  let relay: RelayProcess;
  const peers: Peer[] = [];
  const peer = (...args: ConstructorParameters<typeof Peer>): Peer => {
    const p = new Peer(...args);
    peers.push(p);
    return p;
  };
  const dirs: string[] = [];

  beforeEach(async () => {
    relay = await RelayProcess.start();
  });

  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.client.disconnect()));
    await relay.cleanup();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('an 8 MiB file arrives byte-identical, live and for a member who joins later; not one send is rate_limited', async () => {
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const bob = peer(relay, 'bob');
    const room = await alice.joinAndSync(key);
    await bob.joinAndSync(key);
    const bytes = randomBytes(8 * 1024 * 1024);
    const out = alice.client.sendFile(room, { name: 'big.bin', bytes, text: 'the dump' });
    assert.equal(out.chunks, 280);
    await out.done;
    const got = await until('bob has the file', () => bob.complete(out.id), 90_000);
    assert.ok(Buffer.from(got.bytes).equals(bytes));
    assert.equal(got.info.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.deepEqual(alice.relayErrors, [], 'no send was refused (rate_limited)');
    assert.equal(bob.messages.filter((m) => m.type === 'file').length, 1);
    assert.equal(bob.messages.length, 1, 'chunks are not timeline messages');

    const carol = peer(relay, 'carol');
    await carol.joinAndSync(key);
    const late = await until('carol has the file from history', () => carol.complete(out.id), 60_000);
    assert.ok(Buffer.from(late.bytes).equals(bytes));
  });

  it('a file whose sender stopped midway is finished by its next run (the outbox), and arrives whole', async () => {
    const key = generateRoomKey();
    const home = mkdtempSync(join(tmpdir(), 'smc-outbox-'));
    dirs.push(home);
    const me = generateIdentity();
    const bob = peer(relay, 'bob');
    await bob.joinAndSync(key);
    const first = new Peer(relay, 'alice', { outbox: new FileOutboxStore(home), tuning: { chunkBurst: 10, chunkRate: 20 } }, me);
    const room = await first.joinAndSync(key);
    const bytes = randomBytes(60 * 30_000 + 123);
    const out = first.client.sendFile(room, { name: 'half.bin', bytes });
    await until('some parts acked', () => first.files.some((f) => f.state === 'uploading' && f.acked >= 5));
    await first.client.disconnect();
    assert.equal(bob.complete(out.id), undefined, 'not all sent before the stop');
    const second = peer(relay, 'alice', { outbox: new FileOutboxStore(home) }, me);
    await second.joinAndSync(key);
    const got = await until('bob has the file', () => bob.complete(out.id), 60_000);
    assert.ok(Buffer.from(got.bytes).equals(bytes));
    assert.deepEqual(await second.client.drain(), { failed: 0 });
  });

  it('a tampered chunk signed by the sender makes the file fail at every receiver; a chunk under another key is ignored', async () => {
    const key = generateRoomKey();
    const bob = peer(relay, 'bob');
    await bob.joinAndSync(key);
    const mallory = generateIdentity();
    const eve = generateIdentity();
    const raw = await rawMember(relay, key);
    const bytes = randomBytes(90_000);
    const { file, chunks } = fileMessages({ id: generateMessageId(), ts: 1, name: 'mallory', fileName: 'x.bin', bytes }, generateMessageId);
    await raw.send(file, mallory);
    // Eve's chunk for mallory's file (other bytes): ignored, it cannot make the file fail.
    await raw.send({ ...chunks[0]!, id: generateMessageId(), data: randomBytes(30_000).toString('base64url') }, eve);
    await raw.send(chunks[0]!, mallory);
    const flipped = Buffer.from(bytes.subarray(30_000, 60_000));
    flipped[100] = flipped[100]! ^ 0x40;
    await raw.send({ ...chunks[1]!, data: flipped.toString('base64url') }, mallory);
    await raw.send(chunks[2]!, mallory);
    const failed = await until('the file fails', () => bob.files.find((f) => f.file === file.id && f.state === 'failed'));
    assert.ok(failed.state === 'failed' && failed.reason === 'hash_mismatch');
    assert.equal(bob.complete(file.id), undefined);
    // An honest file after it, with an impostor's chunk first: complete.
    const good = fileMessages({ id: generateMessageId(), ts: 1, name: 'mallory', fileName: 'y.bin', bytes }, generateMessageId);
    await raw.send(good.file, mallory);
    await raw.send({ ...good.chunks[1]!, id: generateMessageId(), data: flipped.toString('base64url') }, eve);
    for (const c of good.chunks) await raw.send(c, mallory);
    const ok = await until('the honest file', () => bob.complete(good.file.id));
    assert.ok(Buffer.from(ok.bytes).equals(bytes));
    await raw.close();
  });

  it('an edit or delete of alice\'s message by another member (under her name) is refused; hers apply; reactions toggle', async () => {
    const key = generateRoomKey();
    const alice = peer(relay, 'alice');
    const bob = peer(relay, 'bob');
    const room = await alice.joinAndSync(key);
    await bob.joinAndSync(key);
    const sent = alice.client.sendText(room, 'deploy at 5');
    await alice.client.drain();
    await until('bob has it', () => bob.messages.find((m) => m.id === sent.id));
    const raw = await rawMember(relay, key);
    const mallory = generateIdentity();
    await raw.send({ id: generateMessageId(), name: 'alice', type: 'edit', target: sent.id, text: 'deploy now' }, mallory);
    await raw.send({ id: generateMessageId(), name: 'alice', type: 'delete', target: sent.id }, mallory);
    await until('both refused at bob', () => bob.effects.filter((e) => e.change === 'refused' && e.why === 'not_the_sender').length === 2);
    assert.equal(bob.client.view(room, sent.id)?.text, 'deploy at 5');
    assert.equal(bob.client.view(room, sent.id)?.deleted, false);
    // Bob's own client will not even send one.
    assert.throws(() => bob.client.sendPayload(room, { type: 'edit', target: sent.id, text: 'x' }), /only its sender can edit/);
    alice.client.sendPayload(room, { type: 'edit', target: sent.id, text: 'deploy at 6' });
    bob.client.sendPayload(room, { type: 'reaction', target: sent.id, emoji: '👍' });
    bob.client.sendPayload(room, { type: 'reaction', target: sent.id, emoji: '👍' });
    bob.client.sendPayload(room, { type: 'reaction', target: sent.id, emoji: '🚀' });
    await alice.client.drain();
    await bob.client.drain();
    await until('bob sees the edit', () => bob.client.view(room, sent.id)?.text === 'deploy at 6');
    // 👍 twice is off again (parity, §2.3.3): alice sees bob's three reactions, and only 🚀 on.
    await until('alice has bob\'s three reactions', () => alice.effects.filter((e) => e.effect.type === 'reaction').length === 3);
    assert.deepEqual(alice.client.view(room, sent.id)?.reactions, [{ emoji: '🚀', signers: [bob.client.fingerprint] }]);
    alice.client.sendPayload(room, { type: 'delete', target: sent.id });
    await alice.client.drain();
    await until('bob sees the delete', () => bob.client.view(room, sent.id)?.deleted === true);
    assert.equal(bob.client.view(room, sent.id)?.text, undefined);
    // A member who joins now sees it deleted (the catch-up comes oldest first: the message, then
    // its delete, which a printer waits for until synced), never its text.
    const carol = peer(relay, 'carol');
    await carol.joinAndSync(key);
    assert.equal(carol.client.view(room, sent.id)?.deleted, true);
    assert.equal(carol.client.view(room, sent.id)?.text, undefined);
    assert.ok(carol.effects.some((e) => e.target === sent.id && e.change === 'deleted'));
    await raw.close();
  });
});
