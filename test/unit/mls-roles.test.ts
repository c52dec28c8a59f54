// Roles in private rooms (docs/protocol.md §3.5): the roster in the group context, and the rule
// every member applies to every commit before it applies it. Real ts-mls groups; the refused
// commits are made by a member whose own client would not make them (its rule is switched off),
// as a modified client would.
import { strict as assert } from 'node:assert';
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { MlsError, MlsGroup, createKeyPackage, checkRoles, decodeRoster, encodeRoster, type CommitRule } from '../../src/core/mls';

const anything: CommitRule = () => undefined;

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof MlsError && err.code === code);
}

/** alice (admin) with bob, carol, dave; dave's client is modified to make any commit. */
async function room(): Promise<{ ids: Identity[]; groups: MlsGroup[] }> {
  const ids = [generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()];
  const alice = await MlsGroup.create(ids[0]!);
  const groups = [alice];
  for (const [i, id] of ids.slice(1).entries()) {
    const kp = await createKeyPackage(id);
    const c = await alice.commit({ kind: 'add', keyPackages: [kp.publicBytes] });
    for (const g of groups.slice(1)) await g.process(c.message);
    alice.confirmOwnCommit();
    groups.push(await MlsGroup.join(id, kp, c.welcome!, i === 2 ? { rule: anything } : {}));
  }
  return { ids, groups };
}

async function applyAll(message: Uint8Array, groups: MlsGroup[]): Promise<void> {
  for (const g of groups) if (g.pendingCommit?.message !== message) await g.process(message);
}

describe('mls roles (docs/protocol.md §3.5)', function () {
  this.timeout(60_000);

  it('the creator is the only admin; the roster reaches joiners through the Welcome', async () => {
    const { ids, groups } = await room();
    for (const g of groups) assert.deepEqual(g.admins().map((k) => k.toString('hex')), [ids[0]!.publicKey.toString('hex')]);
  });

  it('a non-admin\'s add, removal of another member or self-promotion is refused by every member, and changes nothing', async () => {
    const { ids, groups } = await room();
    const [alice, bob, carol, dave] = groups;
    const eve = await createKeyPackage(generateIdentity());
    for (const intent of [
      { kind: 'add' as const, keyPackages: [eve.publicBytes] },
      { kind: 'remove' as const, identityKeys: [ids[1]!.publicKey] },
      { kind: 'promote' as const, identityKeys: [ids[3]!.publicKey] },
    ]) {
      const bad = await dave!.commit(intent);
      for (const g of [alice!, bob!, carol!]) await rejectsWith(g.process(bad.message), 'rejected_commit');
      dave!.abandonOwnCommit();
      for (const g of groups) assert.equal(g.epoch, 3n);
    }
    // The room goes on: alice's next commit for epoch 3 ends it for everyone, dave included.
    const ok = await alice!.commit({ kind: 'update' });
    await applyAll(ok.message, [bob!, carol!, dave!]);
    alice!.confirmOwnCommit();
    for (const g of groups) assert.equal(g.epoch, 4n);
  });

  it('an admin promotes; the new admin removes; a removed admin is no longer an admin, and a re-add needs the roster pruned first', async () => {
    const { ids, groups } = await room();
    const [alice, bob, carol, dave] = groups;
    const p = await alice!.commit({ kind: 'promote', identityKeys: [ids[1]!.publicKey, ids[2]!.publicKey] });
    await applyAll(p.message, [bob!, carol!, dave!]);
    alice!.confirmOwnCommit();
    assert.equal(dave!.admins().length, 3);
    const r = await bob!.commit({ kind: 'remove', identityKeys: [ids[2]!.publicKey] });
    await applyAll(r.message, [alice!, carol!, dave!]);
    bob!.confirmOwnCommit();
    assert.equal(carol!.removed, true);
    const hex = (keys: Buffer[]): string[] => keys.map((k) => k.toString('hex')).sort();
    for (const g of [alice!, bob!, dave!]) {
      assert.deepEqual(hex(g.admins()), hex([ids[0]!.publicKey, ids[1]!.publicKey]));
      assert.equal(g.roster().length, 3, 'the roster entry of carol is inert until the next roster change');
    }
    // Adding carol back while the roster lists her is refused, by the adder and by everyone.
    const carolKp = await createKeyPackage(ids[2]!);
    await rejectsWith(alice!.commit({ kind: 'add', keyPackages: [carolKp.publicBytes] }), 'not_allowed');
    // Pruning is a promote with no keys; then the add is allowed and carol is back as a plain member.
    const prune = await alice!.commit({ kind: 'promote', identityKeys: [] });
    await applyAll(prune.message, [bob!, dave!]);
    alice!.confirmOwnCommit();
    assert.equal(dave!.roster().length, 2);
    const add = await alice!.commit({ kind: 'add', keyPackages: [carolKp.publicBytes] });
    await applyAll(add.message, [bob!, dave!]);
    alice!.confirmOwnCommit();
    const carol2 = await MlsGroup.join(ids[2]!, carolKp, add.welcome!);
    assert.equal(carol2.isAdmin(ids[2]!.publicKey), false);
  });

  it('the rule on hand-made commits: pruning, roster changes alone, no admin, undecodable rosters, other proposals', () => {
    const a = generateIdentity().publicKey;
    const b = generateIdentity().publicKey;
    const c = generateIdentity().publicKey;
    const members = [a, b].map((identityKey, leafIndex) => ({ leafIndex, identityKey, fingerprint: '' }));
    const base = { committer: members[0]!, members, roster: [a], adds: [], removes: [], newRoster: undefined, others: [] };
    const removeB = [{ member: members[1]!, proposer: members[0]! }];
    assert.equal(checkRoles({ ...base, removes: removeB }), undefined);
    assert.match(checkRoles({ ...base, removes: removeB, newRoster: [a] }) ?? '', /together/);
    assert.match(checkRoles({ ...base, newRoster: [] }) ?? '', /no admin/);
    assert.match(checkRoles({ ...base, newRoster: [a, c] }) ?? '', /not a member/);
    assert.match(checkRoles({ ...base, newRoster: null }) ?? '', /does not decode/);
    assert.match(checkRoles({ ...base, others: ['psk'] }) ?? '', /psk/);
    assert.match(checkRoles({ ...base, committer: members[1]!, newRoster: [a, b] }) ?? '', /only an admin/);
    assert.match(checkRoles({ ...base, roster: [a, c], adds: [c] }) ?? '', /roster still lists/);
    assert.equal(checkRoles({ ...base, committer: members[1]!, removes: [{ member: members[1]!, proposer: members[1]! }] }), undefined);
  });

  it('anyone leaves; when the last admin leaves, the member at the lowest leaf is the admin', async () => {
    const { ids, groups } = await room();
    const [alice, bob, carol, dave] = groups;
    const leave = await alice!.proposeLeave();
    await applyAll(leave, [bob!, carol!, dave!]);
    // carol (not an admin) commits alice's leave.
    const c = await carol!.commit({ kind: 'update' });
    await applyAll(c.message, [alice!, bob!, dave!]);
    carol!.confirmOwnCommit();
    assert.equal(alice!.removed, true);
    for (const g of [bob!, carol!, dave!]) assert.deepEqual(g.admins().map((k) => k.toString('hex')), [ids[1]!.publicKey.toString('hex')]);
    // bob, now the admin, can remove dave.
    const r = await bob!.commit({ kind: 'remove', identityKeys: [ids[3]!.publicKey] });
    await applyAll(r.message, [carol!, dave!]);
    bob!.confirmOwnCommit();
    assert.equal(dave!.removed, true);
  });

  it('the roster encoding: sorted 32-byte keys, none twice, never empty', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    assert.deepEqual(decodeRoster(encodeRoster([b, a, b])), [a, b]);
    assert.equal(decodeRoster(Buffer.concat([b, a])), undefined);
    assert.equal(decodeRoster(Buffer.concat([a, a])), undefined);
    assert.equal(decodeRoster(new Uint8Array(0)), undefined);
    assert.equal(decodeRoster(new Uint8Array(33)), undefined);
  });
});
