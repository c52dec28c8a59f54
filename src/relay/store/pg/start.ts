// Starting a relay on PostgreSQL (`smc relay --postgres URL`, issue 9): open the cluster store
// (connect, refuse a server with fsync off, migrate, register the instance) or only migrate
// (`--migrate-only`), and say in one line why it failed — without the URL's password.
import type { RoomPeer } from '../../room';
import { ClusterRooms } from './clusterRooms';
import { PgStore } from './pgStore';
import { StoreRefusedError } from './types';
import { redactPostgresUrl } from './url';

export type PgLog = (event: string, fields: Record<string, unknown>) => void;

/** The rooms of a relay in a cluster, opened; rejects with a message for the operator. */
export async function openClusterRooms(url: string, retain: number, log: PgLog): Promise<ClusterRooms> {
  const rooms = new ClusterRooms(new PgStore<RoomPeer>({ url, retain, log }), { log });
  try {
    await rooms.open();
  } catch (err) {
    await rooms.close().catch(() => undefined);
    throw new Error(startProblem(err, url));
  }
  return rooms;
}

/** Creates or migrates the schema and returns the versions applied; rejects with a message. */
export async function migrateOnly(url: string): Promise<number[]> {
  try {
    return await PgStore.migrateOnly(url);
  } catch (err) {
    throw new Error(startProblem(err, url));
  }
}

/** One line: why the database cannot be used. */
export function startProblem(err: unknown, url: string): string {
  if (err instanceof StoreRefusedError) return err.message;
  const where = redactPostgresUrl(url);
  if (!(err instanceof Error)) return `cannot use PostgreSQL at ${where}: ${String(err)}`;
  const code = (err as { code?: unknown }).code;
  // The driver's messages name the host and port at most, never the password.
  const detail = typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT' || /timeout/i.test(err.message)) {
    return `cannot reach PostgreSQL at ${where} (${detail}); is it running, and is the address right?`;
  }
  if (code === '28P01' || code === '28000') return `PostgreSQL at ${where} refused the login (${detail}); check the user and PGPASSWORD or ~/.pgpass`;
  if (code === '3D000') return `PostgreSQL at ${where}: the database does not exist (${detail}); create it first (createdb)`;
  return `cannot use PostgreSQL at ${where}: ${detail}`;
}
