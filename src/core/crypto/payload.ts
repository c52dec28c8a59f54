// The signed payload of docs/protocol.md §2.3: its types, its field rules, and its exact encoding.
// Senders get a PayloadError whose message a UI can show as it is; receivers get a precise
// reason for their debug log (the UI only says "could not be verified"). The fields of the chat
// types (§2.3.1-2.3.6) have their rules in src/core/payload/fields.ts, applied here.
import {
  ChatFields, chatFieldProblem, encodeChatFields, readChatFields, typeTakesText, untakenFieldProblem,
} from '../payload/fields';
import { isSendableEmoji } from '../payload/emoji';

export type PayloadType =
  | 'text' | 'snippet' | 'profile' | 'typing'
  | 'reaction' | 'edit' | 'delete' | 'file' | 'file-chunk' | 'patch';

export interface Snippet {
  /** Language id, e.g. "typescript". */
  lang: string;
  /** Workspace-relative path. */
  path: string;
  /** 1-based first line. */
  start: number;
  /** 1-based last line, >= start. */
  end: number;
  code: string;
}

export interface Payload extends ChatFields {
  /** Equals the wire id (for presence: "presence"). */
  id: string;
  /** The sender's clock, Unix milliseconds. */
  ts: number;
  /** Display name, 1-64 characters: a claim, not an identity. */
  name: string;
  /** One of PayloadType, or a type from a newer client (shown as unsupported). */
  type: string;
  /** For text: Markdown. For snippet: an optional caption. */
  text?: string;
  snippet?: Snippet;
}

/** §2.3: the whole of P, so that every envelope fits a default frame. */
export const MAX_PAYLOAD_BYTES = 40_960;
/** §2.3: the `text` field, in UTF-8 bytes. */
export const MAX_TEXT_BYTES = 16_384;
/** §2.3: the `name` field, in characters (Unicode code points). */
export const MAX_NAME_CHARS = 64;

/** PayloadError's codes, named as the ClientError codes a client turns them into. */
export type PayloadErrorCode = 'invalid_message' | 'message_too_large';

/** A payload the sender must not send; the message is meant for the user. */
export class PayloadError extends Error {
  constructor(message: string, readonly code: PayloadErrorCode = 'invalid_message') {
    super(message);
    this.name = 'PayloadError';
  }
}

/** A payload over a size limit; the message says by how much, and for a snippet how many lines fit. */
export class PayloadTooLargeError extends PayloadError {
  constructor(message: string, readonly bytes: number, readonly limit: number, readonly linesThatFit?: number) {
    super(message, 'message_too_large');
    this.name = 'PayloadTooLargeError';
  }
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const num = (n: number): string => n.toLocaleString('en-US');

function charCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** §2.3: a `name` is 1 to MAX_NAME_CHARS code points; the length rule of senders and receivers alike. */
export function hasNameLength(name: string): boolean {
  const chars = charCount(name);
  return chars >= 1 && chars <= MAX_NAME_CHARS;
}

/** The field rules of §2.3; returns what is wrong, or undefined. Shared by sender and receiver. */
function fieldProblem(p: Payload): string | undefined {
  if (typeof p.id !== 'string' || p.id.length === 0) return 'id must be a non-empty string';
  if (typeof p.ts !== 'number' || !Number.isSafeInteger(p.ts) || p.ts < 0) return 'ts must be a non-negative integer';
  if (typeof p.name !== 'string') return 'name must be a string';
  if (!hasNameLength(p.name)) return `name must be 1-${MAX_NAME_CHARS} characters`;
  if (typeof p.type !== 'string' || p.type.length === 0) return 'type must be a non-empty string';
  if (p.text !== undefined) {
    if (typeof p.text !== 'string') return 'text must be a string';
  }
  if (p.type === 'text' && p.text === undefined) return 'a text message needs text';
  if (p.snippet !== undefined) {
    const s = p.snippet;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return 'snippet must be an object';
    if (typeof s.lang !== 'string') return 'snippet.lang must be a string';
    if (typeof s.path !== 'string') return 'snippet.path must be a string';
    if (typeof s.code !== 'string') return 'snippet.code must be a string';
    if (typeof s.start !== 'number' || !Number.isSafeInteger(s.start) || s.start < 1) return 'snippet.start must be an integer >= 1';
    if (typeof s.end !== 'number' || !Number.isSafeInteger(s.end) || s.end < s.start) return 'snippet.end must be an integer >= snippet.start';
  }
  if (p.type === 'snippet' && p.snippet === undefined) return 'a snippet message needs a snippet';
  return chatFieldProblem(p.type, p);
}

/**
 * The exact bytes P: JSON with the fields in the order of §2.3 (id, ts, name, type, text,
 * snippet{lang, path, start, end, code}, then the fields of §2.3.1-2.3.6 in their order);
 * fields not in §2.3 are not sent. No size check.
 */
function serialize(p: Payload): Buffer {
  const out: Record<string, unknown> = { id: p.id, ts: p.ts, name: p.name, type: p.type };
  if (p.text !== undefined) out.text = p.text;
  if (p.snippet !== undefined) {
    const s = p.snippet;
    out.snippet = { lang: s.lang, path: s.path, start: s.start, end: s.end, code: s.code };
  }
  encodeChatFields(p, out);
  return Buffer.from(JSON.stringify(out), 'utf8');
}

/** The largest number of leading lines of a snippet's code whose payload still fits. */
function snippetLinesThatFit(p: Payload & { snippet: Snippet }): number {
  const lines = p.snippet.code.split('\n');
  const fits = (k: number): boolean => {
    const code = lines.slice(0, k).join('\n');
    const s = { ...p.snippet, code, end: p.snippet.start + Math.max(k, 1) - 1 };
    return serialize({ ...p, snippet: s }).length <= MAX_PAYLOAD_BYTES;
  };
  let lo = 0;
  let hi = lines.length;
  // Binary search for the largest k that fits: lo is 0 or fits, nothing above hi fits.
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The rules only senders apply (§2.3: no field on a type that does not take it; §2.3.3: an RGI emoji). */
function senderProblem(p: Payload): string | undefined {
  const untaken = untakenFieldProblem(p.type, p);
  if (untaken !== undefined) return untaken;
  if (p.type === 'reaction' && !isSendableEmoji(p.emoji)) return 'a reaction must be one emoji (RGI_Emoji)';
  return undefined;
}

/**
 * Checks a payload against §2.3 and returns its bytes P. Throws PayloadError (or
 * PayloadTooLargeError) with a message the user can read.
 */
export function encodePayload(p: Payload): Buffer {
  const problem = fieldProblem(p) ?? senderProblem(p);
  if (problem !== undefined) throw new PayloadError(`This message cannot be sent: ${problem}.`);
  if (p.text !== undefined) {
    const textBytes = Buffer.byteLength(p.text, 'utf8');
    if (textBytes > MAX_TEXT_BYTES) {
      const what = p.type === 'snippet' ? 'The caption' : 'This message';
      throw new PayloadTooLargeError(
        `${what} is too long: ${num(textBytes)} bytes, and at most ${num(MAX_TEXT_BYTES)} bytes of UTF-8 text can be sent. ` +
          `Shorten it by ${num(textBytes - MAX_TEXT_BYTES)} bytes or split it into several messages.`,
        textBytes, MAX_TEXT_BYTES);
    }
  }
  const bytes = serialize(p);
  if (bytes.length > MAX_PAYLOAD_BYTES) {
    if (p.snippet !== undefined) {
      const total = p.snippet.code.split('\n').length;
      const fit = snippetLinesThatFit(p as Payload & { snippet: Snippet });
      const advice = fit === 0
        ? 'Not even its first line fits; shorten the caption or share a smaller part.'
        : `Only the first ${num(fit)} of its ${num(total)} lines fit; select fewer lines and share again.`;
      throw new PayloadTooLargeError(
        `This snippet is too large to send: ${num(bytes.length)} bytes encoded, and a message can be at most ${num(MAX_PAYLOAD_BYTES)}. ${advice}`,
        bytes.length, MAX_PAYLOAD_BYTES, fit);
    }
    throw new PayloadTooLargeError(
      `This message is too large to send: ${num(bytes.length)} bytes encoded, and a message can be at most ${num(MAX_PAYLOAD_BYTES)}. ` +
        'Shorten it or split it into several messages.',
      bytes.length, MAX_PAYLOAD_BYTES);
  }
  return bytes;
}

export type ParsedPayload = { ok: true; payload: Payload } | { ok: false; reason: string };

/**
 * Parses received bytes P (§2.4 step 4, minus the id comparison): strict UTF-8, a JSON object,
 * the field rules of §2.3. Returns a fresh object holding only the §2.3 fields, so nothing a
 * hostile sender adds (extra fields, "__proto__") travels further. Never throws.
 */
export function parsePayload(bytes: Uint8Array): ParsedPayload {
  if (bytes.length > MAX_PAYLOAD_BYTES) return { ok: false, reason: 'payload over 40960 bytes' };
  let value: unknown;
  try {
    value = JSON.parse(utf8Strict.decode(bytes));
  } catch {
    return { ok: false, reason: 'payload is not UTF-8 JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'payload is not a JSON object' };
  const v = value as Record<string, unknown>;
  const s = v.snippet as Record<string, unknown> | undefined | null;
  const payload: Payload = { id: v.id as string, ts: v.ts as number, name: v.name as string, type: v.type as string };
  if (v.text !== undefined) payload.text = v.text as string;
  if (v.snippet !== undefined) {
    // The same words as the field rule gives, without building a Snippet out of a non-object.
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return { ok: false, reason: 'snippet must be an object' };
    payload.snippet = { lang: s.lang as string, path: s.path as string, start: s.start as number, end: s.end as number, code: s.code as string };
  }
  // §2.3: the types of §2.3.1-2.3.6 that take no text keep none; the others their own fields.
  if (!typeTakesText(payload.type)) {
    delete payload.text;
    delete payload.snippet;
  }
  Object.assign(payload, readChatFields(payload.type, v));
  const problem = fieldProblem(payload);
  if (problem !== undefined) return { ok: false, reason: `payload ${problem}` };
  if (payload.text !== undefined && Buffer.byteLength(payload.text, 'utf8') > MAX_TEXT_BYTES) {
    return { ok: false, reason: 'payload text over 16384 bytes' };
  }
  return { ok: true, payload };
}
