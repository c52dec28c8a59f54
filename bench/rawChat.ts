// The baseline of scenario 7: the least a terminal client can do to show a room's history —
// start Node, connect, join, page back with `history` (§1.4, §1.6) and print every `msg` line
// as it comes, with no crypto, no parsing and no key store.
//   SMC_BENCH_ROOM_KEY=<b64u K> node out/bench/rawChat.js PORT COUNT
// The room key comes in the environment, not the command line (§2.1: a secret), because the
// join must prove membership (§1.9); that one signature is all the crypto it does.
import { decodeB64u, RoomCipher } from '../src/core/crypto';
import { rawCatchUp } from './lib/seed';

const [port, count] = process.argv.slice(2);
const room = new RoomCipher(decodeB64u(process.env.SMC_BENCH_ROOM_KEY ?? ''));
// On success the process ends by itself once stdout is flushed (an explicit exit could cut
// lines still queued for the pipe).
rawCatchUp(Number(port), room, Number(count), (line) => process.stdout.write(line + '\n')).then(
  () => undefined,
  (e: unknown) => {
    process.stderr.write(`rawChat: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
