// `smc chat --json` end to end: two real `node dist/cli.js chat --json` processes and a real
// relay process over TCP. The relay is SIGKILLed and restarted in the middle of the
// conversation with messages in flight: both clients must end with the same messages, none
// lost, none doubled. Also: key files 0600 and refused when wider, exit codes, --help.
// Needs `node scripts/build.mjs` first (npm test does it).
import { strict as assert } from 'node:assert';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineClient, RelayProcess, rememberRoomKey } from '../helpers/relayProcess';
import { deriveRoomId, generateMessageId, parseInvite } from '../../src/core/crypto/index';
import { JsonChat, newInvite, runSmc as smc } from '../helpers/cliProcess';
import { until } from '../helpers/until';

type Line = Record<string, unknown>;

describe('smc chat --json (two processes, real relay)', function () {
  this.timeout(60_000);
  let dir: string;
  let relay: RelayProcess | undefined;
  const chats: JsonChat[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-json-'));
  });

  afterEach(async () => {
    for (const c of chats.splice(0)) c.kill();
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('two clients keep the same messages, none lost or doubled, across a relay SIGKILL and restart', async () => {
    const data = join(dir, 'relay');
    relay = await RelayProcess.start({ dataDir: data });
    const port = relay.port;
    const invite = newInvite(join(dir, 'a'), `127.0.0.1:${port}`, 'crash room');
    const alice = new JsonChat(join(dir, 'a'), ['--own', '--name', 'alice', invite]);
    const bob = new JsonChat(join(dir, 'b'), ['--own', '--name', 'bob', invite]);
    chats.push(alice, bob);

    alice.send('a0');
    await until('bob sees a0', () => bob.texts().includes('a0'));
    bob.send('b0');
    await until('alice sees b0', () => alice.texts().includes('b0'));

    const expected = ['a0', 'b0'];
    for (let i = 1; i <= 15; i++) {
      alice.send(`a${i}`);
      bob.send(`b${i}`);
      expected.push(`a${i}`, `b${i}`);
    }
    // Kill once the burst is being acked: some acked, some written but not acked, some queued.
    await until('a first ack of the burst', () => alice.lines.some((l) => l.own === true && l.text !== 'a0'));
    await relay.kill();
    for (let i = 16; i <= 30; i++) {
      alice.send(`a${i}`);
      bob.send(`b${i}`);
      expected.push(`a${i}`, `b${i}`);
    }
    relay = await RelayProcess.start({ dataDir: data, args: ['--port', String(port)] });

    await until('alice has every message', () => alice.lines.length >= expected.length, 40_000);
    await until('bob has every message', () => bob.lines.length >= expected.length, 40_000);
    alice.end();
    bob.end();
    assert.equal(await alice.exit, 0, alice.stderr.join('\n'));
    assert.equal(await bob.exit, 0, bob.stderr.join('\n'));

    for (const c of [alice, bob]) {
      assert.equal(c.lines.length, expected.length, 'nothing doubled');
      assert.deepEqual([...c.texts()].sort(), [...expected].sort(), 'nothing lost');
      assert.deepEqual(c.lines.map((l) => l.seq).sort((x, y) => Number(x) - Number(y)), expected.map((_, i) => i + 1));
      assert.ok(c.lines.every((l) => l.verified === true && l.keyChanged === false));
    }
    const bySeq = (c: JsonChat): string[] => [...c.lines].sort((x, y) => Number(x.seq) - Number(y.seq)).map((l) => `${String(l.seq)} ${String(l.id)} ${String(l.text)}`);
    assert.deepEqual(bySeq(alice), bySeq(bob), 'both see the same ids under the same seqs');
    assert.ok(alice.lines.filter((l) => l.own === true).every((l) => String(l.text).startsWith('a')));

    // A third reader sees exactly the stored conversation, and the fields of issue 3 §4.
    const carol = smc(join(dir, 'c'), ['chat', '--json', '--name', 'carol', invite]);
    assert.equal(carol.code, 0, carol.stderr);
    const stored = carol.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line);
    assert.equal(stored.length, expected.length);
    assert.deepEqual(Object.keys(stored[0]!), ['seq', 'ts', 'id', 'name', 'fingerprint', 'type', 'text', 'verified', 'keyChanged']);
  });

  it('prints history and exits 0 at end of input; a later run prints only what is new', async () => {
    relay = await RelayProcess.start();
    const invite = newInvite(join(dir, 'a'), `127.0.0.1:${relay.port}`, 'history');
    assert.equal(smc(join(dir, 'a'), ['chat', '--json', '--name', 'alice', invite], 'one\ntwo\n').code, 0);
    const first = smc(join(dir, 'b'), ['chat', '--json', '--name', 'bob', invite]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Line).text), ['one', 'two']);
    assert.equal(smc(join(dir, 'a'), ['chat', '--json', invite], 'three\n').code, 0);
    const second = smc(join(dir, 'b'), ['chat', '--json', invite]);
    assert.deepEqual(second.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Line).text), ['three']);
  });

  it('prints a message that cannot be verified as {"seq","id","error"}, never its content; --debug says why', async () => {
    relay = await RelayProcess.start();
    const invite = newInvite(join(dir, 'a'), `127.0.0.1:${relay.port}`, 'bad');
    const room = deriveRoomId(parseInvite(invite).key);
    rememberRoomKey(parseInvite(invite).key); // the raw join below carries a real proof (§1.9)
    const { client } = await LineClient.open(relay.port);
    await client.request({ t: 'join', room });
    const id = generateMessageId();
    // A well-formed body (b64u, version byte 1) that no room key opens.
    const body = Buffer.concat([Buffer.from([1]), Buffer.from('secret-looking bytes '.repeat(8))]).toString('base64url');
    await client.request({ t: 'send', room, id, body });
    await client.close();
    const r = smc(join(dir, 'b'), ['chat', '--json', '--debug', invite]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { seq: 1, id, error: 'could not be verified' });
    assert.match(r.stderr, /smc debug: unverifiable .*"reason":"decryption failed/);
    assert.ok(!r.stdout.includes('secret-looking') && !r.stderr.includes(body));
  });

  it('exits 5 with a message when the relay never acknowledges within --timeout', () => {
    const home = join(dir, 'a');
    // A port nothing listens on: bind-free by construction (port 1 needs root to listen).
    const invite = newInvite(home, '127.0.0.1:1', 'nowhere');
    const r = smc(home, ['chat', '--json', '--timeout', '1', invite], 'lost?\n');
    assert.equal(r.code, 5);
    assert.match(r.stderr, /1 message\(s\) not acknowledged by the relay at 127\.0\.0\.1:1 within 1 s/);
    assert.equal(r.stdout, '');
  });

  it('creates key files 0600 in a 0700 directory and refuses a key file readable by others', async () => {
    relay = await RelayProcess.start();
    const home = join(dir, 'a');
    const invite = newInvite(home, `127.0.0.1:${relay.port}`, 'perm');
    assert.equal(statSync(join(home, 'secrets.json')).mode & 0o777, 0o600);
    assert.equal(statSync(home).mode & 0o777, 0o700);
    chmodSync(join(home, 'secrets.json'), 0o644);
    const r = smc(home, ['chat', '--json', invite], 'should not be sent\n');
    assert.equal(r.code, 6);
    assert.match(r.stderr, /secrets\.json/);
    assert.match(r.stderr, /chmod 600/);
    const again = smc(home, ['room', 'new', '--name', 'x']);
    assert.equal(again.code, 6);
    chmodSync(join(home, 'secrets.json'), 0o600);
    assert.equal(smc(home, ['chat', '--json', invite], 'now fine\n').code, 0);
  });

  it('documents itself and rejects bad arguments with exit 2 and one clear line', () => {
    const home = join(dir, 'a');
    for (const args of [['--help'], ['chat', '--help'], ['room', '--help'], ['room', 'new', '--help']]) {
      const r = smc(home, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Usage: smc/);
    }
    assert.match(smc(home, ['chat', '--help']).stdout, /Examples:[\s\S]*--json[\s\S]*Exit codes/);
    const cases: [string[], RegExp][] = [
      [['chat'], /say which room/],
      [['chat', 'smc://127.0.0.1:7878/x#short'], /invalid invite/],
      [['chat', '--room', 'nope'], /no stored room named "nope"/],
      [['chat', '--relay', 'nohostport', '--room', 'x', '--passphrase-file', '/dev/null'], /HOST:PORT/],
      [['chat', '--bogus'], /bogus/],
      [['room', 'new'], /needs --name/],
    ];
    for (const [args, msg] of cases) {
      const r = smc(home, args);
      assert.equal(r.code, 2, `${args.join(' ')} exits 2 (${r.stderr})`);
      assert.match(r.stderr, msg);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
  });

  it('joins a passphrase room (trailing newline ignored) and warns about a short passphrase', async () => {
    relay = await RelayProcess.start();
    const { writeFileSync } = await import('node:fs');
    const long = join(dir, 'long'), longNoNl = join(dir, 'long2'), short = join(dir, 'short');
    writeFileSync(long, 'correct horse battery staple\n');
    writeFileSync(longNoNl, 'correct horse battery staple');
    writeFileSync(short, 'tiny\n');
    const relayAddr = `127.0.0.1:${relay.port}`;
    const a = smc(join(dir, 'a'), ['chat', '--json', '--relay', relayAddr, '--room', 'pp', '--passphrase-file', long, '--name', 'a'], 'via passphrase\n');
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stderr, '');
    const b = smc(join(dir, 'b'), ['chat', '--json', '--relay', relayAddr, '--room', 'pp', '--passphrase-file', longNoNl]);
    assert.deepEqual(b.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Line).text), ['via passphrase']);
    const c = smc(join(dir, 'c'), ['chat', '--json', '--relay', relayAddr, '--room', 'pp', '--passphrase-file', short]);
    // Refused (README "Chat from a terminal"), where it only warned before.
    assert.equal(c.code, 2);
    assert.match(c.stderr, /shorter than 16 characters/);
    assert.equal(c.stdout, '');
  });
});
