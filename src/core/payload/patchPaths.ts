// The paths of a shared patch (docs/protocol.md §2.3.6): the rule every path must pass, and the
// paths a `git diff` touches, read from its headers. A receiver compares them with the patch's
// declared `paths`, so what a preview lists is what applying would touch; and a patch that
// would write outside the repository, into `.git` (hooks run code), or through a symbolic link
// is refused before anyone is asked to apply it.

/** §2.3.6: the bound of one path, in UTF-8 bytes. */
export const MAX_PATCH_PATH_BYTES = 1_024;

const REFUSED_IN_PATH = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}\\]/u;
// `.git` in any case, with the dots and spaces Windows ignores, and its 8.3 short name.
const GIT_DIR = /^(?:\.git[. ]*|git~1)$/iu;

/**
 * §2.3.6: what is wrong with a repository-relative path, or undefined. `allowEmpty` is for
 * `patch.root`, where "" is the workspace folder itself.
 */
export function patchPathProblem(path: unknown, allowEmpty = false): string | undefined {
  if (typeof path !== 'string') return 'a path must be a string';
  if (path === '') return allowEmpty ? undefined : 'a path must not be empty';
  if (Buffer.byteLength(path, 'utf8') > MAX_PATCH_PATH_BYTES) return `a path must be at most ${MAX_PATCH_PATH_BYTES} bytes`;
  if (REFUSED_IN_PATH.test(path)) return 'a path must hold no backslash, control or format character';
  if (path.startsWith('/') || path.startsWith('~')) return 'a path must be relative';
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(path)) return 'a path must not name a drive or a URL scheme';
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') return 'a path must not have an empty, . or .. segment';
    if (/[. ]$/.test(seg)) return 'a path segment must not end with a dot or a space';
    if (GIT_DIR.test(seg)) return 'a path must not lead into .git';
  }
  return undefined;
}

export type PatchPaths = { ok: true; paths: string[] } | { ok: false; reason: string };

const SYMLINK_OR_SUBMODULE = /^(?:new file mode|deleted file mode|old mode|new mode) (?:120000|160000)$|^index [0-9a-f]+\.\.[0-9a-f]+ (?:120000|160000)$/;
const HEADER_LINE = /^(?:index [0-9a-f]+\.\.[0-9a-f]+(?: [0-7]{6})?|(?:new file|deleted file|old|new) mode [0-7]{6}|(?:dis)?similarity index \d{1,3}%|Binary files .* differ)$/;
const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;
const C_ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Git's C-quoted path ("a/caf\303\251"), from `s[0] === '"'`: the path and the rest, or undefined. */
function unquote(s: string): { path: string; rest: string } | undefined {
  const bytes: number[] = [];
  for (let i = 1; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"') {
      try {
        return { path: utf8Strict.decode(Uint8Array.from(bytes)), rest: s.slice(i + 1) };
      } catch {
        return undefined;
      }
    }
    if (ch !== '\\') {
      bytes.push(...Buffer.from(ch, 'utf8'));
      continue;
    }
    const next = s[i + 1];
    if (next !== undefined && /[0-3]/.test(next) && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (next !== undefined && C_ESCAPES[next] !== undefined) {
      bytes.push(C_ESCAPES[next]);
      i += 1;
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** One path token of a header line, quoted or not, without its `a/` or `b/` prefix. */
function headerPath(raw: string, prefix: 'a/' | 'b/' | ''): string | undefined {
  let path: string;
  if (raw.startsWith('"')) {
    const q = unquote(raw);
    if (q === undefined || q.rest !== '') return undefined;
    path = q.path;
  } else {
    // Unquoted names hold no tab (git quotes them); what follows a tab is a timestamp.
    path = raw.split('\t')[0]!;
  }
  if (!path.startsWith(prefix)) return undefined;
  return path.slice(prefix.length);
}

/** The two paths of `diff --git A B` when they can be told apart (quoted, or equal halves). */
function gitHeaderPaths(rest: string): string[] | undefined {
  if (rest.startsWith('"')) {
    const a = unquote(rest);
    if (a === undefined || !a.rest.startsWith(' ')) return undefined;
    const bRaw = a.rest.slice(1);
    const b = headerPath(bRaw, 'b/');
    if (!a.path.startsWith('a/') || b === undefined) return undefined;
    return [a.path.slice(2), b];
  }
  const quoteAt = rest.indexOf(' "');
  if (quoteAt > 0) {
    const a = headerPath(rest.slice(0, quoteAt), 'a/');
    const b = headerPath(rest.slice(quoteAt + 1), 'b/');
    return a !== undefined && b !== undefined ? [a, b] : undefined;
  }
  if (rest.length % 2 === 1) {
    const half = (rest.length - 1) / 2;
    const a = rest.slice(0, half);
    if (rest === `${a} b/${a.slice(2)}` && a.startsWith('a/')) return [a.slice(2), a.slice(2)];
  }
  return undefined;
}

/**
 * §2.3.6: the distinct paths a `git diff` touches, in order of first appearance, every one
 * checked by patchPathProblem. The diff must be git's: it starts with `diff --git`, every line
 * outside a hunk is a header git writes, and hunks are skipped by their line counts (so a
 * removed line that reads `--- a/x` is not a header). Refuses symbolic links and submodules.
 */
export function patchPaths(diff: string): PatchPaths {
  const fail = (reason: string): PatchPaths => ({ ok: false, reason });
  const lines = diff.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0 || !lines[0]!.startsWith('diff --git ')) return fail('the diff must start with a "diff --git" line');
  const paths: string[] = [];
  const add = (p: string): string | undefined => {
    const problem = patchPathProblem(p);
    if (problem !== undefined) return problem;
    if (!paths.includes(p)) paths.push(p);
    return undefined;
  };
  let sectionPaths = 0;
  let oldLeft = 0;
  let newLeft = 0;
  let binary = false;
  const endSection = (): string | undefined => (sectionPaths === 0 ? 'a "diff --git" section names no path that can be read' : undefined);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.endsWith('\r') ? lines[n]!.slice(0, -1) : lines[n]!;
    if (oldLeft > 0 || newLeft > 0) {
      const c = line[0];
      if (c === ' ' || line === '') { oldLeft--; newLeft--; }
      else if (c === '-') oldLeft--;
      else if (c === '+') newLeft--;
      else if (c !== '\\') return fail(`line ${n + 1} is not a line of its hunk`);
      if (oldLeft < 0 || newLeft < 0) return fail(`line ${n + 1} runs past its hunk's line counts`);
      continue;
    }
    if (line.startsWith('\\')) continue; // "\ No newline at end of file" after a hunk's last line
    if (line.startsWith('diff --git ')) {
      const problem = n > 0 ? endSection() : undefined;
      if (problem !== undefined) return fail(problem);
      sectionPaths = 0;
      binary = false;
      const both = gitHeaderPaths(line.slice('diff --git '.length));
      for (const p of both ?? []) {
        const bad = add(p);
        if (bad !== undefined) return fail(bad);
        sectionPaths++;
      }
      continue;
    }
    if (binary) continue; // the base85 lines of a "GIT binary patch", up to the next section
    if (SYMLINK_OR_SUBMODULE.test(line)) return fail('the diff creates or changes a symbolic link or a submodule');
    if (HEADER_LINE.test(line)) continue;
    if (line === 'GIT binary patch') { binary = true; continue; }
    const hunk = HUNK.exec(line);
    if (hunk !== null) {
      oldLeft = hunk[1] === undefined ? 1 : Number(hunk[1]);
      newLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
      continue;
    }
    const named = /^(---|\+\+\+|rename from|rename to|copy from|copy to) (.*)$/.exec(line);
    if (named === null) return fail(`line ${n + 1} is not a line git diff writes`);
    const kind = named[1]!;
    const raw = named[2]!;
    if ((kind === '---' || kind === '+++') && raw === '/dev/null') continue;
    const prefix = kind === '---' ? 'a/' : kind === '+++' ? 'b/' : '';
    const p = headerPath(raw, prefix);
    if (p === undefined) return fail(`line ${n + 1} names a path that cannot be read`);
    const bad = add(p);
    if (bad !== undefined) return fail(bad);
    sectionPaths++;
  }
  if (oldLeft > 0 || newLeft > 0) return fail('the last hunk is cut short');
  const problem = endSection();
  return problem === undefined ? { ok: true, paths } : fail(problem);
}
