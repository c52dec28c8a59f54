// Our MLS interface (src/core/mls/, docs/protocol.md §3) with three and more members, through
// the real ts-mls and node:crypto: adds, removes, updates, forward secrecy after a removal,
// healing after an update, export/import, and two commits racing for one epoch (§3.3).
import { strict as assert } from 'node:assert';
import { fingerprint, generateIdentity, type Identity } from '../../src/core/crypto/identity';
import {
  MlsError, MlsGroup, createKeyPackage, exportOwnKeyPackage, importOwnKeyPackage, readKeyPackage, type Incoming,
} from '../../src/core/mls';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** Delivers `message` (at its seq) to every group in `to`, in order, as the relay would. */
async function deliver(message: Uint8Array, to: MlsGroup[]): Promise<Incoming[]> {
  const out: Incoming[] = [];
  for (const g of to) out.push(await g.process(message));
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof MlsError && err.code === code);
}

interface Room { ids: Identity[]; groups: MlsGroup[] }

/** alice creates a group and adds bob and carol, each joining from the Welcome. */
async function threeMembers(): Promise<Room> {
  const ids = [generateIdentity(), generateIdentity(), generateIdentity()];
  const alice = await MlsGroup.create(ids[0]!);
  const groups = [alice];
  for (const id of ids.slice(1)) {
    const kp = await createKeyPackage(id);
    const commit = await alice.commit({ kind: 'add', keyPackages: [kp.publicBytes] });
    await deliver(commit.message, groups.slice(1));
    alice.confirmOwnCommit();
    assert.ok(commit.welcome);
    groups.push(await MlsGroup.join(id, kp, commit.welcome));
  }
  return { ids, groups };
}

describe('mls: our interface over ts-mls (docs/protocol.md §3)', function () {
  this.timeout(60_000);

  it('three members: each joins from a Welcome, all agree on the epoch, the members and their SMC identities', async () => {
    const { ids, groups } = await threeMembers();
    for (const g of groups) {
      assert.equal(g.epoch, 2n);
      assert.deepEqual(g.members().map((m) => m.identityKey.toString('hex')), ids.map((id) => id.publicKey.toString('hex')));
      assert.deepEqual(Buffer.from(g.epochAuthenticator()), Buffer.from(groups[0]!.epochAuthenticator()));
    }
    assert.equal(groups[1]!.self().leafIndex, 1);
  });

  it('messages flow, carry their sender and authenticated data, and a member does not open its own', async () => {
    const { ids, groups: [alice, bob, carol] } = await threeMembers();
    const m = await bob!.encrypt(text('salut'), text('msg-id-1'));
    for (const g of [alice!, carol!]) {
      const r = await g.process(m);
      assert.equal(r.kind, 'application');
      if (r.kind !== 'application') return;
      assert.equal(str(r.plaintext), 'salut');
      assert.equal(str(r.authenticatedData), 'msg-id-1');
      assert.ok(r.sender.identityKey.equals(ids[1]!.publicKey));
    }
    // Replaying it is refused (its generation's key is used up): a relay cannot show it twice.
    await rejectsWith(alice!.process(m), 'undecryptable');
    // Its sender cannot open it either (§3.8: own messages go to the history store when sent).
    await rejectsWith(bob!.process(m), 'undecryptable');
  });

  it('a removed member is told so and cannot open anything sent after the removal; the others go on', async () => {
    const { ids, groups: [alice, bob, carol] } = await threeMembers();
    const commit = await alice!.commit({ kind: 'remove', identityKeys: [ids[2]!.publicKey] });
    const [atBob, atCarol] = await deliver(commit.message, [bob!, carol!]);
    alice!.confirmOwnCommit();
    assert.equal(atBob!.kind, 'commit');
    if (atBob!.kind === 'commit') assert.deepEqual(atBob!.removed.map((m) => m.fingerprint), [carol!.self().fingerprint]);
    assert.equal(atCarol!.kind, 'removed');
    assert.equal(carol!.removed, true);
    const after = await alice!.encrypt(text('carol is gone'));
    const atBob2 = await bob!.process(after);
    assert.equal(atBob2.kind === 'application' && str(atBob2.plaintext), 'carol is gone');
    await rejectsWith(carol!.process(after), 'not_allowed');
    await rejectsWith(carol!.encrypt(text('still here?')), 'not_allowed');
    assert.equal(bob!.members().length, 2);
  });

  it('a copy of carol\'s state from before her removal cannot open what is sent after it', async () => {
    const { ids, groups: [alice, bob, carol] } = await threeMembers();
    const copy = await MlsGroup.import(carol!.export(), ids[2]!);
    const commit = await alice!.commit({ kind: 'remove', identityKeys: [ids[2]!.publicKey] });
    await deliver(commit.message, [bob!, carol!]);
    alice!.confirmOwnCommit();
    const after = await alice!.encrypt(text('secret after removal'));
    await rejectsWith(copy.process(after), 'undecryptable');
    // The copy may apply the removal commit itself (it was a member of that epoch); it then knows it is removed.
    const r = await copy.process(commit.message);
    assert.equal(r.kind, 'removed');
    await rejectsWith(copy.process(after), 'not_allowed');
  });

  it('healing: a copy of bob\'s state cannot open what is sent after bob\'s update', async () => {
    const { ids, groups: [alice, bob, carol] } = await threeMembers();
    const stolen = await MlsGroup.import(bob!.export(), ids[1]!);
    const before = await alice!.encrypt(text('before the update'));
    const r0 = await stolen.process(before);
    assert.equal(r0.kind === 'application' && str(r0.plaintext), 'before the update', 'the copy reads the epoch it was taken in');
    await bob!.process(before);
    await carol!.process(before);

    const update = await bob!.commit({ kind: 'update' });
    await deliver(update.message, [alice!, carol!]);
    const own = await bob!.process(update.message);
    assert.equal(own.kind === 'commit' && own.own, true);
    assert.equal(alice!.epoch, 3n);

    const after = await carol!.encrypt(text('after the update'));
    for (const g of [alice!, bob!]) {
      const r = await g.process(after);
      assert.equal(r.kind === 'application' && str(r.plaintext), 'after the update');
    }
    // The copy cannot follow bob's own commit (its path secrets were never encrypted to bob's old keys)...
    await rejectsWith(stolen.process(update.message), 'undecryptable');
    // ...so it stays in the old epoch and the new message is of an epoch it does not have.
    await rejectsWith(stolen.process(after), 'undecryptable');
  });

  it('export and import round trip: the imported member reads and writes as before, its pending commit included', async () => {
    const { ids, groups: [alice, bob, carol] } = await threeMembers();
    const bytes = bob!.export();
    assert.ok(!Buffer.from(bytes).includes(ids[1]!.seed), 'the export holds no identity seed');
    const bob2 = await MlsGroup.import(bytes, ids[1]!);
    assert.equal(bob2.epoch, bob!.epoch);
    assert.deepEqual(bob2.members().map((m) => m.fingerprint), bob!.members().map((m) => m.fingerprint));
    const m = await alice!.encrypt(text('hello again'));
    const r = await bob2.process(m);
    assert.equal(r.kind === 'application' && str(r.plaintext), 'hello again');
    const reply = await bob2.encrypt(text('reply'));
    const rc = await carol!.process(await (async () => { await carol!.process(m); return reply; })());
    assert.equal(rc.kind === 'application' && str(rc.plaintext), 'reply');

    // A member that crashes right after sending a commit recognises it when the relay delivers it.
    const pending = await bob2.commit({ kind: 'update' });
    const bob3 = await MlsGroup.import(bob2.export(), ids[1]!);
    assert.ok(bob3.pendingCommit);
    const own = await bob3.process(pending.message);
    assert.equal(own.kind === 'commit' && own.own, true);
    await alice!.process(pending.message);
    const m2 = await alice!.encrypt(text('after bob3 updated'));
    const r2 = await bob3.process(m2);
    assert.equal(r2.kind === 'application' && str(r2.plaintext), 'after bob3 updated');

    // Another identity cannot import bob's state; damaged bytes are refused clearly.
    await rejectsWith(MlsGroup.import(bytes, ids[0]!), 'bad_state');
    await rejectsWith(MlsGroup.import(bytes.subarray(0, bytes.length - 10), ids[1]!), 'bad_state');
    await rejectsWith(MlsGroup.import(new Uint8Array([9, 9, 9]), ids[1]!), 'bad_state');
  });

  it('two commits for the same epoch: the first in seq order is applied by all, the second ignored, and the loser\'s retry works', async () => {
    const { ids, groups: [alice, bob, carol] } = await threeMembers();
    // alice makes bob an admin too (§3.5), so that both may change the membership.
    const promote = await alice!.commit({ kind: 'promote', identityKeys: [ids[1]!.publicKey] });
    await deliver(promote.message, [bob!, carol!]);
    alice!.confirmOwnCommit();
    assert.equal(bob!.isAdmin(ids[1]!.publicKey), true);
    const dave = generateIdentity();
    const daveKp = await createKeyPackage(dave);
    // alice removes carol while bob adds dave, both in epoch 3. The relay orders alice's first.
    const first = await alice!.commit({ kind: 'remove', identityKeys: [ids[2]!.publicKey] });
    const second = await bob!.commit({ kind: 'add', keyPackages: [daveKp.publicBytes] });
    // seq n: alice's commit.
    const atAlice = await alice!.process(first.message);
    const atBob = await bob!.process(first.message);
    const atCarol = await carol!.process(first.message);
    assert.equal(atAlice.kind === 'commit' && atAlice.own, true);
    assert.equal(atBob.kind, 'commit');
    assert.equal(atCarol.kind, 'removed');
    if (atBob.kind !== 'commit') return;
    assert.equal(atBob.lostIntent?.kind, 'add', 'bob learns that his commit lost');
    assert.equal(bob!.pendingCommit, undefined);
    // seq n+1: bob's commit, for the ended epoch 3: ignored by everyone, including bob.
    assert.equal((await alice!.process(second.message)).kind, 'stale');
    assert.equal((await bob!.process(second.message)).kind, 'stale');
    assert.equal(alice!.epoch, 4n);
    assert.equal(bob!.epoch, 4n);
    // bob retries his intent in epoch 4; it is applied by alice; dave joins from the new Welcome.
    const retry = await bob!.commit(atBob.lostIntent!);
    const r = await alice!.process(retry.message);
    assert.deepEqual(r.kind === 'commit' && r.added.map((m) => m.fingerprint), [fingerprint(dave.publicKey)]);
    bob!.confirmOwnCommit();
    const daveGroup = await MlsGroup.join(dave, daveKp, retry.welcome!);
    assert.equal(daveGroup.epoch, 5n);
    assert.deepEqual(daveGroup.members().map((m) => m.fingerprint), alice!.members().map((m) => m.fingerprint));
    assert.equal(alice!.members().length, 3);
    // The Welcome of the losing commit does not open a group anyone is in.
    const lost = await MlsGroup.join(dave, daveKp, second.welcome!);
    assert.equal(lost.epoch, 4n, 'the lost Welcome opens only the abandoned branch');
    const m = await alice!.encrypt(text('welcome dave'));
    await rejectsWith(lost.process(m), 'undecryptable');
    const d = await daveGroup.process(m);
    assert.equal(d.kind === 'application' && str(d.plaintext), 'welcome dave');
  });

  it('a commit the room rules refuse (a non-admin removing someone) changes nothing, and the next valid commit for that epoch ends it', async () => {
    const { ids, groups: [alice, bob, carol] } = await threeMembers();
    const bad = await bob!.commit({ kind: 'remove', identityKeys: [ids[2]!.publicKey] });
    await rejectsWith(alice!.process(bad.message), 'rejected_commit');
    await rejectsWith(carol!.process(bad.message), 'rejected_commit');
    bob!.abandonOwnCommit();
    assert.equal(alice!.epoch, 2n);
    assert.equal(carol!.removed, false);
    const good = await carol!.commit({ kind: 'update' });
    await deliver(good.message, [alice!, bob!]);
    carol!.confirmOwnCommit();
    assert.deepEqual([alice!.epoch, bob!.epoch, carol!.epoch], [3n, 3n, 3n]);
  });

  it('a member leaves by proposal; the next commit of anyone applies it', async () => {
    const { groups: [alice, bob, carol] } = await threeMembers();
    const leave = await carol!.proposeLeave();
    const [pa, pb] = await deliver(leave, [alice!, bob!]);
    assert.equal(pa!.kind, 'proposal');
    assert.equal(pb!.kind === 'proposal' && pb!.sender.fingerprint, carol!.self().fingerprint);
    const c = await bob!.commit({ kind: 'update' });
    const ra = await alice!.process(c.message);
    assert.equal(ra.kind === 'commit' && ra.removed[0]?.fingerprint, carol!.self().fingerprint);
    const rc = await carol!.process(c.message);
    assert.equal(rc.kind, 'removed');
    bob!.confirmOwnCommit();
    assert.equal(bob!.members().length, 2);
  });

  it('refuses bad input clearly: junk bytes, a KeyPackage of a member already in, a Welcome for another KeyPackage', async () => {
    const { ids, groups: [alice] } = await threeMembers();
    await rejectsWith(alice!.process(new Uint8Array([1, 2, 3])), 'malformed');
    await rejectsWith(readKeyPackage(new Uint8Array(100)), 'malformed');
    const bobAgain = await createKeyPackage(ids[1]!);
    await rejectsWith(alice!.commit({ kind: 'add', keyPackages: [bobAgain.publicBytes] }), 'not_allowed');
    await rejectsWith(alice!.commit({ kind: 'remove', identityKeys: [ids[0]!.publicKey] }), 'not_allowed');
    const eve = generateIdentity();
    const eveKp = await createKeyPackage(eve);
    const dave = generateIdentity();
    const daveKp = await createKeyPackage(dave);
    const c = await alice!.commit({ kind: 'add', keyPackages: [daveKp.publicBytes] });
    await rejectsWith(MlsGroup.join(eve, eveKp, c.welcome!), 'bad_welcome');
    // A saved KeyPackage round-trips, and only for its own identity.
    const saved = exportOwnKeyPackage(daveKp);
    assert.ok(!Buffer.from(saved).includes(dave.seed));
    const restored = await importOwnKeyPackage(saved, dave);
    const daveGroup = await MlsGroup.join(dave, restored, c.welcome!);
    assert.equal(daveGroup.members().length, 4);
    await rejectsWith(importOwnKeyPackage(saved, eve), 'bad_state');
  });
});
