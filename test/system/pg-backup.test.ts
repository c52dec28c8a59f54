// Backup and restore of the PostgreSQL store with PostgreSQL's own tools (docs/storage.md
// "Backup and restore"), against a real server: a dump of the whole database restored into an
// empty one serves every stored message again, dedup included, and seqs go on from the head; a
// dump of the tables alone lacks the function appends need, and a store refuses to open on it,
// saying what to do, instead of failing every append later.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresSuite } from '../helpers/postgres';
import { PgStore } from '../../src/relay/store/pg/pgStore';

describe('PostgreSQL store: backup and restore with pg_dump / pg_restore', function () {
  this.timeout(90_000);
  const postgres = postgresSuite();
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-pg-dump-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (url: string): Promise<PgStore> => {
    const store = new PgStore({ url, retain: 10_000 });
    postgres.closeAfter(store, (s) => s.close());
    await store.open();
    return store;
  };
  const dump = (url: string, file: string, extra: string[] = []): void => {
    execFileSync(join(postgres.pg.binDir, 'pg_dump'), ['--format=custom', `--file=${file}`, ...extra, url], { stdio: 'pipe' });
  };
  const restore = (url: string, file: string): void => {
    execFileSync(join(postgres.pg.binDir, 'pg_restore'), ['--no-owner', `--dbname=${url}`, file], { stdio: 'pipe' });
  };

  it('a dump of the whole database restores every message, dedup and the next seqs', async () => {
    const url = await postgres.pg.createDatabase();
    const source = await open(url);
    const acked = await Promise.all(Array.from({ length: 30 }, (_, i) => source.append('room1', `id${i}`, `body${i}`)));
    const file = join(dir, 'whole.dump');
    dump(url, file);
    const target = await postgres.pg.createDatabase('smc_restored');
    restore(target, file);
    const restored = await open(target);
    assert.equal(await restored.head('room1'), 30);
    const rows = await restored.range('room1', 0, 1e9, 1_000);
    assert.deepEqual(rows.map((r) => [r.seq, r.id, r.body]), acked.map((a, i) => [a.seq, `id${i}`, `body${i}`]).sort((x, y) => (x[0] as number) - (y[0] as number)));
    const again = await restored.append('room1', 'id7', 'resent');
    assert.deepEqual([again.seq, again.duplicate], [acked[7]?.seq, true]);
    assert.equal((await restored.append('room1', 'new', 'x')).seq, 31);
  });

  it('a dump of the tables alone is refused at open, saying what to do', async () => {
    const url = await postgres.pg.createDatabase();
    const source = await open(url);
    await source.append('room1', 'id0', 'body0');
    const file = join(dir, 'tables.dump');
    dump(url, file, ['--table=smc_*']);
    const target = await postgres.pg.createDatabase('smc_partial');
    restore(target, file);
    const store = new PgStore({ url: target, retain: 10 });
    await assert.rejects(store.open(), /incomplete \(missing function smc_append.*whole database/);
    await store.close();
    await assert.rejects(PgStore.migrateOnly(target), /incomplete/);
  });
});
