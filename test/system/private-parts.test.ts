// A Welcome larger than one envelope (docs/protocol.md §3.3.1, §3.4 "A Welcome in parts"): a
// joiner is added by invite to a room of 200 members through a real relay (`smc relay`). The
// admin runs in this process (PrivateRoom and LobbyDesk, as `smc chat` runs them) with the 200
// members' group made in process through src/core/mls; the joiner is a real `smc chat INVITE
// --json`. Its Welcome (about 50 KiB with the ratchet tree) goes to it in welcome_part envelopes.
// Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { JsonChat } from '../helpers/cliProcess';
import { generateIdentity } from '../../src/core/crypto/index';
import { encodeB64u } from '../../src/core/crypto/b64u';
import { RelayClient } from '../../src/core/client/index';
import { inviteLobbyKey } from '../../src/core/mls/index';
import { parsePrivateInvite } from '../../src/core/private/index';
import { splitIntoParts } from '../../src/core/private/parts';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { RelayProcess } from '../helpers/relayProcess';
import { makeInvite, startPrivateAdmin, type PrivateAdmin } from '../helpers/privateAdmin';
import { until } from '../helpers/until';

describe('private rooms: a Welcome in parts (smc chat --json through the real relay)', function () {
  this.timeout(240_000);
  let dir: string;
  let relay: RelayProcess;
  let admin: PrivateAdmin | undefined;
  const chats: JsonChat[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-parts-'));
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay') });
  });

  afterEach(async () => {
    for (const c of chats.splice(0)) c.kill();
    await admin?.stop();
    admin = undefined;
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> =>
    until(what, check, 180_000, () => `${chats.map((c) => `${c.stderr.slice(-8).join('\n')}\n${JSON.stringify(c.lines.slice(-4))}`).join('\n---\n')}\nadmin: ${admin?.logs.slice(-8).join('\n')}`);

  it('a joiner is added to a room of 200 members, reads and writes in it', async () => {
    admin = await startPrivateAdmin(relay.port, 200);
    const link = await makeInvite(admin, wait);
    const bob = new JsonChat(join(dir, 'bob'), ['--name', 'bob', '--timeout', '170', link]);
    chats.push(bob);
    await wait('bob added', () => admin!.added.some((e) => e.name === 'bob'));
    await wait('bob in the room', () => bob.stderr.some((l) => l.includes('added to private room "team"')));
    admin.room.sendText('welcome among the 200');
    await wait('bob reads', () => bob.texts().includes('welcome among the 200'));
    bob.send('bob says hello');
    await wait('the admin reads bob', () => admin!.messages.some((m) => m.text === 'bob says hello' && m.name === 'bob'));
    bob.send('/members');
    const members = await wait('members', () => bob.lines.find((l) => l.event === 'members'));
    assert.equal((members.members as unknown[]).length, 201);
    bob.end();
    assert.equal(await bob.exit, 0);
  });

  it('a stranger holding the invite floods the lobby with part sets for the joiner from many identities: the joiner is still added', async () => {
    admin = await startPrivateAdmin(relay.port, 200);
    const link = await makeInvite(admin, wait);
    const lobbyKey = inviteLobbyKey(parsePrivateInvite(link).secret);
    // Six identities of the stranger's, in the lobby before the joiner asks.
    // They go by the presence name `admin`, as anyone can.
    const strangers = Array.from({ length: 6 }, () => new RelayClient({
      host: '127.0.0.1', port: relay.port, agent: 'smc-attack/0', identity: generateIdentity(), displayName: 'admin', transport: createTcpTransport,
    }));
    let lobby = '';
    let target: string | undefined;
    let sent = 0;
    let flooding = true;
    try {
      for (const s of strangers) {
        s.on('error', () => undefined);
        s.on('message', (m) => { if (m.type === 'join_request') target ??= m.fingerprint; });
        s.connect();
        lobby = s.join({ key: lobbyKey, name: 'lobby' }).room;
      }
      const flood = (async () => {
        await wait('the joiner\'s request seen by the stranger', () => target);
        while (flooding && sent < 600) {
          for (const s of strangers) {
            // Parts that never complete (part 0 of a 3-part set), each under a new mid, as large as allowed.
            const part = splitIntoParts(randomBytes(36_000), 12_000)[0]!;
            s.sendControl(lobby, 'welcome_part', JSON.stringify({ for: target, part: encodeB64u(part) }));
            sent++;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const bob = new JsonChat(join(dir, 'bob'), ['--name', 'bob', '--timeout', '170', link]);
      chats.push(bob);
      await wait('bob in the room', () => bob.stderr.some((l) => l.includes('added to private room "team"')));
      const sentBeforeAdded = sent;
      flooding = false;
      await flood;
      assert.ok(sentBeforeAdded >= 60, `the stranger sent ${sentBeforeAdded} parts before the joiner was added`);
      admin.room.sendText('still welcome');
      await wait('bob reads', () => bob.texts().includes('still welcome'));
      bob.end();
      assert.equal(await bob.exit, 0);
    } finally {
      flooding = false;
      await Promise.all(strangers.map((s) => s.disconnect()));
    }
  });
});
