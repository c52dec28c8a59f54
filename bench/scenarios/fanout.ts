// Scenario 1 (issue 2 §4): fan-out. One publisher and 50 subscribers in one room, 200-char
// bodies, sent as fast as the server takes them. Reports delivered msg/s and server CPU per
// delivery (utime + stime from /proc), the real relay against the bare baseline.
import { fanoutWindow } from '../lib/fanoutLoad';
import { LineConn, randomRoom } from '../lib/lineConn';
import { connectMany } from '../lib/load';
import { cpuSeconds } from '../lib/proc';
import { fmt, result, type RunContext, type Scenario } from '../lib/report';
import { startBaseline, startRelay, type ServerProcess, withServer } from '../lib/servers';
import { sleep } from '../lib/stats';

const SUBSCRIBERS = 50;
const BODY_CHARS = 200;
/** Sends in flight from the publisher. */
const WINDOW = 256;
/** The publisher holds back while subscribers are more than this many messages behind. */
const MAX_LAG = 2_000;

interface FanoutFigures {
  deliveriesPerS: number;
  sentPerS: number;
  cpuUsPerDelivery: number;
  cpuShare: number;
  deliveries: number;
  disconnected: number;
}

async function measure(server: ServerProcess, warmMs: number, runMs: number): Promise<FanoutFigures> {
  const cipher = randomRoom();
  const room = cipher.room;
  const subs = await connectMany(server.port, SUBSCRIBERS, 50);
  await Promise.all(subs.map((s, i) => s.join(cipher, i + 1)));
  const pub = await LineConn.connect(server.port);
  await pub.hello();
  await pub.join(cipher, 1);
  await sleep(300); // let the coalesced presence frames (§1.4) go out before counting
  const w = await fanoutWindow(pub, subs, room, { window: WINDOW, maxLag: MAX_LAG, bodyChars: BODY_CHARS, warmMs, runMs, meters: [() => cpuSeconds(server.pid)] });
  const cpu = w.used[0] ?? NaN;
  return {
    deliveriesPerS: w.deliveries / w.secs,
    sentPerS: w.sent / w.secs,
    cpuUsPerDelivery: (cpu * 1e6) / w.deliveries,
    cpuShare: cpu / w.secs,
    deliveries: w.deliveries,
    disconnected: w.disconnected,
  };
}

export const fanout: Scenario = {
  id: 'fanout',
  title: '1. Fan-out: 1 publisher → 50 subscribers, one room, 200-char bodies, max rate',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    const warm = ctx.quick ? 500 : 2_000;
    const run = ctx.quick ? 2_000 : 8_000;
    ctx.log('fan-out: baseline');
    const base = await withServer(startBaseline, (s) => measure(s, warm, run));
    ctx.log(`baseline: ${JSON.stringify(base)}`);
    ctx.log('fan-out: baseline with corked writes');
    const corked = await withServer(() => startBaseline({ cork: true }), (s) => measure(s, warm, run));
    ctx.log(`corked baseline: ${JSON.stringify(corked)}`);
    ctx.log('fan-out: relay');
    const relay = await withServer(() => startRelay(), (s) => measure(s, warm, run));
    ctx.log(`relay: ${JSON.stringify(relay)}`);
    const ratio = relay.cpuUsPerDelivery / base.cpuUsPerDelivery;
    r.metrics.push(
      { name: 'delivered msg/s (all subscribers)', value: fmt.int(relay.deliveriesPerS), baseline: fmt.int(base.deliveriesPerS), target: '—' },
      { name: 'messages published/s', value: fmt.int(relay.sentPerS), baseline: fmt.int(base.sentPerS), target: '—' },
      { name: 'server CPU per delivery', value: fmt.us(relay.cpuUsPerDelivery), baseline: fmt.us(base.cpuUsPerDelivery), target: '≤ 1.2 × baseline', met: ratio <= 1.2 },
      { name: 'CPU per delivery, relay ÷ baseline', value: fmt.ratio(relay.cpuUsPerDelivery, base.cpuUsPerDelivery), baseline: '1.00×', target: '≤ 1.20×', met: ratio <= 1.2 },
      { name: 'server CPU busy (cores)', value: relay.cpuShare.toFixed(2), baseline: base.cpuShare.toFixed(2), target: '—' },
      { name: 'stricter baseline: bare server with corked writes — CPU per delivery', value: fmt.us(relay.cpuUsPerDelivery), baseline: fmt.us(corked.cpuUsPerDelivery), target: '—' },
      { name: 'stricter baseline: relay ÷ corked bare server', value: fmt.ratio(relay.cpuUsPerDelivery, corked.cpuUsPerDelivery), baseline: '1.00×', target: '—' },
      { name: 'stricter baseline: delivered msg/s', value: fmt.int(relay.deliveriesPerS), baseline: fmt.int(corked.deliveriesPerS), target: '—' },
    );
    r.notes.push(
      `n = ${fmt.int(relay.deliveries)} deliveries (relay), ${fmt.int(base.deliveries)} (baseline), ${fmt.int(corked.deliveries)} (corked baseline), counted over ${run / 1000} s after ${warm / 1000} s of warm-up.`,
      `The publisher keeps ${WINDOW} sends in flight and holds back when subscribers fall more than ${MAX_LAG} messages behind, so neither server piles up output; subscribers count lines without parsing them. Relay run with \`--rate 0\`; it acks and forwards only after its disk sync (§1.5), the baseline at once.`,
      `Subscribers closed by the server during the run: relay ${relay.disconnected}, baseline ${base.disconnected}, corked baseline ${corked.disconnected}.`,
      'Why the relay can be cheaper per delivery than the bare baseline: the relay corks each socket for the rest of a tick, so all the messages of one group commit reach the OS as one writev per subscriber (src/relay/connection.ts), where the baseline, as specified, writes every message to every socket separately. Per-socket write syscalls dominate fan-out cost. The same batching lets the one load-generator process read the relay\'s larger chunks faster, which is why the relay also delivers more per second here: the baseline run is limited by the generator reading small writes, not by the baseline server (see its CPU busy figure). So the last three rows add a stricter baseline, measured in the same run: the bare server with the relay\'s write batching (`baselineServer.js --cork`); the target is stated against the baseline the issue defines.',
      `Against the corked bare server the relay spends ${fmt.ratio(relay.cpuUsPerDelivery, corked.cpuUsPerDelivery)} the CPU per delivery: with the write path the same, the difference is the relay's per-message work (frame validation, record encoding and checksum, the log write and its sync, the id index), shared by the 50 deliveries of each message.`,
    );
    if (ratio > 1.2) {
      r.limits.push(`The relay spends ${fmt.ratio(relay.cpuUsPerDelivery, base.cpuUsPerDelivery)} the baseline's CPU per delivery. The baseline only parses and re-serialises each frame; the relay also validates every frame (§1.2), appends and syncs it to its log, and keeps per-connection output accounting (§1.7). Per delivery, the fixed per-message work is divided by 50, so what remains is mostly the per-socket write path.`);
    }
    return r;
  },
};
