// What `smc room` and `smc chat` share: the config directory ($SMC_HOME) with the identity and
// room keys (secrets.json, mode 0600) and the room list (state.json), relay addresses, exit
// codes, and the errors that end a command with one clear line.
import { userInfo } from 'node:os';
import { KeyStore, KnownKeys, RoomList, ShownIdsState, displayNameFromLogin, displayNameProblem, migrateV1RoomIds } from '../core/keys/index';
import type { Identity } from '../core/crypto/index';
import { normalizeCertFingerprint } from '../core/crypto/index';
import { parseHostPort, type HostPort } from '../core/hostPort';
import { FileOutboxStore, FileSecretStore, FileStateStore, FileStoreError, smcHome } from '../node/fileStores';

/** Exit codes of `smc room` and `smc chat` (listed in their --help). */
export const CHAT_EXIT = {
  ok: 0,
  /** Anything else: the message says what. */
  other: 1,
  /** Bad arguments or a malformed invite. */
  usage: 2,
  /** --json: messages still not acknowledged by the relay when --timeout ran out. */
  unacked: 5,
  /** The key store refused to load (file permissions too open, damaged file). */
  keyStore: 6,
  /** A private room: this member was removed from it (docs/protocol.md §3.4). */
  removed: 7,
  /** A private room's invite was refused: used up, expired, revoked, or you were removed (§3.4). */
  refused: 8,
  /** A private room's invite: no admin added you within --timeout. */
  notAdded: 9,
} as const;

export const DEFAULT_RELAY = '127.0.0.1:7878';
/** The display name last used by `smc chat`, reused when --name is not given. */
export const LAST_NAME_STATE = 'smc.cli.displayName';
/** Room id -> pinned relay certificate fingerprint, for rooms on TLS relays (§1.8). */
export const TLS_PINS_STATE = 'smc.cli.tlsPins';

/** The pinned certificate fingerprint of a room's relay, if it speaks TLS. */
export function tlsPin(session: HomeStores, room: string): string | undefined {
  const pins = session.state.get<Record<string, unknown>>(TLS_PINS_STATE);
  const fp = pins !== undefined && Object.hasOwn(pins, room) ? pins[room] : undefined;
  return typeof fp === 'string' ? fp : undefined;
}

/** Remembers (or, with undefined, forgets) the certificate pin of a room's relay. */
export async function setTlsPin(session: HomeStores, room: string, fingerprint: string | undefined): Promise<void> {
  const pins = { ...(session.state.get<Record<string, string>>(TLS_PINS_STATE) ?? {}) };
  if (fingerprint === undefined) {
    if (!Object.hasOwn(pins, room)) return;
    delete pins[room];
  } else {
    if (pins[room] === fingerprint) return;
    Object.defineProperty(pins, room, { value: fingerprint, enumerable: true, writable: true, configurable: true });
  }
  await session.state.update(TLS_PINS_STATE, pins);
}

/** --tls-fingerprint: 64 hex digits, colons allowed (as `openssl x509 -fingerprint -sha256` prints). */
export function parseTlsFingerprint(s: string): string {
  const fp = normalizeCertFingerprint(s);
  if (fp === undefined) throw usageError('--tls-fingerprint must be the SHA-256 of the relay certificate: 64 hex digits (colons allowed)');
  return fp;
}

/** An error that ends the command: a one-line message on stderr and an exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, CHAT_EXIT.usage);

/** --relay (or a stored room's relay): "HOST:PORT" or "[IPv6]:PORT" by the rule of src/core/hostPort.ts. */
export function parseRelayAddress(s: string): HostPort {
  const address = parseHostPort(s);
  if (address === undefined) {
    throw usageError(`--relay must be HOST:PORT (for example 127.0.0.1:7878 or [::1]:7878), not "${s}"`);
  }
  return address;
}

/** The stores of one `smc` invocation, all in $SMC_HOME. */
export interface HomeStores {
  home: string;
  state: FileStateStore;
  keys: KeyStore;
  rooms: RoomList;
  known: KnownKeys;
  /** The ids shown per room, so that a replay is caught after a restart too (docs/protocol.md §2.8). */
  shown: ShownIdsState;
  /** Messages the relay has not acked yet, kept until it does (docs/protocol.md §1.5): $SMC_HOME/outbox. */
  outbox: FileOutboxStore;
  identity: Identity;
  /** secrets.json itself, for secrets other than room keys (private rooms' state, docs/protocol.md §3.8). */
  secrets: FileSecretStore;
}

/** Opens $SMC_HOME (creating it 0700), loads or creates the identity. */
export async function openHomeStores(): Promise<HomeStores> {
  const home = smcHome();
  try {
    const secrets = new FileSecretStore(home);
    const state = new FileStateStore(home);
    const keys = new KeyStore(secrets);
    const identity = await keys.identity();
    const rooms = new RoomList(state);
    // Protocol v2 (§2.2) derives room ids differently: rooms stored under a v1 id move first,
    // before KnownKeys reads its copy of the state.
    const moved = (await migrateV1RoomIds(keys, rooms, state, [TLS_PINS_STATE])).length;
    if (moved > 0) {
      process.stderr.write(`smc: ${moved} room(s) moved to protocol v2 room ids; messages from before stay on the relay under the old id, which SMC no longer joins\n`);
    }
    const outbox = new FileOutboxStore(home, (problem) => void process.stderr.write(`smc: outbox: ${problem}\n`));
    return { home, state, keys, rooms, known: new KnownKeys(state), shown: new ShownIdsState(state), outbox, identity, secrets };
  } catch (err) {
    if (err instanceof FileStoreError || (err instanceof Error && err.name === 'KeyStoreError')) {
      throw new CliError(err.message, CHAT_EXIT.keyStore);
    }
    throw err;
  }
}

/** Checks a display name by the one rule of src/core/keys/displayName.ts (docs/protocol.md §2.3). */
export function checkDisplayName(name: string): string {
  const problem = displayNameProblem(name);
  if (problem !== undefined) throw usageError(`--name: ${problem}`);
  return name;
}

/** --name, else the last name used, else the login name. */
export function displayNameFor(session: HomeStores, flag: string | undefined): string {
  if (flag !== undefined) return checkDisplayName(flag);
  const last = session.state.get<unknown>(LAST_NAME_STATE);
  if (typeof last === 'string' && last.length > 0) return last;
  let login = '';
  try {
    login = userInfo().username;
  } catch {
    // no passwd entry (some containers): the fallback below
  }
  return displayNameFromLogin(login) ?? 'me';
}
