// A client may send its last frames and half-close (`printf … | nc`): PROTOCOL.md §1.5 acks
// wait for the disk, so the relay must keep its side open until every reply is out.
import { strict as assert } from 'node:assert';
import { connect } from 'node:net';
import { RelayProcess, joinLine, randomId, randomRoom } from '../helpers/relayProcess';

describe('relay: a half-closed client still gets every reply', function () {
  this.timeout(20_000);
  let relay: RelayProcess;
  before(async () => {
    relay = await RelayProcess.start();
  });
  after(async () => {
    await relay.stop();
  });

  it('answers pipelined hello, join, sends and ping sent before a FIN, then closes', async () => {
    const room = randomRoom();
    const ids = [randomId(), randomId(), randomId()];
    const socket = connect(relay.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    const welcomed = new Promise<void>((resolve) => {
      socket.on('data', (chunk: string) => {
        received += chunk;
        if (received.includes('\n')) resolve();
      });
    });
    const closed = new Promise<void>((resolve, reject) => {
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    // The join proof signs the welcome's challenge (§1.9), so hello goes first; the rest is
    // pipelined with the FIN.
    socket.write(JSON.stringify({ t: 'hello', v: 2 }) + '\n');
    await welcomed;
    const challenge = (JSON.parse(received.slice(0, received.indexOf('\n'))) as { challenge: string }).challenge;
    const lines = joinLine(room, challenge, { rid: 1 }) + [
      ...ids.map((id, i) => ({ t: 'send', rid: 10 + i, room, id, body: 'QUJD' })),
      { t: 'ping', rid: 99 },
    ].map((f) => JSON.stringify(f) + '\n').join('');
    socket.end(lines);
    await closed;
    const frames = received.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(frames[0]?.t, 'welcome');
    assert.ok(frames.some((f) => f.t === 'synced' && f.rid === 1), 'the join is answered');
    const acks = frames.filter((f) => f.t === 'ack');
    assert.deepEqual(acks.map((a) => a.id), ids, 'every send acked, in order');
    assert.deepEqual(acks.map((a) => a.seq), [1, 2, 3]);
    assert.ok(frames.some((f) => f.t === 'pong' && f.rid === 99), 'the ping after the sends is answered');
  });
});
