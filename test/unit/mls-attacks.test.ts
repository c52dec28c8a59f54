// Attacks on our MLS interface (docs/protocol.md §3), in process against the real ts-mls: a relay
// or network that flips bits, replays or mixes groups, and a modified client that forges a
// KeyPackage binding someone else's identity. Every attack must end in a typed MlsError (or an
// ignored stale message) and leave the member's state able to go on.
import { strict as assert } from 'node:assert';
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { MlsError, MlsGroup, createKeyPackage, readKeyPackage, type Incoming } from '../../src/core/mls';
import { loadMls } from '../../src/core/mls/library';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function pair(): Promise<{ ids: Identity[]; alice: MlsGroup; bob: MlsGroup }> {
  const ids = [generateIdentity(), generateIdentity()];
  const alice = await MlsGroup.create(ids[0]!);
  const kp = await createKeyPackage(ids[1]!);
  const c = await alice.commit({ kind: 'add', keyPackages: [kp.publicBytes] });
  alice.confirmOwnCommit();
  return { ids, alice, bob: await MlsGroup.join(ids[1]!, kp, c.welcome!) };
}

/** Each single-bit flip of `bytes` at a sample of positions is refused or ignored by `g`; never accepted. */
async function everyFlipRefused(g: MlsGroup, bytes: Uint8Array, step: number): Promise<number> {
  let tried = 0;
  for (let i = 0; i < bytes.length; i += step) {
    const bad = Buffer.from(bytes);
    bad[i]! ^= 1 << (i % 8);
    let r: Incoming | undefined;
    try {
      r = await g.process(bad);
    } catch (err) {
      assert.ok(err instanceof MlsError, `byte ${i}: ${String(err)}`);
    }
    assert.ok(r === undefined || r.kind === 'stale', `byte ${i} flipped was accepted as ${r?.kind}`);
    tried++;
  }
  return tried;
}

describe('mls attacks (docs/protocol.md §3)', function () {
  this.timeout(120_000);

  it('a flipped bit anywhere in an application message is refused, and the genuine message still opens', async () => {
    const { alice, bob } = await pair();
    const m = await alice.encrypt(text('the genuine text'), text('id-1'));
    assert.ok(await everyFlipRefused(bob, m, 1) > 200);
    const r = await bob.process(m);
    assert.equal(r.kind === 'application' && new TextDecoder().decode(r.plaintext), 'the genuine text');
  });

  it('a flipped bit in a commit is refused, the epoch does not move, and the genuine commit still applies', async () => {
    const { alice, bob } = await pair();
    const carol = await createKeyPackage(generateIdentity());
    const c = await alice.commit({ kind: 'add', keyPackages: [carol.publicBytes] });
    await everyFlipRefused(bob, c.message, 7);
    assert.equal(bob.epoch, 1n);
    const r = await bob.process(c.message);
    assert.equal(r.kind, 'commit');
    assert.equal(bob.epoch, 2n);
  });

  it('a replayed commit is ignored as stale, a message of another group is refused', async () => {
    const { alice, bob } = await pair();
    const c = await alice.commit({ kind: 'update' });
    await bob.process(c.message);
    alice.confirmOwnCommit();
    assert.equal((await bob.process(c.message)).kind, 'stale');
    const other = await pair();
    const foreign = await other.alice.encrypt(text('elsewhere'));
    await assert.rejects(bob.process(foreign), (e: unknown) => e instanceof MlsError && e.code === 'undecryptable');
    const m = await alice.encrypt(text('still fine'));
    assert.equal((await bob.process(m)).kind, 'application');
  });

  it('a flipped bit in a Welcome is refused', async () => {
    const { alice } = await pair();
    const dave = generateIdentity();
    const kp = await createKeyPackage(dave);
    const c = await alice.commit({ kind: 'add', keyPackages: [kp.publicBytes] });
    const w = c.welcome!;
    for (let i = 0; i < w.length; i += Math.max(1, Math.floor(w.length / 60))) {
      const bad = Buffer.from(w);
      bad[i]! ^= 0x10;
      await assert.rejects(MlsGroup.join(dave, kp, bad), (e: unknown) => e instanceof MlsError, `byte ${i}`);
    }
    assert.equal((await MlsGroup.join(dave, kp, w)).members().length, 3);
  });

  it('a KeyPackage naming bob as its identity but signed by eve\'s key is refused, by our reader and by ts-mls with our config', async () => {
    const { ids, alice } = await pair();
    const eve = generateIdentity();
    const { lib, suite } = await loadMls();
    const forged = await lib.generateKeyPackageWithKey(
      { credentialType: 'basic', identity: new Uint8Array(ids[1]!.publicKey) }, lib.defaultCapabilities(),
      lib.defaultLifetime, [], { signKey: new Uint8Array(eve.seed), publicKey: new Uint8Array(eve.publicKey) }, suite);
    const bytes = lib.encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: forged.publicPackage });
    await assert.rejects(readKeyPackage(bytes), (e: unknown) => e instanceof MlsError && e.code === 'bad_credential');
    await assert.rejects(alice.commit({ kind: 'add', keyPackages: [bytes] }), (e: unknown) => e instanceof MlsError && e.code === 'bad_credential');
    // A KeyPackage whose signature does not verify (bit flipped in the signature) is refused too.
    const kp = await createKeyPackage(generateIdentity());
    const bad = Buffer.from(kp.publicBytes);
    bad[bad.length - 5]! ^= 1;
    await assert.rejects(alice.commit({ kind: 'add', keyPackages: [bad] }), (e: unknown) => e instanceof MlsError);
    assert.equal(alice.pendingCommit, undefined);
  });
});
