// Signature verification on worker threads (src/node/verifyPool.ts) and its use by RelayClient
// for a join's catch-up: the pool must decide exactly as the in-thread path (RoomCipher.open)
// for valid envelopes and every kind of tampered one, also mixed in one batch; its workers stop
// on close(); a worker that crashes hands its work back to this thread; and a client verifying
// on workers shows the same messages, unverifiable entries and key changes, in the same order,
// as one opening every message as it arrives, with live messages after the catch-up.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RoomCipher, encodeB64u, generateIdentity, generateMessageId, generateRoomKey, inThreadVerifier, verifySignature,
} from '../../src/core/crypto/index';
import type { Identity, OpenResult, SignatureItem, SignatureVerifier } from '../../src/core/crypto/index';
import { envelopeAad, signedBytes } from '../../src/core/crypto/envelope';
import { aesGcmSeal, ed25519PrivateKey, ed25519Sign, secureRandom } from '../../src/core/crypto/primitives';
import { deriveMessageKey } from '../../src/core/crypto/roomKey';
import { encodePayload } from '../../src/core/crypto/payload';
import { RelayClient } from '../../src/core/client/index';
import type { Transport, TransportEvents } from '../../src/core/client/index';
import { PROTOCOL_VERSION } from '../../src/core/wire/frames';
import { WorkerSignatureVerifier } from '../../src/node/verifyPool';
import { packSignatures, unpackSignatures } from '../../src/node/signatureBatch';

interface Envelope {
  kind: string;
  id: string;
  body: string;
}

/** Builds bodies the way sealEnvelope does, with one part of §2.3-2.4 broken on purpose. */
class EnvelopeFactory {
  readonly cipher: RoomCipher;
  private readonly mkey: Buffer;

  constructor(key: Buffer) {
    this.cipher = new RoomCipher(key);
    this.mkey = deriveMessageKey(key);
  }

  valid(identity: Identity, text: string): Envelope {
    const id = generateMessageId();
    return { kind: 'valid', id, body: this.cipher.seal({ id, ts: 1_700_000_000_000, name: 'alice', type: 'text', text }, identity) };
  }

  /** M = sig || pub || P, with the signature over `signedP` in `signedRoom`, sealed under `id`. */
  raw(kind: string, opts: { identity: Identity; id?: string; payloadId?: string; p?: Buffer; signedP?: Buffer; signedRoom?: string; pub?: Buffer; flipSig?: boolean }): Envelope {
    const id = opts.id ?? generateMessageId();
    const p = opts.p ?? encodePayload({ id: opts.payloadId ?? id, ts: 1_700_000_000_000, name: 'mallory', type: 'text', text: kind });
    const sig = ed25519Sign(ed25519PrivateKey(opts.identity.seed), signedBytes(opts.signedRoom ?? this.cipher.room, opts.signedP ?? p));
    if (opts.flipSig === true) sig[10]! ^= 0x01;
    const m = Buffer.concat([sig, opts.pub ?? opts.identity.publicKey, p]);
    const nonce = secureRandom(12);
    const sealed = aesGcmSeal(this.mkey, nonce, envelopeAad(this.cipher.room, id), m);
    return { kind, id, body: encodeB64u(Buffer.concat([Buffer.from([1]), nonce, sealed])) };
  }

  /** One envelope of every kind: valid, and each step of §2.4 failing in its own way. */
  allKinds(alice: Identity, bob: Identity): Envelope[] {
    const valid = this.valid(alice, 'hello');
    const bytes = Buffer.from(valid.body, 'base64url');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 20]! ^= 0x01;
    const version = Buffer.from(bytes);
    version[0] = 2;
    const other = new RoomCipher(generateRoomKey());
    const foreignId = generateMessageId();
    const signedP = encodePayload({ id: 'x', ts: 1, name: 'a', type: 'text', text: 'signed' });
    return [
      valid,
      this.valid(bob, 'from bob'),
      { kind: 'step1: not b64u', id: generateMessageId(), body: '!!!!' },
      { kind: 'step1: too short', id: generateMessageId(), body: encodeB64u(bytes.subarray(0, 50)) },
      { kind: 'step1: version', id: valid.id, body: encodeB64u(version) },
      { kind: 'step2: altered ciphertext', id: valid.id, body: encodeB64u(flipped) },
      { kind: 'step2: other id in the aad', id: generateMessageId(), body: valid.body },
      { kind: 'step2: other room key', id: foreignId, body: other.seal({ id: foreignId, ts: 1, name: 'x', type: 'text', text: 'x' }, alice) },
      { kind: 'wire id malformed', id: 'short', body: valid.body },
      this.raw('step3: flipped signature bit', { identity: alice, flipSig: true }),
      this.raw('step3: signed for another room', { identity: alice, signedRoom: other.room }),
      this.raw('step3: signature over other bytes', { identity: alice, signedP }),
      this.raw('step3: another sender key', { identity: alice, pub: bob.publicKey }),
      this.raw('step3: non-canonical key', { identity: alice, pub: Buffer.alloc(32, 0xff) }),
      this.raw('step4: payload id differs', { identity: alice, payloadId: generateMessageId() }),
      this.raw('step4: payload not JSON', { identity: alice, p: Buffer.from('not json at all', 'utf8') }),
      this.raw('step4: payload without name', { identity: alice, p: Buffer.from('{"id":"x","ts":1,"type":"text","text":"a"}', 'utf8') }),
    ];
  }
}

/** §2.4 through a SignatureVerifier, as RelayClient does it for a catch-up batch. */
async function openThrough(verifier: SignatureVerifier, cipher: RoomCipher, envs: readonly Envelope[]): Promise<OpenResult[]> {
  const prepared = envs.map((e) => cipher.prepareOpen(e.id, e.body));
  const items: SignatureItem[] = [];
  for (const p of prepared) if (p.ok) items.push(p.item);
  const valid = await verifier.verifyBatch(items);
  assert.equal(valid.length, items.length);
  let i = 0;
  return prepared.map((p) => (p.ok ? cipher.finishOpen(p, valid[i++]!) : p));
}

/** A deterministic shuffle (no Math.random): sorted by a keyed hash of the position. */
function mixed<T>(xs: readonly T[], rounds: number): T[] {
  const out: T[] = [];
  for (let r = 0; r < rounds; r++) for (let i = 0; i < xs.length; i++) out.push(xs[(i * 7 + r * 3) % xs.length]!);
  return out;
}

describe('WorkerSignatureVerifier (signature checks on worker threads)', function () {
  this.timeout(20_000);
  const alice = generateIdentity();
  const bob = generateIdentity();
  const factory = new EnvelopeFactory(generateRoomKey());
  const kinds = factory.allKinds(alice, bob);
  let pool: WorkerSignatureVerifier;
  let dir: string;

  beforeEach(() => {
    pool = new WorkerSignatureVerifier({ size: 2, minBatch: 4 });
    dir = mkdtempSync(join(tmpdir(), 'smc-verify-pool-'));
  });

  afterEach(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes every tampered kind fail at the step it breaks, valid ones open (sanity of the fixtures)', () => {
    for (const e of kinds) {
      const r = factory.cipher.open(e.id, e.body);
      assert.equal(r.ok, e.kind === 'valid', `${e.kind}: ${r.ok ? 'opened' : r.reason}`);
    }
    const reasons = kinds.map((e) => factory.cipher.open(e.id, e.body)).flatMap((r) => (r.ok ? [] : [r.reason]));
    assert.ok(reasons.includes('signature does not verify'));
    assert.ok(reasons.includes('payload id differs from the wire id'));
  });

  it('decides each kind of envelope exactly as RoomCipher.open, reason included, one kind per batch', async () => {
    for (const e of kinds) {
      const batch = Array.from({ length: 8 }, () => e);
      const expected = batch.map((x) => factory.cipher.open(x.id, x.body));
      assert.deepEqual(await openThrough(pool, factory.cipher, batch), expected, e.kind);
    }
  });

  it('decides a batch mixing every kind exactly as RoomCipher.open, in order, on worker threads', async () => {
    const batch = mixed(kinds, 12);
    const expected = batch.map((x) => factory.cipher.open(x.id, x.body));
    const got = await openThrough(pool, factory.cipher, batch);
    assert.ok(pool.threads > 0, 'the batch went to workers');
    assert.deepEqual(got, expected);
    assert.ok(got.some((r) => r.ok) && got.some((r) => !r.ok));
  });

  it('verifies small batches in this thread without starting a worker', async () => {
    const small = new WorkerSignatureVerifier({ size: 2, minBatch: 64 });
    const batch = mixed(kinds, 2);
    assert.deepEqual(await openThrough(small, factory.cipher, batch), batch.map((x) => factory.cipher.open(x.id, x.body)));
    assert.equal(small.threads, 0);
    await small.close();
  });

  it('stops its workers on close() and starts them again for the next big batch', async () => {
    const batch = mixed(kinds, 8);
    const expected = batch.map((x) => factory.cipher.open(x.id, x.body));
    assert.deepEqual(await openThrough(pool, factory.cipher, batch), expected);
    assert.equal(pool.threads, 2);
    await pool.close();
    assert.equal(pool.threads, 0);
    assert.deepEqual(await openThrough(pool, factory.cipher, batch), expected);
    assert.equal(pool.threads, 2);
  });

  it('starts its workers on warm() and stops them once idle, without close()', async () => {
    const idle = new WorkerSignatureVerifier({ size: 2, minBatch: 4, idleMs: 20 });
    idle.warm();
    assert.equal(idle.threads, 2);
    for (let i = 0; i < 500 && idle.threads > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(idle.threads, 0);
    await idle.close();
  });

  it('falls back to in-thread verification when a worker crashes on a job, losing nothing', async () => {
    const crashing = join(dir, 'crash.js');
    writeFileSync(crashing, "require('node:worker_threads').parentPort.on('message', () => { throw new Error('boom'); });\n");
    const logs: string[] = [];
    const broken = new WorkerSignatureVerifier({ size: 2, minBatch: 4, workerPath: crashing, log: (e) => logs.push(e) });
    const batch = mixed(kinds, 8);
    assert.deepEqual(await openThrough(broken, factory.cipher, batch), batch.map((x) => factory.cipher.open(x.id, x.body)));
    assert.ok(logs.includes('verify_worker_failed'));
    assert.equal(broken.threads, 0);
    // Enough failures stop the workers for good; batches still verify.
    assert.deepEqual(await openThrough(broken, factory.cipher, batch), batch.map((x) => factory.cipher.open(x.id, x.body)));
    assert.deepEqual(await openThrough(broken, factory.cipher, batch), batch.map((x) => factory.cipher.open(x.id, x.body)));
    await broken.close();
  });

  it('falls back to in-thread verification when a worker exits before answering or its script is missing', async () => {
    const exiting = join(dir, 'exit.js');
    writeFileSync(exiting, 'process.exit(3);\n');
    const batch = mixed(kinds, 8);
    const expected = batch.map((x) => factory.cipher.open(x.id, x.body));
    const exits = new WorkerSignatureVerifier({ size: 1, minBatch: 4, workerPath: exiting });
    assert.deepEqual(await openThrough(exits, factory.cipher, batch), expected);
    await exits.close();
    const missing = new WorkerSignatureVerifier({ size: 2, minBatch: 4, workerPath: join(dir, 'absent.js') });
    assert.deepEqual(await openThrough(missing, factory.cipher, batch), expected);
    assert.equal(missing.threads, 0);
    await missing.close();
  });

  it('packs and unpacks a batch without changing a byte, and refuses a truncated one', () => {
    const items: SignatureItem[] = [
      { sig: secureRandom(64), pub: secureRandom(32), signed: secureRandom(100) },
      { sig: secureRandom(64), pub: secureRandom(32), signed: Buffer.alloc(0) },
    ];
    const packed = packSignatures(items);
    assert.deepEqual(unpackSignatures(packed).map((it) => [Buffer.from(it.sig), Buffer.from(it.pub), Buffer.from(it.signed)]), items.map((it) => [it.sig, it.pub, it.signed]));
    assert.throws(() => unpackSignatures(packed.subarray(0, packed.length - 1)), /truncated/);
    assert.throws(() => packSignatures([{ sig: secureRandom(63), pub: secureRandom(32), signed: secureRandom(1) }]), RangeError);
    assert.equal(verifySignature({ sig: secureRandom(63), pub: alice.publicKey, signed: secureRandom(1) }), false);
  });
});

/** A transport the test drives: it records the client's frames and hands it the relay's. */
class ScriptedTransport implements Transport {
  readonly sent: Record<string, unknown>[] = [];
  private readonly listeners: { [E in keyof TransportEvents]: ((...args: TransportEvents[E]) => void)[] } = { open: [], line: [], close: [] };
  private closed = false;

  write(line: string): void {
    if (!this.closed) this.sent.push(JSON.parse(line) as Record<string, unknown>);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.listeners.close) l();
  }

  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): void {
    this.listeners[event].push(listener);
  }

  open(): void {
    for (const l of this.listeners.open) l();
  }

  frame(f: Record<string, unknown>): void {
    for (const l of this.listeners.line) l(JSON.stringify(f));
  }
}

/** A verifier that answers only when released: a catch-up still at the workers. */
class HeldVerifier implements SignatureVerifier {
  batches = 0;
  closed = 0;
  private readonly held: (() => void)[] = [];

  constructor(private readonly answer: (items: readonly SignatureItem[]) => Promise<boolean[]>) {}

  verifyBatch(items: readonly SignatureItem[]): Promise<boolean[]> {
    this.batches++;
    return new Promise((resolve, reject) => this.held.push(() => void this.answer(items).then(resolve, reject)));
  }

  release(): void {
    for (const r of this.held.splice(0)) r();
  }

  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

describe('RelayClient with a SignatureVerifier for its catch-up', function () {
  this.timeout(20_000);
  const key = generateRoomKey();
  const factory = new EnvelopeFactory(key);
  const alice = generateIdentity();
  const bob = generateIdentity();
  const carolOld = generateIdentity();
  const carolNew = generateIdentity();
  const HISTORY = 300;

  // 300 stored messages: valid ones from four keys (carol changes hers halfway) and every
  // tampered kind sprinkled in; then one live message after the catch-up.
  const stored: Envelope[] = [];
  const tampered = factory.allKinds(alice, bob).filter((e) => e.kind !== 'valid');
  for (let seq = 1; seq <= HISTORY; seq++) {
    if (seq % 23 === 0) stored.push(tampered[(seq / 23) % tampered.length]!);
    else {
      const who = [alice, bob, seq < 150 ? carolOld : carolNew][seq % 3]!;
      const name = who === alice ? 'alice' : who === bob ? 'bob' : 'carol';
      const id = generateMessageId();
      stored.push({ kind: 'valid', id, body: factory.cipher.seal({ id, ts: 1_700_000_000_000 + seq, name, type: 'text', text: `m${seq}` }, who) });
    }
  }
  const liveId = generateMessageId();
  const live: Envelope = { kind: 'valid', id: liveId, body: factory.cipher.seal({ id: liveId, ts: 1, name: 'bob', type: 'text', text: 'live' }, bob) };

  /** Runs a fresh join of the room; `duringWait` runs after `synced` was sent by the relay. */
  async function run(verifier: SignatureVerifier | undefined, duringWait: (send: () => void, events: readonly string[]) => Promise<void>): Promise<{ events: string[]; client: RelayClient }> {
    const t = new ScriptedTransport();
    const client = new RelayClient({
      host: '127.0.0.1', port: 1, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'me',
      transport: () => t, tuning: { initialHistory: 1_000 }, ...(verifier !== undefined ? { verifier } : {}),
    });
    const events: string[] = [];
    client.on('message', (m) => events.push(`msg ${m.seq} ${m.name} ${m.text} ${m.keyChanged ? 'changed' : ''} ${m.history ? 'history' : 'live'}`));
    client.on('unverifiable', (u) => events.push(`unverifiable ${u.seq} ${u.id}`));
    client.on('synced', (s) => events.push(`synced ${s.head} ${s.lastSeq} ${s.more}`));
    client.on('error', () => undefined);
    const { room } = client.join({ key, name: 'r' });
    client.connect();
    t.open();
    t.frame({ t: 'welcome', v: PROTOCOL_VERSION, agent: 'relay', maxFrame: 65_536, time: 0, challenge: 'A'.repeat(43) });
    const join = t.sent.find((f) => f.t === 'join')!;
    t.frame({ t: 'joined', rid: join.rid, room, head: HISTORY, sid: 's1' });
    stored.forEach((e, i) => t.frame({ t: 'msg', room, seq: i + 1, ts: i, id: e.id, body: e.body }));
    t.frame({ t: 'synced', rid: join.rid, room, head: HISTORY, from: 1 });
    await duringWait(() => t.frame({ t: 'msg', room, seq: HISTORY + 1, ts: 0, id: live.id, body: live.body }), events);
    return { events, client };
  }

  let expected: string[];

  before(async () => {
    const { events, client } = await run(undefined, (send) => Promise.resolve(send()));
    expected = events;
    await client.disconnect();
    assert.equal(expected.length, HISTORY + 2);
    assert.equal(expected[HISTORY], `synced ${HISTORY} ${HISTORY} false`);
    assert.ok(expected.some((e) => e.includes(' carol ') && e.includes('changed')));
    assert.equal(expected.filter((e) => e.startsWith('unverifiable')).length, Math.floor(HISTORY / 23));
  });

  it('holds a live message that arrives while the catch-up is at the verifier until after it', async () => {
    const held = new HeldVerifier((items) => inThreadVerifier.verifyBatch(items));
    const { events, client } = await run(held, async (send, shown) => {
      await new Promise((r) => setImmediate(r));
      assert.equal(held.batches, 1, 'one full chunk went to the verifier');
      assert.deepEqual(shown, [], 'nothing is shown before the signatures are checked');
      send();
      assert.deepEqual(shown, [], 'the live message waits for the catch-up');
      held.release();
      for (let i = 0; i < 10 && shown.length < expected.length; i++) await new Promise((r) => setImmediate(r));
    });
    assert.deepEqual(events, expected);
    await client.disconnect();
    assert.equal(held.closed, 1, 'disconnect closes the verifier');
  });

  it('shows the same catch-up with the worker pool as without any verifier', async () => {
    const pool = new WorkerSignatureVerifier({ size: 2 });
    const { events, client } = await run(pool, async (send, shown) => {
      send();
      for (let i = 0; i < 500 && shown.length < expected.length; i++) await new Promise((r) => setTimeout(r, 5));
    });
    assert.deepEqual(events, expected);
    await client.disconnect();
    assert.equal(pool.threads, 0, 'disconnect stopped the workers');
  });

  it('verifies in its own thread when the verifier fails or miscounts, losing nothing', async () => {
    for (const answer of [
      (): Promise<boolean[]> => Promise.reject(new Error('pool gone')),
      (items: readonly SignatureItem[]): Promise<boolean[]> => Promise.resolve(items.slice(1).map(() => true)),
    ]) {
      const held = new HeldVerifier(answer);
      const { events, client } = await run(held, async (send, shown) => {
        send();
        held.release();
        for (let i = 0; i < 10 && shown.length < expected.length; i++) await new Promise((r) => setImmediate(r));
      });
      assert.deepEqual(events, expected);
      await client.disconnect();
    }
  });
});
