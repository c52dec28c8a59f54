// A TCP proxy on 127.0.0.1 in front of a real relay, for tests that need a connection to arrive
// late or a frame to be lost at a chosen moment: `hold()` makes new connections wait (accepted,
// nothing forwarded) until `release()`; `dropToRelay` / `dropToClient` lose the frames they
// match (a `send` that never reaches the relay, an `ack` that never reaches the client), and
// every frame seen each way is kept, dropped ones included.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { readLines } from './lines';

export type GateFrame = Record<string, unknown> & { t: string };

export class GateProxy {
  /** Every frame the clients sent, over every connection, in order (dropped ones too). */
  readonly fromClients: GateFrame[] = [];
  /** Every frame the relay sent, over every connection, in order (dropped ones too). */
  readonly fromRelay: GateFrame[] = [];
  /** Frames matched by a drop rule, each way. */
  readonly droppedToRelay: GateFrame[] = [];
  readonly droppedToClient: GateFrame[] = [];
  dropToRelay: (f: GateFrame) => boolean = () => false;
  dropToClient: (f: GateFrame) => boolean = () => false;
  private held = false;
  private readonly waiting: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly port: number, private readonly relayPort: number) {}

  static async start(relayPort: number): Promise<GateProxy> {
    const holder: { proxy?: GateProxy } = {};
    const server = createServer((client) => holder.proxy?.onClient(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
    holder.proxy = new GateProxy(server, addr.port, relayPort);
    return holder.proxy;
  }

  /** Connections from now on wait, accepted but not forwarded, until release(). */
  hold(): void {
    this.held = true;
  }

  /** Forwards the waiting connections, and every later one at once. */
  release(): void {
    this.held = false;
    for (const go of this.waiting.splice(0)) go();
  }

  /** How many connections are waiting for release(). */
  get heldCount(): number {
    return this.waiting.length;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onClient(client: Socket): void {
    this.sockets.add(client);
    client.pause();
    const go = (): void => {
      if (client.destroyed) return;
      const upstream = connect(this.relayPort, '127.0.0.1');
      this.sockets.add(upstream);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      readLines(client, (line) => this.pass(line, this.fromClients, this.dropToRelay, this.droppedToRelay, upstream));
      readLines(upstream, (line) => this.pass(line, this.fromRelay, this.dropToClient, this.droppedToClient, client));
      client.resume();
    };
    client.on('error', () => client.destroy());
    if (this.held) this.waiting.push(go);
    else go();
  }

  private pass(line: string, seen: GateFrame[], drop: (f: GateFrame) => boolean, dropped: GateFrame[], to: Socket): void {
    if (line.length === 0) return;
    let f: GateFrame | undefined;
    try {
      f = JSON.parse(line) as GateFrame;
    } catch {
      f = undefined;
    }
    if (f !== undefined) {
      seen.push(f);
      if (drop(f)) {
        dropped.push(f);
        return;
      }
    }
    if (!to.destroyed) to.write(`${line}\n`);
  }
}
