// RelayClient as a whole over scripted transports, against a relay that picks the worst
// moment: the connection drops while a catch-up waits at the verifier, live messages arrive
// meanwhile, and the relay sends the same history again on the next connection; a frame
// before the welcome; acks for a connection that is gone.
import { strict as assert } from 'node:assert';
import {
  RoomCipher, generateIdentity, generateMessageId, generateRoomKey, inThreadVerifier, type SignatureItem, type SignatureVerifier,
} from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import type { ClientError } from '../../src/core/client/index';
import { ScriptedNetwork, type ScriptedTransport, welcomeFrame } from '../helpers/scriptedTransport';
import { until } from '../helpers/until';

const key = generateRoomKey();
const cipher = new RoomCipher(key);
const alice = generateIdentity();
const ids = new Map<number, string>();
function msg(seq: number): Record<string, unknown> {
  if (!ids.has(seq)) ids.set(seq, generateMessageId());
  const id = ids.get(seq)!;
  return { t: 'msg', room: cipher.room, seq, ts: seq, id, body: cipher.seal({ id, ts: seq, name: 'alice', type: 'text', text: `m${seq}` }, alice) };
}

/** A verifier that answers only when released. */
class HeldVerifier implements SignatureVerifier {
  private readonly held: (() => void)[] = [];
  verifyBatch(items: readonly SignatureItem[]): Promise<boolean[]> {
    return new Promise((resolve) => this.held.push(() => void inThreadVerifier.verifyBatch(items).then(resolve)));
  }
  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

function client(net: ScriptedNetwork, verifier?: SignatureVerifier) {
  const c = new RelayClient({
    host: '127.0.0.1', port: 1, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'me', transport: net.factory,
    tuning: { initialHistory: 1_000, reconnectBaseMs: 5, reconnectMaxMs: 10 }, ...(verifier ? { verifier } : {}),
  });
  const shown: number[] = [];
  const errors: ClientError[] = [];
  c.on('message', (m) => shown.push(m.seq!));
  c.on('error', (e) => errors.push(e));
  return { c, shown, errors };
}

function welcome(t: ScriptedTransport): Record<string, unknown> {
  t.open();
  t.frame(welcomeFrame());
  return t.of('join').at(-1)!;
}

describe('RelayClient over scripted transports (worst moments)', () => {
  it('a drop while the catch-up waits at the verifier, live messages meanwhile, the same history again: each shown once, in order', async () => {
    const held = new HeldVerifier();
    const net = new ScriptedNetwork();
    const { c, shown } = client(net, held);
    c.join({ key, name: 'r' });
    c.connect();
    const t1 = net.last;
    const join = welcome(t1);
    t1.frame({ t: 'joined', rid: join.rid, room: cipher.room, head: 300, sid: 's1' });
    for (let seq = 1; seq <= 300; seq++) t1.frame(msg(seq));
    t1.frame({ t: 'synced', rid: join.rid, room: cipher.room, head: 300, from: 1 });
    t1.frame(msg(301));
    assert.deepEqual(shown, [], 'held behind the verifier');
    t1.end(new Error('reset'));
    await until('a reconnect', () => (net.transports.length === 2 ? true : undefined));
    const t2 = net.last;
    const join2 = welcome(t2);
    // The first catch-up still waits: this one is queued behind it.
    t2.frame({ t: 'joined', rid: join2.rid, room: cipher.room, head: 302, sid: 's2' });
    for (let seq = 1; seq <= 302; seq++) t2.frame(msg(seq));
    t2.frame({ t: 'synced', rid: join2.rid, room: cipher.room, head: 302, from: 1 });
    held.release();
    await until('everything shown', () => (shown.length >= 302 ? true : undefined));
    await new Promise((r) => setImmediate(r));
    held.release();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(shown, [...Array(302).keys()].map((i) => i + 1));
    await c.disconnect();
  });

  it('an ack that arrives on a dropped connection changes nothing; the message is resent on the next and acked once', async () => {
    const net = new ScriptedNetwork();
    const { c } = client(net);
    const { room } = c.join({ key, name: 'r' });
    c.connect();
    const t1 = net.last;
    const join = welcome(t1);
    t1.frame({ t: 'joined', rid: join.rid, room, head: 0, sid: 's1' });
    t1.frame({ t: 'synced', rid: join.rid, room, head: 0, from: 0 });
    const out = c.sendText(room, 'hello');
    const send = t1.of('send')[0]!;
    t1.end(new Error('reset'));
    t1.frame({ t: 'ack', rid: send.rid, room, id: out.id, seq: 1, ts: 1 });
    assert.equal(c.pendingCount, 1);
    await until('a reconnect', () => (net.transports.length === 2 ? true : undefined));
    const t2 = net.last;
    const join2 = welcome(t2);
    t2.frame({ t: 'joined', rid: join2.rid, room, head: 0, sid: 's2' });
    const resend = await until('the resend', () => t2.of('send')[0]);
    assert.equal(resend.id, out.id);
    const drained = c.drain();
    t2.frame({ t: 'ack', rid: resend.rid, room, id: out.id, seq: 1, ts: 1 });
    assert.deepEqual(await drained, { failed: 0 });
    await c.disconnect();
  });

  it('a joined before the welcome is a protocol error and a reconnect, not a joined room', async () => {
    const net = new ScriptedNetwork();
    const { c, errors } = client(net);
    const { room } = c.join({ key, name: 'r' });
    c.connect();
    net.last.open();
    net.last.frame({ t: 'joined', rid: 1, room, head: 0, sid: 's' });
    assert.equal(errors[0]?.code, 'protocol_error');
    assert.equal(c.state, 'connecting');
    await c.disconnect();
    assert.equal(c.state, 'offline');
  });
});
