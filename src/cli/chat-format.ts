// How `smc chat` shows things: one line per message on a terminal, one JSON object per line
// with --json. Everything that came from the network is hostile: on a terminal, control
// characters (escape sequences could move the cursor, rewrite earlier lines or retitle the
// window) and bidi overrides (could make text read differently from its bytes) are made
// visible instead of being interpreted.
import type { ChatMessage, UnverifiableMessage } from '../core/client/index';
import { formatMessageTime } from '../shared/messageTime';

// C0 controls but \n and \t, DEL, C1 controls, and the Unicode bidi and invisible format marks.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** Makes a network string safe to print on a terminal: unsafe characters become \u{XXXX}. */
export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`);
}

/** Same, for one-line fields (names): newlines and tabs are shown escaped too. */
export function terminalSafeLine(s: string): string {
  return terminalSafe(s).replace(/\n/g, '\\n').replace(/\t/g, ' ');
}

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
  const who = `${style.bold(terminalSafeLine(m.name))} ${style.dim(`(${m.shortFingerprint})`)}`;
  const mark = m.keyChanged ? ` ${style.warn('[KEY CHANGED: verify with /verify ' + terminalSafeLine(m.name) + ']')}` : '';
  const head = `${style.dim(formatMessageTime(m.ts, Date.now()))} ${who}${mark}`;
  const pad = '      ';
  if (m.type === 'text') return `${head}: ${indent(terminalSafe(m.text ?? ''), pad)}`;
  if (m.type === 'snippet' && m.snippet !== undefined) {
    const s = m.snippet;
    const where = `${terminalSafeLine(s.path)}:${s.start}-${s.end}${s.lang ? ` (${terminalSafeLine(s.lang)})` : ''}`;
    const caption = m.text ? ` ${indent(terminalSafe(m.text), pad)}` : '';
    const code = terminalSafe(s.code).split('\n').map((line) => `${pad}${style.dim('│')} ${line}`).join('\n');
    return `${head} shared ${style.bold(where)}:${caption}\n${code}`;
  }
  return `${head}: ${style.dim(`[a "${terminalSafeLine(m.type)}" message this version cannot show]`)}`;
}

export function formatUnverifiable(u: UnverifiableMessage, style: Style): string {
  const seq = u.seq !== undefined ? ` #${u.seq}` : '';
  return style.error(`  !! a message could not be verified${seq}: it is not shown (wrong key, or altered on the way)`);
}

/** --json: the fields of issue 3 §4, in a fixed order; `own` only when own messages are shown. */
export function jsonMessage(m: ChatMessage, withOwn: boolean): string {
  const o: Record<string, unknown> = {
    seq: m.seq ?? null, ts: m.ts, id: m.id, name: m.name, fingerprint: m.fingerprint, type: m.type,
    text: m.text ?? null, verified: m.verified, keyChanged: m.keyChanged,
  };
  if (m.snippet !== undefined) o.snippet = m.snippet;
  if (withOwn) o.own = m.own;
  return JSON.stringify(o);
}

export function jsonUnverifiable(u: UnverifiableMessage): string {
  return JSON.stringify({ seq: u.seq ?? null, id: u.id, error: 'could not be verified' });
}
