// The extension's outbox survives its host (issue 11 "Outbox survives a restart"; docs/protocol.md
// §1.5): the chat session (src/vscode/chatSession.ts) with real RelayClients, the stores the
// extension gives them (OutboxState over a globalState-like StateStore) and a real relay
// process. A message sent while the relay does not answer (SIGSTOP, then SIGKILL: never stored)
// is kept in the state as its envelope; a second session over the same stores, as after a
// killed extension host, shows it again as sending and sends it with its original id: the
// relay stores it once. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveRoomId, fingerprint, generateIdentity, generateRoomKey } from '../../src/core/crypto/index';
import { RelayClient, type ChatMessage } from '../../src/core/client/index';
import { KeyStore, KnownKeys, MemorySecretStore, MemoryStateStore, OutboxState, RoomList } from '../../src/core/keys/index';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { ChatSession } from '../../src/vscode/chatSession';
import type { ChatItem } from '../../src/shared/messages';
import { RelayProcess } from '../helpers/relayProcess';
import { until } from '../helpers/until';

describe('extension: the outbox survives the extension host (chat session, real relay)', function () {
  this.timeout(90_000);
  let dir: string;
  let relay: RelayProcess | undefined;
  const sessions: ChatSession[] = [];
  const clients: RelayClient[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-vscode-outbox-'));
  });

  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.dispose();
    for (const c of clients.splice(0)) await c.disconnect();
    if (relay?.running) process.kill(relay.pid, 'SIGCONT');
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** A session as activate() wires it, over stores that outlive it (globalState, SecretStorage). */
  function session(secrets: MemorySecretStore, state: MemoryStateStore, port: number): { s: ChatSession; items: ChatItem[] } {
    const outbox = new OutboxState(state);
    const knownKeys = new KnownKeys(state);
    const s = new ChatSession({
      keys: new KeyStore(secrets), rooms: new RoomList(state), knownKeys, state,
      settings: () => ({ relayHost: '127.0.0.1', relayPort: port, displayName: 'alice' }),
      fingerprint, log: () => undefined, outbox,
      createClient: ({ tlsFingerprint: _pin, ...p }) => new RelayClient({
        ...p, agent: 'smc-test/0', transport: createTcpTransport, outbox, tuning: { reconnectBaseMs: 50, reconnectMaxMs: 300 },
      }),
    });
    sessions.push(s);
    const items: ChatItem[] = [];
    s.on('item', (_room, item) => items.push(item));
    return { s, items };
  }

  it('a message the relay never stored is shown again after a restart and sent once, with its id', async () => {
    const data = join(dir, 'relay');
    relay = await RelayProcess.start({ dataDir: data });
    const port = relay.port;
    const secrets = new MemorySecretStore();
    const state = new MemoryStateStore();
    const key = generateRoomKey();
    const room = deriveRoomId(key);

    const first = session(secrets, state, port);
    await first.s.addRoom(key, room, 'r', `127.0.0.1:${port}`);
    let connected = false;
    first.s.on('connection', (c) => (connected = c === 'connected'));
    await first.s.connect();
    await until('connected', () => connected);
    process.kill(relay.pid, 'SIGSTOP');
    const sent = await first.s.sendText('kept in globalState');
    await until('the envelope in the state', () => new OutboxState(state).load(room).length === 1);
    const [kept] = new OutboxState(state).load(room);
    assert.equal(kept!.id, sent.key);
    assert.ok(!JSON.stringify(kept).includes('kept in'), 'the envelope, never the text');
    // The relay dies with the send unread; the host goes too (its memory with it).
    await relay.kill();
    await first.s.dispose();
    relay = await RelayProcess.start({ dataDir: data, args: ['--port', String(port)] });

    const second = session(secrets, state, port);
    await second.s.connect();
    await until('sent again and acked', () => second.items.find((i) => i.key === sent.key && i.state === 'sent'), 40_000);
    assert.equal(second.items.find((i) => i.key === sent.key)?.state, 'sending', 'shown as sending first');
    const shown = second.s.timeline(room).get(sent.key);
    assert.equal(shown?.text, 'kept in globalState');
    assert.equal(shown?.seq, 1);
    assert.deepEqual(new OutboxState(state).load(room), [], 'forgotten once acked');

    const bob = new RelayClient({ host: '127.0.0.1', port, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'bob', transport: createTcpTransport });
    clients.push(bob);
    const got: ChatMessage[] = [];
    let synced = false;
    bob.on('message', (m) => got.push(m));
    bob.on('synced', () => (synced = true));
    bob.connect();
    bob.join({ key, name: 'r' });
    await until('bob synced', () => synced);
    assert.deepEqual(got.map((m) => [m.seq, m.id, m.text]), [[1, sent.key, 'kept in globalState']]);
  });

  it('leaving a room forgets its kept messages', async () => {
    const secrets = new MemorySecretStore();
    const state = new MemoryStateStore();
    const key = generateRoomKey();
    const room = deriveRoomId(key);
    // Nothing listens on port 1: the message stays un-acked.
    const { s } = session(secrets, state, 1);
    await s.addRoom(key, room, 'r', '127.0.0.1:1');
    await s.connect();
    await s.sendText('never delivered');
    await until('kept', () => new OutboxState(state).load(room).length === 1);
    await s.leaveRoom(room);
    assert.deepEqual(new OutboxState(state).load(room), []);
  });
});
