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
import type { FileEvent } from '../../src/core/client/types';
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

function member(port: number, roomId: string, id: Identity, name: string, group: MlsGroup, meta: PrivateMeta): Member {
  const refusals: string[] = [];
  const room = new PrivateRoom({
    room: roomId, name: 'team', host: '127.0.0.1', port, agent: 'test', transport: createTcpTransport, identity: id, displayName: name,
    group, meta, history: new HistoryStore(roomId, Buffer.alloc(32, 9), new MemoryHistoryLog()), save: () => Promise.resolve(),
    log: (event, fields) => {
      if (event === 'relay_error') refusals.push(String(fields?.code));
    },
  });
  const files: FileEvent[] = [];
  const features = new LocalFeatureRoom(roomId, room.fingerprint, room, { message: () => undefined, effects: () => undefined, file: (e) => files.push(e) });
  room.on('message', (m) => features.receive(m));
  room.on('outgoing', (o) => features.outgoing(o));
  room.on('renamed', (r) => features.renamed(r.from, r.to));
  return { room, features, files, refusals };
}

describe('an 8 MiB file in a private room through the real relay at its default rate (docs/protocol.md §1.7, §3.3)', function () {
  this.timeout(240_000);
  let relay: RelayProcess;
  const rooms: PrivateRoom[] = [];

  beforeEach(async () => {
    relay = await RelayProcess.start();
  });

  afterEach(async () => {
    for (const r of rooms.splice(0)) await r.disconnect();
    await relay.cleanup();
  });

  it('is paced below the rate: the relay refuses no send with rate_limited, and bob gets it byte-identical', async () => {
    const aliceId = generateIdentity();
    const created = await newPrivateRoom(aliceId);
    const alice = member(relay.port, created.room, aliceId, 'alice', created.group, created.meta);
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
    const bob = member(relay.port, created.room, bobId, 'bob', await MlsGroup.join(bobId, kp, welcome!), meta);
    rooms.push(bob.room);
    const bobSynced = new Promise<void>((resolve) => bob.room.once('synced', () => resolve()));
    bob.room.connect();
    await bobSynced;
    await until('both in epoch 1', () => alice.room.epoch === 1 && bob.room.epoch === 1 && !alice.room.committing, 30_000);

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
});
