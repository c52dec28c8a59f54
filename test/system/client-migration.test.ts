// Upgrading a terminal installation from protocol v1 to v2 (docs/protocol.md §2.2): the room id
// is now derived from the room-auth key, so rooms stored under their v1 id (secrets.json,
// state.json) move to their v2 id at the next `smc` start, with their name, relay, known keys
// and TLS pin, instead of the key being reported as damaged. Real files and a real relay.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveRoomId, deriveRoomIdV1, encodeB64u, generateIdentity, generateRoomKey } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import { KeyStore, KnownKeys, MemorySecretStore, MemoryStateStore, RoomList, migrateV1RoomIds } from '../../src/core/keys/index';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { CLI_PATH, RelayProcess } from '../helpers/relayProcess';

describe('v1 → v2 room ids in $SMC_HOME (issue 7 §1.3)', function () {
  this.timeout(60_000);

  it('a room stored under its v1 id is moved to its v2 id, and smc chat --room NAME works', async () => {
    const relay = await RelayProcess.start();
    const home = mkdtempSync(join(tmpdir(), 'smc-migrate-'));
    const alice = new RelayClient({
      host: '127.0.0.1', port: relay.port, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'alice', transport: createTcpTransport,
    });
    try {
      const key = generateRoomKey();
      const v1 = deriveRoomIdV1(key);
      const v2 = deriveRoomId(key);
      const relayAddr = `127.0.0.1:${relay.port}`;
      mkdirSync(home, { recursive: true, mode: 0o700 });
      const bobId = generateIdentity();
      writeFileSync(join(home, 'secrets.json'), JSON.stringify({ 'smc.identity': encodeB64u(bobId.seed), [`smc.room.${v1}`]: encodeB64u(key) }), { mode: 0o600 });
      writeFileSync(join(home, 'state.json'), JSON.stringify({
        'smc.rooms': [{ room: v1, name: 'old room', relay: relayAddr, lastSeq: 7 }],
        'smc.knownKeys': { [v1]: { carol: 'AAAA BBBB CCCC DDDD EEEE FFFF 0000 1111' } },
        'smc.cli.tlsPins': {},
      }), { mode: 0o600 });

      alice.connect();
      const synced = new Promise<void>((resolve) => alice.on('synced', () => resolve()));
      const { room } = alice.join({ key, name: 'old room' });
      assert.equal(room, v2);
      await synced;
      alice.sendText(room, 'after the upgrade');
      await alice.drain();

      const r = spawnSync(process.execPath, [CLI_PATH, 'chat', '--json', '--room', 'old room'], { env: { ...process.env, SMC_HOME: home }, input: '', encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text), ['after the upgrade']);

      const secrets = JSON.parse(readFileSync(join(home, 'secrets.json'), 'utf8')) as Record<string, string>;
      assert.equal(secrets[`smc.room.${v2}`], encodeB64u(key));
      assert.equal(secrets[`smc.room.${v1}`], undefined);
      const state = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as Record<string, unknown>;
      const rooms = state['smc.rooms'] as { room: string; name: string; lastSeq: number }[];
      assert.deepEqual(rooms.map((e) => [e.room, e.name]), [[v2, 'old room']]);
      const known = state['smc.knownKeys'] as Record<string, Record<string, string>>;
      assert.equal(known[v2]?.carol, 'AAAA BBBB CCCC DDDD EEEE FFFF 0000 1111', 'known keys move with the room');
      assert.equal(known[v1], undefined);
    } finally {
      await alice.disconnect();
      await relay.cleanup();
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('through a KnownKeys already loaded (the extension\'s path): idempotent, v2 rooms untouched', async () => {
    const secrets = new MemorySecretStore();
    const state = new MemoryStateStore();
    const keys = new KeyStore(secrets);
    const oldKey = generateRoomKey();
    const newKey = generateRoomKey();
    const v1 = deriveRoomIdV1(oldKey);
    await secrets.store(`smc.room.${v1}`, encodeB64u(oldKey));
    await keys.setRoomKey(deriveRoomId(newKey), newKey);
    await state.update('smc.rooms', [
      { room: v1, name: 'old', relay: '127.0.0.1:1', lastSeq: 3 },
      { room: deriveRoomId(newKey), name: 'new', relay: '127.0.0.1:1', lastSeq: 9 },
    ]);
    await state.update('smc.knownKeys', { [v1]: { carol: 'FP-C' } });
    const rooms = new RoomList(state);
    const known = new KnownKeys(state);
    const moveKnown = async (from: string, to: string): Promise<void> => {
      const t = state.get<Record<string, Record<string, string>>>('smc.knownKeys')?.[from] ?? {};
      for (const [n, fp] of Object.entries(t)) await known.trust(to, n, fp);
      await known.forgetRoom(from);
    };
    const moves = await migrateV1RoomIds(keys, rooms, state, [], moveKnown);
    assert.deepEqual(moves, [{ from: v1, to: deriveRoomId(oldKey) }]);
    assert.deepEqual(rooms.all().map((e) => [e.name, e.room, e.lastSeq]).sort(), [['new', deriveRoomId(newKey), 9], ['old', deriveRoomId(oldKey), 0]]);
    assert.deepEqual(await keys.roomKey(deriveRoomId(oldKey)), oldKey);
    assert.equal(await secrets.get(`smc.room.${v1}`), undefined);
    assert.equal(known.check(deriveRoomId(oldKey), 'carol', 'FP-C'), 'same');
    assert.deepEqual(await migrateV1RoomIds(keys, rooms, state, [], moveKnown), [], 'a second run moves nothing');
  });
});
