// Scenario "private-commit" (issue 10 on the PostgreSQL store): commit latency of a private
// room (docs/protocol.md §3.6) on the embedded store and on PostgreSQL, through real relay
// processes on 127.0.0.1. Part of `npm run bench` (`--only private-commit`), or alone (below).
//
// Each round a fresh connection (its own proof bucket, §1.9) joins under the current epoch's key
// and sends one commit; measured: commit sent → ack. For comparison, a plain message of the same
// room: send → ack. On two relays of one database, commits alternate between the relays, and
// also measured: commit sent on one relay → `rekey` at a member on the other.
//
//   node scripts/build.mjs && npx tsc -p tsconfig.json --outDir out && node out/bench/privateCommit.js [rounds]
// (200 rounds by default; the scenario runs 200, or 20 with --quick).
import { randomBytes } from 'node:crypto';
import { makeJoinProof, type RoomAuthKey } from '../src/core/crypto/roomAuth';
import { epochAuthKey, makeReset, makeRotation, privateRoomId } from '../src/core/mls/epochAuth';
import { PostgresServer } from '../test/helpers/postgres';
import { LineClient, RelayProcess, randomId } from '../test/helpers/relayProcess';
import { fmt, result, type RunContext, type Scenario } from './lib/report';

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

type Figures = Awaited<ReturnType<typeof measure>>;

/** `relays` serve one private room; `rounds` commits alternate between them. */
async function measure(relays: RelayProcess[], rounds: number): Promise<{ commit: Summary; plain: Summary; otherRekey: Summary | undefined }> {
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
  for (let e = 0; e < rounds; e++) {
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

/** The three configurations, in turn: embedded store, one relay on PostgreSQL, two relays on one PostgreSQL. */
async function measureAll(rounds: number, log: (m: string) => void): Promise<Array<[string, Figures]>> {
  const out: Array<[string, Figures]> = [];
  log('embedded store, 1 relay');
  const embedded = await RelayProcess.start({ args: RELAY_ARGS });
  try {
    out.push(['embedded store, 1 relay', await measure([embedded], rounds)]);
  } finally {
    await embedded.cleanup();
  }
  log('starting PostgreSQL (fsync on)');
  const pg = await PostgresServer.start();
  try {
    const url = await pg.createDatabase('smc_bench');
    const a = await RelayProcess.start({ args: ['--postgres', url, ...RELAY_ARGS], startTimeoutMs: 30_000 });
    const b = await RelayProcess.start({ args: ['--postgres', url, ...RELAY_ARGS], startTimeoutMs: 30_000 });
    try {
      log('PostgreSQL, 1 relay');
      out.push(['PostgreSQL, 1 relay', await measure([a], rounds)]);
      log('PostgreSQL, 2 relays');
      out.push(['PostgreSQL, 2 relays', await measure([a, b], rounds)]);
    } finally {
      await Promise.all([a.cleanup(), b.cleanup()]);
    }
  } finally {
    await pg.destroy();
  }
  return out;
}

const p50p99 = (s: Summary): string => `${fmt.ms(s.p50)} / ${fmt.ms(s.p99)}`;

export const privateCommit: Scenario = {
  id: 'private-commit',
  title: 'Issue 10. Private-room commit latency (§3.6): embedded store, PostgreSQL, two relays on one PostgreSQL',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    const rounds = ctx.quick ? 20 : 200;
    const all = await measureAll(rounds, (m) => ctx.log(`private-commit: ${m}`));
    for (const [name, f] of all) {
      r.metrics.push({ name: `${name}: commit → ack, p50 / p99`, value: p50p99(f.commit), baseline: `${p50p99(f.plain)} (a plain message of the room → ack)`, target: '—' });
      if (f.otherRekey !== undefined) r.metrics.push({ name: `${name}: commit on one relay → \`rekey\` at a member of the other, p50 / p99`, value: p50p99(f.otherRekey), baseline: '—', target: '—' });
    }
    r.notes.push(`${rounds} commits per configuration, one at a time: each round a fresh connection (its own proof bucket, §1.9) joins under the current epoch's key, sends a plain message (the baseline, send → ack), then one commit with its rotation (send → ack); on two relays the commits alternate between them and a member on the other relay times the \`rekey\`. Relays \`${RELAY_ARGS.join(' ')}\`; PostgreSQL is Debian's, a fresh cluster (test/helpers/postgres.ts), fsync on. Percentiles by rank over the ${rounds} samples.`);
    return r;
  },
};

// Run alone: prints each configuration's figures.
if (require.main === module) {
  const rounds = Number(process.argv[2] ?? 200);
  console.log(`${rounds} commits per configuration, sequential, one at a time`);
  measureAll(rounds, () => undefined).then(
    (all) => {
      for (const [name, r] of all) {
        console.log(`${name}: commit → ack ${show(r.commit)}`);
        console.log(`${' '.repeat(name.length)}  plain message → ack ${show(r.plain)}`);
        if (r.otherRekey !== undefined) console.log(`${' '.repeat(name.length)}  commit → rekey on the other relay ${show(r.otherRekey)}`);
      }
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
