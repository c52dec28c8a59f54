// Joining a private room by invite (docs/protocol.md §3.4). An invite's lobby is a link room
// (§2.1) whose key only the invite gives. The joiner asks there, with its KeyPackage; any
// admin's client that is online checks the request against what every member recorded of the
// invite (uses counted from member_added in seq order, expiry, revocation, removals since) and
// adds the joiner without a human in the loop, then hands it the Welcome in the lobby.
//
// Lobby messages are §2.4 envelopes of types `join_request`, `welcome` and `join_refused`, whose
// `text` is a JSON object (the envelope's signature binds it to its sender's identity):
//   join_request  {"kp": b64u(mls_key_package), "name": display name}
//   welcome       {"for": fingerprint, "welcome": b64u(mls_welcome), "room": room id, "seq": the add's seq}
//   join_refused  {"for": fingerprint, "reason": "used" | "expired" | "revoked" | "removed"}
//   welcome_part  {"for": fingerprint, "part": b64u(part)}   a `welcome` text too long for one envelope,
//                 in parts (§3.3.1, §3.4 "A Welcome in parts")
import { decodeB64u, encodeB64u } from '../crypto/b64u';
import { fingerprint, type Identity } from '../crypto/identity';
import { RelayClient } from '../client/relayClient';
import { type ChatMessage, type ClientLog, type PresenceUpdate, type TransportFactory } from '../client/types';
import {
  MlsGroup, createKeyPackage, exportOwnKeyPackage, importOwnKeyPackage, inviteLobbyKey, inviteId as inviteIdOf, readKeyPackage,
  type CommitIntent, type OwnKeyPackage,
} from '../mls/index';
import { deriveRoomId } from '../crypto/roomKey';
import { MAX_TEXT_BYTES } from '../crypto/payload';
import { LIMITS } from '../wire/frames';
import { LOBBY_JOINER_LIMITS, PartJoiner, splitIntoParts } from './parts';
import type { PrivateRoom } from './privateRoom';
import { fingerprintHex, type PrivateInvite } from './privateInvite';

/** §3.4: the presence name an admin's lobby connection goes by. */
export const LOBBY_ADMIN_NAME = 'admin';

/** Lobbies an admin's client stays in at most (§1.4: 32 rooms per connection). */
export const LOBBIES_KEPT = 30;
/** How long after an invite expired its holders are still told so. */
export const REFUSE_AFTER_EXPIRY_MS = 7 * 24 * 3_600_000;

export type RefusalReason = 'used' | 'expired' | 'revoked' | 'removed';

/** §3.4: the chunk of a welcome_part, so that its envelope text stays within MAX_TEXT_BYTES. */
export const WELCOME_CHUNK_BYTES = 12_000;

/**
 * §3.4 "A Welcome in parts": the lobby envelopes (type, text) that carry a `welcome` text: the
 * text itself when it fits one envelope, else its parts (§3.3.1) as welcome_part envelopes.
 */
export function welcomeEnvelopes(forFingerprint: string, text: string): { type: string; text: string }[] {
  if (Buffer.byteLength(text, 'utf8') <= MAX_TEXT_BYTES) return [{ type: 'welcome', text }];
  return splitIntoParts(Buffer.from(text, 'utf8'), WELCOME_CHUNK_BYTES)
    .map((part) => ({ type: 'welcome_part', text: JSON.stringify({ for: forFingerprint, part: encodeB64u(part) }) }));
}

function parseText(m: ChatMessage): Record<string, unknown> | undefined {
  if (m.text === undefined || m.text.length > 60_000) return undefined;
  return parseJsonObject(m.text);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A JSON object from text or UTF-8 bytes, or undefined. */
function parseJsonObject(source: string | Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(typeof source === 'string' ? source : utf8.decode(source)) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The admin's side (§3.4 steps 1 and 3): while this member is an admin, its client is in the
 * lobby of every invite still valid, and answers every join request there.
 */
export class LobbyDesk {
  private readonly lobbies = new Map<string, string>(); // lobby room id -> invite id
  private readonly waiting = new Map<string, { lobby: string; fingerprint: string; invite: string; name: string; identityKey: Buffer }>();

  constructor(
    private readonly room: PrivateRoom,
    private readonly client: RelayClient,
    private readonly log: ClientLog = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    client.on('message', (m) => void this.onMessage(m).catch((err: unknown) => this.log('lobby_failure', { error: String(err) })));
    room.on('control', () => this.refresh());
    room.on('synced', () => this.refresh());
    room.on('epoch', () => this.refresh());
    room.on('committed', (e) => this.onCommitted(e.intent, e.welcome, e.seq));
  }

  start(): void {
    this.client.connect();
    this.refresh();
  }

  async stop(): Promise<void> {
    await this.client.disconnect();
  }

  /** Joins the lobbies of the invites that are valid while this member is an admin; leaves the others. */
  refresh(): void {
    const want = new Map<string, string>();
    if (this.room.isAdmin) {
      // Also the lobbies of invites used up, expired or revoked, so that their holders are told
      // so (§3.4 join_refused) instead of waiting: the newest LOBBIES_KEPT, none expired for
      // more than REFUSE_AFTER_EXPIRY_MS (a connection is in at most 32 rooms, §1.4).
      const recent = Object.entries(this.room.invites)
        .filter(([, inv]) => inv.expires + REFUSE_AFTER_EXPIRY_MS > this.now())
        .sort(([, a], [, b]) => b.seq - a.seq)
        .slice(0, LOBBIES_KEPT);
      for (const [id, inv] of recent) want.set(deriveRoomId(inviteLobbyKey(decodeB64u(inv.secret))), id);
    }
    for (const [lobby, id] of want) {
      if (this.lobbies.has(lobby)) continue;
      this.lobbies.set(lobby, id);
      const inv = this.room.invites[id]!;
      this.client.join({ key: inviteLobbyKey(decodeB64u(inv.secret)), name: `lobby ${id}` });
    }
    for (const lobby of [...this.lobbies.keys()]) {
      if (want.has(lobby)) continue;
      this.lobbies.delete(lobby);
      void this.client.leave(lobby);
    }
  }

  private async onMessage(m: ChatMessage): Promise<void> {
    if (m.type !== 'join_request' || m.own) return;
    const inviteId = this.lobbies.get(m.room);
    if (inviteId === undefined || this.room.answered(m.id)) return;
    const req = parseText(m);
    if (req === undefined || typeof req.kp !== 'string' || typeof req.name !== 'string') return;
    let kpBytes: Buffer;
    let identityKey: Buffer;
    try {
      kpBytes = decodeB64u(req.kp);
      identityKey = (await readKeyPackage(kpBytes)).identityKey;
    } catch {
      return this.log('join_request_refused', { reason: 'bad KeyPackage' });
    }
    // §3.4 step 2: the KeyPackage's credential must be the envelope's signing identity.
    if (fingerprint(identityKey) !== m.fingerprint) return this.log('join_request_refused', { reason: 'KeyPackage of another identity' });
    const hex = identityKey.toString('hex');
    if (this.room.members().some((x) => x.identityKey === hex)) return;
    const inv = this.room.invites[inviteId];
    if (inv === undefined) return;
    this.room.markAnswered(m.id);
    const removedAt = this.room.removals[hex];
    const reason: RefusalReason | undefined = inv.revoked ? 'revoked'
      : removedAt !== undefined && removedAt > inv.seq ? 'removed'
        : inv.expires <= this.now() ? 'expired'
          : inv.used >= inv.uses ? 'used' : undefined;
    if (reason !== undefined) {
      this.log('join_request_refused', { reason });
      this.client.sendControl(m.room, 'join_refused', JSON.stringify({ for: m.fingerprint, reason }));
      return;
    }
    const name = req.name.slice(0, 64) || 'member';
    this.waiting.set(hex, { lobby: m.room, fingerprint: m.fingerprint, invite: inviteId, name, identityKey });
    this.room.noteName(hex, name);
    this.room.add(kpBytes);
  }

  /** §3.4 step 3: after the add is acked, member_added in the room and the Welcome in the lobby. */
  private onCommitted(intent: CommitIntent, welcome: Uint8Array | undefined, seq: number): void {
    if (intent.kind !== 'add' || welcome === undefined) return;
    void (async () => {
      for (const kp of intent.keyPackages) {
        const { identityKey } = await readKeyPackage(kp);
        const w = this.waiting.get(identityKey.toString('hex'));
        if (w === undefined) continue;
        this.waiting.delete(identityKey.toString('hex'));
        this.room.announceAdded(w.invite, w.identityKey, w.name);
        const text = JSON.stringify({ for: w.fingerprint, welcome: encodeB64u(welcome), room: this.room.room, seq });
        for (const e of welcomeEnvelopes(w.fingerprint, text)) this.client.sendControl(w.lobby, e.type, e.text);
      }
    })().catch((err: unknown) => this.log('lobby_failure', { error: String(err) }));
  }
}

export interface JoinOutcome {
  group: MlsGroup;
  room: string;
  seq: number;
}

export interface JoinByInviteOptions {
  invite: PrivateInvite;
  identity: Identity;
  displayName: string;
  agent: string;
  transport: TransportFactory;
  timeoutMs: number;
  log?: ClientLog;
  /** Said when no admin is online (and again when one is). */
  status?: (text: string) => void;
  /** Where the KeyPackage's private keys wait for the Welcome, across restarts (§3.8). */
  keyPackage?: KeyPackageKeeper;
}

/**
 * §3.8: keeps a joiner's KeyPackage (b64u of exportOwnKeyPackage: its private keys, a secret)
 * until its Welcome arrives. The caller forgets it once the joined room's state is saved.
 */
export interface KeyPackageKeeper {
  load(): Promise<string | undefined>;
  save(text: string): Promise<void>;
  forget(): Promise<void>;
}

/** A KeyPackage still valid for this long is used again after a restart (an admin has time to add it). */
const KEY_PACKAGE_REUSE_MARGIN_S = 3_600n;

/**
 * A joiner that asked before (its KeyPackage was kept) looks for its Welcome this far back in the
 * lobby: the first catch-up and then older pages of LIMITS.maxLimit, as far as the relay keeps
 * (§1.6 retain, 10 000 by default), so that messages written after the Welcome (by other
 * joiners, or by anyone holding the invite) cannot hide it.
 */
const LOBBY_PAGES_BACK = 10;

/** The KeyPackage kept from an earlier run, while valid, or a new one (kept before it is sent). */
async function ownKeyPackage(o: JoinByInviteOptions, log: ClientLog): Promise<{ own: OwnKeyPackage; kept: boolean }> {
  const kept = await o.keyPackage?.load();
  if (kept !== undefined) {
    try {
      const own = await importOwnKeyPackage(decodeB64u(kept), o.identity);
      const now = BigInt(Math.floor(Date.now() / 1000));
      const leaf = own.keyPackage.leafNode;
      if (leaf.leafNodeSource === 'key_package' && leaf.lifetime.notAfter > now + KEY_PACKAGE_REUSE_MARGIN_S) return { own, kept: true };
      log('key_package_expired', {});
    } catch {
      log('key_package_unreadable', {});
    }
  }
  const own = await createKeyPackage(o.identity);
  await o.keyPackage?.save(encodeB64u(exportOwnKeyPackage(own)));
  return { own, kept: false };
}

/** A join that could not happen (refused, or no admin before the timeout). */
export class JoinRefusedError extends Error {
  constructor(readonly reason: RefusalReason | 'timeout', message: string) {
    super(message);
    this.name = 'JoinRefusedError';
  }
}

/** Refusal claims from identities the joiner cannot check that are shown, at most (§3.4 "Who the joiner believes"). */
const CLAIMS_SHOWN = 3;

/**
 * The joiner's side (§3.4 steps 2 and 4): asks in the lobby, waits for the Welcome or a refusal.
 * §3.4 "Who the joiner believes": the lobby is a link room anyone with the invite writes in, so
 * a refusal ends the join only when the inviting admin (the invite's `by`) signed it, "an admin
 * is online" is said only of that admin's tag, and a Welcome counts only when its sender is an
 * admin of the group it opens, with the inviting admin a member of it.
 */
export async function joinByInvite(o: JoinByInviteOptions): Promise<JoinOutcome> {
  const { own, kept } = await ownKeyPackage(o, o.log ?? (() => undefined));
  const me = fingerprint(o.identity.publicKey);
  const lobbyKey = inviteLobbyKey(o.invite.secret);
  const client = new RelayClient({
    host: o.invite.host, port: o.invite.port, agent: o.agent, identity: o.identity, displayName: o.displayName, transport: o.transport,
    ...(o.log !== undefined ? { log: o.log } : {}),
    // Asked before: the Welcome may be behind later messages (LOBBY_PAGES_BACK).
    ...(kept ? { tuning: { initialHistory: LIMITS.maxLimit, historyLimit: LIMITS.maxLimit } } : {}),
  });
  const lobby = deriveRoomId(lobbyKey);
  const log = o.log ?? (() => undefined);
  const inviter = o.invite.admin;
  const byInviter = (fp: string | undefined): boolean => inviter !== undefined && fp !== undefined && fingerprintHex(fp) === inviter;
  log('invite_lobby', { invite: inviteIdOf(o.invite.secret) });
  try {
    return await new Promise<JoinOutcome>((resolve, reject) => {
      let asked = false;
      let saidWaiting: boolean | undefined;
      /** Refusals signed by identities that are not the inviting admin: claims, not answers. */
      const claims: RefusalReason[] = [];
      const timer = setTimeout(() => {
        const claimed = claims.length === 0 ? ''
          : ` (a refusal, "${[...new Set(claims)].join('", "')}", was claimed by someone who is not the admin who made the invite; not believed)`;
        reject(new JoinRefusedError('timeout', (saidWaiting === true && inviter !== undefined
          ? 'no admin of the room came online before the timeout; try again later'
          : 'no admin added you before the timeout; try again later') + claimed));
      }, o.timeoutMs);
      let settled = false;
      const done = (f: () => void): void => {
        settled = true;
        clearTimeout(timer);
        f();
      };
      // §3.4: only the inviting admin's tag says an admin is online (a hint: tags can be shown again).
      const adminOnline = (p: PresenceUpdate | undefined): boolean =>
        p !== undefined && p.members.some((m) => !m.self && m.verified && m.name === LOBBY_ADMIN_NAME && byInviter(m.fingerprint));
      client.on('presence', (p) => {
        if (p.room !== lobby || !asked || inviter === undefined) return;
        const online = adminOnline(p);
        if (online === !saidWaiting && saidWaiting !== undefined) return;
        if (!online && saidWaiting !== true) o.status?.('no admin of the room is online; waiting for one to add you');
        if (online && saidWaiting === true) o.status?.('an admin is online');
        saidWaiting = !online;
      });
      client.on('synced', (s) => {
        if (s.room !== lobby || asked) return;
        asked = true;
        client.sendControl(lobby, 'join_request', JSON.stringify({ kp: encodeB64u(own.publicBytes), name: o.displayName }));
        const p = client.presence(lobby);
        saidWaiting = !adminOnline(p);
        if (inviter === undefined) o.status?.('waiting for an admin to add you (this invite does not say which admin made it, so this client cannot tell whether one is online)');
        else if (saidWaiting) o.status?.('no admin of the room is online; waiting for one to add you');
        if (kept) {
          void (async () => {
            for (let i = 0; i < LOBBY_PAGES_BACK && !settled; i++) if (!(await client.loadOlder(lobby)).more) break;
          })().catch((err: unknown) => log('lobby_history_failed', { error: String(err) }));
        }
      });
      client.on('error', (e) => {
        if (e.code === 'room_refused' || e.code === 'relay_too_old') done(() => reject(e));
        else {
          log('lobby_error', { code: e.code });
          // The relay cannot be reached (or is not the pinned one, §1.8): said once per outage; the wait goes on.
          if (e.code === 'connection_failed') o.status?.(e.message);
        }
      });
      // §3.4 "A Welcome in parts": sets kept per sender (the envelope's verified identity).
      const parts = new PartJoiner(LOBBY_JOINER_LIMITS);
      const onWelcome = (v: Record<string, unknown>, sender: string): void => {
        if (typeof v.welcome !== 'string' || typeof v.room !== 'string' || typeof v.seq !== 'number') return;
        const room = v.room;
        const seq = v.seq;
        let welcome: Buffer;
        try {
          welcome = decodeB64u(v.welcome);
        } catch {
          return log('welcome_not_for_us', {});
        }
        void MlsGroup.join(o.identity, own, welcome).then(
          (group) => {
            if (settled) return;
            // §3.4: `room` and `seq` are believed from an admin of the group the Welcome opens,
            // and that group must hold the inviting admin (else it is a stranger's own group).
            if (!group.admins().some((k) => fingerprint(k) === sender)) return log('welcome_refused', { reason: 'its sender is not an admin of its group' });
            if (inviter !== undefined && !group.members().some((x) => fingerprintHex(x.fingerprint) === inviter)) {
              return log('welcome_refused', { reason: 'the admin who made the invite is not a member of its group' });
            }
            done(() => resolve({ group, room, seq }));
          },
          // A Welcome for an earlier KeyPackage of ours, or junk: not this one.
          () => log('welcome_not_for_us', {}),
        );
      };
      client.on('message', (m) => {
        if (m.room !== lobby || m.own) return;
        const v = parseText(m);
        if (v === undefined || v.for !== me) return;
        if (m.type === 'join_refused' && typeof v.reason === 'string') {
          const reason = (['used', 'expired', 'revoked', 'removed'] as const).find((r) => r === v.reason);
          if (reason === undefined || settled) return;
          if (byInviter(m.fingerprint)) return done(() => reject(new JoinRefusedError(reason, refusalText(reason))));
          // §3.4: anyone holding the invite can write this; a claim, shown, and the wait goes on.
          claims.push(reason);
          if (claims.length > 64) claims.shift();
          if (claims.length <= CLAIMS_SHOWN) {
            o.status?.(`"${m.name}" (${m.fingerprint}) claims that ${refusalText(reason)}; ${inviter !== undefined
              ? 'it is not the admin who made the invite, so this client does not believe it'
              : 'this invite does not say which admin made it, so this client cannot check that'} and goes on waiting until the timeout`);
          }
          return;
        }
        if (m.type === 'welcome') return onWelcome(v, m.fingerprint);
        if (m.type !== 'welcome_part' || typeof v.part !== 'string') return;
        let bytes: Buffer;
        try {
          bytes = decodeB64u(v.part);
        } catch {
          return log('welcome_part_refused', { reason: 'not b64u' });
        }
        const out = parts.addBytes(m.fingerprint, bytes, Date.now());
        if (out.kind === 'dropped' || out.kind === 'failed') return log('welcome_part_refused', { reason: out.reason });
        if (out.kind !== 'whole') return;
        const whole = parseJsonObject(out.whole);
        // The joined text must be a welcome for us (§3.4), then it is that welcome envelope.
        if (whole === undefined || whole.for !== me) return log('welcome_part_refused', { reason: 'joined parts are not a welcome for us' });
        onWelcome(whole, m.fingerprint);
      });
      client.connect();
      client.join({ key: lobbyKey, name: 'lobby' });
    });
  } finally {
    await client.disconnect();
  }
}

export function refusalText(reason: RefusalReason): string {
  switch (reason) {
    case 'used': return 'this invite was already used; ask an admin for a new one';
    case 'expired': return 'this invite has expired; ask an admin for a new one';
    case 'revoked': return 'this invite was revoked';
    case 'removed': return 'you were removed from this room; an invite made before cannot bring you back';
  }
}


