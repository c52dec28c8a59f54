// Interactive `smc chat` (README "Chat from a terminal"): history, then live messages, above a prompt that incoming
// messages never break: each batch of output clears the prompt line, prints, and redraws the
// prompt with what the user had typed (readline keeps the line buffer and cursor).
import { clearLine, createInterface, cursorTo, moveCursor } from 'node:readline';
import { ClientError } from '../core/client/index';
import type { ChatMessage, PresenceUpdate } from '../core/client/index';
import { shortOfFingerprint } from '../core/crypto/index';
import { nameKey, namesLookAlike } from '../core/keys/index';
import type { ChatContext } from './chatContext';
import { CHAT_EXIT, LAST_NAME_STATE } from './homeStores';
import { ANSI, PLAIN, formatUnverifiable, type Style } from './chatFormat';
import { terminalSafe } from './terminalText';
import { LineWriter } from './chatOutput';
import { countPresence, presenceChanges, type PresenceCount, type PresenceEntry } from './presenceDiff';
import { FEATURE_HELP, linkFeatureRoom } from './chatFeatures';
import { FeatureScreen } from './chatFeatureScreen';

const HELP = [
  'Commands:',
  '  /who            who is online, with their short fingerprints',
  "  /verify NAME    show NAME's full fingerprint and ask whether to trust it (compare it with NAME's own first);",
  '                  when several keys claim NAME, lists them all and asks which one is NAME\'s',
  '  /fingerprint    your own full fingerprint',
  '  /name NAME      change your display name (others see it at once in /who)',
  ...FEATURE_HELP,
  '  /help           this list',
  '  /stop           leave the room and exit (also Ctrl-C, or Ctrl-D on an empty line)',
  'Anything else is sent as a message (Markdown, at most 16 KiB). Commands are not sent, and typing',
  'one does not show you as typing.',
].join('\n');

/** How long /stop waits for the relay to acknowledge what was typed before leaving. */
const STOP_DRAIN_MS = 3_000;

export async function runInteractiveChat(ctx: ChatContext): Promise<number> {
  const { client, room } = ctx;
  const tty = process.stdout.isTTY === true;
  const style: Style = tty && process.env.NO_COLOR === undefined ? ANSI : PLAIN;
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: `${terminalSafe(client.name)}> `, terminal: tty });

  const out = new LineWriter(process.stdout, {
    before: () => {
      if (tty) {
        cursorTo(process.stdout, 0);
        clearLine(process.stdout, 0);
      }
    },
    // Once leaving, no prompt: the shell's prompt comes next, on a line of its own.
    after: () => {
      if (!stopping) rl.prompt(true);
    },
  });
  const info = (text: string): void => out.line(style.dim(`-- ${text} --`));
  let stopping = false;
  /** A /verify waiting for its y/N: the next line is the answer, not a message. */
  let pendingTrust: { name: string; fingerprint: string } | undefined;
  /** A /verify of a name several keys claim, waiting for the number of the right one. */
  let pendingChoice: { name: string; fingerprints: string[] } | undefined;
  /**
   * A name as shown in presence and typing: marked when its key is not the one the name is
   * known under from messages, or when it looks like the own name (§2.4, as messages are).
   */
  const shownName = (name: string, keyChanged: boolean | undefined): string =>
    keyChanged === true ? `${terminalSafe(name)} ${style.warn('(KEY CHANGED)')}` : terminalSafe(name);

  // Typing indicators (§1.5 ephemeral) show in the prompt, not as lines: "(bob typing) alice> ".
  const typing = new Map<string, ReturnType<typeof setTimeout>>();
  const renderPrompt = (): void => {
    const who = [...typing.keys()];
    const hint = who.length === 0 ? '' : style.dim(`(${who.length > 2 ? `${who.length} people` : who.join(', ')} typing) `);
    const question = pendingTrust !== undefined ? `Trust this key for ${terminalSafe(pendingTrust.name)} in this room? (y/N) `
      : pendingChoice !== undefined ? `Which key is ${terminalSafe(pendingChoice.name)}'s? (1-${pendingChoice.fingerprints.length}, Enter for none) ` : undefined;
    rl.setPrompt(question ?? `${hint}${terminalSafe(client.name)}> `);
    if (!stopping) rl.prompt(true);
  };
  const TYPING_SHOWN_MS = 4_000;

  // Every key seen per name (messages and presence, newest last, a few per name), for /verify:
  // a name claimed by several keys is never resolved to the latest one silently.
  const seenKeys = new Map<string, { name: string; fingerprints: Map<string, Set<'message' | 'presence'>> }>();
  const KEYS_PER_NAME = 8;
  const remember = (name: string, fingerprint: string, from: 'message' | 'presence'): void => {
    const k = nameKey(name);
    let e = seenKeys.get(k);
    if (e === undefined) {
      if (seenKeys.size >= 4_096) seenKeys.delete(seenKeys.keys().next().value!);
      e = { name, fingerprints: new Map() };
      seenKeys.set(k, e);
    }
    const from0 = e.fingerprints.get(fingerprint) ?? new Set();
    e.fingerprints.delete(fingerprint);
    e.fingerprints.set(fingerprint, from0.add(from));
    if (e.fingerprints.size > KEYS_PER_NAME) e.fingerprints.delete(e.fingerprints.keys().next().value!);
  };

  // §2.3.1-2.3.5: messages are numbered ([N]) for /reply N and the others. A catch-up comes
  // oldest first, so a message's edits, delete and reactions come after it: its lines wait
  // until the catch-up is in, then show each message as it is now (never a deleted text).
  const features = new FeatureScreen(linkFeatureRoom(client, room), (l) => out.line(l), (l) => out.line(style.warn(`!! ${terminalSafe(l)}`)), style);
  const catchUp: (() => string | undefined)[] = [];
  const show = (line: () => string | undefined): void => {
    if (firstSync) catchUp.push(line);
    else {
      const l = line();
      if (l !== undefined) out.line(l);
    }
  };
  client.on('effects', (e) => {
    if (e.room !== room) return;
    // During the catch-up the messages show their effects when they are printed.
    if (firstSync) return;
    const l = features.effectLine(e);
    if (l !== undefined) out.line(l);
  });
  client.on('file', (e) => {
    if (e.room === room) show(() => features.fileLine(e));
  });

  let historyShown = 0;
  let firstSync = true;
  client.on('message', (m: ChatMessage) => {
    if (m.room !== room) return;
    remember(m.name, m.fingerprint, 'message');
    // Shown in an earlier run and back as the history it was (§2.8): printed then, not again.
    if (m.shownBefore === true) return;
    const typer = shownName(m.name, m.keyChanged);
    const t = typing.get(typer);
    if (t !== undefined) {
      // Their message is here: they stopped typing it.
      clearTimeout(t);
      typing.delete(typer);
      queueMicrotask(renderPrompt);
    }
    if (m.history && firstSync) historyShown++;
    show(() => features.line(m));
  });
  client.on('unverifiable', (u) => {
    if (u.room === room) out.line(formatUnverifiable(u, style));
  });
  // A rejoin fetches only what came after the last message seen here (§1.4 since): say which.
  const rejoin = ctx.lastSeq > 0;
  let roomEmpty: boolean | undefined;
  client.on('synced', (s) => {
    if (s.room !== room || !firstSync) return;
    firstSync = false;
    for (const line of catchUp.splice(0)) {
      const l = line();
      if (l !== undefined) out.line(l);
    }
    roomEmpty = s.head === 0;
    if (historyShown > 0) {
      info(rejoin
        ? `${historyShown} new message(s) since you were last here, above; new messages appear below`
        : `${historyShown} earlier message(s) above${s.more ? ' (older ones stay on the relay)' : ''}; new messages appear below`);
    } else if (roomEmpty) info('no messages in this room yet; new messages appear below');
    else if (rejoin) info(`nothing new since you were last here (up to #${ctx.lastSeq}, shown then); new messages appear below`);
    else info('earlier messages are not shown (--history 0); new messages appear below');
    checkWrongPassphrase();
  });
  // A mistyped room name or passphrase derives another key (§2.6), hence another room: empty,
  // nobody in it. Said once, when both the catch-up and the first presence are in.
  let passphraseChecked = !ctx.fromPassphrase;
  const checkWrongPassphrase = (): void => {
    if (passphraseChecked || roomEmpty === undefined) return;
    const p = client.presence(room);
    if (p === undefined || p.online === 0) return;
    passphraseChecked = true;
    if (roomEmpty && p.members.every((m) => m.self)) {
      out.line(style.warn('!! Nobody is here and this room has no messages. If you expected others, check the passphrase: ' +
        'the name and passphrase must match exactly (a typo in either opens another, empty room).'));
    }
  };
  // Typed in an earlier run, never confirmed by the relay: sent again now, same id (§1.5).
  let restoredSaid = false;
  client.on('restored', (o) => {
    if (o.room !== room) return;
    if (!restoredSaid) info('not confirmed by the relay when you last left, so sent again:');
    restoredSaid = true;
    out.line(features.line(o.message));
  });
  client.on('outgoing', (o) => {
    // The client's error already says "Not delivered yet: ...".
    if (o.room === room && o.state === 'failed') out.line(style.warn(`  !! ${terminalSafe(o.error ?? 'Not delivered yet: no answer from the relay.')}`));
  });
  client.on('state', (state, detail) => {
    if (state === 'connected') info(`connected to ${terminalSafe(ctx.relay)}, room "${terminalSafe(ctx.roomName)}"`);
    else if (state === 'connecting' && detail !== undefined) info(`reconnecting: ${terminalSafe(detail)}`);
  });
  client.on('error', (e) => out.line(style.warn(`!! ${terminalSafe(e.message)}`)));
  client.on('typing', (t) => {
    if (t.room !== room) return;
    const name = shownName(t.name, t.keyChanged);
    const old = typing.get(name);
    if (old !== undefined) clearTimeout(old);
    typing.set(name, setTimeout(() => {
      typing.delete(name);
      renderPrompt();
    }, TYPING_SHOWN_MS));
    if (old === undefined) renderPrompt();
  });

  // By person, not by sid (presenceDiff.ts): a reconnect gives everyone new sids.
  let members: PresenceCount = new Map();
  client.on('presence', (p: PresenceUpdate) => {
    // online 0 is the client's own "connection lost" update: not everyone left.
    if (p.room !== room || client.state !== 'connected' || p.online === 0) return;
    const entries: PresenceEntry[] = [];
    for (const m of p.members) {
      if (m.self) continue;
      entries.push(m.verified
        ? { person: `${m.fingerprint!}\n${m.name!}`, shown: shownName(m.name!, m.keyChanged) }
        : { person: 'unverified', shown: 'an unverified member' });
      if (m.verified) remember(m.name!, m.fingerprint!, 'presence');
    }
    const next = countPresence(entries);
    const { arrived, left } = presenceChanges(members, next);
    for (const name of arrived) info(`${name} is here`);
    const stillHere = new Set([...next.values()].map((c) => c.shown));
    for (const name of left) {
      info(`${name} left`);
      // Nobody of that name is here any more: nobody of that name is typing.
      const t = typing.get(name);
      if (t !== undefined && !stillHere.has(name)) {
        clearTimeout(t);
        typing.delete(name);
        queueMicrotask(renderPrompt);
      }
    }
    members = next;
    checkWrongPassphrase();
  });

  const who = (): void => {
    const p = client.presence(room);
    if (p === undefined || client.state !== 'connected') return info('not connected; nobody is known to be online');
    const lines = p.members.map((m) => {
      const name = m.verified ? `${terminalSafe(m.name!)} (${terminalSafe(shortOfFingerprint(m.fingerprint!))})` : 'someone whose presence could not be verified';
      const mark = m.verified && m.keyChanged === true ? ` ${style.warn(`[KEY CHANGED: verify with /verify ${terminalSafe(m.name!)}]`)}` : '';
      return `   ${name}${m.self ? ' (you)' : ''}${mark}`;
    });
    out.line([`${p.online} online:`, ...lines].join('\n'));
  };

  /**
   * /verify NAME: the key NAME is known under from messages (KnownKeys, §2.4), and every other
   * key seen claiming it (a message marked key changed, a presence tag). One key: shown, y/N.
   * Several: all listed in full, and the user says which one NAME's own /fingerprint shows.
   */
  const verify = (name: string): void => {
    if (name === '') return void out.line('Usage: /verify NAME');
    if (namesLookAlike(name, client.name)) {
      // §2.4: the own display name (and every look-alike) is bound to the own key; no other key
      // under it is ever trusted, so there is nothing to verify.
      return void out.line(style.warn(`!! "${terminalSafe(name)}" is (or looks like) your own name: any other key under it stays marked, whatever you answer. Your key: /fingerprint.`));
    }
    const seen = seenKeys.get(nameKey(name));
    const known = ctx.session.known.known(room, name);
    const claims = new Map<string, string>();
    if (known !== undefined) claims.set(known, 'the key this name is known under (from its messages)');
    for (const [fp, from] of seen?.fingerprints ?? []) {
      if (fp === client.fingerprint || claims.has(fp)) continue;
      claims.set(fp, `another key under this name (seen in ${[...from].join(' and ')})`);
    }
    const shown = terminalSafe(seen?.name ?? name);
    if (claims.size === 0) return void out.line(`No key seen for "${terminalSafe(name)}" in this room yet.`);
    if (claims.size === 1) {
      const [fingerprint] = [...claims.keys()];
      out.line([
        `${shown}'s fingerprint: ${style.bold(terminalSafe(fingerprint!))}`,
        `Compare it with what ${shown} sees in /fingerprint, by phone or in person, before you answer.`,
      ].join('\n'));
      pendingTrust = { name: seen?.name ?? name, fingerprint: fingerprint! };
      return renderPrompt();
    }
    const fingerprints = [...claims.keys()];
    out.line([
      style.warn(`!! ${claims.size} different keys claim the name ${shown} in this room; at most one is really ${shown}'s:`),
      ...fingerprints.map((fp, i) => `  ${i + 1}. ${style.bold(terminalSafe(fp))}  ${claims.get(fp)!}`),
      `Ask ${shown} for the fingerprint /fingerprint shows them, by phone or in person, and answer with its number.`,
    ].join('\n'));
    pendingChoice = { name: seen?.name ?? name, fingerprints };
    renderPrompt();
  };

  const answerChoice = (answer: string): void => {
    const choice = pendingChoice!;
    const a = answer.trim();
    const n = /^\d+$/.test(a) ? Number(a) : NaN;
    if (a !== '' && !/^no?$/i.test(a) && !(n >= 1 && n <= choice.fingerprints.length)) {
      out.line(`Answer a number from 1 to ${choice.fingerprints.length}, or Enter for none (that line was not sent).`);
      return;
    }
    pendingChoice = undefined;
    renderPrompt();
    if (Number.isNaN(n)) return void out.line(`Not trusted: nothing changed for ${terminalSafe(choice.name)}.`);
    client.trust(room, choice.name, choice.fingerprints[n - 1]!);
    out.line(`Trusted: key ${n} is now the key for ${terminalSafe(choice.name)} in this room; messages signed with it are no longer marked.`);
  };

  const answerTrust = (answer: string): void => {
    const seen = pendingTrust!;
    const yes = /^y(es)?$/i.test(answer.trim());
    if (!yes && !/^(no?)?$/i.test(answer.trim())) {
      // Perhaps a message typed before reading the question: say it was not sent, ask again.
      out.line('Answer y or n (that line was not sent).');
      return;
    }
    pendingTrust = undefined;
    renderPrompt();
    if (!yes) return void out.line(`Not trusted: nothing changed for ${terminalSafe(seen.name)}.`);
    client.trust(room, seen.name, seen.fingerprint);
    out.line(`Trusted: it is now the key for ${terminalSafe(seen.name)} in this room; messages signed with it are no longer marked.`);
  };

  const rename = (name: string): void => {
    try {
      client.setDisplayName(name);
    } catch (e) {
      if (!(e instanceof ClientError)) throw e;
      return void out.line(style.warn(`!! ${terminalSafe(e.message)}`));
    }
    renderPrompt();
    void ctx.session.state.update(LAST_NAME_STATE, name).catch(() => undefined);
    out.line(`You are now ${terminalSafe(name)}.`);
  };

  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    for (const t of typing.values()) clearTimeout(t);
    typing.clear();
    info('leaving');
    out.flush();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.drain(), new Promise((r) => (timer = setTimeout(r, STOP_DRAIN_MS)))]);
    clearTimeout(timer);
    const unsent = client.pendingCount;
    if (unsent > 0) process.stdout.write(`${unsent} message(s) not delivered yet: kept, and sent the next time you join this room.\n`);
    await client.leave(room).catch(() => undefined);
    await client.disconnect();
    rl.close();
    resolveDone(unsent > 0 ? CHAT_EXIT.unacked : CHAT_EXIT.ok);
  };

  rl.on('line', (line) => {
    if (tty) {
      // Replace the echoed input line by the formatted message (or the command's answer).
      moveCursor(process.stdout, 0, -1);
      clearLine(process.stdout, 0);
    }
    if (pendingTrust !== undefined) return answerTrust(line);
    if (pendingChoice !== undefined) return answerChoice(line);
    const text = line.trim();
    if (text.startsWith('/')) {
      const [cmd, ...rest] = text.split(/\s+/);
      const arg = rest.join(' ');
      switch (cmd) {
        case '/help': out.line(HELP); break;
        case '/who': who(); break;
        case '/verify': verify(arg); break;
        case '/fingerprint': out.line(`Your fingerprint: ${style.bold(client.fingerprint)}`); break;
        case '/name': rename(arg); break;
        case '/stop': case '/quit': case '/exit': void stop(); return;
        default: {
          // The features' commands (/reply, /react, /edit, /delete, /send-file, /save).
          const line = text.slice((cmd ?? '').length).trimStart();
          void features.command(cmd ?? '', line).then((known) => {
            if (!known) out.line(`Unknown command ${terminalSafe(cmd ?? '')}; /help lists them.`);
            if (!stopping) rl.prompt(true);
          });
          return;
        }
      }
      if (!stopping) rl.prompt(true);
      return;
    }
    if (text.length === 0) return void rl.prompt(true);
    try {
      const sent = client.sendText(room, line);
      out.line(features.line(sent.message));
    } catch (e) {
      if (!(e instanceof ClientError)) throw e;
      out.line(style.warn(`!! not sent: ${terminalSafe(e.message)}`));
    }
  });
  rl.on('close', () => void stop());
  rl.on('SIGINT', () => void stop());
  // After readline's own keypress listener: rl.line is the line with this key applied. A
  // command or a y/N answer is not a message being typed; neither is an emptied line.
  if (tty) {
    process.stdin.on('keypress', () => {
      if (pendingTrust === undefined && pendingChoice === undefined && rl.line.trim() !== '' && !rl.line.trimStart().startsWith('/')) client.setTyping(room);
    });
  }

  info(`joining "${terminalSafe(ctx.roomName)}" on ${terminalSafe(ctx.relay)} as ${terminalSafe(client.name)} (${shortOfFingerprint(client.fingerprint)}); /help for commands`);
  client.connect();
  client.join({ key: ctx.key, name: ctx.roomName, lastSeq: ctx.lastSeq });
  rl.prompt();
  return done;
}
