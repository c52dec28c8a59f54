// Runtime validation of everything the webview posts to the host. The webview renders
// network-supplied strings, so the host treats it as less trusted than itself: a frame that
// is not exactly one of WebviewRequests, with fields of the right type and size, is dropped.
import {
  PANEL_COMMANDS,
  WEBVIEW_LIMITS,
  type PanelCommand,
  type RequestName,
  type WebviewToHost,
} from './messages';

export type Validated = { ok: true; frame: WebviewToHost } | { ok: false; error: string; id?: number };

type PayloadCheck = (p: Record<string, unknown>) => string | undefined;

const KEY_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** §2.1: 8 groups of 4 uppercase hex digits separated by spaces. */
const FINGERPRINT_PATTERN = /^[0-9A-F]{4}( [0-9A-F]{4}){7}$/;

function onlyFields(p: Record<string, unknown>, allowed: readonly string[]): string | undefined {
  // The field's name is not echoed: it is the webview's choice, and errors end up in a log.
  for (const k of Object.keys(p)) if (!allowed.includes(k)) return 'unexpected field';
  return undefined;
}

function utf8Length(s: string): number {
  // TextEncoder exists in Node and in browsers; no Node built-in needed.
  return new TextEncoder().encode(s).length;
}

function key(p: Record<string, unknown>, field: string): string | undefined {
  const v = p[field];
  if (typeof v !== 'string' || !KEY_PATTERN.test(v)) return `"${field}" must be a message key`;
  return undefined;
}

function fingerprintField(p: Record<string, unknown>): string | undefined {
  return typeof p.fingerprint === 'string' && FINGERPRINT_PATTERN.test(p.fingerprint) ? undefined : '"fingerprint" must be a fingerprint';
}

const checks: { [N in RequestName]: PayloadCheck } = {
  ready: (p) => onlyFields(p, []),
  typing: (p) => onlyFields(p, []),
  send: (p) => {
    const extra = onlyFields(p, ['text', 'replyTo', 'mentions']);
    if (extra) return extra;
    if (typeof p.text !== 'string') return '"text" must be a string';
    if (p.text.trim().length === 0) return '"text" is empty';
    if (utf8Length(p.text) > WEBVIEW_LIMITS.maxTextBytes) return '"text" is longer than 16 KiB';
    if (p.replyTo !== undefined && key(p, 'replyTo')) return key(p, 'replyTo');
    if (p.mentions !== undefined) {
      // §2.3.2: 1-32 fingerprints.
      if (!Array.isArray(p.mentions) || p.mentions.length > 32 || !p.mentions.every((f) => typeof f === 'string' && FINGERPRINT_PATTERN.test(f))) {
        return '"mentions" must be at most 32 fingerprints';
      }
    }
    return undefined;
  },
  // ---- chat features (docs/protocol.md §2.3.1-2.3.6) ----
  react: (p) => {
    const bad = onlyFields(p, ['key', 'emoji']) ?? key(p, 'key');
    if (bad) return bad;
    // §2.3.3: one emoji of at most 64 bytes; the host checks RGI_Emoji when it sends.
    return typeof p.emoji === 'string' && p.emoji.length > 0 && utf8Length(p.emoji) <= 64 ? undefined : '"emoji" must be one emoji';
  },
  edit: (p) => {
    const bad = onlyFields(p, ['key', 'text']) ?? key(p, 'key');
    if (bad) return bad;
    if (typeof p.text !== 'string') return '"text" must be a string';
    if (utf8Length(p.text) > WEBVIEW_LIMITS.maxTextBytes) return '"text" is longer than 16 KiB';
    return undefined;
  },
  deleteMessage: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  mentionCandidates: (p) => {
    const bad = onlyFields(p, ['prefix']);
    if (bad) return bad;
    return typeof p.prefix === 'string' && [...p.prefix].length <= WEBVIEW_LIMITS.maxNameChars ? undefined : '"prefix" must be at most 64 characters';
  },
  search: (p) => {
    const bad = onlyFields(p, ['query']);
    if (bad) return bad;
    return typeof p.query === 'string' && p.query.length <= WEBVIEW_LIMITS.maxQueryChars ? undefined : `"query" must be at most ${WEBVIEW_LIMITS.maxQueryChars} characters`;
  },
  loadAround: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  sendFileBytes: (p) => {
    const bad = onlyFields(p, ['name', 'mime', 'data']);
    if (bad) return bad;
    if (typeof p.name !== 'string' || p.name.length === 0 || utf8Length(p.name) > 255) return '"name" must be 1 to 255 bytes';
    if (typeof p.mime !== 'string' || p.mime.length > 127) return '"mime" must be at most 127 characters';
    const maxChars = Math.ceil(WEBVIEW_LIMITS.maxFileBytes / 3) * 4;
    if (typeof p.data !== 'string' || p.data.length > maxChars || !/^[A-Za-z0-9+/]*={0,2}$/.test(p.data)) return '"data" must be base64 of at most 8 MiB';
    return undefined;
  },
  pickFile: (p) => onlyFields(p, []),
  saveFile: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  imageBytes: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  previewPatch: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  applyPatch: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  openRef: (p) => {
    const bad = onlyFields(p, ['path', 'line']);
    if (bad) return bad;
    if (typeof p.path !== 'string' || p.path.length === 0 || p.path.length > 1024) return '"path" must be 1 to 1024 characters';
    return Number.isSafeInteger(p.line) && (p.line as number) >= 1 ? undefined : '"line" must be a positive integer';
  },
  setMuted: (p) => onlyFields(p, ['muted']) ?? (typeof p.muted === 'boolean' ? undefined : '"muted" must be a boolean'),
  retry: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  openSnippet: (p) => onlyFields(p, ['key']) ?? key(p, 'key'),
  loadOlder: (p) => onlyFields(p, ['before']) ?? key(p, 'before'),
  loadNewer: (p) => onlyFields(p, ['after']) ?? key(p, 'after'),
  loadNewest: (p) => onlyFields(p, []),
  loadRange: (p) => {
    const bad = onlyFields(p, ['from', 'count']) ?? key(p, 'from');
    if (bad) return bad;
    return Number.isSafeInteger(p.count) && (p.count as number) >= 1 && (p.count as number) <= WEBVIEW_LIMITS.windowSize
      ? undefined
      : `"count" must be an integer from 1 to ${WEBVIEW_LIMITS.windowSize}`;
  },
  openLink: (p) => {
    const extra = onlyFields(p, ['href']);
    if (extra) return extra;
    if (typeof p.href !== 'string' || p.href.length === 0 || p.href.length > WEBVIEW_LIMITS.maxHrefChars) {
      return '"href" must be a non-empty string of at most 2048 characters';
    }
    if (!isSafeHref(p.href)) return '"href" must be an http, https or mailto link';
    return undefined;
  },
  markRead: (p) => {
    const extra = onlyFields(p, ['seq']);
    if (extra) return extra;
    return Number.isSafeInteger(p.seq) && (p.seq as number) >= 0 ? undefined : '"seq" must be a non-negative integer';
  },
  verifyMember: (p) => {
    const extra = onlyFields(p, ['name', 'fingerprint']);
    if (extra) return extra;
    if (typeof p.name !== 'string' || p.name.length === 0 || [...p.name].length > WEBVIEW_LIMITS.maxNameChars) {
      return '"name" must be 1 to 64 characters';
    }
    if (typeof p.fingerprint !== 'string' || !FINGERPRINT_PATTERN.test(p.fingerprint)) {
      return '"fingerprint" must be a full fingerprint';
    }
    return undefined;
  },
  // ---- private rooms (PrivateRequests): the host checks roles itself, this only the shape.
  roomKind: (p) => onlyFields(p, []),
  privateInvite: (p) => onlyFields(p, []),
  privateRemove: (p) => onlyFields(p, ['fingerprint']) ?? fingerprintField(p),
  privatePromote: (p) => onlyFields(p, ['fingerprint']) ?? fingerprintField(p),
  privateForget: (p) => onlyFields(p, []),
  runCommand: (p) => {
    const extra = onlyFields(p, ['command']);
    if (extra) return extra;
    return PANEL_COMMANDS.includes(p.command as PanelCommand) ? undefined : '"command" is not one the panel may run';
  },
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Links the host may open after asking: http(s) and mailto only, no credentials in the URL. */
export function isSafeHref(href: string): boolean {
  let url: URL;
  try {
    url = new URL(href);
  } catch {
    return false;
  }
  if (url.protocol === 'mailto:') return true;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return url.username === '' && url.password === '' && url.hostname !== '';
}

/** Validates one frame from the webview; the result's error never echoes the payload. */
export function validateWebviewMessage(raw: unknown): Validated {
  if (!isPlainObject(raw)) return { ok: false, error: 'not an object' };
  const extra = onlyFields(raw, ['kind', 'id', 'name', 'payload']);
  if (extra) return { ok: false, error: extra };
  if (raw.kind !== 'request') return { ok: false, error: '"kind" must be "request"' };
  if (!Number.isSafeInteger(raw.id) || (raw.id as number) < 0) return { ok: false, error: '"id" must be a non-negative integer' };
  const id = raw.id as number;
  const name = raw.name;
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(checks, name)) {
    return { ok: false, error: 'unknown request', id };
  }
  const payload = raw.payload;
  if (!isPlainObject(payload)) return { ok: false, error: '"payload" must be an object', id };
  const problem = checks[name as RequestName](payload);
  if (problem) return { ok: false, error: `${name}: ${problem}`, id };
  return { ok: true, frame: raw as unknown as WebviewToHost };
}
