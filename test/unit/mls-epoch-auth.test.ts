// SMC's own derivations for private rooms (docs/protocol.md §3.6) against the vectors that
// test/fixtures/mls/make-v3-vectors.py computes independently (Python's cryptography, its own
// MLS-Exporter checked against the mlswg key-schedule vector), and the relay-side checks of a
// rotation, a reset and a join proof under an epoch key refusing every changed field.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeB64u, encodeB64u } from '../../src/core/crypto/b64u';
import { generateIdentity } from '../../src/core/crypto/identity';
import { deriveRoomAuthKey, joinProofMessage, makeJoinProof, roomIdForAuthKey } from '../../src/core/crypto/roomAuth';
import {
  MlsGroup, createKeyPackage, deriveEpochAuthSeed, inviteId, inviteLobbyKey, epochAuthKey, makeReset, makeRotation, privateRoomId, resetMessage, rotationMessage,
  verifyReset, verifyRotation,
} from '../../src/core/mls';

interface V3Reset { room: string; challenge: string; epoch: number; refuse: number; auth: string; signed_hex: string; owner: string; sig: string }

interface V3 {
  epoch_auth: { epoch: number; exporter_secret_hex: string; auth_seed_hex: string; auth_pub_b64u: string }[];
  room: { owner_seed_hex: string; owner_pub_b64u: string; room: string };
  reset: V3Reset;
  repair: V3Reset;
  rotation: { room: string; next_epoch: number; next: string; signed_hex: string; rot: string };
  invite: { secret_hex: string; lobby_key_hex: string; lobby_room: string; invite_id: string };
  join_proof: { room: string; epoch: number; challenge: string; signed_hex: string; auth: string; proof: string };
}

const v: V3 = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'mls', 'smc-v3-vectors.json'), 'utf8')) as V3;
const flip = (s: string): Buffer => { const b = decodeB64u(s); b[5]! ^= 1; return b; };

describe('mls epoch auth (docs/protocol.md §3.6) against smc-v3-vectors.json', () => {
  it('the epoch room-auth seed is MLS-Exporter("smc/v3 room-auth", "", 32), and its key pair', async () => {
    for (const e of v.epoch_auth) {
      const seed = await deriveEpochAuthSeed(Buffer.from(e.exporter_secret_hex, 'hex'));
      assert.equal(seed.toString('hex'), e.auth_seed_hex);
      assert.equal(encodeB64u(epochAuthKey(seed).publicKey), e.auth_pub_b64u);
    }
  });

  it('the private room id is bound to the owner key', () => {
    const owner = epochAuthKey(Buffer.from(v.room.owner_seed_hex, 'hex'));
    assert.equal(encodeB64u(owner.publicKey), v.room.owner_pub_b64u);
    assert.equal(privateRoomId(owner.publicKey), v.room.room);
  });

  it('the owner\'s reset (creation and repair): bytes over the connection\'s challenge, signature, and the relay\'s check refusing a changed field', () => {
    const owner = epochAuthKey(Buffer.from(v.room.owner_seed_hex, 'hex'));
    const auths = v.epoch_auth.map((e) => epochAuthKey(Buffer.from(e.auth_seed_hex, 'hex')));
    for (const r of [v.reset, v.repair]) {
      const auth = auths[r.epoch]!;
      const [epoch, refuse] = [BigInt(r.epoch), BigInt(r.refuse)];
      assert.equal(resetMessage(r.challenge, r.room, epoch, auth.publicKey, refuse).toString('hex'), r.signed_hex);
      const made = makeReset(owner, r.challenge, r.room, epoch, auth, refuse);
      assert.deepEqual(made, { owner: r.owner, auth: r.auth, sig: r.sig });
      const ownerPub = decodeB64u(r.owner);
      const authPub = decodeB64u(r.auth);
      const sig = decodeB64u(r.sig);
      assert.equal(verifyReset(ownerPub, r.challenge, r.room, epoch, authPub, refuse, sig), true);
      assert.equal(verifyReset(ownerPub, r.challenge, r.room, epoch + 1n, authPub, refuse, sig), false, 'another epoch');
      assert.equal(verifyReset(ownerPub, r.challenge, r.room, epoch, flip(r.auth), refuse, sig), false, 'another key');
      assert.equal(verifyReset(ownerPub, r.challenge, r.room, epoch, authPub, refuse + 1n, sig), false, 'another refused seq');
      assert.equal(verifyReset(ownerPub, encodeB64u(Buffer.alloc(32, 7)), r.room, epoch, authPub, refuse, sig), false, 'another connection\'s challenge (a replay)');
      assert.equal(verifyReset(ownerPub, r.challenge, r.room, epoch, authPub, refuse, flip(r.sig)), false, 'a changed signature');
      const stranger = epochAuthKey(generateIdentity().seed);
      const forged = makeReset(stranger, r.challenge, r.room, epoch, auth, refuse);
      assert.equal(verifyReset(stranger.publicKey, r.challenge, r.room, epoch, authPub, refuse, decodeB64u(forged.sig)), false, 'an owner key of another room');
    }
  });

  it('the rotation: the current epoch key vouches for the next; the relay\'s check refuses a changed field', () => {
    const auth0 = epochAuthKey(Buffer.from(v.epoch_auth[0]!.auth_seed_hex, 'hex'));
    const auth1 = epochAuthKey(Buffer.from(v.epoch_auth[1]!.auth_seed_hex, 'hex'));
    assert.equal(rotationMessage(v.rotation.room, 1n, auth1.publicKey).toString('hex'), v.rotation.signed_hex);
    assert.deepEqual(makeRotation(auth0, v.rotation.room, 1n, auth1), { next: v.rotation.next, rot: v.rotation.rot });
    const rot = decodeB64u(v.rotation.rot);
    assert.equal(verifyRotation(auth0.publicKey, v.rotation.room, 1n, auth1.publicKey, rot), true);
    assert.equal(verifyRotation(auth1.publicKey, v.rotation.room, 1n, auth1.publicKey, rot), false, 'signed by a key that is not current');
    assert.equal(verifyRotation(auth0.publicKey, v.rotation.room, 2n, auth1.publicKey, rot), false, 'another epoch');
    assert.equal(verifyRotation(auth0.publicKey, 'AAAAAAAAAAAAAAAAAAAAAA', 1n, auth1.publicKey, rot), false, 'another room');
    assert.equal(verifyRotation(auth0.publicKey, v.rotation.room, 1n, flip(v.rotation.next), rot), false, 'another next key');
  });

  it('the join proof under an epoch key is §1.9\'s, signed by that epoch\'s key', () => {
    const auth1 = epochAuthKey(Buffer.from(v.epoch_auth[1]!.auth_seed_hex, 'hex'));
    const j = v.join_proof;
    assert.equal(joinProofMessage(j.challenge, j.room).toString('hex'), j.signed_hex);
    assert.deepEqual(makeJoinProof(auth1, j.challenge, j.room), { auth: j.auth, proof: j.proof });
  });

  it('an invite\'s lobby key (a link room, whose id follows §2.2) and its id (§3.4)', () => {
    const secret = Buffer.from(v.invite.secret_hex, 'hex');
    const lobby = inviteLobbyKey(secret);
    assert.equal(lobby.toString('hex'), v.invite.lobby_key_hex);
    assert.equal(roomIdForAuthKey(deriveRoomAuthKey(lobby).publicKey), v.invite.lobby_room);
    assert.equal(inviteId(secret), v.invite.invite_id);
    assert.throws(() => inviteId(secret.subarray(1)), /32 bytes/);
  });

  it('a group\'s epochAuthSeed follows its epochs, and every member derives the same one', async () => {
    const [ia, ib] = [generateIdentity(), generateIdentity()];
    const alice = await MlsGroup.create(ia);
    const s0 = await alice.epochAuthSeed();
    const kp = await createKeyPackage(ib);
    const c = await alice.commit({ kind: 'add', keyPackages: [kp.publicBytes] });
    alice.confirmOwnCommit();
    const bob = await MlsGroup.join(ib, kp, c.welcome!);
    const s1 = await alice.epochAuthSeed();
    assert.ok(!s0.equals(s1));
    assert.ok(s1.equals(await bob.epochAuthSeed()));
  });
});
