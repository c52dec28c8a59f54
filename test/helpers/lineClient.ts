// The line-protocol client of the tests: an NDJSON connection over real TCP to a relay
// (docs/protocol.md §1.1), with received frames queued until a test takes them (`next`).
//
// Join proofs (docs/protocol.md §1.9): `randomRoom()` makes a v2 room from a fresh random room
// key and remembers its room-auth key in this process; `LineClient.send` (and so `request`) adds
// a real `auth`/`proof` to every `join` of such a room, signed over the connection's challenge
// from `welcome`. A join that already has an `auth` or `proof` key, a room made by `randomId()`,
// or `sendUnsigned` goes out as written: that is how tests play a stranger or a v1 client.
//
// test/helpers/relayProcess.ts re-exports all of this, so `import { LineClient } from
// '../helpers/relayProcess'` keeps working.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { deriveRoomAuthKey, makeJoinProof, roomIdForAuthKey, type RoomAuthKey } from '../../src/core/crypto/roomAuth';
import { LineSplitter } from './lines';

export type Frame = Record<string, unknown> & { t: string };

/**
 * An NDJSON client over TCP. Received frames queue up; `next(pred)` takes the first unread one
 * matching `pred` (the others stay unread), waiting for it up to a timeout.
 */
export class LineClient {
  /** Every frame received, in order (read or not). */
  readonly received: Frame[] = [];
  /** Lines that were not JSON (should never happen with a correct relay). */
  readonly garbage: string[] = [];
  /** Settles when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  private unread: Frame[] = [];
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];
  private isClosed = false;
  private nextRid = 1;
  private readonly lines = new LineSplitter();
  /** §1.9: the challenge of this connection's `welcome` ('' before it). */
  challenge = '';
  /** Sees every frame as it arrives, before it is matched or queued (for tests that watch a stream). */
  onFrame: ((f: Frame) => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolveClosed) => {
      socket.on('close', () => {
        this.isClosed = true;
        for (const w of this.waiters) w.reject(new Error(`connection closed while waiting; unread: ${JSON.stringify(this.unread.slice(0, 5))}`));
        this.waiters = [];
        resolveClosed();
      });
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<LineClient> {
    return new Promise((resolveConnect, reject) => {
      const socket = connect({ port, host });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolveConnect(new LineClient(socket));
      });
    });
  }

  /** Connects and completes `hello` (§1.3); resolves with the `welcome` frame. */
  static async open(port: number, host = '127.0.0.1'): Promise<{ client: LineClient; welcome: Frame }> {
    const client = await LineClient.connect(port, host);
    const welcome = await client.hello();
    return { client, welcome };
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** Sends one frame as a JSON line; a join of a `randomRoom()` room gets its proof (§1.9). */
  send(frame: Record<string, unknown>): void {
    this.socket.write(JSON.stringify(this.withProof(frame)) + '\n');
  }

  /** Sends one frame exactly as given: no proof is added (a stranger, a v1 client). */
  sendUnsigned(frame: Record<string, unknown>): void {
    this.socket.write(JSON.stringify(frame) + '\n');
  }

  /**
   * The frame with `auth` and `proof` for this connection's challenge when it is a join of a
   * room whose key `randomRoom()` made and it has neither `auth` nor `proof` key (one set to
   * `undefined` counts: `{ auth: undefined }` sends a join without a proof); otherwise the frame.
   */
  withProof(frame: Record<string, unknown>): Record<string, unknown> {
    if (frame.t !== 'join' || 'auth' in frame || 'proof' in frame || typeof frame.room !== 'string') return frame;
    const key = ROOM_AUTH_KEYS.get(frame.room);
    if (!key) return frame;
    return { ...frame, ...makeJoinProof(key, this.challenge, frame.room) };
  }

  /** Sends raw bytes or text as they are (for framing tests). */
  sendRaw(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  /** Sends a frame with a fresh `rid` and resolves with the first reply or error echoing it. */
  async request(frame: Record<string, unknown>, timeoutMs = 5_000): Promise<Frame> {
    const rid = this.nextRid++;
    this.send({ ...frame, rid });
    return this.next((f) => f.rid === rid && f.t !== 'msg', timeoutMs);
  }

  /** Says hello (protocol v2 by default) and keeps the welcome's challenge for join proofs. */
  async hello(agent = 'smc-test/0', v = 2): Promise<Frame> {
    this.send({ t: 'hello', v, agent });
    const reply = await this.next((f) => f.t === 'welcome' || f.t === 'error');
    if (reply.t === 'welcome' && typeof reply.challenge === 'string') this.challenge = reply.challenge;
    return reply;
  }

  /** The first unread frame matching `pred` (default: the next frame), removed from unread. */
  next(pred: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    const i = this.unread.findIndex(pred);
    if (i !== -1) return Promise.resolve(this.unread.splice(i, 1)[0] as Frame);
    if (this.isClosed) return Promise.reject(new Error(`connection closed; no matching frame; unread: ${JSON.stringify(this.unread.slice(0, 5))}`));
    return new Promise((resolveNext, reject) => {
      const waiter = {
        pred,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolveNext(f);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no matching frame within ${timeoutMs} ms; unread: ${JSON.stringify(this.unread.slice(0, 5)).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Shorthand: the next frame of type `t` (optionally also matching `pred`). */
  nextOfType(t: string, pred: (f: Frame) => boolean = () => true, timeoutMs = 5_000): Promise<Frame> {
    return this.next((f) => f.t === t && pred(f), timeoutMs);
  }

  /** Unread frames, in order, without consuming them. */
  peekUnread(): readonly Frame[] {
    return this.unread;
  }

  /** Takes and returns every unread frame. */
  drain(): Frame[] {
    const all = this.unread;
    this.unread = [];
    return all;
  }

  /** Resolves once the relay closed the connection (rejects after the timeout). */
  waitClosed(timeoutMs = 5_000): Promise<void> {
    return withTimeout(this.closed, timeoutMs, `connection still open after ${timeoutMs} ms`);
  }

  /** Closes our side gracefully. */
  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  /** Resets the connection at once (an abrupt disconnect). */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    for (const line of this.lines.push(chunk)) {
      let frame: Frame;
      try {
        frame = JSON.parse(line) as Frame;
      } catch {
        this.garbage.push(line);
        continue;
      }
      this.received.push(frame);
      this.onFrame?.(frame);
      const w = this.waiters.findIndex((x) => x.pred(frame));
      if (w !== -1) {
        const waiter = this.waiters.splice(w, 1)[0] as (typeof this.waiters)[number];
        waiter.resolve(frame);
      } else this.unread.push(frame);
    }
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** A random 22-char room or message id (b64u of 16 random bytes, §1.2). */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

/** Room-auth keys of the rooms `randomRoom()` made, by room id. */
const ROOM_AUTH_KEYS = new Map<string, RoomAuthKey>();

/**
 * A fresh v2 room (§2.2): a random room key K, its room-auth key, and the room id bound to it.
 * Every LineClient of this process then joins it with a real proof.
 */
export function randomRoom(): string {
  const auth = deriveRoomAuthKey(randomBytes(32));
  const room = roomIdForAuthKey(auth.publicKey);
  ROOM_AUTH_KEYS.set(room, auth);
  return room;
}

/**
 * Remembers the room-auth key of room key `key` (§2.2), so that LineClients of this process
 * sign their joins of its room as `randomRoom()` rooms; returns the room id.
 */
export function rememberRoomKey(key: Uint8Array): string {
  const auth = deriveRoomAuthKey(key);
  const room = roomIdForAuthKey(auth.publicKey);
  ROOM_AUTH_KEYS.set(room, auth);
  return room;
}

/** The room-auth key of a `randomRoom()` room (to sign by hand in tests). */
export function roomAuthKeyOf(room: string): RoomAuthKey {
  const key = ROOM_AUTH_KEYS.get(room);
  if (!key) throw new Error(`room ${room} was not made by randomRoom()`);
  return key;
}

/** One join line with a real proof for `challenge`, for tests that pipeline raw bytes. */
export function joinLine(room: string, challenge: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ t: 'join', ...extra, room, ...makeJoinProof(roomAuthKeyOf(room), challenge, room) }) + '\n';
}
