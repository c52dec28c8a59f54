// Markdown for chat messages: markdown-it with raw HTML off, links limited to http(s) and
// mailto, images disabled (a Markdown image is a beacon: it would fetch a remote URL the
// moment a message is shown; the CSP blocks it too, this keeps it from even being tried).
// The output is an HTML string that contains no element or attribute the sender chose:
// markdown-it escapes every `<`, and the only attributes it emits are href/title on links,
// class on fenced code, table cells (alignment) and start on ordered lists. The webview
// re-checks it (sanitize.ts).
import MarkdownIt from 'markdown-it';
import type { MarkdownIt as MarkdownItInstance, Token } from 'markdown-it';
import { neutraliseBidi } from './text';

const ALLOWED_SCHEMES = /^(https?:\/\/|mailto:)/i;

/**
 * Containers (quotes, list items) rendered one inside another at most. markdown-it stops
 * parsing at its nesting limit and drops the text (`>`×1000 + text rendered an empty bar),
 * and a deep stack of boxes leaves no width for the text anyway: deeper markers on a line are
 * folded into the deepest allowed level, the text is kept.
 */
export const MAX_NESTING = 8;

/** The container markers a line opens with: `>`, `-`/`*`/`+` or `1.`/`1)` each followed by space. */
const CONTAINER_PREFIX = /^[ \t]{0,3}(?:(?:>|[-*+][ \t]|\d{1,9}[.)][ \t])[ \t]*)+/;
const ONE_MARKER = /(?:>|[-*+][ \t]|\d{1,9}[.)][ \t])[ \t]*/g;

/** Folds every line's container markers beyond MAX_NESTING into the last allowed one. */
export function capNesting(source: string, max = MAX_NESTING): string {
  if (!/(?:[>*+-]|\d[.)])[ \t]*(?:[>*+-]|\d[.)])/.test(source)) return source;
  return source.split('\n').map((line) => {
    const prefix = CONTAINER_PREFIX.exec(line)?.[0];
    if (!prefix) return line;
    const markers = prefix.match(ONE_MARKER) ?? [];
    if (markers.length <= max) return line;
    const lead = /^[ \t]*/.exec(prefix)?.[0] ?? '';
    return lead + markers.slice(0, max).join('') + line.slice(prefix.length);
  }).join('\n');
}

const ALIGNMENTS = new Set(['left', 'center', 'right']);

/**
 * markdown-it aligns table cells with style="text-align:…", which the panel's CSP refuses
 * (one violation per cell): the cell gets class="align-…" instead (media/webview.css).
 */
function alignWithClass(token: Token): void {
  const style = token.attrGet('style');
  if (typeof style !== 'string') return;
  token.attrs = (token.attrs ?? []).filter(([name]) => name !== 'style');
  const align = /^text-align:\s*([a-z]+)$/.exec(style.trim())?.[1];
  if (align && ALIGNMENTS.has(align)) token.attrSet('class', `align-${align}`);
}

export function isAllowedLink(url: string): boolean {
  // markdown-it passes the normalised (percent-encoded) URL; control characters and spaces
  // are encoded by then, so a scheme check on the start is exact.
  return ALLOWED_SCHEMES.test(url.trim());
}

function createRenderer(): MarkdownItInstance {
  // maxNesting: lists nested by indentation alone are not folded by capNesting; 16 KiB of
  // indentation nests at most ~127 lists (level n needs 2n spaces), i.e. ~254 levels of tokens.
  // Above markdown-it's default of 100 so their text is kept; sanitize.ts unwraps the depth.
  const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false, maxNesting: 300 });
  md.disable(['image']);
  md.validateLink = isAllowedLink;
  // Links never navigate the webview: the panel intercepts clicks and asks the host, which
  // asks the user (openLink). rel/noopener in case anything ever lets a click through.
  const defaultLinkOpen = md.renderer.rules.link_open;
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    const token = tokens[idx];
    if (token) {
      token.attrSet('rel', 'noopener noreferrer nofollow');
      token.attrSet('class', 'md-link');
    }
    return defaultLinkOpen ? defaultLinkOpen(tokens, idx, options, env, self) : self.renderToken(tokens, idx, options);
  };
  for (const rule of ['th_open', 'td_open'] as const) {
    md.renderer.rules[rule] = (tokens, idx, options, _env, self) => {
      const token = tokens[idx];
      if (token) alignWithClass(token);
      return self.renderToken(tokens, idx, options);
    };
  }
  return md;
}

let renderer: MarkdownItInstance | undefined;

/** Renders one message's Markdown to inert HTML; bidi controls become visible first. */
export function renderMarkdown(source: string): string {
  renderer ??= createRenderer();
  return renderer.render(capNesting(neutraliseBidi(source)));
}
