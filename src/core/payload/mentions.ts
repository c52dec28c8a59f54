// @mentions (docs/protocol.md §2.3.2): a sender binds each `@name` of its text to the fingerprint
// of the member whose display name it is, compared as names look (§2.4: the skeleton keys of
// src/core/keys/displayName.ts), and sends the fingerprints. A receiver is mentioned only when
// its own fingerprint is listed, never because of what the text says, so a look-alike name
// cannot fake or steal a mention; and a name two keys look alike under binds nobody.
import { nameKey, nameShapeKey } from '../keys/displayName';
import { MAX_NAME_CHARS } from '../crypto/payload';
import { MAX_MENTIONS } from './fields';

/** A member of the room as the client knows it: a display name and the key it was seen with. */
export interface Member {
  name: string;
  fingerprint: string;
}

/** One `@name` of a text: UTF-16 offsets of the whole `@name`, and the members it can mean. */
export interface MentionSpan {
  start: number;
  end: number;
  /** Distinct fingerprints of the members whose name looks like it (more than one: ambiguous). */
  fingerprints: string[];
}

/** The `@` characters a text is searched at, at most (a text of 16 KiB of `@` costs little). */
export const MAX_MENTION_SCANS = 256;

const WORD_CHAR = /[\p{L}\p{N}\p{M}_]/u;

function index(members: readonly Member[]): { byKey: Map<string, Set<string>>; byShape: Map<string, Set<string>> } {
  const byKey = new Map<string, Set<string>>();
  const byShape = new Map<string, Set<string>>();
  const put = (m: Map<string, Set<string>>, k: string, fp: string): void => {
    if (k === '') return;
    const set = m.get(k) ?? new Set<string>();
    set.add(fp);
    m.set(k, set);
  };
  for (const m of members) {
    put(byKey, nameKey(m.name), m.fingerprint);
    put(byShape, nameShapeKey(m.name), m.fingerprint);
  }
  return { byKey, byShape };
}

/**
 * §2.3.2: every `@name` of `text` that names a member: `@` at the start or after a character that
 * is not a letter, digit or mark (so `a@b.c` is no mention), then the longest run of at most 64
 * characters, ending at a word boundary, whose comparison keys (nameKey or nameShapeKey) are a
 * member's.
 */
export function findMentions(text: string, members: readonly Member[]): MentionSpan[] {
  if (members.length === 0 || !text.includes('@')) return [];
  const { byKey, byShape } = index(members);
  const spans: MentionSpan[] = [];
  let scans = 0;
  for (let at = text.indexOf('@'); at >= 0 && scans < MAX_MENTION_SCANS; at = text.indexOf('@', at + 1)) {
    scans++;
    const before = codePointBefore(text, at);
    if (before !== undefined && WORD_CHAR.test(before)) continue;
    // The code points after '@', with the UTF-16 offset at which each ends.
    const ends: number[] = [];
    let off = at + 1;
    for (const ch of text.slice(at + 1, at + 1 + 2 * MAX_NAME_CHARS)) {
      off += ch.length;
      ends.push(off);
      if (ends.length === MAX_NAME_CHARS) break;
    }
    for (let k = ends.length; k >= 1; k--) {
      const end = ends[k - 1]!;
      const next = text.codePointAt(end);
      if (next !== undefined && WORD_CHAR.test(String.fromCodePoint(next))) continue;
      const candidate = text.slice(at + 1, end);
      if (candidate.trim() !== candidate) continue;
      const found = new Set<string>([...(byKey.get(nameKey(candidate)) ?? []), ...(byShape.get(nameShapeKey(candidate)) ?? [])]);
      if (found.size > 0) {
        spans.push({ start: at, end, fingerprints: [...found] });
        at = end - 1;
        break;
      }
    }
  }
  return spans;
}

/** The character (code point) that ends just before UTF-16 offset `i`, or undefined at the start. */
function codePointBefore(s: string, i: number): string | undefined {
  if (i === 0) return undefined;
  const low = s.charCodeAt(i - 1);
  const start = low >= 0xdc00 && low <= 0xdfff && i >= 2 ? i - 2 : i - 1;
  return String.fromCodePoint(s.codePointAt(start)!);
}

/**
 * §2.3.2, senders: the `mentions` of a text (the fingerprints its `@name`s bind to, at most 32,
 * in order), and the `@name`s that bind nobody because several keys look alike under them (the
 * composer asks the user to pick one, e.g. through completion, and adds that fingerprint).
 */
export function resolveMentions(text: string, members: readonly Member[]): { mentions: string[]; ambiguous: string[] } {
  const mentions: string[] = [];
  const ambiguous: string[] = [];
  for (const span of findMentions(text, members)) {
    if (span.fingerprints.length > 1) ambiguous.push(text.slice(span.start, span.end));
    else if (!mentions.includes(span.fingerprints[0]!) && mentions.length < MAX_MENTIONS) mentions.push(span.fingerprints[0]!);
  }
  return { mentions, ambiguous };
}

/** §2.3.2, receivers: mentioned exactly when one's own fingerprint is listed. */
export function isMentioned(mentions: readonly string[] | undefined, self: string): boolean {
  return mentions !== undefined && mentions.includes(self);
}

/**
 * §2.3.2, receivers: the `@name`s to highlight: those that bind, by the sender's rule and the
 * members this client knows, to exactly one listed fingerprint.
 */
export function mentionHighlights(text: string, mentions: readonly string[] | undefined, members: readonly Member[]): { start: number; end: number; fingerprint: string }[] {
  if (mentions === undefined || mentions.length === 0) return [];
  const out: { start: number; end: number; fingerprint: string }[] = [];
  for (const span of findMentions(text, members)) {
    const listed = span.fingerprints.filter((fp) => mentions.includes(fp));
    if (listed.length === 1 && span.fingerprints.length === 1) out.push({ start: span.start, end: span.end, fingerprint: listed[0]! });
  }
  return out;
}
