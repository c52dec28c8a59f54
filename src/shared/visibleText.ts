// Strings from the network, made visible (docs/protocol.md §2.4, docs/security.md "Another member
// of the room"): a display name, a room name, a snippet path or a message may hold characters a
// renderer draws as nothing (U+200B, U+00AD, U+2060, U+3164, tag characters, variation
// selectors...), bidi controls that reorder what follows (Trojan Source, CVE-2021-42574),
// control characters, or characters fonts draw empty (U+2800). Wherever such a string is shown
// (the panel, the host's dialogs, the status bar) each of them becomes a visible ⟦U+XXXX⟧, so
// "paypal.com" and "pay" + U+200B + "pal.com", or "alice" and "alice" + U+200B, never look the
// same. Emoji sequences are what their sender meant and are drawn as one picture, so a ZWJ between
// two pictographs (👩‍💻), a presentation selector after an emoji (❤️) and a flag's tag sequence
// stay intact; the same rule as the terminal's (src/cli/terminalText.ts).
// Pure, no DOM and no Node: shared by the host and the webview.

/**
 * Shown as ⟦U+XXXX⟧ everywhere: controls (\p{Cc}), format characters (bidi controls, zero-width
 * characters, soft hyphen, tags: \p{Cf}), lone surrogates, line and paragraph separators, every
 * other default-ignorable code point (U+3164 and other fillers, variation selectors, the
 * combining grapheme joiner) and the blank Braille pattern U+2800.
 */
export const HIDDEN_CLASS = String.raw`\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800`;
/**
 * Also shown in names (a name is short and is compared by eye): private-use and unassigned code
 * points, which fonts draw empty or as any glyph. Message text keeps them (icon fonts, emoji
 * newer than this engine's Unicode tables).
 */
const NAME_ONLY_CLASS = String.raw`\p{Co}\p{Cn}`;

/** One pictograph of an emoji ZWJ sequence, with its skin tone and presentation selector. */
const EMOJI_ELEMENT = String.raw`\p{Extended_Pictographic}\p{Emoji_Modifier}?\uFE0F?`;
/** Emoji sequences kept whole, tried before any single hidden character (UTS #51). */
const EMOJI_SEQUENCES = [
  `${EMOJI_ELEMENT}(?:\\u200D${EMOJI_ELEMENT})+`, // 👩‍💻, 🏳️‍🌈, 🏃🏽‍♀️ (ZWJ sequences)
  String.raw`\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{2,7}\u{E007F}`, // 🏴 + subdivision tags + cancel tag
  String.raw`\p{Emoji}[\uFE0E\uFE0F]\u20E3?`, // text or emoji presentation: ❤️, 1️⃣
];

/** Left to right, the first alternative that matches wins: emoji sequences whole, else group 1. */
function tokenPattern(hidden: string): RegExp {
  return new RegExp([...EMOJI_SEQUENCES, `([${hidden}])`].join('|'), 'gu');
}
const NAME_TOKEN = tokenPattern(HIDDEN_CLASS + NAME_ONLY_CLASS);
const TEXT_TOKEN = tokenPattern(HIDDEN_CLASS);

/** "⟦U+200B⟧": how one hidden character is shown. */
export function visibleCodePoint(c: string): string {
  return `⟦U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}⟧`;
}

/**
 * `s` with every hidden character (HIDDEN_CLASS, outside emoji sequences) passed through
 * `replace`; what it returns takes the character's place, `undefined` keeps it.
 */
export function replaceHidden(s: string, replace: (c: string) => string | undefined, pattern: RegExp = TEXT_TOKEN): string {
  pattern.lastIndex = 0;
  return s.replace(pattern, (match: string, hidden: string | undefined) => (hidden === undefined ? match : replace(hidden) ?? hidden));
}

/**
 * A name, room name, path or language as shown: every invisible, bidi control, control,
 * private-use or unassigned character as ⟦U+XXXX⟧ (one line: newlines and tabs too).
 */
export function markInvisible(s: string): string {
  return replaceHidden(s, visibleCodePoint, NAME_TOKEN);
}

/**
 * Message text or code as shown: as markInvisible, except that newlines and tabs are kept
 * (CRLF becomes LF) and private-use or unassigned code points are left to the font.
 */
export function visibleText(s: string): string {
  return replaceHidden(s.replace(/\r\n/g, '\n'), (c) => (c === '\n' || c === '\t' ? undefined : visibleCodePoint(c)));
}

/** Whether visibleText would change anything but line endings. */
export function hasHidden(s: string): boolean {
  let found = false;
  replaceHidden(s.replace(/\r\n/g, '\n'), (c) => {
    if (c !== '\n' && c !== '\t') found = true;
    return undefined;
  });
  return found;
}

/**
 * A link's address as a confirmation shows it: percent-decoded where it decodes (a hidden
 * character a Markdown renderer encoded comes back, to be shown), nothing hidden; the address
 * as sent follows when it differs.
 */
export function shownAddress(href: string): string {
  let decoded = href;
  try {
    decoded = decodeURI(href);
  } catch {
    // Not valid percent-encoding: shown as it is.
  }
  return decoded === href ? markInvisible(href) : `${markInvisible(decoded)}\n\n(as sent: ${markInvisible(href)})`;
}
