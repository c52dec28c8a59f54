// A relay that speaks the protocol by hand, for client tests (attack-client, client-joinproof):
// a real TCP server on 127.0.0.1 whose `onFrame` answers each frame a client sends, so a test
// can play a relay that lies, refuses, or never finishes a catch-up (docs/protocol.md §1).
import { createServer, type Server, type Socket } from 'node:net';
import { readLines } from './lines';
import type { Frame } from './lineClient';

/** One connection to the scripted relay: what the client sent, and a way to answer. */
export interface ScriptedConn {
  /** 0 for the first connection, then 1, 2, ... */
  index: number;
  socket: Socket;
  /** Every frame the client sent on it, in order. */
  frames: Frame[];
  /** Writes one frame as a line (nothing once the socket is destroyed). */
  send(f: Frame): void;
}

/** By default `hello` gets a v2 welcome with a fresh challenge per connection; `onFrame` changes that. */
export class ScriptedRelay {
  readonly conns: ScriptedConn[] = [];
  /** The challenge of each connection's welcome, by connection index. */
  readonly challenges: string[] = [];
  onFrame: (c: ScriptedConn, f: Frame) => void = (c, f) => void this.welcome(c, f);

  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(): Promise<ScriptedRelay> {
    const holder: { relay?: ScriptedRelay } = {};
    const server = createServer((s) => holder.relay?.accept(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    holder.relay = new ScriptedRelay(server, addr.port);
    return holder.relay;
  }

  /** Answers a hello with the v2 welcome (§1.3: a challenge of 43 b64u chars, different on every connection); false for any other frame. */
  welcome(c: ScriptedConn, f: Frame): boolean {
    if (f.t !== 'hello') return false;
    const challenge = Buffer.from(`challenge of connection ${c.index}`.padEnd(32, '.')).toString('base64url');
    this.challenges[c.index] = challenge;
    c.send({ t: 'welcome', v: 2, agent: 'scripted/0', maxFrame: 65_536, time: Date.now(), challenge });
    return true;
  }

  /** Answers a join as a relay with an empty room would (§1.4). */
  joined(c: ScriptedConn, f: Frame): void {
    c.send({ t: 'joined', rid: f.rid, room: f.room, head: 0, sid: `s${c.index}` });
    c.send({ t: 'synced', rid: f.rid, room: f.room, head: 0, from: 1 });
  }

  /** Every join the clients sent, with the index of its connection. */
  joins(): { conn: number; frame: Frame }[] {
    return this.conns.flatMap((c) => c.frames.filter((f) => f.t === 'join').map((frame) => ({ conn: c.index, frame })));
  }

  /** Frames of type `t` the clients sent, over every connection. */
  sent(t: string): Frame[] {
    return this.conns.flatMap((c) => c.frames.filter((f) => f.t === t));
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const c: ScriptedConn = {
      index: this.conns.length, socket, frames: [],
      send: (f) => void (socket.destroyed || socket.write(`${JSON.stringify(f)}\n`)),
    };
    this.conns.push(c);
    socket.on('error', () => undefined);
    // A client under test sends JSON only: a line that is not throws, and fails the test.
    readLines(socket, (line) => {
      const f = JSON.parse(line) as Frame;
      c.frames.push(f);
      this.onFrame(c, f);
    });
  }
}
