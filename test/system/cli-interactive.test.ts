// Interactive `smc chat` in a real terminal: tmux (its own server socket, so nothing else is
// touched) runs the CLI in a 120x40 pane; the test types with send-keys and reads the screen
// with capture-pane. The other members are `smc chat --json` processes. Checks: history then
// live messages, a prompt (with half-typed text) that incoming messages do not break, /who,
// key change marking and /verify, unverifiable messages, escape sequences shown inert, /stop.
// Needs tmux and `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveRoomId, generateIdentity, generateMessageId, parseInvite } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import { LineClient, rememberRoomKey } from '../helpers/relayProcess';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { ttySuite } from '../helpers/ttySuite';
import { until } from '../helpers/until';

describe('smc chat, interactive in a terminal (tmux)', function () {
  this.timeout(60_000);
  // A folder and a relay a test, tmux required (CI installs it).
  const tty = ttySuite('smc-cli-tty-');

  it('shows history and live messages above an intact prompt; /who, /verify, /fingerprint, /stop', async () => {
    const { dir, relay, relayAddr } = tty;
    const invite = tty.roomNew(tty.home('alice'), 'tty');

    const bob = tty.other(tty.home('bob'), ['--own', '--name', 'bob', invite]);
    bob.send('an earlier message');
    await until('bob acked', () => bob.lines.length === 1);

    const t = tty.terminal(tty.home('alice'), '--name alice --room tty');
    await t.waitFor('history and the live marker', (s) => /bob \(\w{4} \w{4}\): an earlier message/.test(s) && s.includes('new messages appear below'));
    await t.waitFor('connected', (s) => s.includes(`connected to ${relayAddr}`));
    await t.waitFor('presence', (s) => s.includes('-- bob is here --'));

    // Half-typed text survives an incoming message: the prompt is redrawn below it.
    t.type('half typ');
    await t.waitFor('typed', (s) => s.includes('alice> half typ'));
    bob.send('live from bob');
    await t.waitFor('live message', (s) => s.includes('live from bob'));
    const lines = t.lines();
    assert.match(lines.at(-2)!, /bob \(\w{4} \w{4}\): live from bob$/);
    assert.equal(lines.at(-1), 'alice> half typ', 'the prompt and the typed text are intact');
    t.type('ed');
    t.enter();
    await until('bob receives it', () => bob.lines.some((l) => l.text === 'half typed'));
    await t.waitFor('own message shown', (s) => /alice \(\w{4} \w{4}\): half typed/.test(s));
    assert.ok(!t.screen().includes('alice> half typed'), 'the echoed input line is replaced by the message');

    t.type('/who');
    t.enter();
    const who = await t.waitFor('/who', (s) => s.includes('2 online:'));
    assert.match(who, /bob \(\w{4} \w{4}\)/);
    assert.match(who, /alice \(\w{4} \w{4}\) \(you\)/);

    t.type('/fingerprint');
    t.enter();
    await t.waitFor('/fingerprint', (s) => /Your fingerprint: (\w{4} ){7}\w{4}/.test(s));

    // Another key under the known name "bob": marked until verified.
    const bob2 = tty.other(tty.home('bob2'), ['--own', '--name', 'bob', invite]);
    bob2.send('impostor or new laptop');
    await t.waitFor('key change marked', (s) => /bob \(\w{4} \w{4}\) \[KEY CHANGED: verify with \/verify bob\]: impostor or new laptop/.test(s));
    const own = await until('bob2 acked', () => bob2.lines.find((l) => l.own === true));
    const newFp = String(own.fingerprint);
    // Two keys claim "bob" (the one known from its messages, the new one): /verify lists both in
    // full and asks which one is bob's; "no" (or just Enter) changes nothing.
    const question = "Which key is bob's? (1-2, Enter for none)";
    t.type('/verify bob');
    t.enter();
    await t.waitFor('/verify asks', (s) => s.includes(`2. ${newFp}`) && s.includes('2 different keys claim the name bob') && t.lines().at(-1)!.trimEnd() === question);
    // A message typed instead of an answer is not sent, and the question stays.
    t.type('oops a message');
    t.enter();
    await t.waitFor('asked again', (s) => s.includes('Answer a number from 1 to 2, or Enter for none (that line was not sent).') && t.lines().at(-1)!.trimEnd() === question);
    t.enter();
    await t.waitFor('not trusted', (s) => s.includes('Not trusted: nothing changed for bob.'));
    bob2.send('still marked');
    await t.waitFor('still marked', (s) => /\[KEY CHANGED: verify with \/verify bob\]: still marked/.test(s));
    t.type('/verify bob');
    t.enter();
    await t.waitFor('/verify asks again', () => t.lines().at(-1)!.trimEnd() === question);
    t.type('2');
    t.enter();
    await t.waitFor('trusted', (s) => s.includes('Trusted: key 2 is now the key for bob in this room'));
    bob2.send('verified now');
    const after = await t.waitFor('message after verify', (s) => s.includes('verified now'));
    assert.ok(!after.split('\n').find((l) => l.includes('verified now'))!.includes('KEY CHANGED'));
    assert.ok(!bob.lines.some((l) => l.text === 'oops a message'), 'a line typed at the y/N question is not sent');

    // A body nobody can open, and a message trying to drive the terminal.
    const { client: raw } = await LineClient.open(relay.port);
    const room = deriveRoomId(parseInvite(invite).key);
    rememberRoomKey(parseInvite(invite).key); // the raw join below carries a real proof (§1.9)
    await raw.request({ t: 'join', room });
    await raw.request({ t: 'send', room, id: generateMessageId(), body: 'AQ' + 'A'.repeat(200) });
    await t.waitFor('unverifiable', (s) => s.includes('a message could not be verified'));
    await raw.close();
    bob.send('\x1b[2J\x1b]0;pwned\x07 bidi\u202Eevil');
    const esc = await t.waitFor('escapes shown inert', (s) => s.includes('bidi'));
    assert.match(esc, /\\u\{1B\}\[2J\\u\{1B\}\]0;pwned\\u\{7\} bidi\\u\{202E\}evil/);

    t.type('/name alice2');
    t.enter();
    await t.waitFor('/name', (s) => s.includes('You are now alice2.'));
    // The new presence tag reaches the relay with a re-join: ask /who until it shows.
    await until('renamed in /who', () => {
      t.type('/who');
      t.enter();
      return /alice2 \(\w{4} \w{4}\) \(you\)/.test(t.screen());
    }, 15_000, () => t.screen());
    assert.equal(t.lines().at(-1)!.trimEnd(), 'alice2>');

    // Someone typing shows in the prompt until their message arrives.
    const carol = new RelayClient({ host: '127.0.0.1', port: relay.port, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'carol', transport: createTcpTransport });
    let carolSynced = false;
    carol.on('synced', () => (carolSynced = true));
    carol.connect();
    carol.join({ key: parseInvite(invite).key, name: 'tty' });
    await until('carol synced', () => carolSynced);
    carol.setTyping(room);
    await t.waitFor('typing in the prompt', () => t.lines().at(-1)!.trimEnd() === '(carol typing) alice2>');
    carol.sendText(room, 'done typing');
    await t.waitFor('message, prompt back', (s) => s.includes('done typing') && t.lines().at(-1)!.trimEnd() === 'alice2>');
    await carol.drain();
    await carol.disconnect();

    t.type('/stop');
    t.enter();
    await t.waitFor('exit 0', (s) => s.includes('EXIT=0'));
    // The next start resumes after the 9 messages of this room (§1.4 since), name remembered.
    const state = JSON.parse(readFileSync(join(dir, 'alice', 'state.json'), 'utf8')) as { 'smc.rooms': { lastSeq: number }[]; 'smc.cli.displayName': string };
    assert.equal(state['smc.rooms'][0]!.lastSeq, 9);
    assert.equal(state['smc.cli.displayName'], 'alice2');
  });
});

