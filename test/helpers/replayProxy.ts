// A malicious relay for client tests (issue 7 §2.1): a TCP proxy on 127.0.0.1 in front of a
// real relay process. It forwards every line both ways unchanged, remembers every stored `msg`
// the relay sent to any client, and, when armed, injects frames of its own into a connection
// right after the relay's `synced` for a room — e.g. an earlier message again under a new seq,
// which is what a relay that replays old envelopes after a client's restart does (§2.8).
import { createServer, connect, type Server, type Socket } from 'node:net';
import { readLines } from './lines';

export type ProxyFrame = Record<string, unknown> & { t: string };

/** Frames to inject after a `synced` on connection number `conn` (0 is the first connection). */
export type Injector = (conn: number, synced: ProxyFrame) => ProxyFrame[];

export class ReplayProxy {
  /** Every stored msg the relay sent, first copy per id, in order. */
  readonly msgs: ProxyFrame[] = [];
  /** Every line each connection's client sent, parsed (for asserting what a client sends). */
  readonly sent: ProxyFrame[][] = [];
  /** Every line the relay sent on each connection, parsed. */
  readonly received: ProxyFrame[][] = [];
  private injector: Injector | undefined;
  private injectBefore = false;
  private connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(relayPort: number, relayHost = '127.0.0.1'): Promise<ReplayProxy> {
    const holder: { proxy?: ReplayProxy } = {};
    const server = createServer((client) => holder.proxy?.onClient(client, relayHost, relayPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('proxy has no port');
    holder.proxy = new ReplayProxy(server, addr.port);
    return holder.proxy;
  }

  /**
   * From now on, at each `synced` the relay sends, `fn` says what to inject: after it (live
   * frames), or with `before` just before it (inside the join's catch-up).
   */
  arm(fn: Injector | undefined, where: 'after' | 'before' = 'after'): void {
    this.injector = fn;
    this.injectBefore = where === 'before';
  }

  /** The first msg frame the relay sent for `id`. */
  msgById(id: string): ProxyFrame | undefined {
    return this.msgs.find((m) => m.id === id);
  }

  get connectionCount(): number {
    return this.connections;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onClient(client: Socket, host: string, port: number): void {
    const conn = this.connections++;
    const sent: ProxyFrame[] = [];
    this.sent.push(sent);
    const received: ProxyFrame[] = [];
    this.received.push(received);
    const upstream = connect(port, host);
    this.sockets.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    readLines(client, (line) => {
      if (line.length === 0) return;
      try {
        sent.push(JSON.parse(line) as ProxyFrame);
      } catch {
        // not JSON: forwarded as it is
      }
      upstream.write(`${line}\n`);
    });
    readLines(upstream, (line) => {
      if (line.length === 0) return;
      let f: ProxyFrame | undefined;
      try {
        f = JSON.parse(line) as ProxyFrame;
      } catch {
        f = undefined;
      }
      const extras = f?.t === 'synced' && this.injector !== undefined ? this.injector(conn, f) : [];
      if (this.injectBefore) for (const extra of extras) client.write(`${JSON.stringify(extra)}\n`);
      client.write(`${line}\n`);
      if (!this.injectBefore) for (const extra of extras) client.write(`${JSON.stringify(extra)}\n`);
      if (f === undefined) return;
      received.push(f);
      if (f.t === 'msg' && typeof f.seq === 'number' && !this.msgs.some((m) => m.id === f.id)) this.msgs.push(f);
    });
  }
}
