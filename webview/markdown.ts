// Markdown for chat messages: markdown-it with raw HTML off, links limited to http(s) and
// mailto, images disabled (a Markdown image is a beacon: it would fetch a remote URL the
// moment a message is shown; the CSP blocks it too, this keeps it from even being tried).
// The output is an HTML string that contains no element or attribute the sender chose:
// markdown-it escapes every `<`, and the only attributes it emits are href/title on links,
// class on fenced code and start on ordered lists. The webview re-checks it (sanitize.ts).
import MarkdownIt from 'markdown-it';
import type { MarkdownIt as MarkdownItInstance } from 'markdown-it';
import { neutraliseBidi } from './text';

const ALLOWED_SCHEMES = /^(https?:\/\/|mailto:)/i;

export function isAllowedLink(url: string): boolean {
  // markdown-it passes the normalised (percent-encoded) URL; control characters and spaces
  // are encoded by then, so a scheme check on the start is exact.
  return ALLOWED_SCHEMES.test(url.trim());
}

function createRenderer(): MarkdownItInstance {
  const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false });
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
  return md;
}

let renderer: MarkdownItInstance | undefined;

/** Renders one message's Markdown to inert HTML; bidi controls become visible first. */
export function renderMarkdown(source: string): string {
  renderer ??= createRenderer();
  return renderer.render(neutraliseBidi(source));
}
