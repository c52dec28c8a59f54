// Interactive `smc chat` polish (issue 11 "Terminal client"), in a real terminal (tmux, as
// cli-interactive.test.ts) against a real relay: what a rejoin says, leaving by /stop and by
// Ctrl-D (the shell prompt on a line of its own; Ctrl-D on a line with text does nothing),
// no "typing" for a /command, no stale "(bob typing)" after "bob left", "Not delivered yet"
// once, and a warning for a passphrase room with no messages and nobody in it.
// Needs tmux and `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { deriveRoomId, generateIdentity, parseInvite } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { Terminal, shq } from '../helpers/terminal';
import { ttySuite } from '../helpers/ttySuite';
import { until } from '../helpers/until';

describe('smc chat polish, interactive in a terminal (tmux)', function () {
  this.timeout(90_000);
  const clients: RelayClient[] = [];

  // Before ttySuite's own afterEach: the in-process members leave while the relay still runs.
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.disconnect().catch(() => undefined);
  });
  const tty = ttySuite('smc-cli-polish-tty-');
  const home = (who: string): string => tty.home(who);
  const terminal = (h: string, args: string): Terminal => tty.terminal(h, args);

  /** A member driven from the test, with every typing and presence event it gets. */
  async function member(invite: string, name: string): Promise<{ client: RelayClient; typing: string[]; presence: string[][] }> {
    const client = new RelayClient({ host: '127.0.0.1', port: tty.relay.port, agent: 'smc-test/0', identity: generateIdentity(), displayName: name, transport: createTcpTransport });
    clients.push(client);
    const typing: string[] = [];
    const presence: string[][] = [];
    let synced = false;
    client.on('typing', (t) => typing.push(t.name));
    client.on('presence', (p) => presence.push(p.members.map((m) => m.name ?? '?')));
    client.on('synced', () => (synced = true));
    client.connect();
    client.join({ key: parseInvite(invite).key, name: 'x' });
    await until(`${name} synced`, () => synced);
    return { client, typing, presence };
  }

  /** The shell's line after the chat ended: on a line of its own, right after "-- leaving --". */
  function assertLeftCleanly(t: Terminal): void {
    const lines = t.lines();
    const exit = lines.findIndex((l) => l.includes('EXIT='));
    assert.equal(lines[exit]!.trim(), 'EXIT=0', `the shell's next line starts on a line of its own:\n${t.screen()}`);
    assert.equal(lines[exit - 1]!.trim(), '-- leaving --', t.screen());
  }

  it('a rejoin says "nothing new since you were last here"; /stop and Ctrl-D leave cleanly; Ctrl-D on text does nothing', async () => {
    const alice = home('alice');
    const invite = tty.roomNew(alice, 'r');
    const bob = tty.other(home('bob'), ['--own', '--name', 'bob', invite]);
    bob.send('m1');
    await until('bob acked', () => bob.lines.length === 1);

    const first = terminal(alice, '--name alice --room r');
    await first.waitFor('history', (s) => s.includes('1 earlier message(s) above; new messages appear below'));
    first.type('/stop');
    first.enter();
    await first.waitFor('exit', (s) => s.includes('EXIT='));
    assertLeftCleanly(first);

    const again = terminal(alice, '--room r');
    await again.waitFor('rejoin', (s) => s.includes('-- nothing new since you were last here (up to #1, shown then); new messages appear below --'));
    assert.ok(!again.screen().includes('no earlier messages'), again.screen());
    bob.send('m2');
    await again.waitFor('live', (s) => s.includes(': m2'));
    // Ctrl-D with text on the line: nothing happens (as in bash); the line is still there.
    again.type('half');
    await again.waitFor('typed', (s) => s.includes('alice> half'));
    again.key('C-d');
    again.type('X');
    await again.waitFor('still typing', (s) => s.includes('alice> halfX'));
    assert.ok(!again.screen().includes('leaving'));
    // Emptied, Ctrl-D leaves.
    again.key('C-u');
    await again.waitFor('empty line', () => again.lines().at(-1)!.trimEnd() === 'alice>');
    again.key('C-d');
    await again.waitFor('exit', (s) => s.includes('EXIT='));
    assertLeftCleanly(again);

    // A third join after m2 was shown: one new message since then.
    bob.send('m3');
    await until('bob acked m3', () => bob.lines.length === 3);
    const third = terminal(alice, '--room r');
    await third.waitFor('new since', (s) => s.includes('1 new message(s) since you were last here, above'));
  });

  it('a /command shows nobody as typing; "(bob typing)" goes when bob leaves', async () => {
    const alice = home('alice');
    const invite = tty.roomNew(alice, 'r');
    const carol = await member(invite, 'carol');
    const t = terminal(alice, '--name alice --room r');
    await t.waitFor('carol here', (s) => s.includes('-- carol is here --'));
    // /name makes a new presence tag reach carol (a re-join on the same connection), after any
    // typing indicator its keystrokes would have sent.
    t.type('/name alice2');
    t.enter();
    await until('carol sees alice2', () => carol.presence.some((p) => p.includes('alice2')), 20_000);
    assert.deepEqual(carol.typing, [], 'typing a command is not typing a message');
    t.type('hello');
    await until('carol sees alice2 typing', () => carol.typing.includes('alice2'), 20_000);

    const bob = await member(invite, 'bob');
    await t.waitFor('bob here', (s) => s.includes('-- bob is here --'));
    bob.client.setTyping(deriveRoomId(parseInvite(invite).key));
    await t.waitFor('bob typing', () => t.lines().at(-1)!.trimEnd() === '(bob typing) alice2> hello');
    await bob.client.disconnect();
    await t.waitFor('bob left', (s) => s.includes('-- bob left --'));
    await t.waitFor('prompt redrawn', (s) => s.split('\n').some((l) => l.includes('bob left')));
    assert.equal(t.lines().at(-1)!.trimEnd(), 'alice2> hello', `no stale typing after "bob left":\n${t.screen()}`);
  });

  it('offline, an unsent message says "Not delivered yet" once', async () => {
    const alice = home('alice');
    tty.roomNew(alice, 'r');
    const t = terminal(alice, '--name alice --room r');
    await t.waitFor('connected', (s) => s.includes('connected to'));
    await tty.relay.kill();
    await t.waitFor('reconnecting', (s) => s.includes('reconnecting'));
    t.type('while offline');
    t.enter();
    const s = await t.waitFor('not delivered', (x) => /not delivered yet/i.test(x), 60_000);
    const line = s.split('\n').find((l) => /not delivered yet/i.test(l))!;
    assert.equal(line.match(/not delivered yet/gi)!.length, 1, line);
    assert.match(line, /!! Not delivered yet: the relay has not confirmed it\./);
  });

  it('a passphrase room with no messages and nobody in it says to check the passphrase', async () => {
    const good = home('good'), bad = home('bad');
    writeFileSync(good, 'correct horse battery staple\n');
    writeFileSync(bad, 'correct horse battery stapler\n');
    const common = `--relay ${tty.relayAddr} --room standup --passphrase-file`;
    const bob = tty.other(home('bob'), ['--own', '--name', 'bob', '--relay', tty.relayAddr, '--room', 'standup', '--passphrase-file', good]);
    bob.send('standup at 10');
    await until('bob acked', () => bob.lines.length === 1);
    bob.child.stdin!.end();

    const typo = terminal(home('carol'), `--name carol ${common} ${shq(bad)}`);
    await typo.waitFor('warning', (s) => s.includes('!! Nobody is here and this room has no messages. If you expected others, check the passphrase: the name and passphrase must match exactly'));

    const right = terminal(home('alice'), `--name alice ${common} ${shq(good)}`);
    await right.waitFor('history', (s) => s.includes('standup at 10') && s.includes('1 earlier message(s) above'));
    // Presence may come after the catch-up: ask /who until it is in (the check has run then).
    await until('/who lists alice', () => {
      right.type('/who');
      right.enter();
      return right.screen().includes('1 online:');
    }, 20_000, () => right.screen());
    assert.ok(!right.screen().includes('check the passphrase'), right.screen());
  });
});
