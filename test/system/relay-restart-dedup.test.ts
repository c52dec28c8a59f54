// Idempotence across restarts of the real relay process (PROTOCOL.md §1.5; issue 7 §1.1): a
// `send` whose id the room already holds is answered with the original seq and ts and forwarded
// to nobody, whatever the relay went through since it stored the first copy: a clean stop
// (SIGTERM: the next start loads the index checkpoint), a crash (SIGKILL: the next start scans
// the log), a checkpoint plus records written after it, and a compaction that rewrote the
// segment holding the retained messages. Every retained message is resent, and a member that
// joined after the restart must receive only a fresh message sent after the resends.

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineClient, randomId, randomRoom, RelayProcess, type Frame } from '../helpers/relayProcess';

interface Sent { id: string; body: string }
interface Acked { seq: number; ts: number }

const body = (chars: number): string => randomBytes(Math.ceil((chars * 3) / 4)).toString('base64url').slice(0, chars);

/** A hello'd client that joined `room` at `since` (no catch-up wanted beyond it). */
async function member(relay: RelayProcess, room: string, since: number): Promise<LineClient> {
  const { client } = await LineClient.open(relay.port);
  const joined = await client.request({ t: 'join', room, since, limit: 1 });
  assert.equal(joined.t, 'joined', JSON.stringify(joined));
  await client.nextOfType('synced', (f) => f.room === room, 10_000);
  return client;
}

/** Sends every message (pipelined) and resolves with the acks, in the order sent. */
async function sendAll(client: LineClient, room: string, msgs: Sent[], timeoutMs = 20_000): Promise<Frame[]> {
  return Promise.all(msgs.map((m) => client.request({ t: 'send', room, id: m.id, body: m.body }, timeoutMs)));
}

describe('relay restart: dedup holds for every retained message (§1.5)', function () {
  this.timeout(120_000);
  let dataDir: string;
  const relays: RelayProcess[] = [];
  const clients: LineClient[] = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'smc-restart-dedup-'));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const r of relays.splice(0)) await r.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(args: string[] = []): Promise<RelayProcess> {
    const relay = await RelayProcess.start({ dataDir, args: ['--rate', '0', ...args], startTimeoutMs: 30_000 });
    relays.push(relay);
    return relay;
  }

  /** Stores `msgs` on a running relay and returns their acks by id. */
  async function store(relay: RelayProcess, room: string, msgs: Sent[], into: Map<string, Acked>, since = 0): Promise<void> {
    const sender = await member(relay, room, since);
    clients.push(sender);
    for (const [i, ack] of (await sendAll(sender, room, msgs)).entries()) {
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
      into.set((msgs[i] as Sent).id, { seq: ack.seq as number, ts: ack.ts as number });
    }
    sender.destroy();
  }

  /**
   * Resends `msgs` (with `bodyOf`'s body) to a restarted relay: each must be acked with its
   * original seq and ts, and a member that joined before the resends must receive none of them,
   * only the fresh message sent after them, with the next seq (`head` + 1).
   */
  async function resendAndCheck(relay: RelayProcess, room: string, msgs: Sent[], acked: Map<string, Acked>, head: number, bodyOf: (m: Sent) => string = (m) => m.body): Promise<void> {
    const watcher = await member(relay, room, head);
    const sender = await member(relay, room, head);
    clients.push(watcher, sender);
    const acks = await sendAll(sender, room, msgs.map((m) => ({ id: m.id, body: bodyOf(m) })));
    for (const [i, ack] of acks.entries()) {
      const m = msgs[i] as Sent;
      const first = acked.get(m.id) as Acked;
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
      assert.deepEqual({ seq: ack.seq, ts: ack.ts }, first, `message ${i + 1} (first stored as seq ${first.seq}) was stored again`);
    }
    const fresh = { id: randomId(), body: body(40) };
    const [freshAck] = await sendAll(sender, room, [fresh]);
    assert.equal(freshAck?.seq, head + 1, 'the resends took seqs');
    // The watcher receives the room's messages in seq order (§1.5): once the fresh one is there,
    // any resend that was forwarded would have arrived before it.
    await watcher.nextOfType('msg', (f) => f.id === fresh.id, 10_000);
    const forwarded = watcher.received.filter((f) => f.t === 'msg').map((f) => f.id);
    assert.deepEqual(forwarded, [fresh.id], 'a resent message was forwarded to a member again');
  }

  const room = randomRoom();
  const twenty = (): Sent[] => Array.from({ length: 20 }, () => ({ id: randomId(), body: body(200) }));

  it('after a clean stop (SIGTERM; the next start loads the index checkpoint)', async () => {
    const msgs = twenty();
    const acked = new Map<string, Acked>();
    const first = await start();
    await store(first, room, msgs, acked);
    assert.equal((await first.stop('SIGTERM')).code, 0);
    const second = await start();
    await second.waitForLog((r) => r.event === 'store.checkpoint_loaded');
    await resendAndCheck(second, room, msgs, acked, 20);
  });

  it('after a crash (SIGKILL; the next start scans the log)', async () => {
    const msgs = twenty();
    const acked = new Map<string, Acked>();
    const first = await start();
    await store(first, room, msgs, acked);
    await first.kill();
    const second = await start();
    assert.ok(!second.logs.some((r) => r.event === 'store.checkpoint_loaded'));
    await resendAndCheck(second, room, msgs, acked, 20);
  });

  it('after a checkpoint plus records written after it (SIGTERM, start, 10 more, SIGKILL)', async () => {
    const msgs = twenty();
    const later = Array.from({ length: 10 }, () => ({ id: randomId(), body: body(200) }));
    const acked = new Map<string, Acked>();
    const first = await start();
    await store(first, room, msgs, acked);
    await first.stop('SIGTERM');
    const second = await start();
    await store(second, room, later, acked, 20);
    await second.kill();
    const third = await start();
    // The checkpoint of the clean stop still describes the log: it is loaded, the tail scanned.
    const loaded = await third.waitForLog((r) => r.event === 'store.checkpoint_loaded');
    assert.ok((loaded.tailBytes as number) > 0, JSON.stringify(loaded));
    await resendAndCheck(third, room, [...msgs, ...later], acked, 30);
  });

  it('after a compaction rewrote the retained messages: then a crash (scan), then a clean stop (checkpoint)', async () => {
    // Bodies of 900 000 chars fill the relay's 64 MiB segment in about 75 messages; with
    // --retain 20 the sealed segment is mostly dead and compaction rewrites it.
    const args = ['--retain', '20', '--max-frame', String(1024 * 1024)];
    const msgs = Array.from({ length: 80 }, () => ({ id: randomId(), body: body(900_000) }));
    const acked = new Map<string, Acked>();
    const first = await start(args);
    for (let i = 0; i < msgs.length; i += 10) await store(first, room, msgs.slice(i, i + 10), acked, i);
    const compacted = await first.waitForLog((r) => r.event === 'store.compacted' && Array.isArray(r.rewrote), 60_000);
    assert.ok(compacted);
    await first.kill();
    const retained = msgs.slice(-20);
    // Resent with a short body: a duplicate is known by its id, whatever the body (§1.5).
    const second = await start(args);
    await resendAndCheck(second, room, retained, acked, 80, () => 'AAAA');
    assert.equal((await second.stop('SIGTERM')).code, 0);
    const third = await start(args);
    await third.waitForLog((r) => r.event === 'store.checkpoint_loaded');
    // The fresh message of that check pushed seq 61 out of retention: 62..80 remain of these.
    await resendAndCheck(third, room, retained.slice(1), acked, 81, () => 'AAAA');
  });
});
