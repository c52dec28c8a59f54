// `smc relay`: runs the relay of docs/protocol.md §1 on an embedded store in a data directory,
// or with --postgres on PostgreSQL, where any number of relays serve the same rooms (issue 9).
// Options are flags, each also an environment variable (relay/options.ts). Exit codes:
// 0 stopped cleanly, 1 other error, 2 usage, 3 cannot listen, 4 data directory unusable or locked.
import { mkdir, access, constants, readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatHostPort } from '../core/hostPort';
import { AdminToken } from '../relay/adminToken';
import { FoldingLogger, createLogger, type LogFields, type RelayLogger } from '../relay/log';
import { OPTION_SPECS, UsageError, resolveRelayOptions, type RelayOptions } from '../relay/options';
import { RelayServer, certificateFingerprint } from '../relay/server';
import { FileStore } from '../relay/store/fileStore';
import type { ClusterRooms } from '../relay/store/pg/clusterRooms';
import { migrateOnly, openClusterRooms } from '../relay/store/pg/start';
import { redactPostgresUrl } from '../relay/store/pg/url';
import type { MessageStore } from '../relay/store/types';
import { EXIT, describeArgumentError, smcCommand, type Command } from './command';
import { SMC_VERSION } from '../node/version';
import { terminalSafe } from './terminalText';

function help(): string {
  const flags = OPTION_SPECS.map((s) => {
    const left = s.boolean ? `  --${s.flag}` : `  --${s.flag} ${s.arg}`;
    return `${left.padEnd(30)} ${s.help}\n${''.padEnd(31)}[env ${s.env}]`;
  });
  return [
    'Usage: smc relay [options]',
    '',
    'Runs an SMC relay: it stores and forwards end-to-end encrypted messages it cannot read.',
    '',
    'Options (each also an environment variable; a flag wins over its variable):',
    ...flags,
    `${'  -h, --help'.padEnd(30)} show this help`,
    '',
    'Defaults: --host 127.0.0.1 --port 7878 --data ./.smc/relay --max-frame 65536 --retain 10000',
    '          --rate 100 --burst 200 --max-conns 10000 --max-conns-per-ip 64',
    '          --max-output 8388608 --max-output-total 67108864 --log-per-addr 600 --log-format text',
    '          (TLS off unless --tls-cert and --tls-key; joins need a proof unless --allow-v1-joins;',
    '          no lease unless --lease, then --lease-ttl 300)',
    '',
    'Examples:',
    '  smc relay                                      a relay on 127.0.0.1:7878, data in ./.smc/relay',
    '  smc relay --host 0.0.0.0 --data /var/lib/smc   a relay for the LAN',
    '  SMC_RELAY_PORT=9000 smc relay --log-format json',
    '  smc relay --rate 0                             no send rate limit (benchmarks, trusted networks)',
    '  smc relay --allow-v1-joins                     also accept joins without a proof (v1 clients; see docs/relay.md)',
    '  smc relay --tls-cert relay.crt --tls-key relay.key   TLS; the log shows the fingerprint invites pin',
    '  SMC_RELAY_POSTGRES=postgres://smc@db:5432/smc?sslmode=verify-full smc relay',
    '                                                 messages in PostgreSQL; run several relays on one database',
    '                                                 (password: PGPASSWORD or ~/.pgpass; see docs/relay.md "Cluster")',
    '',
    'Talk to it by hand: nc 127.0.0.1 7878, then type {"t":"hello","v":1}',
    'Stop it with Ctrl-C or SIGTERM (clients get "bye"), or by sending',
    '  {"t":"admin","op":"shutdown","token":"<the line in <data>/admin-token>"}',
    '(an empty admin-token file disables admin). With --postgres, --data keeps only the admin token.',
    '',
    'Exit codes: 0 stopped cleanly, 1 other error, 2 usage error,',
    '            3 cannot listen (port in use, address not available), 4 data directory unusable or locked.',
    '',
  ].join('\n');
}

function parseFlags(args: string[]): { help: boolean; flags: Record<string, string | undefined> } {
  const spec: Record<string, { type: 'string' } | { type: 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const s of OPTION_SPECS) spec[s.flag] = s.boolean ? { type: 'boolean' } : { type: 'string' };
  try {
    const { values } = parseArgs({ args, options: spec, allowPositionals: false, strict: true });
    const flags: Record<string, string | undefined> = {};
    for (const s of OPTION_SPECS) {
      const v = values[s.flag];
      flags[s.flag] = typeof v === 'boolean' ? (v ? 'true' : undefined) : v;
    }
    return { help: values.help === true, flags };
  } catch (err) {
    throw new UsageError(describeArgumentError(err));
  }
}

/** A one-line reason the data directory cannot be used, or undefined when it can. */
async function prepareDataDir(dir: string): Promise<string | undefined> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES' || e.code === 'EPERM') return `data directory ${dir} is not writable (${e.code}); choose another with --data or fix its permissions`;
    if (e.code === 'ENOTDIR' || e.code === 'EEXIST') return `data directory ${dir} is not a directory; choose another with --data`;
    if (e.code === 'EROFS') return `data directory ${dir} is on a read-only file system; choose another with --data`;
    return `data directory ${dir} cannot be used: ${e.code ?? ''} ${e.message}`.trim();
  }
}

function listenProblem(err: NodeJS.ErrnoException, options: RelayOptions): string {
  const where = formatHostPort(options.host, options.port);
  if (err.code === 'EADDRINUSE') return `port ${options.port} is already in use on ${options.host}; stop the other program or choose another with --port`;
  if (err.code === 'EACCES') return `not allowed to listen on ${where} (ports below 1024 need privileges); choose another with --port`;
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') return `address ${options.host} is not available on this machine; choose another with --host`;
  return `cannot listen on ${where}: ${err.message}`;
}

async function runRelay(args: string[]): Promise<number> {
  let options: RelayOptions;
  try {
    const parsed = parseFlags(args);
    if (parsed.help) {
      process.stdout.write(help());
      return EXIT.ok;
    }
    options = resolveRelayOptions(parsed.flags, process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`smc relay: ${terminalSafe(err.message)}\nRun "${smcCommand()} relay --help" for the options.\n`);
      return EXIT.usage;
    }
    throw err;
  }
  let tls: { cert: Buffer; key: Buffer; fingerprint: string } | undefined;
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    try {
      const cert = await readFile(options.tlsCert);
      const key = await readFile(options.tlsKey);
      tls = { cert, key, fingerprint: certificateFingerprint(cert) };
    } catch (err) {
      process.stderr.write(`smc relay: ${terminalSafe(`cannot use --tls-cert ${options.tlsCert} / --tls-key ${options.tlsKey}: ${(err as Error).message}`)}\n`);
      return EXIT.usage;
    }
  }
  if (options.migrateOnly && options.postgres !== undefined) {
    try {
      const applied = await migrateOnly(options.postgres);
      process.stdout.write(applied.length > 0 ? `smc relay: schema migrated to version ${applied.at(-1)} (applied ${applied.join(', ')})\n` : 'smc relay: the schema is up to date\n');
      return EXIT.ok;
    } catch (err) {
      process.stderr.write(`smc relay: ${terminalSafe((err as Error).message)}\n`);
      return EXIT.other;
    }
  }
  const dataDir = resolve(options.dataDir);
  // Issue 7 §1.5: per-address events are folded past --log-per-addr a minute.
  const log = new FoldingLogger(createLogger({ format: options.logFormat }), { perWindow: options.logPerAddr, windowMs: options.logWindowMs });
  const fail = (code: number, message: string): number => {
    process.stderr.write(`smc relay: ${terminalSafe(message)}\n`);
    log.error('start_failed', { error: message, exit: code });
    return code;
  };

  const dirProblem = await prepareDataDir(dataDir);
  if (dirProblem) return fail(EXIT.dataDir, dirProblem);

  let store: MessageStore | ClusterRooms;
  if (options.postgres !== undefined) {
    try {
      store = await openClusterRooms(options.postgres, options.retain, (event, fields) => storeLogLevel(log, event)(event, fields as LogFields));
    } catch (err) {
      return fail(EXIT.other, (err as Error).message);
    }
  } else {
    store = new FileStore({
      dir: dataDir,
      retain: options.retain,
      log: (event: string, fields?: object) => storeLogLevel(log, event)(event, fields as LogFields),
    });
  }
  let adminToken: AdminToken;
  try {
    // The cluster's store is open already (openClusterRooms); the embedded one opens here.
    if (store instanceof FileStore) await store.open();
    adminToken = await AdminToken.load(dataDir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // The store's message names the holder where it is known (docs/storage.md "Lock").
    if (e.code === 'ELOCKED') return fail(EXIT.dataDir, e.message);
    if (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS' || e.code === 'ENOSPC' || e.code === 'ENOTDIR' || e.code === 'ENAMETOOLONG') {
      await store.close().catch(() => {});
      return fail(EXIT.dataDir, `data directory ${dataDir} is unusable: ${e.code} ${e.message}`);
    }
    await store.close().catch(() => {});
    return fail(EXIT.other, `cannot open the store in ${dataDir}: ${e.message}`);
  }

  log.info('start', {
    version: SMC_VERSION, pid: process.pid, data: dataDir,
    postgres: options.postgres === undefined ? undefined : redactPostgresUrl(options.postgres), maxFrame: options.maxFrame, retain: options.retain,
    rate: options.rate, burst: options.burst, maxConns: options.maxConns, maxConnsPerIp: options.maxConnsPerIp, joinRatePerIp: options.joinRatePerIp, roomBytes: options.roomBytes,
    maxOutput: options.maxOutput, maxOutputTotal: options.maxOutputTotal, allowV1Joins: options.allowV1Joins,
    logPerAddr: options.logPerAddr, admin: adminToken.enabled,
  });
  const server = new RelayServer(options, {
    store, log, adminToken, agent: `smc-relay/${SMC_VERSION}`, ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
  });
  // Signals are handled from before `listen`: a SIGTERM that arrives as soon as the port is
  // open (a supervisor, a test) still gets the clean stop of §1.7, with its checkpoint.
  const stopped = waitForStop(server, log);
  const lease = options.lease !== undefined ? watchLease(resolve(options.lease), options.leaseTtl, server, log) : undefined;
  void stopped.then(() => lease?.stop());
  let port: number;
  try {
    port = (await server.listen()).port;
  } catch (err) {
    await server.shutdown('listen_failed');
    await stopped;
    return fail(EXIT.cannotListen, listenProblem(err as NodeJS.ErrnoException, options));
  }
  if (options.logFormat === 'text') {
    process.stdout.write(tls
      ? `SMC relay listening with TLS on ${formatHostPort(options.host, port)} (data in ${terminalSafe(dataDir)}).\n`
        + `Certificate SHA-256: ${tls.fingerprint} (invites: smcs://HOST:${port}/NAME?fp=${tls.fingerprint}#KEY)\n`
        + `Connect by hand: openssl s_client -quiet -connect ${formatHostPort(connectHost(options.host), port)}   then type {"t":"hello","v":1}\n`
      : `SMC relay listening on ${formatHostPort(options.host, port)} (${options.postgres === undefined ? `data in ${terminalSafe(dataDir)}` : `messages in PostgreSQL ${terminalSafe(redactPostgresUrl(options.postgres))}`}).\n`
        + `Connect by hand: nc ${connectHost(options.host)} ${port}   then type {"t":"hello","v":1}\n`
        + `Chat from a terminal: ${smcCommand()} room new --name NAME --relay ${formatHostPort(connectHost(options.host), port)}, then ${smcCommand()} chat --room NAME\n`
        + `  (the others: ${smcCommand()} room join, paste the invite, then ${smcCommand()} chat --room NAME)\n`
        + `Chat from VS Code: set smc.relay.host/port to this address, then SMC: Create Room or SMC: Join Room.\n`);
  }
  return stopped;
}

/** The store names its events (`store.write_error`, `store.torn_tail`, ...); give them a level. */
function storeLogLevel(log: RelayLogger, event: string): (event: string, fields?: LogFields) => void {
  if (/error|failed|corrupt/.test(event)) return log.error;
  if (/torn|gap|discarded|bad_|unused|down|expired|retry/.test(event)) return log.warn;
  return log.info;
}

function connectHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/**
 * --lease (docs/relay.md "Options"): checks the file a few times per TTL; once it is older than
 * the TTL, or gone, the relay stops as on SIGTERM (clients get bye, §1.7).
 */
function watchLease(file: string, ttlSeconds: number, server: RelayServer, log: RelayLogger): { stop(): void } {
  const check = async (): Promise<void> => {
    let ageMs: number;
    try {
      ageMs = Date.now() - (await stat(file)).mtimeMs;
    } catch {
      ageMs = Infinity;
    }
    if (ageMs <= ttlSeconds * 1000 || server.state !== 'running') return;
    log.info('lease_expired', { lease: file, ttl: ttlSeconds, ...(Number.isFinite(ageMs) ? { age: Math.round(ageMs / 1000) } : { missing: true }) });
    clearInterval(timer);
    void server.shutdown('lease_expired');
  };
  const timer = setInterval(() => void check(), Math.max(500, Math.min(ttlSeconds * 250, 15_000)));
  return { stop: () => clearInterval(timer) };
}

/** Resolves with the exit code once the relay stopped (signal or admin shutdown). */
async function waitForStop(server: RelayServer, log: RelayLogger): Promise<number> {
  const onSignal = (signal: NodeJS.Signals): void => {
    if (server.state !== 'running') {
      log.warn('signal_ignored', { signal, state: server.state });
      return;
    }
    void server.shutdown(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await server.closed;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return EXIT.ok;
}

export const relayCommand: Command = {
  summary: 'run a relay (stores and forwards encrypted messages it cannot read)',
  run: runRelay,
};
