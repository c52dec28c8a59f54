// The PostgreSQL schema of the cluster store (docs/storage.md "PostgreSQL") and its migrations.
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
        -- dedup across relays (docs/protocol.md §1.5)
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

      -- One group commit: stores a batch of messages (distinct (room, id) pairs) and returns,
      -- for each by its position (ord), its seq and ts and whether it was stored before. Called
      -- as one statement in autocommit, so one round trip carries BEGIN, the work and COMMIT.
      -- Each statement of a plpgsql function takes a fresh snapshot (READ COMMITTED): the dedup
      -- read after the room locks sees every copy committed by a relay we waited for.
      CREATE FUNCTION smc_append(p_rooms text[], p_ids text[], p_bodies text[])
      RETURNS TABLE (ord integer, seq bigint, ts bigint, duplicate boolean)
      LANGUAGE plpgsql AS $fn$
      #variable_conflict use_column
      DECLARE
        v_now   bigint;
        v_count integer;
      BEGIN
        -- New rooms, in one order (two relays creating the same rooms wait, never deadlock).
        INSERT INTO smc_rooms (room) SELECT DISTINCT r FROM unnest(p_rooms) AS r ORDER BY 1 ON CONFLICT DO NOTHING;
        -- The rooms' rows, locked in one order: seqs of a room are allocated by one
        -- transaction at a time, and the lock is held until COMMIT.
        PERFORM 1 FROM smc_rooms WHERE room = ANY(p_rooms) ORDER BY room FOR UPDATE;
        v_now := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
        RETURN QUERY
        WITH b AS (
          SELECT t.o::integer AS ord, t.r AS room, t.i AS id, t.bd AS body
          FROM unnest(p_rooms, p_ids, p_bodies) WITH ORDINALITY AS t(r, i, bd, o)
        ), dup AS (
          -- one (room, id) index lookup per message: LIMIT 1 keeps the planner from turning
          -- this into a join that reads the whole table
          SELECT b.ord, m.seq, m.ts FROM b CROSS JOIN LATERAL (
            SELECT x.seq, x.ts FROM smc_messages x WHERE x.room = b.room AND x.id = b.id LIMIT 1
          ) AS m
        ), fresh AS (
          SELECT b.*, row_number() OVER (PARTITION BY b.room ORDER BY b.ord) AS k
          FROM b WHERE NOT EXISTS (SELECT 1 FROM dup WHERE dup.ord = b.ord)
        ), counts AS (
          SELECT fresh.room, count(*) AS n FROM fresh GROUP BY fresh.room
        ), upd AS (
          -- ts never goes back within a room: max(now, the previous message's ts)
          UPDATE smc_rooms r SET head = r.head + c.n, last_ts = GREATEST(r.last_ts, v_now)
          FROM counts c WHERE r.room = c.room
          RETURNING r.room, r.head - c.n AS base, r.last_ts AS ts
        ), ins AS (
          INSERT INTO smc_messages (room, seq, ts, id, body)
          SELECT f.room, u.base + f.k, u.ts, f.id, f.body FROM fresh f JOIN upd u ON u.room = f.room
          ON CONFLICT DO NOTHING
          RETURNING smc_messages.room, smc_messages.seq, smc_messages.ts, smc_messages.id
        )
        SELECT dup.ord, dup.seq, dup.ts, true FROM dup
        UNION ALL
        SELECT b.ord, ins.seq, ins.ts, false FROM ins JOIN b ON b.room = ins.room AND b.id = ins.id;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        IF v_count <> coalesce(array_length(p_ids, 1), 0) THEN
          -- A row conflicted after all (a copy stored meanwhile): keep nothing, retry the batch.
          RAISE EXCEPTION 'smc_append: % of % messages placed', v_count, array_length(p_ids, 1)
            USING ERRCODE = '40001';
        END IF;
      END
      $fn$;
      -- Plan each call with the tables' current statistics: a plan cached while the tables were
      -- empty (sequential scans) would be kept for the session's life as they grow.
      ALTER FUNCTION smc_append(text[], text[], text[]) SET plan_cache_mode = force_custom_plan;
    `,
  },
  {
    version: 2,
    name: 'presence in join order',
    sql: `
      -- §1.4 presence lists members in the order they joined, as one relay does: a number from
      -- one sequence per member row, taken when the row is inserted and kept when a join again
      -- replaces the tag.
      CREATE SEQUENCE smc_presence_joined;
      ALTER TABLE smc_presence ADD COLUMN joined bigint NOT NULL DEFAULT nextval('smc_presence_joined');
      ALTER SEQUENCE smc_presence_joined OWNED BY smc_presence.joined;
      CREATE INDEX smc_presence_room_joined ON smc_presence (room, joined);
    `,
  },
  {
    version: 3,
    name: 'private rooms',
    sql: `
      -- docs/protocol.md §3.6: a private room's record at the relay. One row per private room:
      -- its owner key, the epoch it is in, and how many resets it has had (a relay that keeps
      -- the epochs in memory knows from \`generation\` that a reset replaced them). The row is
      -- the room's lock for resets and commits: each takes it FOR UPDATE first.
      CREATE TABLE smc_private_rooms (
        room       text   PRIMARY KEY CHECK (room ~ '^[A-Za-z0-9_-]{1,64}$'),
        owner      bytea  NOT NULL CHECK (octet_length(owner) = 32),
        epoch      bigint NOT NULL CHECK (epoch >= 0),
        generation bigint NOT NULL CHECK (generation >= 0)
      );
      -- Every epoch since the room's last reset (at most the newest p_max_epochs): its auth public
      -- key, and the seq, ts and id of the commit that began it (for the reset's epoch: the
      -- room's head then, the reset's time, and the id '').
      CREATE TABLE smc_private_epochs (
        room  text   NOT NULL REFERENCES smc_private_rooms (room),
        epoch bigint NOT NULL CHECK (epoch >= 0),
        auth  bytea  NOT NULL CHECK (octet_length(auth) = 32),
        seq   bigint NOT NULL CHECK (seq >= 0),
        ts    bigint NOT NULL,
        id    text   NOT NULL CHECK (id = '' OR id ~ '^[A-Za-z0-9_-]{1,64}$'),
        PRIMARY KEY (room, epoch)
      );
      -- Catch-up, history and the feed read a message's epoch by (room, seq), when it began one.
      CREATE INDEX smc_private_epochs_seq ON smc_private_epochs (room, seq);

      -- §3.6 reset: makes p_room a private room of p_owner at p_epoch with p_auth, or sets it
      -- again. 'owner': another owner key holds the room. 'stale': below the oldest epoch kept,
      -- or that epoch's very key again while later epochs exist. Otherwise 'ok' with the seq the
      -- epoch starts at (the room's head) and the room's new generation.
      -- p_refuse > 0 is a repair (§3.6 "Repair"): the room must hold p_epoch with exactly p_auth,
      -- not as its current epoch, and epoch p_epoch + 1 must have begun at seq p_refuse (the
      -- refused commit); then the epochs after p_epoch go, p_epoch is current again (its earlier
      -- epochs kept), and the generation rises as for a reset. Otherwise 'stale'.
      CREATE FUNCTION smc_private_reset(p_room text, p_owner bytea, p_epoch bigint, p_auth bytea, p_refuse bigint)
      RETURNS TABLE (outcome text, seq bigint, generation bigint)
      LANGUAGE plpgsql AS $fn$
      #variable_conflict use_column
      DECLARE
        v_owner bytea;
        v_generation bigint;
        v_anchor smc_private_epochs%ROWTYPE;
        v_epochs bigint;
        v_head bigint;
        v_at smc_private_epochs%ROWTYPE;
        v_next_seq bigint;
      BEGIN
        -- A repair is of a room that exists; a reset may create it.
        IF p_refuse <= 0 THEN
          INSERT INTO smc_private_rooms (room, owner, epoch, generation) VALUES (p_room, p_owner, p_epoch, 0) ON CONFLICT DO NOTHING;
        END IF;
        SELECT p.owner, p.generation INTO v_owner, v_generation FROM smc_private_rooms p WHERE p.room = p_room FOR UPDATE;
        IF NOT FOUND THEN
          RETURN QUERY SELECT 'stale'::text, 0::bigint, 0::bigint;
          RETURN;
        END IF;
        IF v_owner <> p_owner THEN
          RETURN QUERY SELECT 'owner'::text, 0::bigint, v_generation;
          RETURN;
        END IF;
        v_head := coalesce((SELECT r.head FROM smc_rooms r WHERE r.room = p_room), 0);
        IF p_refuse > 0 THEN
          SELECT * INTO v_at FROM smc_private_epochs e WHERE e.room = p_room AND e.epoch = p_epoch;
          SELECT e.seq INTO v_next_seq FROM smc_private_epochs e WHERE e.room = p_room AND e.epoch = p_epoch + 1;
          IF v_at.auth IS DISTINCT FROM p_auth OR v_next_seq IS DISTINCT FROM p_refuse THEN
            RETURN QUERY SELECT 'stale'::text, 0::bigint, v_generation;
            RETURN;
          END IF;
          DELETE FROM smc_private_epochs e WHERE e.room = p_room AND e.epoch > p_epoch;
          UPDATE smc_private_rooms p SET epoch = p_epoch, generation = v_generation + 1 WHERE p.room = p_room;
          RETURN QUERY SELECT 'ok'::text, v_head, v_generation + 1;
          RETURN;
        END IF;
        SELECT * INTO v_anchor FROM smc_private_epochs e WHERE e.room = p_room ORDER BY e.epoch LIMIT 1;
        IF FOUND THEN
          SELECT count(*) INTO v_epochs FROM smc_private_epochs e WHERE e.room = p_room;
          IF p_epoch < v_anchor.epoch OR (p_epoch = v_anchor.epoch AND p_auth = v_anchor.auth AND v_epochs > 1) THEN
            RETURN QUERY SELECT 'stale'::text, 0::bigint, v_generation;
            RETURN;
          END IF;
        END IF;
        DELETE FROM smc_private_epochs e WHERE e.room = p_room;
        INSERT INTO smc_private_epochs (room, epoch, auth, seq, ts, id)
          VALUES (p_room, p_epoch, p_auth, v_head, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint, '');
        UPDATE smc_private_rooms p SET epoch = p_epoch, generation = v_generation + 1 WHERE p.room = p_room;
        RETURN QUERY SELECT 'ok'::text, v_head, v_generation + 1;
      END
      $fn$;

      -- §3.6 commit: stores p_body as the next message of p_room AND moves the room to p_epoch
      -- with p_auth, in this one transaction (the caller runs it in autocommit: both or
      -- neither survive a crash), only while the room is still in p_epoch - 1. Under the private
      -- room's row lock, so that of two commits for one epoch, on any relays, exactly one is
      -- stored. Outcomes: 'stored' (seq, ts, epoch); 'duplicate' (p_id already began an epoch:
      -- that one's seq, ts, epoch); 'message' (p_id is a plain message of the room: its seq and
      -- ts, the current epoch; nothing stored); 'stale' (epoch: the current one, seq: the
      -- commit that began p_epoch, or the current epoch's start when that one is not kept);
      -- 'none' (not a private room).
      CREATE FUNCTION smc_append_commit(p_room text, p_id text, p_body text, p_epoch bigint, p_auth bytea, p_max_epochs integer)
      RETURNS TABLE (outcome text, seq bigint, ts bigint, epoch bigint)
      LANGUAGE plpgsql AS $fn$
      #variable_conflict use_column
      DECLARE
        v_current bigint;
        v_seq bigint;
        v_ts bigint;
      BEGIN
        SELECT p.epoch INTO v_current FROM smc_private_rooms p WHERE p.room = p_room FOR UPDATE;
        IF NOT FOUND THEN
          RETURN QUERY SELECT 'none'::text, 0::bigint, 0::bigint, 0::bigint;
          RETURN;
        END IF;
        -- A resend of a commit stored already (§1.5): its first answer.
        RETURN QUERY SELECT 'duplicate'::text, e.seq, e.ts, e.epoch FROM smc_private_epochs e WHERE e.room = p_room AND e.id = p_id LIMIT 1;
        IF FOUND THEN
          RETURN;
        END IF;
        IF v_current <> p_epoch - 1 THEN
          RETURN QUERY SELECT 'stale'::text, coalesce(
            (SELECT e.seq FROM smc_private_epochs e WHERE e.room = p_room AND e.epoch = p_epoch),
            (SELECT e.seq FROM smc_private_epochs e WHERE e.room = p_room AND e.epoch = v_current), 0), 0::bigint, v_current;
          RETURN;
        END IF;
        -- The room's seq, as smc_append allocates it: under the room's row lock, in this
        -- transaction (a rollback leaves no gap). Lock order: private room, then room; smc_append
        -- takes room rows only, so the two never wait for each other in a cycle.
        INSERT INTO smc_rooms (room) VALUES (p_room) ON CONFLICT DO NOTHING;
        PERFORM 1 FROM smc_rooms r WHERE r.room = p_room FOR UPDATE;
        RETURN QUERY SELECT 'message'::text, m.seq, m.ts, v_current FROM smc_messages m WHERE m.room = p_room AND m.id = p_id LIMIT 1;
        IF FOUND THEN
          RETURN;
        END IF;
        UPDATE smc_rooms r SET head = r.head + 1,
          last_ts = GREATEST(r.last_ts, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
          WHERE r.room = p_room RETURNING r.head, r.last_ts INTO v_seq, v_ts;
        INSERT INTO smc_messages (room, seq, ts, id, body) VALUES (p_room, v_seq, v_ts, p_id, p_body);
        INSERT INTO smc_private_epochs (room, epoch, auth, seq, ts, id) VALUES (p_room, p_epoch, p_auth, v_seq, v_ts, p_id);
        UPDATE smc_private_rooms p SET epoch = p_epoch WHERE p.room = p_room;
        DELETE FROM smc_private_epochs e WHERE e.room = p_room AND e.epoch <= p_epoch - p_max_epochs;
        RETURN QUERY SELECT 'stored'::text, v_seq, v_ts, p_epoch;
      END
      $fn$;
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
    await checkComplete(client);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return applied;
}

/** What the migrations create and every relay needs; a dump of the tables alone lacks some. */
const REQUIRED_OBJECTS = [
  ['smc_append(text[],text[],text[])', 'function', 'to_regprocedure'],
  ['smc_private_reset(text,bytea,bigint,bytea,bigint)', 'function', 'to_regprocedure'],
  ['smc_append_commit(text,text,text,bigint,bytea,integer)', 'function', 'to_regprocedure'],
  ['smc_presence_joined', 'sequence', 'to_regclass'],
  ['smc_messages', 'table', 'to_regclass'],
  ['smc_rooms', 'table', 'to_regclass'],
  ['smc_instances', 'table', 'to_regclass'],
  ['smc_presence', 'table', 'to_regclass'],
  ['smc_private_rooms', 'table', 'to_regclass'],
  ['smc_private_epochs', 'table', 'to_regclass'],
] as const;

/**
 * The schema the migrations record is really there: a database restored from a dump of the
 * tables alone (`pg_dump --table`) has the migration record but not the function, and every
 * append would fail; the relay refuses it at start instead, saying what to do.
 */
async function checkComplete(client: ClientBase): Promise<void> {
  const missing: string[] = [];
  for (const [name, kind, fn] of REQUIRED_OBJECTS) {
    const r = await client.query<{ found: string | null }>(`SELECT ${fn}($1)::text AS found`, [name]);
    if (r.rows[0]?.found === null || r.rows[0]?.found === undefined) missing.push(`${kind} ${name}`);
  }
  if (missing.length > 0) {
    throw new Error(`the database's SMC schema is incomplete (missing ${missing.join(', ')}), though its migrations are recorded: `
      + 'was it restored from a dump of the tables alone? Restore a dump of the whole database (pg_dump without --table; docs/storage.md "Backup and restore")');
  }
}
