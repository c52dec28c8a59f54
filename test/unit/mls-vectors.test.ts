// The mlswg test vectors (https://github.com/mlswg/mls-implementations, RFC 9420) that ts-mls's
// repository ships, run against the ts-mls version installed here with SMC's own suite-1
// implementation (src/core/mls/cryptoProvider.ts: Ed25519 through our strict node:crypto
// wrappers). The npm package does not ship the vectors, so the files of cipher suite 1 are
// vendored in test/fixtures/mls/ (see its README.md for where from and how). These tests reach
// into ts-mls's internal modules for the lower layers (signatures with labels, the key schedule,
// Welcome decryption), and use its public API for the passive-client scenarios: join from a
// Welcome, then apply every proposal and commit, checking the epoch authenticator of each epoch.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CiphersuiteImpl, ClientState } from 'ts-mls' with { 'resolution-mode': 'import' };
import { loadMls, type Mls } from '../../src/core/mls/library';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'mls');
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function vectors<T>(name: string): T[] {
  const all = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as (T & { cipher_suite: number })[];
  assert.ok(all.length > 0, `${name}.json has vectors`);
  for (const v of all) assert.equal(v.cipher_suite, 1);
  return all;
}

type Internal<M extends string> = M extends 'kdf' ? typeof import('ts-mls/crypto/kdf.js', { with: { 'resolution-mode': 'import' } })
  : M extends 'hash' ? typeof import('ts-mls/crypto/hash.js', { with: { 'resolution-mode': 'import' } })
  : M extends 'hpke' ? typeof import('ts-mls/crypto/hpke.js', { with: { 'resolution-mode': 'import' } })
  : M extends 'signature' ? typeof import('ts-mls/crypto/signature.js', { with: { 'resolution-mode': 'import' } })
  : never;

interface CryptoBasics {
  ref_hash: { label: string; value: string; out: string };
  expand_with_label: { secret: string; label: string; context: string; length: number; out: string };
  derive_secret: { secret: string; label: string; out: string };
  derive_tree_secret: { secret: string; label: string; generation: number; length: number; out: string };
  sign_with_label: { priv: string; pub: string; content: string; label: string; signature: string };
  encrypt_with_label: { priv: string; pub: string; label: string; context: string; plaintext: string; kem_output: string; ciphertext: string };
}

interface KeyScheduleEpoch {
  group_context: string; tree_hash: string; confirmed_transcript_hash: string; commit_secret: string; psk_secret: string;
  joiner_secret: string; welcome_secret: string; init_secret: string; sender_data_secret: string; encryption_secret: string;
  exporter_secret: string; external_secret: string; confirmation_key: string; membership_key: string; resumption_psk: string;
  epoch_authenticator: string; external_pub: string; exporter: { label: string; context: string; length: number; secret: string };
}

interface PassiveClient {
  external_psks: { psk_id: string; psk: string }[];
  key_package: string; signature_priv: string; encryption_priv: string; init_priv: string; welcome: string;
  ratchet_tree: string | null; initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

describe('mls: the mlswg test vectors, suite 1, against the installed ts-mls', function () {
  this.timeout(300_000);
  let mls: Mls;
  let suite: CiphersuiteImpl;
  before(async () => {
    mls = await loadMls();
    suite = mls.suite;
  });

  it('crypto-basics: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret, SignWithLabel (our strict Ed25519), EncryptWithLabel', async () => {
    const kdf: Internal<'kdf'> = await import('ts-mls/crypto/kdf.js');
    const hash: Internal<'hash'> = await import('ts-mls/crypto/hash.js');
    const hpke: Internal<'hpke'> = await import('ts-mls/crypto/hpke.js');
    const sig: Internal<'signature'> = await import('ts-mls/crypto/signature.js');
    for (const v of vectors<CryptoBasics>('crypto-basics')) {
      assert.equal(toHex(await hash.refhash(v.ref_hash.label, hex(v.ref_hash.value), suite.hash)), v.ref_hash.out);
      const e = v.expand_with_label;
      assert.equal(toHex(await kdf.expandWithLabel(hex(e.secret), e.label, hex(e.context), e.length, suite.kdf)), e.out);
      assert.equal(toHex(await kdf.deriveSecret(hex(v.derive_secret.secret), v.derive_secret.label, suite.kdf)), v.derive_secret.out);
      const t = v.derive_tree_secret;
      assert.equal(toHex(await kdf.deriveTreeSecret(hex(t.secret), t.label, t.generation, t.length, suite.kdf)), t.out);
      const s = v.sign_with_label;
      assert.equal(await sig.verifyWithLabel(hex(s.pub), s.label, hex(s.content), hex(s.signature), suite.signature), true);
      const mine = await sig.signWithLabel(hex(s.priv), s.label, hex(s.content), suite.signature);
      assert.equal(toHex(mine), s.signature, 'Ed25519 is deterministic: our signature is the vector\'s');
      const flipped = hex(s.signature);
      flipped[0]! ^= 1;
      assert.equal(await sig.verifyWithLabel(hex(s.pub), s.label, hex(s.content), flipped, suite.signature), false);
      const x = v.encrypt_with_label;
      const priv = await suite.hpke.importPrivateKey(hex(x.priv));
      const pub = await suite.hpke.importPublicKey(hex(x.pub));
      assert.equal(toHex(await hpke.decryptWithLabel(priv, x.label, hex(x.context), hex(x.kem_output), hex(x.ciphertext), suite.hpke)), x.plaintext);
      const again = await hpke.encryptWithLabel(pub, x.label, hex(x.context), hex(x.plaintext), suite.hpke);
      assert.equal(toHex(await hpke.decryptWithLabel(priv, x.label, hex(x.context), again.enc, again.ct, suite.hpke)), x.plaintext);
    }
  });

  it('key-schedule: every epoch secret, and MLS-Exporter (which the epoch room-auth key of §3.6 uses)', async () => {
    const ks: typeof import('ts-mls/keySchedule.js', { with: { 'resolution-mode': 'import' } }) = await import('ts-mls/keySchedule.js');
    const gcm: typeof import('ts-mls/groupContext.js', { with: { 'resolution-mode': 'import' } }) = await import('ts-mls/groupContext.js');
    for (const v of vectors<{ group_id: string; initial_init_secret: string; epochs: KeyScheduleEpoch[] }>('key-schedule')) {
      let initSecret = hex(v.initial_init_secret);
      for (const [index, epoch] of v.epochs.entries()) {
        const gc = {
          version: 'mls10' as const, cipherSuite: suite.name, groupId: hex(v.group_id), epoch: BigInt(index),
          treeHash: hex(epoch.tree_hash), confirmedTranscriptHash: hex(epoch.confirmed_transcript_hash), extensions: [],
        };
        assert.equal(toHex(gcm.encodeGroupContext(gc)), epoch.group_context);
        const r = await ks.initializeEpoch(initSecret, hex(epoch.commit_secret), gc, hex(epoch.psk_secret), suite.kdf);
        assert.equal(toHex(r.joinerSecret), epoch.joiner_secret);
        assert.equal(toHex(r.welcomeSecret), epoch.welcome_secret);
        assert.equal(toHex(r.encryptionSecret), epoch.encryption_secret);
        assert.equal(toHex(r.keySchedule.initSecret), epoch.init_secret);
        assert.equal(toHex(r.keySchedule.senderDataSecret), epoch.sender_data_secret);
        assert.equal(toHex(r.keySchedule.exporterSecret), epoch.exporter_secret);
        assert.equal(toHex(r.keySchedule.externalSecret), epoch.external_secret);
        assert.equal(toHex(r.keySchedule.confirmationKey), epoch.confirmation_key);
        assert.equal(toHex(r.keySchedule.membershipKey), epoch.membership_key);
        assert.equal(toHex(r.keySchedule.resumptionPsk), epoch.resumption_psk);
        assert.equal(toHex(r.keySchedule.epochAuthenticator), epoch.epoch_authenticator);
        const { publicKey } = await suite.hpke.deriveKeyPair(hex(epoch.external_secret));
        assert.equal(toHex(await suite.hpke.exportPublicKey(publicKey)), epoch.external_pub);
        const x = epoch.exporter;
        assert.equal(toHex(await mls.lib.mlsExporter(r.keySchedule.exporterSecret, x.label, hex(x.context), x.length, suite)), x.secret);
        initSecret = r.keySchedule.initSecret;
      }
    }
  });

  it('welcome: the group secrets and GroupInfo of a Welcome decrypt, and its confirmation tag and signature verify', async () => {
    const kp: typeof import('ts-mls/keyPackage.js', { with: { 'resolution-mode': 'import' } }) = await import('ts-mls/keyPackage.js');
    const w: typeof import('ts-mls/welcome.js', { with: { 'resolution-mode': 'import' } }) = await import('ts-mls/welcome.js');
    const gi: typeof import('ts-mls/groupInfo.js', { with: { 'resolution-mode': 'import' } }) = await import('ts-mls/groupInfo.js');
    for (const v of vectors<{ init_priv: string; key_package: string; signer_pub: string; welcome: string }>('welcome')) {
      const welcome = mls.lib.decodeMlsMessage(hex(v.welcome), 0)?.[0];
      const keyPackage = mls.lib.decodeMlsMessage(hex(v.key_package), 0)?.[0];
      assert.ok(welcome?.wireformat === 'mls_welcome' && keyPackage?.wireformat === 'mls_key_package');
      const ref = await kp.makeKeyPackageRef(keyPackage.keyPackage, suite.hash);
      const secrets = await w.decryptGroupSecrets(await suite.hpke.importPrivateKey(hex(v.init_priv)), ref, welcome.welcome, suite.hpke);
      assert.ok(secrets);
      const psk = new Uint8Array(suite.kdf.size);
      const info = await w.decryptGroupInfo(welcome.welcome, secrets.joinerSecret, psk, suite);
      assert.ok(info);
      assert.equal(await gi.verifyGroupInfoConfirmationTag(info, secrets.joinerSecret, psk, suite), true);
      assert.equal(await gi.verifyGroupInfoSignature(info, hex(v.signer_pub), suite.signature), true);
    }
  });

  for (const name of ['passive-client-welcome', 'passive-client-handling-commit', 'passive-client-random']) {
    it(`${name}: join from the Welcome, apply every proposal and commit, each epoch authenticator matches`, async () => {
      const rt: typeof import('ts-mls/ratchetTree.js', { with: { 'resolution-mode': 'import' } }) = await import('ts-mls/ratchetTree.js');
      let epochs = 0;
      for (const v of vectors<PassiveClient>(name)) epochs += await passiveClient(mls, rt.decodeRatchetTree, v);
      assert.ok(epochs > 0 || name === 'passive-client-welcome');
    });
  }
});

async function passiveClient(mls: Mls, decodeRatchetTree: (b: Uint8Array, offset: number) => [ClientState['ratchetTree'], number] | undefined, v: PassiveClient): Promise<number> {
  const { lib, suite } = mls;
  const kp = lib.decodeMlsMessage(hex(v.key_package), 0)?.[0];
  const welcome = lib.decodeMlsMessage(hex(v.welcome), 0)?.[0];
  assert.ok(kp?.wireformat === 'mls_key_package' && welcome?.wireformat === 'mls_welcome');
  const privateKeys = { initPrivateKey: hex(v.init_priv), hpkePrivateKey: hex(v.encryption_priv), signaturePrivateKey: hex(v.signature_priv) };
  const tree = v.ratchet_tree === null ? undefined : decodeRatchetTree(hex(v.ratchet_tree), 0)?.[0];
  const psks: Record<string, Uint8Array> = {};
  for (const p of v.external_psks) psks[lib.bytesToBase64(hex(p.psk_id))] = hex(p.psk);
  // ts-mls's default client configuration: the vectors' credentials are not SMC identities.
  let state = await lib.joinGroup(welcome.welcome, kp.keyPackage, privateKeys, lib.makePskIndex(undefined, psks), suite, tree);
  assert.equal(toHex(state.keySchedule.epochAuthenticator), v.initial_epoch_authenticator);
  for (const epoch of v.epochs) {
    for (const bytes of [...epoch.proposals, epoch.commit]) {
      const m = lib.decodeMlsMessage(hex(bytes), 0)?.[0];
      assert.ok(m?.wireformat === 'mls_private_message' || m?.wireformat === 'mls_public_message');
      state = m.wireformat === 'mls_private_message'
        ? (await lib.processPrivateMessage(state, m.privateMessage, lib.makePskIndex(state, psks), suite)).newState
        : (await lib.processPublicMessage(state, m.publicMessage, lib.makePskIndex(state, psks), suite)).newState;
    }
    assert.equal(toHex(state.keySchedule.epochAuthenticator), epoch.epoch_authenticator);
  }
  return v.epochs.length;
}
