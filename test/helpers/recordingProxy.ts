// What the network and the relay's disk see (docs/protocol.md §2.8, §3): a TCP proxy in front of
// a real relay that records every byte both ways (and can rewrite the relay's frames, to play a
// malicious network), and the forms in which a secret could be found in what it recorded.
import { readdirSync, statSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { LineSplitter } from './lines';

export type ProxyFrame = Record<string, unknown> & { t: string };
/** Rewrites one relay→client frame into the frames the client gets instead. */
export type Rewrite = (f: ProxyFrame) => ProxyFrame[];

/** A recording, optionally malicious, TCP proxy in front of the relay. */
export class RecordingProxy {
  readonly server: Server;
  /** Every chunk, both ways, as it arrived. */
  readonly captured: Buffer[] = [];
  /** Frames clients sent (parsed), to reuse in attacks. */
  readonly fromClients: ProxyFrame[] = [];
  /** While set, every relay→client frame goes through it; unset, each line goes on as it came. */
  rewrite: Rewrite | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly relayPort: number) {
    this.server = createServer((client) => this.onClient(client));
  }

  static async start(relayPort: number): Promise<RecordingProxy> {
    const p = new RecordingProxy(relayPort);
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', r));
    return p;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  private onClient(client: Socket): void {
    const upstream = connect({ host: '127.0.0.1', port: this.relayPort });
    this.sockets.add(client).add(upstream);
    const down = new LineSplitter();
    const up = new LineSplitter();
    client.on('data', (chunk: Buffer) => {
      this.captured.push(Buffer.from(chunk));
      for (const line of up.push(chunk.toString('utf8'))) this.fromClients.push(JSON.parse(line) as ProxyFrame);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      this.captured.push(Buffer.from(chunk));
      for (const line of down.push(chunk.toString('utf8'))) {
        if (this.rewrite === undefined) {
          client.write(`${line}\n`);
          continue;
        }
        for (const f of this.rewrite(JSON.parse(line) as ProxyFrame)) client.write(JSON.stringify(f) + '\n');
      }
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

/** The forms in which a secret could leak: raw, base64, base64url, hex. */
export function forms(label: string, bytes: Buffer): [string, Buffer][] {
  return [
    [`${label} (raw)`, bytes],
    [`${label} (base64)`, Buffer.from(bytes.toString('base64').replace(/=+$/, ''))],
    [`${label} (base64url)`, Buffer.from(bytes.toString('base64url'))],
    [`${label} (hex)`, Buffer.from(bytes.toString('hex'))],
    [`${label} (HEX)`, Buffer.from(bytes.toString('hex').toUpperCase())],
  ];
}

/** Every file below `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}
