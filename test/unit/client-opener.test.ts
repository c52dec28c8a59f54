// The opener (src/core/client/opener.ts) alone: what it shows of envelopes a relay hands it
// (§2.4), replays it drops (§2.8: by id within a run, by the shown window across runs, by a seq
// already shown under another id), key changes and look-alikes of the own name, batches at a
// verifier that fails, presence tags (cached, own entry, look-alikes) and typing.
import { strict as assert } from 'node:assert';
import {
  RoomCipher, generateIdentity, generateMessageId, generateRoomKey, type Identity, type SignatureItem, type SignatureVerifier,
} from '../../src/core/crypto/index';
import { KnownKeys } from '../../src/core/keys/knownKeys';
import { MemoryStateStore } from '../../src/core/keys/stores';
import { Opener, VERIFY_CHUNK } from '../../src/core/client/opener';
import { RecentIds } from '../../src/core/client/recentIds';
import type { CatchUpItem, RoomState, SyncState } from '../../src/core/client/roomState';
import { SeqTracker } from '../../src/core/client/seqTracker';
import { ShownWindow } from '../../src/core/client/shownWindow';
import type { ChatMessage, PresenceUpdate, TypingEvent, UnverifiableMessage } from '../../src/core/client/types';

const me = generateIdentity();
const alice = generateIdentity();
const mallory = generateIdentity();

function room(shown = new ShownWindow(100)): RoomState {
  const cipher = new RoomCipher(generateRoomKey());
  return {
    room: cipher.room, name: 'r', cipher, seqs: new SeqTracker(0), savedSeq: 0, seen: new RecentIds(100),
    shown, joined: true, head: 100, oldest: Infinity, more: false, lastTypingAt: 0, gapFilling: false,
  };
}

function sealed(rs: RoomState, who: Identity, name: string, text: string, id = generateMessageId(), type = 'text'): { id: string; body: string } {
  return { id, body: rs.cipher.seal(type === 'typing' ? { id, ts: 1, name, type: 'typing' } : { id, ts: 1, name, type: 'text', text }, who) };
}

function setup(verifier?: SignatureVerifier) {
  const events: string[] = [];
  const messages: ChatMessage[] = [];
  const counted: number[] = [];
  const presence: PresenceUpdate[] = [];
  const typing: TypingEvent[] = [];
  const known = new KnownKeys(new MemoryStateStore());
  const opener = new Opener({ ownPublicKey: me.publicKey, displayName: () => 'me', knownKeys: known, ...(verifier ? { verifier } : {}) }, {
    log: (e) => events.push(e),
    message: (m) => messages.push(m),
    unverifiable: (u: UnverifiableMessage) => events.push(`unverifiable ${u.seq}`),
    typing: (t) => typing.push(t),
    presence: (p) => presence.push(p),
    counted: (_rs, seq) => counted.push(seq),
  });
  return { opener, events, messages, counted, presence, typing, known };
}

function syncState(): SyncState {
  return {
    rid: 1, since: 0, limit: 1_000, phase: 'catchup', caughtUp: 0, extra: 0, fresh: true, items: [],
    stepRid: 1, stepBefore: 101, successor: false, stepLimit: 1_000, unsent: [], batches: [],
  };
}

describe('client opener', () => {
  it('shows a valid message once, an altered one as unverifiable; both count their seq', () => {
    const { opener, messages, events, counted } = setup();
    const rs = room();
    const m = sealed(rs, alice, 'alice', 'hi');
    opener.show(rs, opener.open(rs, m.id, m.body, 1));
    opener.show(rs, opener.open(rs, m.id, m.body, 2));
    opener.show(rs, opener.open(rs, generateMessageId(), m.body, 3));
    assert.deepEqual(messages.map((x) => [x.seq, x.text, x.history]), [[1, 'hi', true]]);
    assert.ok(events.includes('duplicate'));
    assert.ok(events.includes('unverifiable 3'));
    assert.deepEqual(counted, [1, 3], 'a dropped duplicate does not count its seq');
  });

  it('across runs: an id shown before comes back only as solicited history under its seq (shownBefore); otherwise a replay', () => {
    const shown = new ShownWindow(100);
    const rs = room(shown);
    const m = sealed(rs, alice, 'alice', 'old');
    shown.record(m.id, 5);
    const { opener, messages, events } = setup();
    opener.show(rs, opener.open(rs, m.id, m.body, 5));
    assert.equal(messages.length, 0, 'unasked: a replay');
    assert.ok(events.includes('replay'));
    const again = opener.open(rs, m.id, m.body, 6);
    if (again.kind === 'msg') again.solicited = true;
    opener.show(rs, again);
    assert.equal(messages.length, 0, 'under another seq: a replay');
    const asked = opener.open(rs, m.id, m.body, 5);
    if (asked.kind === 'msg') asked.solicited = true;
    opener.show(rs, asked);
    assert.equal(messages[0]?.shownBefore, true);
  });

  it('a seq already shown under another id is a replay; an unknown id at or below the top is history', () => {
    const shown = new ShownWindow(100);
    shown.record(generateMessageId(), 7);
    const rs = room(shown);
    rs.head = 0;
    const { opener, messages } = setup();
    const a = sealed(rs, alice, 'alice', 'a');
    opener.show(rs, opener.open(rs, a.id, a.body, 7));
    assert.equal(messages.length, 0);
    const b = sealed(rs, alice, 'alice', 'b');
    opener.show(rs, opener.open(rs, b.id, b.body, 6));
    assert.equal(messages[0]?.history, true);
  });

  it('a known name under a new key, and a look-alike of the own name, are key changes; own messages never', () => {
    const { opener, messages } = setup();
    const rs = room();
    for (const [who, name] of [[alice, 'alice'], [mallory, 'alice'], [mallory, 'mе'], [me, 'me']] as const) {
      const m = sealed(rs, who, name, 'x');
      opener.show(rs, opener.open(rs, m.id, m.body, messages.length + 1));
    }
    assert.deepEqual(messages.map((m) => [m.name, m.keyChanged, m.own]), [['alice', false, false], ['alice', true, false], ['mе', true, false], ['me', false, true]]);
  });

  it(`batches a catch-up to the verifier by ${VERIFY_CHUNK}; a verifier that fails or miscounts is replaced by this thread`, async () => {
    for (const answer of [
      (): Promise<boolean[]> => Promise.reject(new Error('gone')),
      (items: readonly SignatureItem[]): Promise<boolean[]> => Promise.resolve(items.slice(1).map(() => true)),
      (items: readonly SignatureItem[]): Promise<boolean[]> => Promise.resolve(items.map(() => false)),
    ]) {
      let batches = 0;
      const verifier: SignatureVerifier = { verifyBatch: (items) => (batches++, answer(items)) };
      const { opener, messages, events } = setup(verifier);
      const rs = room();
      rs.head = VERIFY_CHUNK + 10;
      const sync = syncState();
      const items: CatchUpItem[] = [];
      for (let seq = 1; seq <= VERIFY_CHUNK + 10; seq++) {
        const m = sealed(rs, alice, 'alice', `m${seq}`);
        items.push(opener.prepare(rs, sync, m.id, m.body, seq));
      }
      assert.equal(batches, 1);
      assert.equal(sync.unsent.length, 10);
      opener.verifyRest(sync);
      await Promise.all(sync.batches);
      for (const it of items) opener.show(rs, opener.resolve(rs, it));
      const lying = events.filter((e) => e === 'unverifiable').length;
      if (answer.length === 0 || events.includes('verifier_failed')) {
        assert.equal(messages.length, VERIFY_CHUNK + 10, 'every message verified in this thread');
      } else {
        // A verifier that says "invalid" is believed: the messages are shown as unverifiable.
        assert.equal(messages.length, 10);
        assert.equal(lying, VERIFY_CHUNK);
      }
    }
  });

  it('opens presence tags once (cached), marks its own sid, and a look-alike of the own name', () => {
    const { opener, presence, events } = setup();
    const rs = room();
    rs.sid = 's-me';
    const tags = [rs.cipher.sealPresence('me', me), rs.cipher.sealPresence('alice', alice), rs.cipher.sealPresence('mе', mallory)];
    const frame = { t: 'presence' as const, room: rs.room, members: [{ sid: 's-me', tag: tags[0]! }, { sid: 's-a', tag: tags[1]! }, { sid: 's-m', tag: tags[2]! }, { sid: 's-x', tag: 'junk' }, { sid: 's-y' }] };
    opener.onPresence(rs, frame);
    opener.onPresence(rs, frame);
    const p = presence[1]!;
    assert.equal(p.online, 5);
    assert.deepEqual(p.members.map((m) => [m.sid, m.name, m.self, m.verified, m.keyChanged]), [
      ['s-me', 'me', true, true, false], ['s-a', 'alice', false, true, false], ['s-m', 'mе', false, true, true],
      ['s-x', undefined, false, false, false], ['s-y', undefined, false, false, false],
    ]);
    assert.equal(events.filter((e) => e === 'unverifiable_presence').length, 1, 'a bad tag is opened (and logged) once');
    assert.equal(opener.presence(rs.room), p);
    assert.equal(opener.forgetPresence(rs.room), true);
    assert.equal(opener.presence(rs.room), undefined);
  });

  it('typing: shown for others, never for the own key, never for an unverifiable body', () => {
    const { opener, typing, events } = setup();
    const rs = room();
    const own = sealed(rs, me, 'me', '', undefined, 'typing');
    const other = sealed(rs, alice, 'alice', '', undefined, 'typing');
    opener.ephemeral(rs, own.id, own.body);
    opener.ephemeral(rs, other.id, other.body);
    opener.ephemeral(rs, generateMessageId(), other.body);
    assert.deepEqual(typing.map((t) => t.name), ['alice']);
    assert.ok(events.includes('unverifiable_ephemeral'));
  });
});
