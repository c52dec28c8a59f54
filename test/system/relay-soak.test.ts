// Soak (issue 2 §3): a bounded run of many clients joining, sending, paging history, leaving
// and disconnecting abruptly (also with sends in flight) against the real relay process. After
// the load, the relay's open file descriptors return to their starting count (tolerance: 2, for
// the store's segment files that may roll over) and its resident memory to near its starting
// level (tolerance: 24 MiB or 40 % above the level after warm-up, whichever is larger, since
// V8 and the allocator keep some freed memory). Meanwhile, observers check that every room's
// messages arrive in seq order without gaps.
//
// --retain 100 keeps the store's index at its steady size from the warm-up on, so that what is
// measured is the relay's own memory, not legitimate index growth up to --retain.
// Duration: SMC_SOAK_SECONDS (default 60; the whole run, warm-up included).
import { strict as assert } from 'node:assert';
import { randomInt } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { LineClient, RelayProcess, randomId, randomRoom, type Frame } from '../helpers/relayProcess';

const SECONDS = Number(process.env.SMC_SOAK_SECONDS ?? '60');
const WORKERS = 40;
const ROOMS = Array.from({ length: 12 }, () => randomRoom());

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until `ok` holds or `ms` passed; returns the last value. */
async function settle<T>(probe: () => T, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  let v = probe();
  while (!ok(v) && Date.now() < end) {
    await sleep(200);
    v = probe();
  }
  return v;
}

describe('relay soak', function () {
  this.timeout((SECONDS + 60) * 1000);
  let relay: RelayProcess;
  const observers: LineClient[] = [];
  const stats = { sessions: 0, abrupt: 0, midSend: 0, sent: 0, acked: 0, delivered: 0, history: 0 };

  before(async () => {
    // 40 clients from one address, reconnecting all the time: as many people behind one proxy,
    // so the per-address join proof limit (§1.9) is lifted; each connection keeps its own.
    relay = await RelayProcess.start({ args: ['--retain', '100', '--rate', '500', '--burst', '500', '--join-rate-per-ip', '0'] });
  });

  after(async () => {
    for (const o of observers) o.destroy();
    await relay?.cleanup();
  });

  /** One client's life: connect, join some rooms, send, maybe page, then leave or vanish. */
  async function session(): Promise<void> {
    const { client } = await LineClient.open(relay.port);
    stats.sessions++;
    try {
      const rooms = [...new Set(Array.from({ length: randomInt(1, 4) }, () => ROOMS[randomInt(ROOMS.length)] as string))];
      for (const room of rooms) {
        client.send({ t: 'join', room, since: randomInt(0, 50), limit: randomInt(0, 300), tag: 'dGFn'.repeat(randomInt(1, 20)) + 'AA' });
      }
      for (const room of rooms) await client.nextOfType('synced', (f) => f.room === room, 20_000);
      const n = randomInt(1, 12);
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const room = rooms[randomInt(rooms.length)] as string;
        const id = randomId();
        ids.push(id);
        client.send({ t: 'send', room, id, body: 'Qm9keQ'.repeat(randomInt(1, 300)), ...(randomInt(10) === 0 ? { eph: true } : {}) });
        stats.sent++;
      }
      const ending = randomInt(4);
      if (ending === 0) {
        // Vanish with sends in flight.
        stats.midSend++;
        client.destroy();
        return;
      }
      for (const id of ids) await client.nextOfType('ack', (f) => f.id === id, 20_000);
      stats.acked += ids.length;
      if (randomInt(3) === 0) {
        await client.request({ t: 'history', room: rooms[0], before: randomInt(1, 3000), limit: randomInt(1, 200) }, 20_000);
        stats.history++;
      }
      if (ending === 1) {
        stats.abrupt++;
        client.destroy();
        return;
      }
      for (const room of rooms) await client.request({ t: 'leave', room }, 20_000);
      await client.close();
    } catch (err) {
      client.destroy();
      throw err;
    }
  }

  async function worker(until: number): Promise<void> {
    while (Date.now() < until) await session();
  }

  /** Observers stay in every room and check per-room seq order without gaps. */
  async function observe(): Promise<() => void> {
    const last = new Map<string, number>();
    const { client } = await LineClient.open(relay.port);
    observers.push(client);
    for (const room of ROOMS) {
      const j = await client.request({ t: 'join', room, since: 1e9 });
      last.set(room, j.head as number);
      await client.nextOfType('synced', (f) => f.room === room);
    }
    const violations: string[] = [];
    client.socket.on('data', () => {
      for (const f of client.drain() as Frame[]) {
        if (f.t !== 'msg' || f.eph) continue;
        const prev = last.get(f.room as string) as number;
        if (f.seq !== prev + 1) violations.push(`${f.room}: ${prev} -> ${f.seq}`);
        last.set(f.room as string, f.seq as number);
        stats.delivered++;
      }
    });
    return () => assert.deepEqual(violations, []);
  }

  it(`${WORKERS} clients for ${SECONDS} s: fds and memory return to their starting level`, async () => {
    const started = Date.now();
    const checkOrder = await observe();
    const warmEnd = started + Math.min(8_000, SECONDS * 150);
    await Promise.all(Array.from({ length: WORKERS }, () => worker(warmEnd)));
    await settle(() => openFds(relay.pid), (n) => n <= 30, 5_000);
    const fdStart = openFds(relay.pid);
    const rssStart = rssBytes(relay.pid);

    let rssPeak = rssStart;
    let fdPeak = fdStart;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, rssBytes(relay.pid));
      fdPeak = Math.max(fdPeak, openFds(relay.pid));
    }, 250);
    const until = started + SECONDS * 1000;
    try {
      await Promise.all(Array.from({ length: WORKERS }, () => worker(until)));
    } finally {
      clearInterval(sampler);
    }

    const fdEnd = await settle(() => openFds(relay.pid), (n) => n <= fdStart + 2, 10_000);
    const rssLimit = rssStart + Math.max(24 * 1024 * 1024, rssStart * 0.4);
    const rssEnd = await settle(() => rssBytes(relay.pid), (n) => n <= rssLimit, 10_000);
    const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
    console.log(`      soak: ${JSON.stringify(stats)}; fds ${fdStart} -> peak ${fdPeak} -> ${fdEnd}; `
      + `RSS ${mib(rssStart)} -> peak ${mib(rssPeak)} -> ${mib(rssEnd)} MiB`);

    assert.ok(relay.running, 'the relay is still running');
    checkOrder();
    assert.ok(stats.sessions > WORKERS * 5, `sessions: ${stats.sessions}`);
    assert.ok(fdPeak > fdStart, 'the load did open connections');
    assert.ok(fdEnd <= fdStart + 2, `fds: ${fdStart} at start, ${fdEnd} at the end`);
    assert.ok(rssEnd <= rssLimit, `RSS ${mib(rssEnd)} MiB at the end, limit ${mib(rssLimit)} MiB`);
    assert.ok(!relay.logs.some((l) => l.level === 'error'), JSON.stringify(relay.logs.filter((l) => l.level === 'error').slice(0, 3)));
    const { client } = await LineClient.open(relay.port);
    assert.equal((await client.request({ t: 'ping' })).t, 'pong');
    client.destroy();
  });
});
