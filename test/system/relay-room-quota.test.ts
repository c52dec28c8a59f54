// The relay's bound of what one room may store (docs/protocol.md §1.7 `room_quota`, docs/relay.md
// "Limits"), against the real relay process: whichever connection sends, the room's bytes per
// hour run out and further sends are refused with room_quota, not stored, the connection open;
// other rooms and ephemeral sends are not touched.
import { strict as assert } from 'node:assert';
import { LineClient, RelayProcess, randomId, randomRoom } from '../helpers/relayProcess';

describe('relay: what one room may store (room_quota)', function () {
  this.timeout(30_000);
  let relay: RelayProcess;
  afterEach(async () => relay.cleanup());

  it('refuses sends over the room\'s bytes per hour from any connection, stores none of them, keeps other rooms and typing', async () => {
    relay = await RelayProcess.start({ args: ['--room-bytes', '200000'] });
    const room = randomRoom();
    const other = randomRoom();
    // 50 000 characters each: four fill the budget of 200 000.
    const bodyOf = (n: number): string => `${'B'.repeat(49_999)}${n % 2 === 0 ? 'A' : 'Q'}`;
    const { client: a } = await LineClient.open(relay.port);
    const { client: b } = await LineClient.open(relay.port);
    for (const c of [a, b]) assert.equal((await c.request({ t: 'join', room })).t, 'joined');
    assert.equal((await a.request({ t: 'join', room: other })).t, 'joined');
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await (i % 2 === 0 ? a : b).request({ t: 'send', room, id: randomId(), body: bodyOf(i) });
      codes.push(r.t === 'ack' ? 'ack' : String(r.code));
    }
    assert.deepEqual(codes, ['ack', 'ack', 'ack', 'ack', 'room_quota']);
    const refused = await b.request({ t: 'send', room, id: randomId(), body: bodyOf(9) });
    assert.equal(refused.code, 'room_quota');
    assert.match(String(refused.message), /per room \(200000 bytes an hour\); room for this message in about \d+ s/);
    // The connection is open, typing still goes through, another room still stores.
    assert.equal((await b.request({ t: 'send', room, id: randomId(), body: 'AAAA', eph: true })).t, 'ack');
    assert.equal((await a.request({ t: 'send', room: other, id: randomId(), body: bodyOf(1) })).t, 'ack');
    // Nothing of the refused sends was stored: head is 4.
    const { client: c } = await LineClient.open(relay.port);
    const joined = await c.request({ t: 'join', room, since: 4 });
    assert.equal(joined.head, 4);
    await relay.waitForLog((r) => r.event === 'limit' && r.limit === 'room_quota');
    for (const x of [a, b, c]) await x.close();
  });
});
