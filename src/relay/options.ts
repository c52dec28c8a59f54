// The relay's options: each a flag of `smc relay` and an environment variable (docs/relay.md).
// Defaults are those of docs/protocol.md §1 (LIMITS). Parsing and checking live here so that the
// CLI, the tests and the benchmarks build a relay the same way.
import { LIMITS } from '../core/wire/frames';
import type { LogFormat } from './log';
import { checkPostgresUrl } from './store/pg/url';

export interface RelayOptions {
  host: string;
  port: number;
  dataDir: string;
  maxFrame: number;
  retain: number;
  /** Sends per second per connection; 0 lifts the limit (§1.7). */
  rate: number;
  burst: number;
  maxConns: number;
  maxConnsPerIp: number;
  /**
   * §1.9: join proofs checked per second per remote address, across its connections (burst 8×);
   * 0 lifts the limit (a load generator or a trusted proxy that is one address for many people).
   */
  joinRatePerIp: number;
  /**
   * §1.7 `room_quota`: bytes of stored bodies one room may take in per hour (all at once, then
   * refilled continuously), whichever connection sends; 0 lifts the bound.
   */
  roomBytes: number;
  /** Bytes accepted for one connection and not yet handed to the OS (§1.7 slow readers). */
  maxOutput: number;
  /**
   * §1.7: the same, summed over every connection, plus the chunks reply streams are
   * reading: the total cannot grow with the number of connections (outputBudget.ts).
   */
  maxOutputTotal: number;
  logFormat: LogFormat;
  /**
   * docs/relay.md "The log": log lines per remote address per window (one minute); more are folded into
   * one `log_folded` line per address and window. 0 writes every line.
   */
  logPerAddr: number;
  /** The window of `logPerAddr` (60 s; only the tests shorten it, hidden env override). */
  logWindowMs: number;
  /**
   * §1.9: accept a join without a proof (v1 clients, tools, trusted networks). Off by default:
   * it lets anyone who knows a room id store into the room and read its ciphertext.
   */
  allowV1Joins: boolean;
  /** §1.8 optional TLS: PEM certificate and key files; both or neither. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /**
   * Issue 9: keep messages in this PostgreSQL database instead of the data directory; every relay
   * on one database serves the same rooms (store/pg/url.ts says what the URL may carry).
   */
  postgres: string | undefined;
  /** With `postgres`: create or migrate the schema, then exit. */
  migrateOnly: boolean;
  /**
   * A lease file (docs/relay.md "Options", --lease): while set, the relay stops by itself (as on SIGTERM)
   * once the file is older than `leaseTtl` seconds or gone. Whoever started it (the VS Code
   * extension) touches it while it wants the relay: a starter killed outright leaves no orphan.
   */
  lease: string | undefined;
  leaseTtl: number;
  /** §1.3 fixes these at 10 s and 90 s; only the tests shorten them (hidden env overrides). */
  helloTimeoutMs: number;
  idleTimeoutMs: number;
  /** §1.7: a stopping relay exits within this time. */
  shutdownMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  host: '127.0.0.1',
  port: 7878,
  dataDir: './.smc/relay',
  maxFrame: LIMITS.maxFrame,
  retain: LIMITS.retain,
  rate: LIMITS.rate,
  burst: LIMITS.burst,
  maxConns: LIMITS.maxConnections,
  maxConnsPerIp: LIMITS.maxConnectionsPerIp,
  joinRatePerIp: 32,
  roomBytes: 256 * 1024 * 1024,
  maxOutput: LIMITS.maxOutputBytes,
  maxOutputTotal: 64 * 1024 * 1024,
  logFormat: 'text',
  logPerAddr: 600,
  logWindowMs: 60_000,
  allowV1Joins: false,
  tlsCert: undefined,
  tlsKey: undefined,
  postgres: undefined,
  migrateOnly: false,
  lease: undefined,
  leaseTtl: 300,
  helloTimeoutMs: LIMITS.helloTimeoutMs,
  idleTimeoutMs: LIMITS.idleTimeoutMs,
  shutdownMs: LIMITS.shutdownMs,
};

/** One option as a flag, its environment variable, and how to read and check it. */
export interface OptionSpec<K extends keyof RelayOptions = keyof RelayOptions> {
  key: K;
  flag: string;
  env: string;
  /** Placeholder in --help. */
  arg: string;
  help: string;
  /** A flag without a value (`--allow-v1-joins`); its variable takes 1/true/yes or 0/false/no. */
  boolean?: true;
  parse(raw: string): RelayOptions[K];
}

/** An OptionSpec of any one option (its key and its parser's result agree). */
export type AnyOptionSpec = { [K in keyof RelayOptions]: OptionSpec<K> }[keyof RelayOptions];

/** A problem with the command line or the environment: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'EUSAGE';
}

function integer(name: string, min: number, max: number): (raw: string) => number {
  return (raw) => {
    const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
    }
    return n;
  };
}

/**
 * §1.1: --max-frame is capped at 1 MiB. Every line up to it is buffered and parsed in
 * one piece, and 1 MiB is 16 default frames: more than any envelope of §2.3 needs.
 */
export const MAX_FRAME_CAP = 1024 * 1024;

function maxFrame(raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (Number.isSafeInteger(n) && n > MAX_FRAME_CAP) {
    throw new UsageError(`--max-frame is at most ${MAX_FRAME_CAP} (1 MiB; got "${raw}"): longer lines cost the relay memory for every connection`);
  }
  return integer('--max-frame', 4096, MAX_FRAME_CAP)(raw);
}

/** A flag without a value; its variable takes 1/true/yes or 0/false/no. */
function flag(name: string): (raw: string) => boolean {
  return (raw) => {
    const v = raw.trim().toLowerCase();
    if (v === '1' || v === 'true' || v === 'yes') return true;
    if (v === '0' || v === 'false' || v === 'no') return false;
    throw new UsageError(`${name} takes no value; its variable is 1/true/yes or 0/false/no (got "${raw}")`);
  };
}

/** The URL's own check, as a usage error (its messages never repeat the URL: no password shown). */
function postgresUrl(raw: string): string {
  try {
    return checkPostgresUrl(raw);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function text(name: string): (raw: string) => string {
  return (raw) => {
    if (raw.trim() === '') throw new UsageError(`${name} must not be empty`);
    return raw;
  };
}

/** The public options, in --help order. */
export const OPTION_SPECS: readonly AnyOptionSpec[] = [
  { key: 'host', flag: 'host', env: 'SMC_RELAY_HOST', arg: 'ADDR', help: 'address to listen on (0.0.0.0 for all interfaces)', parse: text('--host') },
  { key: 'port', flag: 'port', env: 'SMC_RELAY_PORT', arg: 'N', help: 'TCP port (0 picks a free one)', parse: integer('--port', 0, 65535) },
  { key: 'dataDir', flag: 'data', env: 'SMC_RELAY_DATA', arg: 'DIR', help: 'data directory (message log, lock, admin-token)', parse: text('--data') },
  { key: 'maxFrame', flag: 'max-frame', env: 'SMC_RELAY_MAX_FRAME', arg: 'BYTES', help: 'longest line in either direction', parse: maxFrame },
  { key: 'retain', flag: 'retain', env: 'SMC_RELAY_RETAIN', arg: 'N', help: 'messages kept per room at least', parse: integer('--retain', 1, 1_000_000_000) },
  { key: 'rate', flag: 'rate', env: 'SMC_RELAY_RATE', arg: 'N', help: 'sends per second per connection (0: no limit)', parse: integer('--rate', 0, 1_000_000_000) },
  { key: 'burst', flag: 'burst', env: 'SMC_RELAY_BURST', arg: 'N', help: 'sends allowed at once above the rate', parse: integer('--burst', 1, 1_000_000_000) },
  { key: 'maxConns', flag: 'max-conns', env: 'SMC_RELAY_MAX_CONNS', arg: 'N', help: 'connections in all', parse: integer('--max-conns', 1, 10_000_000) },
  { key: 'maxConnsPerIp', flag: 'max-conns-per-ip', env: 'SMC_RELAY_MAX_CONNS_PER_IP', arg: 'N', help: 'connections per remote address', parse: integer('--max-conns-per-ip', 1, 10_000_000) },
  { key: 'joinRatePerIp', flag: 'join-rate-per-ip', env: 'SMC_RELAY_JOIN_RATE_PER_IP', arg: 'N', help: 'join proofs checked per second per remote address, burst 8×N (0 = no limit)', parse: integer('--join-rate-per-ip', 0, 1_000_000) },
  { key: 'roomBytes', flag: 'room-bytes', env: 'SMC_RELAY_ROOM_BYTES', arg: 'BYTES', help: 'bytes of messages one room may store per hour, refilled continuously (0 = no limit)', parse: integer('--room-bytes', 0, Number.MAX_SAFE_INTEGER) },
  { key: 'maxOutput', flag: 'max-output', env: 'SMC_RELAY_MAX_OUTPUT', arg: 'BYTES', help: 'output queued for one connection before it is closed as a slow reader', parse: integer('--max-output', 65536, 1024 * 1024 * 1024) },
  { key: 'maxOutputTotal', flag: 'max-output-total', env: 'SMC_RELAY_MAX_OUTPUT_TOTAL', arg: 'BYTES', help: 'output queued for all connections together; over it the most stalled readers are closed', parse: integer('--max-output-total', 1024 * 1024, 64 * 1024 * 1024 * 1024) },
  {
    key: 'allowV1Joins', flag: 'allow-v1-joins', env: 'SMC_RELAY_ALLOW_V1_JOINS', arg: '', boolean: true,
    help: 'accept joins without a proof (v1 clients, tools; anyone who knows a room id may then write it)',
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (v === '1' || v === 'true' || v === 'yes') return true;
      if (v === '0' || v === 'false' || v === 'no') return false;
      throw new UsageError(`--allow-v1-joins takes no value; its variable is 1/true/yes or 0/false/no (got "${raw}")`);
    },
  },
  { key: 'tlsCert', flag: 'tls-cert', env: 'SMC_RELAY_TLS_CERT', arg: 'FILE', help: 'listen with TLS (§1.8): PEM certificate, self-signed is fine', parse: text('--tls-cert') },
  { key: 'tlsKey', flag: 'tls-key', env: 'SMC_RELAY_TLS_KEY', arg: 'FILE', help: 'PEM private key of --tls-cert', parse: text('--tls-key') },
  {
    key: 'postgres', flag: 'postgres', env: 'SMC_RELAY_POSTGRES', arg: 'URL',
    help: 'keep messages in PostgreSQL, postgres://user@host:5432/db (sslmode=verify-full...); relays on one database serve the same rooms',
    parse: postgresUrl,
  },
  { key: 'migrateOnly', flag: 'migrate-only', env: 'SMC_RELAY_MIGRATE_ONLY', arg: '', boolean: true, help: 'with --postgres: create or migrate the schema, then exit', parse: flag('--migrate-only') },
  { key: 'lease', flag: 'lease', env: 'SMC_RELAY_LEASE', arg: 'FILE', help: 'stop by itself once FILE is older than --lease-ttl seconds or gone (its starter touches it)', parse: text('--lease') },
  { key: 'leaseTtl', flag: 'lease-ttl', env: 'SMC_RELAY_LEASE_TTL', arg: 'SECONDS', help: 'how old the --lease file may get', parse: integer('--lease-ttl', 2, 604_800) },
  { key: 'logPerAddr', flag: 'log-per-addr', env: 'SMC_RELAY_LOG_PER_ADDR', arg: 'N', help: 'log lines per remote address per minute; more are folded into one summary line (0: no folding)', parse: integer('--log-per-addr', 0, 1_000_000_000) },
  {
    key: 'logFormat', flag: 'log-format', env: 'SMC_RELAY_LOG_FORMAT', arg: 'text|json', help: 'log line format',
    parse: (raw) => {
      if (raw !== 'text' && raw !== 'json') throw new UsageError(`--log-format must be "text" or "json" (got "${raw}")`);
      return raw;
    },
  },
];

/**
 * Test-only environment overrides of the timeouts that §1.3 fixes (10 s hello, 90 s idle), so
 * that the conformance tests need not wait for them. Not in --help; documented for testers.
 */
export const TEST_ENV = {
  helloTimeoutMs: 'SMC_RELAY_HELLO_TIMEOUT_MS',
  idleTimeoutMs: 'SMC_RELAY_IDLE_TIMEOUT_MS',
  logWindowMs: 'SMC_RELAY_LOG_WINDOW_MS',
} as const;

const TEST_ENV_KEYS: readonly (keyof typeof TEST_ENV)[] = ['helloTimeoutMs', 'idleTimeoutMs', 'logWindowMs'];

/** Sets one option from its raw string (one function, so that key and value types agree). */
function applyOption<K extends keyof RelayOptions>(options: RelayOptions, spec: OptionSpec<K>, raw: string): void {
  options[spec.key] = spec.parse(raw);
}

/**
 * Resolves options: a flag beats its environment variable, which beats the default.
 * `flags` maps flag names (without "--") to their raw strings.
 */
export function resolveRelayOptions(
  flags: Record<string, string | undefined>,
  env: Record<string, string | undefined>,
): RelayOptions {
  const options: RelayOptions = { ...DEFAULT_RELAY_OPTIONS };
  for (const spec of OPTION_SPECS) {
    const fromFlag = flags[spec.flag];
    const fromEnv = env[spec.env];
    if (fromFlag !== undefined) applyOption(options, spec, fromFlag);
    else if (fromEnv !== undefined && fromEnv !== '') {
      try {
        applyOption(options, spec, fromEnv);
      } catch (err) {
        throw new UsageError(`${spec.env}: ${(err as Error).message}`);
      }
    }
  }
  for (const key of TEST_ENV_KEYS) {
    const name = TEST_ENV[key];
    const raw = env[name];
    if (raw !== undefined && raw !== '') options[key] = integer(name, 10, 3_600_000)(raw);
  }
  if (options.burst < 1) throw new UsageError('--burst must be at least 1');
  if (options.migrateOnly && options.postgres === undefined) {
    throw new UsageError('--migrate-only needs --postgres URL (or SMC_RELAY_POSTGRES)');
  }
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  // A join or history reply is read in chunks of at most a quarter of the bound
  // (replyReader.ts), so the bound must hold a few frames for a chunk to carry any message.
  if (options.maxOutput < 4 * options.maxFrame) {
    throw new UsageError(`--max-output must be at least 4 × --max-frame (${4 * options.maxFrame})`);
  }
  // One connection may hold its whole bound, and a reply chunk must fit beside it.
  if (options.maxOutputTotal < options.maxOutput) {
    throw new UsageError(`--max-output-total must be at least --max-output (${options.maxOutput})`);
  }
  return options;
}
