// Scenario 3 (issue 2 §4): 100 rooms × 5 members, 2 000 msg/s in total, spread evenly over the
// rooms and their members. Every delivery's latency, from the sender writing `send` to each of
// the 4 other members reading the `msg`, measured in the one load-generator process.
import { NumberedIds, randomBody, randomRoom, type LineConn } from '../lib/lineConn';
import { closeAll, connectMany, paced } from '../lib/load';
import { cpuSeconds } from '../lib/proc';
import { fmt, result, type RunContext, type Scenario } from '../lib/report';
import { startBaseline, startRelay, type ServerProcess, withServer } from '../lib/servers';
import { LatencyRecorder, nowNs, sleep, type LatencySummary } from '../lib/stats';

const ROOMS = 100;
const MEMBERS = 5;
const RATE = 2_000;
const BODY_CHARS = 200;

interface RoomsFigures {
  latency: LatencySummary;
  expected: number;
  cpuShare: number;
  cpuUsPerMessage: number;
}

async function measure(server: ServerProcess, warmMs: number, runMs: number): Promise<RoomsFigures> {
  const rooms = Array.from({ length: ROOMS }, () => randomRoom());
  const conns = await connectMany(server.port, ROOMS * MEMBERS, 100);
  const members: LineConn[][] = rooms.map((_, r) => conns.slice(r * MEMBERS, (r + 1) * MEMBERS));
  for (let r = 0; r < ROOMS; r++) {
    const room = rooms[r] ?? randomRoom();
    await Promise.all((members[r] ?? []).map((c, i) => c.join(room, i + 1)));
  }
  await sleep(300); // presence frames of the joins (§1.4) go out before measuring

  const ids = new NumberedIds();
  const body = randomBody(BODY_CHARS);
  const sentAt: number[] = [];
  const expected = Math.floor((RATE * runMs) / 1000) * (MEMBERS - 1);
  const recorder = new LatencyRecorder(expected + 16);
  let measuring = false;
  for (const c of conns) {
    c.onLine((line) => {
      if (!line.startsWith('{"t":"msg"') && !line.includes('"t":"msg"')) return;
      const at = sentAt[NumberedIds.numberIn(line)];
      if (measuring && at !== undefined) recorder.record(nowNs() - at);
    });
  }
  let base = 0;
  const send = (k: number): void => {
    const n = base + k;
    const r = n % ROOMS;
    const sender = members[r]?.[Math.floor(n / ROOMS) % MEMBERS];
    sentAt[n] = nowNs();
    sender?.write(`{"t":"send","rid":${n + 10},"room":"${rooms[r]?.room ?? ''}","id":"${ids.id(n)}","body":"${body}"}`);
  };
  base += await paced(RATE, warmMs, send);
  await sleep(200);
  measuring = true;
  const c0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  const sent = await paced(RATE, runMs, send);
  const c1 = cpuSeconds(server.pid);
  const secs = (performance.now() - t0) / 1000;
  base += sent;
  // Wait for the last deliveries (bounded: a lost one must not hang the run).
  for (let i = 0; i < 200 && recorder.n < expected; i++) await sleep(10);
  const latency = recorder.summary();
  closeAll(conns);
  return { latency, expected, cpuShare: (c1 - c0) / secs, cpuUsPerMessage: ((c1 - c0) * 1e6) / sent };
}

export const manyRooms: Scenario = {
  id: 'many-rooms',
  title: '3. 100 rooms × 5 members at 2 000 msg/s in total',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    const warm = ctx.quick ? 500 : 2_000;
    const run = ctx.quick ? 2_000 : 8_000;
    ctx.log('100 rooms: baseline');
    const base = await withServer(startBaseline, (s) => measure(s, warm, run));
    ctx.log(`baseline: ${JSON.stringify(base)}`);
    ctx.log('100 rooms: relay');
    const relay = await withServer(() => startRelay(), (s) => measure(s, warm, run));
    ctx.log(`relay: ${JSON.stringify(relay)}`);
    r.metrics.push(
      { name: 'delivery latency p50', value: fmt.ms(relay.latency.p50Ms), baseline: fmt.ms(base.latency.p50Ms), target: '—' },
      { name: 'delivery latency p99', value: fmt.ms(relay.latency.p99Ms), baseline: fmt.ms(base.latency.p99Ms), target: '≤ 5 ms', met: relay.latency.p99Ms <= 5 },
      { name: 'delivery latency max', value: fmt.ms(relay.latency.maxMs), baseline: fmt.ms(base.latency.maxMs), target: '—' },
      { name: 'deliveries received / expected', value: `${fmt.int(relay.latency.n)} / ${fmt.int(relay.expected)}`, baseline: `${fmt.int(base.latency.n)} / ${fmt.int(base.expected)}`, target: 'all' , met: relay.latency.n === relay.expected },
      { name: 'server CPU busy (cores)', value: relay.cpuShare.toFixed(2), baseline: base.cpuShare.toFixed(2), target: '—' },
      { name: 'server CPU per message (4 deliveries)', value: fmt.us(relay.cpuUsPerMessage), baseline: fmt.us(base.cpuUsPerMessage), target: '—' },
    );
    r.notes.push(
      `${ROOMS * MEMBERS} connections, each in one room. Message k goes to room k mod 100 from member ⌊k/100⌋ mod 5, paced open loop at ${RATE} msg/s for ${run / 1000} s after ${warm / 1000} s of warm-up; n = ${fmt.int(relay.latency.n)} deliveries measured (relay).`,
      'Latency runs from the sender\'s `send` write to each receiver reading the `msg` line, both in the load generator, so it includes the relay\'s disk sync before forwarding (§1.5) and the generator\'s own event-loop delay.',
    );
    if (!(relay.latency.p99Ms <= 5)) {
      r.limits.push('The relay forwards a message only after the group commit that holds it is synced (§1.5), so each delivery carries one disk sync (see scenario 2\'s disk floor) plus waiting for the sync already in progress when it arrived.');
    }
    return r;
  },
};
