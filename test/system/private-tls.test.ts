// Private rooms on a TLS relay (docs/protocol.md §1.8, §3.4): `smc room new --private
// --tls-fingerprint` pins the relay's certificate, /invite gives an smcs://…?join=1&fp=…&by=…#…
// link, the joiner pins it, and `smc chat NAME` of the private room reconnects with the pin.
// A relay whose certificate is not the pinned one is refused, by the creator and by the joiner.
// Real processes, a real relay listening with TLS (test/helpers/tls), 127.0.0.1.
// Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonChat, runSmc } from '../helpers/cliProcess';
import { REPO_ROOT, RelayProcess } from '../helpers/relayProcess';
import { until } from '../helpers/until';

describe('private rooms on a TLS relay (smcs:// invites, pinned certificate)', function () {
  this.timeout(180_000);
  let dir: string;
  let relay: RelayProcess;
  let pin: string;
  const chats: JsonChat[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-private-tls-'));
    const tls = join(REPO_ROOT, 'test', 'helpers', 'tls');
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay'), args: ['--tls-cert', join(tls, 'relay-test.crt'), '--tls-key', join(tls, 'relay-test.key')] });
    pin = String((await relay.waitForLog((r) => r.event === 'listening')).fingerprint);
    assert.match(pin, /^[0-9a-f]{64}$/);
  });

  afterEach(async () => {
    for (const c of chats.splice(0)) c.kill();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const home = (who: string): string => join(dir, who);
  const chat = (who: string, args: string[]): JsonChat => {
    const c = new JsonChat(home(who), args);
    chats.push(c);
    return c;
  };
  const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> =>
    until(what, check, 90_000, () => chats.map((c) => `${c.stderr.slice(-6).join('\n')}\n${JSON.stringify(c.lines.slice(-4))}`).join('\n---\n'));

  it('create, invite, join, chat, and reconnect by name, all pinned', async () => {
    const made = runSmc(home('alice'), ['room', 'new', '--private', '--name', 'team', '--relay', `127.0.0.1:${relay.port}`, '--tls-fingerprint', pin.toUpperCase().replace(/(..)(?!$)/g, '$1:')]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /Created private room "team".*TLS, certificate pinned/);
    const alice = chat('alice', ['--name', 'alice', 'team']);
    alice.send('/invite');
    const link = String((await wait('an invite', () => alice.lines.find((l) => l.event === 'invite'))).invite);
    assert.match(link, new RegExp(`^smcs://127\\.0\\.0\\.1:${relay.port}/team\\?join=1&fp=${pin}&by=[0-9a-f]{32}#[A-Za-z0-9_-]{43}$`));

    const bob = chat('bob', ['--name', 'bob', '--timeout', '60', link]);
    await wait('bob joined', () => bob.stderr.some((l) => l.includes('added to private room "team"')) || bob.child.exitCode !== null);
    assert.ok(bob.stderr.some((l) => l.includes('added to private room "team"')), bob.stderr.join('\n'));
    alice.send('over tls, privately');
    await wait('bob reads', () => bob.texts().includes('over tls, privately'));
    bob.send('and back');
    await wait('alice reads', () => alice.texts().includes('and back'));
    bob.end();
    assert.equal(await bob.exit, 0, bob.stderr.join('\n'));

    // The joined room remembers its pin: `smc chat team` alone speaks TLS again.
    alice.send('while you were away');
    const again = chat('bob', ['--name', 'bob', '--history', '0', 'team']);
    await wait('bob reads after reconnecting by name', () => again.texts().includes('while you were away'));
    again.end();
    alice.end();
    assert.equal(await again.exit, 0, again.stderr.join('\n'));
    assert.equal(await alice.exit, 0, alice.stderr.join('\n'));
  });

  it('a wrong pin is refused: by the creator\'s smc chat, and by a joiner of an invite whose fp was altered', async () => {
    const wrong = (pin[0] === 'a' ? 'b' : 'a') + pin.slice(1);
    assert.equal(runSmc(home('mallory'), ['room', 'new', '--private', '--name', 'mitm', '--relay', `127.0.0.1:${relay.port}`, '--tls-fingerprint', wrong]).code, 0);
    const m = chat('mallory', ['--name', 'mallory', '--timeout', '3', 'mitm']);
    m.end();
    assert.equal(await m.exit, 5, m.stderr.join('\n'));
    assert.ok(m.stderr.some((l) => l.includes('TLS certificate does not match') && l.includes(`got ${pin}`)), m.stderr.join('\n'));

    assert.equal(runSmc(home('alice'), ['room', 'new', '--private', '--name', 'team', '--relay', `127.0.0.1:${relay.port}`, '--tls-fingerprint', pin]).code, 0);
    const alice = chat('alice', ['--name', 'alice', 'team']);
    alice.send('/invite');
    const link = String((await wait('an invite', () => alice.lines.find((l) => l.event === 'invite'))).invite);
    const bob = chat('bob', ['--name', 'bob', '--timeout', '5', link.replace(`fp=${pin}`, `fp=${wrong}`)]);
    assert.equal(await bob.exit, 9, bob.stderr.join('\n'));
    assert.ok(bob.stderr.some((l) => l.includes('TLS certificate does not match')), bob.stderr.join('\n'));
    assert.ok(!alice.lines.some((l) => l.event === 'member_added'), 'nobody was added');
    alice.end();
    assert.equal(await alice.exit, 0);
  });
});
