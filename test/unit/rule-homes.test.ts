// The small rules with one home each (issue 8 §4): the short fingerprint, the login name as a
// display name, the name length of docs/protocol.md §2.3, and the codes of the error classes.
// (host:port has its own file, host-port.test.ts.)
import { strict as assert } from 'node:assert';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InviteError, MAX_NAME_CHARS, PayloadError, PayloadTooLargeError, deriveRoomId, fingerprint, generateIdentity,
  generateRoomKey, hasNameLength, parseInvite, shortFingerprint, shortOfFingerprint,
} from '../../src/core/crypto/index';
import { encodePayload } from '../../src/core/crypto/payload';
import { KeyStore, KeyStoreError, MemorySecretStore, displayNameFromLogin } from '../../src/core/keys/index';
import { FileSecretStore, FileStateStore, FileStoreError } from '../../src/node/fileStores';

describe('rules with one home', () => {
  it('shortens a fingerprint to its first two groups, from the key or from the text', () => {
    for (let i = 0; i < 50; i++) {
      const { publicKey } = generateIdentity();
      const fp = fingerprint(publicKey);
      assert.equal(shortOfFingerprint(fp), fp.slice(0, 9));
      assert.equal(shortFingerprint(publicKey), fp.slice(0, 9));
      assert.match(shortOfFingerprint(fp), /^[0-9A-F]{4} [0-9A-F]{4}$/);
    }
    assert.equal(shortOfFingerprint(''), '');
  });

  it('counts a name in code points, 1 to 64', () => {
    assert.ok(hasNameLength('a') && hasNameLength('😀'.repeat(MAX_NAME_CHARS)));
    assert.ok(!hasNameLength('') && !hasNameLength('a'.repeat(MAX_NAME_CHARS + 1)) && !hasNameLength('😀'.repeat(MAX_NAME_CHARS + 1)));
  });

  it('makes a display name of a login name only when the rule allows it', () => {
    assert.equal(displayNameFromLogin('alice'), 'alice');
    assert.equal(displayNameFromLogin('  bob \n'), 'bob');
    assert.equal(displayNameFromLogin('x'.repeat(100)), 'x'.repeat(MAX_NAME_CHARS));
    assert.equal(displayNameFromLogin('😀'.repeat(100)), '😀'.repeat(MAX_NAME_CHARS));
    for (const bad of ['', '   ', 'ev\u202Eil', 'a\u200Bb', 'line\nbreak']) assert.equal(displayNameFromLogin(bad), undefined, JSON.stringify(bad));
  });

  it('gives every error class of the keys, the invites, the payloads and the file stores a code', async () => {
    assert.throws(() => parseInvite('http://x'), (e: unknown) => e instanceof InviteError && e.code === 'invalid_invite');

    const base = { id: 'A'.repeat(22), ts: 1, name: 'n', type: 'text' as const };
    assert.throws(() => encodePayload({ ...base, name: '' }), (e: unknown) => e instanceof PayloadError && e.code === 'invalid_message');
    assert.throws(() => encodePayload({ ...base, text: 'x'.repeat(20_000) }),
      (e: unknown) => e instanceof PayloadTooLargeError && e instanceof PayloadError && e.code === 'message_too_large');

    const secrets = new MemorySecretStore();
    const keys = new KeyStore(secrets);
    const key = generateRoomKey();
    const code = (c: string) => (e: unknown): boolean => e instanceof KeyStoreError && e.code === c;
    await assert.rejects(keys.roomKey('../../etc'), code('invalid_room_id'));
    await assert.rejects(keys.setRoomKey(deriveRoomId(key), key.subarray(0, 31)), code('invalid_room_key'));
    await assert.rejects(keys.setRoomKey(deriveRoomId(generateRoomKey()), key), code('key_not_of_room'));
    await secrets.store('smc.identity', 'short');
    await assert.rejects(new KeyStore(secrets).identity(), code('damaged_secret'));

    const root = mkdtempSync(join(tmpdir(), 'smc-rule-homes-'));
    try {
      const fsCode = (c: string) => (e: unknown): boolean => e instanceof FileStoreError && e.code === c;
      const dir = join(root, 'home');
      mkdirSync(dir, { mode: 0o700 });
      chmodSync(dir, 0o777);
      assert.throws(() => new FileSecretStore(dir), fsCode('too_open'));
      chmodSync(dir, 0o700);
      mkdirSync(join(dir, 'secrets.json'));
      assert.throws(() => new FileSecretStore(dir), fsCode('not_a_file'));
      rmSync(join(dir, 'secrets.json'), { recursive: true });
      writeFileSync(join(dir, 'secrets.json'), '{}', { mode: 0o644 });
      assert.throws(() => new FileSecretStore(dir), fsCode('too_open'));
      writeFileSync(join(dir, 'state.json'), '[1]', { mode: 0o600 });
      assert.throws(() => new FileStateStore(dir), fsCode('not_json'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
