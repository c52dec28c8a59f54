// Every vector of test/fixtures/smc-vectors.json (protocol v1, docs/protocol.md §2) and of
// smc-v2-vectors.json (v2: the room-auth key, the v2 room id and the join proof, §1.9, §2.2)
// reproduced through the public API, and every must_fail case rejected. The v1 envelope vectors
// name a v1 room id, so they are sealed and opened with the envelope functions and that id.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeB64u, deriveMessageKey, deriveRoomAuthKey, deriveRoomId, deriveRoomIdV1, encodeB64u, fingerprint, identityFromSeed,
  isWeakPassphrase, joinProofMessage, makeJoinProof, PASSPHRASE_WARN_LENGTH, Payload, PRESENCE_ID, roomIdForAuthKey,
  roomKeyFromPassphrase, RoomCipher, shortFingerprint, verifyJoinProof,
} from '../../src/core/crypto';
import { openEnvelope, sealEnvelope } from '../../src/core/crypto/envelope';
import { encodePayload } from '../../src/core/crypto/payload';
import { formatInvite, parseInvite } from '../../src/core/crypto/invite';
import { aesKey } from '../../src/core/crypto/primitives';

interface Vectors {
  derivation: { K_hex: string; room: string; mkey_hex: string };
  identity: { seed_hex: string; pub_hex: string; fingerprint: string };
  envelope: { K_hex: string; room: string; id: string; nonce_hex: string; payload: string; body: string };
  presence_tag: { K_hex: string; room: string; id: string; nonce_hex: string; payload: string; tag: string };
  passphrase: { name: string; passphrase: string; K_hex: string; room: string };
  invite: { host: string; port: number; name: string; K_hex: string; uri: string };
  must_fail: { why: string; room: string; id: string; body: string }[];
}

interface V2Vectors {
  room_auth: { K_hex: string; auth_seed_hex: string; auth_pub_b64u: string; room: string; mkey_hex: string };
  join_proof: { room: string; challenge: string; signed_hex: string; auth: string; proof: string; frame: string };
  envelope: { K_hex: string; room: string; id: string; identity_seed_hex: string; nonce_hex: string; payload: string; body: string };
}

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures');
const v = JSON.parse(readFileSync(join(fixtures, 'smc-vectors.json'), 'utf8')) as Vectors;
const v2 = JSON.parse(readFileSync(join(fixtures, 'smc-v2-vectors.json'), 'utf8')) as V2Vectors;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');
/** The v1 message key of a vector's K, as a KeyObject. */
const v1Mkey = (kHex: string) => aesKey(deriveMessageKey(hex(kHex)));

describe('SMC vectors (smc-vectors.json)', () => {
  const identity = identityFromSeed(hex(v.identity.seed_hex));

  it('derives the v1 room id and the message key (§2.2)', () => {
    const k = hex(v.derivation.K_hex);
    assert.equal(deriveRoomIdV1(k), v.derivation.room);
    assert.equal(deriveMessageKey(k).toString('hex'), v.derivation.mkey_hex);
  });

  it('derives the identity public key and fingerprint (§2.1)', () => {
    assert.equal(identity.publicKey.toString('hex'), v.identity.pub_hex);
    assert.equal(fingerprint(identity.publicKey), v.identity.fingerprint);
    assert.equal(shortFingerprint(identity.publicKey), v.identity.fingerprint.slice(0, 9));
  });

  it('seals the envelope vector byte for byte and opens it (§2.3-2.4)', () => {
    const mkey = v1Mkey(v.envelope.K_hex);
    assert.equal(deriveRoomIdV1(hex(v.envelope.K_hex)), v.envelope.room);
    const payload = JSON.parse(v.envelope.payload) as Payload;
    const sealed = sealEnvelope(mkey, v.envelope.room, v.envelope.id, encodePayload(payload), identity, hex(v.envelope.nonce_hex));
    assert.equal(sealed, v.envelope.body);
    const opened = openEnvelope(mkey, v.envelope.room, v.envelope.id, v.envelope.body);
    assert.ok(opened.ok);
    assert.deepEqual(opened.payload, payload);
    assert.equal(opened.publicKey.toString('hex'), v.identity.pub_hex);
    assert.equal(opened.fingerprint, v.identity.fingerprint);
  });

  it('seals the presence tag vector byte for byte and opens it (§2.5)', () => {
    const mkey = v1Mkey(v.presence_tag.K_hex);
    const room = v.presence_tag.room;
    const p = JSON.parse(v.presence_tag.payload) as Payload;
    assert.equal(sealEnvelope(mkey, room, PRESENCE_ID, encodePayload(p), identity, hex(v.presence_tag.nonce_hex)), v.presence_tag.tag);
    const opened = openEnvelope(mkey, room, PRESENCE_ID, v.presence_tag.tag);
    assert.ok(opened.ok);
    assert.deepEqual(opened.payload, p);
    assert.equal(opened.fingerprint, v.identity.fingerprint);
    // A tag is not a message, and a message is not a tag.
    assert.equal(openEnvelope(mkey, room, v.envelope.id, v.presence_tag.tag).ok, false);
    assert.equal(openEnvelope(mkey, room, PRESENCE_ID, v.envelope.body).ok, false);
  });

  it('derives the passphrase room (§2.6)', async () => {
    const k = await roomKeyFromPassphrase(v.passphrase.name, v.passphrase.passphrase);
    assert.equal(k.toString('hex'), v.passphrase.K_hex);
    assert.equal(deriveRoomIdV1(k), v.passphrase.room);
  });

  it('normalises name and passphrase with NFKC, so the same words typed differently give the same room (§2.6)', async () => {
    // A full-width 'Ｔ' in the name and an ideographic space in the passphrase are NFKC-equal to the vector's.
    const k = await roomKeyFromPassphrase('\uFF34eam Chat', v.passphrase.passphrase.replace(' ', '\u3000'));
    assert.equal(k.toString('hex'), v.passphrase.K_hex);
    await assert.rejects(roomKeyFromPassphrase('Team Chat', ''), /empty/);
  });

  it('warns below 16 characters of passphrase (§2.6)', () => {
    assert.equal(PASSPHRASE_WARN_LENGTH, 16);
    assert.equal(isWeakPassphrase('a'.repeat(15)), true);
    assert.equal(isWeakPassphrase('a'.repeat(16)), false);
    assert.equal(isWeakPassphrase('😀'.repeat(15)), true);
    assert.equal(isWeakPassphrase(v.passphrase.passphrase), false);
  });

  it('formats and parses the invite (§2.7)', () => {
    const inv = { host: v.invite.host, port: v.invite.port, name: v.invite.name, key: hex(v.invite.K_hex) };
    assert.equal(formatInvite(inv), v.invite.uri);
    assert.deepEqual(parseInvite(v.invite.uri), inv);
  });

  describe('must_fail', () => {
    const mkey = v1Mkey(v.envelope.K_hex);
    for (const c of v.must_fail) {
      it(`rejects: ${c.why}`, () => {
        if (c.room === v.envelope.room) {
          const result = openEnvelope(mkey, c.room, c.id, c.body);
          assert.ok(!result.ok);
          // Each case stops at the step of §2.4 meant to catch it: the version byte at step 1,
          // a flipped byte or another id at step 2 (the tag, with the id in the aad).
          assert.match(result.reason, /version/.test(c.why) ? /unknown envelope version/ : /decryption failed/);
        } else {
          // Moved to another room: a member of that room holds another key, and even with this
          // room's message key the other room id in the aad makes decryption fail.
          assert.equal(openEnvelope(v1Mkey('ff'.repeat(32)), c.room, c.id, c.body).ok, false);
          const sameKeyOtherRoom = openEnvelope(mkey, c.room, c.id, c.body);
          assert.equal(sameKeyOtherRoom.ok, false);
        }
      });
    }
  });

  it('round-trips b64u of the vector key', () => {
    assert.equal(decodeB64u(encodeB64u(hex(v.invite.K_hex))).toString('hex'), v.invite.K_hex);
  });
});

describe('SMC v2 vectors (smc-v2-vectors.json)', () => {
  const k = hex(v2.room_auth.K_hex);

  it('derives the room-auth key and the v2 room id bound to it (§2.2)', () => {
    const auth = deriveRoomAuthKey(k);
    assert.equal(encodeB64u(auth.publicKey), v2.room_auth.auth_pub_b64u);
    assert.equal(roomIdForAuthKey(auth.publicKey), v2.room_auth.room);
    assert.equal(deriveRoomId(k), v2.room_auth.room);
    assert.equal(new RoomCipher(k).room, v2.room_auth.room);
    // The message key is the same derivation as in v1.
    assert.equal(deriveMessageKey(k).toString('hex'), v2.room_auth.mkey_hex);
  });

  it('makes the join proof byte for byte and verifies it (§1.9)', () => {
    const j = v2.join_proof;
    assert.equal(joinProofMessage(j.challenge, j.room).toString('hex'), j.signed_hex);
    // Ed25519 signatures are deterministic (RFC 8032), so the proof is reproducible.
    assert.deepEqual(makeJoinProof(deriveRoomAuthKey(k), j.challenge, j.room), { auth: j.auth, proof: j.proof });
    assert.deepEqual(new RoomCipher(k).joinProof(j.challenge), { auth: j.auth, proof: j.proof });
    assert.equal(verifyJoinProof(j.room, j.challenge, j.auth, j.proof), true);
    const frame = JSON.parse(j.frame) as { auth: string; proof: string; room: string };
    assert.equal(verifyJoinProof(frame.room, j.challenge, frame.auth, frame.proof), true);
  });

  it('refuses a proof for another challenge, another room, another key, or malformed fields (§1.9)', () => {
    const j = v2.join_proof;
    const otherChallenge = j.challenge.slice(0, -1) + (j.challenge.endsWith('A') ? 'Q' : 'A');
    assert.equal(verifyJoinProof(j.room, otherChallenge, j.auth, j.proof), false);
    const other = new RoomCipher(hex('ff'.repeat(32)));
    // The other room's own valid proof names the other room: it does not open this one.
    const theirs = other.joinProof(j.challenge);
    assert.equal(verifyJoinProof(other.room, j.challenge, theirs.auth, theirs.proof), true);
    assert.equal(verifyJoinProof(j.room, j.challenge, theirs.auth, theirs.proof), false);
    // This room's key signing for the other room id: the id is not bound to this key.
    const misbound = makeJoinProof(deriveRoomAuthKey(k), j.challenge, other.room);
    assert.equal(verifyJoinProof(other.room, j.challenge, misbound.auth, misbound.proof), false);
    const sig = decodeB64u(j.proof);
    sig.writeUInt8(sig.readUInt8(10) ^ 1, 10);
    assert.equal(verifyJoinProof(j.room, j.challenge, j.auth, encodeB64u(sig)), false);
    for (const bad of ['', '!', j.auth.slice(1), j.auth + 'A', 'A'.repeat(43)]) {
      assert.equal(verifyJoinProof(j.room, j.challenge, bad, j.proof), false, bad);
      assert.equal(verifyJoinProof(j.room, j.challenge, j.auth, bad), false, bad);
    }
  });

  it('seals the envelope vector under the v2 room byte for byte and opens it (§2.3-2.4)', () => {
    const e = v2.envelope;
    const cipher = new RoomCipher(hex(e.K_hex));
    assert.equal(cipher.room, e.room);
    const sender = identityFromSeed(hex(e.identity_seed_hex));
    const payload = JSON.parse(e.payload) as Payload;
    assert.equal(cipher.seal(payload, sender, hex(e.nonce_hex)), e.body);
    const opened = cipher.open(e.id, e.body);
    assert.ok(opened.ok);
    assert.deepEqual(opened.payload, payload);
  });
});
