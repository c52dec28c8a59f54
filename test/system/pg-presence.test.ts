// Presence across relays on the PostgreSQL store: each relay sees the members of every live
// relay; a relay that is SIGKILLed (a real child process holding a real store) drops out within
// its TTL, and the others are told (a `presence` event) so they can announce it; a relay that
// closes cleanly drops out at once. Against a real PostgreSQL.
//
// Run as `node pg-presence.test.js` with SMC_PG_PRESENCE_CHILD=<url> this file is that child
// relay: it opens a store, puts one member in a room, says "ready" and waits to be killed.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { postgresPerTest } from '../helpers/postgres';
import { PgStore } from '../../src/relay/store/pg/pgStore';
import { until } from '../helpers/until';

const key = (): string => randomBytes(16).toString('base64url');
const TTL_MS = 1_000;

async function child(url: string, room: string): Promise<void> {
  const store = new PgStore({ url, retain: 10, presenceTtlMs: TTL_MS });
  await store.open();
  store.setPresence(room, 'child-sid', 'child-tag');
  await store.flushPresence();
  process.stdout.write('ready\n');
  setInterval(() => undefined, 60_000);
}

const childUrl = process.env.SMC_PG_PRESENCE_CHILD;
if (childUrl !== undefined) {
  void child(childUrl, process.env.SMC_PG_PRESENCE_ROOM ?? '');
} else {
  describe('PostgreSQL store presence', function () {
    this.timeout(60_000);
    const postgres = postgresPerTest();
    const stores: PgStore[] = [];
    const children: ChildProcess[] = [];

    const open = async (): Promise<PgStore> => {
      const store = new PgStore({ url: postgres.url, retain: 10, presenceTtlMs: TTL_MS });
      stores.push(store);
      await store.open();
      return store;
    };

    afterEach(async () => {
      for (const c of children.splice(0)) c.kill('SIGKILL');
      await Promise.all(stores.splice(0).map((s) => s.close()));
    });

    it('lists the members of every relay, and tells the others of a change', async () => {
      const a = await open();
      const b = await open();
      const room = key();
      await a.watch(room);
      await b.watch(room);
      const bEvents: string[] = [];
      b.on('presence', (r) => bEvents.push(r));
      a.setPresence(room, 'a1', 'tagA1');
      a.setPresence(room, 'a2', undefined);
      b.setPresence(room, 'b1', 'tagB1');
      await until('three members', async () => ((await b.presence(room, 256)).online === 3 ? true : undefined));
      const listed = await a.presence(room, 256);
      assert.deepEqual(listed.members.map((m) => m.sid).sort(), ['a1', 'a2', 'b1']);
      assert.deepEqual(listed.members.find((m) => m.sid === 'a2'), { sid: 'a2' });
      assert.equal((await a.presence(room, 2)).members.length, 2, 'cut at the limit');
      assert.equal((await a.presence(room, 2)).online, 3, 'online still counts everyone');
      await until('b to hear of a\'s change', () => (bEvents.includes(room) ? true : undefined));
      a.removePresence(room, 'a1');
      a.setPresence(room, 'a2', 'retagged');
      await until('the leave and the new tag', async () => {
        const p = await b.presence(room, 256);
        return p.online === 2 && p.members.some((m) => m.tag === 'retagged') ? true : undefined;
      });
      await a.close();
      await until('a\'s members gone at once on a clean close', async () => ((await b.presence(room, 256)).online === 1 ? true : undefined), 2_000);
    });

    it('drops a SIGKILLed relay within its TTL and tells the others', async () => {
      const b = await open();
      const room = key();
      await b.watch(room);
      const events: number[] = [];
      b.on('presence', (r) => {
        if (r === room) events.push(Date.now());
      });
      const proc = spawn(process.execPath, [__filename], {
        env: { ...process.env, SMC_PG_PRESENCE_CHILD: postgres.url, SMC_PG_PRESENCE_ROOM: room },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(proc);
      await new Promise<void>((resolve, reject) => {
        proc.stdout?.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
      });
      const before = await b.presence(room, 256);
      assert.deepEqual(before.members, [{ sid: 'child-sid', tag: 'child-tag' }]);
      // Stays listed while it heartbeats (three TTLs).
      await new Promise((r) => setTimeout(r, 3 * TTL_MS));
      assert.equal((await b.presence(room, 256)).online, 1, 'a live relay does not expire');
      const eventsBefore = events.length;
      const killedAt = Date.now();
      proc.kill('SIGKILL');
      await until('the dead relay to leave presence', async () => ((await b.presence(room, 256)).online === 0 ? true : undefined), 10_000);
      await until('a presence event after the expiry', () => (events.length > eventsBefore ? true : undefined), 10_000);
      const rows = await postgres.sql('SELECT count(*)::int AS n FROM smc_presence');
      assert.equal(rows[0]?.n, 0, 'the expired instance\'s rows are deleted');
      assert.ok(Date.now() - killedAt < 10_000);
    });

    it('announces its members again after others expired it (cut off longer than the TTL)', async () => {
      const a = await open();
      const b = await open();
      const room = key();
      await b.watch(room);
      a.setPresence(room, 'a1', 't');
      await until('a1 listed', async () => ((await b.presence(room, 256)).online === 1 ? true : undefined));
      // Others expire `a` (as if it had been cut off for longer than the TTL).
      await postgres.sql('DELETE FROM smc_instances WHERE instance = $1', [a.instance]);
      await postgres.sql('DELETE FROM smc_presence WHERE instance = $1', [a.instance]);
      assert.equal((await b.presence(room, 256)).online, 0);
      await until('a to notice and announce itself again', async () => ((await b.presence(room, 256)).online === 1 ? true : undefined), 10_000);
    });
  });
}
