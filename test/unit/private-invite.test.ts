// Private room invites (docs/protocol.md §3.4): join=1 first, fp on smcs:// only, by once, nothing else.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { InviteError } from '../../src/core/crypto/invite';
import { generateIdentity } from '../../src/core/crypto/index';
import { formatPrivateInvite, inviteAdminOf, isPrivateInvite, parsePrivateInvite } from '../../src/core/private/privateInvite';
import { encodeB64u } from '../../src/core/crypto/b64u';

describe('private room invites (§3.4)', () => {
  const secret = randomBytes(32);
  const admin = inviteAdminOf(generateIdentity().publicKey);
  const cert = 'ab'.repeat(32);

  it('formats and parses the plain, the named and the TLS forms', () => {
    const plain = formatPrivateInvite({ host: '127.0.0.1', port: 7878, name: 'team', secret });
    assert.equal(plain, `smc://127.0.0.1:7878/team?join=1#${encodeB64u(secret)}`);
    const named = formatPrivateInvite({ host: '127.0.0.1', port: 7878, name: 'team', secret, admin });
    assert.equal(named, `smc://127.0.0.1:7878/team?join=1&by=${admin}#${encodeB64u(secret)}`);
    const tls = formatPrivateInvite({ host: '127.0.0.1', port: 7879, name: 'a b', secret, admin, tls: { fingerprint: cert } });
    assert.equal(tls, `smcs://127.0.0.1:7879/a%20b?join=1&fp=${cert}&by=${admin}#${encodeB64u(secret)}`);
    for (const link of [plain, named, tls]) assert.ok(isPrivateInvite(link));
    assert.deepEqual(parsePrivateInvite(plain), { host: '127.0.0.1', port: 7878, name: 'team', secret });
    assert.deepEqual(parsePrivateInvite(named), { host: '127.0.0.1', port: 7878, name: 'team', secret, admin });
    assert.deepEqual(parsePrivateInvite(tls), { host: '127.0.0.1', port: 7879, name: 'a b', secret, admin, tls: { fingerprint: cert } });
    // by in upper case is the same admin.
    assert.equal(parsePrivateInvite(named.replace(admin, admin.toUpperCase())).admin, admin);
  });

  it('refuses what §3.4 does not allow, never echoing the secret', () => {
    const k = encodeB64u(secret);
    const bad = [
      `smc://h:1/team?join=1&by=${admin}&by=${admin}#${k}`,
      `smc://h:1/team?join=1&by=1234#${k}`,
      `smc://h:1/team?join=1&x=1#${k}`,
      `smc://h:1/team?join=1&fp=${cert}#${k}`, // fp only in smcs://
      `smcs://h:1/team?join=1#${k}`, // smcs:// needs fp
      `smcs://h:1/team?join=1&fp=12#${k}`,
      'smc://h:1/team?join=1&by=' + admin,
    ];
    for (const link of bad) {
      assert.throws(() => parsePrivateInvite(link), (e: unknown) => e instanceof InviteError && !e.message.includes(k), link);
    }
    assert.ok(!isPrivateInvite(`smc://h:1/team#${k}`));
    assert.ok(!isPrivateInvite(`smc://h:1/team?join=10#${k}`));
  });
});
