// A two-member private room over the in-memory Delivery Service (test/helpers/privateDs.ts) with
// the chat features on both sides (src/core/private/featureRoom.ts), for the unit tests of
// private-room-renew and private-feature-room: each member's way to the DS (Wire) can hold its
// acks, turn one into a refusal, make frames smaller (parts, §3.3.1) and die (a crash).
import { generateIdentity, type Identity } from '../../src/core/crypto/identity';
import { createKeyPackage, MlsGroup } from '../../src/core/mls';
import { HistoryStore, MemoryHistoryLog, PrivateRoom, freshMeta, newPrivateRoom, type PrivateMeta } from '../../src/core/private';
import { LocalFeatureRoom } from '../../src/core/private/featureRoom';
import type { ChatMessage, EffectEvent, FileEvent, Transport, TransportEvents, TransportFactory } from '../../src/core/client/types';
import { PrivateDs } from '../helpers/privateDs';
import { untilTrue } from '../helpers/until';

/** Waits until `cond` holds, 30 s at most (test/helpers/until.ts). */
export const until = (cond: () => boolean, what: string, ms = 30_000): Promise<void> => untilTrue(cond, what, ms);

/**
 * A member's way to the DS: it can hold the acks of its own sends (a relay that answers late),
 * make the relay's frames smaller (welcome maxFrame, so that bodies go in parts, §3.3.1), and
 * die (a crash: nothing more in or out, and no reconnect).
 */
export class Wire {
  holding: ((f: Record<string, unknown>) => boolean) | undefined;
  /** Sends refused with this code (`{"t":"error","code":…}` for their rid), never stored: a relay that refuses them. */
  refusing: ((f: Record<string, unknown>) => string | undefined) | undefined;
  /** Stored messages not delivered (a catch-up without them: only their acks say their seqs). */
  dropping: ((f: Record<string, unknown>) => boolean) | undefined;
  private held: (() => void)[] = [];
  maxFrame: number | undefined;
  dead = false;
  /** The ids of every `send` written. */
  readonly sent: string[] = [];
  constructor(private readonly ds: PrivateDs) {}

  readonly factory: TransportFactory = (host, port) => {
    if (this.dead) return { write: () => undefined, close: () => undefined, on: () => undefined };
    const t = this.ds.factory(host, port);
    let lineListener: ((line: string) => void) | undefined;
    const on = <E extends keyof TransportEvents>(event: E, listener: (...args: TransportEvents[E]) => void): void => {
      if (event !== 'line') {
        t.on(event, (...args) => {
          if (!this.dead) listener(...args);
        });
        return;
      }
      const deliver = listener as (line: string) => void;
      lineListener = deliver;
      t.on('line', (line) => {
        if (this.dead) return;
        const f = JSON.parse(line) as Record<string, unknown>;
        if (f.t === 'welcome' && this.maxFrame !== undefined) return deliver(JSON.stringify({ ...f, maxFrame: this.maxFrame }));
        if (f.t === 'msg' && this.dropping?.(f) === true) return;
        if (f.t === 'ack' && this.holding?.(f) === true) {
          this.held.push(() => deliver(line));
          return;
        }
        deliver(line);
      });
    };
    const wrapped: Transport = {
      write: (line) => {
        if (this.dead) return;
        const f = JSON.parse(line) as Record<string, unknown>;
        if (f.t === 'send') this.sent.push(String(f.id));
        const refusal = f.t === 'send' ? this.refusing?.(f) : undefined;
        if (refusal !== undefined) {
          const error = JSON.stringify({ t: 'error', rid: f.rid, code: refusal, message: refusal });
          setImmediate(() => lineListener?.(error));
          return;
        }
        t.write(line);
      },
      close: () => t.close(),
      on,
    };
    return wrapped;
  };

  release(): void {
    this.holding = undefined;
    const held = this.held;
    this.held = [];
    for (const run of held) run();
  }
}

export interface Member {
  id: Identity;
  name: string;
  room: PrivateRoom;
  wire: Wire;
  log: MemoryHistoryLog;
  history: HistoryStore;
  saved: string[];
  /** While set, saves wait for ever (a process about to be killed). */
  stall: { on: boolean };
  logs: { event: string; fields?: Record<string, unknown> }[];
  features: LocalFeatureRoom;
  messages: ChatMessage[];
  effects: EffectEvent[];
  files: FileEvent[];
  renames: { from: string; to: string }[];
  uiRenames: { from: string; to: string }[];
}

export function member(ds: PrivateDs, roomId: string, id: Identity, name: string, group: MlsGroup, meta: PrivateMeta, reuse: { log?: MemoryHistoryLog; wire?: Wire } = {}): Member {
  const saved: string[] = [];
  const log = reuse.log ?? new MemoryHistoryLog();
  const wire = reuse.wire ?? new Wire(ds);
  const history = new HistoryStore(roomId, Buffer.alloc(32, 7), log);
  const stall = { on: false };
  const logs: Member['logs'] = [];
  const room = new PrivateRoom({
    room: roomId, name: 'team', host: '127.0.0.1', port: 7878, agent: 'test', transport: wire.factory, identity: id, displayName: name,
    group, meta, history,
    save: (t) => (stall.on ? new Promise<void>(() => undefined) : (saved.push(t), Promise.resolve())),
    log: (event, fields) => logs.push(fields !== undefined ? { event, fields } : { event }),
    tuning: { reconnectBaseMs: 10, reconnectMaxMs: 50 },
  });
  const m = { id, name, room, wire, log, history, saved, stall, logs, messages: [], effects: [], files: [], renames: [], uiRenames: [] } as Omit<Member, 'features'> as Member;
  m.features = new LocalFeatureRoom(roomId, room.fingerprint, room, {
    message: (x) => m.messages.push(x),
    effects: (e) => m.effects.push(e),
    file: (e) => m.files.push(e),
    renamed: (from, to) => m.uiRenames.push({ from, to }),
  });
  room.on('message', (x) => m.features.receive(x));
  room.on('outgoing', (o) => m.features.outgoing(o));
  room.on('renamed', (r) => {
    m.renames.push(r);
    m.features.renamed(r.from, r.to);
  });
  return m;
}

/** alice creates the room and adds bob (as the lobby desk would). */
export async function pair(ds: PrivateDs, aliceMaxFrame?: number): Promise<{ roomId: string; alice: Member; bob: Member }> {
  const aliceId = generateIdentity();
  const created = await newPrivateRoom(aliceId);
  const wire = new Wire(ds);
  wire.maxFrame = aliceMaxFrame;
  const alice = member(ds, created.room, aliceId, 'alice', created.group, created.meta, { wire });
  alice.room.connect();
  await until(() => alice.room.state === 'connected' && ds.rooms.has(created.room), 'the reset');
  const bobId = generateIdentity();
  const kp = await createKeyPackage(bobId);
  const committed = new Promise<{ seq: number; welcome: Uint8Array | undefined }>((resolve) => alice.room.once('committed', (e) => resolve(e)));
  alice.room.add(kp.publicBytes);
  const { seq, welcome } = await committed;
  alice.room.announceAdded('I'.repeat(22), bobId.publicKey, 'bob');
  const meta = freshMeta(Date.now());
  meta.applied = seq;
  const bob = member(ds, created.room, bobId, 'bob', await MlsGroup.join(bobId, kp, welcome!), meta);
  bob.room.connect();
  await until(() => alice.room.epoch === 1 && bob.room.epoch === 1 && !alice.room.committing, 'both in epoch 1');
  await alice.room.drain();
  await bob.room.drain();
  return { roomId: created.room, alice, bob };
}

/** bob's update reaches the relay first; what alice writes meanwhile is stored after it, stale (§3.3). */
export async function raceBobsUpdate(ds: PrivateDs, bob: Member, alicesSends: () => number, write: () => void): Promise<void> {
  ds.hold();
  bob.room.update();
  await until(() => ds.heldCount === 1, "bob's commit at the relay");
  write();
  await until(() => ds.heldCount === 1 + alicesSends(), "alice's sends at the relay");
  // One group commit of the relay: the rekey goes out after all of it, so alice's sends are stored.
  ds.release(true);
}


/** Per test: a fresh in-memory DS, and the members the test opened (`open`), disconnected after it. */
export function dsPerTest(): { ds: PrivateDs; open: Member[] } {
  const t = { ds: new PrivateDs(), open: [] as Member[] };
  beforeEach(() => {
    t.ds = new PrivateDs();
    t.open = [];
  });
  afterEach(async () => {
    for (const m of t.open) await m.room.disconnect();
  });
  return t;
}
