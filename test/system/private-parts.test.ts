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
import { epochAuthKey, inviteLobbyKey } from '../../src/core/mls/index';
import { makeJoinProof } from '../../src/core/crypto/roomAuth';
import { generateMessageId } from '../../src/core/crypto/roomCipher';
import { encodeMlsBody } from '../../src/core/private/body';
import { encodeRoomPayload } from '../../src/core/private/content';
import { LineClient } from '../helpers/lineClient';
import { parsePrivateInvite } from '../../src/core/private/index';
import { PART_HEADER_BYTES, roomBodies, splitIntoParts } from '../../src/core/private/parts';
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

  it('in the room: a member\'s message in parts is shown at its last part; parts that never complete, conflict or repeat change nothing', async () => {
    admin = await startPrivateAdmin(relay.port, 3);
    const ready = new Promise<void>((resolve) => admin!.room.on('outgoing', (u) => { if (u.state === 'sent') resolve(); }));
    admin.room.sendText('ready');
    await ready;
    // carol, a member (her group from the Welcome), writes raw frames with the epoch's join proof (§3.6).
    const carol = await admin.memberGroup(0);
    const { client, welcome } = await LineClient.open(relay.port);
    const room = admin.room.room;
    const joined = await client.request({ t: 'join', room, since: 0, ...makeJoinProof(epochAuthKey(await carol.epochAuthSeed()), String(welcome.challenge), room) });
    assert.equal(joined.t, 'joined', JSON.stringify(joined));
    await client.nextOfType('synced');
    const sendBody = async (id: string, body: string): Promise<void> => {
      const ack = await client.request({ t: 'send', room, id, body });
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
    };
    /** carol's text as the bodies of one MLS message, cut into parts when `chars` is given. */
    const sealed = async (text: string, chars?: number): Promise<{ ids: string[]; bodies: string[] }> => {
      const id = generateMessageId();
      const message = await carol.encrypt(encodeRoomPayload({ id, ts: Date.now(), name: 'carol', type: 'text', text }), Buffer.from(id, 'utf8'));
      const bodies = chars === undefined ? [encodeMlsBody(message)] : roomBodies(message, chars);
      // §3.3.1: the whole message goes by the id of its last part.
      return { ids: [...bodies.slice(0, -1).map(() => generateMessageId()), id], bodies };
    };
    const send = async (m: { ids: string[]; bodies: string[] }, order = m.bodies.map((_, i) => i)): Promise<void> => {
      for (const i of order) await sendBody(m.ids[i]!, m.bodies[i]!);
    };

    // Parts that never complete: part 0 of 40 sets, each under a new mid.
    for (let k = 0; k < 40; k++) await sendBody(generateMessageId(), encodeB64u(splitIntoParts(randomBytes(3_000), 1_000)[0]!));
    // A set whose part 1 comes first as a forged copy: the join fails its hash; nothing shown.
    const forged = await sealed(`forged ${'x'.repeat(600)}`, 400);
    assert.ok(forged.bodies.length >= 3);
    const wrong = Buffer.from(forged.bodies[1]!, 'base64url');
    wrong.writeUInt8(wrong.readUInt8(PART_HEADER_BYTES + 3) ^ 0xff, PART_HEADER_BYTES + 3);
    await sendBody(generateMessageId(), forged.bodies[0]!);
    await sendBody(generateMessageId(), encodeB64u(wrong));
    await send({ ids: forged.ids.slice(1), bodies: forged.bodies.slice(1) });
    // Two sets interleaved, one whole message between them, then a replay of the first set.
    const a = await sealed(`in parts A ${'a'.repeat(900)}`, 500);
    const b = await sealed(`in parts B ${'b'.repeat(900)}`, 500);
    const whole = await sealed('whole between');
    for (let i = 0; i < Math.max(a.bodies.length, b.bodies.length); i++) {
      if (i < a.bodies.length) await sendBody(a.ids[i]!, a.bodies[i]!);
      if (i === 1) await send(whole);
      if (i < b.bodies.length) await sendBody(b.ids[i]!, b.bodies[i]!);
    }
    for (const body of a.bodies) await sendBody(generateMessageId(), body);
    await send(await sealed('the end'));
    await wait('the admin shows carol\'s messages', () => admin!.messages.some((m) => m.text === 'the end'));
    const shown = admin.messages.filter((m) => m.name === 'carol').map((m) => m.text!.slice(0, 13));
    assert.deepEqual(shown, ['whole between', 'in parts A aa', 'in parts B bb', 'the end']);
    assert.ok(admin.logs.some((l) => l.startsWith('part_refused') && l.includes('hash')), admin.logs.join('\n'));
    // The room goes on: the admin's own message is stored and acked after all of it.
    const after = new Promise<void>((resolve) => admin!.room.on('outgoing', (u) => { if (u.state === 'sent') resolve(); }));
    admin.room.sendText('after the parts');
    await after;
    await client.close();
  });
});
