// The relay's part of private rooms (docs/protocol.md §3.3, §3.6): `reset`, joins under an
// epoch's auth key (read-only up to the end of an older epoch), and commits that rotate the key.
// The relay never reads an MLS message; it checks three kinds of Ed25519 signatures, one per
// frame, each counted against the connection's proof bucket (§1.9), and keeps the room's record
// (owner, epochs and their keys) in the store (PrivateRoomStore, store/types.ts).
import { decodeB64u } from '../core/crypto/b64u';
import { ed25519Verify } from '../core/crypto/primitives';
import { joinProofMessage } from '../core/crypto/roomAuth';
import { verifyReset, verifyRotation } from '../core/mls/epochAuth';
import { LIMITS, type HistoryFrame, type JoinFrame, type ResetFrame, type SendFrame } from '../core/wire/frames';
import { encodeAck, encodeJoined, encodePage, encodeRekey, encodeResetOk, encodeStaleEpoch, encodeSynced } from '../core/wire/relayFrames';
import { randomBytes } from 'node:crypto';
import type { ErrorCode } from '../core/wire/frames';
import type { RelayProtocol, SessionLink } from './protocol';
import type { EpochKey, PrivateRoomRecord, PrivateRoomStore } from './store/types';

/** What these handlers need of a Session (protocol.ts). */
export interface PrivateSession {
  readonly relay: RelayProtocol;
  readonly link: SessionLink;
  /** §1.9: this connection's challenge. */
  readonly challenge: string;
  /** One signature check from the connection's and its address's proof buckets; false: refused (already answered). */
  takeProofCheck(rid: number | undefined, what: string): boolean;
  fail(code: ErrorCode, message: string, rid: number | undefined): void;
  /** The join of §1.4 once the proof is checked: enter the room as a full member (`joined` carries `epoch`, §3.6). */
  admit(frame: JoinFrame, epoch?: number): void | Promise<void>;
  /** Leaves `room` quietly if in it, and forgets a read-only join of it. */
  dropMembership(room: string): void;
  /** §3.6: rooms joined read-only, and the last seq each may read (its epoch's end). */
  readonly readOnly: Map<string, number>;
  /** `work` answers a frame; shutdown waits for it (§1.7). */
  track(work: Promise<unknown>): void;
  storeError(event: string, room: string, err: unknown): void;
}

/** A key or signature from the wire (its form was checked by validate.ts): raw bytes. */
function raw(s: string): Buffer {
  return decodeB64u(s);
}

/** The epoch whose auth key is `auth`, newest first (the current epoch is the last). */
export function epochIndexOf(rec: PrivateRoomRecord, auth: Buffer): number {
  for (let i = rec.epochs.length - 1; i >= 0; i--) if ((rec.epochs[i] as EpochKey).authPub.equals(auth)) return i;
  return -1;
}

/**
 * §3.6 join: the proof must verify under one of the stored epoch keys (the join's `auth` says
 * which: one lookup, one verification). The current epoch's key admits as in §1.4; an older
 * epoch's admits read-only up to the commit that ended it, then `rekey`.
 */
export function joinPrivate(s: PrivateSession, frame: JoinFrame, rec: PrivateRoomRecord): void | Promise<void> {
  const { link } = s;
  const log = s.relay.deps.log;
  if (frame.auth === undefined || frame.proof === undefined) {
    // --allow-v1-joins is for link rooms: a private room always needs the epoch key.
    log.info('join_refused', { conn: link.id, addr: link.address, code: 'auth_required' });
    return s.fail('auth_required', 'a private room needs a join proof under the current epoch\'s key (§3.6)', frame.rid);
  }
  if (!s.takeProofCheck(frame.rid, 'join')) return;
  const i = epochIndexOf(rec, raw(frame.auth));
  if (i < 0 || !ed25519Verify(raw(frame.auth), joinProofMessage(s.challenge, frame.room), raw(frame.proof))) {
    log.info('join_refused', { conn: link.id, addr: link.address, code: 'auth_failed' });
    return s.fail('auth_failed', 'the join proof is not under a key of this private room\'s epochs since its last reset', frame.rid);
  }
  const current = rec.epochs[rec.epochs.length - 1] as EpochKey;
  if (i === rec.epochs.length - 1) return s.admit(frame, current.epoch);
  return readOnlyJoin(s, frame, rec.epochs[i + 1] as EpochKey, current.epoch);
}

/**
 * §3.6 catching up through epochs: `joined` with head = S_{e+1}, the stored messages up to it,
 * `synced`, then `rekey`. The connection is not a member meanwhile: no presence, nothing live,
 * `send` and `history` are not_joined.
 */
function readOnlyJoin(s: PrivateSession, frame: JoinFrame, next: EpochKey, currentEpoch: number): void | Promise<void> {
  const { link } = s;
  if (!s.readOnly.has(frame.room) && s.readOnly.size >= LIMITS.maxRoomsPerConnection) {
    return s.fail('too_many_rooms', `a connection may catch up in at most ${LIMITS.maxRoomsPerConnection} rooms at once`, frame.rid);
  }
  s.dropMembership(frame.room);
  const head = next.seq;
  // Until it joins again, `history` may page back up to the epoch's end (a catch-up gives at
  // most `limit` messages, and the client must read every commit of the epoch).
  s.readOnly.set(frame.room, head);
  link.write(encodeJoined({ t: 'joined', rid: frame.rid, room: frame.room, head, sid: randomBytes(9).toString('base64url'), epoch: currentEpoch }));
  const finish = (from: number): void => {
    if (link.closed) return;
    link.write(encodeSynced({ t: 'synced', rid: frame.rid, room: frame.room, head, from }));
    link.write(encodeRekey({ t: 'rekey', room: frame.room, epoch: next.epoch, seq: next.seq }));
  };
  const since = frame.since ?? 0;
  const limit = Math.min(frame.limit ?? LIMITS.defaultLimit, LIMITS.maxLimit);
  if (since >= head || limit === 0) return finish(head + 1);
  return s.relay.streamReply(link, frame.room, since, head + 1, limit, () => !link.closed).then(
    (reply) => finish(reply.count > 0 ? reply.from : head + 1),
    (err: unknown) => {
      s.storeError('read_failed', frame.room, err);
      if (!link.closed) s.fail('internal', 'could not read the room\'s messages', frame.rid);
      finish(head + 1);
    },
  );
}

/** §1.6 for a read-only join: pages end at the epoch's last seq `until`; nothing live is held back. */
export function readOnlyHistory(s: PrivateSession, frame: HistoryFrame, until: number): void | Promise<void> {
  const { link } = s;
  const store = s.relay.log;
  const before = Math.min(frame.before ?? until + 1, until + 1);
  const limit = Math.min(frame.limit ?? LIMITS.defaultLimit, LIMITS.maxLimit);
  const page = async (from: number, to: number): Promise<void> => {
    // A cluster's oldest is read from the database; awaiting a number costs a microtask.
    const oldest = await store.oldest(frame.room);
    const more = from > 0 ? oldest < from : oldest <= until && oldest < before;
    if (!link.closed) link.write(encodePage({ t: 'page', rid: frame.rid, room: frame.room, from, to, more }));
  };
  if (limit === 0 || before <= 1) return page(0, 0);
  return s.relay.streamReply(link, frame.room, 0, before, limit, () => !link.closed).then(
    (reply) => {
      if (!link.closed) return page(reply.count > 0 ? reply.from : 0, reply.count > 0 ? reply.to : 0);
    },
    (err: unknown) => {
      s.storeError('read_failed', frame.room, err);
      s.fail('internal', 'could not read the room\'s messages', frame.rid);
    },
  );
}

/** The store's private-room part (the embedded store's, or a cluster's: store/pg/clusterRooms.ts); a store without one serves link rooms only. */
export function privateRoomStoreOf(relay: RelayProtocol): PrivateRoomStore<SessionLink> | undefined {
  const store = relay.deps.store;
  return 'privateRooms' in store ? store.privateRooms : undefined;
}

function storeOf(s: PrivateSession, rid: number | undefined): PrivateRoomStore | undefined {
  const store = privateRoomStoreOf(s.relay);
  if (store === undefined) s.fail('internal', 'this relay\'s store does not keep private rooms', rid);
  return store;
}

/**
 * §3.6 reset: `room` is the hash of `owner`, `sig` verifies over this connection's challenge; a
 * room that exists keeps its owner. With `refuse` it is a repair: the store cuts the epochs that
 * the refused commit began, and the room is back in the members' epoch.
 */
export function resetPrivate(s: PrivateSession, frame: ResetFrame): void {
  const { link } = s;
  const log = s.relay.deps.log;
  const store = storeOf(s, frame.rid);
  if (store === undefined || !s.takeProofCheck(frame.rid, 'reset')) return;
  const owner = raw(frame.owner);
  const auth = raw(frame.auth);
  const refuse = frame.refuse ?? 0;
  if (!verifyReset(owner, s.challenge, frame.room, BigInt(frame.epoch), auth, BigInt(refuse), raw(frame.sig))) {
    log.info('reset_refused', { conn: link.id, addr: link.address, code: 'auth_failed' });
    return s.fail('auth_failed', 'the room is not the hash of this owner key, or the reset\'s signature does not verify on this connection', frame.rid);
  }
  const work = store.resetPrivateRoom(frame.room, owner, frame.epoch, auth, refuse).then(
    (result) => {
      if (!result.ok) {
        log.info('reset_refused', { conn: link.id, addr: link.address, code: 'auth_failed', reason: result.reason });
        return s.fail('auth_failed', result.reason === 'owner'
          ? 'this private room has another owner key'
          : refuse > 0
            ? `this repair does not match the relay's epochs (epoch ${frame.epoch} with this key, ended by the commit at seq ${refuse})`
            : 'this reset would take the room back to an epoch it has left', frame.rid);
      }
      log.info(refuse > 0 ? 'private_repair' : 'private_reset', { conn: link.id, room: frame.room, epoch: frame.epoch, ...(refuse > 0 ? { refused: refuse } : {}) });
      link.write(encodeResetOk(frame.rid));
      // The key changed under every member: each proves the new one (as after a commit).
      s.relay.rekey(frame.room, frame.epoch, result.seq);
    },
    (err: unknown) => {
      s.storeError('reset_failed', frame.room, err);
      s.fail('internal', 'the relay could not store the reset; send it again later', frame.rid);
    },
  );
  s.track(work);
}

/**
 * §3.6 commit: a send with `epoch`, `next`, `rot` (the connection is in the room, checked by the
 * caller). Accepted only for the epoch after the stored one, with `rot` under the stored key;
 * stored with the new key in one durable write; acked and forwarded with the epoch; then every
 * member of the room, the sender included, gets `rekey`.
 */
export function commitPrivate(s: PrivateSession, frame: SendFrame & { epoch: number; next: string; rot: string }): void {
  const { link } = s;
  const log = s.relay.deps.log;
  const store = storeOf(s, frame.rid);
  if (store === undefined) return;
  const staleEpoch = (epoch: number, seq: number): void => {
    log.info('commit_refused', { conn: link.id, room: frame.room, code: 'stale_epoch' });
    link.write(encodeStaleEpoch(frame.rid, `the room is in epoch ${epoch}; the commit at seq ${seq} ended yours`, epoch, seq));
  };
  const ack = (seq: number, ts: number, epoch: number): void => {
    link.write(encodeAck({ t: 'ack', rid: frame.rid, room: frame.room, id: frame.id, seq, ts, epoch }));
  };
  const work = store.privateRoom(frame.room).then((rec): Promise<void> | void => {
    if (rec === undefined) return s.fail('bad_request', 'a commit (epoch, next, rot) is for a private room: reset it first (§3.6)', frame.rid);
    const current = rec.epochs[rec.epochs.length - 1] as EpochKey;
    // A commit we stored already (a resend after a lost ack, §1.5): its ack again, no check.
    const done = rec.epochs.find((e) => e.id === frame.id);
    if (done !== undefined) return ack(done.seq, done.ts, done.epoch);
    if (frame.epoch <= current.epoch) return staleEpoch(current.epoch, (rec.epochs.find((e) => e.epoch === frame.epoch) ?? current).seq);
    if (frame.epoch > current.epoch + 1) {
      return s.fail('bad_request', `the room is in epoch ${current.epoch}: a commit starts epoch ${current.epoch + 1}`, frame.rid);
    }
    if (!s.takeProofCheck(frame.rid, 'commit')) return;
    const next = raw(frame.next);
    if (!verifyRotation(current.authPub, frame.room, BigInt(frame.epoch), next, raw(frame.rot))) {
      log.info('commit_refused', { conn: link.id, addr: link.address, code: 'auth_failed' });
      return s.fail('auth_failed', 'the rotation does not verify under the room\'s current epoch key', frame.rid);
    }
    return store.appendCommit(frame.room, frame.id, frame.body, frame.epoch, next, link).then((result) => {
      if (result.stale) return staleEpoch(result.epoch, result.seq);
      ack(result.seq, result.ts, result.epoch);
      if (result.duplicate) return;
      // In a cluster the store's feed forwarded it already, and rekeyed the others (store/pg/clusterRooms.ts).
      if (!s.relay.publishesFromStore) s.relay.publish(frame.room, result.seq, result.ts, frame.id, frame.body, link, result.epoch);
      s.relay.rekey(frame.room, result.epoch, result.seq);
    });
  }).catch((err: unknown) => {
    s.storeError('append_failed', frame.room, err);
    s.fail('internal', 'the relay could not store the commit; send it again later', frame.rid);
  });
  s.track(work);
}
