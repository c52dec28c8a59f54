// The in-memory side of a shared patch (docs/protocol.md §2.3.6), for its preview in VS Code's
// diff editor: the diff split per file, and each file's hunks applied to the reader's copy.
// Applying to disk is `git apply` (diffShare.ts); this only shows what it would give. Pure:
// unit-tested in plain Node. The diff has passed patchPaths (git's form, paths checked).
import { dirname, join, sep } from 'node:path';

export interface Hunk {
  oldStart: number;
  oldLines: number;
  /** The hunk's lines with their prefix (' ', '-', '+'); "\ No newline" lines dropped. */
  lines: string[];
}

export interface FilePatch {
  /** The path before (undefined for a new file). */
  oldPath?: string;
  /** The path after (undefined for a deleted file). */
  newPath?: string;
  hunks: Hunk[];
  binary: boolean;
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

function stripPrefix(raw: string, prefix: string): string | undefined {
  if (raw === '/dev/null') return undefined;
  const path = raw.split('\t')[0]!;
  // Quoted paths (git's C form) are shown as written; the preview is only a preview.
  const unq = path.startsWith('"') && path.endsWith('"') ? path.slice(1, -1) : path;
  return unq.startsWith(prefix) ? unq.slice(prefix.length) : unq;
}

/** The files of a git diff, in order, with their hunks. */
export function splitDiff(diff: string): FilePatch[] {
  const files: FilePatch[] = [];
  let cur: FilePatch | undefined;
  let hunk: Hunk | undefined;
  let oldLeft = 0;
  let newLeft = 0;
  const lines = diff.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (hunk && (oldLeft > 0 || newLeft > 0)) {
      const c = line[0];
      if (c === '\\') continue;
      hunk.lines.push(line === '' ? ' ' : line);
      if (c === '-') oldLeft--;
      else if (c === '+') newLeft--;
      else { oldLeft--; newLeft--; }
      continue;
    }
    if (line.startsWith('diff --git ')) {
      const m = /^diff --git a\/(.+) b\/(.+)$/.exec(line);
      cur = { hunks: [], binary: false, ...(m ? { oldPath: m[1]!, newPath: m[2]! } : {}) };
      files.push(cur);
      hunk = undefined;
      continue;
    }
    if (!cur) continue;
    if (line.startsWith('--- ')) {
      const p = stripPrefix(line.slice(4), 'a/');
      if (p === undefined) delete cur.oldPath;
      else cur.oldPath = p;
    } else if (line.startsWith('+++ ')) {
      const p = stripPrefix(line.slice(4), 'b/');
      if (p === undefined) delete cur.newPath;
      else cur.newPath = p;
    } else if (line.startsWith('new file mode')) {
      delete cur.oldPath;
    } else if (line.startsWith('deleted file mode')) {
      delete cur.newPath;
    } else if (line.startsWith('rename from ')) {
      cur.oldPath = line.slice('rename from '.length);
    } else if (line.startsWith('rename to ')) {
      cur.newPath = line.slice('rename to '.length);
    } else if (line === 'GIT binary patch' || /^Binary files .* differ$/.test(line)) {
      cur.binary = true;
    } else {
      const h = HUNK.exec(line);
      if (h) {
        hunk = { oldStart: Number(h[1]), oldLines: h[2] === undefined ? 1 : Number(h[2]), lines: [] };
        oldLeft = hunk.oldLines;
        newLeft = h[4] === undefined ? 1 : Number(h[4]);
        cur.hunks.push(hunk);
      }
    }
  }
  return files;
}

/**
 * The text after applying `hunks` to `original`, or undefined when a hunk's context is not
 * there (the reader's copy differs: "does not apply"). Each hunk is looked for at its line,
 * shifted by what the hunks before it added or removed, then anywhere after the previous hunk.
 */
export function applyHunks(original: string, hunks: readonly Hunk[]): string | undefined {
  const endsWithNewline = original === '' || original.endsWith('\n');
  const lines = original === '' ? [] : (endsWithNewline ? original.slice(0, -1) : original).split('\n');
  let offset = 0;
  let floor = 0;
  for (const h of hunks) {
    const old = h.lines.filter((l) => l[0] !== '+').map((l) => l.slice(1));
    const fresh = h.lines.filter((l) => l[0] !== '-').map((l) => l.slice(1));
    const matchesAt = (at: number): boolean => at >= floor && at + old.length <= lines.length && old.every((l, i) => lines[at + i] === l);
    // A hunk of 0 old lines inserts after line oldStart (git's convention).
    let at = (h.oldLines === 0 ? h.oldStart : h.oldStart - 1) + offset;
    if (!matchesAt(at)) {
      at = -1;
      for (let i = floor; i + old.length <= lines.length; i++) if (matchesAt(i)) { at = i; break; }
      if (at === -1) return undefined;
    }
    lines.splice(at, old.length, ...fresh);
    offset += fresh.length - old.length;
    floor = at + fresh.length;
  }
  if (lines.length === 0) return '';
  return `${lines.join('\n')}${endsWithNewline ? '\n' : ''}`;
}

/**
 * §2.3.6 "Applying ... goes through the same path guard as snippets": the directory a patch
 * applies in (`root` under the workspace folder `folderReal`, itself already resolved) and, for
 * each path, whether it stays inside the folder once links are followed (the nearest existing
 * ancestor of the target is resolved with `realpath`). The problem for the user, or the directory.
 */
export async function patchTarget(
  folderReal: string,
  root: string,
  paths: readonly string[],
  deps: { realpath: (p: string) => Promise<string>; checkPath: (p: string) => { ok: true; segments: string[] } | { ok: false; reason: string } },
): Promise<{ ok: true; dir: string } | { ok: false; reason: string }> {
  const inside = (real: string): boolean => real === folderReal || real.startsWith(folderReal.endsWith(sep) ? folderReal : folderReal + sep);
  const rootCheck = root === '' ? { ok: true as const, segments: [] as string[] } : deps.checkPath(root);
  if (!rootCheck.ok) return { ok: false, reason: `The patch's folder is refused: ${rootCheck.reason}` };
  const dir = join(folderReal, ...rootCheck.segments);
  for (const p of [...(root === '' ? [] : [root]), ...paths]) {
    const check = p === root ? rootCheck : deps.checkPath(p);
    if (!check.ok) return { ok: false, reason: `The patch names a path that is refused: ${check.reason}` };
    let probe = p === root ? dir : join(dir, ...check.segments);
    for (;;) {
      let real: string | undefined;
      try {
        real = await deps.realpath(probe);
      } catch {
        real = undefined;
      }
      if (real !== undefined) {
        if (!inside(real)) return { ok: false, reason: 'The patch leads outside the workspace (through a link); nothing was changed.' };
        break;
      }
      const up = dirname(probe);
      if (up === probe) break;
      probe = up;
    }
  }
  return { ok: true, dir };
}
