// The sender (src/core/client/sender.ts) over a real link and a scripted transport: the send
// window, acks, §1.7 refusals (retryable or held), the relay's maxFrame, the fail timer, a
// dropped connection with sends in flight, drain.
import { strict as assert } from 'node:assert';
import { RoomCipher, generateRoomKey } from '../../src/core/crypto/index';
import { RelayLink } from '../../src/core/client/link';
import type { OutboxEntry } from '../../src/core/client/outbox';
import { RecentIds } from '../../src/core/client/recentIds';
import { DEFAULT_TUNING } from '../../src/core/client/relayClient';
import type { RoomState } from '../../src/core/client/roomState';
import { SEND_WINDOW, Sender } from '../../src/core/client/sender';
import { SeqTracker } from '../../src/core/client/seqTracker';
import { ShownWindow } from '../../src/core/client/shownWindow';
import type { ClientTuning, OutgoingUpdate } from '../../src/core/client/types';
import { ScriptedNetwork, welcomeFrame } from '../helpers/scriptedTransport';
import { until } from '../helpers/until';

function room(): RoomState {
  const cipher = new RoomCipher(generateRoomKey());
  return {
    room: cipher.room, name: 'r', cipher, seqs: new SeqTracker(0), savedSeq: 0, seen: new RecentIds(100),
    shown: new ShownWindow(100), joined: true, head: 0, oldest: Infinity, more: false, lastTypingAt: 0, gapFilling: false,
  };
}

function entry(roomId: string, n: number, body = 'b'.repeat(10)): OutboxEntry {
  const id = `id${String(n).padStart(20, '0')}`;
  return {
    room: roomId, id, body, state: 'sending', held: false,
    message: { room: roomId, id, ts: 0, name: 'me', fingerprint: 'f', shortFingerprint: 'f', type: 'text', verified: true, keyChanged: false, own: true, history: false },
  };
}

function setup(tuning: Partial<ClientTuning> = {}, maxFrame = 65_536) {
  const net = new ScriptedNetwork();
  const t: ClientTuning = { ...DEFAULT_TUNING, reconnectBaseMs: 5, reconnectMaxMs: 10, rateLimitBaseMs: 20, rateLimitMaxMs: 40, ...tuning };
  const rs = room();
  const rooms = new Map([[rs.room, rs]]);
  const updates: OutgoingUpdate[] = [];
  const rejoined: string[] = [];
  const parts: { sender?: Sender } = {};
  const link = new RelayLink({ host: 'h', port: 1, agent: 'a', transport: net.factory, tuning: t }, {
    log: () => undefined, state: () => undefined, error: () => undefined,
    welcomed: () => parts.sender!.pump(), frame: () => undefined, ignored: () => undefined, lost: () => parts.sender!.lost(), closed: () => undefined,
  });
  const sender = new Sender(link, rooms, t, { outgoing: (u) => updates.push(u), rejoin: (r) => rejoined.push(r) });
  parts.sender = sender;
  link.connect();
  net.last.open();
  net.last.frame(welcomeFrame(maxFrame));
  return { net, link, sender, rs, updates, rejoined };
}

/** Acks a send the way the RelayClient does: settle its rid, then the entry. */
function ack(sender: Sender, f: Record<string, unknown>, seq: number): void {
  sender.settle(f.rid as number);
  const e = sender.outbox.get(f.room as string, f.id as string);
  if (e !== undefined) sender.acked(e, seq);
}

/** A refusal the way the RelayClient routes one: the link forgets the rid, the sender decides. */
function refuse(link: RelayLink, sender: Sender, f: Record<string, unknown>, code: string): void {
  link.take(f.rid as number);
  sender.refused(f.room as string, f.id as string, code);
}

describe('client sender (scripted transport)', () => {
  it(`keeps at most ${SEND_WINDOW} sends in flight, in order, and sends the next on each ack`, async () => {
    const { net, sender, rs, link } = setup();
    for (let i = 0; i < SEND_WINDOW + 10; i++) sender.add(entry(rs.room, i));
    const sends = net.last.of('send');
    assert.equal(sends.length, SEND_WINDOW);
    assert.deepEqual(sends.map((f) => f.id), [...Array(SEND_WINDOW).keys()].map((i) => entry(rs.room, i).id));
    ack(sender, sends[0]!, 1);
    assert.equal(net.last.of('send').length, SEND_WINDOW + 1);
    assert.equal(sender.outbox.size, SEND_WINDOW + 9);
    await link.disconnect();
  });

  it('rate_limited: pauses, then sends the same id again; drain resolves once acked', async () => {
    const { net, sender, rs, link } = setup();
    sender.add(entry(rs.room, 1));
    const first = net.last.of('send')[0]!;
    refuse(link, sender, first, 'rate_limited');
    // (Full jitter: the pause may be 0 ms, so "not at once" is not asserted.)
    const again = await until('the resend', () => net.last.of('send')[1]);
    assert.equal(again.id, first.id);
    assert.notEqual(again.rid, first.rid);
    const drained = sender.drain();
    ack(sender, again, 1);
    assert.deepEqual(await drained, { failed: 0 });
    await link.disconnect();
  });

  it('internal: shown failed but resent; not_joined: the room is joined again and the send retried', async () => {
    const { net, sender, rs, link, updates, rejoined } = setup();
    sender.add(entry(rs.room, 1));
    refuse(link, sender, net.last.of('send')[0]!, 'internal');
    assert.equal(updates.at(-1)?.state, 'failed');
    await until('the resend', () => net.last.of('send')[1]);
    refuse(link, sender, net.last.of('send')[1]!, 'not_joined');
    assert.deepEqual(rejoined, [rs.room]);
    await until('the resend', () => net.last.of('send')[2]);
    await link.disconnect();
  });

  it('a refusal that is not retryable holds the message as failed until retry()', async () => {
    const { net, sender, rs, link, updates } = setup();
    const e = entry(rs.room, 1);
    sender.add(e);
    const drained = sender.drain();
    refuse(link, sender, net.last.of('send')[0]!, 'bad_request');
    assert.deepEqual(await drained, { failed: 1 });
    assert.equal(updates.at(-1)?.state, 'failed');
    assert.equal(e.held, true);
    sender.retry(rs.room, e.id);
    assert.equal(net.last.of('send').length, 2);
    assert.equal(updates.at(-1)?.state, 'sending');
    await link.disconnect();
  });

  it('holds a message over the relay\'s maxFrame as failed instead of sending it', async () => {
    const { net, sender, rs, link, updates } = setup({}, 200);
    sender.add(entry(rs.room, 1, 'x'.repeat(300)));
    sender.add(entry(rs.room, 2));
    assert.deepEqual(net.last.of('send').map((f) => f.id), [entry(rs.room, 2).id]);
    assert.match(updates.find((u) => u.state === 'failed')!.error!, /at most 200 bytes/);
    await link.disconnect();
  });

  it('marks an un-acked message failed after failAfterMs; it stays queued and is sent after a reconnect', async () => {
    const { net, sender, rs, link, updates } = setup({ failAfterMs: 30 });
    sender.add(entry(rs.room, 1));
    await until('failed', () => updates.find((u) => u.state === 'failed'));
    assert.equal(sender.outbox.size, 1);
    net.last.end(new Error('reset'));
    await until('a reconnect', () => (net.transports.length === 2 ? true : undefined));
    net.last.open();
    net.last.frame(welcomeFrame());
    assert.deepEqual(net.last.of('send').map((f) => f.id), [entry(rs.room, 1).id], 'resent with its id');
    await link.disconnect();
  });

  it('sends nothing after bye, nor to a room not joined, nor after the room is dropped', async () => {
    const { net, sender, rs, link } = setup();
    net.last.frame({ t: 'bye', reason: 'shutdown' });
    sender.add(entry(rs.room, 1));
    assert.equal(net.last.of('send').length, 0);
    await link.disconnect();
    const s2 = setup();
    s2.rs.joined = false;
    s2.sender.add(entry(s2.rs.room, 1));
    assert.equal(s2.net.last.of('send').length, 0);
    const drained = s2.sender.drain();
    s2.sender.dropRoom(s2.rs.room);
    assert.deepEqual(await drained, { failed: 0 });
    await s2.link.disconnect();
  });
});
