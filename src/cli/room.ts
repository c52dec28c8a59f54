// `smc room new` creates a room with a random key (docs/protocol.md §2.1), stores the key in
// $SMC_HOME/secrets.json and the room in state.json, and prints the invite (§2.7) and how to
// join. `smc room join` stores a room from an invite read from standard input or a file (never
// the command line, where other local users can read it: docs/security.md "Secrets on the command line"), for `smc chat --room`.
// `smc room list` shows the stored rooms (never their keys); `smc room forget` removes one.
// One name per relay (roomNames.ts), so that `smc chat --room NAME` always finds one room.
import { parseArgs } from 'node:util';
import { formatInvite, generateRoomKey, deriveRoomId, MAX_ROOM_NAME_CHARS } from '../core/crypto/index';
import { formatHostPort } from '../core/hostPort';
import { argumentErrorMessage, shellQuote, smcCommand, smcNote, type Command } from './command';
import {
  CHAT_EXIT, CliError, DEFAULT_RELAY, openHomeStores, parseRelayAddress, parseTlsFingerprint,
  setTlsPin, usageError, type HomeStores,
} from './homeStores';
import { readAnyInvite } from './inviteInput';
import { namesakeOf } from './roomNames';
import { homeProblem } from './homeError';
import { terminalSafe } from './terminalText';
import { encodeSaved, newPrivateRoom } from '../core/private/index';
import { forgetPrivate, isPrivateRoom, markPrivate, savePrivate, setPendingJoin } from './privateStores';

function help(): string {
  return [
    'Usage: smc room new --name NAME [--relay HOST:PORT] [--tls-fingerprint SHA256]',
    '       smc room new --private --name NAME [--relay HOST:PORT] [--tls-fingerprint SHA256]',
    '       smc room join [--invite-file FILE]',
    '       smc room list',
    '       smc room forget NAME [--relay HOST:PORT]',
    '',
    'new   creates a room with a new random key, keeps the key in $SMC_HOME/secrets.json (mode 0600)',
    '      and prints its invite link. The invite carries the key: give it only to the people who',
    '      should read the room, by a channel you trust. The relay never sees it.',
    'new --private  creates a private room: its members are managed (invite, remove, promote from',
    '      smc chat NAME), and a removed member cannot read what follows; forward secrecy (MLS).',
    '      You are its first admin. Invite people from smc chat NAME with /invite.',
    'join  stores the room of an invite you were given, for smc chat --room NAME. It reads the',
    '      invite from standard input (on a terminal: paste it; it is not shown) or from FILE,',
    '      never from the command line: other local users can read command lines (ps), and shell',
    '      history keeps them.',
    'list  shows the rooms stored in $SMC_HOME: name, relay, last message seen (no keys).',
    'forget  removes a stored room and its key from $SMC_HOME (the messages stay on the relay;',
    '      join again from its invite to read them). With --relay when the name is on several.',
    '',
    'A name is stored once per relay: room new and room join refuse a second room of the same',
    'name on the same relay (smc chat --room NAME could not tell them apart).',
    '',
    'Options:',
    '  --name NAME         the room name (shown to members; part of the invite)',
    `  --relay HOST:PORT   the relay the room lives on (default ${DEFAULT_RELAY})`,
    '  --tls-fingerprint SHA256',
    "                      the relay speaks TLS: its certificate's SHA-256 (smc relay --tls-cert",
    '                      logs it at start); the invite becomes smcs:// and clients pin it',
    '  --invite-file FILE  join: read the invite from FILE instead of standard input',
    '  --relay HOST:PORT   forget: the relay of the room to forget, if the name is on several',
    '  -h, --help          show this help',
    '',
    'Environment: SMC_HOME  where keys and state live (default ~/.config/smc)',
    '',
    'Examples:',
    '  smc room new --name design',
    '  smc room new --name ops --relay relay.example.org:7878',
    '  smc room new --name ops --relay relay.example.org:7879 --tls-fingerprint 3f9a…(64 hex digits)',
    '  smc chat --room design          join it yourself',
    '  smc room join                   what the others run: paste the invite, then',
    '  smc chat --room design',
    '  smc room join --invite-file ~/invite.txt     the same from a file (then delete the file)',
    '',
    'Exit codes: 0 done, 1 other error (a room of that name is already stored on that relay,',
    '            no such room to forget), 2 usage error (bad option, no or invalid invite),',
    '            6 key store refused ($SMC_HOME not writable, permissions, damaged file).',
    '',
  ].join('\n') + smcNote();
}

/** ' --relay HOST:PORT' when rooms of this name are stored on several relays, else ''. */
function relayArg(session: HomeStores, name: string, relay: string): string {
  return session.rooms.all().filter((r) => r.name === name).length > 1 ? ` --relay ${relay}` : '';
}

/** The command that opens a stored room by name. */
function chatCommandFor(name: string, relayOption = ''): string {
  return `${smcCommand()} chat --room ${shellQuote(name)}${relayOption}`;
}

async function roomNew(args: string[]): Promise<number> {
  let values: { name?: string; relay?: string; 'tls-fingerprint'?: string; private?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args, strict: true, allowPositionals: false,
      options: {
        name: { type: 'string' }, relay: { type: 'string' }, 'tls-fingerprint': { type: 'string' }, private: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw usageError(argumentErrorMessage(err, 'room new'));
  }
  if (values.help === true) {
    process.stdout.write(help());
    return CHAT_EXIT.ok;
  }
  const name = values.name;
  if (name === undefined || name.trim() === '') throw usageError(`smc room new needs --name NAME (see ${smcCommand()} room --help)`);
  if ([...name].length > MAX_ROOM_NAME_CHARS) throw usageError(`--name must be at most ${MAX_ROOM_NAME_CHARS} characters`);
  const { host, port } = parseRelayAddress(values.relay ?? DEFAULT_RELAY);
  const relay = formatHostPort(host, port);
  const pin = values['tls-fingerprint'] !== undefined ? parseTlsFingerprint(values['tls-fingerprint']) : undefined;
  const session = await openHomeStores();
  const namesake = namesakeOf(session.rooms.all(), name, relay);
  if (namesake !== undefined) {
    throw new CliError(`a room named "${name}" on relay ${relay} is already stored, and smc chat --room could not tell ` +
      `two apart; nothing was created. Chat in it: ${chatCommandFor(name, relayArg(session, name, relay))}. Or choose another --name, or first ` +
      `${smcCommand()} room forget ${shellQuote(name)}${relayArg(session, name, relay)}`, CHAT_EXIT.other);
  }
  if (values.private === true) {
    // docs/protocol.md §3.6: the owner key names the room; the relay learns it at the first smc chat.
    const created = await newPrivateRoom(session.identity);
    await savePrivate(session, created.room, encodeSaved({ state: created.group.export(), meta: created.meta }));
    await session.rooms.upsert({ room: created.room, name, relay, lastSeq: 0 });
    await markPrivate(session, created.room, true);
    // §1.8, §3.4: on a TLS relay the pin is kept as a link room's, and every invite carries it.
    await setTlsPin(session, created.room, pin);
    process.stdout.write([
      `Created private room "${terminalSafe(name)}" on relay ${relay}${pin !== undefined ? ' (TLS, certificate pinned)' : ''}; you are its admin.`,
      `Open it:   ${terminalSafe(chatCommandFor(name, relayArg(session, name, relay)))}`,
      'Then invite people with /invite (a single-use link, valid 24 h; /invite --uses N --expires 7d for more).',
      '',
    ].join('\n'));
    return CHAT_EXIT.ok;
  }
  const key = generateRoomKey();
  const room = deriveRoomId(key);
  await session.keys.setRoomKey(room, key);
  await session.rooms.upsert({ room, name, relay, lastSeq: 0 });
  await setTlsPin(session, room, pin);
  const invite = formatInvite({ host, port, name, key, ...(pin !== undefined ? { tls: { fingerprint: pin } } : {}) });
  const smc = smcCommand();
  process.stdout.write([
    `Created room "${terminalSafe(name)}" on relay ${relay}${pin !== undefined ? ' (TLS, certificate pinned)' : ''}.`,
    '',
    'Invite (it carries the room key: share it only with the people who should read this room):',
    `  ${terminalSafe(invite)}`,
    '',
    `Join it yourself:  ${terminalSafe(chatCommandFor(name, relayArg(session, name, relay)))}`,
    `Others join with:  ${smc} room join        # it asks for the invite (or: --invite-file FILE)`,
    `            then:  ${terminalSafe(`${smc} chat --room ${shellQuote(name)}`)}`,
    '',
  ].join('\n'));
  return CHAT_EXIT.ok;
}

async function roomJoin(args: string[]): Promise<number> {
  let values: { 'invite-file'?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args, strict: true, allowPositionals: true,
      options: { 'invite-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw usageError(argumentErrorMessage(err, 'room join'));
  }
  if (values.help === true) {
    process.stdout.write(help());
    return CHAT_EXIT.ok;
  }
  if (positionals.length > 0) {
    // Refused, not only warned about: this command is new, nobody depends on the argument form.
    throw usageError('smc room join reads the invite from standard input or --invite-file FILE, not from the ' +
      'command line (other local users can read command lines); nothing was stored');
  }
  // Read and check the invite before touching $SMC_HOME: bad input stores nothing.
  const read = await readAnyInvite(values['invite-file']);
  if (read.kind === 'private') {
    // docs/protocol.md §3.4: a private room's invite only lets its holder ask to join; smc chat
    // NAME asks, and waits until an admin adds this member.
    const session = await openHomeStores();
    const relay = formatHostPort(read.invite.host, read.invite.port);
    await setPendingJoin(session, { name: read.invite.name, relay, invite: read.text }, true);
    process.stdout.write([
      `Stored the invite to private room "${terminalSafe(read.invite.name)}" on relay ${relay}.`,
      `Ask to join:  ${terminalSafe(`${smcCommand()} chat ${shellQuote(read.invite.name)} --name YOUR_NAME`)}   (it waits until an admin adds you)`,
      '',
    ].join('\n'));
    return CHAT_EXIT.ok;
  }
  const inv = read.invite;
  const session = await openHomeStores();
  const room = deriveRoomId(inv.key);
  const relay = formatHostPort(inv.host, inv.port);
  const namesake = namesakeOf(session.rooms.all(), inv.name, relay, room);
  if (namesake !== undefined) {
    throw new CliError(`another room named "${inv.name}" on relay ${relay} is already stored, with another key; ` +
      'smc chat --room could not tell the two apart, so nothing was stored. If the stored one is no longer ' +
      `wanted: ${smcCommand()} room forget ${shellQuote(inv.name)}${relayArg(session, inv.name, relay)}, then join again`, CHAT_EXIT.other);
  }
  const known = session.rooms.get(room);
  // Seqs belong to one relay: a room met again on its relay resumes, on another it starts over.
  const lastSeq = known !== undefined && known.relay === relay ? known.lastSeq : 0;
  await session.keys.setRoomKey(room, inv.key);
  await session.rooms.upsert({ room, name: inv.name, relay, lastSeq });
  await setTlsPin(session, room, inv.tls?.fingerprint);
  process.stdout.write([
    `${known !== undefined ? 'Updated' : 'Joined'} room "${terminalSafe(inv.name)}" on relay ${relay}${inv.tls !== undefined ? ' (TLS, certificate pinned)' : ''}; ` +
      `its key is in ${terminalSafe(session.home)}/secrets.json.`,
    `Chat in it:  ${terminalSafe(chatCommandFor(inv.name, relayArg(session, inv.name, relay)))}`,
    '',
  ].join('\n'));
  return CHAT_EXIT.ok;
}

async function roomList(args: string[]): Promise<number> {
  let values: { help?: boolean };
  try {
    ({ values } = parseArgs({ args, strict: true, allowPositionals: false, options: { help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    throw usageError(argumentErrorMessage(err, 'room list'));
  }
  if (values.help === true) {
    process.stdout.write(help());
    return CHAT_EXIT.ok;
  }
  const session = await openHomeStores();
  const rooms = session.rooms.all();
  if (rooms.length === 0) {
    process.stdout.write(`No rooms yet. Create one with: ${smcCommand()} room new --name NAME, or store one from an invite with: ${smcCommand()} room join\n`);
    return CHAT_EXIT.ok;
  }
  for (const r of rooms) {
    // A link room's line is as it always was; a private room's says so at its end.
    const kind = isPrivateRoom(session, r.room) ? '\tprivate' : '';
    process.stdout.write(`${terminalSafe(r.name)}\t${terminalSafe(r.relay)}\tlast seen #${r.lastSeq}${kind}\n`);
  }
  return CHAT_EXIT.ok;
}

async function roomForget(args: string[]): Promise<number> {
  let values: { relay?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args, strict: true, allowPositionals: true,
      options: { relay: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    throw usageError(argumentErrorMessage(err, 'room forget'));
  }
  if (values.help === true) {
    process.stdout.write(help());
    return CHAT_EXIT.ok;
  }
  if (positionals.length !== 1) throw usageError(`say which room: ${smcCommand()} room forget NAME [--relay HOST:PORT] (${smcCommand()} room list shows them)`);
  const name = positionals[0]!;
  const wanted = values.relay !== undefined ? parseRelayAddress(values.relay) : undefined;
  const relay = wanted !== undefined ? formatHostPort(wanted.host, wanted.port) : undefined;
  const session = await openHomeStores();
  const matches = session.rooms.all().filter((r) => r.name === name && (relay === undefined || r.relay === relay));
  if (matches.length === 0) {
    throw new CliError(`no stored room named "${name}"${relay !== undefined ? ` on ${relay}` : ''}; ${smcCommand()} room list shows them; nothing was removed`, CHAT_EXIT.other);
  }
  const relays = new Set(matches.map((m) => m.relay));
  if (relays.size > 1) {
    throw usageError(`rooms named "${name}" are stored on several relays (${[...relays].join(', ')}); say which: ` +
      `${smcCommand()} room forget ${shellQuote(name)} --relay HOST:PORT; nothing was removed`);
  }
  // Several on one relay can only be rooms stored before the one-name-per-relay rule: all of
  // them go (nothing tells them apart); the one still wanted is stored again from its invite.
  for (const m of matches) {
    // docs/protocol.md §3.8: a private room's state, history and history key go too.
    if (isPrivateRoom(session, m.room)) await forgetPrivate(session, m.room);
    await session.keys.deleteRoomKey(m.room);
    await session.rooms.remove(m.room);
    await setTlsPin(session, m.room, undefined);
    // Forgotten means new again: a room joined anew shows its history (the shown ids of
    // docs/protocol.md §2.8 are kept only for rooms still stored).
    await session.shown.forget(m.room);
    // Messages not yet delivered to it are given up with the room (their envelopes need its key).
    await session.outbox.forget(m.room);
  }
  process.stdout.write(`Forgot ${matches.length === 1 ? 'room' : `${matches.length} rooms`} "${terminalSafe(name)}" on relay ${[...relays][0]!} ` +
    `(key removed from ${terminalSafe(session.home)}/secrets.json). To read it again: ${smcCommand()} room join, with its invite.\n`);
  return CHAT_EXIT.ok;
}

export const roomCommand: Command = {
  summary: 'create a room and print its invite (smc room new), store one from an invite (smc room join), list or forget rooms',
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    try {
      if (sub === undefined || sub === '-h' || sub === '--help') {
        process.stdout.write(help());
        return sub === undefined ? CHAT_EXIT.usage : CHAT_EXIT.ok;
      }
      if (sub === 'new') return await roomNew(rest);
      if (sub === 'join') return await roomJoin(rest);
      if (sub === 'list') return await roomList(rest);
      if (sub === 'forget') return await roomForget(rest);
      const smc = smcCommand();
      throw usageError(`unknown "smc room ${sub}"; use "${smc} room new", "${smc} room join", "${smc} room list" or "${smc} room forget" (see ${smc} room --help)`);
    } catch (err) {
      if (err instanceof CliError) {
        process.stderr.write(`smc room: ${terminalSafe(err.message)}\n`);
        return err.exitCode;
      }
      const home = homeProblem(err);
      if (home !== undefined) {
        process.stderr.write(`smc room: ${terminalSafe(home)}\n`);
        return CHAT_EXIT.keyStore;
      }
      throw err;
    }
  },
};
