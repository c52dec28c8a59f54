// An 8 MiB file (docs/protocol.md §2.3.5) in a private room (§3.3: MLS, one seal per chunk,
// paced below the relay's rate like a link room's chunks) and, as the baseline in the same run,
// in a link room (RelayClient), both through one real relay process on loopback at its default
// limits (--rate 100, --burst 200). MB/s from sendFile to the receiver's verified bytes, and the
// sender's rate_limited count. Standalone:
//   node scripts/build.mjs && npx tsc -p tsconfig.json --outDir out && node out/bench/privateFile.js [RUNS]
import { randomBytes } from 'node:crypto';
import { generateIdentity, generateRoomKey } from '../src/core/crypto/index';
import { RelayClient, type FileEvent } from '../src/core/client/index';
import { createKeyPackage, MlsGroup } from '../src/core/mls/index';
import { HistoryStore, MemoryHistoryLog, PrivateRoom, freshMeta, newPrivateRoom } from '../src/core/private/index';
import { LocalFeatureRoom } from '../src/core/private/featureRoom';
import { createTcpTransport } from '../src/node/tcpTransport';
import { RelayProcess } from '../test/helpers/relayProcess';
import { fmt, result, type RunContext, type Scenario } from './lib/report';

const MIB = 1024 * 1024;

interface Result {
  ms: number;
  mbps: number;
  rateLimited: number;
}

function fileDone(): { on: (e: FileEvent) => void; got: Promise<Uint8Array> } {
  let on!: (e: FileEvent) => void;
  const got = new Promise<Uint8Array>((resolve, reject) => {
    on = (e) => {
      if (e.state === 'complete') resolve(e.bytes);
      if (e.state === 'failed') reject(new Error(e.error));
    };
  });
  return { on, got };
}

async function linkRoom(relay: RelayProcess, bytes: Buffer): Promise<Result> {
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
  for (const c of [alice, bob]) {
    c.connect();
    const synced = new Promise<void>((resolve) => c.once('synced', () => resolve()));
    c.join({ key, name: 'bench' });
    await synced;
  }
  const done = fileDone();
  bob.on('file', done.on);
  const t0 = performance.now();
  const out = alice.sendFile(alice.joinedRooms[0]!.room, { name: 'bench.bin', bytes });
  const received = await done.got;
  const ms = performance.now() - t0;
  await out.done;
  if (!Buffer.from(received).equals(bytes)) throw new Error('link room: the bytes differ');
  await alice.disconnect();
  await bob.disconnect();
  return { ms, mbps: bytes.length / MIB / (ms / 1000), rateLimited: errors.filter((c) => c === 'rate_limited').length };
}

async function privateRoom(relay: RelayProcess, bytes: Buffer): Promise<Result> {
  const errors: string[] = [];
  const open = (id: ReturnType<typeof generateIdentity>, roomId: string, name: string, group: MlsGroup, meta: ReturnType<typeof freshMeta>): PrivateRoom => new PrivateRoom({
    room: roomId, name: 'bench', host: '127.0.0.1', port: relay.port, agent: 'smc-bench/0', transport: createTcpTransport, identity: id, displayName: name,
    group, meta, history: new HistoryStore(roomId, randomBytes(32), new MemoryHistoryLog()), save: () => Promise.resolve(),
    log: (event, fields) => {
      if (event === 'relay_error' && name === 'alice') errors.push(String(fields?.code));
    },
  });
  const aliceId = generateIdentity();
  const created = await newPrivateRoom(aliceId);
  const alice = open(aliceId, created.room, 'alice', created.group, created.meta);
  const aliceSynced = new Promise<void>((resolve) => alice.once('synced', () => resolve()));
  alice.connect();
  await aliceSynced;
  const bobId = generateIdentity();
  const kp = await createKeyPackage(bobId);
  const committed = new Promise<{ seq: number; welcome: Uint8Array | undefined }>((resolve) => alice.once('committed', (e) => resolve(e)));
  alice.add(kp.publicBytes);
  const { seq, welcome } = await committed;
  const meta = freshMeta(Date.now());
  meta.applied = seq;
  const bob = open(bobId, created.room, 'bob', await MlsGroup.join(bobId, kp, welcome!), meta);
  const bobSynced = new Promise<void>((resolve) => bob.once('synced', () => resolve()));
  bob.connect();
  await bobSynced;
  await alice.drain();
  const done = fileDone();
  const aliceFeatures = new LocalFeatureRoom(created.room, alice.fingerprint, alice, { message: () => undefined, effects: () => undefined, file: () => undefined });
  const bobFeatures = new LocalFeatureRoom(created.room, bob.fingerprint, bob, { message: () => undefined, effects: () => undefined, file: done.on });
  alice.on('outgoing', (o) => aliceFeatures.outgoing(o));
  alice.on('renamed', (r) => aliceFeatures.renamed(r.from, r.to));
  bob.on('message', (m) => bobFeatures.receive(m));
  const t0 = performance.now();
  const out = aliceFeatures.sendFile({ name: 'bench.bin', bytes });
  const received = await done.got;
  const ms = performance.now() - t0;
  await out.done;
  if (!Buffer.from(received).equals(bytes)) throw new Error('private room: the bytes differ');
  await alice.disconnect();
  await bob.disconnect();
  return { ms, mbps: bytes.length / MIB / (ms / 1000), rateLimited: errors.filter((c) => c === 'rate_limited').length };
}

/** `runs` rounds, each an 8 MiB file in a link room (the baseline) then in a private room, one relay. */
async function measure(runs: number, log: (line: string) => void): Promise<{ link: Result[]; priv: Result[] }> {
  const relay = await RelayProcess.start();
  const line = (what: string, r: Result): string => `${what}: 8 MiB in ${r.ms.toFixed(0)} ms = ${r.mbps.toFixed(2)} MiB/s; rate_limited ${r.rateLimited}`;
  const out = { link: [] as Result[], priv: [] as Result[] };
  try {
    for (let i = 0; i < runs; i++) {
      const bytes = randomBytes(8 * MIB);
      const link = await linkRoom(relay, bytes);
      const priv = await privateRoom(relay, bytes);
      out.link.push(link);
      out.priv.push(priv);
      log(`run ${i + 1}: ${line('private room', priv)} | ${line('link room (baseline)', link)} | private/link ${(priv.mbps / link.mbps).toFixed(2)}`);
    }
  } finally {
    await relay.cleanup();
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export const privateFile: Scenario = {
  id: 'private-file',
  title: 'Issue 12. An 8 MiB file in a private room, paced below the relay\'s rate',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    const runs = ctx.quick ? 1 : 3;
    const { link, priv } = await measure(runs, (l) => ctx.log(`private-file: ${l}`));
    const mbps = (xs: Result[]): string => `${median(xs.map((x) => x.mbps)).toFixed(2)} MiB/s`;
    const limited = (xs: Result[]): string => fmt.int(xs.reduce((n, x) => n + x.rateLimited, 0));
    r.metrics.push(
      { name: `8 MiB file, sendFile to the receiver's verified bytes (median of ${runs})`, value: mbps(priv), baseline: `${mbps(link)} (a link room's RelayClient, same relay)`, target: '—' },
      { name: `sends the relay refused with rate_limited (all ${runs} runs)`, value: limited(priv), baseline: limited(link), target: '0', met: priv.every((x) => x.rateLimited === 0) },
    );
    r.notes.push('One relay process at its default limits (--rate 100, --burst 200) on 127.0.0.1; two PrivateRooms with LocalFeatureRoom (one MLS seal per chunk, the history in memory) against two RelayClients in a link room, the link room first in each run. Both are paced at 80 chunks/s after a burst of 100 (280 chunks), which is what bounds them.');
    return r;
  },
};

// Run alone: prints each run.
if (require.main === module) {
  measure(Number(process.argv[2] ?? 3), (l) => process.stdout.write(`${l}\n`)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
