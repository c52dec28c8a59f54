// The baseline of scenario 7: the least a terminal client can do to show a room's history —
// start Node, connect, join, page back with `history` (§1.4, §1.6) and print every `msg` line
// as it comes, with no crypto, no parsing and no key store.
//   node out/bench/rawChat.js PORT ROOM COUNT
import { rawCatchUp } from './lib/seed';

const [port, room, count] = process.argv.slice(2);
// On success the process ends by itself once stdout is flushed (an explicit exit could cut
// lines still queued for the pipe).
rawCatchUp(Number(port), room ?? '', Number(count), (line) => process.stdout.write(line + '\n')).then(
  () => undefined,
  (e: unknown) => {
    process.stderr.write(`rawChat: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
