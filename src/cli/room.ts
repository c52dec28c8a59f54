// `smc room new` creates a room with a random key (PROTOCOL.md §2.1), stores the key in
// $SMC_HOME/secrets.json and the room in state.json, and prints the invite (§2.7) and how to
// join. `smc room list` shows the stored rooms (never their keys).
import { parseArgs } from 'node:util';
import { formatInvite, generateRoomKey, deriveRoomId, MAX_ROOM_NAME_CHARS } from '../core/crypto/index';
import type { Command } from './command';
import {
  CHAT_EXIT, CliError, DEFAULT_RELAY, formatRelayAddress, openSession, parseRelayAddress, parseTlsFingerprint,
  setTlsPin, usageError,
} from './chat-session';

function help(): string {
  return [
    'Usage: smc room new --name NAME [--relay HOST:PORT] [--tls-fingerprint SHA256]',
    '       smc room list',
    '',
    'new   creates a room with a new random key, keeps the key in $SMC_HOME/secrets.json (mode 0600)',
    '      and prints its invite link. The invite carries the key: give it only to the people who',
    '      should read the room, by a channel you trust. The relay never sees it.',
    'list  shows the rooms stored in $SMC_HOME: name, relay, last message seen (no keys).',
    '',
    'Options:',
    '  --name NAME         the room name (shown to members; part of the invite)',
    `  --relay HOST:PORT   the relay the room lives on (default ${DEFAULT_RELAY})`,
    '  --tls-fingerprint SHA256',
    "                      the relay speaks TLS: its certificate's SHA-256 (smc relay --tls-cert",
    '                      logs it at start); the invite becomes smcs:// and clients pin it',
    '  -h, --help          show this help',
    '',
    'Environment: SMC_HOME  where keys and state live (default ~/.config/smc)',
    '',
    'Examples:',
    '  smc room new --name design',
    '  smc room new --name ops --relay relay.example.org:7878',
    '  smc room new --name ops --relay relay.example.org:7879 --tls-fingerprint 3f9a…(64 hex digits)',
    '  smc chat --room design          join it yourself',
    "  smc chat 'smc://127.0.0.1:7878/design#…'   what the others run",
    '',
    'Exit codes: 0 done, 1 other error, 2 usage error, 6 key store refused (permissions, damaged file).',
    '',
  ].join('\n');
}

/** Quotes a word for a POSIX shell, so that the printed commands can be pasted as they are. */
function shellQuote(s: string): string {
  return /^[\w.,:/@%+=-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}

async function roomNew(args: string[]): Promise<number> {
  let values: { name?: string; relay?: string; 'tls-fingerprint'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args, strict: true, allowPositionals: false,
      options: { name: { type: 'string' }, relay: { type: 'string' }, 'tls-fingerprint': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw usageError((err as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(help());
    return CHAT_EXIT.ok;
  }
  const name = values.name;
  if (name === undefined || name.trim() === '') throw usageError('smc room new needs --name NAME');
  if ([...name].length > MAX_ROOM_NAME_CHARS) throw usageError(`--name must be at most ${MAX_ROOM_NAME_CHARS} characters`);
  const { host, port } = parseRelayAddress(values.relay ?? DEFAULT_RELAY);
  const relay = formatRelayAddress(host, port);
  const pin = values['tls-fingerprint'] !== undefined ? parseTlsFingerprint(values['tls-fingerprint']) : undefined;
  const session = await openSession();
  const key = generateRoomKey();
  const room = deriveRoomId(key);
  await session.keys.setRoomKey(room, key);
  await session.rooms.upsert({ room, name, relay, lastSeq: 0 });
  await setTlsPin(session, room, pin);
  const invite = formatInvite({ host, port, name, key, ...(pin !== undefined ? { tls: { fingerprint: pin } } : {}) });
  process.stdout.write([
    `Created room "${name}" on relay ${relay}${pin !== undefined ? ' (TLS, certificate pinned)' : ''}.`,
    '',
    'Invite (it carries the room key: share it only with the people who should read this room):',
    `  ${invite}`,
    '',
    `Join it yourself:  smc chat --room ${shellQuote(name)}`,
    `Others join with:  smc chat ${shellQuote(invite)}`,
    '',
  ].join('\n'));
  return CHAT_EXIT.ok;
}

async function roomList(args: string[]): Promise<number> {
  if (args.length > 0) throw usageError(`smc room list takes no arguments, got "${args[0]}"`);
  const session = await openSession();
  const rooms = session.rooms.all();
  if (rooms.length === 0) {
    process.stdout.write('No rooms yet. Create one with: smc room new --name NAME\n');
    return CHAT_EXIT.ok;
  }
  for (const r of rooms) process.stdout.write(`${r.name}\t${r.relay}\tlast seen #${r.lastSeq}\n`);
  return CHAT_EXIT.ok;
}

export const roomCommand: Command = {
  summary: 'create a room and print its invite (smc room new --name NAME), or list rooms',
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    try {
      if (sub === undefined || sub === '-h' || sub === '--help') {
        process.stdout.write(help());
        return sub === undefined ? CHAT_EXIT.usage : CHAT_EXIT.ok;
      }
      if (sub === 'new') return await roomNew(rest);
      if (sub === 'list') return await roomList(rest);
      throw usageError(`unknown "smc room ${sub}"; use "smc room new" or "smc room list"`);
    } catch (err) {
      if (err instanceof CliError) {
        process.stderr.write(`smc room: ${err.message}\n`);
        return err.exitCode;
      }
      throw err;
    }
  },
};
