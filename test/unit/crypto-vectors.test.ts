// Every vector of test/fixtures/smc-vectors.json (PROTOCOL.md §2) reproduced through the
// public API, and every must_fail case rejected.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeB64u, deriveMessageKey, deriveRoomId, encodeB64u, fingerprint, identityFromSeed, isWeakPassphrase, PASSPHRASE_WARN_LENGTH, Payload,
  roomKeyFromPassphrase, RoomCipher, shortFingerprint,
} from '../../src/core/crypto';
import { openEnvelope } from '../../src/core/crypto/envelope';
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

const fixture = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'smc-vectors.json');
const v = JSON.parse(readFileSync(fixture, 'utf8')) as Vectors;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe('SMC vectors (smc-vectors.json)', () => {
  const identity = identityFromSeed(hex(v.identity.seed_hex));

  it('derives room id and message key (§2.2)', () => {
    const k = hex(v.derivation.K_hex);
    assert.equal(deriveRoomId(k), v.derivation.room);
    assert.equal(deriveMessageKey(k).toString('hex'), v.derivation.mkey_hex);
    assert.equal(new RoomCipher(k).room, v.derivation.room);
  });

  it('derives the identity public key and fingerprint (§2.1)', () => {
    assert.equal(identity.publicKey.toString('hex'), v.identity.pub_hex);
    assert.equal(fingerprint(identity.publicKey), v.identity.fingerprint);
    assert.equal(shortFingerprint(identity.publicKey), v.identity.fingerprint.slice(0, 9));
  });

  it('seals the envelope vector byte for byte and opens it (§2.3-2.4)', () => {
    const cipher = new RoomCipher(hex(v.envelope.K_hex));
    assert.equal(cipher.room, v.envelope.room);
    const payload = JSON.parse(v.envelope.payload) as Payload;
    assert.equal(cipher.seal(payload, identity, hex(v.envelope.nonce_hex)), v.envelope.body);
    const opened = cipher.open(v.envelope.id, v.envelope.body);
    assert.ok(opened.ok);
    assert.deepEqual(opened.payload, payload);
    assert.equal(opened.publicKey.toString('hex'), v.identity.pub_hex);
    assert.equal(opened.fingerprint, v.identity.fingerprint);
  });

  it('seals the presence tag vector byte for byte and opens it (§2.5)', () => {
    const cipher = new RoomCipher(hex(v.presence_tag.K_hex));
    const p = JSON.parse(v.presence_tag.payload) as Payload;
    assert.equal(cipher.sealPresence(p.name, identity, p.ts, hex(v.presence_tag.nonce_hex)), v.presence_tag.tag);
    const opened = cipher.openPresence(v.presence_tag.tag);
    assert.ok(opened.ok);
    assert.deepEqual(opened.payload, p);
    assert.equal(opened.fingerprint, v.identity.fingerprint);
    // A tag is not a message, and a message is not a tag.
    assert.equal(cipher.open(v.envelope.id, v.presence_tag.tag).ok, false);
    assert.equal(cipher.openPresence(v.envelope.body).ok, false);
  });

  it('derives the passphrase room (§2.6)', async () => {
    const k = await roomKeyFromPassphrase(v.passphrase.name, v.passphrase.passphrase);
    assert.equal(k.toString('hex'), v.passphrase.K_hex);
    assert.equal(deriveRoomId(k), v.passphrase.room);
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
    const cipher = new RoomCipher(hex(v.envelope.K_hex));
    for (const c of v.must_fail) {
      it(`rejects: ${c.why}`, () => {
        if (c.room === cipher.room) {
          const result = cipher.open(c.id, c.body);
          assert.ok(!result.ok);
          // Each case stops at the step of §2.4 meant to catch it: the version byte at step 1,
          // a flipped byte or another id at step 2 (the tag, with the id in the aad).
          assert.match(result.reason, /version/.test(c.why) ? /unknown envelope version/ : /decryption failed/);
        } else {
          // Moved to another room: a member of that room holds another key, and even with this
          // room's message key the other room id in the aad makes decryption fail.
          assert.equal(new RoomCipher(hex('ff'.repeat(32))).open(c.id, c.body).ok, false);
          const sameKeyOtherRoom = openEnvelope(aesKey(deriveMessageKey(hex(v.envelope.K_hex))), c.room, c.id, c.body);
          assert.equal(sameKeyOtherRoom.ok, false);
        }
      });
    }
  });

  it('round-trips b64u of the vector key', () => {
    assert.equal(decodeB64u(encodeB64u(hex(v.invite.K_hex))).toString('hex'), v.invite.K_hex);
  });
});
