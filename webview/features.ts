// Pure helpers of the chat features in the panel (docs/protocol.md §2.3.1-2.3.6): where the code
// references and @mentions of a text are, sizes, the emoji offered, the @ being completed. No
// DOM, so they are unit-tested in plain Node (test/unit/webview-features.test.ts).

/** The quick reactions offered (§2.3.3); any other emoji can be typed in the picker. */
export const QUICK_EMOJI: readonly string[] = ['👍', '❤️', '😄', '🎉', '😮', '👀', '🚀', '✅'];

/** A span of a text node: [start, end) in UTF-16 units. */
export interface Span { start: number; end: number }
export interface CodeRef extends Span { path: string; line: number }

// `src/relay/server.ts:120`, `README.md:3`, `a/b/c.go:7:12`: a path of at least a slash or an
// extension, of plain characters only (nothing a sender could hide, §2.4), then `:line`.
const CODE_REF = /(?<![\w./-])((?:[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*\/)*[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*\.[A-Za-z0-9]{1,12}):([1-9][0-9]{0,6})(?::[0-9]{1,5})?(?![\w/])/g;

/** The code references of a text, in order. Paths with `..` or a leading `/` are not references. */
export function findCodeRefs(text: string): CodeRef[] {
  const out: CodeRef[] = [];
  for (const m of text.matchAll(CODE_REF)) {
    const path = m[1]!;
    if (path.split('/').some((s) => s === '..' || s === '.')) continue;
    out.push({ start: m.index, end: m.index + m[0].length, path, line: Number(m[2]) });
  }
  return out;
}

/** Where the given `@name` strings (those that bind, from the host) occur in a text, in order, not overlapping. */
export function findMentionSpans(text: string, names: readonly string[]): Span[] {
  const spans: Span[] = [];
  const sorted = [...new Set(names)].filter((n) => n.length > 1).sort((a, b) => b.length - a.length);
  for (const name of sorted) {
    for (let at = text.indexOf(name); at >= 0; at = text.indexOf(name, at + name.length)) {
      if (!spans.some((s) => at < s.end && at + name.length > s.start)) spans.push({ start: at, end: at + name.length });
    }
  }
  return spans.sort((a, b) => a.start - b.start);
}

/** "12 KB", "3.4 MB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** The class of one line of a unified diff, for colouring only (the text stays as it is). */
export function diffLineClass(line: string): 'add' | 'del' | 'hunk' | 'meta' | 'ctx' {
  if (line.startsWith('@@')) return 'hunk';
  if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff --git') || line.startsWith('index ')) return 'meta';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  return 'ctx';
}

/**
 * The `@` being typed at the caret: its offset and the text after it, when the caret ends a
 * run that starts with `@` at a word start (the composer's completion).
 */
export function mentionQuery(text: string, caret: number): { at: number; prefix: string } | undefined {
  const before = text.slice(0, caret);
  const m = /(?:^|[^\p{L}\p{N}\p{M}_])@([\p{L}\p{N}\p{M}_.'-]{0,64})$/u.exec(before);
  if (!m) return undefined;
  return { at: caret - m[1]!.length - 1, prefix: m[1]! };
}

/** Replaces the `@prefix` at `at` by `@name ` (the completion chosen). */
export function completeMention(text: string, at: number, caret: number, name: string): { text: string; caret: number } {
  const inserted = `@${name} `;
  return { text: text.slice(0, at) + inserted + text.slice(caret), caret: at + inserted.length };
}

/** Whether a pasted or typed string is one emoji-looking cluster (the host checks the real rule, §2.3.3). */
export function looksLikeOneEmoji(s: string): boolean {
  const t = s.trim();
  if (t === '' || new TextEncoder().encode(t).length > 64) return false;
  return /^\p{Extended_Pictographic}|^\p{Regional_Indicator}{2}$|^[0-9#*]\uFE0F?\u20E3$/u.test(t) && [...new Intl.Segmenter().segment(t)].length === 1;
}
