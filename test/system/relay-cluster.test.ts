// Several real relay processes (`smc relay --postgres URL`) on one real PostgreSQL (issue 9),
// clients over real TCP on each: one room as one relay would show it. Every member on any relay
// receives every msg once and in seq order, seqs 1..N contiguous, each ack's seq the one the
// others received; one id sent on two relays at once gets one seq; presence lists the members of
// every relay and drops a SIGKILLed relay; catch-up and history are the same through a third
// relay; a relay SIGKILLed mid-stream, and PostgreSQL SIGKILLed mid-stream and started again,
// lose no acked message and double none, and resends get their original seqs. Also the start:
// `--migrate-only`, SMC_RELAY_POSTGRES, a refused server (fsync off), an unreachable one, and a
// password that never reaches a log line.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresServer, freePort } from '../helpers/postgres';
import { LineClient, RelayProcess, randomId, randomRoom, type Frame } from '../helpers/relayProcess';
import { until } from '../helpers/until';

const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const body = (): string => randomId() + randomId();


/** The `msg` seqs of `room` a client received, in order of arrival. */
function seqsOf(c: LineClient, room: string): number[] {
  return c.received.filter((f) => f.t === 'msg' && f.room === room).map((f) => f.seq as number);
}

/** A database name from its URL (PostgresServer.sql takes one). */
function dbName(url: string): string {
  return new URL(url).pathname.slice(1);
}

describe('relay cluster: three relays on one PostgreSQL', function () {
  this.timeout(180_000);
  let pg: PostgresServer;
  let url: string;
  const relays: RelayProcess[] = [];
  const clients: LineClient[] = [];

  const startRelay = async (extra: string[] = [], env: Record<string, string> = {}): Promise<RelayProcess> => {
    const relay = await RelayProcess.start({ args: ['--postgres', url, '--rate', '0', ...extra], env, startTimeoutMs: 30_000 });
    relays.push(relay);
    return relay;
  };
  const client = async (relay: RelayProcess): Promise<LineClient> => {
    const { client: c, welcome } = await LineClient.open(relay.port);
    assert.equal(welcome.t, 'welcome');
    clients.push(c);
    return c;
  };
  /** join, then the catch-up's msgs, then synced. */
  const joinRoom = async (c: LineClient, room: string, extra: Record<string, unknown> = {}): Promise<{ joined: Frame; msgs: Frame[]; synced: Frame }> => {
    const joined = await c.request({ t: 'join', room, ...extra }, 20_000);
    assert.equal(joined.t, 'joined', JSON.stringify(joined));
    const msgs: Frame[] = [];
    for (;;) {
      const f = await c.next((x) => (x.t === 'msg' || x.t === 'synced') && x.room === room, 20_000);
      if (f.t === 'synced') return { joined, msgs, synced: f };
      msgs.push(f);
    }
  };
  /** Pipelines `ids` as sends (no rid) and resolves with each id's ack or error frame. */
  const sendAll = async (c: LineClient, room: string, ids: string[], timeoutMs = 60_000): Promise<Map<string, Frame>> => {
    const replies = new Map<string, Frame>();
    c.sendRaw(ids.map((id, i) => JSON.stringify({ t: 'send', rid: 100_000 + i, room, id, body: body() }) + '\n').join(''));
    const rids = new Map(ids.map((id, i) => [100_000 + i, id]));
    while (replies.size < ids.length) {
      const f = await c.next((x) => (x.t === 'ack' || x.t === 'error') && rids.has(x.rid as number), timeoutMs);
      replies.set(rids.get(f.rid as number) as string, f);
    }
    return replies;
  };
  const storedRows = async (room: string): Promise<Array<{ seq: number; id: string }>> => {
    const rows = await pg.sql('SELECT seq, id FROM smc_messages WHERE room = $1 ORDER BY seq', [room], dbName(url));
    return rows.map((r) => ({ seq: Number(r.seq), id: String(r.id) }));
  };

  before(async () => {
    pg = await PostgresServer.start();
  });
  after(async () => {
    await pg?.destroy();
  });
  beforeEach(async () => {
    url = await pg.createDatabase();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await Promise.all(relays.splice(0).map((r) => r.cleanup()));
  });

  it('concurrent pipelined sends from all three: every member sees every message once, in seq order, as acked', async () => {
    const [a, b, c] = [await startRelay(), await startRelay(), await startRelay()];
    const room = randomRoom();
    const senders = [await client(a), await client(b), await client(c)];
    const listeners = [await client(a), await client(b), await client(c)];
    for (const x of [...senders, ...listeners]) await joinRoom(x, room);
    const perSender = 150;
    const results = await Promise.all(senders.map((s) => sendAll(s, room, Array.from({ length: perSender }, randomId))));
    const total = perSender * senders.length;
    const seqOfId = new Map<string, number>();
    const ownSeqs = results.map((replies) => {
      const seqs: number[] = [];
      for (const [id, f] of replies) {
        assert.equal(f.t, 'ack', JSON.stringify(f));
        seqOfId.set(id, f.seq as number);
        seqs.push(f.seq as number);
      }
      return new Set(seqs);
    });
    assert.deepEqual([...seqOfId.values()].sort((x, y) => x - y), oneTo(total), 'acks: seqs 1..N, none twice');
    for (const l of listeners) {
      await until('every message at a listener', () => (seqsOf(l, room).length >= total ? true : undefined));
      assert.deepEqual(seqsOf(l, room), oneTo(total), 'in seq order, each once');
      for (const f of l.received) if (f.t === 'msg') assert.equal(seqOfId.get(f.id as string), f.seq, 'the seq its sender was acked');
    }
    for (let i = 0; i < senders.length; i++) {
      const s = senders[i] as LineClient;
      const own = ownSeqs[i] as Set<number>;
      const expected = oneTo(total).filter((q) => !own.has(q));
      await until('the others\' messages at a sender', () => (seqsOf(s, room).length >= expected.length ? true : undefined));
      assert.deepEqual(seqsOf(s, room), expected, 'a sender gets everyone else\'s, in order, and none of its own');
    }
    assert.deepEqual((await storedRows(room)).map((r) => r.seq), oneTo(total));
  });

  it('one id sent on two relays at once gets one seq, and reaches every member once', async () => {
    const [a, b, c] = [await startRelay(), await startRelay(), await startRelay()];
    const room = randomRoom();
    const [ca, cb, cc] = [await client(a), await client(b), await client(c)];
    for (const x of [ca, cb, cc]) await joinRoom(x, room);
    const ids = Array.from({ length: 60 }, randomId);
    const [ra, rb] = await Promise.all([sendAll(ca, room, ids), sendAll(cb, room, [...ids].reverse())]);
    for (const id of ids) {
      const [x, y] = [ra.get(id), rb.get(id)];
      assert.equal(x?.t, 'ack', JSON.stringify(x));
      assert.equal(y?.t, 'ack', JSON.stringify(y));
      assert.equal(x?.seq, y?.seq, `one seq for ${id} on both relays`);
    }
    assert.deepEqual((await storedRows(room)).map((r) => r.seq), oneTo(ids.length), 'each id stored once');
    await until('every id at the third relay', () => (seqsOf(cc, room).length >= ids.length ? true : undefined));
    await new Promise((r) => setTimeout(r, 1_500)); // a poll period: a double would have arrived
    assert.deepEqual(seqsOf(cc, room), oneTo(ids.length));
    assert.equal(new Set(cc.received.filter((f) => f.t === 'msg').map((f) => f.id)).size, ids.length);
  });

  it('presence lists the members of every relay, follows a leave, and drops a SIGKILLed relay', async () => {
    const [a, b, c] = [await startRelay(), await startRelay(), await startRelay()];
    const room = randomRoom();
    const [ca, cb, cc] = [await client(a), await client(b), await client(c)];
    const tags = [randomId(), randomId(), randomId()];
    const sids: string[] = [];
    for (const [i, x] of [ca, cb, cc].entries()) sids.push((await joinRoom(x, room, { tag: tags[i] })).joined.sid as string);
    assert.equal(new Set(sids).size, 3);
    const listed = (x: LineClient): Frame | undefined => x.received.filter((f) => f.t === 'presence' && f.room === room).at(-1);
    const members = (f: Frame | undefined): string[] => ((f?.members ?? []) as Array<{ sid: string; tag?: string }>).map((m) => `${m.sid}:${m.tag}`).sort();
    const all = sids.map((s, i) => `${s}:${tags[i]}`).sort();
    for (const x of [ca, cb, cc]) {
      await until('all three listed', () => (listed(x)?.online === 3 && members(listed(x)).join() === all.join() ? true : undefined));
    }
    const left = await cc.request({ t: 'leave', room });
    assert.equal(left.t, 'left');
    for (const x of [ca, cb]) await until('the leave seen', () => (listed(x)?.online === 2 ? true : undefined));
    assert.deepEqual(members(listed(ca)), all.filter((m) => !m.startsWith(`${sids[2]}:`)));
    await b.kill();
    const killedAt = Date.now();
    await until('the dead relay\'s member dropped', () => (listed(ca)?.online === 1 ? true : undefined), 30_000);
    assert.deepEqual(members(listed(ca)), [`${sids[0]}:${tags[0]}`]);
    assert.ok(Date.now() - killedAt < 20_000, `dropped after ${Date.now() - killedAt} ms`);
  });

  it('catch-up and history paging are the same through a third relay', async () => {
    const [a, b, c] = [await startRelay(), await startRelay(), await startRelay()];
    const room = randomRoom();
    const [ca, cb] = [await client(a), await client(b)];
    await joinRoom(ca, room);
    await joinRoom(cb, room);
    const acked = new Map<number, string>();
    for (let round = 0; round < 5; round++) {
      for (const x of [ca, cb]) {
        for (const [id, f] of await sendAll(x, room, Array.from({ length: 5 }, randomId))) acked.set(f.seq as number, id);
      }
    }
    assert.deepEqual([...acked.keys()].sort((x, y) => x - y), oneTo(50));
    const cc = await client(c);
    const { joined, msgs, synced } = await joinRoom(cc, room, { since: 0, limit: 20 });
    assert.equal(joined.head, 50);
    assert.deepEqual(msgs.map((m) => m.seq), oneTo(20).map((s) => s + 30), 'the newest 20, oldest first');
    for (const m of msgs) assert.equal(m.id, acked.get(m.seq as number));
    assert.equal(synced.from, 31);
    const pages: Array<{ seqs: number[]; page: Frame }> = [];
    let before = 31;
    for (;;) {
      const rid = 900 + pages.length;
      cc.send({ t: 'history', rid, room, before, limit: 20 });
      const seqs: number[] = [];
      for (;;) {
        const f = await cc.next((x) => (x.t === 'msg' && x.room === room) || x.rid === rid, 20_000);
        if (f.t !== 'msg') {
          assert.equal(f.t, 'page', JSON.stringify(f));
          pages.push({ seqs, page: f });
          break;
        }
        assert.equal(f.id, acked.get(f.seq as number));
        seqs.push(f.seq as number);
      }
      const last = pages.at(-1) as { seqs: number[]; page: Frame };
      if (last.page.more !== true) break;
      before = last.page.from as number;
    }
    assert.deepEqual(pages.map((p) => [p.page.from, p.page.to, p.page.more]), [[11, 30, true], [1, 10, false]]);
    assert.deepEqual(pages.flatMap((p) => p.seqs), [...oneTo(20).map((s) => s + 10), ...oneTo(10)]);
    // The same join through the first relay.
    const again = await client(a);
    const same = await joinRoom(again, room, { since: 0, limit: 20 });
    assert.deepEqual(same.msgs.map((m) => [m.seq, m.id]), msgs.map((m) => [m.seq, m.id]));
  });

  it('a relay SIGKILLed mid-stream: nothing acked lost or doubled; its clients resend on another relay and get the original seqs', async () => {
    const [a, b, c] = [await startRelay(), await startRelay(), await startRelay()];
    const room = randomRoom();
    const [sa, sb, listener] = [await client(a), await client(b), await client(c)];
    for (const x of [sa, sb, listener]) await joinRoom(x, room);
    const idsA = Array.from({ length: 2_000 }, randomId);
    const acksA = new Map<string, number>();
    sa.socket.on('data', () => {
      for (const f of sa.drain()) if (f.t === 'ack') acksA.set(f.id as string, f.seq as number);
    });
    sa.sendRaw(idsA.map((id) => JSON.stringify({ t: 'send', room, id, body: body() }) + '\n').join(''));
    const fromB = sendAll(sb, room, Array.from({ length: 300 }, randomId));
    await until('a few acks from the relay to kill', () => (acksA.size >= 50 ? true : undefined));
    await a.kill();
    const ackedBeforeKill = new Map(acksA);
    assert.ok(ackedBeforeKill.size < idsA.length, 'killed mid-stream');
    const repliesB = await fromB;
    for (const f of repliesB.values()) assert.equal(f.t, 'ack', JSON.stringify(f));
    // The client reconnects to another relay and resends everything it sent.
    const again = await client(b);
    await joinRoom(again, room, { since: 0, limit: 0 });
    const resent = await sendAll(again, room, idsA);
    for (const [id, f] of resent) {
      assert.equal(f.t, 'ack', JSON.stringify(f));
      const original = ackedBeforeKill.get(id);
      if (original !== undefined) assert.equal(f.seq, original, 'an acked message keeps its seq');
    }
    const rows = await storedRows(room);
    const total = idsA.length + repliesB.size;
    assert.deepEqual(rows.map((r) => r.seq), oneTo(total), 'contiguous, each id once');
    for (const [id, seq] of ackedBeforeKill) assert.equal(rows[seq - 1]?.id, id);
    await until('the listener to reach the head', () => (seqsOf(listener, room).length >= total ? true : undefined));
    assert.deepEqual(seqsOf(listener, room), oneTo(total), 'the listener on a third relay: every seq once, in order');
  });

  it('PostgreSQL SIGKILLed mid-stream and started again: `internal` meanwhile, never a false ack, service resumes, resends get their seqs', async () => {
    const [a, b, c] = [await startRelay(), await startRelay(), await startRelay()];
    const room = randomRoom();
    const [sa, sb, listener] = [await client(a), await client(b), await client(c)];
    for (const x of [sa, sb, listener]) await joinRoom(x, room);
    const acked = new Map<string, number>();
    const sent: string[] = [];
    let errors = 0;
    let running = true;
    // Each sender keeps 32 sends in flight; an error (internal while the database is away) is a
    // send to do again later, with the same id.
    const loop = async (s: LineClient): Promise<void> => {
      const inFlight = new Map<number, string>();
      let rid = 1;
      const retry: string[] = [];
      while (running || inFlight.size > 0) {
        while (running && inFlight.size < 32) {
          const id = retry.shift() ?? randomId();
          if (!sent.includes(id)) sent.push(id);
          inFlight.set(rid, id);
          s.send({ t: 'send', rid, room, id, body: body() });
          rid++;
        }
        const f = await s.next((x) => (x.t === 'ack' || x.t === 'error') && inFlight.has(x.rid as number), 60_000);
        const id = inFlight.get(f.rid as number) as string;
        inFlight.delete(f.rid as number);
        if (f.t === 'ack') {
          const before = acked.get(id);
          if (before !== undefined) assert.equal(f.seq, before, 'an id acked twice keeps its seq');
          acked.set(id, f.seq as number);
        } else {
          assert.equal(f.code, 'internal', JSON.stringify(f));
          errors++;
          retry.push(id);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const loops = [loop(sa), loop(sb)];
    await until('some acks', () => (acked.size >= 200 ? true : undefined));
    await pg.kill();
    const ackedAtKill = new Map(acked);
    await until('sends refused while the database is away', () => (errors >= 10 ? true : undefined));
    await pg.startServer();
    const resumedFrom = acked.size;
    await until('acks again after the restart', () => (acked.size >= resumedFrom + 200 ? true : undefined), 60_000);
    running = false;
    await Promise.all(loops);
    const before = await storedRows(room);
    assert.deepEqual(before.map((r) => r.seq), oneTo(before.length), 'contiguous after the outage');
    for (const [id, seq] of ackedAtKill) assert.equal(before[seq - 1]?.id, id, 'acked before the kill: still there, same seq');
    await until('the listener on the third relay to reach the head', () => (seqsOf(listener, room).length >= before.length ? true : undefined), 60_000);
    assert.deepEqual(seqsOf(listener, room), oneTo(before.length), 'the listener: every seq once, in order, across the outage');
    // Every id ever sent, once more, through the third relay: acked ones keep their seqs, and
    // those never stored (refused while the database was away, not retried) are stored now.
    const resent = await sendAll(listener, room, sent);
    for (const [id, f] of resent) {
      assert.equal(f.t, 'ack', JSON.stringify(f));
      const original = acked.get(id);
      if (original !== undefined) assert.equal(f.seq, original, 'an acked message keeps its seq');
    }
    const rows = await storedRows(room);
    assert.deepEqual(rows.map((r) => r.seq), oneTo(sent.length), 'contiguous, each id once');
  });

  it('starts with SMC_RELAY_POSTGRES too, and --migrate-only migrates and exits', async () => {
    const data = mkdtempSync(join(tmpdir(), 'smc-cluster-'));
    try {
      const migrated = await RelayProcess.run(['relay', '--migrate-only', '--data', data, '--log-format', 'json'], { SMC_RELAY_POSTGRES: url }, 30_000);
      assert.equal(migrated.code, 0, migrated.stderr);
      const tables = await pg.sql("SELECT tablename FROM pg_tables WHERE tablename LIKE 'smc_%' ORDER BY 1", [], dbName(url));
      assert.deepEqual(tables.map((t) => t.tablename), ['smc_instances', 'smc_messages', 'smc_presence', 'smc_private_epochs', 'smc_private_rooms', 'smc_rooms', 'smc_schema_migrations']);
      const again = await RelayProcess.run(['relay', '--migrate-only', '--postgres', url, '--data', data], {}, 30_000);
      assert.equal(again.code, 0, again.stderr);
      const usage = await RelayProcess.run(['relay', '--migrate-only', '--data', data], {}, 30_000);
      assert.equal(usage.code, 2, 'usage: --migrate-only needs --postgres');
      assert.match(usage.stderr, /--postgres/);
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
    const relay = await startRelay([], {});
    const x = await client(relay);
    await joinRoom(x, randomRoom());
  });

  it('refuses an unreachable database at start, and never logs a password', async () => {
    const data = mkdtempSync(join(tmpdir(), 'smc-cluster-'));
    try {
      const port = await freePort();
      const secret = 'Pa55-' + randomId();
      const refused = await RelayProcess.run(['relay', '--port', '0', '--data', data, '--log-format', 'json', '--postgres', `postgres://smc:${secret}@127.0.0.1:${port}/smc`], {}, 60_000);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /PostgreSQL|postgres/);
      assert.ok(!(refused.stdout + refused.stderr).includes(secret), 'the password is not in the output');
      // A reachable server (trust auth ignores the password): the password is in no log line either.
      const u = new URL(url);
      u.username = 'postgres';
      u.password = secret;
      const withPassword = await RelayProcess.start({ args: ['--postgres', u.toString()] });
      relays.push(withPassword);
      const x = await client(withPassword);
      await joinRoom(x, randomRoom());
      await withPassword.stop();
      const output = JSON.stringify(withPassword.logs) + withPassword.otherOutput.join('');
      assert.ok(!output.includes(secret), 'the password is not in the log');
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});

describe('relay cluster: a PostgreSQL server with fsync off', function () {
  this.timeout(60_000);
  let pg: PostgresServer;
  before(async () => {
    pg = await PostgresServer.start({ fsync: false });
  });
  after(async () => {
    await pg?.destroy();
  });

  it('is refused at start, with a message that says why', async () => {
    const data = mkdtempSync(join(tmpdir(), 'smc-cluster-'));
    try {
      const r = await RelayProcess.run(['relay', '--port', '0', '--data', data, '--postgres', pg.url()], {}, 30_000);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /fsync/);
      assert.match(r.stderr, /off/);
      const m = await RelayProcess.run(['relay', '--migrate-only', '--postgres', pg.url(), '--data', data], {}, 30_000);
      assert.equal(m.code, 1, m.stderr);
      assert.match(m.stderr, /fsync/);
      const tables = await pg.sql("SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'smc_%'");
      assert.equal(tables[0]?.n, 0, 'nothing was created');
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
