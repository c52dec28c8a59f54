// What the relay and the network see of a private room (docs/protocol.md §3, §2.8): a TCP proxy
// between three `smc chat --json` members and a real relay records every byte, while an admin
// creates a private room, invites two members (the invite's lobby, its join requests and
// Welcomes), they talk, and the admin removes one. Then neither the bytes on the wire, nor any
// file in the relay's data directory, nor the relay's logs hold a plaintext, a display name,
// the room's name, an invite's secret or its lobby key, an identity seed or public key, a
// history key or the owner key: raw, base64, base64url or hex. Needs `node scripts/build.mjs`.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveMessageKey, deriveRoomId, identityFromSeed } from '../../src/core/crypto/index';
import { inviteLobbyKey } from '../../src/core/mls/index';
import { parsePrivateInvite } from '../../src/core/private/index';
import { PrivateChats, privateRoomWith } from '../helpers/privateRoom';
import { RelayProcess } from '../helpers/relayProcess';
import { RecordingProxy, filesUnder, forms } from '../helpers/recordingProxy';

describe('private rooms: what the relay and the network see (recording proxy)', function () {
  this.timeout(180_000);
  let dir: string;
  let relay: RelayProcess;
  let proxy: RecordingProxy;
  let chats: PrivateChats;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-private-wire-'));
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay') });
    proxy = await RecordingProxy.start(relay.port);
    chats = new PrivateChats(dir, 90_000);
  });

  afterEach(async () => {
    chats.killAll();
    await proxy.stop();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three members, two invites, a removal: no plaintext, name, key or invite secret on the wire, in the relay\'s files or logs', async () => {
    const tag = randomBytes(6).toString('hex');
    const home = (who: string): string => chats.home(who);
    const names = { alice: `Alice-${tag}`, bob: `Bob-${tag}`, carol: `Carol-${tag}` };
    const roomName = `room-${tag}`;
    const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> => chats.wait(what, check);

    // Two invites: bob's, then carol's (carol seen added by alice and bob).
    const { admin: alice, members: [bob, carol], invites } = await privateRoomWith(chats, `127.0.0.1:${proxy.port}`, ['bob', 'carol'], { room: roomName, names });

    const texts = [`alice secret ${tag}`, `bob secret ${tag}`, `carol secret ${tag}`, `after the removal ${tag}`];
    alice.send(texts[0]!);
    bob.send(texts[1]!);
    carol.send(texts[2]!);
    // Each reads the two others (a member's own messages are not printed back to it).
    await wait('everyone reads everyone', () => [alice, bob, carol].every((c, i) => texts.slice(0, 3).every((t, j) => i === j || c.texts().includes(t))));
    alice.send(`/remove ${names.carol}`);
    assert.equal(await carol.exit, 7);
    alice.send(texts[3]!);
    await wait('bob reads after the removal', () => bob.texts().includes(texts[3]!));
    alice.end();
    bob.end();
    assert.equal(await alice.exit, 0);
    assert.equal(await bob.exit, 0);
    await relay.stop(); // graceful: everything on disk, every log line out

    const secrets: [string, Buffer][] = [
      ...texts.flatMap((t, i) => forms(`plaintext ${i}`, Buffer.from(t))),
      ...[...Object.values(names), roomName].flatMap((n) => forms(`name ${n}`, Buffer.from(n))),
      [`tag ${tag} anywhere`, Buffer.from(tag)],
    ];
    for (const [i, link] of invites.entries()) {
      const I = parsePrivateInvite(link).secret;
      const lobbyKey = inviteLobbyKey(I);
      secrets.push(...forms(`invite ${i} secret`, I), ...forms(`invite ${i} lobby key`, lobbyKey), ...forms(`invite ${i} lobby message key`, deriveMessageKey(lobbyKey)));
    }
    for (const who of ['alice', 'bob', 'carol'] as const) {
      const stored = JSON.parse(readFileSync(join(home(who), 'secrets.json'), 'utf8')) as Record<string, string>;
      const id = identityFromSeed(Buffer.from(stored['smc.identity']!, 'base64url'));
      secrets.push(...forms(`${who} identity seed`, id.seed), ...forms(`${who} identity public key`, id.publicKey));
      for (const [k, v] of Object.entries(stored)) {
        if (k.startsWith('smc.history.')) secrets.push(...forms(`${who} history key`, Buffer.from(v, 'base64url')));
        if (k.startsWith('smc.mls.')) {
          const meta = (JSON.parse(v) as { meta: { ownerSeed?: string } }).meta;
          if (meta.ownerSeed !== undefined) secrets.push(...forms(`${who} owner seed`, Buffer.from(meta.ownerSeed, 'base64url')));
        }
      }
    }
    assert.ok(secrets.some(([what]) => what.startsWith('alice owner seed')), 'the creator\'s owner seed is checked');
    assert.ok(secrets.filter(([what]) => what.includes('history key (raw)')).length >= 2, 'history keys are checked');

    const wire = Buffer.concat(proxy.captured);
    assert.ok(wire.length > 20_000, 'the proxy saw the conversation, the lobbies and the Welcomes');
    // The recording is of the right conversation: the lobbies' room ids (public) are in it.
    for (const link of invites) assert.notEqual(wire.indexOf(deriveRoomId(inviteLobbyKey(parsePrivateInvite(link).secret))), -1, 'a lobby id on the wire');
    const files = filesUnder(join(dir, 'relay'));
    assert.ok(files.length > 0);
    const logs = Buffer.from(JSON.stringify(relay.logs) + relay.otherOutput.join(''));
    assert.ok(logs.length > 100, 'the relay logged');
    const stores: [string, Buffer][] = [['the bytes on the wire', wire], ['the relay\'s logs', logs], ...files.map((f): [string, Buffer] => [f, readFileSync(f)])];
    for (const [where, bytes] of stores) {
      for (const [what, needle] of secrets) assert.equal(bytes.indexOf(needle), -1, `${what} found in ${where}`);
    }
  });
});
