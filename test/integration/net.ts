// Plain TCP and process probes for the integration suite: what a client or an operator would
// see of a relay (PROTOCOL.md §1.3 hello/welcome), without the extension's own client code.
import { connect, createServer } from 'node:net';

/** One line-framed exchange: sends `hello`, resolves with the first frame the relay answers. */
export function helloWelcome(port: number): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      rej(new Error('no answer to hello within 10 s'));
    }, 10_000);
    sock.once('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.destroy();
      res(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
    });
    sock.write(`${JSON.stringify({ t: 'hello', v: 1, agent: 'smc-integration-test/1' })}\n`);
  });
}

/** True when nothing accepts connections on the port any more. */
export function portClosed(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      res(false);
    });
    sock.once('error', () => res(true));
  });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}
