// A delete in a private room purges the local history store (issue 12: "a delete removes the
// text from every client's view and local store"; docs/protocol.md §2.3 "Order", §3.8): two
// `smc chat --json` members through the real relay; alice sends a secret line and deletes it;
// once both have stopped, every record of both history files, decrypted with the history key
// from their secrets.json by the core's own reader, holds the secret nowhere. Needs
// `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonChat } from '../helpers/cliProcess';
import { privateRoomSuite, privateRoomWith } from '../helpers/privateRoom';
import { until } from '../helpers/until';
import { HistoryStore } from '../../src/core/private';
import { FileHistoryLog } from '../../src/node/historyFile';
import { decodeB64u } from '../../src/core/crypto/b64u';

type Line = Record<string, unknown>;

/** Everything a member's history file of `room` holds, decrypted with its own key (secrets.json). */
async function historyOf(home: string, room: string): Promise<{ raw: string; plain: string[]; shown: string[] }> {
  const secrets = JSON.parse(readFileSync(join(home, 'secrets.json'), 'utf8')) as Record<string, string>;
  const key = decodeB64u(secrets[`smc.history.${room}`]!);
  const log = new FileHistoryLog(room, home);
  const store = new HistoryStore(room, key, log);
  const raw = readFileSync(log.path, 'utf8');
  const plain = await store.decryptAll();
  assert.equal(plain.damaged, 0);
  const { records } = await store.load();
  return { raw, plain: plain.values.map((v) => JSON.stringify(v)), shown: records.map((r) => r.p) };
}

describe('a delete purges the private room history store (§2.3 "Order", §3.8; real relay)', function () {
  this.timeout(120_000);
  const suite = privateRoomSuite('smc-history-purge-');

  it('the deleted text, its edit, and a reply\'s quote of it are in no record of either member once both stopped', async () => {
    const { relay, chats } = suite;
    const home = (who: string): string => chats.home(who);
    const { admin: alice, members: [bob] } = await privateRoomWith(chats, `127.0.0.1:${relay.port}`, ['bob']);
    const find = (c: JsonChat, pred: (l: Line) => boolean): Line | undefined => c.lines.find(pred);

    const secret = `launch code ${randomBytes(9).toString('hex')}`;
    const edited = `edited ${randomBytes(9).toString('hex')}`;
    alice.send('a line that stays');
    alice.send(secret);
    const got = await until('bob has the secret', () => find(bob, (l) => l.text === secret), 60_000);
    const id = String(got.id);
    bob.send(JSON.stringify({ type: 'reply', to: id, text: 'noted' }));
    await until('alice has the reply', () => find(alice, (l) => l.text === 'noted'), 60_000);
    alice.send(JSON.stringify({ type: 'edit', target: id, text: edited }));
    await until('bob has the edit', () => find(bob, (l) => l.type === 'edit' && l.change === 'edited'), 60_000);
    alice.send(JSON.stringify({ type: 'delete', target: id }));
    await until('bob has the delete', () => find(bob, (l) => l.type === 'delete' && l.change === 'deleted'), 60_000);
    alice.send('after the delete');
    await until('bob has the last line', () => find(bob, (l) => l.text === 'after the delete'), 60_000);

    alice.end();
    bob.end();
    assert.equal(await alice.exit, 0, alice.stderr.join('\n'));
    assert.equal(await bob.exit, 0, bob.stderr.join('\n'));

    const room = readdirSync(join(home('alice'), 'history')).find((n) => n.endsWith('.log'))!.slice(0, -4);
    for (const who of ['alice', 'bob']) {
      const h = await historyOf(home(who), room);
      const secretPart = secret.slice('launch code '.length);
      const editedPart = edited.slice('edited '.length);
      assert.ok(!h.raw.includes(secretPart), `${who}: raw file`);
      for (const p of [...h.plain, ...h.shown]) {
        assert.ok(!p.includes(secretPart), `${who}'s history still holds the deleted text: ${p}`);
        assert.ok(!p.includes(editedPart), `${who}'s history still holds the deleted message's edit: ${p}`);
      }
      // What was not deleted stays, and the delete itself stays (the message shows as deleted).
      assert.ok(h.shown.some((p) => p.includes('a line that stays')), `${who}: kept lines`);
      assert.ok(h.shown.some((p) => p.includes('after the delete')), `${who}: later lines`);
      assert.ok(h.shown.some((p) => p.includes('"noted"')), `${who}: the reply itself`);
      assert.ok(h.shown.some((p) => p.includes('"type":"delete"')), `${who}: the delete`);
      assert.ok(h.shown.some((p) => p.includes(`"id":"${id}"`) && p.includes('"type":"text"')), `${who}: the deleted message's record (id, seq) stays`);
    }
  });

  it('members killed (kill -9) right after the delete: their next start purges what the delete removed', async () => {
    const { relay, chats } = suite;
    const home = (who: string): string => chats.home(who);
    const { admin: alice, members: [bob] } = await privateRoomWith(chats, `127.0.0.1:${relay.port}`, ['bob']);
    const secret = `killed ${randomBytes(9).toString('hex')}`;
    alice.send(secret);
    const got = await until('bob has the secret', () => bob.lines.find((l) => l.text === secret), 60_000);
    alice.send(JSON.stringify({ type: 'delete', target: String(got.id) }));
    await until('bob has the delete', () => bob.lines.find((l) => l.type === 'delete' && l.change === 'deleted'), 60_000);
    alice.kill();
    bob.kill();
    await alice.exit;
    await bob.exit;
    // Restarted (they catch up and end): the store is purged at its load, flushed at the exit.
    for (const [who, args] of [['alice', ['--name', 'alice', 'team']], ['bob', ['--name', 'bob', 'team']]] as const) {
      const again = chats.chat(who, [...args]);
      again.end();
      assert.equal(await again.exit, 0, again.stderr.join('\n'));
    }
    const room = readdirSync(join(home('alice'), 'history')).find((n) => n.endsWith('.log'))!.slice(0, -4);
    for (const who of ['alice', 'bob']) {
      const h = await historyOf(home(who), room);
      for (const p of [...h.plain, ...h.shown]) assert.ok(!p.includes(secret.slice(7)), `${who}'s history still holds the deleted text: ${p}`);
      assert.ok(h.shown.some((p) => p.includes('"type":"delete"')), `${who}: the delete`);
    }
  });

  it('a purge killed between its synced temp file and the rename leaves the old history whole; the next start purges it', async () => {
    const { dir } = suite;
    const home = join(dir, 'carol');
    const room = 'C'.repeat(22);
    const key = Buffer.alloc(32, 7);
    const sender = 'cc'.repeat(32);
    const lines = [
      { seq: 1, ts: 1, id: 'a'.repeat(22), epoch: 1, sender, p: JSON.stringify({ id: 'a'.repeat(22), ts: 1, name: 'carol', type: 'text', text: 'SECRET-TEXT' }) },
      { seq: 2, ts: 2, id: 'b'.repeat(22), epoch: 1, sender, p: JSON.stringify({ id: 'b'.repeat(22), ts: 2, name: 'carol', type: 'text', text: 'kept' }) },
      { seq: 3, ts: 3, id: 'c'.repeat(22), epoch: 1, sender, p: JSON.stringify({ id: 'c'.repeat(22), ts: 3, name: 'carol', type: 'delete', target: 'a'.repeat(22) }) },
    ];
    const out = join(__dirname, '..', '..', 'src');
    const script = join(dir, 'purge-child.js');
    // The child writes the three records, then purges; it stops at the worst moment (the new
    // file written and synced, not renamed yet) and is killed there, as a power cut would.
    writeFileSync(script, `
      const { HistoryStore } = require(${JSON.stringify(join(out, 'core', 'private', 'historyStore.js'))});
      const { FileHistoryLog } = require(${JSON.stringify(join(out, 'node', 'historyFile.js'))});
      const log = new FileHistoryLog(${JSON.stringify(room)}, ${JSON.stringify(home)}, {
        beforeRename: () => { process.stdout.write('go\\n'); return new Promise(() => {}); },
      });
      const h = new HistoryStore(${JSON.stringify(room)}, Buffer.alloc(32, 7), log, { purgeIntervalMs: 600000 });
      (async () => {
        for (const r of ${JSON.stringify(lines)}) await h.append(r);
        await h.flush();
      })();
    `);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.once('data', () => { child.kill('SIGKILL'); resolve(); });
    });
    await new Promise((r) => child.once('exit', r));
    const historyDir = join(home, 'history');
    assert.equal(readdirSync(historyDir).length, 2, 'the killed purge left its temp file');
    // The old file is whole: every record opens, the secret among them (not purged yet) ...
    // Opening the log removes the temp file once it is old enough not to be a rewrite in
    // flight (src/node/fileStores.ts removeStaleTemps).
    const temp = readdirSync(historyDir).find((n) => n.endsWith('.tmp'))!;
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(join(historyDir, temp), twoHoursAgo, twoHoursAgo);
    const log = new FileHistoryLog(room, home);
    assert.deepEqual(readdirSync(historyDir), [`${room}.log`], 'opening the log removes the temp file');
    const store = new HistoryStore(room, key, log);
    const raw = await store.decryptAll();
    assert.equal(raw.damaged, 0);
    assert.equal(raw.values.length, 3);
    assert.ok(raw.values.some((v) => String(v.p).includes('SECRET-TEXT')));
    // ... never shown, and purged by the next start.
    const { records } = await store.load();
    assert.equal(records.length, 3);
    assert.ok(!records.some((r) => r.p.includes('SECRET-TEXT')));
    await store.flush();
    const after = await store.decryptAll();
    assert.equal(after.damaged, 0);
    assert.equal(after.values.length, 3);
    assert.ok(!after.values.some((v) => String(v.p).includes('SECRET-TEXT')));
    assert.ok(after.values.some((v) => String(v.p).includes('kept')));
  });
});
