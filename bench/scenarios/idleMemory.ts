// Scenario 4 (issue 2 §4): memory per idle connection. 1 000 connections are opened; the
// server's resident memory (VmRSS from /proc) is read before, after every connection has
// completed hello, and again after each has also joined one room (100 rooms of 10). The
// per-connection figure is the RSS delta ÷ 1 000, at each step.
import { randomRoom } from '../lib/lineConn';
import { closeAll, connectMany } from '../lib/load';
import { rssBytes } from '../lib/proc';
import { fmt, result, type RunContext, type Scenario } from '../lib/report';
import { startBaseline, startRelay, type ServerProcess, withServer } from '../lib/servers';
import { sleep } from '../lib/stats';

const CONNECTIONS = 1_000;
const ROOMS = 100;
const TARGET = 20 * 1024;

interface MemoryFigures {
  rss0: number;
  perConnHello: number;
  perConnJoined: number;
}

async function measure(server: ServerProcess, settleMs: number): Promise<MemoryFigures> {
  await sleep(settleMs);
  const rss0 = rssBytes(server.pid);
  const conns = await connectMany(server.port, CONNECTIONS, 100);
  await sleep(settleMs);
  const rssHello = rssBytes(server.pid);
  const rooms = Array.from({ length: ROOMS }, () => randomRoom());
  for (let i = 0; i < CONNECTIONS; i += 100) {
    await Promise.all(conns.slice(i, i + 100).map((c, j) => c.join(rooms[(i + j) % ROOMS] ?? randomRoom(), 1)));
  }
  await sleep(settleMs);
  const rssJoined = rssBytes(server.pid);
  closeAll(conns);
  return { rss0, perConnHello: (rssHello - rss0) / CONNECTIONS, perConnJoined: (rssJoined - rss0) / CONNECTIONS };
}

export const idleMemory: Scenario = {
  id: 'idle-memory',
  title: '4. Memory per idle connection, 1 000 connections',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    const settle = ctx.quick ? 500 : 2_000;
    ctx.log('idle memory: baseline');
    const base = await withServer(startBaseline, (s) => measure(s, settle));
    ctx.log(`baseline: ${JSON.stringify(base)}`);
    ctx.log('idle memory: relay');
    // The default per-address limit is exactly 1 000 (§1.7); raise it so the test is not at the edge.
    const relay = await withServer(() => startRelay({ extraArgs: ['--max-conns-per-ip', '2000'] }), (s) => measure(s, settle));
    ctx.log(`relay: ${JSON.stringify(relay)}`);
    r.metrics.push(
      { name: 'RSS per connection after hello', value: fmt.kib(relay.perConnHello), baseline: fmt.kib(base.perConnHello), target: '≤ 20 KiB', met: relay.perConnHello <= TARGET },
      { name: 'RSS per connection after hello + join (10 per room)', value: fmt.kib(relay.perConnJoined), baseline: fmt.kib(base.perConnJoined), target: '≤ 20 KiB', met: relay.perConnJoined <= TARGET },
      { name: 'RSS with no connection', value: fmt.mib(relay.rss0), baseline: fmt.mib(base.rss0), target: '—' },
    );
    r.notes.push(
      `${CONNECTIONS} loopback connections from the load generator; RSS read ${settle / 1000} s after each step. The join step puts the connections in ${ROOMS} rooms of ${CONNECTIONS / ROOMS} (each join also sends presence to the room's members, §1.4). The target applies to the hello-only figure; the joined figure is given as well.`,
      'RSS includes garbage the server\'s V8 heap has not collected yet, so these figures are an upper bound on what a connection really holds.',
    );
    if (relay.perConnHello > TARGET || relay.perConnJoined > TARGET) {
      r.limits.push('Each connection holds a net.Socket (libuv handle, stream state) — the baseline column is that cost alone — plus the relay\'s per-connection state: line decoder, rate limiter, joined rooms with their presence entry and tag, output accounting. Kernel socket buffers are not in RSS.');
    }
    return r;
  },
};
