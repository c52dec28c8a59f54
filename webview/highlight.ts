// A small, dependency-free syntax highlighter for snippets. Why not highlight.js: its core plus
// a useful set of languages adds 60-100 KB to the webview bundle and highlights only what it
// has grammars for anyway; chat snippets are short and need comments, strings, numbers and
// keywords to be readable, which a table-driven scanner gives in a few KB. The output is a list
// of tokens that the panel turns into text nodes (never HTML), so nothing here can inject.

export type TokenClass = 'comment' | 'string' | 'number' | 'keyword' | 'literal' | 'type' | 'punct';
export interface Token { text: string; cls?: TokenClass }

interface Grammar {
  lineComment?: string[];
  blockComment?: [string, string][];
  strings: string[];
  /** Triple-quoted strings (Python) or template strings (JS) that may span lines. */
  multiLineStrings?: string[];
  keywords: Set<string>;
  literals: Set<string>;
  /** Identifiers starting with an uppercase letter are types (C-like languages). */
  capitalisedTypes?: boolean;
  caseInsensitive?: boolean;
  /** CSS, YAML and shell words may contain '-'. */
  dashInIdent?: boolean;
}

const words = (s: string): Set<string> => new Set(s.split(/\s+/).filter(Boolean));

const C_LIKE_LITERALS = words('true false null undefined nil this self super NaN Infinity None True False');

const GRAMMARS: Record<string, Grammar> = {
  ts: {
    lineComment: ['//'], blockComment: [['/*', '*/']], strings: ['"', "'"], multiLineStrings: ['`'],
    keywords: words(`abstract as async await break case catch class const continue debugger declare default delete
      do else enum export extends finally for from function get if implements import in instanceof interface
      keyof let module namespace new of override private protected public readonly return satisfies set static
      switch throw try type typeof var void while with yield`),
    literals: C_LIKE_LITERALS, capitalisedTypes: true,
  },
  python: {
    lineComment: ['#'], strings: ['"', "'"], multiLineStrings: ['"""', "'''"],
    keywords: words(`and as assert async await break class continue def del elif else except finally for from global
      if import in is lambda match case nonlocal not or pass raise return try while with yield`),
    literals: words('True False None self cls'), capitalisedTypes: true,
  },
  go: {
    lineComment: ['//'], blockComment: [['/*', '*/']], strings: ['"', "'"], multiLineStrings: ['`'],
    keywords: words(`break case chan const continue default defer else fallthrough for func go goto if import interface
      map package range return select struct switch type var`),
    literals: words('true false nil iota'), capitalisedTypes: true,
  },
  rust: {
    lineComment: ['//'], blockComment: [['/*', '*/']], strings: ['"'],
    keywords: words(`as async await break const continue crate dyn else enum extern fn for if impl in let loop match mod
      move mut pub ref return static struct trait type unsafe use where while`),
    literals: words('true false self Self None Some Ok Err'), capitalisedTypes: true,
  },
  c: {
    lineComment: ['//'], blockComment: [['/*', '*/']], strings: ['"', "'"],
    keywords: words(`auto break case catch char class const constexpr continue default delete do double else enum
      explicit extern final float for friend goto if inline int long namespace new noexcept operator override
      private protected public register return short signed sizeof static struct switch template throw try
      typedef typename union unsigned using virtual void volatile while abstract boolean byte extends
      implements import instanceof interface package synchronized throws transient var val fun when object
      data sealed internal lateinit is in out string bool decimal foreach lock readonly ref sbyte uint ulong
      ushort async await let func guard protocol extension struct`),
    literals: words('true false null nullptr NULL this super self nil'), capitalisedTypes: true,
  },
  shell: {
    lineComment: ['#'], strings: ['"', "'"],
    keywords: words('if then else elif fi for while until do done case esac in function return local export set unset echo exit'),
    literals: words('true false'), dashInIdent: true,
  },
  json: { strings: ['"'], keywords: words(''), literals: words('true false null') },
  css: {
    blockComment: [['/*', '*/']], strings: ['"', "'"],
    keywords: words('@media @import @supports @keyframes @font-face !important'), literals: words(''), dashInIdent: true,
  },
  sql: {
    lineComment: ['--'], blockComment: [['/*', '*/']], strings: ["'", '"'], caseInsensitive: true,
    keywords: words(`select from where and or not insert into values update set delete create table index view drop
      alter add join left right inner outer full on group by order having limit offset as distinct union all
      primary key foreign references begin commit rollback case when then else end is in like between exists`),
    literals: words('null true false'),
  },
  yaml: { lineComment: ['#'], strings: ['"', "'"], keywords: words(''), literals: words('true false null yes no on off ~'), dashInIdent: true },
};

const ALIASES: Record<string, string> = {
  typescript: 'ts', typescriptreact: 'ts', javascript: 'ts', javascriptreact: 'ts', js: 'ts', jsx: 'ts', tsx: 'ts',
  mjs: 'ts', cjs: 'ts', py: 'python', golang: 'go', rs: 'rust', cpp: 'c', 'c++': 'c', h: 'c', hpp: 'c', java: 'c',
  csharp: 'c', cs: 'c', kotlin: 'c', kt: 'c', swift: 'c', dart: 'c', php: 'c', scala: 'c', objectivec: 'c',
  shellscript: 'shell', sh: 'shell', bash: 'shell', zsh: 'shell', jsonc: 'json', scss: 'css', less: 'css',
  yml: 'yaml', dockerfile: 'shell', makefile: 'shell', powershell: 'shell', ruby: 'python', rb: 'python',
};

export function grammarFor(lang: string): Grammar | undefined {
  const id = lang.toLowerCase();
  return GRAMMARS[ALIASES[id] ?? id];
}

const IDENT = /[A-Za-z_$@][\w$]*/y;
const IDENT_DASH = /[A-Za-z_$@][\w$-]*/y;
const NUMBER = /(0[xX][\da-fA-F_]+|0[bB][01_]+|\d[\d_]*(\.\d[\d_]*)?([eE][+-]?\d+)?)[a-zA-Z]*/y;
const PUNCT = /[{}()[\];,.:<>=+\-*/%!&|^~?]+/y;

function matchAt(re: RegExp, code: string, i: number): string | undefined {
  re.lastIndex = i;
  const m = re.exec(code);
  return m ? m[0] : undefined;
}

/** Splits `code` into tokens; concatenating every token's text gives `code` back exactly. */
export function highlight(code: string, lang: string): Token[] {
  const g = grammarFor(lang);
  if (!g) return [{ text: code }];
  const out: Token[] = [];
  let plain = '';
  const push = (text: string, cls?: TokenClass): void => {
    if (cls === undefined) {
      plain += text;
      return;
    }
    if (plain) out.push({ text: plain });
    plain = '';
    out.push({ text, cls });
  };
  let i = 0;
  const n = code.length;
  outer: while (i < n) {
    for (const lc of g.lineComment ?? []) {
      if (code.startsWith(lc, i)) {
        const end = code.indexOf('\n', i);
        const stop = end === -1 ? n : end;
        push(code.slice(i, stop), 'comment');
        i = stop;
        continue outer;
      }
    }
    for (const [open, close] of g.blockComment ?? []) {
      if (code.startsWith(open, i)) {
        const end = code.indexOf(close, i + open.length);
        const stop = end === -1 ? n : end + close.length;
        push(code.slice(i, stop), 'comment');
        i = stop;
        continue outer;
      }
    }
    for (const q of [...(g.multiLineStrings ?? []), ...g.strings]) {
      if (code.startsWith(q, i)) {
        const multi = g.multiLineStrings?.includes(q) ?? false;
        let j = i + q.length;
        while (j < n) {
          if (code[j] === '\\') { j += 2; continue; }
          if (code.startsWith(q, j)) { j += q.length; break; }
          if (!multi && code[j] === '\n') break;
          j++;
        }
        const stop = Math.min(j, n);
        push(code.slice(i, stop), 'string');
        i = stop;
        continue outer;
      }
    }
    const ch = code[i] ?? '';
    if (/\d/.test(ch)) {
      const num = matchAt(NUMBER, code, i);
      if (num) { push(num, 'number'); i += num.length; continue; }
    }
    const ident = matchAt(g.dashInIdent ? IDENT_DASH : IDENT, code, i);
    if (ident) {
      const w = g.caseInsensitive ? ident.toLowerCase() : ident;
      if (g.keywords.has(w)) push(ident, 'keyword');
      else if (g.literals.has(w)) push(ident, 'literal');
      else if (g.capitalisedTypes && /^[A-Z][a-z0-9]/.test(ident)) push(ident, 'type');
      else push(ident);
      i += ident.length;
      continue;
    }
    const punct = matchAt(PUNCT, code, i);
    if (punct) { push(punct, 'punct'); i += punct.length; continue; }
    push(ch);
    i += 1;
  }
  if (plain) out.push({ text: plain });
  return out;
}
