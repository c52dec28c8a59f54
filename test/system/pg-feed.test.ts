// The feed of the PostgreSQL cluster store: every relay (store instance) watching a room gets
// every stored message of it, its own and other relays', exactly once and in seq order —
// including messages whose doorbell (NOTIFY) it missed: a relay that crashed between its COMMIT
// and its NOTIFY, and a listener connection that was killed. Against a real PostgreSQL.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { postgresPerTest } from '../helpers/postgres';
import { PgStore, type PgStoreOptions } from '../../src/relay/store/pg/pgStore';
import type { FeedMessage } from '../../src/relay/store/pg/types';
import { until } from '../helpers/until';

const key = (): string => randomBytes(16).toString('base64url');

/** What one relay's feed delivered, per room. */
class Recorder {
  readonly byRoom = new Map<string, Array<FeedMessage<string>>>();
  constructor(store: PgStore<string>) {
    store.on('message', (m) => {
      let list = this.byRoom.get(m.room);
      if (!list) this.byRoom.set(m.room, (list = []));
      list.push(m);
    });
  }
  seqs(room: string): number[] {
    return (this.byRoom.get(room) ?? []).map((m) => m.seq);
  }
}

const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('PostgreSQL store feed', function () {
  this.timeout(90_000);
  const postgres = postgresPerTest();

  const open = async (options: Partial<PgStoreOptions> = {}): Promise<PgStore<string>> => {
    const store = new PgStore<string>({ url: postgres.url, retain: 10_000, ...options });
    postgres.closeAfter(store, (s) => s.close());
    await store.open();
    return store;
  };

  it('delivers every message of three relays to each, once, in seq order, with the origin of its own', async () => {
    const relays = [await open(), await open(), await open()];
    const recorders = relays.map((s) => new Recorder(s));
    const room = key();
    await Promise.all(relays.map((s) => s.watch(room)));
    for (const s of relays) assert.equal(s.cursor(room), 0);
    const perRelay = 300;
    const mine = relays.map(() => new Set<string>());
    await Promise.all(relays.map(async (store, r) => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < perRelay) {
          next++;
          const id = key();
          mine[r]?.add(id);
          await store.append(room, id, `from ${r}`, `conn-of-relay-${r}`);
        }
      };
      await Promise.all(Array.from({ length: 64 }, worker));
    }));
    const total = perRelay * relays.length;
    for (const [r, rec] of recorders.entries()) {
      await until(`relay ${r}'s feed to reach ${total}`, () => (rec.seqs(room).length >= total ? true : undefined));
      assert.deepEqual(rec.seqs(room), oneTo(total), 'every seq once, in order');
      for (const m of rec.byRoom.get(room) ?? []) {
        const own = mine[r]?.has(m.id) ?? false;
        assert.equal(m.origin, own ? `conn-of-relay-${r}` : undefined, 'origin only on own messages');
      }
      assert.equal(relays[r]?.cursor(room), total);
    }
    // Same content everywhere, and as stored.
    const stored = await relays[0]?.range(room, 0, 1e9, 1_000) ?? [];
    for (const rec of recorders) {
      assert.deepEqual((rec.byRoom.get(room) ?? []).map((m) => [m.seq, m.ts, m.id, m.body]), stored.map((m) => [m.seq, m.ts, m.id, m.body]));
    }
  });

  it('shrugs off bogus doorbells: malformed, unknown rooms, seqs that do not exist', async () => {
    const a = await open();
    const b = await open({ pollMs: 200 });
    const rec = new Recorder(b);
    const room = key();
    await b.watch(room);
    await a.append(room, key(), 'one');
    await until('seq 1', () => (rec.seqs(room).length === 1 ? true : undefined));
    // Anyone with access to the database can NOTIFY; the feed must stay exact.
    for (const payload of ['garbage', '', `${room} x`, `${room} 1e400`, `${room} 9007199254740991`, `${key()} 5`, `${room} -3`]) {
      await postgres.sql("SELECT pg_notify('smc_messages', $1)", [payload]);
    }
    await a.append(room, key(), 'two');
    await a.append(room, key(), 'three');
    await until('seqs 2 and 3', () => (rec.seqs(room).length === 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(rec.seqs(room), [1, 2, 3]);
  });

  it('starts a late watch at the head: older messages are left to catch-up', async () => {
    const a = await open();
    const b = await open();
    const rec = new Recorder(b);
    const room = key();
    for (let i = 0; i < 5; i++) await a.append(room, key(), 'before');
    await b.watch(room);
    assert.equal(b.cursor(room), 5);
    await a.append(room, key(), 'after');
    await until('the message after the watch', () => (rec.seqs(room).length === 1 ? true : undefined));
    assert.deepEqual(rec.seqs(room), [6]);
    b.unwatch(room);
    assert.throws(() => b.cursor(room), /not watched/);
  });

  it('catches up by polling on rows whose doorbell never rang (a relay crashed after COMMIT)', async () => {
    const a = await open();
    const b = await open({ pollMs: 200 });
    const rec = new Recorder(b);
    const room = key();
    await a.append(room, key(), 'first');
    await b.watch(room);
    // What a relay SIGKILLed between its COMMIT and its NOTIFY leaves: rows and head, no doorbell.
    const ids = [key(), key(), key()];
    const raw = new Client({ connectionString: postgres.url });
    raw.on('error', () => undefined);
    await raw.connect();
    try {
      await raw.query('BEGIN');
      await raw.query('UPDATE smc_rooms SET head = head + 3 WHERE room = $1', [room]);
      await raw.query('INSERT INTO smc_messages (room, seq, ts, id, body) SELECT $1, s, 1, ($2::text[])[s - 1], \'x\' FROM generate_series(2, 4) s', [room, ids]);
      await raw.query('COMMIT');
    } finally {
      await raw.end();
    }
    await until('the poll to find seqs 2..4', () => (rec.seqs(room).length === 3 ? true : undefined));
    assert.deepEqual(rec.byRoom.get(room)?.map((m) => m.id), ids);
    await a.append(room, key(), 'next, with a doorbell');
    await until('seq 5', () => (rec.seqs(room).length === 4 ? true : undefined));
    assert.deepEqual(rec.seqs(room), [2, 3, 4, 5]);
  });

  it('catches up after its listener connection was killed, once and in order', async () => {
    const a = await open();
    const b = await open({ applicationName: 'smc-feed-b', backoffMinMs: 50, backoffMaxMs: 400, pollMs: 60_000 });
    const rec = new Recorder(b);
    const room = key();
    await b.watch(room);
    await Promise.all(Array.from({ length: 50 }, () => a.append(room, key(), 'm')));
    await until('the first 50', () => (rec.seqs(room).length === 50 ? true : undefined));
    const listeners = await postgres.pg.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'smc-feed-b' AND query LIKE 'LISTEN%'");
    assert.equal(listeners.length, 1, 'one listener connection');
    await postgres.pg.sql('SELECT pg_terminate_backend($1)', [listeners[0]?.pid]);
    // Appended while b is down or reconnecting: their doorbells are lost for b.
    await Promise.all(Array.from({ length: 100 }, () => a.append(room, key(), 'while b is away')));
    await until('b to have all 150', () => (rec.seqs(room).length >= 150 ? true : undefined));
    assert.deepEqual(rec.seqs(room), oneTo(150));
    assert.equal(b.stats().outages, 1);
    // And live again after the reconnect.
    await a.append(room, key(), 'live');
    await until('seq 151', () => (rec.seqs(room).length === 151 ? true : undefined));
  });
});
