// Scenario "private-send-rate" (issue 10, r-repair): how many messages per second one
// private-room member gets acked through a real relay process on 127.0.0.1, with the real
// stores of `smc chat` (the MLS state in $SMC_HOME/secrets.json, atomic write + fsync, and the
// history log, one synced line per record). Baseline: a RelayClient in a link room sending the
// same messages through the same relay (no MLS, no state to save). Part of `npm run bench`
// (`--only private-send-rate`); run alone after `node scripts/build.mjs` and tsc:
//   node out/bench/privateSendRate.js [messages=1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayClient } from '../src/core/client/index';
import { generateRoomKey } from '../src/core/crypto/index';
import { generateIdentity } from '../src/core/crypto/identity';
import { HistoryStore, PrivateRoom, newPrivateRoom } from '../src/core/private/index';
import { FileSecretStore } from '../src/node/fileStores';
import { FileHistoryLog } from '../src/node/historyFile';
import { createTcpTransport } from '../src/node/tcpTransport';
import { RelayProcess } from '../test/helpers/relayProcess';
import { fmt, result, type RunContext, type Scenario } from './lib/report';

interface SendRate {
  ms: number;
  acked: number;
  saves: number;
}

/** `n` messages of one private-room member, sent at once, until the last is acked. */
async function privateRate(port: number, home: string, n: number): Promise<SendRate> {
  const identity = generateIdentity();
  const created = await newPrivateRoom(identity);
  const secrets = new FileSecretStore(home);
  let saves = 0;
  const room = new PrivateRoom({
    room: created.room, name: 'rate', host: '127.0.0.1', port, agent: 'bench', transport: createTcpTransport,
    identity, displayName: 'bench', group: created.group, meta: created.meta,
    save: async (text) => {
      saves++;
      await secrets.store(`smc.mls.${created.room}`, text);
    },
    history: new HistoryStore(created.room, Buffer.alloc(32, 1), new FileHistoryLog(created.room, home)),
  });
  const synced = new Promise<void>((resolve) => room.once('synced', () => resolve()));
  room.connect();
  await synced;
  let acked = 0;
  room.on('outgoing', (o) => {
    if (o.state === 'sent') acked++;
  });
  const savesBefore = saves;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) room.sendText(`message ${i}`);
  await room.drain();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await room.disconnect();
  return { ms, acked, saves: saves - savesBefore };
}

/** The baseline: the same `n` messages from a RelayClient in a link room. */
async function linkRate(port: number, n: number): Promise<number> {
  const c = new RelayClient({ host: '127.0.0.1', port, agent: 'bench', identity: generateIdentity(), displayName: 'bench', transport: createTcpTransport });
  const synced = new Promise<void>((resolve) => c.once('synced', () => resolve()));
  const { room } = c.join({ key: generateRoomKey(), name: 'rate' });
  c.connect();
  await synced;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) c.sendText(room, `message ${i}`);
  const { failed } = await c.drain();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await c.disconnect();
  if (failed > 0) throw new Error(`${failed} link-room messages failed`);
  return ms;
}

/** Both rates through one relay (--rate 0) in a fresh directory. */
async function measure(n: number): Promise<{ priv: SendRate; linkMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'smc-private-rate-'));
  // --rate 0: the relay's per-connection send rate (100/s by default, §1.7) is not what is measured.
  const relay = await RelayProcess.start({ dataDir: join(dir, 'relay'), args: ['--rate', '0'] });
  try {
    const priv = await privateRate(relay.port, join(dir, 'home'), n);
    const linkMs = await linkRate(relay.port, n);
    return { priv, linkMs };
  } finally {
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const privateSendRate: Scenario = {
  id: 'private-send-rate',
  title: 'Issue 10. A private-room member\'s acked messages/s, with the real state and history stores',
  async run(ctx: RunContext) {
    const r = result(this.id, this.title);
    const n = ctx.quick ? 200 : 1_000;
    // Inside the pace's burst (100, §3.3 "Pace and refusals"): what MLS and the stores cost.
    const burst = 100;
    const small = await measure(burst);
    const { priv, linkMs } = await measure(n);
    ctx.log(`private-send-rate: ${burst} in ${small.priv.ms.toFixed(0)} ms, ${n} in ${priv.ms.toFixed(0)} ms (link room ${linkMs.toFixed(0)} ms)`);
    r.metrics.push(
      { name: `${fmt.int(burst)} messages sent at once (inside the pace's burst), until the last ack`, value: `${fmt.int(burst / (small.priv.ms / 1000))} msg/s`, baseline: `${fmt.int(burst / (small.linkMs / 1000))} msg/s (a link room's RelayClient, same relay)`, target: '—' },
      { name: `${fmt.int(n)} messages sent at once by one private-room member, until the last ack (paced at 80/s after the burst)`, value: `${fmt.int(n / (priv.ms / 1000))} msg/s`, baseline: `${fmt.int(n / (linkMs / 1000))} msg/s (a link room's RelayClient, same relay: texts not paced)`, target: '—' },
      { name: 'MLS state saves (secrets.json, atomic write + fsync) during the 1 000', value: fmt.int(priv.saves), baseline: '0 (a link room has no state to save)', target: '—' },
    );
    r.notes.push('Since issue 12 a private room paces every send at 80 a second after a burst of 100, below the relay\'s default 100/s with a burst of 200 (docs/protocol.md §3.3 "Pace and refusals"), so that a file or a script never trips `rate_limited`: past the burst the pace is what the 1 000 measure. A link room paces only file chunks, and this relay runs `--rate 0`, so its texts go unpaced; at the relay\'s default limits it would be refused past 200 and retried.');
    r.notes.push(`One PrivateRoom (src/core/private) with the stores of \`smc chat\`: its MLS state saved to $SMC_HOME/secrets.json by FileSecretStore, its history to FileHistoryLog (one synced line per record); relay \`--rate 0\`, one process, 127.0.0.1. ${fmt.int(priv.acked)} \`sent\` events counted. The baseline sends the same texts from a RelayClient in a link room right after, through the same relay.`);
    return r;
  },
};

// Run alone: prints the two rates.
if (require.main === module) {
  const n = Number(process.argv[2] ?? 1000);
  measure(n).then(
    ({ priv, linkMs }) => {
      process.stdout.write(`${n} messages acked (${priv.acked} events) in ${priv.ms.toFixed(0)} ms: ${(n / (priv.ms / 1000)).toFixed(0)} msg/s; ${priv.saves} state saves\n`);
      process.stdout.write(`link room baseline: ${n} messages in ${linkMs.toFixed(0)} ms: ${(n / (linkMs / 1000)).toFixed(0)} msg/s\n`);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
