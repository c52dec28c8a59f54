// A relay (a child process with its store) SIGKILLed mid-stream; and PostgreSQL SIGKILLed
// mid-stream, then started again, under two relays (store instances)
// appending to one room as fast as they can: every append that resolved is stored exactly once
// with the seq it was given; seqs stay contiguous; what was refused meanwhile failed fast with
// StoreUnavailableError (never acked); resending every id gives the original seqs; each relay's
// feed has every seq once and in order; and while the database is away the relays do not hammer
// it: a plain TCP listener on the database's port counts the connection attempts, which must
// stay a handful however many appends were refused.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { postgresSuite } from '../helpers/postgres';
import { Database } from '../../src/relay/store/pg/database';
import { PgStore } from '../../src/relay/store/pg/pgStore';
import { StoreUnavailableError, type FeedMessage } from '../../src/relay/store/pg/types';
import { until } from '../helpers/until';

const key = (): string => randomBytes(16).toString('base64url');
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** The child relay's sessions, as pg_stat_activity names them. */
const CHILD_APPLICATION = 'smc-relay-killed-child';

/** Child mode (SMC_PG_RELAY_CHILD=url): a relay's store appending 64 at a time, printing each ack. */
async function childRelay(url: string, room: string): Promise<void> {
  const store = new PgStore({ url, retain: 100_000, applicationName: CHILD_APPLICATION });
  await store.open();
  process.stdout.write('ready\n');
  const loop = async (): Promise<void> => {
    for (;;) {
      const id = key();
      const r = await store.append(room, id, 'from the child');
      process.stdout.write(`ack ${id} ${r.seq}\n`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, loop));
}

const childUrl = process.env.SMC_PG_RELAY_CHILD;
if (childUrl !== undefined) void childRelay(childUrl, process.env.SMC_PG_RELAY_ROOM ?? '');
else describe('PostgreSQL store when a relay or PostgreSQL is SIGKILLed mid-stream', function () {
  this.timeout(120_000);
  const postgres = postgresSuite();

  it('PostgreSQL SIGKILLed while a transaction holds a pooled connection between two statements: the store goes down, the process lives on', async () => {
    const url = await postgres.pg.createDatabase();
    const db = new Database({ url, channels: [], backoffMinMs: 50, backoffMaxMs: 200 });
    await db.open(async () => undefined);
    let downs = 0;
    db.onDown(() => downs++);
    try {
      const work = db.transaction(async (client) => {
        await client.query('SELECT 1');
        await postgres.pg.kill();
        // No query of ours runs now: the connection's 'error' must reach a listener (before
        // the fix nothing listened, and the process died of an unhandled 'error' event).
        await until('the store to notice the database went away', () => downs > 0);
      });
      await assert.rejects(work, StoreUnavailableError);
      await postgres.pg.startServer();
      await until('the store up again', () => db.state === 'up', 60_000);
      assert.deepEqual(await db.query('SELECT 1 AS one'), [{ one: 1 }]);
    } finally {
      await db.close();
      if (postgres.pg.pid === undefined) await postgres.pg.startServer();
    }
  });

  it('a relay SIGKILLed mid-stream: what it acked is stored once, seqs stay contiguous, resends get the original seqs', async () => {
    const url = await postgres.pg.createDatabase();
    const other = new PgStore({ url, retain: 100_000, pollMs: 200 });
    postgres.closeAfter(other, (s) => s.close());
    await other.open();
    const room = key();
    const feed: number[] = [];
    other.on('message', (m) => {
      if (m.room === room) feed.push(m.seq);
    });
    await other.watch(room);
    const child = spawn(process.execPath, [__filename], {
      env: { ...process.env, SMC_PG_RELAY_CHILD: url, SMC_PG_RELAY_ROOM: room },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acked = new Map<string, number>();
    let buffered = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [t, id, seq] = line.split(' ');
        if (t === 'ack' && id !== undefined) acked.set(id, Number(seq));
      }
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Meanwhile this relay appends too, to the same room.
    let running = true;
    const mine = new Map<string, number>();
    const loops = Array.from({ length: 16 }, async () => {
      while (running) {
        const id = key();
        mine.set(id, (await other.append(room, id, 'from the survivor')).seq);
      }
    });
    await until('the child to ack a few hundred', () => (acked.size >= 300 ? true : undefined));
    child.kill('SIGKILL');
    await exited;
    const ackedAtKill = new Map(acked);
    // The dead relay's last transaction may still commit after its death (its backend learns of
    // it only when it answers): count the rows once its sessions are gone.
    await until('the dead relay\'s sessions to end', async () => {
      const rows = await postgres.pg.sql('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [CHILD_APPLICATION]);
      return rows[0]?.n === 0;
    });
    await until('the survivor to keep storing', () => (mine.size >= 300 ? true : undefined));
    running = false;
    await Promise.all(loops);
    const head = await other.head(room);
    const rows = await other.range(room, 0, 1e12, 1e6);
    assert.deepEqual(rows.map((m) => m.seq), oneTo(head), 'contiguous, none twice');
    const byId = new Map(rows.map((m) => [m.id, m.seq]));
    for (const [id, seq] of ackedAtKill) assert.equal(byId.get(id), seq, 'what the dead relay acked is stored with that seq');
    for (const [id, seq] of mine) assert.equal(byId.get(id), seq);
    // Its clients reconnect to this relay and resend: the original seqs, nothing new stored.
    const resent = await Promise.all([...ackedAtKill.keys()].map((id) => other.append(room, id, 'resent')));
    [...ackedAtKill.values()].forEach((seq, i) => assert.deepEqual([resent[i]?.seq, resent[i]?.duplicate], [seq, true]));
    assert.equal(await other.head(room), head);
    await until('the survivor\'s feed to reach the head', () => ((feed.at(-1) ?? 0) >= head ? true : undefined));
    assert.deepEqual(feed, oneTo(head), 'the survivor\'s feed: every seq once, in order, the dead relay\'s included');
  });

  it('loses no acked message, doubles none, and reconnects without a connection storm', async () => {
    const url = await postgres.pg.createDatabase();
    const open = async (): Promise<PgStore> => {
      const s = new PgStore({ url, retain: 100_000, backoffMinMs: 100, backoffMaxMs: 1_000, pollMs: 500 });
      postgres.closeAfter(s, (store) => store.close());
      await s.open();
      return s;
    };
    const relays = [await open(), await open()];
    const room = key();
    const feeds = relays.map(() => [] as FeedMessage<unknown>[]);
    relays.forEach((s, i) => s.on('message', (m) => {
      if (m.room === room) feeds[i]?.push(m);
    }));
    await Promise.all(relays.map((s) => s.watch(room)));

    const acked = new Map<string, number>();
    const refused = new Set<string>();
    const otherErrors: string[] = [];
    let attempts = 0;
    let running = true;
    const loop = async (store: PgStore): Promise<void> => {
      while (running) {
        const id = key();
        attempts++;
        try {
          const r = await store.append(room, id, 'body-' + id);
          assert.equal(r.duplicate, false);
          acked.set(id, r.seq);
        } catch (err) {
          if (err instanceof StoreUnavailableError) refused.add(id);
          else otherErrors.push(String(err));
          // A client that is refused resends at once: the worst case for the relay.
          await new Promise((r) => setImmediate(r));
        }
      }
    };
    const loops = relays.flatMap((s) => Array.from({ length: 32 }, () => loop(s)));
    await until('some acks before the crash', () => (acked.size >= 500 ? true : undefined));

    await postgres.pg.kill();
    const ackedAtCrash = acked.size;
    // While the database is away, count every connection made to its port.
    let connections = 0;
    const sockets = new Set<Socket>();
    const counter = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      counter.once('error', reject);
      counter.listen(postgres.pg.port, '127.0.0.1', () => resolve());
    });
    const attemptsBefore = attempts;
    await new Promise((r) => setTimeout(r, 3_000));
    const attemptsDuring = attempts - attemptsBefore;
    await new Promise<void>((resolve) => counter.close(() => resolve()));
    for (const s of relays) assert.equal(s.stats().state, 'down');
    assert.ok(attemptsDuring > 1_000, `appends kept coming while the database was away (${attemptsDuring})`);
    console.log(`      (outage: ${attemptsDuring} appends refused, ${connections} connection attempts; ${acked.size} acked so far)`);
    // Backoff 100 ms doubling to 1 s, full jitter down to half: at most 9 attempts per relay fit
    // in 3 s (sleeps ≥ 50, 100, 200, 400, 500, 500...). A storm would be thousands.
    assert.ok(connections <= 2 * 12, `one reconnect attempt at a time with backoff: ${connections} connections for ${attemptsDuring} refused appends`);

    await postgres.pg.startServer();
    await until('both relays to reconnect', () => (relays.every((s) => s.stats().state === 'up') ? true : undefined));
    const ackedAtRestart = acked.size;
    await until('acks again after the restart', () => (acked.size >= ackedAtRestart + 200 ? true : undefined));
    running = false;
    await Promise.all(loops);
    assert.deepEqual(otherErrors, [], 'only StoreUnavailableError while the database is away');
    assert.ok(refused.size > 0 && ackedAtCrash > 0);

    // Every acked message present exactly once, with its seq; seqs contiguous.
    const rows = await relays[1]?.range(room, 0, 1e12, 1e6) ?? [];
    const head = await relays[0]?.head(room) ?? 0;
    assert.deepEqual(rows.map((m) => m.seq), oneTo(head), 'contiguous, none twice');
    const byId = new Map(rows.map((m) => [m.id, m.seq]));
    assert.equal(byId.size, rows.length, 'no id stored twice');
    for (const [id, seq] of acked) assert.equal(byId.get(id), seq, 'an acked message is stored with its acked seq');
    // Refused ones may or may not have been stored (a COMMIT whose answer was lost): never acked.
    for (const m of rows) assert.ok(acked.has(m.id) || refused.has(m.id));

    // Resending everything gives the original seqs (dedup across the restart, §1.5).
    // (in chunks within the store's queue bound)
    const ackedList = [...acked];
    for (let i = 0; i < ackedList.length; i += 1_000) {
      const chunk = ackedList.slice(i, i + 1_000);
      const resent = await Promise.all(chunk.map(([id], k) => relays[k % 2]?.append(room, id, 'again')));
      chunk.forEach(([, seq], k) => assert.deepEqual([resent[k]?.seq, resent[k]?.duplicate], [seq, true]));
    }
    // A sample of the refused (they are many: every client resent at once while it was away),
    // the ones refused at the crash first: those whose COMMIT's answer may have been lost.
    const refusedList = [...refused].slice(0, 3_000);
    for (let i = 0; i < refusedList.length; i += 1_000) {
      await Promise.all(refusedList.slice(i, i + 1_000).map((id) => relays[0]?.append(room, id, 'again')));
    }
    const finalHead = await relays[0]?.head(room) ?? 0;
    assert.deepEqual((await relays[0]?.range(room, 0, 1e12, 1e6) ?? []).map((m) => m.seq), oneTo(finalHead));

    // Each relay's feed: every seq once, in order, including what was stored around the crash.
    for (const [i, feed] of feeds.entries()) {
      await until(`relay ${i}'s feed to reach ${finalHead}`, () => ((feed.at(-1)?.seq ?? 0) >= finalHead ? true : undefined));
      assert.deepEqual(feed.map((m) => m.seq), oneTo(finalHead));
    }
  });
});
