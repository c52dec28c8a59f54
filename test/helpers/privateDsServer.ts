// The in-memory Delivery Service of privateDs.ts behind a real TCP socket on 127.0.0.1, for
// driving `smc chat` processes against the spec of docs/protocol.md §3.6 before (and besides)
// the relay's own implementation.
import { createServer, type Server } from 'node:net';
import { PrivateDs } from './privateDs';
import type { TransportEvents } from '../../src/core/client/types';

export class PrivateDsServer {
  readonly ds = new PrivateDs();
  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(): Promise<PrivateDsServer> {
    const holder: { s?: PrivateDsServer } = {};
    const server = createServer((socket) => {
      const t = holder.s!.ds.factory('127.0.0.1', 0) as unknown as {
        write(l: string): void; close(): void; on<E extends keyof TransportEvents>(e: E, l: (...a: TransportEvents[E]) => void): void;
      };
      t.on('line', (line) => socket.write(line + '\n'));
      t.on('close', () => socket.destroy());
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, '');
          buf = buf.slice(nl + 1);
          if (line.length > 0) t.write(line);
        }
      });
      socket.on('close', () => t.close());
      socket.on('error', () => t.close());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    holder.s = new PrivateDsServer(server, addr.port);
    return holder.s;
  }

  async stop(): Promise<void> {
    for (const c of this.ds.conns) c.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
