// A Delivery Service in memory for the private-room client's unit tests (docs/protocol.md §3.3,
// §3.6), over scripted transports: it speaks exactly the frames of §1 and §3.6 (reset, joins
// under the epoch key, read-only joins under an older one, one commit per epoch with its
// rotation, stale_epoch, rekey), and lets a test hold every frame from clients and release
// them in the order it wants (two commits "at the same moment"). It is the spec as a test
// double, not the relay: the system tests run the real one.
import { decodeB64u, encodeB64u } from '../../src/core/crypto/b64u';
import { ed25519Verify } from '../../src/core/crypto/primitives';
import { joinProofMessage, verifyJoinProof } from '../../src/core/crypto/roomAuth';
import { verifyReset, verifyRotation } from '../../src/core/mls';
import type { Transport, TransportEvents, TransportFactory } from '../../src/core/client/types';

type Frame = Record<string, unknown>;

interface Stored { seq: number; ts: number; id: string; body: string; epoch?: number }

interface RoomRecord {
  /** Undefined for a link room (§1.9: the join proof's key is the room's). */
  owner: string | undefined;
  /** epoch -> auth public key (b64u); starts: epoch -> the seq its commit got (the reset's head for the first). */
  keys: Map<number, string>;
  starts: Map<number, number>;
  epoch: number;
  messages: Stored[];
}

class DsConn implements Transport {
  private readonly listeners: { [E in keyof TransportEvents]: ((...args: TransportEvents[E]) => void)[] } = { open: [], line: [], close: [] };
  closed = false;
  readonly challenge: string;
  /** room -> 'full' | the last seq a read-only membership may read. */
  readonly rooms = new Map<string, 'full' | number>();
  /** room -> presence tag (§1.4). */
  readonly tags = new Map<string, string | undefined>();
  readonly sent: Frame[] = [];
  /** Every frame the DS sent on this connection. */
  readonly received: Frame[] = [];

  constructor(private readonly ds: PrivateDs, index: number) {
    this.challenge = encodeB64u(Buffer.alloc(32, index + 1));
    setImmediate(() => this.emitEvent('open'));
  }

  write(line: string): void {
    if (this.closed) return;
    const f = JSON.parse(line) as Frame;
    this.sent.push(f);
    this.ds.receive(this, f);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // §1.4: closing leaves every room; the others see the presence without it.
    const rooms = [...this.tags.keys()];
    this.rooms.clear();
    this.tags.clear();
    for (const room of rooms) this.ds.presence(room);
    setImmediate(() => this.emitEvent('close'));
  }

  on<E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): void {
    this.listeners[event].push(listener);
  }

  deliver(f: Frame): void {
    if (this.closed) return;
    this.received.push(f);
    const line = JSON.stringify(f);
    setImmediate(() => {
      if (!this.closed) this.emitEvent('line', line);
    });
  }

  private emitEvent<E extends keyof TransportEvents>(event: E, ...args: TransportEvents[E]): void {
    for (const l of this.listeners[event]) l(...args);
  }
}

export class PrivateDs {
  readonly rooms = new Map<string, RoomRecord>();
  readonly conns: DsConn[] = [];
  private held: (() => void)[] | undefined;
  private nextTs = 1_764_100_000_000;

  /** A transport factory for one client. */
  readonly factory: TransportFactory = () => {
    const c = new DsConn(this, this.conns.length);
    this.conns.push(c);
    return c;
  };

  /** From now on, frames from clients wait until release(). */
  hold(): void {
    this.held ??= [];
  }

  /**
   * Handles held frames in the order they came, then stops holding. `batch`: as a relay that
   * stores them in one group commit, the rekeys of the batch go out after all of it (so a
   * second commit for an epoch meets stale_epoch rather than not_joined).
   */
  release(batch = false): void {
    const queued = this.held ?? [];
    this.held = undefined;
    if (batch) this.deferred = [];
    for (const run of queued) run();
    const later = this.deferred ?? [];
    this.deferred = undefined;
    for (const run of later) run();
  }

  private deferred: (() => void)[] | undefined;

  get heldCount(): number {
    return this.held?.length ?? 0;
  }

  receive(conn: DsConn, f: Frame): void {
    if (this.held !== undefined && f.t === 'send') {
      // A frame the relay received is stored even if its connection closed since (a crash).
      this.held.push(() => this.handle(conn, f, true));
      return;
    }
    this.handle(conn, f);
  }

  /** Drops a connection from the relay's side (the client reconnects). */
  cut(conn: DsConn): void {
    conn.close();
  }

  private handle(conn: DsConn, f: Frame, received = false): void {
    if (conn.closed && !received) return;
    const rid = f.rid as number | undefined;
    const error = (code: string, extra: Frame = {}): void => conn.deliver({ t: 'error', rid, code, message: code, ...extra });
    switch (f.t) {
      case 'hello':
        return conn.deliver({ t: 'welcome', v: 2, agent: 'private-ds', maxFrame: 65_536, time: 0, challenge: conn.challenge });
      case 'ping':
        return conn.deliver({ t: 'pong', rid });
      case 'reset': {
        const room = f.room as string;
        const refuse = (f.refuse as number | undefined) ?? 0;
        const ok = verifyReset(decodeB64u(f.owner as string), conn.challenge, room, BigInt(f.epoch as number), decodeB64u(f.auth as string), BigInt(refuse), decodeB64u(f.sig as string));
        const existing = this.rooms.get(room);
        if (!ok || (existing !== undefined && existing.owner !== f.owner)) return error('auth_failed');
        if (refuse > 0) {
          // §3.6 repair: epoch e with this key, not current, the next one begun at `refuse`.
          const e = f.epoch as number;
          if (existing === undefined || existing.keys.get(e) !== f.auth || e === existing.epoch || existing.starts.get(e + 1) !== refuse) return error('auth_failed');
          for (let x = e + 1; x <= existing.epoch; x++) {
            const start = existing.starts.get(x);
            const commit = existing.messages.find((m) => m.seq === start);
            if (commit !== undefined) delete commit.epoch;
            existing.keys.delete(x);
            existing.starts.delete(x);
          }
          existing.epoch = e;
          conn.deliver({ t: 'reset_ok', rid });
          for (const c of this.conns) {
            if (c.rooms.get(room) !== 'full') continue;
            c.rooms.delete(room);
            c.deliver({ t: 'rekey', room, epoch: e, seq: existing.messages.length });
          }
          return;
        }
        const r = existing ?? { owner: f.owner as string, keys: new Map(), starts: new Map(), epoch: 0, messages: [] };
        r.epoch = f.epoch as number;
        r.keys = new Map([[r.epoch, f.auth as string]]);
        r.starts = new Map([[r.epoch, r.messages.length]]);
        this.rooms.set(room, r);
        return conn.deliver({ t: 'reset_ok', rid });
      }
      case 'join': {
        const room = f.room as string;
        let r = this.rooms.get(room);
        if (r === undefined || r.owner === undefined) {
          // A link room (§1.9), e.g. an invite's lobby: the key of the proof names the room.
          if (typeof f.auth !== 'string' || !verifyJoinProof(room, conn.challenge, f.auth, f.proof as string)) return error('auth_failed');
          r ??= { owner: undefined, keys: new Map(), starts: new Map(), epoch: 0, messages: [] };
          this.rooms.set(room, r);
          conn.rooms.set(room, 'full');
          conn.tags.set(room, f.tag as string | undefined);
          const since = (f.since as number | undefined) ?? 0;
          const list = r.messages.filter((m) => m.seq > since).slice(-Math.min((f.limit as number | undefined) ?? 200, 1000));
          conn.deliver({ t: 'joined', rid, room, head: r.messages.length, sid: `s${this.conns.indexOf(conn)}` });
          for (const m of list) conn.deliver(this.msg(room, m));
          conn.deliver({ t: 'synced', rid, room, head: r.messages.length, from: list[0]?.seq ?? r.messages.length + 1 });
          this.presence(room);
          return;
        }
        let epoch: number | undefined;
        for (const [e, key] of r.keys) {
          if (key === f.auth && ed25519Verify(decodeB64u(key), joinProofMessage(conn.challenge, room), decodeB64u(f.proof as string))) epoch = e;
        }
        if (epoch === undefined) return error('auth_failed');
        // §3.6: an older epoch's key reads up to the commit that ended it.
        const head = epoch === r.epoch ? r.messages.length : r.starts.get(epoch + 1)!;
        conn.rooms.set(room, epoch === r.epoch ? 'full' : head);
        const since = (f.since as number | undefined) ?? 0;
        const limit = Math.min((f.limit as number | undefined) ?? 200, 1000);
        const list = r.messages.filter((m) => m.seq > since && m.seq <= head).slice(-limit);
        conn.deliver({ t: 'joined', rid, room, head, sid: 's', epoch: r.epoch });
        for (const m of list) conn.deliver(this.msg(room, m));
        conn.deliver({ t: 'synced', rid, room, head, from: list[0]?.seq ?? head + 1 });
        if (epoch !== r.epoch) {
          conn.rooms.delete(room);
          conn.deliver({ t: 'rekey', room, epoch: epoch + 1, seq: head });
        }
        return;
      }
      case 'history': {
        const room = f.room as string;
        const r = this.rooms.get(room);
        const m = conn.rooms.get(room);
        if (r === undefined || m === undefined) return error('not_joined');
        const top = m === 'full' ? r.messages.length : m;
        const before = Math.min((f.before as number | undefined) ?? top + 1, top + 1);
        const list = r.messages.filter((x) => x.seq < before).slice(-Math.min((f.limit as number | undefined) ?? 200, 1000));
        for (const x of list) conn.deliver(this.msg(room, x));
        const from = list[0]?.seq ?? 0;
        return conn.deliver({ t: 'page', rid, room, from, to: list[list.length - 1]?.seq ?? 0, more: from > 1 });
      }
      case 'send': {
        const room = f.room as string;
        const r = this.rooms.get(room);
        if (r === undefined || (conn.rooms.get(room) !== 'full' && !(received && conn.closed))) return error('not_joined');
        if (f.eph === true) {
          for (const other of this.conns) if (other !== conn && other.rooms.get(room) === 'full') other.deliver({ t: 'msg', room, id: f.id, body: f.body, eph: true });
          return conn.deliver({ t: 'ack', rid, room, id: f.id });
        }
        const dup = r.messages.find((m) => m.id === f.id);
        if (dup !== undefined) return conn.deliver({ t: 'ack', rid, room, id: dup.id, seq: dup.seq, ts: dup.ts, ...(dup.epoch !== undefined ? { epoch: dup.epoch } : {}) });
        let epoch: number | undefined;
        if (f.epoch !== undefined) {
          // §3.6: one commit per epoch, its rotation signed by the current epoch's key.
          const next = f.epoch as number;
          const ok = next === r.epoch + 1 && verifyRotation(decodeB64u(r.keys.get(r.epoch)!), room, BigInt(next), decodeB64u(f.next as string), decodeB64u(f.rot as string));
          if (!ok) return error('stale_epoch', { epoch: r.epoch, seq: r.starts.get(Math.min(next, r.epoch)) ?? 0 });
          epoch = next;
        }
        const m: Stored = { seq: r.messages.length + 1, ts: this.nextTs++, id: f.id as string, body: f.body as string };
        if (epoch !== undefined) m.epoch = epoch;
        r.messages.push(m);
        if (epoch !== undefined) {
          r.epoch = epoch;
          r.keys.set(epoch, f.next as string);
          r.starts.set(epoch, m.seq);
        }
        conn.deliver({ t: 'ack', rid, room, id: m.id, seq: m.seq, ts: m.ts, ...(epoch !== undefined ? { epoch } : {}) });
        for (const other of this.conns) if (other !== conn && other.rooms.get(room) === 'full') other.deliver(this.msg(room, m));
        if (epoch !== undefined) {
          const rekey = (): void => {
            for (const c of this.conns) {
              if (c.rooms.get(room) !== 'full') continue;
              c.rooms.delete(room);
              c.deliver({ t: 'rekey', room, epoch, seq: m.seq });
            }
          };
          if (this.deferred !== undefined) this.deferred.push(rekey);
          else rekey();
        }
        return;
      }
      case 'leave':
        conn.rooms.delete(f.room as string);
        conn.deliver({ t: 'left', rid, room: f.room });
        return this.presence(f.room as string);
      default:
        return error('unknown_type');
    }
  }

  /** §1.4: the members of a link room, to each of them. */
  presence(room: string): void {
    const here = this.conns.filter((c) => !c.closed && c.rooms.get(room) === 'full' && c.tags.has(room));
    const members = here.map((c) => ({ sid: `s${this.conns.indexOf(c)}`, ...(c.tags.get(room) !== undefined ? { tag: c.tags.get(room) } : {}) }));
    for (const c of here) c.deliver({ t: 'presence', room, online: here.length, members });
  }

  private msg(room: string, m: Stored): Frame {
    return { t: 'msg', room, seq: m.seq, ts: m.ts, id: m.id, body: m.body, ...(m.epoch !== undefined ? { epoch: m.epoch } : {}) };
  }
}
