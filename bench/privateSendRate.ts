// A measurement, not part of `npm run bench` (issue 10, r-repair): how many messages per second
// one private-room member gets acked through a real relay process on 127.0.0.1, with the real
// stores of `smc chat` (the MLS state in $SMC_HOME/secrets.json, atomic write + fsync, and the
// history log, one synced line per record). Run after `node scripts/build.mjs` and tsc:
//   node out/bench/privateSendRate.js [messages=1000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity } from '../src/core/crypto/identity';
import { HistoryStore, PrivateRoom, newPrivateRoom } from '../src/core/private/index';
import { FileSecretStore } from '../src/node/fileStores';
import { FileHistoryLog } from '../src/node/historyFile';
import { createTcpTransport } from '../src/node/tcpTransport';
import { RelayProcess } from '../test/helpers/relayProcess';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1000);
  const dir = mkdtempSync(join(tmpdir(), 'smc-private-rate-'));
  // --rate 0: the relay's per-connection send rate (100/s by default, §1.7) is not what is measured.
  const relay = await RelayProcess.start({ dataDir: join(dir, 'relay'), args: ['--rate', '0'] });
  try {
    const identity = generateIdentity();
    const created = await newPrivateRoom(identity);
    const secrets = new FileSecretStore(join(dir, 'home'));
    let saves = 0;
    const room = new PrivateRoom({
      room: created.room, name: 'rate', host: '127.0.0.1', port: relay.port, agent: 'bench', transport: createTcpTransport,
      identity, displayName: 'bench', group: created.group, meta: created.meta,
      save: async (text) => {
        saves++;
        await secrets.store(`smc.mls.${created.room}`, text);
      },
      history: new HistoryStore(created.room, Buffer.alloc(32, 1), new FileHistoryLog(created.room, join(dir, 'home'))),
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
    process.stdout.write(`${n} messages acked (${acked} events) in ${ms.toFixed(0)} ms: ${(n / (ms / 1000)).toFixed(0)} msg/s; ${saves - savesBefore} state saves\n`);
    await room.disconnect();
  } finally {
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
