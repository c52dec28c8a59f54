// Stores sealed envelopes in a running relay through the wire protocol (§1.5), with many sends
// in flight on one connection (the relay runs with --rate 0), and waits for every ack.
import type { RoomCipher } from '../../src/core/crypto';
import { LineConn } from './lineConn';
import type { SealedMessage } from './envelopes';

export async function seedMessages(port: number, cipher: RoomCipher, messages: SealedMessage[], window = 256): Promise<void> {
  const room = cipher.room;
  const c = await LineConn.connect(port);
  try {
    await c.hello();
    await c.join(cipher, 1, { limit: 1 });
    let next = 0;
    let acked = 0;
    await new Promise<void>((resolve, reject) => {
      const sendNext = (): void => {
        const m = messages[next];
        if (!m) return;
        c.write(`{"t":"send","rid":${next + 10},"room":"${room}","id":"${m.id}","body":"${m.body}"}`);
        next++;
      };
      c.onLine((line) => {
        if (line.includes('"t":"error"')) reject(new Error(`seeding: relay sent ${line.slice(0, 200)}`));
        if (!line.includes('"t":"ack"')) return;
        acked++;
        if (acked === messages.length) resolve();
        else sendNext();
      });
      c.socket.once('close', () => reject(new Error('seeding: the relay closed the connection')));
      for (let i = 0; i < window; i++) sendNext();
    });
  } finally {
    c.close();
  }
}

/**
 * The bare-client baseline of a catch-up: join (newest 1 000, §1.4) and page back with
 * `history` (§1.6) until seq 1, counting `msg` lines; no parsing beyond finding the frame type,
 * no crypto. Resolves with the number of messages received.
 */
export async function rawCatchUp(port: number, cipher: RoomCipher, expected: number, onMsg?: (line: string) => void): Promise<number> {
  const room = cipher.room;
  const c = await LineConn.connect(port);
  try {
    await c.hello();
    let received = 0;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (done = resolve));
    let rid = 1;
    c.onLine((line) => {
      if (line.startsWith('{"t":"msg"')) {
        received++;
        onMsg?.(line);
        return;
      }
      const isEnd = line.startsWith('{"t":"synced"') || line.startsWith('{"t":"page"');
      if (!isEnd) return;
      const from = Number(/"from":(\d+)/.exec(line)?.[1] ?? '0');
      if (from > 1 && received < expected) c.send({ t: 'history', rid: ++rid, room, before: from, limit: 1000 });
      else done();
    });
    c.send(c.joinFrame(cipher, 1, { since: 0, limit: 1000 }));
    await finished;
    return received;
  } finally {
    c.close();
  }
}
