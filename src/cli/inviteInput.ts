// Reading an invite (docs/protocol.md §2.7) from standard input or a file, never from the command
// line (docs/security.md "Secrets on the command line"): a process's arguments are readable by every local user
// (/proc/PID/cmdline, ps) and stay in shell history, and an invite carries the room key. On a
// terminal the pasted invite is not echoed (it would stay in the scrollback and on screen).
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { InviteError, parseInvite, type Invite } from '../core/crypto/index';
import { isPrivateInvite, parsePrivateInvite, type PrivateInvite } from '../core/private/index';
import { usageError } from './homeStores';

/**
 * More than any invite needs: the longest is smcs:// with a 253-character host, a 64-hex-digit
 * fingerprint and a 256-character name, every UTF-8 byte of it percent-encoded (about 3.5 KiB).
 * Bounds what a wrong file (a log, a disk image) costs before it is refused.
 */
export const MAX_INVITE_INPUT_BYTES = 16 * 1024;

/** Where the invite came from, for error messages. */
type Source = { kind: 'stdin' } | { kind: 'file'; path: string };

function where(source: Source): string {
  return source.kind === 'stdin' ? 'standard input' : `the file ${source.path}`;
}

/** Reads a stream to its end, refusing more than MAX_INVITE_INPUT_BYTES. */
async function readCapped(stream: NodeJS.ReadableStream, source: Source): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > MAX_INVITE_INPUT_BYTES) {
      throw usageError(`${where(source)} holds more than ${MAX_INVITE_INPUT_BYTES} bytes: that is not an invite`);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One line from a terminal, not echoed; '' if the user ends input (Ctrl-D). */
function readHiddenLine(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const silent = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal: true });
  return new Promise<string>((resolve, reject) => {
    let answered = false;
    rl.once('line', (line) => {
      answered = true;
      rl.close();
      resolve(line);
    });
    rl.once('SIGINT', () => {
      answered = true;
      rl.close();
      reject(usageError('cancelled; nothing was stored'));
    });
    rl.once('close', () => {
      process.stderr.write('\n');
      if (!answered) resolve('');
    });
  });
}

async function readText(source: Source): Promise<string> {
  if (source.kind === 'file') {
    try {
      return await readCapped(createReadStream(source.path), source);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === undefined) throw err;
      throw usageError(`cannot read the invite file ${source.path} (${code})`);
    }
  }
  if (process.stdin.isTTY === true) return readHiddenLine('Paste the invite and press Enter (it is not shown): ');
  return readCapped(process.stdin, source);
}

/**
 * The invite in a file, or on standard input: exactly one invite, surrounding white space
 * (and a byte order mark) ignored. Errors are usage errors that say what is wrong and never
 * contain the key (InviteError's promise); the caller prints them through terminalSafe.
 */
export async function readInvite(file: string | undefined): Promise<Invite> {
  const read = await readAnyInvite(file);
  if (read.kind === 'private') throw usageError('this is a private room\'s invite (it has ?join=1); smc room join stores it, then smc chat NAME asks to join');
  return read.invite;
}

/** A link room's invite (§2.7), or a private room's (§3.4, `?join=1`), from a file or standard input. */
export async function readAnyInvite(file: string | undefined): Promise<{ kind: 'link'; invite: Invite } | { kind: 'private'; invite: PrivateInvite; text: string }> {
  const source: Source = file === undefined ? { kind: 'stdin' } : { kind: 'file', path: file };
  const text = (await readText(source)).replace(/^\uFEFF/, '').trim();
  if (text.length === 0) {
    throw usageError(`no invite on ${where(source)}${source.kind === 'stdin' ? ' (paste it, or give --invite-file FILE)' : ''}`);
  }
  if (/\s/.test(text)) throw usageError(`${where(source)} must hold one invite (smc://HOST:PORT/NAME#KEY) and nothing else`);
  try {
    if (isPrivateInvite(text)) return { kind: 'private', invite: parsePrivateInvite(text), text };
    return { kind: 'link', invite: parseInvite(text) };
  } catch (err) {
    if (err instanceof InviteError) throw usageError(`invalid invite in ${where(source)}: ${err.message}`);
    throw err;
  }
}
