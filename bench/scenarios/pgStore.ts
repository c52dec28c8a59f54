// Scenario "pg-store" (issue 9): the PostgreSQL cluster store alone (src/relay/store/pg, no relay,
// no TCP clients), against a real PostgreSQL started for the run (test/helpers/postgres.ts,
// fsync on, synchronous_commit on): acked appends/s with 64 in flight per instance, for one
// instance and for three instances (three relays' stores on one database) in one shared room and
// in a room each; ack latency paced at 500 msg/s; and the raw baseline of the same run: a bare
// `pg` client inserting the same rows in batches of 64 per transaction (one and three
// connections), which is what this database allows at this commit rate.
//
// Run it alone:
//   node scripts/build.mjs && npx tsc -p tsconfig.json --outDir out && node out/bench/scenarios/pgStore.js [--quick]
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PostgresServer } from '../../test/helpers/postgres';
import { PgStore } from '../../src/relay/store/pg/pgStore';
import { paced } from '../lib/load';
import { fmt, result, renderScenario, type RunContext, type Scenario } from '../lib/report';
import { LatencyRecorder, nowNs, sleep, type LatencySummary } from '../lib/stats';

const IN_FLIGHT = 64;
const BODY_BYTES = 150; // ≈ 200 b64u chars, as the relay scenarios send
const PACED_RATE = 500;

const key = (): string => randomBytes(16).toString('base64url');

interface Windowed {
  ackedPerS: number;
  latency: LatencySummary;
  perCommit: number;
}

/** `stores.length` instances, each with IN_FLIGHT appends in flight, for runMs after warmMs. */
async function windowed(stores: PgStore[], roomOf: (instance: number) => string, warmMs: number, runMs: number): Promise<Windowed> {
  const body = randomBytes(BODY_BYTES).toString('base64url');
  let recording = false;
  let running = true;
  let acked = 0;
  const recorder = new LatencyRecorder(200_000);
  const loops = stores.flatMap((store, i) => Array.from({ length: IN_FLIGHT }, async () => {
    while (running) {
      const t0 = nowNs();
      await store.append(roomOf(i), key(), body);
      if (recording) {
        acked++;
        recorder.record(nowNs() - t0);
      }
    }
  }));
  await sleep(warmMs);
  const commits0 = stores.reduce((n, s) => n + s.stats().commits, 0);
  const appended0 = stores.reduce((n, s) => n + s.stats().appended, 0);
  recording = true;
  const t0 = performance.now();
  await sleep(runMs);
  recording = false;
  const secs = (performance.now() - t0) / 1000;
  const commits = stores.reduce((n, s) => n + s.stats().commits, 0) - commits0;
  const appended = stores.reduce((n, s) => n + s.stats().appended, 0) - appended0;
  running = false;
  await Promise.all(loops);
  return { ackedPerS: acked / secs, latency: recorder.summary(), perCommit: appended / Math.max(1, commits) };
}

/** Open loop at PACED_RATE in all, spread over the instances: ack latency. */
async function pacedLatency(stores: PgStore[], room: string, ms: number): Promise<LatencySummary> {
  const body = randomBytes(BODY_BYTES).toString('base64url');
  const recorder = new LatencyRecorder(PACED_RATE * (ms / 1000) + 16);
  const inFlight: Array<Promise<void>> = [];
  await paced(PACED_RATE, ms, (k) => {
    const t0 = nowNs();
    inFlight.push((stores[k % stores.length] as PgStore).append(room, key(), body).then(() => recorder.record(nowNs() - t0)));
  });
  await Promise.all(inFlight);
  return recorder.summary();
}

/**
 * The raw baseline: `connections` bare clients, each inserting batches of 64 rows per
 * transaction (synchronous_commit on): what this database allows at this commit rate.
 */
export async function rawInserts(url: string, connections: number, runMs: number): Promise<number> {
  const body = randomBytes(BODY_BYTES).toString('base64url');
  const clients = await Promise.all(Array.from({ length: connections }, async () => {
    const c = new Client({ connectionString: url, options: '-c synchronous_commit=on' });
    c.on('error', (err) => process.stderr.write(`[pg-store] raw client: ${err.message}\n`));
    await c.connect();
    return c;
  }));
  await clients[0]?.query('CREATE TABLE IF NOT EXISTS raw_baseline (room text, seq bigint, ts bigint, id text, body text, PRIMARY KEY (room, seq), UNIQUE (room, id))');
  let rows = 0;
  let running = true;
  const t0 = performance.now();
  await Promise.all(clients.map(async (c, n) => {
    const room = `raw${n}-${key()}`;
    let seq = 0;
    while (running) {
      const seqs = Array.from({ length: IN_FLIGHT }, () => ++seq);
      await c.query('BEGIN');
      await c.query({
        name: 'raw_insert',
        text: 'INSERT INTO raw_baseline SELECT $1, s, 0, $2 || s, $3 FROM unnest($4::int8[]) AS s',
        values: [room, key(), body, seqs],
      });
      await c.query('COMMIT');
      rows += seqs.length;
      if (performance.now() - t0 >= runMs) running = false;
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  await Promise.all(clients.map((c) => c.end()));
  return rows / secs;
}

export const pgStore: Scenario = {
  id: 'pg-store',
  title: 'PostgreSQL store alone: acked appends/s at 64 in flight, 1 and 3 instances; raw pg baseline',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    const warm = ctx.quick ? 500 : 2_000;
    const run = ctx.quick ? 2_000 : 6_000;
    ctx.log('pg-store: starting PostgreSQL (fsync on)');
    const pg = await PostgresServer.start({ settings: { shared_buffers: '128MB' } });
    const stores: PgStore[] = [];
    try {
      const url = await pg.createDatabase('smc_bench');
      for (let i = 0; i < 3; i++) {
        const s = new PgStore({ url, retain: 10_000_000 });
        await s.open();
        stores.push(s);
      }
      const shared = key();
      const own = [key(), key(), key()];
      ctx.log('pg-store: 1 instance, 64 in flight');
      const one = await windowed(stores.slice(0, 1), () => shared, warm, run);
      ctx.log(JSON.stringify(one));
      ctx.log('pg-store: 3 instances × 64 in flight, one room');
      const threeShared = await windowed(stores, () => shared, warm, run);
      ctx.log(JSON.stringify(threeShared));
      ctx.log('pg-store: 3 instances × 64 in flight, a room each');
      const threeOwn = await windowed(stores, (i) => own[i] as string, warm, run);
      ctx.log(JSON.stringify(threeOwn));
      ctx.log('pg-store: paced 500/s');
      const paced1 = await pacedLatency(stores.slice(0, 1), key(), run);
      const paced3 = await pacedLatency(stores, key(), run);
      ctx.log('pg-store: raw baseline');
      const raw1 = await rawInserts(url, 1, run);
      const raw3 = await rawInserts(url, 3, run);
      r.metrics.push(
        { name: '1 instance, 64 in flight: acked appends/s', value: fmt.int(one.ackedPerS), baseline: `${fmt.int(raw1)} rows/s (1 connection)`, target: '—' },
        { name: '1 instance: messages per COMMIT; ack p50 / p99', value: `${one.perCommit.toFixed(1)}; ${fmt.ms(one.latency.p50Ms)} / ${fmt.ms(one.latency.p99Ms)}`, baseline: '64 (fixed)', target: '—' },
        { name: '3 instances × 64 in flight, one room: acked appends/s', value: fmt.int(threeShared.ackedPerS), baseline: `${fmt.int(raw3)} rows/s (3 connections)`, target: '≥ 10 000', met: threeShared.ackedPerS >= 10_000 },
        { name: '3 instances, one room: messages per COMMIT; ack p50 / p99', value: `${threeShared.perCommit.toFixed(1)}; ${fmt.ms(threeShared.latency.p50Ms)} / ${fmt.ms(threeShared.latency.p99Ms)}`, baseline: '—', target: '—' },
        { name: '3 instances × 64 in flight, a room each: acked appends/s', value: fmt.int(threeOwn.ackedPerS), baseline: `${fmt.int(raw3)} rows/s (3 connections)`, target: '—' },
        { name: 'ack p50 / p99 at 500 msg/s, 1 instance', value: `${fmt.ms(paced1.p50Ms)} / ${fmt.ms(paced1.p99Ms)}`, baseline: '—', target: '—' },
        { name: 'ack p50 / p99 at 500 msg/s over 3 instances, one room', value: `${fmt.ms(paced3.p50Ms)} / ${fmt.ms(paced3.p99Ms)}`, baseline: '—', target: '≤ 10 ms (p99)', met: paced3.p99Ms <= 10 },
      );
      r.notes.push(
        `PostgreSQL ${pg.binDir.split('/').at(-2) ?? '?'} from Debian, a fresh cluster in a temp dir on this machine's disk, fsync on, synchronous_commit on for every session; ${BODY_BYTES}-byte bodies (b64u), one new id per append.`,
        'The three instances are three PgStore objects with their own connections in one Node process (the benchmark\'s), so they share one core for their JavaScript; relays in separate processes would not.',
        `64 in flight: n = ${fmt.int(one.latency.n)} / ${fmt.int(threeShared.latency.n)} / ${fmt.int(threeOwn.latency.n)} acks over ${run / 1000} s after ${warm / 1000} s warm-up. Raw baseline: INSERT of 64 rows per transaction (unnest), COMMIT, repeat, on 1 and on 3 connections, no dedup read, no room lock.`,
      );
      return r;
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await pg.destroy();
    }
  },
};

// Run alone: prints the section as Markdown.
if (require.main === module) {
  const quick = process.argv.includes('--quick');
  const ctx: RunContext = { quick, log: (m) => process.stderr.write(`[pg-store] ${m}\n`), shared: new Map() };
  pgStore.run(ctx).then(
    (res) => process.stdout.write(renderScenario(res) + '\n'),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
