// An 8 MiB file (docs/protocol.md §2.3.5) from one RelayClient to another through a real relay
// process on loopback, at the relay's default limits (--rate 100, --burst 200: the client's
// pacing, not the benchmark, decides the speed): MB/s from sendFile to the receiver's verified
// bytes, the sender's rate_limited count, and the receiver's heap and RSS growth. Standalone:
//   node scripts/build.mjs && npx tsc -p tsconfig.json --outDir out && node out/bench/fileTransfer.js [RUNS]
import { randomBytes } from 'node:crypto';
import { generateIdentity, generateRoomKey } from '../src/core/crypto/index';
import { RelayClient, type FileEvent } from '../src/core/client/index';
import { createTcpTransport } from '../src/node/tcpTransport';
import { RelayProcess } from '../test/helpers/relayProcess';

const MIB = 1024 * 1024;

async function once(relay: RelayProcess): Promise<{ mbps: number; ms: number; rateLimited: number; heapMiB: number; rssMiB: number }> {
  const key = generateRoomKey();
  const errors: string[] = [];
  const make = (name: string): RelayClient => new RelayClient({
    host: '127.0.0.1', port: relay.port, agent: 'smc-bench/0', identity: generateIdentity(), displayName: name, transport: createTcpTransport,
    log: (event, fields) => {
      if (event === 'relay_error') errors.push(String(fields?.code));
    },
  });
  const alice = make('alice');
  const bob = make('bob');
  const synced = (c: RelayClient): Promise<void> => new Promise((resolve) => c.once('synced', () => resolve()));
  for (const c of [alice, bob]) {
    c.connect();
    const s = synced(c);
    c.join({ key, name: 'bench' });
    await s;
  }
  const room = alice.joinedRooms[0]!.room;
  const bytes = randomBytes(8 * MIB);
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  let peakHeap = heap0;
  let peakRss = rss0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  }, 20);
  const got = new Promise<Uint8Array>((resolve, reject) => bob.on('file', (e: FileEvent) => {
    if (e.state === 'complete') resolve(e.bytes);
    if (e.state === 'failed') reject(new Error(e.error));
  }));
  const t0 = performance.now();
  const out = alice.sendFile(room, { name: 'bench.bin', bytes });
  const received = await got;
  const ms = performance.now() - t0;
  await out.done;
  clearInterval(sampler);
  if (!Buffer.from(received).equals(bytes)) throw new Error('the bytes differ');
  await alice.disconnect();
  await bob.disconnect();
  return {
    mbps: bytes.length / MIB / (ms / 1000), ms, rateLimited: errors.filter((c) => c === 'rate_limited').length,
    heapMiB: (peakHeap - heap0) / MIB, rssMiB: (peakRss - rss0) / MIB,
  };
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 3);
  const relay = await RelayProcess.start();
  try {
    for (let i = 0; i < runs; i++) {
      const r = await once(relay);
      process.stdout.write(`run ${i + 1}: 8 MiB in ${r.ms.toFixed(0)} ms = ${r.mbps.toFixed(2)} MiB/s; rate_limited ${r.rateLimited}; ` +
        `peak growth (both clients, one process): heap ${r.heapMiB.toFixed(1)} MiB, rss ${r.rssMiB.toFixed(1)} MiB\n`);
    }
  } finally {
    await relay.cleanup();
  }
}

void main();
