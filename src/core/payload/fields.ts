// The fields of the chat payload types of docs/protocol.md §2.3.1-2.3.6 (reply, mentions,
// reaction, edit, delete, file, file-chunk, patch): their shapes, which type takes which field,
// and the rule of each field. src/core/crypto/payload.ts applies these rules when it encodes
// and parses P, beside the rules of the original fields.
import { decodeB64u } from '../crypto/b64u';
import { isB64uForm, isIdForm } from '../wire/validate';
import { isReactionEmoji } from './emoji';
import { fileNameProblem, mimeProblem } from './fileName';
import { patchPathProblem, patchPaths } from './patchPaths';
import { quoteProblem } from './quote';

/** §2.3.1: what a message replies to. */
export interface ReplyRef {
  /** The id of the message replied to. */
  to: string;
  /** The fingerprint of its sender (the replier's claim; checked against the original when loaded). */
  from: string;
  /** A short plain-text excerpt of its text (makeQuote). */
  quote: string;
}

/** §2.3.5: a file message's description of the file its chunks carry. */
export interface FileInfo {
  name: string;
  /** Bytes, 0 to MAX_FILE_BYTES. */
  size: number;
  mime: string;
  /** SHA-256 of the whole file, lower-case hex. */
  sha256: string;
  /** ceil(size / CHUNK_BYTES). */
  chunks: number;
}

/** §2.3.6: a shared `git diff`. */
export interface PatchShare {
  /** The directory the diff's paths are relative to, relative to the workspace folder ("" for itself). */
  root: string;
  /** The commit the diff is against, 40 or 64 lower-case hex digits. */
  base?: string;
  /** The distinct paths the diff touches, in order of first appearance (patchPaths). */
  paths: string[];
  diff: string;
}

/** The fields §2.3.1-2.3.6 add to the payload. */
export interface ChatFields {
  reply?: ReplyRef;
  /** Fingerprints (§2.1 form) of the members the text mentions. */
  mentions?: string[];
  /** The id of the message a reaction, edit, delete or chunk acts on. */
  target?: string;
  emoji?: string;
  file?: FileInfo;
  /** A chunk's position, 0-based. */
  index?: number;
  /** A chunk's bytes, b64u. */
  data?: string;
  patch?: PatchShare;
}

/** §2.3.5: the largest file, 8 MiB. */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;
/** §2.3.5 "Chunk size": the bytes of every chunk but the last (computed there from §1.2 and §2.4). */
export const CHUNK_BYTES = 30_000;
/** §2.3.5: b64u characters of a full chunk. */
export const MAX_CHUNK_DATA_CHARS = Math.ceil((CHUNK_BYTES * 4) / 3);
/** §2.3.5: the most chunks a file has. */
export const MAX_CHUNKS = Math.ceil(MAX_FILE_BYTES / CHUNK_BYTES);
/** §2.3.2: the most fingerprints in `mentions`. */
export const MAX_MENTIONS = 32;
/** §2.3.6: the bound of `patch.diff`, in UTF-8 bytes. */
export const MAX_PATCH_DIFF_BYTES = 32_768;
/** §2.3.6: the most paths a patch touches. */
export const MAX_PATCH_PATHS = 64;

/** §2.3: the types messages are shown as (targets of effects). */
export const CONTENT_TYPES: readonly string[] = ['text', 'snippet', 'file', 'patch'];
/** §2.3: the types that act on another message. */
export const EFFECT_TYPES: readonly string[] = ['reaction', 'edit', 'delete'];

type ChatField = keyof ChatFields;
const FIELD_ORDER: readonly ChatField[] = ['reply', 'mentions', 'target', 'emoji', 'file', 'index', 'data', 'patch'];
/** §2.3: which type takes which of the new fields, and which of them it needs. */
const TAKES: Record<string, { takes: readonly ChatField[]; needs: readonly ChatField[] }> = {
  text: { takes: ['reply', 'mentions'], needs: [] },
  snippet: { takes: ['reply', 'mentions'], needs: [] },
  file: { takes: ['reply', 'mentions', 'file'], needs: ['file'] },
  patch: { takes: ['reply', 'mentions', 'patch'], needs: ['patch'] },
  reaction: { takes: ['target', 'emoji'], needs: ['target', 'emoji'] },
  edit: { takes: ['target', 'mentions'], needs: ['target'] },
  delete: { takes: ['target'], needs: ['target'] },
  'file-chunk': { takes: ['target', 'index', 'data'], needs: ['target', 'index', 'data'] },
};
/** The types of §2.3.1-2.3.6 that take no `text` (a receiver drops one; a sender refuses it). */
const NO_TEXT: readonly string[] = ['reaction', 'delete', 'file-chunk'];

/** §2.1: 8 groups of 4 upper-case hex digits separated by spaces. */
const FINGERPRINT = /^[0-9A-F]{4}(?: [0-9A-F]{4}){7}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const COMMIT_HEX = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** §2.1: a fingerprint as text. */
export function isFingerprintForm(s: unknown): s is string {
  return typeof s === 'string' && FINGERPRINT.test(s);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const isCount = (n: unknown, max: number): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= max;

function replyProblem(r: unknown): string | undefined {
  if (!isObject(r)) return 'reply must be an object';
  if (!isIdForm(r.to)) return 'reply.to must be a message id';
  if (!isFingerprintForm(r.from)) return 'reply.from must be a fingerprint';
  return quoteProblem(r.quote);
}

function mentionsProblem(m: unknown): string | undefined {
  if (!Array.isArray(m)) return 'mentions must be an array';
  if (m.length === 0 || m.length > MAX_MENTIONS) return `mentions must hold 1-${MAX_MENTIONS} fingerprints`;
  if (!m.every(isFingerprintForm)) return 'mentions must hold fingerprints';
  if (new Set(m).size !== m.length) return 'mentions must not repeat a fingerprint';
  return undefined;
}

function fileProblem(f: unknown): string | undefined {
  if (!isObject(f)) return 'file must be an object';
  const name = fileNameProblem(f.name);
  if (name !== undefined) return name;
  if (!isCount(f.size, MAX_FILE_BYTES)) return `file.size must be an integer from 0 to ${MAX_FILE_BYTES}`;
  const mime = mimeProblem(f.mime);
  if (mime !== undefined) return mime;
  if (typeof f.sha256 !== 'string' || !SHA256_HEX.test(f.sha256)) return 'file.sha256 must be 64 lower-case hex digits';
  if (f.chunks !== Math.ceil(f.size / CHUNK_BYTES)) return `file.chunks must be ceil(size / ${CHUNK_BYTES})`;
  return undefined;
}

function chunkDataProblem(d: unknown): string | undefined {
  if (!isB64uForm(d, MAX_CHUNK_DATA_CHARS)) return `data must be base64url of 1-${MAX_CHUNK_DATA_CHARS} characters`;
  try {
    decodeB64u(d);
  } catch {
    return 'data must be canonical base64url';
  }
  return undefined;
}

function patchProblem(p: unknown): string | undefined {
  if (!isObject(p)) return 'patch must be an object';
  const root = patchPathProblem(p.root, true);
  if (root !== undefined) return `patch.root: ${root}`;
  if (p.base !== undefined && (typeof p.base !== 'string' || !COMMIT_HEX.test(p.base))) return 'patch.base must be 40 or 64 lower-case hex digits';
  if (typeof p.diff !== 'string') return 'patch.diff must be a string';
  if (Buffer.byteLength(p.diff, 'utf8') > MAX_PATCH_DIFF_BYTES) return `patch.diff must be at most ${MAX_PATCH_DIFF_BYTES} bytes`;
  const paths: unknown = p.paths;
  if (!Array.isArray(paths) || paths.length === 0 || paths.length > MAX_PATCH_PATHS) return `patch.paths must hold 1-${MAX_PATCH_PATHS} paths`;
  for (const path of paths) {
    const problem = patchPathProblem(path);
    if (problem !== undefined) return `patch.paths: ${problem}`;
  }
  const read = patchPaths(p.diff);
  if (!read.ok) return `patch.diff: ${read.reason}`;
  if (read.paths.length !== paths.length || read.paths.some((x, i) => x !== paths[i])) {
    return 'patch.paths must be exactly the paths the diff touches, in order';
  }
  return undefined;
}

const FIELD_RULES: Record<ChatField, (v: unknown) => string | undefined> = {
  reply: replyProblem,
  mentions: mentionsProblem,
  target: (t) => (isIdForm(t) ? undefined : 'target must be a message id'),
  emoji: (e) => (isReactionEmoji(e) ? undefined : 'emoji must be one emoji of at most 64 bytes'),
  file: fileProblem,
  index: (i) => (isCount(i, MAX_CHUNKS - 1) ? undefined : `index must be an integer from 0 to ${MAX_CHUNKS - 1}`),
  data: chunkDataProblem,
  patch: patchProblem,
};

/**
 * The rules of §2.3.1-2.3.6 for a payload of type `type` whose fields are `p` (read by
 * readChatFields, or given by a sender): what is wrong, or undefined. Types of §2.3 that take
 * none of the new fields (profile, typing, unknown types) pass.
 */
export function chatFieldProblem(type: string, p: ChatFields & { text?: unknown }): string | undefined {
  const rules = Object.prototype.hasOwnProperty.call(TAKES, type) ? TAKES[type] : undefined;
  if (rules === undefined) return undefined;
  for (const field of rules.needs) {
    if (p[field] === undefined) return `a ${type} message needs ${field}`;
  }
  if (type === 'edit' && p.text === undefined) return 'an edit needs text';
  for (const field of rules.takes) {
    if (p[field] === undefined) continue;
    const problem = FIELD_RULES[field](p[field]);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** Senders: a field of §2.3.1-2.3.6 on a type that does not take it, or undefined. */
export function untakenFieldProblem(type: string, p: ChatFields & { text?: unknown; snippet?: unknown }): string | undefined {
  const rules = Object.prototype.hasOwnProperty.call(TAKES, type) ? TAKES[type] : undefined;
  for (const field of FIELD_ORDER) {
    if (p[field] !== undefined && !(rules?.takes.includes(field) ?? false)) return `a ${type} message takes no ${field}`;
  }
  if (rules !== undefined && type !== 'snippet' && p.snippet !== undefined) return `a ${type} message takes no snippet`;
  if (NO_TEXT.includes(type) && p.text !== undefined) return `a ${type} message takes no text`;
  return undefined;
}

/** Whether a receiver keeps `text` (and `snippet`) on a payload of this type (§2.3: not on the types that take none). */
export function typeTakesText(type: string): boolean {
  return !NO_TEXT.includes(type);
}

/**
 * Receivers: the fields of §2.3.1-2.3.6 that `type` takes, copied from a parsed JSON object into
 * fresh objects holding only the known keys (nothing else a sender adds travels further). The
 * values are not checked here: chatFieldProblem does that.
 */
export function readChatFields(type: string, v: Record<string, unknown>): ChatFields {
  const rules = Object.prototype.hasOwnProperty.call(TAKES, type) ? TAKES[type] : undefined;
  const out: ChatFields = {};
  if (rules === undefined) return out;
  const copy = (x: unknown, keys: readonly string[]): unknown => {
    if (!isObject(x)) return x;
    const o: Record<string, unknown> = {};
    for (const k of keys) if (x[k] !== undefined) o[k] = Array.isArray(x[k]) ? [...(x[k] as unknown[])] : x[k];
    return o;
  };
  for (const field of rules.takes) {
    const x = v[field];
    if (x === undefined) continue;
    const value = field === 'reply' ? copy(x, ['to', 'from', 'quote'])
      : field === 'file' ? copy(x, ['name', 'size', 'mime', 'sha256', 'chunks'])
        : field === 'patch' ? copy(x, ['root', 'base', 'paths', 'diff'])
          : Array.isArray(x) ? [...(x as unknown[])] : x;
    (out as Record<string, unknown>)[field] = value;
  }
  return out;
}

/** The fields of §2.3.1-2.3.6 in encoding order (§2.3 "Exact encoding"), nested fields ordered too. */
export function encodeChatFields(p: ChatFields, out: Record<string, unknown>): void {
  for (const field of FIELD_ORDER) {
    const x = p[field];
    if (x === undefined) continue;
    if (field === 'reply') {
      const r = x as ReplyRef;
      out.reply = { to: r.to, from: r.from, quote: r.quote };
    } else if (field === 'file') {
      const f = x as FileInfo;
      out.file = { name: f.name, size: f.size, mime: f.mime, sha256: f.sha256, chunks: f.chunks };
    } else if (field === 'patch') {
      const d = x as PatchShare;
      out.patch = d.base === undefined
        ? { root: d.root, paths: d.paths, diff: d.diff }
        : { root: d.root, base: d.base, paths: d.paths, diff: d.diff };
    } else {
      out[field] = x;
    }
  }
}
