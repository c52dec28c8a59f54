// The chat features in a private room (issue 12; docs/protocol.md §3.3: the payload is the same
// as in link rooms): two `smc chat --json` members of an MLS room through the real relay reply,
// react, edit (another's refused), delete and send a file that arrives byte-identical and is
// saved only to the path given. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_PATH } from '../helpers/relayProcess';
import { type JsonChat } from '../helpers/cliProcess';
import { privateRoomSuite, privateRoomWith } from '../helpers/privateRoom';
import { Terminal, hasTmux, shq } from '../helpers/terminal';
import { until } from '../helpers/until';

type Line = Record<string, unknown>;

describe('chat features in a private room (smc chat --json, real relay)', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasTmux) throw new Error('tmux is required (apt-get install tmux)');
  });

  const suite = privateRoomSuite('smc-private-features-');

  it('reply, reaction, edit (another\'s refused), delete and a file, as in a link room', async () => {
    const { dir, relay, chats } = suite;
    const { admin: alice, members: [bob] } = await privateRoomWith(chats, `127.0.0.1:${relay.port}`, ['bob']);
    const find = (c: JsonChat, pred: (l: Line) => boolean): Line | undefined => c.lines.find(pred);

    alice.send('deploy at 5');
    const first = await until('bob has it', () => find(bob, (l) => l.text === 'deploy at 5'), 60_000);
    const id = String(first.id);
    bob.send(JSON.stringify({ type: 'reply', to: id, text: 'ok' }));
    bob.send(JSON.stringify({ type: 'reaction', target: id, emoji: '👍' }));
    bob.send(JSON.stringify({ type: 'edit', target: id, text: 'deploy now' }));
    const reply = await until('alice has the reply', () => find(alice, (l) => l.text === 'ok'), 60_000);
    assert.deepEqual((reply.reply as Line).to, id);
    const reaction = await until('alice has the reaction', () => find(alice, (l) => l.type === 'reaction'), 60_000);
    assert.equal(reaction.change, 'reactions');
    await until('bob\'s edit refused', () => bob.stderr.some((l) => /only its sender can edit/.test(l)), 60_000);

    alice.send(JSON.stringify({ type: 'edit', target: id, text: 'deploy at 6' }));
    const edit = await until('bob has the edit', () => find(bob, (l) => l.type === 'edit'), 60_000);
    assert.equal(edit.change, 'edited');
    assert.equal(edit.text, 'deploy at 6');

    const bytes = randomBytes(200_000);
    const src = join(dir, 'plan.bin');
    writeFileSync(src, bytes);
    alice.send(JSON.stringify({ type: 'file', path: src, text: 'the plan' }));
    const file = await until('bob has the file message', () => find(bob, (l) => l.type === 'file'), 60_000);
    await until('bob has it whole', () => find(bob, (l) => l.event === 'file' && l.state === 'complete'), 60_000);
    const out = join(dir, 'saved.bin');
    bob.send(JSON.stringify({ type: 'save', file: file.id, path: out }));
    await until('saved', () => find(bob, (l) => l.event === 'saved'), 60_000);
    assert.ok(readFileSync(out).equals(bytes));

    alice.send(JSON.stringify({ type: 'delete', target: id }));
    const del = await until('bob has the delete', () => find(bob, (l) => l.type === 'delete'), 60_000);
    assert.equal(del.change, 'deleted');

    // Interactive, alice's stored history shows the message deleted, never its text, and the
    // reply to it quoting nothing of it.
    alice.end();
    assert.equal(await alice.exit, 0, alice.stderr.join('\n'));
    const term = new Terminal(`env SMC_HOME=${shq(chats.home('alice'))} NO_COLOR=1 ${shq(process.execPath)} ${shq(CLI_PATH)} chat team`);
    try {
      const screen = await term.waitFor('the stored history', (s) => /\[1\] .*alice .*: \[deleted\]/.test(s) && s.includes('ok'));
      assert.ok(!screen.includes('deploy at'), screen);
      assert.match(screen, /↳ in reply to \[1\] alice: \[deleted\]/);
      assert.match(screen, /shared a file plan\.bin/);
    } finally {
      term.kill();
    }
  });
});
