// How `smc chat` shows things: one line per message on a terminal, one JSON object per line
// with --json. Everything that came from the network is hostile: every string of it goes
// through terminalSafe (or, with --json, jsonLine) of terminalText.ts, which makes control,
// bidi and invisible characters visible instead of letting the terminal interpret them.
import type { ChatMessage, UnverifiableMessage } from '../core/client/index';
import { jsonLine, terminalSafe } from './terminalText';
import { formatMessageTime } from '../shared/messageTime';

export interface Style {
  dim(s: string): string;
  bold(s: string): string;
  warn(s: string): string;
  error(s: string): string;
}

export const PLAIN: Style = { dim: (s) => s, bold: (s) => s, warn: (s) => s, error: (s) => s };

export const ANSI: Style = {
  dim: (s) => `\x1b[2m${s}\x1b[22m`,
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
  warn: (s) => `\x1b[33;1m${s}\x1b[39;22m`,
  error: (s) => `\x1b[31;1m${s}\x1b[39;22m`,
};

/** Continuation lines of a multi-line message are indented under its first line. */
function indent(text: string, pad: string): string {
  return text.split('\n').join(`\n${pad}`);
}

/** A verified message for the terminal: time, name, short fingerprint, text or snippet. */
export function formatMessage(m: ChatMessage, style: Style): string {
  const who = `${style.bold(terminalSafe(m.name))} ${style.dim(`(${terminalSafe(m.shortFingerprint)})`)}`;
  const mark = m.keyChanged ? ` ${style.warn('[KEY CHANGED: verify with /verify ' + terminalSafe(m.name) + ']')}` : '';
  const head = `${style.dim(formatMessageTime(m.ts, Date.now()))} ${who}${mark}`;
  const pad = '      ';
  if (m.type === 'text') return `${head}: ${indent(terminalSafe(m.text ?? '', 'block'), pad)}`;
  if (m.type === 'snippet' && m.snippet !== undefined) {
    const s = m.snippet;
    const where = terminalSafe(`${s.path}:${s.start}-${s.end}${s.lang ? ` (${s.lang})` : ''}`);
    const caption = m.text ? ` ${indent(terminalSafe(m.text, 'block'), pad)}` : '';
    const code = terminalSafe(s.code, 'block').split('\n').map((line) => `${pad}${style.dim('│')} ${line}`).join('\n');
    return `${head} shared ${style.bold(where)}:${caption}\n${code}`;
  }
  return `${head}: ${style.dim(`[a "${terminalSafe(m.type)}" message this version cannot show]`)}`;
}

export function formatUnverifiable(u: UnverifiableMessage, style: Style): string {
  const seq = u.seq !== undefined ? ` #${u.seq}` : '';
  return style.error(`  !! a message could not be verified${seq}: it is not shown (wrong key, or altered on the way)`);
}

/** --json: the fields README "Chat from a terminal" lists, in a fixed order; `own` only when own messages are shown. */
export function jsonMessage(m: ChatMessage, withOwn: boolean): string {
  const o: Record<string, unknown> = {
    seq: m.seq ?? null, ts: m.ts, id: m.id, name: m.name, fingerprint: m.fingerprint, type: m.type,
    text: m.text ?? null, verified: m.verified, keyChanged: m.keyChanged,
  };
  if (m.snippet !== undefined) o.snippet = m.snippet;
  if (withOwn) o.own = m.own;
  return jsonLine(o);
}

export function jsonUnverifiable(u: UnverifiableMessage): string {
  return jsonLine({ seq: u.seq ?? null, id: u.id, error: 'could not be verified' });
}
