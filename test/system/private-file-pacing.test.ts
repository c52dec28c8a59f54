// An 8 MiB file in a private room (docs/protocol.md §2.3.5, §3.3) through a real relay process
// at its default limits (§1.7: 100 sends a second, burst 200, per connection): the room paces
// its sends below that rate as link rooms pace chunks (src/core/client/tokenBucket.ts), so the
// relay refuses none with rate_limited, and the file arrives byte-identical. In-process
// PrivateRoom clients over real TCP on 127.0.0.1. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { createKeyPackage, MlsGroup } from '../../src/core/mls';
import { HistoryStore, MemoryHistoryLog, PrivateRoom, freshMeta, newPrivateRoom, type PrivateMeta } from '../../src/core/private';
import { LocalFeatureRoom } from '../../src/core/private/featureRoom';
import type { ClientTuning, FileEvent } from '../../src/core/client/types';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { RelayProcess } from '../helpers/relayProcess';
import { until } from '../helpers/until';

interface Member {
  room: PrivateRoom;
  features: LocalFeatureRoom;
  files: FileEvent[];
  /** The relay's refusals this member got, by code (its `relay_error` log). */
  refusals: string[];
}

function member(port: number, roomId: string, id: Identity, name: string, group: MlsGroup, meta: PrivateMeta, tuning: Partial<ClientTuning>): Member {
  const refusals: string[] = [];
  const room = new PrivateRoom({
    room: roomId, name: 'team', host: '127.0.0.1', port, agent: 'test', transport: createTcpTransport, identity: id, displayName: name,
    group, meta, history: new HistoryStore(roomId, Buffer.alloc(32, 9), new MemoryHistoryLog()), save: () => Promise.resolve(),
    log: (event, fields) => {
      if (event === 'relay_error') refusals.push(String(fields?.code));
    },
    tuning,
  });
  const files: FileEvent[] = [];
  const features = new LocalFeatureRoom(roomId, room.fingerprint, room, { message: () => undefined, effects: () => undefined, file: (e) => files.push(e) });
  room.on('message', (m) => features.receive(m));
  room.on('outgoing', (o) => features.outgoing(o));
  room.on('renamed', (r) => features.renamed(r.from, r.to));
  return { room, features, files, refusals };
}

/** alice's new room, bob added from her Welcome (as the lobby desk would), both in epoch 1. */
async function pair(port: number, tuning: Partial<ClientTuning>, rooms: PrivateRoom[]): Promise<{ alice: Member; bob: Member }> {
    const aliceId = generateIdentity();
    const created = await newPrivateRoom(aliceId);
    const alice = member(port, created.room, aliceId, 'alice', created.group, created.meta, tuning);
    rooms.push(alice.room);
    alice.room.connect();
    await until('alice synced', () => alice.room.state === 'connected' && alice.room.applied >= 0 && !alice.room.committing, 30_000);
    const bobId = generateIdentity();
    const kp = await createKeyPackage(bobId);
    const committed = new Promise<{ seq: number; welcome: Uint8Array | undefined }>((resolve) => alice.room.once('committed', (e) => resolve(e)));
    alice.room.add(kp.publicBytes);
    const { seq, welcome } = await committed;
    const meta = freshMeta(Date.now());
    meta.applied = seq;
    const bob = member(port, created.room, bobId, 'bob', await MlsGroup.join(bobId, kp, welcome!), meta, tuning);
    rooms.push(bob.room);
    const bobSynced = new Promise<void>((resolve) => bob.room.once('synced', () => resolve()));
    bob.room.connect();
    await bobSynced;
    await until('both in epoch 1', () => alice.room.epoch === 1 && bob.room.epoch === 1 && !alice.room.committing, 30_000);

  return { alice, bob };
}

describe('an 8 MiB file in a private room through the real relay at its default rate (docs/protocol.md §1.7, §3.3)', function () {
  this.timeout(240_000);
  let relay: RelayProcess;
  const rooms: PrivateRoom[] = [];

  beforeEach(async function () {
    // The second case's relay takes 10 sends a second (burst 10): far below a file's pace.
    relay = await RelayProcess.start(this.currentTest?.title.includes('refused') === true ? { args: ['--rate', '10', '--burst', '10'] } : {});
  });

  afterEach(async () => {
    for (const r of rooms.splice(0)) await r.disconnect();
    await relay.cleanup();
  });

  it('is paced below the rate: the relay refuses no send with rate_limited, and bob gets it byte-identical', async () => {
    const { alice, bob } = await pair(relay.port, {}, rooms);
    const bytes = randomBytes(8 * 1024 * 1024);
    const sent = alice.features.sendFile({ name: 'big.bin', bytes });
    assert.equal(sent.chunks, 280);
    const done = await until('bob has the file whole', () => bob.files.find((f) => f.state === 'complete' || f.state === 'failed'), 180_000);
    assert.equal(done.state, 'complete', JSON.stringify(done));
    const complete = done as Extract<FileEvent, { state: 'complete' }>;
    assert.equal(createHash('sha256').update(complete.bytes).digest('hex'), createHash('sha256').update(bytes).digest('hex'));
    await sent.done;
    await alice.room.drain();
    assert.deepEqual(alice.refusals.filter((c) => c === 'rate_limited'), [], `the relay refused ${alice.refusals.filter((c) => c === 'rate_limited').length} of alice's sends with rate_limited`);
    assert.deepEqual(alice.refusals, []);
  });

  it('sends the relay refused (rate_limited, retried) are sealed again: stored out of order, they would fall out of the MLS window, lost for every member', async () => {
    // Unpaced (chunkRate 0), a file of 40 chunks meets rate_limited at once: what the relay
    // stores of it after the refused ones must not leave those ten generations behind (§3.3).
    const { alice, bob } = await pair(relay.port, { chunkRate: 0 }, rooms);
    const bytes = randomBytes(40 * 30_000);
    const sent = alice.features.sendFile({ name: 'refused.bin', bytes });
    const done = await until('bob has the file whole', () => bob.files.find((f) => f.state === 'complete' || f.state === 'failed'), 180_000);
    assert.equal(done.state, 'complete', JSON.stringify(done));
    assert.ok(Buffer.from((done as Extract<FileEvent, { state: 'complete' }>).bytes).equals(bytes));
    await sent.done;
    assert.ok(alice.refusals.filter((c) => c === 'rate_limited').length > 0, 'the relay refused some (the case this tests)');
  });
});
