// The one way untrusted text reaches the terminal (docs/security.md "Terminal escapes"). Hosts, room and display
// names, message text, snippet paths and code, errors from the relay, fingerprints: all of it
// came from an invite, a file or the network, and a terminal obeys what it prints. ESC and CSI
// (C1 0x9B) sequences move the cursor, clear the screen or rewrite earlier lines; OSC sets the
// window title or, with OSC 52, the clipboard; BEL rings. Bidi controls make text read
// differently from its bytes, and invisible characters (zero-width, fillers, soft hyphen, tag
// characters, variation selectors) hide text or make look-alikes. So every such character is
// shown as \u{XXXX} instead of being printed, except inside emoji sequences (a ZWJ between two
// pictographs, a presentation selector after an emoji, a flag's tag sequence), where they are
// what the sender meant and a terminal draws one picture.
//
// --json output goes through jsonLine: JSON.stringify escapes C0 controls but not DEL, C1,
// U+2028/U+2029 or format characters; jsonLine escapes those too (\uXXXX), which any JSON
// parser reads back as the same string.

/**
 * What is never printed raw: controls (C0, DEL, C1: \p{Cc}), format characters (bidi
 * controls, zero-width characters, soft hyphen, tags: \p{Cf}), line and paragraph separators,
 * lone surrogates, and every other default-ignorable code point (U+3164 and other fillers,
 * variation selectors, the combining grapheme joiner). */
const UNSAFE_CLASS = String.raw`\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Default_Ignorable_Code_Point}`;

/** One pictograph of an emoji ZWJ sequence, with its skin tone and presentation selector. */
const EMOJI_ELEMENT = String.raw`\p{Extended_Pictographic}\p{Emoji_Modifier}?\uFE0F?`;

/**
 * Left to right, the first alternative that matches wins: emoji sequences are kept whole,
 * then any single unsafe character is matched on its own (group 1) and made visible.
 */
const TOKEN = new RegExp([
  `${EMOJI_ELEMENT}(?:\\u200D${EMOJI_ELEMENT})+`, // 👩‍💻, 🏳️‍🌈, 🏃🏽‍♀️ (UTS #51 ZWJ sequences)
  String.raw`\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{2,7}\u{E007F}`, // 🏴 + a subdivision code in tags + cancel tag (🏴󠁧󠁢󠁳󠁣󠁴󠁿)
  String.raw`\p{Emoji}[\uFE0E\uFE0F]`, // text or emoji presentation: ❤️, 1️⃣
  `([${UNSAFE_CLASS}])`,
].join('|'), 'gu');

const UNSAFE = new RegExp(`[${UNSAFE_CLASS}]`, 'gu');

const codePoint = (c: string): string => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`;

/**
 * Makes an untrusted string safe to print on a terminal. 'line' (names, hosts, paths, errors):
 * everything unsafe, newline and tab included, becomes \u{XXXX}, so the text stays on one line.
 * 'block' (message text, code): newlines and tabs are kept (CRLF becomes LF); the rest as in
 * 'line'.
 */
export function terminalSafe(text: string, layout: 'line' | 'block' = 'line'): string {
  const s = layout === 'block' ? text.replace(/\r\n/g, '\n') : text;
  return s.replace(TOKEN, (match: string, unsafe: string | undefined) => {
    if (unsafe === undefined) return match;
    if (layout === 'block' && (unsafe === '\n' || unsafe === '\t')) return unsafe;
    return codePoint(unsafe);
  });
}

/** Each UTF-16 unit as \uXXXX: a JSON string escape for any character. */
const jsonEscape = (c: string): string =>
  Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');

/**
 * One line of --json output: JSON.stringify, then every unsafe character that it leaves raw
 * (DEL, C1, U+2028/2029, format and invisible characters) escaped as \uXXXX. Inside JSON text
 * such a character can only be in a string, where the escape means the same character.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, jsonEscape);
}
