// A stranger holding a private room's invite (docs/protocol.md §3.4 "Who the joiner believes"):
// the lobby is a link room, so anyone with the invite writes there under any name. It must not
// make the joiner believe that an admin is online (a presence named `admin`), nor end the join
// with a false refusal (a `join_refused` of its own signing): the joiner keeps waiting, and the
// real admin adds it. Real `smc chat --json` processes, a real relay, 127.0.0.1.
// Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';

import { type JsonChat } from '../helpers/cliProcess';
import { privateRoomSuite } from '../helpers/privateRoom';
import { until } from '../helpers/until';
import { generateIdentity } from '../../src/core/crypto/index';
import { RelayClient, type ChatMessage } from '../../src/core/client/index';
import { inviteLobbyKey } from '../../src/core/mls/index';
import { newPrivateRoom, parsePrivateInvite } from '../../src/core/private/index';
import { decodeB64u, encodeB64u } from '../../src/core/crypto/b64u';
import { createTcpTransport } from '../../src/node/tcpTransport';

describe('private rooms: a stranger with the invite in the lobby', function () {
  this.timeout(180_000);
  const strangers: RelayClient[] = [];

  // Before privateRoomSuite's own: the strangers leave while the relay still runs.
  afterEach(async () => {
    for (const s of strangers.splice(0)) await s.disconnect();
  });
  const suite = privateRoomSuite('smc-lobby-', { timeoutMs: 90_000 });

  const chat = (who: string, args: string[]): JsonChat => suite.chats.chat(who, args);
  const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> => suite.chats.wait(what, check);

  /** alice makes "team" and an invite, then goes offline (no admin in the lobby). */
  const inviteThenOffline = (): Promise<string> => suite.chats.inviteThenOffline(`127.0.0.1:${suite.relay.port}`);

  /** A stranger in the invite's lobby under the presence name `admin`, refusing every request when asked to. */
  async function stranger(link: string, refuse: boolean | 'own-group'): Promise<{ requests: ChatMessage[]; welcomes: number }> {
    const identity = generateIdentity();
    const s = new RelayClient({ host: '127.0.0.1', port: suite.relay.port, agent: 'smc-attack/0', identity, displayName: 'admin', transport: createTcpTransport });
    strangers.push(s);
    s.on('error', () => undefined);
    const requests: ChatMessage[] = [];
    const out = { requests, welcomes: 0 };
    s.connect();
    const lobby = s.join({ key: inviteLobbyKey(parsePrivateInvite(link).secret), name: 'lobby' }).room;
    s.on('message', (m) => {
      if (m.room !== lobby || m.type !== 'join_request' || m.own) return;
      requests.push(m);
      if (refuse === true) s.sendControl(lobby, 'join_refused', JSON.stringify({ for: m.fingerprint, reason: 'used' }));
      if (refuse === 'own-group') {
        // A group of the stranger's own making, with the joiner's KeyPackage added: a valid Welcome.
        void (async () => {
          const own = await newPrivateRoom(identity);
          const kp = decodeB64u(String((JSON.parse(m.text!) as { kp: string }).kp));
          const { welcome } = await own.group.commit({ kind: 'add', keyPackages: [kp] });
          own.group.confirmOwnCommit();
          s.sendControl(lobby, 'welcome', JSON.stringify({ for: m.fingerprint, welcome: encodeB64u(welcome!), room: own.room, seq: 0 }));
          out.welcomes++;
        })();
      }
    });
    await until('the stranger is in the lobby', () => s.presence(lobby)?.members.some((m) => m.self), 30_000);
    return out;
  }

  it('a stranger named admin is not "an admin is online", and its join_refused is a claim: the joiner keeps waiting and is added', async () => {
    const { chats } = suite;
    const link = await inviteThenOffline();
    const bob = chat('bob', ['--name', 'bob', '--timeout', '120', link]);
    await wait('bob says no admin is online', () => bob.stderr.some((l) => l.includes('no admin of the room is online')));
    // The stranger comes in after bob asked: bob gets its presence, then (in order, on the same
    // connection) its refusal, so once the claim is shown the presence was seen too.
    const s = await stranger(link, true);
    await wait('the stranger refused bob', () => s.requests.length > 0);
    await wait('bob shows the claim', () => bob.stderr.some((l) => l.includes('claims')) || bob.child.exitCode !== null);
    assert.equal(bob.child.exitCode, null, `bob exited on a stranger's refusal:\n${bob.stderr.join('\n')}`);
    assert.ok(bob.stderr.some((l) => l.includes('not the admin who made the invite')), bob.stderr.join('\n'));
    assert.ok(!bob.stderr.some((l) => l.includes('an admin is online')), `a stranger named admin was taken for one:\n${bob.stderr.join('\n')}`);
    // The real admin comes: now it is said, and bob is added.
    const alice = chat('alice', ['--name', 'alice', 'team']);
    await chats.joined(bob);
    assert.ok(bob.stderr.some((l) => l.includes('an admin is online')), bob.stderr.join('\n'));
    alice.send('welcome, bob');
    await wait('bob reads', () => bob.texts().includes('welcome, bob'));
    bob.end();
    alice.end();
    assert.equal(await bob.exit, 0);
    assert.equal(await alice.exit, 0);
  });

  it('a stranger\'s refusal under a short timeout: exit 9 (not added), naming the claim, not 8 (refused)', async () => {
    const link = await inviteThenOffline();
    const s = await stranger(link, true);
    const bob = chat('bob', ['--name', 'bob', '--timeout', '8', link]);
    await wait('the stranger refused bob', () => s.requests.length > 0);
    assert.equal(await bob.exit, 9, bob.stderr.join('\n'));
    assert.ok(bob.stderr.some((l) => /not added: .*claimed/.test(l)), bob.stderr.join('\n'));
  });

  it('a Welcome into a group of the stranger\'s own making is dropped: the joiner waits, and the real admin adds it', async () => {
    const link = await inviteThenOffline();
    const s = await stranger(link, 'own-group');
    const bob = chat('bob', ['--name', 'bob', '--timeout', '120', '--debug', link]);
    await wait('the stranger sent bob a Welcome', () => s.welcomes > 0);
    await wait('bob dropped it', () => bob.stderr.some((l) => l.includes('welcome_refused')) || bob.child.exitCode !== null);
    assert.ok(!bob.stderr.some((l) => l.includes('added to private room')), bob.stderr.join('\n'));
    const alice = chat('alice', ['--name', 'alice', 'team']);
    await wait('bob joined the real room', () => bob.stderr.some((l) => l.includes('added to private room "team"')) || bob.child.exitCode !== null);
    alice.send('the real room');
    await wait('bob reads', () => bob.texts().includes('the real room'));
    bob.send('/members');
    const members = await wait('members', () => bob.lines.find((l) => l.event === 'members'));
    assert.deepEqual((members.members as { name: string }[]).map((m) => m.name).sort(), ['alice', 'bob']);
    bob.end();
    alice.end();
    assert.equal(await bob.exit, 0);
    assert.equal(await alice.exit, 0);
  });
});
