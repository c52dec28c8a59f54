// The fan-out load of the `fanout` and `relay-cluster` scenarios: one publisher sends to a room
// as fast as its subscribers read, with flow control so that no server piles up output the load
// generator cannot take; deliveries and sends are counted over a measured window after a
// warm-up. Where the connections go (one server or several relays) is the caller's.
import { type LineConn, NumberedIds, randomBody } from './lineConn';
import { closeAll } from './load';
import { sleep } from './stats';

export interface FanoutLoad {
  /** Sends in flight from the publisher. */
  window: number;
  /** The publisher holds back while subscribers are more than this many messages behind. */
  maxLag: number;
  bodyChars: number;
  warmMs: number;
  runMs: number;
  /** Counters read at the start and the end of the measured window (e.g. CPU seconds of a process). */
  meters?: Array<() => number>;
}

export interface FanoutWindow {
  /** Lines the subscribers received in the window, all together. */
  deliveries: number;
  /** Messages the publisher sent in the window. */
  sent: number;
  secs: number;
  /** Subscribers the server closed during the run. */
  disconnected: number;
  /** How much each of `meters` moved over the window, in their order. */
  used: number[];
}

/**
 * Runs the load on `pub` and `subs`, all joined to `room` (presence settled), then closes them.
 * Subscribers count lines without parsing them (LineConn.startCounting).
 */
export async function fanoutWindow(pub: LineConn, subs: LineConn[], room: string, load: FanoutLoad): Promise<FanoutWindow> {
  const meters = load.meters ?? [];
  let disconnected = 0;
  for (const s of subs) {
    s.startCounting();
    s.socket.once('close', () => disconnected++);
  }
  const ids = new NumberedIds();
  const body = randomBody(load.bodyChars);
  let sent = 0;
  let acked = 0;
  let running = true;
  const delivered = (): number => subs.reduce((a, s) => a + s.counted, 0);
  const pump = (): void => {
    if (!running) return;
    // Flow control: the load generator must not let the server pile up output it cannot read.
    const lag = sent - delivered() / subs.length;
    while (running && sent - acked < load.window && lag + (sent - acked) < load.maxLag) {
      pub.write(`{"t":"send","rid":${sent + 10},"room":"${room}","id":"${ids.id(sent)}","body":"${body}"}`);
      sent++;
    }
  };
  pub.onLine((line) => {
    if (line.includes('"t":"ack"')) {
      acked++;
      pump();
    }
  });
  const ticker = setInterval(pump, 1);
  pump();

  await sleep(load.warmMs);
  const d0 = delivered();
  const s0 = sent;
  const m0 = meters.map((m) => m());
  const t0 = performance.now();
  await sleep(load.runMs);
  const d1 = delivered();
  const s1 = sent;
  const m1 = meters.map((m) => m());
  const t1 = performance.now();
  running = false;
  clearInterval(ticker);
  closeAll([pub, ...subs]);
  return { deliveries: d1 - d0, sent: s1 - s0, secs: (t1 - t0) / 1000, disconnected, used: m1.map((v, i) => v - (m0[i] ?? 0)) };
}
