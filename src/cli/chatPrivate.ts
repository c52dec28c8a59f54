// `smc chat` in a private room (README "Private rooms"; docs/protocol.md §3): the MLS room
// (src/core/private/privateRoom.ts), the admin's lobby desk that adds valid join requests by
// itself (§3.4), and the two front ends, interactive and --json. In both, a line beginning with
// `/` is a command and `//` sends a line beginning with `/`.
import { createInterface } from 'node:readline';
import { ClientError, RelayClient, type ChatMessage } from '../core/client/index';
import { LobbyDesk, LOBBY_ADMIN_NAME, PrivateRoom, parsePrivateInvite, type MembershipEvent, type PrivateMeta } from '../core/private/index';
import { inviteId, type MlsGroup } from '../core/mls/index';
import type { TransportFactory } from '../core/client/index';
import { SMC_VERSION } from '../node/version';
import { createTlsTransportFactory } from '../node/tcpTransport';
import { ANSI, PLAIN, type Style } from './chatFormat';
import { LineWriter } from './chatOutput';
import { CHAT_EXIT, type HomeStores } from './homeStores';
import { forgetPrivate, historyStoreFor, savePrivate } from './privateStores';
import { jsonLine, terminalSafe } from './terminalText';
import { FEATURE_HELP, parseJsonInput } from './chatFeatures';
import { LocalFeatureRoom } from '../core/private/featureRoom';
import { messageOfRecord } from '../core/private/historyMessage';
import { CONTENT_TYPES } from '../core/payload/index';
import { FeatureScreen } from './chatFeatureScreen';

export interface PrivateTarget {
  room: string;
  name: string;
  host: string;
  port: number;
  relay: string;
  /** §1.8: the relay's pinned certificate SHA-256, when it speaks TLS (stored with setTlsPin). */
  tls?: string;
  group: MlsGroup;
  meta: PrivateMeta;
}

export interface PrivateFlags {
  json: boolean;
  debug: boolean;
  history: number;
  timeoutMs: number;
}

const HELP = [
  'Commands (a line beginning with // sends a line beginning with /):',
  '  /members                          members: names, fingerprints, roles',
  '  /invite [--uses N] [--expires 24h]  a new invite (admins; single-use, 24 h by default, 30 days at most)',
  '  /remove NAME|FINGERPRINT          remove a member (admins): it can no longer read what follows',
  '  /promote NAME|FINGERPRINT         make a member an admin (admins)',
  '  /revoke INVITE                    end an invite (admins)',
  '  /update                           renew your keys now (done by itself daily)',
  '  /fingerprint                      your own fingerprint',
  '  /leave                            leave the room for good (its state and history here are deleted)',
  '  /stop                             exit (you stay a member)',
  ...FEATURE_HELP,
].join('\n');

/** `24h`, `30m`, `7d`, `90s`: the lifetime of an invite in ms, or undefined. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d{1,6})([smhd])$/.exec(s.trim());
  if (m === null) return undefined;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

function byText(e: { by: { name?: string; fingerprint: string } }): string {
  return e.by.name ?? e.by.fingerprint;
}

export async function runPrivateChat(session: HomeStores, target: PrivateTarget, flags: PrivateFlags, displayName: string, plainOrFlagTransport: TransportFactory): Promise<number> {
  // §1.8: a room on a TLS relay speaks TLS pinned to its stored certificate (room and lobbies alike).
  const transport = target.tls !== undefined ? createTlsTransportFactory(target.tls) : plainOrFlagTransport;
  const err = (msg: string): void => void process.stderr.write(`smc chat: ${terminalSafe(msg)}\n`);
  if (target.meta.removedBy !== undefined) {
    const by = target.meta.removedBy.name ?? target.meta.removedBy.fingerprint;
    err(`you were removed from private room "${target.name}" by ${by}; only a new invite from an admin brings you back`);
    return CHAT_EXIT.removed;
  }
  const tty = !flags.json && process.stdout.isTTY === true;
  const style: Style = tty && process.env.NO_COLOR === undefined ? ANSI : PLAIN;
  const log = flags.debug ? (event: string, fields?: Record<string, unknown>) => void process.stderr.write(`smc debug: ${terminalSafe(event)} ${jsonLine(fields ?? {})}\n`) : undefined;
  const history = await historyStoreFor(session, target.room);
  const stored = await history.load();
  const agent = `smc-cli/${SMC_VERSION}`;
  const room = new PrivateRoom({
    room: target.room, name: target.name, host: target.host, port: target.port, agent, transport, ...(target.tls !== undefined ? { tls: target.tls } : {}),
    identity: session.identity, displayName, group: target.group, meta: target.meta,
    save: (text) => savePrivate(session, target.room, text), history, ...(log !== undefined ? { log } : {}),
  });
  const self = session.identity.publicKey.toString('hex');
  // §3.3, §3.8: own messages the relay never acked go out again (the history is the outbox).
  room.restorePending(stored.records);
  const desk = new LobbyDesk(room, new RelayClient({
    host: target.host, port: target.port, agent, identity: session.identity, displayName: LOBBY_ADMIN_NAME, transport, ...(log !== undefined ? { log } : {}),
  }), log);

  // The prompt is redrawn after each batch of output (the interface exists once input starts).
  const prompt: { rl?: ReturnType<typeof createInterface> } = {};
  const out = new LineWriter(process.stdout, tty ? { before: () => undefined, after: () => prompt.rl?.prompt(true) } : undefined);
  const info = (text: string): void => (flags.json ? err(text) : out.line(style.dim(`-- ${terminalSafe(text)} --`)));
  const event = (o: Record<string, unknown>): void => out.line(jsonLine(o));

  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  // §2.3.1-2.3.5 (§3.3: the same payload as link rooms): numbered messages, replies,
  // reactions, edits, deletes and files, shown and refused as in link rooms (chatFeatureScreen.ts).
  let refused = 0;
  /** While the stored history is replayed: its messages and file lines, shown at its end. */
  let replaying: { messages: ChatMessage[]; lines: string[] } | undefined;
  const features = new LocalFeatureRoom(target.room, room.fingerprint, room, {
    message: (m) => {
      if (replaying !== undefined) replaying.messages.push(m);
      else out.line(flags.json ? screen.messageJson(m, false) : screen.line(m));
    },
    effects: (e) => {
      if (replaying !== undefined) return;
      if (e.effect.own && e.effect.seq === undefined && flags.json) return;
      const l = flags.json ? screen.effectJson(e, false) : screen.effectLine(e);
      if (l !== undefined) out.line(l);
    },
    file: (e) => {
      const l = flags.json ? screen.fileJson(e) : screen.fileLine(e);
      if (l !== undefined && replaying !== undefined) replaying.lines.push(l);
      else if (l !== undefined) out.line(l);
    },
    // §3.3: an own message that was stale for everyone went again under a new id: it keeps its
    // number; --json says so (README "Private rooms"), as what a script keeps of it has the old id.
    renamed: (from, to) => {
      screen.numbers.rename(from, to);
      if (flags.json) event({ event: 'renamed', from, to });
      else log?.('renamed', { from, to });
    },
  });
  const screen = new FeatureScreen(features, (l) => out.line(l), (l) => {
    refused++;
    err(l);
  }, style);
  room.on('message', (m: ChatMessage) => features.receive(m));
  room.on('renamed', (r) => features.renamed(r.from, r.to));

  // Interactive: what this client kept of the room (§3.8: the relay's copies no one can open
  // again), through the features as live messages are, and shown once all are in: a message
  // deleted since shows as deleted, never its text; an edited one its last text.
  if (!flags.json && flags.history > 0) {
    replaying = { messages: [], lines: [] };
    for (const r of stored.records.slice(-flags.history)) {
      // A control message (§3.4) or a record that does not parse is not shown.
      const m = messageOfRecord(target.room, r, self);
      if (m !== undefined) features.receive(m);
    }
    const held = replaying;
    replaying = undefined;
    for (const m of held.messages) if (CONTENT_TYPES.includes(m.type)) out.line(screen.line(m));
    for (const l of held.lines) out.line(l);
  }
  const membership = (kind: 'member_added' | 'member_removed') => (e: MembershipEvent): void => {
    if (flags.json) event({ event: kind, name: e.name ?? null, fingerprint: e.fingerprint, by: byText(e), byFingerprint: e.by.fingerprint });
    else info(`${byText(e)} ${kind === 'member_added' ? 'added' : 'removed'} ${e.name ?? e.fingerprint}`);
  };
  room.on('member_added', membership('member_added'));
  room.on('member_removed', membership('member_removed'));
  room.on('removed', (e) => {
    if (flags.json) event({ event: 'removed', by: byText(e), byFingerprint: e.by.fingerprint });
    else info(`${byText(e)} removed you from this room; you can no longer read it`);
    finish(CHAT_EXIT.removed);
  });
  room.on('invite', (e) => {
    if (flags.json) event({ event: 'invite', invite: e.invite });
    else info(`invite (for ${e.uses} use${e.uses === 1 ? '' : 's'}, until ${new Date(e.expires).toISOString()}; it lets its holder ask to join, pass it on privately): ${e.invite}`);
  });
  // §3.6 "Repair": a commit every member refused ended the epoch at the relay; the owner's client undoes it.
  room.on('blocked', (e) => {
    if (flags.json) event({ event: 'blocked', epoch: e.epoch, seq: e.seq });
    else info(e.owner
      ? `the relay took a commit (#${e.seq}) that this client refused as the end of the epoch; repairing the room (you are its owner)`
      : `the relay took a commit (#${e.seq}) that this client refused as the end of the epoch; the room waits for its owner (its creator) to be online and repair it; what you write waits too`);
  });
  room.on('repaired', (e) => {
    if (flags.json) event({ event: 'repaired', epoch: e.epoch, seq: e.seq });
    else info(`the room is repaired: the refused commit (#${e.seq}) is undone, and the room goes on`);
  });
  room.on('epoch', (e) => log?.('epoch', { epoch: e.epoch }));
  room.on('dropped', (intent) => log?.('intent_dropped', { kind: intent.kind }));
  room.on('error', (e: ClientError) => err(e.message));
  room.on('outgoing', (o) => {
    features.outgoing(o);
    if (o.state === 'failed') err(`not sent: ${o.error ?? 'refused by the relay'}`);
  });
  let markSynced = (): void => undefined;
  const firstSync = new Promise<void>((resolve) => (markSynced = resolve));
  room.on('synced', () => markSynced());

  room.connect();
  desk.start();

  const command = async (line: string): Promise<void> => {
    const [cmd, ...args] = line.trim().split(/\s+/);
    const rest = line.trim().slice(cmd!.length).trim();
    try {
      switch (cmd) {
        case '/members': {
          const members = room.members().map((m) => ({ name: m.name ?? null, fingerprint: m.fingerprint, role: m.admin ? 'admin' : 'member', self: m.self }));
          if (flags.json) event({ event: 'members', epoch: room.epoch, members });
          else for (const m of members) out.line(`  ${terminalSafe(m.name ?? '(no name yet)')}  ${m.fingerprint}  ${m.role}${m.self ? '  (you)' : ''}`);
          return;
        }
        case '/invite': {
          let uses: number | undefined;
          let expiresMs: number | undefined;
          for (let i = 0; i < args.length; i++) {
            if (args[i] === '--uses') uses = Number(args[++i]);
            else if (args[i] === '--expires') {
              expiresMs = parseDuration(args[++i] ?? '');
              if (expiresMs === undefined) throw new ClientError('invalid_message', '--expires takes a duration such as 24h, 30m or 7d.');
            } else throw new ClientError('invalid_message', 'usage: /invite [--uses N] [--expires 24h]');
          }
          await firstSync;
          await room.invite({ ...(uses !== undefined ? { uses } : {}), ...(expiresMs !== undefined ? { expiresMs } : {}) });
          return;
        }
        case '/remove':
        case '/promote': {
          await firstSync;
          const m = room.findMember(rest);
          if (m === undefined) throw new ClientError('invalid_message', `no single member is "${rest}"; /members lists them`);
          if (cmd === '/remove') room.remove(m.identityKey);
          else room.promote(m.identityKey);
          return;
        }
        case '/revoke': {
          await firstSync;
          let secret: Buffer;
          try {
            secret = parsePrivateInvite(rest).secret;
          } catch {
            throw new ClientError('invalid_message', 'usage: /revoke INVITE (the smc://… link)');
          }
          room.revoke(inviteId(secret));
          return;
        }
        case '/update':
          await firstSync;
          room.update();
          return;
        case '/fingerprint':
          info(`your fingerprint: ${room.fingerprint}`);
          return;
        case '/leave':
          await firstSync;
          await room.leave();
          await room.drain();
          await desk.stop();
          await room.disconnect();
          await forgetPrivate(session, target.room);
          await session.rooms.remove(target.room);
          info(`you left private room "${target.name}"; its state and history here are deleted`);
          finish(CHAT_EXIT.ok);
          return;
        case '/stop':
          finish(CHAT_EXIT.ok);
          return;
        case '/help':
          for (const l of HELP.split('\n')) out.line(l);
          return;
        default:
          await firstSync;
          if (await screen.command(cmd!, rest)) return;
          throw new ClientError('invalid_message', `unknown command ${cmd}; /help lists them (// sends a line beginning with /)`);
      }
    } catch (e) {
      if (!(e instanceof ClientError)) throw e;
      err(e.message);
      refused++;
    }
  };

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, ...(tty ? { output: process.stdout, prompt: `${terminalSafe(displayName)}> `, terminal: true } : {}) });
  let chain = Promise.resolve();
  rl.on('line', (raw) => {
    chain = chain.then(async () => {
      const line = raw;
      if (line.length === 0) return;
      if (line.startsWith('/') && !line.startsWith('//')) return command(line);
      // --json objects (README "Replies, reactions, edits and files"), after the catch-up.
      let input;
      try {
        input = flags.json ? parseJsonInput(line) : undefined;
      } catch (e) {
        refused++;
        err(`not sent: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      if (input !== undefined) {
        await firstSync;
        if (input.kind === 'save') return screen.saveLater(input.file, input.path);
        return screen.run(input, () => undefined);
      }
      try {
        const sent = features.sendText(line.startsWith('//') ? line.slice(1) : line);
        if (tty) out.line(screen.line(sent));
      } catch (e) {
        if (!(e instanceof ClientError)) throw e;
        refused++;
        err(`not sent: ${e.message}`);
      }
    });
  });
  prompt.rl = rl;
  if (tty) rl.prompt();
  const ended = new Promise<'ended'>((resolve) => rl.once('close', () => resolve('ended')));
  const first = await Promise.race([ended, finished]);
  let code: number;
  if (first === 'ended') {
    await chain;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), flags.timeoutMs)));
    const outcome = await Promise.race([firstSync.then(() => chain).then(() => room.drain()).then(() => 'done' as const), timedOut, finished]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      err(room.pendingCount > 0 ? `${room.pendingCount} message(s) not acknowledged by the relay at ${target.relay} within ${flags.timeoutMs / 1000} s`
        : `could not catch up with the relay at ${target.relay} within ${flags.timeoutMs / 1000} s`);
      code = CHAT_EXIT.unacked;
    } else if (outcome === 'done') code = refused > 0 ? CHAT_EXIT.other : CHAT_EXIT.ok;
    else code = outcome;
  } else {
    code = first;
    await chain;
    if (code === CHAT_EXIT.ok) {
      // /stop: what was typed gets a few seconds to be acknowledged.
      await Promise.race([room.drain(), new Promise((r) => setTimeout(r, 3_000))]);
    }
  }
  rl.close();
  await desk.stop();
  await room.disconnect();
  // §3.8: what a delete removed leaves the history file too before this process ends.
  await history.flush().catch((e: unknown) => err(`the history could not be purged of deleted messages (it is, at the next start): ${e instanceof Error ? e.message : String(e)}`));
  // `smc room list` shows how far this member got (unless it left and the room is forgotten).
  if (session.rooms.get(target.room) !== undefined) await session.rooms.setLastSeq(target.room, room.applied);
  out.flush();
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  if (code === CHAT_EXIT.removed && !flags.json) err(`you were removed from private room "${target.name}"`);
  return code;
}
