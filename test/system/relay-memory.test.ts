// Memory against strangers (issue 7 §1.2): replies stream from disk as each socket drains, and
// one global output budget bounds what all connections together hold, so a crowd of clients
// that join a big room and never read cannot grow the relay with their number. Measured on the
// real relay process: VmRSS / VmHWM of /proc/PID/status.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { LineClient, RelayProcess, joinLine, randomId, randomRoom, type Frame } from '../helpers/relayProcess';

const MiB = 1024 * 1024;

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/** Polls the relay's RSS every 50 ms; `peak` is the highest seen, `over` rejects past `limit`. */
function watchRss(pid: number, limit: number): { peak: () => number; stop: () => void; over: Promise<never> } {
  let peak = 0;
  let fail: (e: Error) => void = () => {};
  const over = new Promise<never>((_, reject) => (fail = reject));
  over.catch(() => {});
  const timer = setInterval(() => {
    let rss: number;
    try {
      rss = statusKb(pid, 'VmRSS') * 1024;
    } catch {
      return;
    }
    peak = Math.max(peak, rss);
    if (rss > limit) fail(new Error(`relay RSS ${Math.round(rss / MiB)} MiB > ${Math.round(limit / MiB)} MiB`));
  }, 50);
  return { peak: () => peak, stop: () => clearInterval(timer), over };
}

/**
 * A member that says hello, joins `room` from the start with a real proof (§1.9: the attack
 * needs no stranger, anyone can make a room of their own) and never reads a byte after the
 * welcome.
 */
function neverReader(port: number, room: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('error', reject);
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      const nl = text.indexOf('\n');
      if (nl === -1) return;
      socket.off('data', onData);
      socket.pause();
      const challenge = (JSON.parse(text.slice(0, nl)) as { challenge: string }).challenge;
      socket.write(joinLine(room, challenge, { since: 0, limit: 1000 }));
      resolve(socket);
    };
    socket.once('connect', () => {
      socket.on('data', onData);
      socket.write(JSON.stringify({ t: 'hello', v: 2 }) + '\n');
    });
  });
}

async function fill(c: LineClient, room: string, count: number, bodyChars: number): Promise<void> {
  const body = 'B'.repeat(bodyChars);
  for (let done = 0; done < count; done += 50) {
    const ids = Array.from({ length: Math.min(50, count - done) }, () => randomId());
    c.sendRaw(ids.map((id) => JSON.stringify({ t: 'send', room, id, body }) + '\n').join(''));
    for (const id of ids) {
      const ack = await c.next((f) => (f.t === 'ack' && f.id === id) || f.t === 'error', 30_000);
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
    }
  }
}

describe('relay memory against clients that never read (issue 7 §1.2)', function () {
  this.timeout(180_000);
  let relay: RelayProcess | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await relay?.cleanup();
    relay = undefined;
  });

  it('60 never-reading joins of a 26 MB room keep the relay under 400 MiB, and it serves another client meanwhile', async () => {
    relay = await RelayProcess.start({ args: ['--rate', '0'] });
    const room = randomRoom();
    const { client: filler } = await LineClient.open(relay.port);
    const joined = await filler.request({ t: 'join', room });
    assert.equal(joined.t, 'joined');
    await filler.nextOfType('synced');
    await fill(filler, room, 1000, 26_000);
    filler.destroy();

    const baseline = statusKb(relay.pid, 'VmRSS') * 1024;
    const watch = watchRss(relay.pid, 400 * MiB);
    try {
      const work = (async () => {
        for (let i = 0; i < 60; i++) sockets.push(await neverReader(relay.port, room));
        // Another client: its presence shows when all 60 joins were handled.
        const { client: other } = await LineClient.open(relay.port);
        const j = await other.request({ t: 'join', room, since: 1000 });
        assert.equal(j.t, 'joined', JSON.stringify(j));
        await other.next((f) => f.t === 'presence' && f.online === 61, 60_000);
        for (let i = 0; i < 5; i++) {
          const ack = await other.request({ t: 'send', room, id: randomId(), body: 'Zm9v' }, 20_000);
          assert.equal(ack.t, 'ack', JSON.stringify(ack));
        }
        // A whole 26 MB history streams to a reader meanwhile.
        other.send({ t: 'history', rid: 900, room, limit: 1000 });
        let msgs = 0;
        let page: Frame | undefined;
        while (!page) {
          const f = await other.next((x) => (x.t === 'msg' && x.room === room) || x.rid === 900, 60_000);
          if (f.t === 'msg') msgs++;
          else page = f;
        }
        assert.equal(page.t, 'page', JSON.stringify(page));
        assert.equal(msgs, 1000);
        assert.deepEqual([page.from, page.to], [6, 1005]);
        other.destroy();
      })();
      await Promise.race([work, watch.over]);
      const hwm = statusKb(relay.pid, 'VmHWM') * 1024;
      assert.ok(hwm < 400 * MiB, `relay peak RSS ${Math.round(hwm / MiB)} MiB`);
      console.log(`      relay RSS ${Math.round(baseline / MiB)} MiB after filling the room, peak ${Math.round(hwm / MiB)} MiB (polled during the attack: ${Math.round(watch.peak() / MiB)} MiB)`);
    } finally {
      watch.stop();
    }
  });

  it('over --max-output-total, replies wait and the connections stalled longest are closed (output_budget); others are served', async () => {
    relay = await RelayProcess.start({ args: ['--rate', '0', '--max-output', '262144', '--max-output-total', String(MiB)] });
    const room = randomRoom();
    const { client: filler } = await LineClient.open(relay.port);
    const joined = await filler.request({ t: 'join', room });
    assert.equal(joined.t, 'joined');
    await filler.nextOfType('synced');
    // 12 MB: more than the kernel takes for a socket whose peer never reads (about 4 MB).
    await fill(filler, room, 400, 30_000);
    filler.destroy();
    for (let i = 0; i < 16; i++) sockets.push(await neverReader(relay.port, room));
    const evicted = await relay.waitForLog((r) => r.event === 'limit' && r.limit === 'max_output_total', 60_000);
    assert.equal(typeof evicted.queued, 'number');
    await relay.waitForLog((r) => r.event === 'conn_close' && r.reason === 'output_budget', 10_000);
    // A reader still gets the whole room: its reply waits for the budget, never fails.
    const { client: other } = await LineClient.open(relay.port);
    const j = await other.request({ t: 'join', room, since: 0, limit: 1000 }, 60_000);
    assert.equal(j.t, 'joined', JSON.stringify(j));
    let msgs = 0;
    for (;;) {
      const f = await other.next((x) => (x.t === 'msg' && x.room === room) || x.t === 'synced', 60_000);
      if (f.t === 'synced') {
        assert.equal(f.from, 1);
        break;
      }
      assert.equal(f.seq, ++msgs);
    }
    assert.equal(msgs, 400);
    other.destroy();
  });
});
