// A joiner restarted while it waits (docs/protocol.md §3.4 step 2, §3.8 "A joiner's KeyPackage
// private keys are kept the same way until its Welcome arrives"): `smc chat INVITE --name bob
// --json` asks to join while no admin is online and is killed (SIGKILL); the admin comes online
// and adds bob from his request in the lobby; bob, started again, opens the Welcome made for the
// KeyPackage he sent before the kill, and joins. Real processes, real relay, 127.0.0.1.
// Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonChat } from '../helpers/cliProcess';
import { privateRoomSuite } from '../helpers/privateRoom';
import { generateIdentity } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import { inviteLobbyKey } from '../../src/core/mls/index';
import { parsePrivateInvite } from '../../src/core/private/index';
import { createTcpTransport } from '../../src/node/tcpTransport';

describe('private rooms: a joiner killed while it waits joins after a restart', function () {
  this.timeout(180_000);
  const suite = privateRoomSuite('smc-joiner-', { timeoutMs: 90_000 });

  const home = (who: string): string => suite.chats.home(who);
  const chat = (who: string, args: string[]): JsonChat => suite.chats.chat(who, args);
  const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> => suite.chats.wait(what, check);

  /** alice invites and goes offline; bob asks to join, is told no admin is online, and is killed (kill -9). Returns the invite. */
  async function bobKilledWhileWaiting(): Promise<string> {
    const link = await suite.chats.inviteThenOffline(suite.relayAddr);
    const bob = chat('bob', ['--name', 'bob', '--timeout', '120', link]);
    await wait('bob waits for an admin', () => bob.stderr.some((l) => l.includes('no admin of the room is online')));
    bob.kill();
    await bob.exit;
    return link;
  }

  it('kill -9 while waiting for an admin; the admin adds it meanwhile; the restarted joiner opens that Welcome', async () => {
    const link = await bobKilledWhileWaiting();
    // While bob waits the secret of his KeyPackage is kept as the other secrets are, never in clear elsewhere.
    const secrets = JSON.parse(readFileSync(join(home('bob'), 'secrets.json'), 'utf8')) as Record<string, string>;
    assert.equal(Object.keys(secrets).filter((k) => k.startsWith('smc.joining.')).length, 1);

    const alice = chat('alice', ['--name', 'alice', 'team']);
    await wait('alice adds bob from his request', () => alice.lines.some((l) => l.event === 'member_added' && l.name === 'bob'));

    const again = chat('bob', ['--name', 'bob', '--timeout', '60', link]);
    await wait('bob joined', () => again.stderr.some((l) => l.includes('added to private room "team"')));
    alice.send('hello bob, after your restart');
    await wait('bob reads', () => again.texts().includes('hello bob, after your restart'));
    again.send('/members');
    const members = await wait('members', () => again.lines.find((l) => l.event === 'members'));
    assert.deepEqual((members.members as { name: string }[]).map((m) => m.name).sort(), ['alice', 'bob']);
    const after = JSON.parse(readFileSync(join(home('bob'), 'secrets.json'), 'utf8')) as Record<string, string>;
    assert.equal(Object.keys(after).filter((k) => k.startsWith('smc.joining.')).length, 0, 'the KeyPackage secret is gone once joined');
    again.end();
    alice.end();
    assert.equal(await again.exit, 0);
    assert.equal(await alice.exit, 0);
  });

  it('restarted after its Welcome went out, behind 1 300 messages a stranger with the invite wrote in the lobby: it still finds it', async () => {
    const { relay, chats } = suite;
    const link = await bobKilledWhileWaiting();
    const alice = chat('alice', ['--name', 'alice', 'team']);
    await wait('alice adds bob', () => alice.lines.some((l) => l.event === 'member_added' && l.name === 'bob'));
    // More than one catch-up (§1.4: at most 1 000) of junk after the Welcome.
    const stranger = new RelayClient({ host: '127.0.0.1', port: relay.port, agent: 'smc-attack/0', identity: generateIdentity(), displayName: 'admin', transport: createTcpTransport });
    stranger.on('error', () => undefined);
    stranger.connect();
    const lobby = stranger.join({ key: inviteLobbyKey(parsePrivateInvite(link).secret), name: 'lobby' }).room;
    for (let i = 0; i < 1_300; i++) {
      stranger.sendControl(lobby, 'text', `junk ${i}`);
      if (i % 100 === 99) await stranger.drain();
    }
    await stranger.drain();
    await stranger.disconnect();
    const again = chat('bob', ['--name', 'bob', '--timeout', '90', link]);
    await chats.joined(again);
    alice.send('found it');
    await wait('bob reads', () => again.texts().includes('found it'));
    again.end();
    alice.end();
    assert.equal(await again.exit, 0);
    assert.equal(await alice.exit, 0);
  });
});
