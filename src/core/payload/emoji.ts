// The `emoji` of a reaction (docs/protocol.md §2.3.3): one emoji, at most 64 bytes of UTF-8.
// Senders check the strict rule (one RGI_Emoji, what keyboards and pickers produce); receivers
// the structural rule of UTS #51's possible emoji, so that an emoji newer than their Unicode
// data is still accepted, while letters, digits, invisible characters and long chains are not.

/** §2.3.3: the bound of `emoji`, in UTF-8 bytes. */
export const MAX_EMOJI_BYTES = 64;
/** §2.3.3: at most this many elements joined by U+200D (ZWJ). */
export const MAX_EMOJI_ELEMENTS = 8;

// One element of UTS #51 §1.4.9's possible emoji: a keycap, a flag (two regional indicators), or
// a pictographic character with at most one presentation selector or skin-tone modifier and at
// most one tag sequence (the subdivision flags). A digit or '#' alone is \p{Emoji} but not an
// element here: it is text, and a reaction "1" would be a way to write words with reactions; a
// lone regional indicator is half a flag.
const ELEMENT =
  '(?:[0-9#*]\\uFE0F?\\u20E3' +
  '|\\p{Regional_Indicator}{2}' +
  '|(?!\\p{Regional_Indicator})[\\p{Extended_Pictographic}\\p{Emoji_Presentation}](?:\\uFE0F|\\p{Emoji_Modifier})?(?:[\\u{E0020}-\\u{E007E}]+\\u{E007F})?)';
const POSSIBLE_EMOJI = new RegExp(`^${ELEMENT}(?:\\u200D${ELEMENT}){0,${MAX_EMOJI_ELEMENTS - 1}}$`, 'u');
// The `v` flag (ES2024) knows properties of strings; the tsconfig target is older, so the
// expression is built at run time (Node 20 and VS Code's Electron both have it).
const RGI_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v');

/** §2.3.3, receivers: one possible emoji (UTS #51), at most 64 bytes. */
export function isReactionEmoji(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && Buffer.byteLength(s, 'utf8') <= MAX_EMOJI_BYTES && POSSIBLE_EMOJI.test(s);
}

/** §2.3.3, senders: one RGI emoji (Unicode's recommended set, as this runtime knows it), at most 64 bytes. */
export function isSendableEmoji(s: unknown): s is string {
  return isReactionEmoji(s) && RGI_EMOJI.test(s);
}
