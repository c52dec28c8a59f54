// The project's own primitive wrappers (src/core/crypto/primitives.ts), not node:crypto
// directly, against Google's Wycheproof vectors (test/fixtures/wycheproof, see SOURCE and
// LICENSE there): every valid case gives the expected result, every invalid case is rejected.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { aesGcmOpen, aesGcmSeal, ed25519Verify, hkdfSha256 } from '../../src/core/crypto/primitives';

const dir = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'wycheproof');
const load = <T>(file: string): T => JSON.parse(readFileSync(join(dir, file), 'utf8')) as T;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

interface Case { tcId: number; comment: string; result: 'valid' | 'invalid' | 'acceptable' }
interface File<G> { numberOfTests: number; testGroups: G[] }

interface AeadCase extends Case { key: string; iv: string; aad: string; msg: string; ct: string; tag: string }
interface AeadGroup { keySize: number; ivSize: number; tagSize: number; tests: AeadCase[] }

interface EddsaCase extends Case { msg: string; sig: string }
interface EddsaGroup { publicKey: { pk: string }; tests: EddsaCase[] }

interface HkdfCase extends Case { ikm: string; salt: string; info: string; size: number; okm: string }
interface HkdfGroup { tests: HkdfCase[] }

describe('Wycheproof', () => {
  describe('AES-GCM (aes_gcm_test.json) through aesGcmSeal/aesGcmOpen', () => {
    const file = load<File<AeadGroup>>('aes_gcm_test.json');
    // SMC uses exactly one parameter set (PROTOCOL.md §2.4): 256-bit key, 96-bit nonce,
    // 128-bit tag. The wrappers refuse every other key and nonce size by design, so the
    // groups with other sizes cannot be run as AES-GCM cases; they are checked instead for
    // that refusal.
    const ours = file.testGroups.filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128);
    const others = file.testGroups.filter((g) => !ours.includes(g));
    const oursCases = ours.flatMap((g) => g.tests);
    const otherCases = others.flatMap((g) => g.tests);

    it(`runs the ${oursCases.length} cases of the 256-bit-key/96-bit-IV/128-bit-tag groups (${otherCases.length} cases of other sizes skipped)`, () => {
      assert.equal(oursCases.length + otherCases.length, file.numberOfTests);
      assert.ok(oursCases.length >= 60);
      let valid = 0;
      let invalid = 0;
      for (const c of oursCases) {
        const label = `tcId ${c.tcId} (${c.comment})`;
        const sealed = Buffer.concat([hex(c.ct), hex(c.tag)]);
        const opened = aesGcmOpen(hex(c.key), hex(c.iv), hex(c.aad), sealed);
        if (c.result === 'valid') {
          valid++;
          assert.equal(aesGcmSeal(hex(c.key), hex(c.iv), hex(c.aad), hex(c.msg)).toString('hex'), sealed.toString('hex'), label);
          assert.ok(opened !== undefined, label);
          assert.equal(opened.toString('hex'), c.msg, label);
        } else {
          invalid++;
          assert.equal(opened, undefined, label);
        }
      }
      assert.ok(valid > 0 && invalid > 0);
    });

    it('refuses the key and nonce sizes of the skipped groups', () => {
      for (const c of otherCases) {
        const sealed = Buffer.concat([hex(c.ct), hex(c.tag)]);
        assert.throws(() => aesGcmOpen(hex(c.key), hex(c.iv), hex(c.aad), sealed), RangeError, `tcId ${c.tcId}`);
        assert.throws(() => aesGcmSeal(hex(c.key), hex(c.iv), hex(c.aad), hex(c.msg)), RangeError, `tcId ${c.tcId}`);
      }
    });

    it('rejects a tag shorter than 16 bytes (node:crypto alone would accept one)', () => {
      const c = oursCases.find((t) => t.result === 'valid' && t.msg.length > 0)!;
      const truncated = Buffer.concat([hex(c.ct), hex(c.tag).subarray(0, 12)]);
      assert.equal(aesGcmOpen(hex(c.key), hex(c.iv), hex(c.aad), truncated), undefined);
      assert.equal(aesGcmOpen(hex(c.key), hex(c.iv), hex(c.aad), hex(c.tag).subarray(0, 15)), undefined);
    });
  });

  describe('Ed25519 (ed25519_test.json) through ed25519Verify', () => {
    const file = load<File<EddsaGroup>>('ed25519_test.json');
    const all = file.testGroups.flatMap((g) => g.tests.map((t) => ({ pk: g.publicKey.pk, t })));

    it(`verifies every valid and rejects every invalid signature (${all.length} cases)`, () => {
      assert.equal(all.length, file.numberOfTests);
      let valid = 0;
      let invalid = 0;
      for (const { pk, t } of all) {
        const ok = ed25519Verify(hex(pk), hex(t.msg), hex(t.sig));
        if (t.result === 'valid') valid++;
        else invalid++;
        assert.equal(ok, t.result === 'valid', `tcId ${t.tcId} (${t.comment}) expected ${t.result}`);
      }
      assert.ok(valid > 0 && invalid > 0);
    });

    it('rejects public keys of the wrong length', () => {
      const { pk, t } = all.find((c) => c.t.result === 'valid')!;
      assert.equal(ed25519Verify(hex(pk).subarray(0, 31), hex(t.msg), hex(t.sig)), false);
      assert.equal(ed25519Verify(Buffer.concat([hex(pk), Buffer.from([0])]), hex(t.msg), hex(t.sig)), false);
    });
  });

  describe('HKDF-SHA256 (hkdf_sha256_test.json) through hkdfSha256', () => {
    const file = load<File<HkdfGroup>>('hkdf_sha256_test.json');
    const all = file.testGroups.flatMap((g) => g.tests);

    it(`derives every valid output and refuses every invalid size (${all.length} cases)`, () => {
      assert.equal(all.length, file.numberOfTests);
      let invalid = 0;
      for (const c of all) {
        const label = `tcId ${c.tcId} (${c.comment})`;
        if (c.result === 'valid') {
          assert.equal(hkdfSha256(hex(c.ikm), hex(c.salt), hex(c.info), c.size).toString('hex'), c.okm, label);
        } else {
          invalid++;
          assert.throws(() => hkdfSha256(hex(c.ikm), hex(c.salt), hex(c.info), c.size), RangeError, label);
        }
      }
      assert.ok(invalid > 0);
    });
  });
});
