// Fills a room with many real, signed and encrypted messages (PROTOCOL.md §1.5, §2.3-2.4),
// quickly, for the "panel on a room with 10 000 messages" measurement. A relay limits sends
// per connection (§1.7: 100/s, burst 200), so the messages are spread over connections of at
// most `perConnection` sends each, all within the burst: no rate limit is hit and no relay
// option has to change.
import { RoomCipher, generateIdentity, generateMessageId, type Identity } from '../../src/core/crypto';
import { LineClient, type Frame } from '../helpers/lineClient';

/** How long a seeding connection waits for one reply (the machine may be busy). */
const REPLY_MS = 60_000;

async function seedOne(host: string, port: number, cipher: RoomCipher, identity: Identity, name: string, first: number, count: number): Promise<void> {
  const c = await LineClient.connect(port, host);
  try {
    c.send({ t: 'hello', v: 2, agent: 'smc-e2e-seed/1' });
    const welcome = await c.next((f) => f.t === 'welcome', REPLY_MS);
    // §1.9: the join proves membership for this connection's challenge.
    c.send({ t: 'join', rid: 1, room: cipher.room, since: 0, limit: 1, ...cipher.joinProof(String(welcome.challenge)) });
    await c.next((f) => f.t === 'synced' && f.rid === 1, REPLY_MS);
    const acks: Promise<Frame>[] = [];
    for (let i = 0; i < count; i++) {
      const id = generateMessageId();
      const body = cipher.seal({ id, ts: Date.now(), name, type: 'text', text: `Seeded message ${first + i + 1}` }, identity);
      const rid = 10 + i;
      acks.push(c.next((f) => f.t === 'ack' && f.rid === rid, REPLY_MS));
      c.send({ t: 'send', rid, room: cipher.room, id, body });
    }
    await Promise.all(acks);
  } finally {
    void c.close();
  }
}

/**
 * Sends prepared envelopes into the room of `cipher` as a plain client would (hello, join with
 * its proof, send, ack): for
 * messages the panel must mark, such as a body sealed with another key or a known name
 * signed by a new identity.
 */
export async function sendEnvelopes(host: string, port: number, cipher: RoomCipher, envelopes: { id: string; body: string }[]): Promise<void> {
  const room = cipher.room;
  const c = await LineClient.connect(port, host);
  try {
    c.send({ t: 'hello', v: 2, agent: 'smc-e2e-forger/1' });
    const welcome = await c.next((f) => f.t === 'welcome', REPLY_MS);
    // A member's connection (it holds the key, §1.9) storing envelopes the panel must mark.
    c.send({ t: 'join', rid: 1, room, since: 0, limit: 1, ...cipher.joinProof(String(welcome.challenge)) });
    await c.next((f) => f.t === 'synced' && f.rid === 1, REPLY_MS);
    const acks = envelopes.map((e, i) => {
      const rid = 10 + i;
      const ack = c.next((f) => f.t === 'ack' && f.rid === rid, REPLY_MS);
      c.send({ t: 'send', rid, room, id: e.id, body: e.body });
      return ack;
    });
    await Promise.all(acks);
  } finally {
    void c.close();
  }
}

/** Stores `total` text messages from one sender in the room of `key`; resolves once all are acked. */
export async function seedRoom(host: string, port: number, key: Uint8Array, total: number, name = 'Seeder', perConnection = 100, parallel = 8): Promise<void> {
  const cipher = new RoomCipher(key);
  const identity = generateIdentity();
  const batches: [number, number][] = [];
  for (let first = 0; first < total; first += perConnection) batches.push([first, Math.min(perConnection, total - first)]);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const [first, count] = batches[next++]!;
      await seedOne(host, port, cipher, identity, name, first, count);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}
