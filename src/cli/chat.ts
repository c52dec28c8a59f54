// `smc chat`: the terminal client (README "Chat from a terminal"). Resolves which room to join (a room stored by
// `smc room new` or `smc room join`, a room name and a passphrase file, or, with a warning
// since it puts the key on the command line (docs/security.md "Secrets on the command line"), an invite), stores its key, then runs
// interactively (chatTty.ts) or for scripts with --json (chatJson.ts).
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  InviteError, MAX_TEXT_BYTES, PASSPHRASE_WARN_LENGTH, deriveRoomId, isWeakPassphrase, parseInvite, roomKeyFromPassphrase,
} from '../core/crypto/index';
import { RelayClient } from '../core/client/index';
import { formatHostPort } from '../core/hostPort';
import { argumentErrorMessage, shellQuote, smcCommand, smcNote, type Command } from './command';
import { homeProblem } from './homeError';
import {
  CHAT_EXIT, CliError, DEFAULT_RELAY, LAST_NAME_STATE, displayNameFor, openHomeStores,
  parseRelayAddress, parseTlsFingerprint, setTlsPin, tlsPin, usageError, type HomeStores,
} from './homeStores';
import { createTcpTransport, createTlsTransportFactory } from '../node/tcpTransport';
import { WorkerSignatureVerifier } from '../node/verifyPool';
import type { ChatContext } from './chatContext';
import { runJsonChat } from './chatJson';
import { runInteractiveChat } from './chatTty';
import { SMC_VERSION } from '../node/version';
import { jsonLine, terminalSafe } from './terminalText';
import { JoinRefusedError, encodeSaved, freshMeta, isPrivateInvite, joinByInvite, parsePrivateInvite } from '../core/private/index';
import { inviteId } from '../core/mls/index';
import { keyPackageKeeper } from './joinKeyPackage';
import { runPrivateChat, type PrivateTarget } from './chatPrivate';
import { isPrivateRoom, loadPrivate, markPrivate, pendingJoins, savePrivate, setPendingJoin } from './privateStores';

function help(): string {
  return [
    'Usage: smc chat NAME [options]                          (a room stored by smc room new or join)',
    '       smc chat --room NAME [--relay HOST:PORT] [options]   (the same; --relay if names clash)',
    '       smc chat --room NAME --passphrase-file FILE [--relay HOST:PORT] [options]',
    '',
    'Joins a room end to end encrypted: the relay stores and forwards only ciphertext. To join',
    'from an invite, store it first with smc room join (it reads the invite from standard input',
    'or --invite-file FILE), then smc chat NAME. An invite given here as an argument still works,',
    'with a warning: other local users can read command lines (ps, /proc/PID/cmdline), and shell',
    'history keeps them; the invite carries the room key. For the same reason there is no',
    '--passphrase, only --passphrase-file.',
    '',
    'Options:',
    '  --name NAME             your display name (default: the last one used, else your login name)',
    '  --room NAME             the room name (a stored room, or with --passphrase-file)',
    '  --passphrase-file FILE  derive the room key from the passphrase in FILE (its trailing newline',
    `                          is not part of it). At least ${PASSPHRASE_WARN_LENGTH} characters: a shorter one is`,
    '                          refused (the relay sees the room id and could guess it offline).',
    '                          The room name and passphrase must match the others\' exactly.',
    `  --relay HOST:PORT       the relay (default ${DEFAULT_RELAY}; a stored room knows its own)`,
    '  --tls-fingerprint SHA256  with --relay: the relay speaks TLS with this certificate (pinned;',
    '                          an smcs:// invite carries it)',
    '  --history N             on the first join of a room, show the newest N messages (default 200);',
    '                          later joins show everything since the last message seen',
    '  --json                  for scripts: no prompt; each line of stdin is sent as a message; each',
    '                          received message is printed as one JSON object per line:',
    '                          {"seq","ts","id","name","fingerprint","type","text","verified","keyChanged"}',
    '                          (+ "snippet" for snippets); one that cannot be verified is printed as',
    '                          {"seq","id","error"} and never its content. Your own messages are not',
    '                          printed unless --own is given. At end of input it waits until the',
    '                          relay acknowledged every sent message, then exits 0. Strings are',
    '                          JSON-escaped, control and invisible characters (C1, U+2028...) too.',
    '                          A line that is a JSON object with a "type" acts instead: {"type":"reply",',
    '                          "to":ID,"text":..}, "reaction" (target, emoji), "edit" (target, text),',
    '                          "delete" (target), "file" (path, text), "save" (file, path); output',
    '                          lines carry reply/mentions/file/edited/deleted/reactions, effects a',
    '                          "change", files {"event":"file",...} (README "Replies, reactions...")',
    '  --own                   with --json: also print your own messages (with "own": true) once',
    '                          the relay has acknowledged them (a script can count its acks)',
    '  --timeout SECONDS       with --json: how long to wait at end of input for the relay to',
    '                          acknowledge everything (default 30); then exit 5',
    '  --debug                 write the client\'s debug log to stderr (connection events, and why a',
    '                          message could not be verified); it never contains keys or contents',
    '  -h, --help              show this help',
    '',
    'Interactive commands: messages are numbered [N]: /reply N TEXT, /react N EMOJI, /edit N TEXT,',
    '  /delete N, /send-file PATH [CAPTION], /save N PATH (a new file; never overwrites);',
    '  /who (who is online), /verify NAME (show NAME\'s full fingerprint and',
    '  ask whether to trust it), /fingerprint (yours), /name NAME (rename yourself), /help, /stop',
    '  (leave and exit; also Ctrl-C, or Ctrl-D on an empty line: on a line with text Ctrl-D does',
    `  nothing, as in bash). A message is at most ${MAX_TEXT_BYTES / 1024} KiB (${MAX_TEXT_BYTES} bytes) of UTF-8 text.`,
    '  Control, bidi and invisible characters in what others send are shown as \\u{XXXX}.',
    '',
    'Environment: SMC_HOME  where keys and state live (default ~/.config/smc; files mode 0600)',
    '             NO_COLOR  no colours',
    '',
    'Examples:',
    '  smc room join                  paste the invite you were given (or: --invite-file FILE), then',
    '  smc chat design --name alice',
    '  smc chat --room design',
    '  smc chat --relay 10.0.0.5:7878 --room standup --passphrase-file ~/.standup-pass',
    "  echo 'build 421 failed' | smc chat --json --room design",
    "  smc chat --json --room design < /dev/null | jq -r .text      # print the room's history",
    '',
    'Private rooms (smc room new --private; README "Private rooms"): smc chat NAME opens one;',
    '  smc room join stores a private room\'s invite (it has ?join=1); then smc chat NAME --name YOU',
    '  asks to join and waits until an admin adds you (--timeout bounds it). There, in both modes,',
    '  a line beginning with /',
    '  is a command and // sends a line beginning with /: /members, /invite [--uses N] [--expires 24h],',
    '  /revoke INVITE, /remove NAME|FINGERPRINT, /promote NAME|FINGERPRINT, /update, /leave, /stop.',
    '  --json adds {"event":"invite"|"member_added"|"member_removed"|"removed"|"members",...} lines.',
    '',
    'Exit codes: 0 done, 1 other error, 2 usage error (bad option or invite),',
    '            5 --json: messages not acknowledged within --timeout, 6 key store refused',
    '            (e.g. secrets.json readable by others: fix with chmod 600; $SMC_HOME not writable),',
    '            7 removed from the private room, 8 invite refused (used, expired, revoked, or',
    '            you were removed), 9 no admin added you within --timeout.',
    '',
  ].join('\n') + smcNote();
}

/**
 * Whether chat's positional argument is an invite rather than a room name: a scheme, or what
 * looks like a key (43 base64url characters) after a final '#': a pasted invite missing its
 * scheme is still refused as an invite, its key never echoed in a "no room named ..." error;
 * a room called "#general" is a name.
 */
function looksLikeInvite(arg: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(arg) || /#[A-Za-z0-9_-]{40,}$/.test(arg);
}

/** Options that would put a secret on the command line: refused, with what to use instead. */
function refuseSecretOptions(args: string[]): void {
  for (const a of args) {
    if (a === '--') return;
    if (a === '--passphrase' || a.startsWith('--passphrase=')) {
      // The value is not repeated: it is the secret.
      throw usageError('--passphrase is not accepted: other local users can read command lines (ps, /proc/PID/cmdline) ' +
        'and shell history keeps them. Put the passphrase in a file only you can read and give --passphrase-file FILE');
    }
  }
}

const inviteArgumentWarning = (smc: string): string =>
  'smc chat: warning: the invite (it carries the room key) is on the command line, where other local users can ' +
  `read it (ps, /proc/PID/cmdline) and shell history keeps it. Store it once with "${smc} room join" (it reads the ` +
  `invite from standard input or --invite-file FILE), then run "${smc} chat NAME".\n`;

interface ChatFlags {
  invite?: string;
  /** The invite came from $SMC_HOME (smc room join), not from the command line. */
  storedInvite?: boolean;
  room?: string;
  passphraseFile?: string;
  relay?: string;
  tlsFingerprint?: string;
  name?: string;
  json: boolean;
  own: boolean;
  debug: boolean;
  history: number;
  timeoutMs: number;
}

function parseFlags(args: string[]): ChatFlags | 'help' {
  refuseSecretOptions(args);
  let parsed;
  try {
    parsed = parseArgs({
      args, strict: true, allowPositionals: true,
      options: {
        room: { type: 'string' }, 'passphrase-file': { type: 'string' }, relay: { type: 'string' }, 'tls-fingerprint': { type: 'string' },
        name: { type: 'string' }, json: { type: 'boolean' }, own: { type: 'boolean' }, debug: { type: 'boolean' },
        history: { type: 'string' }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw usageError(argumentErrorMessage(err, 'chat'));
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  if (parsed.positionals.length > 1) throw usageError(`one room name (or invite) at most, got ${parsed.positionals.length} arguments`);
  const count = (flag: string, s: string | undefined, dflt: number, max: number): number => {
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n > max) throw usageError(`--${flag} must be a whole number from 0 to ${max}, not "${s}"`);
    return n;
  };
  const flags: ChatFlags = {
    json: v.json === true, own: v.own === true, debug: v.debug === true,
    history: count('history', v.history, 200, 100_000),
    timeoutMs: count('timeout', v.timeout, 30, 86_400) * 1000,
  };
  const positional = parsed.positionals[0];
  if (positional !== undefined && looksLikeInvite(positional)) flags.invite = positional;
  else if (positional !== undefined) {
    if (v.room !== undefined) throw usageError(`give the room name once: ${smcCommand()} chat NAME, or ${smcCommand()} chat --room NAME`);
    flags.room = positional;
  }
  if (v.room !== undefined) flags.room = v.room;
  if (v['passphrase-file'] !== undefined) flags.passphraseFile = v['passphrase-file'];
  if (v.relay !== undefined) flags.relay = v.relay;
  if (v['tls-fingerprint'] !== undefined) flags.tlsFingerprint = parseTlsFingerprint(v['tls-fingerprint']);
  if (v.name !== undefined) flags.name = v.name;
  if (flags.own && !flags.json) throw usageError('--own goes with --json');
  return flags;
}

/** The room to join: its key, name, relay address. */
interface Target {
  key: Buffer;
  name: string;
  host: string;
  port: number;
  /** Pinned relay certificate (§1.8), for a TLS relay. */
  tls?: string;
  /** The key came from a room name and passphrase (§2.6): a typo gives another, empty room. */
  fromPassphrase?: boolean;
}

async function readPassphrase(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usageError(`cannot read the passphrase file ${file}${code ? ` (${code})` : ''}`);
  }
  // The file's trailing newline is not part of the passphrase (README "Chat from a terminal"); one only.
  const passphrase = text.replace(/\r?\n$/, '');
  if (passphrase.length === 0) throw usageError(`the passphrase file ${file} is empty`);
  return passphrase;
}

async function resolveTarget(flags: ChatFlags, session: HomeStores): Promise<Target> {
  if (flags.invite !== undefined) {
    if (flags.room !== undefined || flags.passphraseFile !== undefined || flags.relay !== undefined || flags.tlsFingerprint !== undefined) {
      throw usageError('give either an invite, or a room name (with --passphrase-file and --relay), not both');
    }
    let inv;
    try {
      inv = parseInvite(flags.invite);
    } catch (err) {
      if (err instanceof InviteError) throw usageError(`invalid invite: ${err.message}`);
      throw err;
    }
    return { key: inv.key, name: inv.name, host: inv.host, port: inv.port, ...(inv.tls !== undefined ? { tls: inv.tls.fingerprint } : {}) };
  }
  const smc = smcCommand();
  if (flags.room === undefined) throw usageError(`say which room: ${smc} chat NAME (a room stored by ${smc} room new or ${smc} room join; ${smc} room list shows them), or --room NAME --passphrase-file FILE (see ${smc} chat --help)`);
  if (flags.passphraseFile !== undefined) {
    const { host, port } = parseRelayAddress(flags.relay ?? DEFAULT_RELAY);
    const passphrase = await readPassphrase(flags.passphraseFile);
    if (isWeakPassphrase(passphrase)) {
      // Refused, as in the extension (README "Chat from a terminal"): the relay sees the room
      // id, derived from the passphrase (§2.6), and can try short ones offline.
      throw usageError(`the passphrase in ${flags.passphraseFile} is shorter than ${PASSPHRASE_WARN_LENGTH} characters, ` +
        'and a short one can be guessed offline by anyone who sees the room id (the relay does); nothing was stored. ' +
        `Agree on one of ${PASSPHRASE_WARN_LENGTH} characters or more, or use a room with a random key: ${smc} room new --name NAME`);
    }
    const key = await roomKeyFromPassphrase(flags.room, passphrase);
    return { key, name: flags.room, host, port, fromPassphrase: true, ...(flags.tlsFingerprint !== undefined ? { tls: flags.tlsFingerprint } : {}) };
  }
  const relayFlag = flags.relay !== undefined ? parseRelayAddress(flags.relay) : undefined;
  const wanted = relayFlag ? formatHostPort(relayFlag.host, relayFlag.port) : undefined;
  const matches = session.rooms.all().filter((r) => r.name === flags.room && (wanted === undefined || r.relay === wanted));
  if (matches.length === 0) {
    throw usageError(`no stored room named "${flags.room}"${wanted ? ` on ${wanted}` : ''} (${smc} room list shows them); ` +
      `create one with ${smc} room new --name NAME, store one from its invite with ${smc} room join, or use --passphrase-file FILE`);
  }
  if (matches.length > 1) {
    const relays = [...new Set(matches.map((m) => m.relay))];
    if (relays.length > 1) {
      throw usageError(`rooms named "${flags.room}" are stored on several relays; say which: ` +
        relays.map((r) => `${smc} chat --room ${shellQuote(flags.room!)} --relay ${r}`).join(' or '));
    }
    // Only stored before room new and room join refused a second room of a name on one relay.
    throw new CliError(`${matches.length} rooms named "${flags.room}" are stored for relay ${relays[0]!}, and nothing tells them ` +
      `apart. Forget them (${smc} room forget ${shellQuote(flags.room)} --relay ${relays[0]!}), then store the one you ` +
      `want again from its invite (${smc} room join)`, CHAT_EXIT.other);
  }
  const entry = matches[0]!;
  const key = await session.keys.roomKey(entry.room);
  if (key === undefined) throw new CliError(`the key of room "${entry.name}" is missing from ${session.home}/secrets.json; join again from its invite`, CHAT_EXIT.other);
  const { host, port } = parseRelayAddress(entry.relay);
  const tls = flags.tlsFingerprint ?? tlsPin(session, entry.room);
  return { key, name: entry.name, host, port, ...(tls !== undefined ? { tls } : {}) };
}

/**
 * A private room (docs/protocol.md §3): a stored one by name, or 'join' for a private room's
 * invite (§3.4); undefined for everything else (link rooms, passphrases), which goes on as before.
 */
async function resolvePrivate(flags: ChatFlags, session: HomeStores): Promise<PrivateTarget | 'join' | undefined> {
  if (flags.invite !== undefined) return isPrivateInvite(flags.invite) ? 'join' : undefined;
  if (flags.room === undefined || flags.passphraseFile !== undefined) return undefined;
  const relayFlag = flags.relay !== undefined ? parseRelayAddress(flags.relay) : undefined;
  const wanted = relayFlag ? formatHostPort(relayFlag.host, relayFlag.port) : undefined;
  const matches = session.rooms.all().filter((r) => r.name === flags.room && (wanted === undefined || r.relay === wanted));
  if (matches.length === 0) {
    // An invite stored by smc room join (§3.4): ask to join now.
    const pending = (await pendingJoins(session)).filter((j) => j.name === flags.room && (wanted === undefined || j.relay === wanted));
    if (pending.length === 1) {
      flags.invite = pending[0]!.invite;
      flags.storedInvite = true;
      return 'join';
    }
  }
  if (matches.length !== 1 || !isPrivateRoom(session, matches[0]!.room)) return undefined;
  const entry = matches[0]!;
  const loaded = await loadPrivate(session, entry.room, session.identity);
  if (loaded === undefined) throw new CliError(`the state of private room "${entry.name}" is missing from ${session.home}/secrets.json; ask an admin for a new invite`, CHAT_EXIT.other);
  const { host, port } = parseRelayAddress(entry.relay);
  const tls = flags.tlsFingerprint ?? tlsPin(session, entry.room);
  return { room: entry.room, name: entry.name, host, port, relay: entry.relay, group: loaded.group, meta: loaded.meta, ...(tls !== undefined ? { tls } : {}) };
}

/** §3.4: asks to join with a private room's invite, waits to be added (--timeout), stores the room. */
async function joinPrivate(flags: ChatFlags, session: HomeStores, displayName: string): Promise<PrivateTarget | number> {
  let inv;
  try {
    inv = parsePrivateInvite(flags.invite!);
  } catch (err) {
    if (err instanceof InviteError) throw usageError(`invalid invite: ${err.message}`);
    throw err;
  }
  process.title = 'smc chat';
  if (flags.storedInvite !== true) process.stderr.write(inviteArgumentWarning(smcCommand()).replace('(it carries the room key)', '(it lets its holder ask to join)'));
  const relay = formatHostPort(inv.host, inv.port);
  const clash = session.rooms.all().find((r) => r.name === inv.name && r.relay === relay);
  if (clash !== undefined && !isPrivateRoom(session, clash.room)) {
    throw new CliError(`a link room named "${inv.name}" on relay ${relay} is already stored; forget it first (${smcCommand()} room forget ${shellQuote(inv.name)})`, CHAT_EXIT.other);
  }
  const status = (text: string): void => void process.stderr.write(`smc chat: ${terminalSafe(text)}\n`);
  status(`asking to join private room "${inv.name}" on ${relay}...`);
  let outcome;
  // §3.8: the KeyPackage waits for its Welcome across restarts (src/cli/joinKeyPackage.ts).
  const keyPackage = keyPackageKeeper(session, inviteId(inv.secret));
  try {
    outcome = await joinByInvite({
      invite: inv, identity: session.identity, displayName, agent: `smc-cli/${SMC_VERSION}`, timeoutMs: flags.timeoutMs, status, keyPackage,
      transport: inv.tls !== undefined ? createTlsTransportFactory(inv.tls.fingerprint) : createTcpTransport,
      ...(flags.debug ? { log: (event: string, fields?: Record<string, unknown>) => void process.stderr.write(`smc debug: ${terminalSafe(event)} ${jsonLine(fields ?? {})}\n`) } : {}),
    });
  } catch (err) {
    if (err instanceof JoinRefusedError) {
      status(`not added: ${err.message}`);
      if (err.reason !== 'timeout') await keyPackage.forget();
      return err.reason === 'timeout' ? CHAT_EXIT.notAdded : CHAT_EXIT.refused;
    }
    throw err;
  }
  const meta = freshMeta(Date.now());
  meta.applied = outcome.seq;
  await savePrivate(session, outcome.room, encodeSaved({ state: outcome.group.export(), meta }));
  await session.rooms.upsert({ room: outcome.room, name: inv.name, relay, lastSeq: 0 });
  await markPrivate(session, outcome.room, true);
  await setTlsPin(session, outcome.room, inv.tls?.fingerprint);
  await setPendingJoin(session, { name: inv.name, relay, invite: '' }, false);
  await keyPackage.forget();
  status(`added to private room "${inv.name}"; from now on: ${smcCommand()} chat ${shellQuote(inv.name)}`);
  return { room: outcome.room, name: inv.name, host: inv.host, port: inv.port, relay, group: outcome.group, meta, ...(inv.tls !== undefined ? { tls: inv.tls.fingerprint } : {}) };
}

async function chat(args: string[]): Promise<number> {
  const flags = parseFlags(args);
  if (flags === 'help') {
    process.stdout.write(help());
    return CHAT_EXIT.ok;
  }
  if (flags.invite !== undefined) {
    // Too late for whoever read /proc/PID/cmdline while Node started, hence the warning; but
    // from now on the key is not there (libuv overwrites the argument area with the title).
    process.title = 'smc chat';
  }
  const session = await openHomeStores();
  const privateTarget = await resolvePrivate(flags, session);
  if (privateTarget !== undefined) {
    const displayName = displayNameFor(session, flags.name);
    if (flags.name !== undefined) await session.state.update(LAST_NAME_STATE, displayName);
    const transport = flags.tlsFingerprint !== undefined ? createTlsTransportFactory(flags.tlsFingerprint) : createTcpTransport;
    const target = privateTarget === 'join' ? await joinPrivate(flags, session, displayName) : privateTarget;
    if (typeof target === 'number') return target;
    return runPrivateChat(session, target, { json: flags.json, debug: flags.debug, history: flags.history, timeoutMs: flags.timeoutMs }, displayName, transport);
  }
  const target = await resolveTarget(flags, session);
  // After the invite parsed: a malformed one gets its one-line error only.
  if (flags.invite !== undefined) process.stderr.write(inviteArgumentWarning(smcCommand()));
  const displayName = displayNameFor(session, flags.name);
  const room = deriveRoomId(target.key);
  const relay = formatHostPort(target.host, target.port);
  const entry = session.rooms.get(room);
  // A room met on another relay starts over there: seqs belong to one relay.
  const lastSeq = entry !== undefined && entry.relay === relay ? entry.lastSeq : 0;
  await session.keys.setRoomKey(room, target.key);
  await session.rooms.upsert({ room, name: target.name, relay, lastSeq });
  await setTlsPin(session, room, target.tls);
  if (flags.name !== undefined) await session.state.update(LAST_NAME_STATE, displayName);

  // Writes of state.json still in flight, awaited before exit so that nothing is lost.
  const saves = new Set<Promise<void>>();
  const track = (write: Promise<void>): Promise<void> => {
    const p = write.catch((err: unknown) => {
      process.stderr.write(`smc chat: could not save state: ${terminalSafe(err instanceof Error ? err.message : String(err))}\n`);
    });
    saves.add(p);
    void p.finally(() => saves.delete(p));
    return p;
  };
  const client = new RelayClient({
    host: target.host, port: target.port, agent: `smc-cli/${SMC_VERSION}`, identity: session.identity, displayName,
    transport: target.tls !== undefined ? createTlsTransportFactory(target.tls) : createTcpTransport,
    knownKeys: {
      check: (r, n, fp) => session.known.check(r, n, fp),
      trust: (r, n, fp) => track(session.known.trust(r, n, fp)),
    },
    tuning: { initialHistory: flags.history },
    // A room's history is verified on worker threads (§2.4 step 3); disconnect() stops them.
    verifier: new WorkerSignatureVerifier(),
    ...(flags.debug ? { log: (event: string, fields?: Record<string, unknown>) => void process.stderr.write(`smc debug: ${terminalSafe(event)} ${jsonLine(fields ?? {})}\n`) } : {}),
    saveLastSeq: (r, seq) => void track(session.rooms.setLastSeq(r, seq)),
    shownIds: { load: (r) => session.shown.load(r), save: (r, record) => track(session.shown.save(r, record)) },
    // Un-acked messages survive a killed process: the next run sends them, same ids (§1.5).
    outbox: session.outbox,
  });
  const ctx: ChatContext = { client, session, room, roomName: target.name, relay, key: target.key, lastSeq, flags, fromPassphrase: target.fromPassphrase === true };
  const code = flags.json ? await runJsonChat(ctx) : await runInteractiveChat(ctx);
  // After a leave the client no longer knows the room; the room list has what it saved last.
  await track(session.rooms.setLastSeq(room, client.lastSeq(room) ?? session.rooms.get(room)?.lastSeq ?? lastSeq));
  if (client.name !== displayName) await track(session.state.update(LAST_NAME_STATE, client.name));
  await Promise.all([...saves]);
  return code;
}

export const chatCommand: Command = {
  summary: 'chat in a room, interactively or for scripts with --json (smc chat NAME)',
  async run(args: string[]): Promise<number> {
    try {
      return await chat(args);
    } catch (err) {
      if (err instanceof CliError) {
        process.stderr.write(`smc chat: ${terminalSafe(err.message)}\n`);
        return err.exitCode;
      }
      const home = homeProblem(err);
      if (home !== undefined) {
        process.stderr.write(`smc chat: ${terminalSafe(home)}\n`);
        return CHAT_EXIT.keyStore;
      }
      throw err;
    }
  },
};
