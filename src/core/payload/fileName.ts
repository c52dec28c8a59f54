// The name and media type of a shared file (docs/protocol.md §2.3.5), and which files a client
// may preview as images. A file name from the network is hostile: it may try to name a path
// (`../x`, `a/b`, `a\b`), hide what it is (bidi overrides, zero-width characters: `gpj.exe`
// shown as `exe.jpg`), or be a name Windows treats as a device (`CON`, `nul.txt`). Such names
// are refused, by senders and receivers alike; a client still saves only where its user chooses.

/** §2.3.5: the bound of `file.name`, in UTF-8 bytes (what common file systems hold). */
export const MAX_FILE_NAME_BYTES = 255;
/** §2.3.5: the bound of `file.mime`, in bytes. */
export const MAX_MIME_BYTES = 127;
/** §2.3.5: the media type of a file whose type is unknown. */
export const DEFAULT_MIME = 'application/octet-stream';

// Controls (NUL, newline, ESC...), format characters (bidi controls, zero-width characters,
// U+FEFF, U+00AD), lone surrogates, private-use and unassigned code points, line and paragraph
// separators, the Hangul fillers and U+2800 (drawn as nothing), the separators / and \, and
// what Windows forbids in a name.
const REFUSED_IN_NAME = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\u115F\u1160\u3164\uFFA0\u2800/\\<>:"|?*]/u;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])\s*(\..*)?$/iu;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

/** §2.3.5: what is wrong with a file name (a sentence fragment), or undefined. */
export function fileNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'file.name must be a non-empty string';
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_BYTES) return `file.name must be at most ${MAX_FILE_NAME_BYTES} bytes`;
  if (REFUSED_IN_NAME.test(name)) return 'file.name must hold no path separator, control, invisible or reserved character';
  if (name === '.' || name === '..') return 'file.name must not be . or ..';
  if (name !== name.trim()) return 'file.name must not begin or end with a space';
  if (name.endsWith('.')) return 'file.name must not end with a dot';
  if (WINDOWS_DEVICE.test(name)) return 'file.name must not be a Windows device name';
  return undefined;
}

/**
 * §2.3.5, senders: a name that passes fileNameProblem, made from a local file's name: every
 * refused character becomes '_', spaces and dots are trimmed, a device name gains a leading '_',
 * and the name is cut to MAX_FILE_NAME_BYTES keeping its extension. Never empty ("file").
 */
export function sendableFileName(local: string): string {
  let name = [...local].map((ch) => (REFUSED_IN_NAME.test(ch) ? '_' : ch)).join('').trim().replace(/[. ]+$/u, '');
  if (name === '' || /^\.+$/.test(name)) name = 'file';
  if (WINDOWS_DEVICE.test(name)) name = `_${name}`;
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_BYTES) {
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
    let stem = '';
    for (const ch of name.slice(0, name.length - ext.length)) {
      if (Buffer.byteLength(stem + ch + ext, 'utf8') > MAX_FILE_NAME_BYTES) break;
      stem += ch;
    }
    name = `${stem.trimEnd()}${ext}`;
  }
  return name;
}

/** §2.3.5: what is wrong with a media type, or undefined: `type/subtype`, lower case, no parameters. */
export function mimeProblem(mime: unknown): string | undefined {
  if (typeof mime !== 'string' || mime.length === 0) return 'file.mime must be a non-empty string';
  if (mime.length > MAX_MIME_BYTES) return `file.mime must be at most ${MAX_MIME_BYTES} bytes`;
  if (!MIME.test(mime)) return 'file.mime must be a lower-case type/subtype without parameters';
  return undefined;
}

// The media types a sender names from a file's extension; anything else is DEFAULT_MIME (§2.3.5).
const MIME_BY_EXTENSION: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml',
  txt: 'text/plain', log: 'text/plain', md: 'text/markdown', csv: 'text/csv', json: 'application/json',
  diff: 'text/x-diff', patch: 'text/x-diff', pdf: 'application/pdf', zip: 'application/zip', gz: 'application/gzip',
};

/** §2.3.5, senders: the media type of a file by its extension (case-insensitive), or DEFAULT_MIME. */
export function mimeForFileName(name: string): string {
  const dot = name.lastIndexOf('.');
  const ext = dot >= 0 ? name.slice(dot + 1).toLowerCase() : '';
  return Object.prototype.hasOwnProperty.call(MIME_BY_EXTENSION, ext) ? MIME_BY_EXTENSION[ext]! : DEFAULT_MIME;
}

// §2.3.5 "Images": raster formats a browser decodes without running anything, by their signature.
const IMAGE_SIGNATURES: Record<string, (b: Uint8Array) => boolean> = {
  'image/png': (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  'image/jpeg': (b) => startsWith(b, [0xff, 0xd8, 0xff]),
  'image/gif': (b) => startsWith(b, [0x47, 0x49, 0x46, 0x38, 0x37, 0x61]) || startsWith(b, [0x47, 0x49, 0x46, 0x38, 0x39, 0x61]),
  'image/webp': (b) => startsWith(b, [0x52, 0x49, 0x46, 0x46]) && b.length >= 12 && startsWith(b.subarray(8), [0x57, 0x45, 0x42, 0x50]),
};

function startsWith(b: Uint8Array, prefix: number[]): boolean {
  return b.length >= prefix.length && prefix.every((x, i) => b[i] === x);
}

/** The media types a client may preview as images (§2.3.5); image/svg+xml is not one of them. */
export const PREVIEWABLE_IMAGE_TYPES: readonly string[] = Object.keys(IMAGE_SIGNATURES);

/**
 * §2.3.5: whether verified file bytes may be previewed as an image: the claimed `mime` is a
 * previewable raster type and the bytes start with that format's signature.
 */
export function isPreviewableImage(mime: string, bytes: Uint8Array): boolean {
  const check = Object.prototype.hasOwnProperty.call(IMAGE_SIGNATURES, mime) ? IMAGE_SIGNATURES[mime] : undefined;
  return check !== undefined && check(bytes);
}
