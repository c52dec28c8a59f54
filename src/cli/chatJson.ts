// `smc chat --json`, for scripts (README "Chat from a terminal"): every line of stdin is sent as a text message;
// every message received, history and live, is one JSON object per line on stdout; one that
// cannot be verified is {"seq","id","error"}, never its content. Own messages are printed only
// with --own, once acked (so a script can count its acks). At end of input it waits for the
// first catch-up and for every ack, at most --timeout, then exits (0, or 5 on timeout).
import { createInterface } from 'node:readline';
import { ClientError } from '../core/client/index';
import type { ChatContext } from './chatContext';
import { CHAT_EXIT } from './homeStores';
import { PLAIN, jsonMessage, jsonUnverifiable } from './chatFormat';
import { FeatureError, linkFeatureRoom, parseJsonInput, type FeatureInput } from './chatFeatures';
import { FeatureScreen } from './chatFeatureScreen';
import { LineWriter } from './chatOutput';
import { terminalSafe } from './terminalText';

export async function runJsonChat(ctx: ChatContext): Promise<number> {
  const { client, room, flags } = ctx;
  const out = new LineWriter(process.stdout);
  // Errors can carry what the relay sent (an error code): shown inert, as on a terminal.
  const err = (msg: string): void => void process.stderr.write(`smc chat: ${terminalSafe(msg)}\n`);
  // A reader that went away (`smc chat --json … | head -1`) ends the program quietly, as in
  // any Unix filter; anything else on stdout is a real error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(CHAT_EXIT.ok);
    err(`cannot write to standard output: ${e.message}`);
    process.exit(CHAT_EXIT.other);
  });

  let refused = 0;
  // §2.3.1-2.3.5: objects in (README "--json objects in") and the fields out.
  const features = new FeatureScreen(linkFeatureRoom(client, room), (l) => out.line(l), (l) => {
    refused++;
    err(l);
  }, PLAIN);
  let synced = false;
  let markSynced = (): void => undefined;
  const firstSync = new Promise<void>((resolve) => (markSynced = resolve));
  client.on('synced', (s) => {
    if (s.room !== room) return;
    synced = true;
    markSynced();
    sendWaiting();
  });
  client.on('message', (m) => {
    // Shown in an earlier run and back as the history it was (§2.8): printed then, not again.
    if (m.room === room && m.shownBefore !== true && (!m.own || flags.own)) out.line(features.messageJson(m, flags.own));
  });
  // Reactions, edits and deletes as the messages they are, with what they did. Own ones sent
  // now are printed (with --own) when acked, as other own messages.
  const sentIds = new Set<string>();
  client.on('effects', (e) => {
    if (e.room !== room || e.effect.shownBefore === true || sentIds.has(e.effect.id) || e.effect.seq === undefined) return;
    if (!e.effect.own || flags.own) out.line(features.effectJson(e, flags.own));
  });
  client.on('file', (e) => {
    if (e.room !== room) return;
    const line = features.fileJson(e);
    if (line !== undefined) out.line(line);
  });
  const saves = new Set<Promise<void>>();
  client.on('unverifiable', (u) => {
    if (u.room === room) out.line(jsonUnverifiable(u));
  });
  // Own messages sent now: printed when the relay acks them (the object gets its seq then).
  const sentNow = new Map<string, ReturnType<typeof client.sendText>['message']>();
  // Lines held while the outbox is full are sent as acks make room (assigned below).
  let sendWaiting = (): void => undefined;
  // Sent by an earlier run and never acked (§1.5): sent again, printed once acked as the others.
  client.on('restored', (o) => {
    if (o.room === room && flags.own) sentNow.set(o.id, o.message);
  });
  client.on('outgoing', (o) => {
    if (o.state === 'sent' || o.state === 'failed') sendWaiting();
    if (o.state !== 'sent' || !flags.own) return;
    const m = sentNow.get(o.id);
    sentNow.delete(o.id);
    if (m !== undefined) out.line(jsonMessage(m, true));
  });
  // A relay that refuses this room (§1.9) or cannot be proven to (protocol v1) will not change
  // its mind: end now with the reason, instead of waiting out --timeout and blaming the acks.
  let markRefused = (): void => undefined;
  const refusedByRelay = new Promise<'refused'>((resolve) => (markRefused = () => resolve('refused')));
  client.on('error', (e) => {
    err(e.message);
    if (e.code === 'relay_too_old' || (e.code === 'room_refused' && e.room === room)) markRefused();
  });

  client.connect();
  client.join({ key: ctx.key, name: ctx.roomName, lastSeq: ctx.lastSeq });

  let queued = 0;
  const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
  // Lines read while the outbox is full (ClientTuning.outboxLimit) wait here, in order, and
  // stdin is paused: a long input is sent as fast as the relay acks, none refused.
  const waiting: string[] = [];
  let markAllQueued = (): void => undefined;
  const allQueued = new Promise<void>((resolve) => (markAllQueued = resolve));
  let inputClosed = false;
  // No room made for --timeout while input waits: the relay is not acking; end as a timeout.
  let stallTimer: NodeJS.Timeout | undefined;
  let markStalled = (): void => undefined;
  const stalled = new Promise<'timeout'>((resolve) => (markStalled = () => resolve('timeout')));
  const armStall = (): void => {
    clearTimeout(stallTimer);
    stallTimer = waiting.length > 0 ? setTimeout(markStalled, flags.timeoutMs) : undefined;
  };
  /** A file being read and queued: the lines after it wait. */
  let busy = false;
  const ownShown = (m: ReturnType<typeof client.sendText>['message']): void => {
    queued++;
    sentIds.add(m.id);
    if (flags.own) sentNow.set(m.id, m);
  };
  /** An object line (README "--json objects in"); false when it must wait (not synced, a file before it). */
  const sendObject = (input: FeatureInput): boolean => {
    // Every object names a message or waits behind a file: after the first catch-up, in order.
    if (!synced || busy) return false;
    if (input.kind === 'save') {
      const p = features.saveLater(input.file, input.path);
      saves.add(p);
      void p.finally(() => saves.delete(p));
      return true;
    }
    // Sent at once (a file once read); the promise settles with its report on stderr.
    const run = features.run(input, ownShown);
    if (input.kind !== 'file') return true;
    busy = true;
    void run.finally(() => {
      busy = false;
      sendWaiting();
    });
    return true;
  };
  /** Sends one line; false when the outbox is full (the line is kept for later). */
  const send = (line: string): boolean => {
    let input: FeatureInput | undefined;
    try {
      input = parseJsonInput(line);
    } catch (e) {
      if (!(e instanceof FeatureError)) throw e;
      refused++;
      err(`not sent: ${e.message}`);
      return true;
    }
    if (input !== undefined) return sendObject(input);
    if (busy) return false;
    try {
      const o = client.sendText(room, line);
      queued++;
      if (flags.own) sentNow.set(o.id, o.message);
    } catch (e) {
      if (!(e instanceof ClientError)) throw e;
      if (e.code === 'outbox_full') return false;
      refused++;
      err(`not sent: ${e.message}`);
    }
    return true;
  };
  sendWaiting = (): void => {
    const before = waiting.length;
    while (waiting.length > 0 && send(waiting[0]!)) waiting.shift();
    if (waiting.length !== before) armStall();
    if (waiting.length > 0) return;
    if (inputClosed) markAllQueued();
    else input.resume();
  };
  input.on('line', (line) => {
    if (line.length === 0) return;
    if (waiting.length > 0 || !send(line)) {
      waiting.push(line);
      if (waiting.length === 1) armStall();
      input.pause();
    }
  });
  const inputEnded = new Promise<'ended'>((resolve) => input.once('close', () => {
    inputClosed = true;
    if (waiting.length === 0) markAllQueued();
    resolve('ended');
  }));
  const early = await Promise.race([inputEnded, refusedByRelay, stalled]);
  clearTimeout(stallTimer);

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), flags.timeoutMs)));
  const outcome = early !== 'ended'
    ? early
    : await Promise.race([Promise.all([firstSync, allQueued.then(() => features.settled()).then(() => client.drain()), allQueued.then(() => Promise.all([...saves]))]).then(([, d]) => d), timedOut, refusedByRelay]);
  clearTimeout(timer);
  out.flush();
  let code: number = refused > 0 ? CHAT_EXIT.other : CHAT_EXIT.ok;
  if (early === 'timeout') {
    input.close();
    process.stdin.destroy();
  }
  if (outcome === 'refused') {
    input.close();
    process.stdin.destroy();
    code = CHAT_EXIT.other;
  } else if (outcome === 'timeout') {
    const n = client.pendingCount;
    const secs = flags.timeoutMs / 1000;
    err(n > 0
      ? `${n} message(s) not acknowledged by the relay at ${ctx.relay} within ${secs} s; they are kept and sent by the next smc chat in this room (same ids: none is stored twice)`
      : `could not reach the relay at ${ctx.relay} within ${secs} s`);
    if (waiting.length > 0) err(`only the first ${queued} message(s) of the input were queued (the outbox was full): send the rest again`);
    code = CHAT_EXIT.unacked;
  } else if (outcome.failed > 0) {
    err(`${outcome.failed} message(s) refused by the relay`);
    code = CHAT_EXIT.other;
  }
  await client.disconnect();
  out.flush();
  // stdout may be an asynchronous pipe: the exit that follows must not cut the last lines.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  return code;
}
