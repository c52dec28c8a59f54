// `smc chat --json`, for scripts (README "Chat from a terminal"): every line of stdin is sent as a text message;
// every message received, history and live, is one JSON object per line on stdout; one that
// cannot be verified is {"seq","id","error"}, never its content. Own messages are printed only
// with --own, once acked (so a script can count its acks). At end of input it waits for the
// first catch-up and for every ack, at most --timeout, then exits (0, or 5 on timeout).
import { createInterface } from 'node:readline';
import { ClientError } from '../core/client/index';
import type { ChatContext } from './chatContext';
import { CHAT_EXIT } from './homeStores';
import { jsonMessage, jsonUnverifiable } from './chatFormat';
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

  let markSynced = (): void => undefined;
  const firstSync = new Promise<void>((resolve) => (markSynced = resolve));
  client.on('synced', (s) => {
    if (s.room === room) markSynced();
  });
  client.on('message', (m) => {
    // Shown in an earlier run and back as the history it was (§2.8): printed then, not again.
    if (m.room === room && m.shownBefore !== true && (!m.own || flags.own)) out.line(jsonMessage(m, flags.own));
  });
  client.on('unverifiable', (u) => {
    if (u.room === room) out.line(jsonUnverifiable(u));
  });
  // Own messages sent now: printed when the relay acks them (the object gets its seq then).
  const sentNow = new Map<string, ReturnType<typeof client.sendText>['message']>();
  client.on('outgoing', (o) => {
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

  let refused = 0;
  const input = createInterface({ input: process.stdin, crlfDelay: Infinity });
  input.on('line', (line) => {
    if (line.length === 0) return;
    try {
      const o = client.sendText(room, line);
      if (flags.own) sentNow.set(o.id, o.message);
    } catch (e) {
      if (!(e instanceof ClientError)) throw e;
      refused++;
      err(`not sent: ${e.message}`);
    }
  });
  const inputEnded = new Promise<'ended'>((resolve) => input.once('close', () => resolve('ended')));
  const early = await Promise.race([inputEnded, refusedByRelay]);

  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), flags.timeoutMs)));
  const outcome = early === 'refused'
    ? early
    : await Promise.race([Promise.all([firstSync, client.drain()]).then(([, d]) => d), timedOut, refusedByRelay]);
  clearTimeout(timer);
  out.flush();
  let code: number = refused > 0 ? CHAT_EXIT.other : CHAT_EXIT.ok;
  if (outcome === 'refused') {
    input.close();
    process.stdin.destroy();
    code = CHAT_EXIT.other;
  } else if (outcome === 'timeout') {
    const n = client.pendingCount;
    const secs = flags.timeoutMs / 1000;
    err(n > 0
      ? `${n} message(s) not acknowledged by the relay at ${ctx.relay} within ${secs} s; giving up (they were not necessarily lost: the relay may have stored some)`
      : `could not reach the relay at ${ctx.relay} within ${secs} s`);
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
