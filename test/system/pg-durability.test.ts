// The durability settings of the relay's PostgreSQL sessions (issue 9 "Durability"): every
// connection of the store — writers, the pool's readers — runs with synchronous_commit on, even
// on a server whose default is off and with a URL that asks for it off, so that COMMIT (hence an
// ack, PROTOCOL.md §1.5) waits for the WAL flush. Against a real PostgreSQL started with
// synchronous_commit = off as its default.
import * as assert from 'node:assert/strict';
import { postgresSuite } from '../helpers/postgres';
import { Database, connectionConfig } from '../../src/relay/store/pg/database';

describe('PostgreSQL store sessions: synchronous_commit on', function () {
  this.timeout(60_000);
  const postgres = postgresSuite({ settings: { synchronous_commit: 'off' } });

  const open = async (url: string): Promise<Database> => {
    const db = new Database({ url, channels: [], writers: 2, readers: 2 });
    postgres.closeAfter(db, (d) => d.close());
    await db.open(async () => undefined);
    return db;
  };

  it('the server default is off here (else this test proves nothing)', async () => {
    const rows = await postgres.pg.sql('SHOW synchronous_commit');
    assert.equal(rows[0]?.synchronous_commit, 'off');
  });

  for (const [what, suffix] of [
    ['a plain URL', ''],
    ['a URL whose options ask for it off', `?options=${encodeURIComponent('-c synchronous_commit=off -c work_mem=8MB')}`],
  ] as const) {
    it(`sets it on for every connection, with ${what}`, async () => {
      const url = await postgres.pg.createDatabase();
      const db = await open(url + suffix);
      for (let i = 0; i < db.writers; i++) {
        const r = await db.writer(i).query<{ synchronous_commit: string }>('SHOW synchronous_commit');
        assert.equal(r.rows[0]?.synchronous_commit, 'on', `writer ${i}`);
      }
      // Two reads at once: both pooled connections answer.
      const reads = await Promise.all([0, 1].map(() => db.query<{ synchronous_commit: string; pid: number }>(
        'SELECT current_setting(\'synchronous_commit\') AS synchronous_commit, pg_backend_pid() AS pid, pg_sleep(0.05)',
      )));
      for (const r of reads) assert.equal(r[0]?.synchronous_commit, 'on', 'pooled reader');
      if (suffix !== '') {
        // Their other options are kept.
        const wm = await db.query<{ work_mem: string }>('SHOW work_mem');
        assert.equal(wm[0]?.work_mem, '8MB');
      }
    });
  }

  it('puts its own settings after the URL\'s options, so that they win', () => {
    const { connectionString, options } = connectionConfig('postgres://u@h:5/db?sslmode=require&options=-c%20synchronous_commit%3Doff');
    assert.ok(!connectionString.includes('options='), connectionString);
    assert.ok(connectionString.includes('sslmode=require'), connectionString);
    assert.ok(options.indexOf('synchronous_commit=off') < options.lastIndexOf('synchronous_commit=on'), options);
  });
});
