// Commit latency of a private room (docs/protocol.md §3.6) on the embedded store and on
// PostgreSQL, through real relay processes on 127.0.0.1 (not a registered scenario of
// `npm run bench`: a short measurement for issue 10 on the PostgreSQL store).
//
// Each round a fresh connection (its own proof bucket, §1.9) joins under the current epoch's key
// and sends one commit; measured: commit sent → ack. For comparison, a plain message of the same
// room: send → ack. On two relays of one database, commits alternate between the relays, and
// also measured: commit sent on one relay → `rekey` at a member on the other.
//
//   node scripts/build.mjs && npx tsc -p tsconfig.json --outDir out && node out/bench/privateCommit.js [rounds]
import { randomBytes } from 'node:crypto';
import { makeJoinProof, type RoomAuthKey } from '../src/core/crypto/roomAuth';
import { epochAuthKey, makeReset, makeRotation, privateRoomId } from '../src/core/mls/epochAuth';
import { PostgresServer } from '../test/helpers/postgres';
import { LineClient, RelayProcess, randomId } from '../test/helpers/relayProcess';

const ROUNDS = Number(process.argv[2] ?? 200);
const RELAY_ARGS = ['--rate', '0', '--join-rate-per-ip', '0'];

interface Summary { p50: number; p90: number; p99: number; mean: number }

function summary(ms: number[]): Summary {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const show = (s: Summary): string => `p50 ${s.p50.toFixed(2)} ms, p90 ${s.p90.toFixed(2)}, p99 ${s.p99.toFixed(2)}, mean ${s.mean.toFixed(2)}`;

async function open(relay: RelayProcess): Promise<LineClient> {
  const { client } = await LineClient.open(relay.port);
  return client;
}

async function expectReply(c: LineClient, frame: Record<string, unknown>, t: string): Promise<Record<string, unknown>> {
  const reply = await c.request(frame, 20_000);
  if (reply.t !== t) throw new Error(`expected ${t}, got ${JSON.stringify(reply)}`);
  return reply;
}

/** `relays` serve one private room; ROUNDS commits alternate between them. */
async function measure(relays: RelayProcess[]): Promise<{ commit: Summary; plain: Summary; otherRekey: Summary | undefined }> {
  const owner = epochAuthKey(randomBytes(32));
  const room = privateRoomId(owner.publicKey);
  const keys: RoomAuthKey[] = [epochAuthKey(randomBytes(32))];
  const first = await open(relays[0] as RelayProcess);
  await expectReply(first, { t: 'reset', room, epoch: 0, ...makeReset(owner, first.challenge, room, 0n, keys[0] as RoomAuthKey) }, 'reset_ok');
  first.destroy();
  const join = async (c: LineClient, epoch: number): Promise<void> => {
    await expectReply(c, { t: 'join', room, since: 1e9, ...makeJoinProof(keys[epoch] as RoomAuthKey, c.challenge, room) }, 'joined');
    await c.nextOfType('synced', () => true, 20_000);
  };
  const commit: number[] = [];
  const plain: number[] = [];
  const otherRekey: number[] = [];
  for (let e = 0; e < ROUNDS; e++) {
    const here = relays[e % relays.length] as RelayProcess;
    const there = relays[(e + 1) % relays.length] as RelayProcess;
    const c = await open(here);
    await join(c, e);
    const watcher = relays.length > 1 ? await open(there) : undefined;
    if (watcher !== undefined) await join(watcher, e);
    let t0 = performance.now();
    await expectReply(c, { t: 'send', room, id: randomId(), body: 'AgAA' + randomBytes(100).toString('base64url') }, 'ack');
    plain.push(performance.now() - t0);
    keys.push(epochAuthKey(randomBytes(32)));
    const rot = makeRotation(keys[e] as RoomAuthKey, room, BigInt(e + 1), keys[e + 1] as RoomAuthKey);
    t0 = performance.now();
    const rekeyThere = watcher?.nextOfType('rekey', () => true, 20_000).then(() => performance.now() - t0);
    await expectReply(c, { t: 'send', room, id: randomId(), body: 'AgAB' + randomBytes(300).toString('base64url'), epoch: e + 1, ...rot }, 'ack');
    commit.push(performance.now() - t0);
    if (rekeyThere !== undefined) otherRekey.push(await rekeyThere);
    c.destroy();
    watcher?.destroy();
  }
  return { commit: summary(commit), plain: summary(plain), otherRekey: otherRekey.length > 0 ? summary(otherRekey) : undefined };
}

async function main(): Promise<void> {
  const report = (name: string, r: Awaited<ReturnType<typeof measure>>): void => {
    console.log(`${name}: commit → ack ${show(r.commit)}`);
    console.log(`${' '.repeat(name.length)}  plain message → ack ${show(r.plain)}`);
    if (r.otherRekey !== undefined) console.log(`${' '.repeat(name.length)}  commit → rekey on the other relay ${show(r.otherRekey)}`);
  };
  console.log(`${ROUNDS} commits per configuration, sequential, one at a time`);
  const embedded = await RelayProcess.start({ args: RELAY_ARGS });
  try {
    report('embedded store, 1 relay', await measure([embedded]));
  } finally {
    await embedded.cleanup();
  }
  const pg = await PostgresServer.start();
  try {
    const url = await pg.createDatabase('smc_bench');
    const a = await RelayProcess.start({ args: ['--postgres', url, ...RELAY_ARGS], startTimeoutMs: 30_000 });
    const b = await RelayProcess.start({ args: ['--postgres', url, ...RELAY_ARGS], startTimeoutMs: 30_000 });
    try {
      report('PostgreSQL, 1 relay', await measure([a]));
      report('PostgreSQL, 2 relays', await measure([a, b]));
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  } finally {
    await pg.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
