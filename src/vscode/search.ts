// Search in a room's history on this machine (issue 12; docs/extension.md "Search"): the host's
// copy of the timeline, decrypted messages only, after edits and deletes. Nothing of a query is
// ever sent to the relay (it would learn what the room talks about). Pure: unit-tested and
// benchmarked in plain Node.
import type { ChatItem, SearchHit } from '../shared/messages';
import { markInvisible } from '../shared/visibleText';
import { RoomFeatures } from './roomFeatures';

/** Characters of context on each side of a match in an excerpt. */
const CONTEXT_CHARS = 40;

/**
 * The form text is compared in: compatibility-composed (NFKC: ﬁ is fi, full-width letters are
 * ASCII), lower case, accents kept (é is not e: a search for "resume" should not find "résumé"
 * only by chance).
 */
export function searchForm(s: string): string {
  return s.normalize('NFKC').toLowerCase();
}

/**
 * Items of `items` whose text, caption, snippet, file name or patch paths hold every word of
 * `query` (case-insensitive), newest first, at most `max`. An empty query finds nothing.
 */
export function searchItems(items: readonly ChatItem[], query: string, max: number): SearchHit[] {
  const words = searchForm(query).split(/\s+/u).filter((w) => w !== '');
  if (words.length === 0) return [];
  const hits: SearchHit[] = [];
  for (let i = items.length - 1; i >= 0 && hits.length < max; i--) {
    const item = items[i]!;
    if (item.kind !== 'message' || item.deleted) continue;
    const text = RoomFeatures.searchableText(item);
    if (text === '') continue;
    const form = searchForm(text);
    if (!words.every((w) => form.includes(w))) continue;
    const hit: SearchHit = { key: item.key, ts: item.ts, name: item.name, excerpt: excerpt(text, form, words[0]!) };
    if (item.seq !== undefined) hit.seq = item.seq;
    hits.push(hit);
  }
  return hits;
}

/** One line of plain text around the first match, invisible characters shown. */
function excerpt(text: string, form: string, word: string): string {
  // NFKC may change lengths; when it did, the offset in `form` is only close in `text`.
  const at = Math.max(0, form.indexOf(word));
  const start = Math.max(0, at - CONTEXT_CHARS);
  const end = Math.min(text.length, at + word.length + CONTEXT_CHARS);
  const flat = text.slice(start, end).replace(/\s+/gu, ' ');
  return `${start > 0 ? '…' : ''}${markInvisible(flat)}${end < text.length ? '…' : ''}`;
}
