// `smc chat --json` with the chat features (README "Replies, reactions, edits and files";
// docs/protocol.md §2.3.1-2.3.5): two real `node dist/cli.js chat --json` processes and a real
// relay. Objects in (reply, reaction, edit, delete, file, save), fields out; a file saved
// byte-identical only to the path given, never over an existing file, whatever its name says;
// an edit of someone else's message refused. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayProcess } from '../helpers/relayProcess';
import { JsonChat, newInvite } from '../helpers/cliProcess';
import { until } from '../helpers/until';

type Line = Record<string, unknown>;

describe('smc chat --json: replies, reactions, edits, deletes, files (real relay)', function () {
  this.timeout(90_000);
  let dir: string;
  let relay: RelayProcess;
  const chats: JsonChat[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-features-'));
    relay = await RelayProcess.start();
  });

  afterEach(async () => {
    for (const c of chats.splice(0)) c.kill();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const obj = (o: Record<string, unknown>): string => JSON.stringify(o);
  const find = (c: JsonChat, pred: (l: Line) => boolean): Line | undefined => c.lines.find(pred);

  it('reply, reaction, edit, delete as objects in, and their fields out; an edit of another\'s message refused', async () => {
    const invite = newInvite(join(dir, 'a'), `127.0.0.1:${relay.port}`, 'features');
    const alice = new JsonChat(join(dir, 'a'), ['--own', '--name', 'alice', invite]);
    const bob = new JsonChat(join(dir, 'b'), ['--name', 'bob', invite]);
    chats.push(alice, bob);
    alice.send('the build is red');
    const first = await until('bob sees it', () => find(bob, (l) => l.text === 'the build is red'));
    const id = String(first.id);
    bob.send(obj({ type: 'reply', to: id, text: 'looking' }));
    bob.send(obj({ type: 'reaction', target: id, emoji: '👀' }));
    bob.send(obj({ type: 'edit', target: id, text: 'the build is green' }));
    const reply = await until('alice sees the reply', () => find(alice, (l) => l.text === 'looking'));
    assert.deepEqual(reply.reply, { to: id, from: first.fingerprint, quote: 'the build is red' });
    const reaction = await until('alice sees the reaction', () => find(alice, (l) => l.type === 'reaction'));
    assert.equal(reaction.target, id);
    assert.equal(reaction.emoji, '👀');
    assert.equal(reaction.change, 'reactions');
    assert.equal(reaction.text, null);
    await until('bob says the edit was refused', () => bob.stderr.some((l) => /only its sender can edit/.test(l)));
    assert.equal(find(alice, (l) => l.type === 'edit'), undefined, 'never sent');

    alice.send(obj({ type: 'edit', target: id, text: 'the build is green' }));
    const edit = await until('bob sees the edit', () => find(bob, (l) => l.type === 'edit'));
    assert.equal(edit.change, 'edited');
    assert.equal(edit.text, 'the build is green');
    alice.send(obj({ type: 'delete', target: id }));
    const del = await until('bob sees the delete', () => find(bob, (l) => l.type === 'delete'));
    assert.equal(del.change, 'deleted');
    alice.send(obj({ type: 'reaction', target: id, emoji: 'not one emoji' }));
    await until('refused', () => alice.stderr.some((l) => /not sent: .*deleted|not sent: .*emoji/.test(l)));
    alice.end();
    bob.end();
    assert.equal(await alice.exit, 1, 'a refused object makes the exit code 1');
    assert.equal(await bob.exit, 1);

    // A later reader sees the message deleted, and never its text.
    const carol = new JsonChat(join(dir, 'c'), ['--name', 'carol', invite]);
    chats.push(carol);
    carol.end();
    assert.equal(await carol.exit, 0, carol.stderr.join('\n'));
    const seen = find(carol, (l) => l.id === id);
    assert.ok(seen !== undefined);
    assert.ok(find(carol, (l) => l.type === 'delete' && l.change === 'deleted'));
  });

  it('a file sent by path arrives byte-identical; it is saved only to the path given, never over a file, never by its name', async () => {
    const invite = newInvite(join(dir, 'a'), `127.0.0.1:${relay.port}`, 'files');
    const src = join(dir, 'build log.bin');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(src, bytes);
    const alice = new JsonChat(join(dir, 'a'), ['--own', '--name', 'alice', invite]);
    chats.push(alice);
    alice.send(obj({ type: 'file', path: src, text: 'last night' }));
    const sent = await until('alice\'s file is acked', () => find(alice, (l) => l.type === 'file' && l.own === true));
    await until('uploaded', () => find(alice, (l) => l.event === 'file' && l.state === 'uploaded'));
    alice.end();
    assert.equal(await alice.exit, 0, alice.stderr.join('\n'));
    assert.deepEqual((sent.file as Line).name, 'build log.bin');

    const out = join(dir, 'out');
    mkdirSync(out);
    const taken = join(out, 'taken.bin');
    writeFileSync(taken, 'mine');
    const bob = new JsonChat(join(dir, 'b'), ['--name', 'bob', invite]);
    chats.push(bob);
    const fileId = String(sent.id);
    bob.send(obj({ type: 'save', file: fileId, path: taken }));
    bob.send(obj({ type: 'save', file: fileId, path: out }));
    bob.send(obj({ type: 'save', file: fileId, path: join(out, 'saved.bin') }));
    bob.end();
    assert.equal(await bob.exit, 1, 'two saves refused');
    const complete = find(bob, (l) => l.event === 'file' && l.state === 'complete');
    assert.equal(complete?.name, 'build log.bin');
    assert.ok(readFileSync(join(out, 'saved.bin')).equals(bytes), 'byte-identical');
    assert.equal(readFileSync(taken, 'utf8'), 'mine', 'an existing file is never overwritten');
    assert.deepEqual(readdirSync(out).sort(), ['saved.bin', 'taken.bin'], 'nothing saved under the sender\'s name');
    assert.ok(bob.stderr.some((l) => /exists; choose another path/.test(l)));
    assert.ok(bob.stderr.some((l) => /is a folder/.test(l)));
    assert.ok(find(bob, (l) => l.event === 'saved' && l.path === join(out, 'saved.bin')));
    assert.ok(!existsSync(join(dir, 'b', 'build log.bin')));
  });
});
