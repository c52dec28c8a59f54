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
import { type JsonChat } from '../helpers/cliProcess';
import { PrivateChats, privateRoomWith } from '../helpers/privateRoom';
import { REPO_ROOT, RelayProcess } from '../helpers/relayProcess';

describe('private rooms on a TLS relay (smcs:// invites, pinned certificate)', function () {
  this.timeout(180_000);
  let dir: string;
  let relay: RelayProcess;
  let pin: string;
  let chats: PrivateChats;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-private-tls-'));
    chats = new PrivateChats(dir, 90_000);
    const tls = join(REPO_ROOT, 'test', 'helpers', 'tls');
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay'), args: ['--tls-cert', join(tls, 'relay-test.crt'), '--tls-key', join(tls, 'relay-test.key')] });
    pin = String((await relay.waitForLog((r) => r.event === 'listening')).fingerprint);
    assert.match(pin, /^[0-9a-f]{64}$/);
  });

  afterEach(async () => {
    chats.killAll();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const chat = (who: string, args: string[]): JsonChat => chats.chat(who, args);
  const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> => chats.wait(what, check);

  it('create, invite, join, chat, and reconnect by name, all pinned', async () => {
    const { made, admin: alice } = await privateRoomWith(chats, `127.0.0.1:${relay.port}`, [], { createArgs: ['--tls-fingerprint', pin.toUpperCase().replace(/(..)(?!$)/g, '$1:')] });
    assert.match(made.stdout, /Created private room "team".*TLS, certificate pinned/);
    const link = await chats.invite(alice);
    assert.match(link, new RegExp(`^smcs://127\\.0\\.0\\.1:${relay.port}/team\\?join=1&fp=${pin}&by=[0-9a-f]{32}#[A-Za-z0-9_-]{43}$`));

    const bob = chat('bob', ['--name', 'bob', '--timeout', '60', link]);
    await chats.joined(bob);
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
    await chats.create(`127.0.0.1:${relay.port}`, { who: 'mallory', room: 'mitm', args: ['--tls-fingerprint', wrong] });
    const m = chat('mallory', ['--name', 'mallory', '--timeout', '3', 'mitm']);
    m.end();
    assert.equal(await m.exit, 5, m.stderr.join('\n'));
    assert.ok(m.stderr.some((l) => l.includes('TLS certificate does not match') && l.includes(`got ${pin}`)), m.stderr.join('\n'));

    const { admin: alice } = await privateRoomWith(chats, `127.0.0.1:${relay.port}`, [], { createArgs: ['--tls-fingerprint', pin] });
    const link = await chats.invite(alice);
    const bob = chat('bob', ['--name', 'bob', '--timeout', '5', link.replace(`fp=${pin}`, `fp=${wrong}`)]);
    assert.equal(await bob.exit, 9, bob.stderr.join('\n'));
    assert.ok(bob.stderr.some((l) => l.includes('TLS certificate does not match')), bob.stderr.join('\n'));
    assert.ok(!alice.lines.some((l) => l.event === 'member_added'), 'nobody was added');
    alice.end();
    assert.equal(await alice.exit, 0);
  });
});
