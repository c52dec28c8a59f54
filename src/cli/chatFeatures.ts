// The chat features of `smc chat` (README "Replies, reactions, edits, files"; docs/protocol.md
// §2.3.1-2.3.5), shared by link rooms and private rooms, interactive and --json: numbers for the
// messages on screen, the commands and JSON objects that act on them, files read from and saved
// to the paths the user gives (never under a name someone else chose), and the received files
// kept until saved, bounded.
import { lstat, open, readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { ClientError, type RelayClient } from '../core/client/index';
import type { ChatMessage, FileEvent, FileInfo, MessageView, OutgoingContent, OutgoingFileContent, ReplyRef } from '../core/client/index';
import { MAX_FILE_BYTES, isFingerprintForm, mimeForFileName, sendableFileName } from '../core/payload/index';
import { isIdForm } from '../core/wire/validate';

/** What the features act through: a link room's RelayClient or a private room, the same way. */
export interface FeatureRoom {
  sendText(text: string): ChatMessage;
  sendPayload(content: OutgoingContent): ChatMessage;
  sendFile(file: OutgoingFileContent): { message: ChatMessage; chunks: number; done: Promise<void> };
  replyTo(id: string): ReplyRef | undefined;
  view(id: string): MessageView | undefined;
}

/** A link room of `client` as a FeatureRoom. */
export function linkFeatureRoom(client: RelayClient, room: string): FeatureRoom {
  return {
    sendText: (text) => client.sendText(room, text).message,
    sendPayload: (content) => client.sendPayload(room, content).message,
    sendFile: (file) => {
      const out = client.sendFile(room, file);
      return { message: out.message, chunks: out.chunks, done: out.done };
    },
    replyTo: (id) => client.replyTo(room, id),
    view: (id) => client.view(room, id),
  };
}

/** Numbers for the messages shown, so that `/reply N` can name one (the newest MAX_NUMBERED). */
export const MAX_NUMBERED = 10_000;

export class MessageNumbers {
  private readonly byId = new Map<string, number>();
  private readonly byNumber = new Map<number, string>();
  private next = 1;

  /** The number of a message, given on first sight. */
  number(id: string): number {
    const known = this.byId.get(id);
    if (known !== undefined) return known;
    const n = this.next++;
    this.byId.set(id, n);
    this.byNumber.set(n, id);
    if (this.byNumber.size > MAX_NUMBERED) {
      const oldest = n - MAX_NUMBERED;
      const gone = this.byNumber.get(oldest);
      this.byNumber.delete(oldest);
      if (gone !== undefined) this.byId.delete(gone);
    }
    return n;
  }

  of(id: string): number | undefined {
    return this.byId.get(id);
  }

  /**
   * A message goes on under a new id (docs/protocol.md §3.3, a private room's stale message
   * sent again): it keeps its number, so that `/reply N` or `/edit N` names the new id.
   */
  rename(from: string, to: string): void {
    const n = this.byId.get(from);
    if (n === undefined || this.byId.has(to)) return;
    this.byId.delete(from);
    this.byId.set(to, n);
    this.byNumber.set(n, to);
  }

  id(n: number): string | undefined {
    return this.byNumber.get(n);
  }
}

/** Received files' bytes, kept for /save (the newest first), at most this much in all. */
export const MAX_KEPT_FILE_BYTES = 64 * 1024 * 1024;

export class ReceivedFiles {
  private readonly files = new Map<string, { info: FileInfo; bytes: Uint8Array }>();
  private held = 0;

  /** A verified complete file (§2.3.5); the oldest kept ones go when over the bound. */
  keep(e: Extract<FileEvent, { state: 'complete' }>): void {
    this.files.set(e.file, { info: e.info, bytes: e.bytes });
    this.held += e.bytes.length;
    for (const [id, f] of this.files) {
      if (this.held <= MAX_KEPT_FILE_BYTES || id === e.file) break;
      this.files.delete(id);
      this.held -= f.bytes.length;
    }
  }

  get(id: string): { info: FileInfo; bytes: Uint8Array } | undefined {
    return this.files.get(id);
  }

  /** §2.3 "Order": a deleted file's bytes go too. */
  forget(id: string): void {
    const f = this.files.get(id);
    if (f === undefined) return;
    this.files.delete(id);
    this.held -= f.bytes.length;
  }
}

/** A problem the user can fix: the message says how. */
export class FeatureError extends Error {
  override readonly name = 'FeatureError';
}

const errno = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));

/**
 * §2.3.5 "Sending": the file at `path`, read whole once it is known to be at most 8 MiB; its
 * name as the others see it is its base name made sendable, its media type from the extension.
 */
export async function readFileToSend(path: string, caption?: string): Promise<OutgoingFileContent> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new FeatureError(`${path} is not a file`);
    size = st.size;
  } catch (err) {
    if (err instanceof FeatureError) throw err;
    throw new FeatureError(`cannot read ${path} (${errno(err)})`);
  }
  if (size > MAX_FILE_BYTES) throw new FeatureError(`${path} is ${size} bytes; a file can be at most ${MAX_FILE_BYTES} bytes (8 MiB)`);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new FeatureError(`cannot read ${path} (${errno(err)})`);
  }
  if (bytes.length > MAX_FILE_BYTES) throw new FeatureError(`${path} grew past 8 MiB while it was read`);
  const name = sendableFileName(basename(path));
  return { name, mime: mimeForFileName(name), bytes, ...(caption !== undefined && caption !== '' ? { text: caption } : {}) };
}

/**
 * §2.3.5 "Saving": writes a received file to the path the user typed, and only there: never
 * over an existing file or through a symbolic link (created exclusively), never into a folder
 * under the name the sender chose.
 */
export async function saveReceivedFile(bytes: Uint8Array, path: string): Promise<void> {
  if (path === '') throw new FeatureError('say where to save it: a path');
  try {
    const st = await lstat(path);
    throw new FeatureError(st.isDirectory()
      ? `${path} is a folder: give the file's full path (the sender's name for it is only a suggestion)`
      : `${path} exists; choose another path (nothing is overwritten)`);
  } catch (err) {
    if (err instanceof FeatureError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new FeatureError(`cannot save to ${path} (${errno(err)})`);
  }
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    throw new FeatureError(`cannot save to ${path} (${errno(err)})`);
  }
  try {
    await handle.writeFile(bytes);
  } finally {
    await handle.close();
  }
}

/** What a line of input asks for (a `/command` interactively, a JSON object with --json). */
export type FeatureInput =
  | { kind: 'reply'; to: string; text: string }
  | { kind: 'reaction'; target: string; emoji: string }
  | { kind: 'edit'; target: string; text: string }
  | { kind: 'delete'; target: string }
  | { kind: 'file'; path: string; text?: string }
  | { kind: 'save'; file: string; path: string }
  | { kind: 'text'; text: string; mentions?: string[] };

/** The interactive commands of the features, by name (README "Replies, reactions, edits, files"). */
export const FEATURE_COMMANDS = ['/reply', '/react', '/edit', '/delete', '/send-file', '/save'] as const;

export const FEATURE_HELP = [
  '  /reply N TEXT      reply to message [N] (quoting it)',
  '  /react N EMOJI     react to [N] with one emoji; the same again removes it',
  '  /edit N TEXT       replace the text of your message [N]',
  '  /delete N          delete your message [N] (the relay keeps its ciphertext until retention drops it)',
  '  /send-file PATH [CAPTION]  send a file (at most 8 MiB); a path with spaces in "quotes"',
  '  /save N PATH       save the file of message [N] to PATH (a new file; nothing is overwritten)',
];

/** A command's first argument, and the rest: `"a path"` in double quotes may hold spaces. */
function splitFirst(arg: string): [string, string] {
  const s = arg.trimStart();
  if (s.startsWith('"')) {
    const end = s.indexOf('"', 1);
    if (end > 0) return [s.slice(1, end), s.slice(end + 1).trim()];
  }
  const m = /^(\S*)\s*([\s\S]*)$/.exec(s)!;
  return [m[1]!, m[2]!];
}

/**
 * An interactive feature command (`/reply 3 ok`): what it asks, with N resolved to a message id
 * through `numbers`; undefined when `cmd` is not one of them.
 */
export function parseFeatureCommand(cmd: string, arg: string, numbers: MessageNumbers): FeatureInput | undefined {
  if (!(FEATURE_COMMANDS as readonly string[]).includes(cmd)) return undefined;
  if (cmd === '/send-file') {
    const [path, caption] = splitFirst(arg);
    if (path === '') throw new FeatureError('usage: /send-file PATH [CAPTION]');
    return { kind: 'file', path, ...(caption !== '' ? { text: caption } : {}) };
  }
  const [first, rest] = splitFirst(arg);
  const usage = { '/reply': 'N TEXT', '/react': 'N EMOJI', '/edit': 'N TEXT', '/delete': 'N', '/save': 'N PATH' }[cmd as '/reply'];
  if (!/^\d{1,9}$/.test(first)) throw new FeatureError(`usage: ${cmd} ${usage} (N is the number in [brackets] before a message)`);
  const id = numbers.id(Number(first));
  if (id === undefined) throw new FeatureError(`there is no message [${first}] on screen`);
  switch (cmd) {
    case '/reply':
      if (rest === '') throw new FeatureError(`usage: /reply ${usage}`);
      return { kind: 'reply', to: id, text: rest };
    case '/react':
      if (rest === '') throw new FeatureError(`usage: /react ${usage}`);
      return { kind: 'reaction', target: id, emoji: rest.trim() };
    case '/edit':
      return { kind: 'edit', target: id, text: rest };
    case '/delete':
      if (rest !== '') throw new FeatureError(`usage: /delete ${usage}`);
      return { kind: 'delete', target: id };
    default: {
      const [path] = splitFirst(rest);
      if (path === '') throw new FeatureError(`usage: /save ${usage}`);
      return { kind: 'save', file: id, path };
    }
  }
}

const str = (v: unknown): v is string => typeof v === 'string';

/**
 * A line of --json input (README "--json objects in"): a JSON object with a string `type` is
 * one of the objects below; anything else (undefined) is sent as a text message, as always.
 */
export function parseJsonInput(line: string): FeatureInput | undefined {
  if (!line.startsWith('{')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (!str(o.type)) return undefined;
  const id = (field: string): string => {
    const x = o[field];
    if (!isIdForm(x)) throw new FeatureError(`"${field}" must be a message id (22 characters of A-Z a-z 0-9 _ -)`);
    return x;
  };
  const text = (required: boolean): string | undefined => {
    if (o.text === undefined && !required) return undefined;
    if (!str(o.text)) throw new FeatureError('"text" must be a string');
    return o.text;
  };
  switch (o.type) {
    case 'text': {
      const t = text(true)!;
      if (o.mentions === undefined) return { kind: 'text', text: t };
      if (!Array.isArray(o.mentions) || !o.mentions.every(isFingerprintForm)) throw new FeatureError('"mentions" must be an array of fingerprints');
      return { kind: 'text', text: t, mentions: o.mentions };
    }
    case 'reply': return { kind: 'reply', to: id('to'), text: text(true)! };
    case 'reaction': case 'react':
      if (!str(o.emoji)) throw new FeatureError('"emoji" must be a string');
      return { kind: 'reaction', target: id('target'), emoji: o.emoji };
    case 'edit': return { kind: 'edit', target: id('target'), text: text(true)! };
    case 'delete': return { kind: 'delete', target: id('target') };
    case 'file': {
      if (!str(o.path) || o.path === '') throw new FeatureError('"path" must be the path of the file to send');
      const caption = text(false);
      return { kind: 'file', path: o.path, ...(caption !== undefined ? { text: caption } : {}) };
    }
    case 'save':
      if (!str(o.path) || o.path === '') throw new FeatureError('"path" must be where to save the file');
      return { kind: 'save', file: id('file'), path: o.path };
    default:
      throw new FeatureError(`unknown "type" ${JSON.stringify(o.type.slice(0, 32))}: text, reply, reaction, edit, delete, file or save`);
  }
}

/** What sending an input gave: the message sent, and for a file its parts' fate. */
export interface Sent {
  message: ChatMessage;
  file?: { chunks: number; done: Promise<void> };
}

/**
 * Sends what `input` asks for (not `save`: see saveReceivedFile). ClientError and FeatureError
 * say what is wrong; nothing is sent then.
 */
export async function sendInput(room: FeatureRoom, input: Exclude<FeatureInput, { kind: 'save' }>): Promise<Sent> {
  switch (input.kind) {
    case 'text':
      return { message: input.mentions === undefined ? room.sendText(input.text) : room.sendPayload({ type: 'text', text: input.text, mentions: input.mentions }) };
    case 'reply': {
      const reply = room.replyTo(input.to);
      if (reply === undefined) throw new FeatureError('the message to reply to is not loaded here (or was deleted)');
      return { message: room.sendPayload({ type: 'text', text: input.text, reply }) };
    }
    case 'reaction': return { message: room.sendPayload({ type: 'reaction', target: input.target, emoji: input.emoji }) };
    case 'edit': return { message: room.sendPayload({ type: 'edit', target: input.target, text: input.text }) };
    case 'delete': return { message: room.sendPayload({ type: 'delete', target: input.target }) };
    case 'file': {
      const file = await readFileToSend(input.path, input.text);
      const out = room.sendFile(file);
      return { message: out.message, file: { chunks: out.chunks, done: out.done } };
    }
  }
}

/** The text of an error of a feature, for the user. */
export function featureErrorText(err: unknown): string | undefined {
  if (err instanceof FeatureError || err instanceof ClientError) return err.message;
  return undefined;
}
