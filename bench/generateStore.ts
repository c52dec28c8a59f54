// Fills a relay data directory for the restart benchmark (scenario 5) by writing through the
// relay's own store (src/relay/store/fileStore.ts, the MessageStore interface) directly, in
// this child process: much faster than going through the wire, and the files are exactly what
// a relay would have written (same records, checksums and segments).
//
//   node out/bench/generateStore.js DIR ROOMS PER_ROOM BODY_CHARS
// Prints one JSON line with what it wrote and how long it took.
import { randomBytes } from 'node:crypto';
import { FileStore } from '../src/relay/store/fileStore';

const IN_FLIGHT = 16_384;

async function main(): Promise<void> {
  const [dir, roomsArg, perRoomArg, bodyArg] = process.argv.slice(2);
  if (!dir || !roomsArg || !perRoomArg || !bodyArg) throw new Error('usage: generateStore DIR ROOMS PER_ROOM BODY_CHARS');
  const rooms = Array.from({ length: Number(roomsArg) }, () => randomBytes(16).toString('base64url'));
  const perRoom = Number(perRoomArg);
  const bodyChars = Number(bodyArg);
  const total = rooms.length * perRoom;
  // One random body per 1 000 messages is plenty: the relay never looks inside a body.
  const bodies = Array.from({ length: 1_000 }, () => randomBytes(Math.ceil((bodyChars * 3) / 4)).toString('base64url').slice(0, bodyChars));
  const idPrefix = randomBytes(6).toString('base64url');
  const store = new FileStore({ dir, retain: perRoom });
  const t0 = process.hrtime.bigint();
  await store.open();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const n = next++;
      // Round-robin over the rooms, as live traffic interleaves them in the log.
      const room = rooms[n % rooms.length] as string;
      const id = idPrefix + String(n).padStart(14, '0');
      await store.append(room, id, bodies[n % bodies.length] as string);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  await store.close();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stdout.write(JSON.stringify({ messages: total, rooms: rooms.length, ms }) + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`generateStore: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
