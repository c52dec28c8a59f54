// RelayServer in process, on a MemoryStore the test controls: the paths a real disk cannot be
// made to take on demand (a failing append or read, a shutdown with writes still in flight).
// Everything else is covered against the real process in relay-conformance.test.ts.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminToken } from '../../src/relay/adminToken';
import type { LogFields, RelayLogger } from '../../src/relay/log';
import { DEFAULT_RELAY_OPTIONS } from '../../src/relay/options';
import { RelayServer } from '../../src/relay/server';
import type { AppendResult } from '../../src/relay/store/types';
import { MemoryStore } from '../helpers/memoryStore';
import { LineClient, randomId, randomRoom } from '../helpers/relayProcess';

class RecordingLogger implements RelayLogger {
  readonly records: { level: string; event: string; fields: LogFields }[] = [];
  info(event: string, fields: LogFields = {}): void {
    this.records.push({ level: 'info', event, fields });
  }
  warn(event: string, fields: LogFields = {}): void {
    this.records.push({ level: 'warn', event, fields });
  }
  error(event: string, fields: LogFields = {}): void {
    this.records.push({ level: 'error', event, fields });
  }
}

/** A MemoryStore whose appends can be held until the test releases them. */
class GatedStore extends MemoryStore {
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  hold(): void {
    this.gate = new Promise((r) => (this.openGate = r));
  }
  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }
  override append(room: string, id: string, body: string): Promise<AppendResult> {
    const gate = this.gate;
    return gate ? gate.then(() => super.append(room, id, body)) : super.append(room, id, body);
  }
}

describe('RelayServer (in process)', function () {
  this.timeout(10_000);
  let dir: string;
  let store: GatedStore;
  let log: RecordingLogger;
  let server: RelayServer;
  let port: number;
  const clients: LineClient[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-relay-server-'));
    store = new GatedStore();
    log = new RecordingLogger();
    server = new RelayServer({ ...DEFAULT_RELAY_OPTIONS, port: 0 }, {
      store, log, adminToken: await AdminToken.load(dir), agent: 'smc-relay/test',
    });
    port = (await server.listen()).port;
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    store.release();
    await server.shutdown('test');
    rmSync(dir, { recursive: true, force: true });
  });

  async function client(): Promise<LineClient> {
    const { client: c } = await LineClient.open(port);
    clients.push(c);
    return c;
  }

  it('§1.5 a send the store cannot take gets internal, no ack, no msg; the connection and reads go on', async () => {
    const room = randomRoom();
    const a = await client();
    const b = await client();
    await a.request({ t: 'join', room });
    await b.request({ t: 'join', room });
    const ok = await a.request({ t: 'send', room, id: randomId(), body: 'b2s' });
    assert.equal(ok.t, 'ack');
    await b.nextOfType('msg');
    store.failAppends = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    const e = await a.request({ t: 'send', room, id: randomId(), body: 'ZnVsbA' });
    assert.deepEqual([e.t, e.code], ['error', 'internal']);
    const failure = log.records.find((r) => r.event === 'append_failed');
    assert.ok(failure && failure.level === 'error' && String(failure.fields.error).includes('ENOSPC'), 'the log says why');
    assert.ok(!JSON.stringify(log.records).includes('ZnVsbA'), 'no body in the log');
    const page = await a.request({ t: 'history', room });
    assert.deepEqual([page.t, page.from, page.to], ['page', 1, 1], 'reads keep working');
    store.failAppends = undefined;
    const later = await a.request({ t: 'send', room, id: randomId(), body: 'YWdhaW4' });
    assert.deepEqual([later.t, later.seq], ['ack', 2]);
    assert.equal((await b.nextOfType('msg')).seq, 2, 'the failed send was never forwarded');
  });

  it('§1.4 a read the store cannot serve gets internal and the join still completes', async () => {
    const room = randomRoom();
    const a = await client();
    await a.request({ t: 'join', room });
    await a.request({ t: 'send', room, id: randomId(), body: 'b2s' });
    store.range = () => Promise.reject(new Error('EIO: i/o error'));
    const b = await client();
    const joined = await b.request({ t: 'join', room });
    assert.equal(joined.head, 1);
    assert.deepEqual([(await b.next()).code, (await b.next()).t], ['internal', 'synced']);
  });

  it('§1.7 shutdown: bye; a send received before it is still stored; frames after it get shutting_down', async () => {
    const room = randomRoom();
    const a = await client();
    await a.request({ t: 'join', room });
    store.hold();
    a.send({ t: 'send', rid: 50, room, id: randomId(), body: 'aW5mbGlnaHQ' });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = server.shutdown('test');
    assert.equal(server.state, 'closing');
    assert.deepEqual(await a.nextOfType('bye'), { t: 'bye', reason: 'shutdown' });
    a.send({ t: 'ping', rid: 51 });
    const refused = await a.next((f) => f.rid === 51);
    assert.deepEqual([refused.t, refused.code], ['error', 'shutting_down']);
    store.release();
    await stopping;
    assert.equal(server.state, 'closed');
    assert.equal(store.head(room), 1, 'the send received before bye was stored');
  });

  it('§1.7 CLOSING: new connections are refused', async () => {
    const room = randomRoom();
    const a = await client();
    await a.request({ t: 'join', room });
    store.hold();
    a.send({ t: 'send', room, id: randomId(), body: 'aW5mbGlnaHQ' });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = server.shutdown('test');
    await assert.rejects(LineClient.connect(port), 'no longer accepting');
    store.release();
    await stopping;
  });

  it('forgets closed connections entirely: counts, rooms, one conn_close each', async () => {
    const room = randomRoom();
    const many: LineClient[] = [];
    for (let i = 0; i < 50; i++) {
      const c = await client();
      await c.request({ t: 'join', room });
      many.push(c);
    }
    assert.equal(server.connectionCount, 50);
    for (const c of many) c.destroy();
    for (let i = 0; i < 100 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.connectionCount, 0);
    const closes = log.records.filter((r) => r.event === 'conn_close');
    assert.equal(closes.length, 50);
    assert.equal(closes[closes.length - 1]?.fields.conns, 0);
  });
});
