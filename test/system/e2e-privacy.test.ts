// What the relay and the network see (PROTOCOL.md §2.8): a TCP proxy between the clients and a
// real relay records every byte; after a conversation (texts, a snippet, typing, presence,
// `smc chat --json` too) neither those bytes nor any file in the relay's data directory holds a
// plaintext, a display name or a key, raw or as base64, base64url or hex. Then the proxy turns
// malicious: a tampered body, a re-labelled id, a body sealed with another key, a message moved
// from another room, a replay: each is reported as unverifiable (or dropped as a duplicate),
// never shown as content; a known name with a new key is marked keyChanged.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RoomCipher, deriveMessageKey, generateIdentity, generateMessageId, generateRoomKey, parseInvite, type Identity,
} from '../../src/core/crypto/index';
import { RelayClient, type ChatMessage, type UnverifiableMessage } from '../../src/core/client/index';
import { RelayProcess } from '../helpers/relayProcess';
import { runSmcAsync } from '../helpers/cliProcess';
import { RecordingProxy, filesUnder, forms, type ProxyFrame } from '../helpers/recordingProxy';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { until } from '../helpers/until';

type Frame = ProxyFrame;

class Member {
  readonly client: RelayClient;
  readonly messages: ChatMessage[] = [];
  readonly bad: UnverifiableMessage[] = [];
  readonly logs: string[] = [];
  synced = 0;

  constructor(port: number, name: string, readonly identity: Identity = generateIdentity()) {
    this.client = new RelayClient({
      host: '127.0.0.1', port, agent: 'smc-test/0', identity, displayName: name, transport: createTcpTransport,
      log: (event) => this.logs.push(event), tuning: { reconnectBaseMs: 20, reconnectMaxMs: 200 },
    });
    this.client.on('message', (m) => this.messages.push(m));
    this.client.on('unverifiable', (u) => this.bad.push(u));
    this.client.on('synced', () => this.synced++);
    this.client.on('error', () => undefined);
  }

  async join(key: Buffer): Promise<string> {
    const n = this.synced;
    this.client.connect();
    const { room } = this.client.join({ key, name: 'room' });
    await until('synced', () => this.synced > n);
    return room;
  }
}

describe('end-to-end privacy: what the relay and the network see', function () {
  this.timeout(30_000);
  let dir: string;
  let relay: RelayProcess;
  let proxy: RecordingProxy;
  const members: Member[] = [];
  const member = (...a: ConstructorParameters<typeof Member>): Member => {
    const m = new Member(...a);
    members.push(m);
    return m;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-privacy-'));
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay') });
    proxy = await RecordingProxy.start(relay.port);
  });

  afterEach(async () => {
    await Promise.all(members.splice(0).map((m) => m.client.disconnect()));
    await proxy.stop();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no plaintext, name or key in the bytes on the wire or in the relay data directory', async () => {
    const tag = randomBytes(6).toString('hex');
    const aliceName = `Alice-${tag}`;
    const bobName = `Bob-${tag}`;
    const key = generateRoomKey();
    const alice = member(proxy.port, aliceName);
    const bob = member(proxy.port, bobName);
    const room = await alice.join(key);
    await bob.join(key);
    await until('presence', () => bob.client.presence(room)?.members.some((m) => m.name === aliceName));

    const texts = [`secret plan ${tag} one`, `second secret ${tag}`, `ünïcødé sëcret ${tag}`];
    for (const t of texts) alice.client.sendText(room, t);
    const code = `const password = "hunter2-${tag}";`;
    alice.client.sendSnippet(room, { lang: 'typescript', path: `src/secret-${tag}.ts`, start: 3, end: 3, code }, `caption ${tag}`);
    bob.client.setTyping(room);
    bob.client.sendText(room, `reply ${tag}`);
    await alice.client.drain();
    await bob.client.drain();
    await until('bob got all', () => bob.messages.length === 4);

    // The terminal client through the same proxy, with an invite and its own name.
    const home = join(dir, 'carol');
    const made = await runSmcAsync(home, ['room', 'new', '--name', `room-${tag}`, '--relay', `127.0.0.1:${proxy.port}`]);
    const invite = /smc:\/\/[^\s']+/.exec(made.stdout)![0];
    const cliText = `cli secret ${tag}`;
    const cliName = `Carol-${tag}`;
    const r = await runSmcAsync(home, ['chat', '--json', '--name', cliName, invite], `${cliText}\n`);
    assert.equal(r.code, 0, r.stderr);
    const cliKey = parseInvite(invite).key;
    const carolSeed = Buffer.from(JSON.parse(readFileSync(join(home, 'secrets.json'), 'utf8'))['smc.identity'] as string, 'base64url');

    await members[0]!.client.disconnect();
    await members[1]!.client.disconnect();
    await relay.stop(); // graceful: everything on disk

    const secrets: [string, Buffer][] = [
      ...[...texts, code, `caption ${tag}`, `reply ${tag}`, cliText, `src/secret-${tag}.ts`].flatMap((t, i) => forms(`plaintext ${i}`, Buffer.from(t))),
      ...[aliceName, bobName, cliName, `room-${tag}`].flatMap((n) => forms(`name ${n}`, Buffer.from(n))),
      ...forms('room key', key), ...forms('message key', deriveMessageKey(key)),
      ...forms('CLI room key', cliKey), ...forms('CLI message key', deriveMessageKey(cliKey)),
      ...forms('alice seed', alice.identity.seed), ...forms('bob seed', bob.identity.seed), ...forms('carol seed', carolSeed),
      ...forms('alice public key', alice.identity.publicKey), ...forms('bob public key', bob.identity.publicKey),
      [`tag ${tag} anywhere`, Buffer.from(tag)],
    ];
    const wire = Buffer.concat(proxy.captured);
    assert.ok(wire.length > 5_000, 'the proxy saw the conversation');
    const files = filesUnder(join(dir, 'relay'));
    assert.ok(files.length > 0);
    const stores: [string, Buffer][] = [['the bytes on the wire', wire], ...files.map((f): [string, Buffer] => [f, readFileSync(f)])];
    for (const [where, bytes] of stores) {
      for (const [what, needle] of secrets) assert.equal(bytes.indexOf(needle), -1, `${what} found in ${where}`);
    }
  });

  it('tampered body, re-labelled id, wrong key, moved room: unverifiable; replay: dropped; new key: keyChanged', async () => {
    const key = generateRoomKey();
    const otherKey = generateRoomKey();
    const alice = member(proxy.port, 'alice');
    const bob = member(proxy.port, 'bob');
    const room = await alice.join(key);
    await bob.join(key);
    const otherRoom = await alice.join(otherKey);

    /** Sends `text` from alice while the proxy applies `attack` to the first msg of `room` it sees. */
    const attacked = async (text: string, attack: (f: Frame) => Frame[]): Promise<void> => {
      let done = false;
      proxy.rewrite = (f) => {
        if (done || f.t !== 'msg' || f.room !== room) return [f];
        done = true;
        return attack(f);
      };
      alice.client.sendText(room, text);
      await alice.client.drain();
      await until(`attack on "${text}" applied`, () => done);
      proxy.rewrite = undefined;
    };

    // Tampered body: one character of the ciphertext changed.
    await attacked('tampered', (f) => {
      const body = String(f.body);
      const i = Math.floor(body.length / 2);
      return [{ ...f, body: body.slice(0, i) + (body[i] === 'A' ? 'B' : 'A') + body.slice(i + 1) }];
    });
    // Re-labelled id: the same body under another id.
    await attacked('relabelled', (f) => [{ ...f, id: generateMessageId() }]);
    // Wrong key: a body sealed with another room key (its room id cannot match, so only the
    // relay could put it here).
    await attacked('wrong key', (f) => [{ ...f, body: new RoomCipher(otherKey).seal({ id: String(f.id), ts: 1, name: 'alice', type: 'text', text: 'wrong key' }, alice.identity) }]);
    // Moved from another room: alice's real message of otherRoom, delivered as one of room.
    alice.client.sendText(otherRoom, 'other room');
    await alice.client.drain();
    const moved = proxy.fromClients.find((f) => f.t === 'send' && f.room === otherRoom)!;
    await attacked('moved', (f) => [{ ...f, id: moved.id, body: moved.body }]);
    await until('four unverifiable', () => bob.bad.length === 4);
    assert.deepEqual(bob.bad.map((b) => b.room), [room, room, room, room]);
    assert.ok(bob.bad.every((b) => typeof b.seq === 'number' && Object.keys(b).sort().join() === 'id,room,seq'));

    // A known name with a new key: bob first sees alice's own key on a message of hers.
    alice.client.sendText(room, 'alice herself');
    await until('alice herself', () => bob.messages.some((x) => x.text === 'alice herself'));
    const impostor = member(proxy.port, 'alice');
    await impostor.join(key);
    impostor.client.sendText(room, 'same name, new key');
    const m = await until('impostor message', () => bob.messages.find((x) => x.text === 'same name, new key'));
    assert.equal(m.keyChanged, true);
    assert.equal(m.verified, true);
    assert.ok(bob.messages.filter((x) => x.name === 'alice' && x.text !== 'same name, new key').every((x) => !x.keyChanged));

    // Replay, last: the proxy gives the real next message the seq after the replayed copy, so
    // the relay's own later seqs would collide with what bob was shown (§2.8 drops those).
    // A message delivered again later with a new seq is not shown twice.
    let original: Frame | undefined;
    await attacked('replayed', (f) => {
      original = f;
      return [f];
    });
    await until('replayed shown', () => bob.messages.some((m) => m.text === 'replayed'));
    await attacked('after replay', (f) => [{ ...original!, seq: Number(f.seq) }, { ...f, seq: Number(f.seq) + 1 }]);
    await until('after replay', () => bob.messages.some((m) => m.text === 'after replay'));
    assert.equal(bob.messages.filter((m) => m.text === 'replayed').length, 1);
    assert.ok(bob.logs.includes('duplicate'));

    // None of the attacked texts was ever shown.
    const shown = bob.messages.map((m) => m.text);
    for (const t of ['tampered', 'relabelled', 'wrong key', 'moved', 'other room']) assert.ok(!shown.includes(t), `"${t}" not shown`);
  });
});
