// Attacks on the chat features (issue 12) by a malicious member, through a real relay, against
// a real `smc chat --json` process: a file that lies about its sha256 or its size, a flood of
// 1 000 chunks for files never announced, 40 large files announced and never finished, and a
// forged edit and delete of another member's message. The receiver must fail or ignore each,
// keep its memory bounded (§2.3.5: 8 MiB of pending chunks, 32 MiB being assembled), and go on
// showing honest messages. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoomCipher, generateIdentity, generateMessageId, parseInvite, type Identity, type Payload } from '../../src/core/crypto/index';
import { sealEnvelope } from '../../src/core/crypto/envelope';
import { aesKey } from '../../src/core/crypto/primitives';
import { deriveMessageKey } from '../../src/core/crypto/roomKey';
import { fileMessages } from '../../src/core/payload/index';
import { LineClient, RelayProcess, rememberRoomKey } from '../helpers/relayProcess';
import { JsonChat, newInvite } from '../helpers/cliProcess';
import { until } from '../helpers/until';

/** The resident set of a process, in MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

describe('attacks on files, edits and deletes (malicious member, real relay, smc chat --json)', function () {
  this.timeout(120_000);
  let dir: string;
  let relay: RelayProcess;
  const chats: JsonChat[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-attack-features-'));
    // The attacker may use many connections; one without a rate limit stands for them.
    relay = await RelayProcess.start({ args: ['--rate', '0', '--room-bytes', '0'] });
  });

  afterEach(async () => {
    for (const c of chats.splice(0)) c.kill();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lying sha256 and size fail, floods stay bounded, forged edits and deletes are refused, honest messages still come', async () => {
    const invite = newInvite(join(dir, 'bob'), `127.0.0.1:${relay.port}`, 'attacked');
    const key = parseInvite(invite).key;
    const room = rememberRoomKey(key);
    const cipher = new RoomCipher(key);
    const mkey = aesKey(deriveMessageKey(key));
    // --debug: the client's log (stderr) says which pending chunks it dropped to keep its bound.
    const bob = new JsonChat(join(dir, 'bob'), ['--name', 'bob', '--timeout', '60', '--debug', invite]);
    chats.push(bob);
    const { client: raw } = await LineClient.open(relay.port);
    assert.equal((await raw.request({ t: 'join', room })).t, 'joined');
    const mallory = generateIdentity();
    const alice = generateIdentity();
    // A payload sealed without the sender's rules (encodePayload would refuse it): by hand.
    const sendRaw = async (p: Omit<Payload, 'ts'>): Promise<void> => {
      const P = Buffer.from(JSON.stringify({ ...p, ts: Date.now() }), 'utf8');
      const body = sealEnvelope(mkey, room, p.id, P, mallory);
      const ack = await raw.request({ t: 'send', room, id: p.id, body }, 20_000);
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
    };
    const send = async (p: Omit<Payload, 'ts'>, who: Identity = mallory): Promise<void> => {
      const ack = await raw.request({ t: 'send', room, id: p.id, body: cipher.seal({ ...p, ts: Date.now() }, who) }, 20_000);
      assert.equal(ack.t, 'ack', JSON.stringify(ack));
    };
    await send({ id: generateMessageId(), name: 'alice', type: 'text', text: 'hello' }, alice);
    const hello = await until('bob is in', () => bob.lines.find((l) => l.text === 'hello'));
    const rss0 = rssMiB(bob.child.pid!);

    // A lying sha256: every part honest, the whole not what the file message says.
    const bytes = randomBytes(100_000);
    const lie = fileMessages({ id: generateMessageId(), ts: 1, name: 'mallory', fileName: 'lie.bin', bytes }, generateMessageId);
    await send({ ...lie.file, file: { ...lie.file.file!, sha256: 'ab'.repeat(32) } });
    for (const c of lie.chunks) await send(c);
    // A lying size: the file says 100 000 bytes, its last part carries more.
    const size = fileMessages({ id: generateMessageId(), ts: 1, name: 'mallory', fileName: 'size.bin', bytes }, generateMessageId);
    await send(size.file);
    await send({ ...size.chunks[3]!, data: randomBytes(30_000).toString('base64url') });
    await until('both fail', () => bob.lines.filter((l) => l.event === 'file' && l.state === 'failed').length === 2);
    assert.deepEqual(bob.lines.filter((l) => l.event === 'file').map((l) => l.reason), ['hash_mismatch', 'chunk_size']);

    // 1 000 chunks of 30 000 bytes for files never announced (30 MB): at most 8 MiB kept.
    for (let i = 0; i < 1_000; i++) {
      await send({ id: generateMessageId(), name: 'mallory', type: 'file-chunk', target: generateMessageId(), index: 0, data: randomBytes(30_000).toString('base64url') });
    }
    // 40 files of 8 MiB announced, each given 20 parts (600 KB), never finished: 24 MB in all,
    // then more: the oldest unfinished are dropped past 32 MiB.
    for (let f = 0; f < 60; f++) {
      const big = fileMessages({ id: generateMessageId(), ts: 1, name: 'mallory', fileName: `big${f}.bin`, bytes: Buffer.alloc(8 * 1024 * 1024, f) }, generateMessageId);
      await send(big.file);
      for (const c of big.chunks.slice(0, 20)) await send(c);
    }
    // Hostile file names (sealed by hand: a sender's own client refuses them): refused as unverifiable.
    for (const name of ['../../.bashrc', 'a\u202Etxt.exe', 'x\u001b[31m', 'CON']) {
      const f = fileMessages({ id: generateMessageId(), ts: 1, name: 'mallory', fileName: 'ok.bin', bytes }, generateMessageId);
      await sendRaw({ ...f.file, file: { ...f.file.file!, name } });
    }
    await until('four names refused', () => bob.lines.filter((l) => l.error === 'could not be verified').length === 4);
    // A forged edit and delete of alice's message.
    await send({ id: generateMessageId(), name: 'alice', type: 'edit', target: String(hello.id), text: 'send me your key' });
    await send({ id: generateMessageId(), name: 'alice', type: 'delete', target: String(hello.id) });
    await send({ id: generateMessageId(), name: 'alice', type: 'text', text: 'still here' }, alice);
    await until('the honest message after the floods', () => bob.lines.find((l) => l.text === 'still here'), 60_000);
    const refused = bob.lines.filter((l) => l.change === 'refused' && l.why === 'not_the_sender');
    assert.deepEqual(refused.map((l) => l.type), ['edit', 'delete']);
    const evicted = bob.lines.filter((l) => l.event === 'file' && l.reason === 'evicted').length;
    assert.ok(evicted >= 1, `unfinished files dropped past 32 MiB (${evicted})`);
    // §2.3.5: at most 8 MiB of chunks of unknown files (279 of 30 000 bytes): the rest dropped.
    const dropped = bob.stderr.filter((l) => l.includes('chunk_dropped')).length;
    assert.ok(dropped >= 1_000 - 280, `pending chunks dropped: ${dropped}`);
    const grown = rssMiB(bob.child.pid!) - rss0;
    // 8 MiB pending + 32 MiB assembling + the runtime's slack (parsed lines not yet collected).
    assert.ok(grown < 250, `bob's memory grew by ${grown.toFixed(0)} MiB`);
    process.stdout.write(`      (bob's RSS grew by ${grown.toFixed(1)} MiB; ${dropped} pending chunks and ${evicted} unfinished files dropped)\n`);
    bob.end();
    await bob.exit;
    await raw.close();
  });
});
