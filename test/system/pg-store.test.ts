// The PostgreSQL cluster store (src/relay/store/pg) against a real PostgreSQL server started by
// test/helpers/postgres.ts: appends, dedup across store instances (each instance is one relay
// with its own connections), contiguous seqs under concurrent relays, no gap after a rollback,
// the bounded queue, migrations, retention, and the refusal of a server with fsync off.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { postgresPerTest, postgresSuite } from '../helpers/postgres';
import { PgStore, type PgStoreOptions } from '../../src/relay/store/pg/pgStore';
import { StoreBusyError, StoreRefusedError, StoreUnavailableError, StoreWriteError, type AppendResult } from '../../src/relay/store/pg/types';
import { MIGRATIONS } from '../../src/relay/store/pg/schema';
import { until } from '../helpers/until';

const key = (): string => randomBytes(16).toString('base64url');
const body = (n = 64): string => randomBytes(n).toString('base64url');

describe('PostgreSQL store', function () {
  this.timeout(60_000);
  const postgres = postgresPerTest();

  const open = async (options: Partial<PgStoreOptions> = {}): Promise<PgStore> => {
    const store = new PgStore({ url: postgres.url, retain: 10_000, ...options });
    postgres.closeAfter(store, (s) => s.close());
    await store.open();
    return store;
  };

  it('stores, reads back, and keeps ts non-decreasing', async () => {
    const store = await open();
    const room = key();
    const ids = Array.from({ length: 20 }, key);
    const results = await Promise.all(ids.map((id, i) => store.append(room, id, `b${i}`)));
    assert.deepEqual(results.map((r) => r.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(await store.head(room), 20);
    assert.equal(await store.oldest(room), 1);
    const page = await store.range(room, 5, 16, 4);
    assert.deepEqual(page.map((m) => m.seq), [12, 13, 14, 15], 'newest 4 of 6..15, oldest first');
    const all = await store.range(room, 0, 1_000, 1_000);
    for (let i = 1; i < all.length; i++) assert.ok((all[i]?.ts ?? 0) >= (all[i - 1]?.ts ?? 0), 'ts never goes back');
    assert.equal(await store.head(key()), 0);
    assert.equal(await store.oldest(key()), 1);
  });

  it('refuses bad input with a clear error and stores nothing', async () => {
    const store = await open();
    const room = key();
    await assert.rejects(store.append(room, 'has space', 'x'), (e: unknown) => e instanceof StoreWriteError && e.code === 'EINVAL');
    await assert.rejects(store.append(room, key(), ''), (e: unknown) => e instanceof StoreWriteError && /body/.test(e.message));
    await assert.rejects(store.append('', key(), 'x'), StoreWriteError);
    // A NUL in a body must not fail the group it would share with good messages.
    const settled = await Promise.allSettled([store.append(room, key(), 'good'), store.append(room, key(), 'bad\u0000'), store.append(room, key(), 'good too')]);
    assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(await store.head(room), 2);
  });

  it('gives one room\'s appends on one relay seqs in the order they arrived', async () => {
    const store = await open();
    const [room, other] = [key(), key()];
    const seqs: number[] = [];
    const waves: Array<Promise<void>> = [];
    // Several waves, each arriving while the previous group waits for its flush.
    for (let wave = 0; wave < 5; wave++) {
      for (let i = 0; i < 40; i++) {
        const k = wave * 40 + i;
        waves.push(store.append(room, key(), `m${k}`).then((r) => {
          seqs[k] = r.seq;
        }));
      }
      waves.push(store.append(other, key(), 'another room').then(() => undefined));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(waves);
    assert.deepEqual(seqs, Array.from({ length: 200 }, (_, i) => i + 1), 'seq order is arrival order');
  });

  it('dedups an id on one relay, while pending and after commit', async () => {
    const store = await open();
    const room = key();
    const id = key();
    const [a, b] = await Promise.all([store.append(room, id, 'one'), store.append(room, id, 'two')]);
    assert.deepEqual(a, { seq: 1, ts: a.ts, duplicate: false });
    assert.deepEqual(b, { seq: 1, ts: a.ts, duplicate: true });
    const again = await store.append(room, id, 'three');
    assert.deepEqual(again, { seq: 1, ts: a.ts, duplicate: true });
    const rows = await store.range(room, 0, 100, 100);
    assert.deepEqual(rows.map((m) => m.body), ['one']);
  });

  it('gives one seq to an id sent concurrently to two relays', async () => {
    const a = await open();
    const b = await open();
    const room = key();
    const ids = Array.from({ length: 300 }, key);
    const pairs = await Promise.all(ids.map((id) => Promise.all([a.append(room, id, 'A'), b.append(room, id, 'B')])));
    for (const [ra, rb] of pairs) {
      assert.equal(ra.seq, rb.seq, 'both relays answer with the same seq');
      assert.equal(ra.ts, rb.ts);
      assert.equal(Number(ra.duplicate) + Number(rb.duplicate), 1, 'exactly one copy is the original');
    }
    assert.deepEqual(pairs.map(([r]) => r.seq).sort((x, y) => x - y), Array.from({ length: 300 }, (_, i) => i + 1));
    const count = await postgres.sql('SELECT count(*)::int AS n FROM smc_messages');
    assert.equal(count[0]?.n, 300);
  });

  it('keeps seqs contiguous under concurrent pipelined appends from three relays', async () => {
    const relays = [await open(), await open(), await open()];
    const rooms = [key(), key()];
    const perRelay = 600;
    const IN_FLIGHT = 64;
    const acked = new Map<string, { room: string; seq: number }>();
    await Promise.all(relays.map(async (store, r) => {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < perRelay) {
          const i = next++;
          const room = rooms[i % 2] as string;
          const id = key();
          const result = await store.append(room, id, `r${r}m${i}`);
          assert.equal(result.duplicate, false);
          acked.set(id, { room, seq: result.seq });
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    }));
    assert.equal(acked.size, perRelay * 3);
    for (const room of rooms) {
      const seqs = [...acked.values()].filter((v) => v.room === room).map((v) => v.seq).sort((a, b) => a - b);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'seqs 1..N, none twice, no gap');
      const rows = await relays[0]?.range(room, 0, 1e9, 10_000) ?? [];
      assert.equal(rows.length, seqs.length);
      for (const m of rows) assert.equal(acked.get(m.id)?.seq, m.seq, 'the stored row has the acked seq');
      for (let i = 1; i < rows.length; i++) assert.ok((rows[i]?.ts ?? 0) >= (rows[i - 1]?.ts ?? 0));
    }
    const commits = relays.reduce((n, s) => n + s.stats().commits, 0);
    assert.ok(commits < perRelay * 3, `group commit: ${commits} commits for ${perRelay * 3} messages`);
  });

  it('leaves no gap when a transaction rolls back at COMMIT', async () => {
    const store = await open();
    const room = key();
    await store.append(room, key(), 'first');
    // A deferred constraint trigger fails the COMMIT of any transaction holding the id "poison":
    // by then the head was incremented and the rows inserted; all of it must be rolled back.
    const db = postgres.database;
    await postgres.pg.sql(`CREATE FUNCTION smc_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN IF NEW.id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NULL; END $$`, [], db);
    await postgres.pg.sql(`CREATE CONSTRAINT TRIGGER smc_test_poison AFTER INSERT ON smc_messages
                  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION smc_test_poison()`, [], db);
    const good = key();
    const settled = await Promise.allSettled([store.append(room, good, 'good'), store.append(room, 'poison', 'bad')]);
    assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected'], 'one transaction, rolled back as a whole');
    assert.equal(await store.head(room), 1);
    const resent = await store.append(room, good, 'good');
    assert.deepEqual([resent.seq, resent.duplicate], [2, false], 'the next message takes seq 2: no gap');
    assert.deepEqual((await store.range(room, 0, 100, 100)).map((m) => m.seq), [1, 2]);
  });

  it('leaves no gap when the backend is killed mid-transaction, and reconnects', async () => {
    const store = await open({ applicationName: 'smc-gap-test', backoffMinMs: 20, backoffMaxMs: 200 });
    const room = key();
    await store.append(room, key(), 'first');
    const db = postgres.database;
    // Hold a lock that blocks the INSERT, after the transaction has locked the room's row.
    const { Client } = await import('pg');
    const blocker = new Client({ connectionString: postgres.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE smc_messages IN SHARE MODE');
      const stuck = assert.rejects(store.append(room, key(), 'doomed'), StoreUnavailableError);
      const pid = await until('the writer to wait on the lock', async () => {
        const rows = await postgres.pg.sql(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'smc-gap-test'
                                   AND wait_event_type = 'Lock' AND state = 'active'`, [db]);
        return rows[0]?.pid as number | undefined;
      });
      await postgres.pg.sql('SELECT pg_terminate_backend($1)', [pid]);
      await stuck;
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    await until('the store to reconnect', () => (store.stats().state === 'up' ? true : undefined));
    const next = await store.append(room, key(), 'after');
    assert.equal(next.seq, 2, 'the killed transaction took its seq back with it');
    assert.equal(store.stats().outages, 1);
  });

  it('bounds the queue: over the bound, an append is refused with StoreBusyError', async () => {
    const store = await open({ maxQueued: 10, applicationName: 'smc-busy-test' });
    const room = key();
    await store.append(room, key(), 'warm');
    const { Client } = await import('pg');
    const blocker = new Client({ connectionString: postgres.url });
    await blocker.connect();
    let accepted: Array<Promise<AppendResult>> = [];
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM smc_rooms WHERE room = $1 FOR UPDATE', [room]);
      accepted.push(store.append(room, key(), 'in flight'));
      await until('the transaction to wait on the room lock', async () => {
        const rows = await postgres.pg.sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'smc-busy-test' AND wait_event_type = 'Lock'`);
        return rows.length > 0 ? true : undefined;
      });
      for (let i = 0; i < 10; i++) accepted.push(store.append(room, key(), `queued ${i}`));
      await assert.rejects(store.append(room, key(), 'one too many'), (e: unknown) => e instanceof StoreBusyError && e.code === 'EBUSY');
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    const results = await Promise.all(accepted);
    accepted = [];
    // Every accepted append is stored, with seqs 2..12 contiguous; which of the two writers'
    // batches got the room lock first after the ROLLBACK is PostgreSQL's choice.
    assert.deepEqual(results.map((r) => r.seq).sort((a, b) => a - b), Array.from({ length: 11 }, (_, i) => i + 2));
  });

  it('bounds the reads waiting for a connection: over the bound, StoreBusyError', async () => {
    const store = await open({ readers: 1, maxWaitingReads: 5 });
    const room = key();
    await store.append(room, key(), 'x');
    const { Client } = await import('pg');
    const blocker = new Client({ connectionString: postgres.url });
    await blocker.connect();
    let reads: Array<Promise<unknown>> = [];
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE smc_messages IN ACCESS EXCLUSIVE MODE');
      reads.push(store.range(room, 0, 10, 10));
      await until('the one read connection to be busy', async () => {
        const rows = await postgres.pg.sql("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT m.seq%'");
        return rows.length > 0 ? true : undefined;
      });
      for (let i = 0; i < 5; i++) reads.push(store.range(room, 0, 10, 10));
      await assert.rejects(store.range(room, 0, 10, 10), StoreBusyError);
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }
    const done = await Promise.all(reads);
    reads = [];
    assert.equal(done.length, 6);
  });

  it('runs migrations once when three relays start at once, and again is a no-op', async () => {
    const [a, b, c] = await Promise.all([open(), open(), open()]);
    assert.ok(a && b && c);
    const rows = await postgres.sql('SELECT version FROM smc_schema_migrations ORDER BY version');
    assert.deepEqual(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    assert.deepEqual(await PgStore.migrateOnly(postgres.url), [], 'nothing left to apply');
    await (await open()).append(key(), key(), 'still works');
  });

  it('refuses a schema newer than it knows', async () => {
    await PgStore.migrateOnly(postgres.url);
    await postgres.sql("INSERT INTO smc_schema_migrations (version, name) VALUES (9999, 'from the future')", []);
    const store = new PgStore({ url: postgres.url, retain: 10 });
    await assert.rejects(store.open(), /schema versions this relay does not know \(9999\)/);
  });

  it('keeps at least `retain` newest per room and trims the rest in batches', async () => {
    const store = await open({ retain: 10 });
    const room = key();
    const other = key();
    for (let i = 0; i < 25; i++) await Promise.all(Array.from({ length: 10 }, () => store.append(room, key(), body())));
    await store.append(other, key(), 'untouched');
    // 250 > retain + slack (100): trimmed in the background.
    await until('background retention', async () => ((await store.oldest(room)) > 100 ? true : undefined));
    await store.trimNow(room, 250);
    assert.equal(await store.oldest(room), 241);
    assert.deepEqual((await store.range(room, 0, 1e9, 1_000)).map((m) => m.seq), Array.from({ length: 10 }, (_, i) => 241 + i));
    assert.equal(await store.head(room), 250);
    assert.equal(await store.oldest(other), 1);
    const next = await store.append(room, key(), 'after trim');
    assert.equal(next.seq, 251);
  });
});

describe('PostgreSQL store on a server with fsync off', function () {
  this.timeout(60_000);
  const postgres = postgresSuite({ fsync: false });

  it('refuses to start, saying why', async () => {
    const store = new PgStore({ url: postgres.pg.url(), retain: 10 });
    await assert.rejects(store.open(), (e: unknown) => e instanceof StoreRefusedError && /fsync/.test(e.message) && /off/.test(e.message));
    await assert.rejects(PgStore.migrateOnly(postgres.pg.url()), StoreRefusedError);
    const tables = await postgres.pg.sql("SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'smc_%'");
    assert.equal(tables[0]?.n, 0, 'nothing was created');
    await store.close();
  });
});
