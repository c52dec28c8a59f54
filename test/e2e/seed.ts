// Fills a room with many real, signed and encrypted messages (PROTOCOL.md §1.5, §2.3-2.4),
// quickly, for the "panel on a room with 10 000 messages" measurement. A relay limits sends
// per connection (§1.7: 100/s, burst 200), so the messages are spread over connections of at
// most `perConnection` sends each, all within the burst: no rate limit is hit and no relay
// option has to change.
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { RoomCipher, generateIdentity, generateMessageId, type Identity } from '../../src/core/crypto';

interface Frame { t: string; [k: string]: unknown }

class LineConnection {
  private readonly waiters: { pred: (f: Frame) => boolean; res: (f: Frame) => void }[] = [];
  private failure: Error | undefined;
  private constructor(private readonly sock: Socket) {
    createInterface({ input: sock }).on('line', (line) => {
      const f = JSON.parse(line) as Frame;
      if (f.t === 'error') this.failure = new Error(`relay error ${String(f.code)}: ${String(f.message)}`);
      for (let i = 0; i < this.waiters.length; i++) {
        const w = this.waiters[i]!;
        if (w.pred(f)) {
          this.waiters.splice(i, 1);
          w.res(f);
          break;
        }
      }
    });
    sock.on('error', (e) => (this.failure = e));
  }

  static open(host: string, port: number): Promise<LineConnection> {
    return new Promise((res, rej) => {
      const sock = connect({ host, port }, () => res(new LineConnection(sock)));
      sock.once('error', rej);
    });
  }

  send(f: Record<string, unknown>): void {
    this.sock.write(`${JSON.stringify(f)}\n`);
  }

  next(pred: (f: Frame) => boolean, what: string, timeoutMs = 60_000): Promise<Frame> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(this.failure ?? new Error(`no ${what} from the relay within ${timeoutMs / 1000}s`)), timeoutMs);
      this.waiters.push({ pred, res: (f) => (clearTimeout(timer), res(f)) });
    });
  }

  close(): void {
    this.sock.end();
  }
}

async function seedOne(host: string, port: number, cipher: RoomCipher, identity: Identity, name: string, first: number, count: number): Promise<void> {
  const c = await LineConnection.open(host, port);
  try {
    c.send({ t: 'hello', v: 2, agent: 'smc-e2e-seed/1' });
    const welcome = await c.next((f) => f.t === 'welcome', 'welcome');
    // §1.9: the join proves membership for this connection's challenge.
    c.send({ t: 'join', rid: 1, room: cipher.room, since: 0, limit: 1, ...cipher.joinProof(String(welcome.challenge)) });
    await c.next((f) => f.t === 'synced' && f.rid === 1, 'synced');
    const acks: Promise<Frame>[] = [];
    for (let i = 0; i < count; i++) {
      const id = generateMessageId();
      const body = cipher.seal({ id, ts: Date.now(), name, type: 'text', text: `Seeded message ${first + i + 1}` }, identity);
      const rid = 10 + i;
      acks.push(c.next((f) => f.t === 'ack' && f.rid === rid, `ack ${rid}`));
      c.send({ t: 'send', rid, room: cipher.room, id, body });
    }
    await Promise.all(acks);
  } finally {
    c.close();
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
  const c = await LineConnection.open(host, port);
  try {
    c.send({ t: 'hello', v: 2, agent: 'smc-e2e-forger/1' });
    const welcome = await c.next((f) => f.t === 'welcome', 'welcome');
    // A member's connection (it holds the key, §1.9) storing envelopes the panel must mark.
    c.send({ t: 'join', rid: 1, room, since: 0, limit: 1, ...cipher.joinProof(String(welcome.challenge)) });
    await c.next((f) => f.t === 'synced' && f.rid === 1, 'synced');
    const acks = envelopes.map((e, i) => {
      const rid = 10 + i;
      const ack = c.next((f) => f.t === 'ack' && f.rid === rid, `ack ${rid}`);
      c.send({ t: 'send', rid, room, id: e.id, body: e.body });
      return ack;
    });
    await Promise.all(acks);
  } finally {
    c.close();
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
