// The PostgreSQL schema of the cluster store (docs/storage-postgres.md) and its migrations.
// Every relay runs them on start: versioned, applied in order, each recorded in
// smc_schema_migrations, all in one transaction under a transaction-level advisory lock, so
// that two relays starting at once apply each migration exactly once (the second waits for the
// lock, then finds nothing left to do), and a failed migration leaves the schema as it was.
import type { ClientBase } from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Key of the advisory lock that serialises migrations (any constant unlikely to collide). */
export const MIGRATION_LOCK_KEY = 0x534d435f4d4947n; // "SMC_MIG"

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'rooms, messages, instances, presence',
    sql: `
      -- One row per room: the head seq (seqs are allocated by incrementing it under the row's
      -- lock, in the transaction that inserts the messages, so a rollback leaves no gap) and
      -- the ts of the newest message (ts never goes back within a room).
      CREATE TABLE smc_rooms (
        room    text   PRIMARY KEY CHECK (room ~ '^[A-Za-z0-9_-]{1,64}$'),
        head    bigint NOT NULL DEFAULT 0 CHECK (head >= 0),
        last_ts bigint NOT NULL DEFAULT 0
      );
      CREATE TABLE smc_messages (
        room text   NOT NULL,
        seq  bigint NOT NULL CHECK (seq > 0),
        ts   bigint NOT NULL,
        id   text   NOT NULL CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
        body text   NOT NULL CHECK (octet_length(body) > 0),
        PRIMARY KEY (room, seq),
        -- dedup across relays (PROTOCOL.md §1.5)
        UNIQUE (room, id)
      );
      -- Bodies are ciphertext: compression would cost CPU and save nothing.
      ALTER TABLE smc_messages ALTER COLUMN body SET STORAGE EXTERNAL;
      -- One row per running relay; a relay that stops heartbeating expires.
      CREATE TABLE smc_instances (
        instance   uuid        PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX smc_instances_expires ON smc_instances (expires_at);
      CREATE TABLE smc_presence (
        room     text NOT NULL,
        instance uuid NOT NULL,
        sid      text NOT NULL,
        tag      text,
        PRIMARY KEY (room, instance, sid)
      );
      CREATE INDEX smc_presence_instance ON smc_presence (instance);
    `,
  },
];

/** Applies the migrations not yet applied; returns the versions it applied. */
export async function migrate(client: ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    // Held until COMMIT/ROLLBACK: a second relay starting now waits here.
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    await client.query(`CREATE TABLE IF NOT EXISTS smc_schema_migrations (
      version    integer     PRIMARY KEY,
      name       text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const done = await client.query<{ version: number }>('SELECT version FROM smc_schema_migrations');
    const have = new Set(done.rows.map((r) => r.version));
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...have].filter((v) => !known.has(v));
    if (unknown.length > 0) {
      // A newer relay migrated this database: this one must not write to a schema it does not know.
      throw new Error(`the database has schema versions this relay does not know (${unknown.join(', ')}): run a newer relay`);
    }
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (have.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO smc_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return applied;
}
