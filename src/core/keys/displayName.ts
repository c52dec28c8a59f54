// Display names (docs/protocol.md §2.3 `name`, §2.4 known keys): the one rule for a name one may send
// under, and the form under which names are compared for the key-change rule. A name is a claim,
// not an identity (the fingerprint is); these rules make sure a claim that *looks* like a known
// member's is treated as that member's name, and that no one sends a name that hides what it is.
import unhomoglyph from 'unhomoglyph';
import { MAX_NAME_CHARS, hasNameLength } from '../crypto/payload';

// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters a renderer may
// draw as nothing (U+200B, U+00AD, U+2060, U+3164, variation selectors, bidi controls, tags...).
// V8 knows the property (ES2018 property escapes), in Node and in VS Code's Electron alike.
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;
// Drawn as nothing too, though not default-ignorable: U+2800 BRAILLE PATTERN BLANK (a visible
// character by Unicode's rules that fonts draw empty), private-use and unassigned code points
// (a font draws them as nothing, a box, or anything). Left out of the comparison like the
// ignorables, and refused in a name one sends.
const BLANK_LOOKING = /[\u2800\p{Co}\p{Cn}]/gu;
// What may not be in a name one sends: controls (C0, C1), format characters (which include the
// bidi controls U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C), line and paragraph separators,
// lone surrogates, and every default-ignorable or blank-looking character.
const FORBIDDEN_IN_NAME = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Default_Ignorable_Code_Point}\u2800]/u;

/**
 * Why `name` cannot be sent under (a sentence for the user), or undefined if it can: 1-64
 * characters (§2.3), not only spaces, no invisible, bidi control or control characters. Every
 * sender checks this one function (RelayClient, the terminal client's --name, the extension's
 * setting); receivers do not refuse such names, they compare them by nameKey.
 */
export function displayNameProblem(name: string): string | undefined {
  if (!hasNameLength(name)) return `A display name must be 1 to ${MAX_NAME_CHARS} characters.`;
  if (name.trim().length === 0) return 'A display name cannot be only spaces.';
  if (FORBIDDEN_IN_NAME.test(name)) {
    return 'A display name cannot hold invisible, bidi control or control characters (such as U+200B, U+202E or a newline).';
  }
  return undefined;
}

/**
 * The login name as a display name, for when none is set: its first MAX_NAME_CHARS characters,
 * if displayNameProblem allows them; undefined otherwise (the caller has its own fallback).
 */
export function displayNameFromLogin(login: string): string | undefined {
  const name = [...login.trim()].slice(0, MAX_NAME_CHARS).join('');
  return displayNameProblem(name) === undefined ? name : undefined;
}

/** TR39 §4's skeleton of one string: NFD, each character by its prototype (confusables.txt), NFD again. */
function skeleton(s: string): string {
  return unhomoglyph(s.normalize('NFD')).normalize('NFD');
}

/** The folded, ignorable-free NFKC form the two keys start from. */
function fold(name: string): string {
  const strip = (s: string): string => s.replace(DEFAULT_IGNORABLE, '').replace(BLANK_LOOKING, '');
  return strip(strip(name).normalize('NFKC'));
}

function tidy(s: string): string {
  return s.normalize('NFC').replace(/\s+/gu, ' ').trim();
}

// Names repeat (a room's history has few senders), and a skeleton walks a large table: both
// keys are remembered, in a map that is cleared when full so that hostile names cannot grow it.
const KEY_CACHE_MAX = 4_096;
const keyCache = new Map<string, [string, string]>();

function keysOf(name: string): [string, string] {
  let k = keyCache.get(name);
  if (k === undefined) {
    const folded = fold(name);
    k = [tidy(skeleton(folded.toLowerCase()).toLowerCase()), tidy(skeleton(folded).toLowerCase())];
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
    keyCache.set(name, k);
  }
  return k;
}

/**
 * The case-insensitive comparison key of a name (§2.4): NFKC, default-ignorable characters
 * removed, lower case, then the TR39 confusable skeleton, spaces collapsed. "George",
 * "GEORGE ", "Ｇｅｏｒｇｅ", "Gеorge" (Cyrillic е) and "Geo\u200Brge" have one key.
 */
export function nameKey(name: string): string {
  return keysOf(name)[0];
}

/**
 * The case-preserving comparison key: the skeleton before case is folded. TR39's skeleton keeps
 * case, and folding first loses look-alikes across case ("Ivan" and "lvan": capital I and small
 * L share a prototype, small i does not), so names are compared under both keys.
 */
export function nameShapeKey(name: string): string {
  return keysOf(name)[1];
}

/** Whether two names look alike (one of their two keys is equal): one person, as far as names go. */
export function namesLookAlike(a: string, b: string): boolean {
  return nameKey(a) === nameKey(b) || nameShapeKey(a) === nameShapeKey(b);
}
