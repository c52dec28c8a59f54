// Our suite-1 implementation for ts-mls (src/core/mls/cryptoProvider.ts, docs/protocol.md §3.1)
// refuses what SMC refuses elsewhere: the small-order Ed25519 key whose all-zero signature
// verifies every message under node:crypto (§2.4), and any changed byte of an AES-GCM box.
// Its correct results are checked by the mlswg vectors (mls-vectors.test.ts).
import { strict as assert } from 'node:assert';
import { verify } from 'node:crypto';
import { aes128GcmOpen, aes128GcmSeal, nodeHkdfSha256, strictEd25519 } from '../../src/core/mls/cryptoProvider';
import { boundIdentityKey } from '../../src/core/mls/credential';
import { generateIdentity } from '../../src/core/crypto/identity';

// The identity point (0, 1): y = 1, little endian. With R = identity and S = 0, it "signs" everything.
const IDENTITY_POINT = Buffer.concat([Buffer.from([1]), Buffer.alloc(31)]);
const UNIVERSAL_SIG = Buffer.concat([IDENTITY_POINT, Buffer.alloc(32)]);
const SPKI = Buffer.from('302a300506032b6570032100', 'hex');

describe('mls crypto provider: strict where SMC is strict (docs/protocol.md §3.1, §3.2)', () => {
  it('refuses the small-order key and its universal signature, which node:crypto accepts', async () => {
    const msg = Buffer.from('any MLS content at all');
    assert.equal(verify(null, msg, { key: Buffer.concat([SPKI, IDENTITY_POINT]), format: 'der', type: 'spki' }, UNIVERSAL_SIG), true, 'node:crypto alone accepts it');
    assert.equal(await strictEd25519.verify(IDENTITY_POINT, msg, UNIVERSAL_SIG), false);
    assert.equal(boundIdentityKey({ credentialType: 'basic', identity: IDENTITY_POINT }, IDENTITY_POINT), undefined, 'no leaf may carry it');
  });

  it('signs with the identity seed and verifies; refuses another message, key or a changed byte', async () => {
    const id = generateIdentity();
    const msg = Buffer.from('FramedContentTBS');
    const sig = await strictEd25519.sign(id.seed, msg);
    assert.equal(await strictEd25519.verify(id.publicKey, msg, sig), true);
    assert.equal(await strictEd25519.verify(id.publicKey, Buffer.from('other'), sig), false);
    assert.equal(await strictEd25519.verify(generateIdentity().publicKey, msg, sig), false);
    const bad = Buffer.from(sig);
    bad[10]! ^= 0x20;
    assert.equal(await strictEd25519.verify(id.publicKey, msg, bad), false);
    await assert.rejects(strictEd25519.sign(new Uint8Array(16), msg));
  });

  it('the credential binding: a basic credential holding the signature key itself, nothing else', () => {
    const id = generateIdentity();
    const other = generateIdentity();
    assert.ok(boundIdentityKey({ credentialType: 'basic', identity: id.publicKey }, id.publicKey)?.equals(id.publicKey));
    assert.equal(boundIdentityKey({ credentialType: 'basic', identity: id.publicKey }, other.publicKey), undefined);
    assert.equal(boundIdentityKey({ credentialType: 'basic', identity: new TextEncoder().encode('alice') }, id.publicKey), undefined);
    assert.equal(boundIdentityKey({ credentialType: 'x509', certificates: [] }, id.publicKey), undefined);
  });

  it('AES-128-GCM opens what it sealed and refuses any changed byte, aad or nonce', async () => {
    const key = new Uint8Array(16).fill(7);
    const nonce = new Uint8Array(12).fill(9);
    const aad = Buffer.from('aad');
    const box = await aes128GcmSeal(key, nonce, aad, Buffer.from('hello'));
    assert.equal(Buffer.from(await aes128GcmOpen(key, nonce, aad, box)).toString(), 'hello');
    for (let i = 0; i < box.length; i++) {
      const b = Buffer.from(box);
      b[i]! ^= 1;
      await assert.rejects(aes128GcmOpen(key, nonce, aad, b));
    }
    await assert.rejects(aes128GcmOpen(key, nonce, Buffer.from('aae'), box));
    await assert.rejects(aes128GcmOpen(key, new Uint8Array(12), aad, box));
    await assert.rejects(aes128GcmOpen(key, nonce, aad, box.subarray(0, 15)));
    await assert.rejects(aes128GcmSeal(new Uint8Array(32), nonce, aad, Buffer.from('x')), /16-byte key/);
  });

  it('HKDF-Expand refuses an output longer than RFC 5869 allows', async () => {
    await assert.rejects(nodeHkdfSha256.expand(new Uint8Array(32), new Uint8Array(0), 255 * 32 + 1));
    assert.equal((await nodeHkdfSha256.expand(new Uint8Array(32), new Uint8Array(0), 255 * 32)).length, 255 * 32);
  });
});
