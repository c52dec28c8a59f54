// Ephemeral messages across the relays of a cluster (docs/protocol.md §1.5 "Ephemeral": typing
// indicators, not stored, no seq, no dedup). The sending relay delivers to its own members at
// once; the others get the message through a NOTIFY whose payload is the message itself. Best
// effort, as ephemeral messages are on one relay: a NOTIFY is not replayed to a relay that is
// reconnecting, and a body too long for a NOTIFY payload (PostgreSQL's limit is 8 000 bytes)
// reaches the sending relay's members only.
//
// The NOTIFY goes out in a transaction of its own, with synchronous_commit off for it alone
// (set_config(..., true) in the statement's implicit transaction): nothing here is durable, so
// it need not wait for a WAL flush, and it never shares a transaction with an append.
import type { Database } from './database';

export const EPHEMERAL_CHANNEL = 'smc_ephemeral';

/** PostgreSQL refuses NOTIFY payloads of 8 000 bytes and more. */
export const MAX_EPHEMERAL_PAYLOAD = 7_999;

/** Ephemeral NOTIFYs in flight at most; more are dropped (a slow database: best effort). */
const MAX_IN_FLIGHT = 256;

export interface EphemeralMessage {
  room: string;
  id: string;
  body: string;
}

/** "instance room id body": room and id are [A-Za-z0-9_-] and body is b64u, so spaces split it. */
export function encodeEphemeral(instance: string, m: EphemeralMessage): string {
  return `${instance} ${m.room} ${m.id} ${m.body}`;
}

export function decodeEphemeral(payload: string): { instance: string; message: EphemeralMessage } | undefined {
  const parts = payload.split(' ');
  if (parts.length !== 4) return undefined;
  const [instance, room, id, body] = parts as [string, string, string, string];
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(room) || !/^[A-Za-z0-9_-]{1,64}$/.test(id) || body === '') return undefined;
  return { instance, message: { room, id, body } };
}

export class EphemeralRelay {
  private inFlight = 0;
  /** Published, dropped (too long, database away or slow), received from other relays. */
  readonly stats = { published: 0, dropped: 0, received: 0 };

  constructor(
    private readonly db: Database,
    private readonly instance: string,
    private readonly log: (event: string, fields: Record<string, unknown>) => void,
  ) {}

  /** Tells the other relays; never throws, never waits (the sender's ack does not depend on it). */
  publish(m: EphemeralMessage): void {
    const payload = encodeEphemeral(this.instance, m);
    if (Buffer.byteLength(payload, 'utf8') > MAX_EPHEMERAL_PAYLOAD || this.inFlight >= MAX_IN_FLIGHT || this.db.state !== 'up') {
      this.stats.dropped++;
      return;
    }
    this.inFlight++;
    this.db.query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)", [EPHEMERAL_CHANNEL, payload]).then(
      () => {
        this.stats.published++;
      },
      (err: unknown) => {
        this.stats.dropped++;
        this.log('pg.ephemeral_failed', { room: m.room, error: err instanceof Error ? err.message : String(err) });
      },
    ).finally(() => {
      this.inFlight--;
    });
  }

  /** A NOTIFY payload: the message, unless this relay sent it (it delivered it already). */
  received(payload: string): EphemeralMessage | undefined {
    const decoded = decodeEphemeral(payload);
    if (decoded === undefined || decoded.instance === this.instance) return undefined;
    this.stats.received++;
    return decoded.message;
  }
}
