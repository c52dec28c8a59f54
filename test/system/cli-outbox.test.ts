// The outbox survives a killed `smc chat` (issue 11 "Outbox survives a restart"; docs/protocol.md
// §1.5): a message typed but not acked is kept in $SMC_HOME/outbox (its sealed envelope, mode
// 0600, never its text) and the next run sends it again with the same id. Two worst moments,
// each with a real relay process and SIGKILL: the relay never got the send (it was paused with
// SIGSTOP, then killed), and the relay stored it but its ack was lost (a proxy drops it): the
// resend is then a duplicate, answered with the original seq, and shown once. Also: an input
// longer than the outbox's bound is sent whole, none refused.
// Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveRoomId, parseInvite } from '../../src/core/crypto/index';
import { DEFAULT_TUNING } from '../../src/core/client/index';
import { RelayProcess } from '../helpers/relayProcess';
import { GateProxy } from '../helpers/gateProxy';
import { JsonChat, newInvite, runSmc } from '../helpers/cliProcess';
import { until } from '../helpers/until';

type Line = Record<string, unknown>;
const parse = (stdout: string): Line[] => stdout.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);

describe('smc chat: the outbox survives a SIGKILL (real relay)', function () {
  this.timeout(120_000);
  let dir: string;
  let relay: RelayProcess | undefined;
  let proxy: GateProxy | undefined;
  const chats: JsonChat[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-outbox-'));
  });

  afterEach(async () => {
    for (const c of chats.splice(0)) c.kill();
    if (relay?.running) process.kill(relay.pid, 'SIGCONT');
    await relay?.cleanup();
    relay = undefined;
    await proxy?.close();
    proxy = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** The files of a room's outbox in `home` (none when the directory is not there). */
  const outboxFiles = (home: string, room: string): string[] => {
    const d = join(home, 'outbox', room);
    return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith('.json')) : [];
  };

  /** alice's first message, acked: she is connected and joined. */
  async function aliceOnline(home: string, room: string): Promise<JsonChat> {
    const alice = new JsonChat(home, ['--own', '--name', 'alice', '--room', 'r']);
    chats.push(alice);
    alice.send('warm-up');
    await until('warm-up acked', () => alice.lines.some((l) => l.text === 'warm-up'), 30_000, () => alice.stderr.join('\n'));
    assert.deepEqual(outboxFiles(home, room), [], 'an acked message is not kept');
    return alice;
  }

  it('a message the relay never received is sent by the next run, once, with its original id', async () => {
    const data = join(dir, 'relay');
    relay = await RelayProcess.start({ dataDir: data });
    const port = relay.port;
    const home = join(dir, 'a');
    const invite = newInvite(home, `127.0.0.1:${port}`, 'r');
    const room = deriveRoomId(parseInvite(invite).key);
    const alice = await aliceOnline(home, room);

    // The relay stops reading: the send waits in its socket buffer, unacked.
    process.kill(relay.pid, 'SIGSTOP');
    alice.send('kept across a kill');
    const [file] = await until('the message saved in $SMC_HOME/outbox', () => {
      const f = outboxFiles(home, room);
      return f.length === 1 ? f : undefined;
    }, 30_000);
    alice.kill();
    await alice.exit;
    // Killed while stopped: what was in its socket buffer is gone, never stored.
    await relay.kill();
    relay = await RelayProcess.start({ dataDir: data, args: ['--port', String(port)] });

    const path = join(home, 'outbox', room, file!);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, 'outbox')).mode & 0o777, 0o700);
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { room: string; id: string; body: string };
    assert.equal(saved.room, room);
    assert.ok(!readFileSync(path, 'utf8').includes('kept across'), 'the envelope, never the text');

    const again = runSmc(home, ['chat', '--json', '--own', '--room', 'r']);
    assert.equal(again.code, 0, again.stderr);
    const mine = parse(again.stdout).filter((l) => l.text === 'kept across a kill');
    assert.equal(mine.length, 1, again.stdout);
    assert.equal(mine[0]!.id, saved.id, 'sent again with its original id');
    assert.equal(mine[0]!.seq, 2);
    assert.deepEqual(outboxFiles(home, room), [], 'forgotten once acked');

    const bob = runSmc(join(dir, 'b'), ['chat', '--json', '--name', 'bob', invite]);
    assert.equal(bob.code, 0, bob.stderr);
    assert.deepEqual(parse(bob.stdout).map((l) => [l.seq, l.text, l.id]), [[1, 'warm-up', parse(bob.stdout)[0]!.id], [2, 'kept across a kill', saved.id]]);
  });

  it('smc room forget gives up the room\'s undelivered messages with it', async () => {
    relay = await RelayProcess.start();
    const home = join(dir, 'a');
    const invite = newInvite(home, `127.0.0.1:${relay.port}`, 'r');
    const room = deriveRoomId(parseInvite(invite).key);
    const alice = await aliceOnline(home, room);
    process.kill(relay.pid, 'SIGSTOP');
    alice.send('never delivered');
    await until('the message saved in $SMC_HOME/outbox', () => outboxFiles(home, room).length === 1 || undefined, 30_000);
    alice.kill();
    await alice.exit;
    process.kill(relay.pid, 'SIGCONT');
    const forgot = runSmc(home, ['room', 'forget', 'r']);
    assert.equal(forgot.code, 0, forgot.stderr);
    assert.deepEqual(outboxFiles(home, room), [], 'the outbox of a forgotten room is empty');
  });

  it('a message stored whose ack was lost is sent again, answered with its original seq, shown once', async () => {
    relay = await RelayProcess.start();
    proxy = await GateProxy.start(relay.port);
    const home = join(dir, 'a');
    const invite = newInvite(home, `127.0.0.1:${proxy.port}`, 'r');
    const room = deriveRoomId(parseInvite(invite).key);
    const alice = await aliceOnline(home, room);

    proxy.dropToClient = (f) => f.t === 'ack';
    alice.send('stored, ack lost');
    const lost = await until('the relay acked it (the proxy dropped the ack)', () => proxy!.droppedToClient.find((f) => f.t === 'ack'), 30_000);
    alice.kill();
    await alice.exit;
    assert.equal(outboxFiles(home, room).length, 1, 'still kept: no ack came');
    const firstSend = proxy.fromClients.find((f) => f.t === 'send' && f.id === lost.id)!;

    proxy.dropToClient = () => false;
    const sendsBefore = proxy.fromClients.length;
    // Not spawnSync: the proxy runs in this process.
    const rerun = new JsonChat(home, ['--own', '--room', 'r']);
    chats.push(rerun);
    rerun.end();
    assert.equal(await rerun.exit, 0, rerun.stderr.join('\n'));
    const again = { stdout: rerun.lines.map((l) => JSON.stringify(l)).join('\n') };
    const resent = proxy.fromClients.slice(sendsBefore).filter((f) => f.t === 'send');
    assert.deepEqual(resent.map((f) => [f.id, f.body]), [[lost.id, firstSend.body]], 'sent again, byte for byte');
    const mine = parse(again.stdout).filter((l) => l.id === lost.id);
    assert.equal(mine.length, 1, `shown once:\n${again.stdout}`);
    assert.equal(mine[0]!.seq, lost.seq, 'the original seq (§1.5 dedup)');
    assert.equal(mine[0]!.text, 'stored, ack lost');
    assert.deepEqual(outboxFiles(home, room), []);

    const bob = new JsonChat(join(dir, 'b'), ['--name', 'bob', invite]);
    chats.push(bob);
    bob.end();
    assert.equal(await bob.exit, 0, bob.stderr.join('\n'));
    assert.deepEqual(bob.texts(), ['warm-up', 'stored, ack lost'], 'stored once');
  });

  it(`an input longer than the outbox's bound (${DEFAULT_TUNING.outboxLimit}) is sent whole, in order, none refused`, async () => {
    relay = await RelayProcess.start({ args: ['--rate', '0'] });
    const home = join(dir, 'a');
    const invite = newInvite(home, `127.0.0.1:${relay.port}`, 'r');
    const n = DEFAULT_TUNING.outboxLimit + 150;
    const input = Array.from({ length: n }, (_, i) => `line ${i}`).join('\n') + '\n';
    const r = runSmc(home, ['chat', '--json', '--timeout', '60', '--room', 'r'], input, 110_000);
    assert.equal(r.code, 0, r.stderr);
    const bob = runSmc(join(dir, 'b'), ['chat', '--json', '--history', String(n), '--name', 'bob', invite], '', 60_000);
    assert.equal(bob.code, 0, bob.stderr);
    assert.deepEqual(parse(bob.stdout).map((l) => l.text), input.trim().split('\n'));
    assert.deepEqual(outboxFiles(home, deriveRoomId(parseInvite(invite).key)), []);
  });
});
