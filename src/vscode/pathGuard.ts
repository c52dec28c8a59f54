// Where a snippet from the network may be opened (docs/protocol.md §2.3: `path` is
// workspace-relative). The path is hostile: it may try to escape the workspace (`../`,
// absolute paths, drive letters, UNC paths, URL schemes, NUL bytes). Only a path that resolves
// inside a workspace folder is opened. Pure string logic (POSIX separators after
// normalisation), so it is unit-tested without VS Code.

export type PathCheck = { ok: true; segments: string[] } | { ok: false; reason: string };

const MAX_PATH_CHARS = 1024;

/**
 * Checks a snippet path and returns its normalised segments, relative to a workspace folder.
 * Refuses instead of clamping: `a/../../b` is not silently turned into `b`.
 */
export function checkSnippetPath(path: string): PathCheck {
  if (typeof path !== 'string' || path.length === 0) return { ok: false, reason: 'The snippet has no file path.' };
  if (path.length > MAX_PATH_CHARS) return { ok: false, reason: 'The snippet path is too long.' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001F\u007F]/.test(path)) return { ok: false, reason: 'The snippet path contains control characters.' };
  const unified = path.replace(/\\/g, '/');
  if (unified.startsWith('/') || unified.startsWith('~')) return { ok: false, reason: 'The snippet path is absolute; only paths inside the workspace are opened.' };
  if (/^[A-Za-z]:/.test(unified)) return { ok: false, reason: 'The snippet path names a drive; only paths inside the workspace are opened.' };
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(unified)) return { ok: false, reason: 'The snippet path is a URL; only paths inside the workspace are opened.' };
  const segments: string[] = [];
  for (const seg of unified.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (segments.length === 0) return { ok: false, reason: 'The snippet path leads outside the workspace.' };
      segments.pop();
      continue;
    }
    // Windows ignores trailing dots and spaces ("..." or ".. " can mean "..").
    if (/^\.+\s*$/.test(seg) || /[. ]$/.test(seg)) return { ok: false, reason: 'The snippet path has a segment Windows would reinterpret.' };
    segments.push(seg);
  }
  if (segments.length === 0) return { ok: false, reason: 'The snippet path names no file.' };
  return { ok: true, segments };
}

/** The 0-based line range to select, clamped to the document (start and end are 1-based). */
export function snippetRange(start: number, end: number, lineCount: number): { from: number; to: number } {
  const last = Math.max(0, lineCount - 1);
  const from = Math.min(Math.max(0, Math.floor(start) - 1), last);
  const to = Math.min(Math.max(from, Math.floor(end) - 1), last);
  return { from, to };
}
