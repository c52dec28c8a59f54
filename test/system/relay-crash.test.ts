// Crash test of the relay with its real store (issue 2 §3 "Crash"; PROTOCOL.md §1.5 durability
// and idempotence): several connections pipeline sends into one room, the relay process gets
// SIGKILL at a random point of the stream, and after a restart on the same data directory:
//   - every acknowledged message is stored, with the seq and ts of its ack, exactly once;
//   - the stored seqs are contiguous from 1;
//   - every message any member received as `msg` is stored with that seq (so nothing was
//     forwarded before it was durable);
//   - resending every un-acked message (as clients do after a reconnect) stores each at most
//     once: the ones that were already durable are answered with their original seq.
// Repeated with random kill points (node:crypto randomInt).

import { strict as assert } from 'node:assert';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineClient, RelayProcess, type Frame } from '../helpers/relayProcess';

const RUNS = 5;
const SENDERS = 3;
const WINDOW = 32;
/** A relay on a loaded machine may take a while; the test's own timeout bounds the run. */
const WAIT_MS = 60_000;

/** A LineClient whose every frame also goes to `onFrame` as it arrives. */
async function openStream(port: number, onFrame: (f: Frame) => void = () => undefined): Promise<LineClient> {
  const c = await LineClient.connect(port);
  c.onFrame = onFrame;
  return c;
}

/** hello (v1) and a join of `room` from `since`; resolves at its `synced`. */
async function joinRoom(c: LineClient, room: string, since = 0): Promise<void> {
  c.send({ t: 'hello', v: 1, agent: 'smc-crash-test/0' });
  c.send({ t: 'join', rid: 1, room, since, limit: 1000 });
  await c.next((f) => f.t === 'synced' && f.room === room, WAIT_MS);
}

interface Sent { id: string; body: string }
interface Stored { seq: number; ts: number; id: string; body: string }

/** Reads the whole room from a running relay: join, then page back with `history`. */
async function readRoom(port: number, room: string): Promise<Stored[]> {
  const frames: Frame[] = [];
  const c = await openStream(port, (f) => frames.push(f));
  await joinRoom(c, room);
  const msgs = frames.filter((f) => f.t === 'msg');
  let from = (frames.find((f) => f.t === 'synced') as Frame).from as number;
  while (from > 1) {
    const before = frames.length;
    const page = c.next((f) => f.t === 'page', WAIT_MS);
    c.send({ t: 'history', rid: 2, room, before: from, limit: 1000 });
    const p = await page;
    msgs.unshift(...frames.slice(before).filter((f) => f.t === 'msg'));
    from = p.from as number;
    if (!p.more) break;
  }
  c.destroy();
  return msgs.map((f) => ({ seq: f.seq as number, ts: f.ts as number, id: f.id as string, body: f.body as string }))
    .sort((a, b) => a.seq - b.seq);
}

describe('relay crash (SIGKILL mid-stream) and restart', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  const relays: RelayProcess[] = [];

  afterEach(async () => {
    for (const r of relays.splice(0)) await r.cleanup();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  for (let run = 1; run <= RUNS; run++) {
    it(`run ${run}: every acked message survives exactly once, seqs contiguous, nothing forwarded before it was durable`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'smc-crash-'));
      dirs.push(dataDir);
      const room = randomBytes(16).toString('base64url');
      const killAfterAcks = randomInt(1, 1500);
      // Its raw client joins without a proof (§1.9): this test is about durability, not membership.
      const relay = await RelayProcess.start({ dataDir, args: ['--rate', '0', '--allow-v1-joins'] });
      relays.push(relay);

      const sent: Sent[][] = Array.from({ length: SENDERS }, () => []);
      const acked = new Map<string, { seq: number; ts: number }>();
      const forwarded = new Map<string, number>();
      let totalAcks = 0;
      let killed = false;
      const seenMsg = (f: Frame): void => {
        if (f.t === 'msg' && f.room === room) {
          const prior = forwarded.get(f.id as string);
          assert.ok(prior === undefined || prior === f.seq, 'a message was forwarded with two seqs');
          forwarded.set(f.id as string, f.seq as number);
        }
      };
      const observer = await openStream(relay.port, seenMsg);
      await joinRoom(observer, room);
      const senders: LineClient[] = [];
      for (let k = 0; k < SENDERS; k++) {
        const mine = sent[k] as Sent[];
        const sendOne = (): void => {
          if (killed) return;
          const s = { id: randomBytes(16).toString('base64url'), body: randomBytes(randomInt(30, 300)).toString('base64url') };
          mine.push(s);
          client.send({ t: 'send', room, id: s.id, body: s.body });
        };
        const client: LineClient = await openStream(relay.port, (f) => {
          seenMsg(f);
          if (f.t === 'error') assert.fail(`relay error: ${JSON.stringify(f)}`);
          if (f.t !== 'ack') return;
          acked.set(f.id as string, { seq: f.seq as number, ts: f.ts as number });
          totalAcks++;
          sendOne();
          if (totalAcks === killAfterAcks) {
            // A few more milliseconds of stream, so that the kill lands anywhere in a group commit.
            setTimeout(() => {
              killed = true;
              relay.child.kill('SIGKILL');
            }, randomInt(0, 8));
          }
        });
        await joinRoom(client, room);
        senders.push(client);
        for (let i = 0; i < WINDOW; i++) sendOne();
      }
      const exit = await relay.exited;
      assert.equal(exit.signal, 'SIGKILL');
      for (const c of [observer, ...senders]) c.destroy();

      const relay2 = await RelayProcess.start({ dataDir, args: ['--rate', '0', '--allow-v1-joins'] });
      relays.push(relay2);
      const stored = await readRoom(relay2.port, room);
      const allSent = new Map(sent.flat().map((s) => [s.id, s]));

      // Contiguous seqs from 1, each id once, each body the one sent with it.
      assert.deepEqual(stored.map((m) => m.seq), stored.map((_, i) => i + 1));
      assert.equal(new Set(stored.map((m) => m.id)).size, stored.length, 'an id is stored twice');
      for (const m of stored) assert.equal(allSent.get(m.id)?.body, m.body, `seq ${m.seq} holds a body that was not sent with its id`);
      const byId = new Map(stored.map((m) => [m.id, m]));
      // Every ack is kept, with its seq and ts.
      assert.ok(acked.size >= Math.min(killAfterAcks, 1));
      for (const [id, a] of acked) {
        const m = byId.get(id);
        assert.ok(m !== undefined, `acked message ${a.seq} lost`);
        assert.deepEqual([m.seq, m.ts], [a.seq, a.ts]);
      }
      // Everything forwarded was durable: it is stored with the seq it was forwarded with.
      for (const [id, seq] of forwarded) assert.equal(byId.get(id)?.seq, seq, `forwarded seq ${seq} is not stored`);

      // Clients resend what was not acked; the durable ones come back with their seq.
      const resender = await LineClient.connect(relay2.port);
      await joinRoom(resender, room, stored.length);
      const unacked = [...allSent.values()].filter((s) => !acked.has(s.id));
      const replies = await Promise.all(unacked.map((s) => {
        const reply = resender.next((f) => f.t === 'ack' && f.id === s.id, WAIT_MS);
        resender.send({ t: 'send', room, id: s.id, body: s.body });
        return reply;
      }));
      for (const [i, r] of replies.entries()) {
        const before = byId.get((unacked[i] as Sent).id);
        if (before !== undefined) assert.equal(r.seq, before.seq, 'a durable un-acked message got a second seq');
      }
      resender.destroy();
      const final = await readRoom(relay2.port, room);
      assert.deepEqual(final.map((m) => m.seq), final.map((_, i) => i + 1));
      assert.deepEqual(new Set(final.map((m) => m.id)), new Set(allSent.keys()), 'after resending, every sent message is stored exactly once');
      assert.equal(final.length, allSent.size);
      await relay2.stop();
    });
  }
});
