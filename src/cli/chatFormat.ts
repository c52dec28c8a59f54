// How `smc chat` shows things: one line per message on a terminal, one JSON object per line
// with --json. Everything that came from the network is hostile: every string of it goes
// through terminalSafe (or, with --json, jsonLine) of terminalText.ts, which makes control,
// bidi and invisible characters visible instead of letting the terminal interpret them.
import type { ChatMessage, EffectEvent, FileEvent, MessageView, UnverifiableMessage } from '../core/client/index';
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

/** What a message's line can say about others (docs/protocol.md §2.3.1): the original of a reply. */
export interface ShownOriginal {
  name: string;
  fingerprint: string;
  text?: string;
  n?: number;
  deleted: boolean;
}

export interface FormatOptions {
  /** Its number on screen ([N], for /reply N and the others). */
  n?: number;
  /** The original of a reply, when loaded. */
  original?: (id: string) => ShownOriginal | undefined;
}

const KIB = 1024;
/** 70 000 -> "68.4 KiB". */
export function formatSize(bytes: number): string {
  if (bytes < KIB) return `${bytes} bytes`;
  if (bytes < KIB * KIB) return `${(bytes / KIB).toFixed(1)} KiB`;
  return `${(bytes / (KIB * KIB)).toFixed(1)} MiB`;
}

/** §2.3.3: "👍 2  🎉 1". */
export function formatReactions(reactions: readonly { emoji: string; signers: readonly string[] }[]): string {
  return reactions.map((r) => `${terminalSafe(r.emoji)} ${r.signers.length}`).join('  ');
}

/**
 * §2.3.1: the quoted line of a reply. The original's own sender and text when it is loaded
 * (marked when the reply's `from` is not its sender), else the replier's quote, as plain text.
 */
function replyLine(m: ChatMessage, style: Style, opts: FormatOptions): string | undefined {
  const r = m.reply;
  if (r === undefined) return undefined;
  const o = opts.original?.(r.to);
  if (o === undefined) return style.dim(`↳ in reply to a message not loaded here: "${terminalSafe(r.quote)}"`);
  const where = o.n !== undefined ? `[${o.n}] ` : '';
  const forged = o.fingerprint !== r.from ? ` ${style.warn('(the reply names another sender)')}` : '';
  const short = [...(o.text ?? '')].slice(0, 120).join('');
  const text = o.deleted ? '[deleted]' : `"${terminalSafe(short)}"`;
  return style.dim(`↳ in reply to ${where}${terminalSafe(o.name)}: ${text}`) + forged;
}

/** A verified message for the terminal: [N], time, name, short fingerprint, then what it holds. */
export function formatMessage(m: ChatMessage, style: Style, opts: FormatOptions = {}): string {
  const who = `${style.bold(terminalSafe(m.name))} ${style.dim(`(${terminalSafe(m.shortFingerprint)})`)}`;
  const mark = m.keyChanged ? ` ${style.warn('[KEY CHANGED: verify with /verify ' + terminalSafe(m.name) + ']')}` : '';
  const num = opts.n !== undefined ? `${style.dim(`[${opts.n}]`)} ` : '';
  const head = `${num}${style.dim(formatMessageTime(m.ts, Date.now()))} ${who}${mark}`;
  const pad = '      ';
  if (m.deleted === true) return `${head}: ${style.dim('[deleted]')}`;
  const edited = m.edited === true ? ` ${style.dim('(edited)')}` : '';
  const extra: string[] = [];
  const reply = replyLine(m, style, opts);
  if (reply !== undefined) extra.push(`${pad}${reply}`);
  const tail = (): string => {
    if (m.reactions !== undefined && m.reactions.length > 0) extra.push(`${pad}${formatReactions(m.reactions)}`);
    return extra.length > 0 ? `\n${extra.join('\n')}` : '';
  };
  const caption = m.text ? ` ${indent(terminalSafe(m.text, 'block'), pad)}` : '';
  if (m.type === 'text') return `${head}: ${indent(terminalSafe(m.text ?? '', 'block'), pad)}${edited}${tail()}`;
  if (m.type === 'snippet' && m.snippet !== undefined) {
    const s = m.snippet;
    const where = terminalSafe(`${s.path}:${s.start}-${s.end}${s.lang ? ` (${s.lang})` : ''}`);
    const code = terminalSafe(s.code, 'block').split('\n').map((line) => `${pad}${style.dim('│')} ${line}`).join('\n');
    return `${head} shared ${style.bold(where)}:${caption}${edited}\n${code}${tail()}`;
  }
  if (m.type === 'file' && m.file !== undefined) {
    const f = m.file;
    const what = `${style.bold(terminalSafe(f.name))} (${formatSize(f.size)}, ${terminalSafe(f.mime)})`;
    return `${head} shared a file ${what}${caption ? `:${caption}` : ''}${edited}${tail()}`;
  }
  if (m.type === 'patch' && m.patch !== undefined) {
    const d = m.patch;
    const paths = d.paths.map((x) => terminalSafe(x)).join(', ');
    const diff = terminalSafe(d.diff, 'block').replace(/\n$/, '').split('\n').map((line) => `${pad}${style.dim('│')} ${line}`).join('\n');
    return `${head} shared a patch of ${style.bold(paths)}:${caption}${edited}\n${diff}${tail()}`;
  }
  return `${head}: ${style.dim(`[a "${terminalSafe(m.type)}" message this version cannot show]`)}`;
}

/**
 * A reaction, edit or delete that changed what shows (§2.3.3, §2.3.4), as one line; undefined
 * when it changed nothing on screen (pending, unchanged). `n` is its target's number.
 */
export function formatEffect(e: EffectEvent, style: Style, n: number | undefined): string | undefined {
  const who = `${style.bold(terminalSafe(e.effect.name))} ${style.dim(`(${terminalSafe(e.effect.shortFingerprint)})`)}`;
  const target = n !== undefined ? `[${n}]` : 'a message';
  const v: MessageView | undefined = e.view;
  switch (e.change) {
    case 'edited': return `${who} edited ${target}: ${indent(terminalSafe(v?.text ?? '', 'block'), '      ')}`;
    case 'deleted': return `${who} deleted ${target}`;
    case 'reactions': {
      const on = v?.reactions.some((r) => r.emoji === e.effect.emoji && r.signers.includes(e.effect.fingerprint)) === true;
      const now = v !== undefined && v.reactions.length > 0 ? `: ${formatReactions(v.reactions)}` : '';
      return `${who} ${on ? 'reacted' : 'took back'} ${terminalSafe(e.effect.emoji ?? '')} ${on ? 'to' : 'on'} ${target}${now}`;
    }
    case 'refused':
      if (e.why !== 'not_the_sender') return undefined;
      return style.warn(`!! ${terminalSafe(e.effect.name)} (${terminalSafe(e.effect.shortFingerprint)}) tried to ${e.effect.type} ${target}, someone else's message: refused`);
    default: return undefined;
  }
}

/** A file's progress for the terminal (§2.3.5): at each quarter, and at the end; undefined otherwise. */
export function formatFileEvent(e: FileEvent, style: Style, n: number | undefined, name: string | undefined): string | undefined {
  const what = `${n !== undefined ? `[${n}] ` : ''}${name !== undefined ? terminalSafe(name) : 'a file'}`;
  const quarter = (done: number, all: number): boolean => all >= 8 && [1, 2, 3].some((q) => done === Math.ceil((all * q) / 4));
  switch (e.state) {
    case 'receiving': return quarter(e.received, e.chunks) ? style.dim(`-- ${what}: ${e.received} of ${e.chunks} parts --`) : undefined;
    case 'complete': return style.dim(`-- ${what} received whole (${formatSize(e.bytes.length)}, SHA-256 checked); /save ${n ?? 'N'} PATH saves it --`);
    case 'failed': return style.warn(`!! ${what} failed: ${terminalSafe(e.error)}`);
    case 'uploading': return quarter(e.acked, e.chunks) ? style.dim(`-- ${what}: ${e.acked} of ${e.chunks} parts sent --`) : undefined;
    case 'uploaded': return style.dim(`-- ${what} sent (${e.chunks} parts) --`);
  }
}

export function formatUnverifiable(u: UnverifiableMessage, style: Style): string {
  const seq = u.seq !== undefined ? ` #${u.seq}` : '';
  return style.error(`  !! a message could not be verified${seq}: it is not shown (wrong key, or altered on the way)`);
}

/**
 * --json: the fields README "Chat from a terminal" lists, in a fixed order, then those of
 * §2.3.1-2.3.6 the message has (README "--json objects out"); `own` only when own messages are shown.
 */
export function jsonMessage(m: ChatMessage, withOwn: boolean): string {
  return jsonLine(jsonMessageObject(m, withOwn));
}

function jsonMessageObject(m: ChatMessage, withOwn: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = {
    seq: m.seq ?? null, ts: m.ts, id: m.id, name: m.name, fingerprint: m.fingerprint, type: m.type,
    text: m.text ?? null, verified: m.verified, keyChanged: m.keyChanged,
  };
  if (m.snippet !== undefined) o.snippet = m.snippet;
  for (const f of ['reply', 'mentions', 'target', 'emoji', 'file', 'patch'] as const) if (m[f] !== undefined) o[f] = m[f];
  if (m.edited === true) o.edited = true;
  if (m.deleted === true) o.deleted = true;
  if (m.reactions !== undefined && m.reactions.length > 0) o.reactions = m.reactions.map((r) => ({ emoji: r.emoji, fingerprints: r.signers }));
  if (withOwn) o.own = m.own;
  return o;
}

/** --json: a reaction, edit or delete as the message it is, with what it did (`change`, `why`). */
export function jsonEffect(e: EffectEvent, withOwn: boolean): string {
  const o = jsonMessageObject(e.effect, withOwn);
  o.change = e.change;
  if (e.why !== undefined) o.why = e.why;
  return jsonLine(o);
}

/** --json: a file's end (complete, failed, uploaded), as an `"event":"file"` object; undefined for progress. */
export function jsonFileEvent(e: FileEvent): string | undefined {
  switch (e.state) {
    case 'complete':
      return jsonLine({ event: 'file', file: e.file, state: 'complete', name: e.info.name, size: e.info.size, mime: e.info.mime, sha256: e.info.sha256, fingerprint: e.fingerprint });
    case 'failed': return jsonLine({ event: 'file', file: e.file, state: 'failed', reason: e.reason, error: e.error });
    case 'uploaded': return jsonLine({ event: 'file', file: e.file, state: 'uploaded', chunks: e.chunks });
    default: return undefined;
  }
}

export function jsonUnverifiable(u: UnverifiableMessage): string {
  return jsonLine({ seq: u.seq ?? null, id: u.id, error: 'could not be verified' });
}
