// The relay's store on its own (src/relay/store/fileStore.ts, in this process): appends with a
// fixed number in flight, to tell how much of the durable-ack rate the store allows before the
// wire, the relay's event loop and the client round trip come in.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileStore } from '../../src/relay/store/fileStore';
import { randomBody, randomId } from './lineConn';

export interface StoreProbe {
  appendsPerS: number;
  perSync: number;
  msPerSync: number;
}

export async function probeStore(inFlight: number, durationMs: number, bodyChars: number): Promise<StoreProbe> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smc-bench-store-'));
  const store = new FileStore({ dir, retain: 10_000 });
  try {
    await store.open();
    const room = randomId();
    const body = randomBody(bodyChars);
    const syncs0 = store.stats().syncs;
    let done = 0;
    const t0 = performance.now();
    const end = t0 + durationMs;
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        await store.append(room, randomId(), body);
        done++;
      }
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    const ms = performance.now() - t0;
    const syncs = store.stats().syncs - syncs0;
    return { appendsPerS: (done * 1000) / ms, perSync: done / syncs, msPerSync: ms / syncs };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
