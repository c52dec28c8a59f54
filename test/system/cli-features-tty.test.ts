// Interactive `smc chat` with the chat features (README "Replies, reactions, edits and files"),
// in a real terminal (tmux), the other member an `smc chat --json` process, a real relay:
// numbered messages, /reply, /react (toggling), /edit (own only), /delete, /send-file, /save,
// and what others' effects and files look like. Needs tmux and `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ttySuite } from '../helpers/ttySuite';
import { until } from '../helpers/until';

describe('smc chat, interactive: replies, reactions, edits, files (tmux)', function () {
  this.timeout(90_000);
  // A folder and a relay a test, tmux required (CI installs it).
  const tty = ttySuite('smc-cli-feat-tty-');

  it('/reply, /react twice, /edit of another\'s refused, their edit shown, /send-file, /save, /delete', async () => {
    const { dir } = tty;
    const invite = tty.roomNew(tty.home('alice'), 'feat');
    const bob = tty.other(tty.home('bob'), ['--own', '--name', 'bob', invite]);
    bob.send('is the relay up?');
    const first = await until('bob acked', () => bob.lines.find((l) => l.own === true));

    const t = tty.terminal(tty.home('alice'), '--name alice --room feat');
    await t.waitFor('history, numbered', (s) => /\[1\] \S+ bob \(\w{4} \w{4}\): is the relay up\?/.test(s) && s.includes('new messages appear below'));

    t.type('/reply 1 yes, since noon');
    t.enter();
    await t.waitFor('the reply, numbered, with its quote', (s) => /\[2\] \S+ alice .*: yes, since noon\n\s+↳ in reply to \[1\] bob: "is the relay up\?"/.test(s));
    const reply = await until('bob gets the reply', () => bob.lines.find((l) => l.text === 'yes, since noon'));
    assert.equal((reply.reply as Record<string, unknown>).to, first.id);

    t.type('/react 1 👍');
    t.enter();
    await t.waitFor('the reaction', (s) => /alice \(\w{4} \w{4}\) reacted 👍 to \[1\]: 👍 1/.test(s));
    t.type('/react 1 👍');
    t.enter();
    await t.waitFor('taken back', (s) => /alice \(\w{4} \w{4}\) took back 👍 on \[1\]/.test(s));

    t.type('/edit 1 no');
    t.enter();
    await t.waitFor('refused', (s) => s.includes('only its sender can edit a message'));
    bob.send(JSON.stringify({ type: 'edit', target: first.id, text: 'is the relay up (port 7878)?' }));
    await t.waitFor('bob\'s edit', (s) => /bob \(\w{4} \w{4}\) edited \[1\]: is the relay up \(port 7878\)\?/.test(s));

    const src = join(dir, 'report.txt');
    writeFileSync(src, randomBytes(100_000));
    t.type(`/send-file ${src} the report`);
    t.enter();
    await t.waitFor('the file line and its end', (s) => /\[3\] .*alice .* shared a file report\.txt \(97\.7 KiB, text\/plain\): the report/.test(s) && /\[3\] report\.txt sent \(4 parts\)/.test(s));
    await until('bob gets it whole', () => bob.lines.find((l) => l.event === 'file' && l.state === 'complete'));

    const bytes = randomBytes(70_000);
    const theirs = join(dir, 'theirs.bin');
    writeFileSync(theirs, bytes);
    bob.send(JSON.stringify({ type: 'file', path: theirs }));
    await t.waitFor('bob\'s file received', (s) => /\[4\] theirs\.bin received whole \(68\.4 KiB, SHA-256 checked\); \/save 4 PATH saves it/.test(s));
    // A folder is refused: the file is never saved in it under the name the sender chose.
    t.type(`/save 4 ${dir}`);
    t.enter();
    await t.waitFor('a folder refused', (s) => s.includes('is a folder: give the file\'s full path'));
    t.type(`/save 4 ${join(dir, 'mine.bin')}`);
    t.enter();
    await t.waitFor('saved', (s) => s.includes(`saved [4] theirs.bin (68.4 KiB) to ${join(dir, 'mine.bin')}`));
    assert.ok(readFileSync(join(dir, 'mine.bin')).equals(bytes));
    t.type(`/save 4 ${join(dir, 'mine.bin')}`);
    t.enter();
    await t.waitFor('never overwritten', (s) => s.includes('exists; choose another path'));

    t.type('/delete 2');
    t.enter();
    await t.waitFor('deleted', (s) => /alice \(\w{4} \w{4}\) deleted \[2\]/.test(s));
    await until('bob gets the delete', () => bob.lines.find((l) => l.type === 'delete' && l.change === 'deleted'));
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.bin')).sort(), ['mine.bin', 'theirs.bin']);
    t.type('/stop');
    t.enter();
  });
});
