// Load-generator building blocks shared by the relay scenarios.
import { LineConn } from './lineConn';
import { sleep } from './stats';

/** Opens `n` connections that have each completed hello, `batch` at a time. */
export async function connectMany(port: number, n: number, batch = 100): Promise<LineConn[]> {
  const conns: LineConn[] = [];
  for (let i = 0; i < n; i += batch) {
    const group = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async () => {
        const c = await LineConn.connect(port);
        await c.hello();
        return c;
      }),
    );
    conns.push(...group);
  }
  return conns;
}

/**
 * Calls `send(k)` for k = 0, 1, 2… at `perSecond` for `durationMs`, open loop: the schedule
 * does not wait for replies, so a slow reply cannot hide behind a delayed send (coordinated
 * omission). Timers tick about every millisecond and send whatever has fallen due.
 */
export async function paced(perSecond: number, durationMs: number, send: (k: number) => void): Promise<number> {
  const start = performance.now();
  let sent = 0;
  const total = Math.floor((perSecond * durationMs) / 1000);
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * perSecond) / 1000) + 1);
    while (sent < due) send(sent++);
    await sleep(1);
  }
  return sent;
}

export function closeAll(conns: LineConn[]): void {
  for (const c of conns) c.close();
}
