// DOM for one timeline item. Every network string goes in as a text node, or through
// renderMarkdown + sanitizedFragment; nothing sender-controlled is ever set as innerHTML
// directly, and no attribute takes a sender-controlled value except a checked link href.
import type { ChatItem, FileView, PatchView, ReplyView } from '../src/shared/messages';
import { diffLineClass, findCodeRefs, findMentionSpans, formatBytes } from './features';
import { highlight } from './highlight';
import { renderMarkdown } from './markdown';
import { sanitizedFragment } from './sanitize';
import { displayName, formatTime, neutraliseBidi, visibleLine } from './text';
import { renderMembership } from './members';

/**
 * Rendered Markdown by source text: items leaving and re-entering the window are not parsed
 * again. Only short sources are kept, so the cache stays small (3 000 × 2 KB at most).
 */
const markdownCache = new Map<string, string>();
const MARKDOWN_CACHE_SIZE = 3_000;
const MARKDOWN_CACHE_MAX_SOURCE = 2_048;

function markdownFor(source: string): string {
  if (source.length > MARKDOWN_CACHE_MAX_SOURCE) return renderMarkdown(source);
  let html = markdownCache.get(source);
  if (html === undefined) {
    html = renderMarkdown(source);
    if (markdownCache.size >= MARKDOWN_CACHE_SIZE) {
      const oldest = markdownCache.keys().next().value;
      if (oldest !== undefined) markdownCache.delete(oldest);
    }
    markdownCache.set(source, html);
  }
  return html;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(className: string, label: string, icon: string, secondary = true): HTMLElement {
  const b = document.createElement('vscode-button');
  b.className = className;
  b.setAttribute('icon', icon);
  if (secondary) b.setAttribute('secondary', '');
  b.setAttribute('aria-label', label);
  b.textContent = label;
  return b;
}

export function codicon(name: string, label?: string): HTMLElement {
  const i = el('span', `codicon codicon-${name}`);
  if (label) {
    i.setAttribute('role', 'img');
    i.setAttribute('aria-label', label);
  } else {
    i.setAttribute('aria-hidden', 'true');
  }
  return i;
}

/**
 * Whether the user verified this sender (Verify…, fingerprints compared over another channel),
 * as Element's shields show it: a filled check for verified, an outlined shield for not yet.
 */
export function identityBadge(name: string, verified: boolean): HTMLElement {
  const badge = el('span', verified ? 'identity-verified' : 'identity-unverified');
  if (verified) {
    badge.append(codicon('verified-filled'), document.createTextNode(' verified'));
    badge.title = `You verified ${displayName(name)}'s fingerprint.`;
  } else {
    badge.append(codicon('unverified'), document.createTextNode(' unverified'));
    badge.title = `You have not verified ${displayName(name)}: anyone can use a name. Compare fingerprints with Verify… in the member list.`;
  }
  return badge;
}

function senderHeader(item: ChatItem, now: number): HTMLElement {
  const header = el('header', 'sender');
  header.append(el('span', 'name', displayName(item.name)));
  const fp = el('span', 'fingerprint', item.shortFingerprint);
  fp.title = `Fingerprint ${item.fingerprint}`;
  header.append(fp);
  const time = el('time', 'time', formatTime(item.ts, now));
  time.dateTime = new Date(item.ts).toISOString();
  time.title = new Date(item.ts).toLocaleString();
  header.append(time);
  if (!item.own) header.append(identityBadge(item.name, item.identityVerified === true));
  if (item.keyChanged) {
    const warn = el('span', 'key-changed');
    warn.append(codicon('warning'), document.createTextNode(' key changed'));
    warn.title = `${displayName(item.name)} now signs with another key (${item.fingerprint}). Compare it with them over another channel before trusting it.`;
    header.append(warn);
    const verify = button('verify-member', 'Verify…', 'verified');
    verify.dataset.name = item.name;
    verify.dataset.fingerprint = item.fingerprint;
    header.append(verify);
  }
  return header;
}

function snippetBlock(item: ChatItem): HTMLElement {
  const s = item.snippet;
  const fig = el('figure', 'snippet');
  if (!s) return fig;
  const caption = el('figcaption');
  const where = el('span', 'snippet-path', `${visibleLine(s.path)}:${s.start}${s.end !== s.start ? `–${s.end}` : ''}`);
  caption.append(codicon('file-code'), where, el('span', 'snippet-lang', visibleLine(s.lang)));
  const open = button('open-snippet', 'Open in editor', 'go-to-file');
  open.title = `Open ${visibleLine(s.path)} at line ${s.start} in your workspace`;
  caption.append(open);
  fig.append(caption);
  const pre = el('pre', 'code');
  const code = el('code');
  for (const t of highlight(neutraliseBidi(s.code), s.lang)) {
    if (t.cls) code.append(el('span', `tok-${t.cls}`, t.text));
    else code.append(document.createTextNode(t.text));
  }
  pre.append(code);
  pre.tabIndex = 0;
  pre.setAttribute('aria-label', `Code from ${visibleLine(s.path)}, lines ${s.start} to ${s.end}`);
  fig.append(pre);
  return fig;
}

function ownStatus(item: ChatItem): HTMLElement {
  const status = el('div', 'status');
  if (item.state === 'sending') status.append(codicon('loading codicon-modifier-spin'), document.createTextNode(' sending…'));
  else if (item.state === 'sent') status.append(codicon('check', 'sent'));
  else if (item.state === 'failed' && item.waiting) {
    status.append(codicon('clock'), document.createTextNode(' waiting for the relay'));
    status.title = 'Kept here and sent by itself once the relay is reachable again.';
  } else if (item.state === 'failed') {
    status.append(codicon('error'), document.createTextNode(` not sent${item.error ? `: ${item.error}` : ''} `));
    status.append(button('retry', 'Retry sending', 'refresh'));
    status.setAttribute('role', 'alert');
  }
  return status;
}

/** The element for one item; `groupStart` shows the sender header above it. */
export function renderItem(item: ChatItem, groupStart: boolean, now: number): HTMLElement {
  if (item.kind === 'membership') return renderMembership(item);
  const article = el('article', 'message');
  article.dataset.key = item.key;
  article.dataset.state = item.state;
  if (item.waiting) article.dataset.waiting = 'true';
  article.dataset.kind = item.kind;
  if (item.own) article.classList.add('own');
  if (groupStart) article.classList.add('group-start');

  if (item.kind === 'unverifiable') {
    article.classList.add('unverifiable');
    article.append(codicon('shield'), el('span', 'unverifiable-text', ' A message could not be verified and is not shown.'));
    return article;
  }
  if (groupStart) article.append(senderHeader(item, now));
  else {
    // Screen readers read items one by one: keep the sender in each, off screen.
    article.append(el('span', 'sr-only', `${displayName(item.name)}, ${formatTime(item.ts, now)}: `));
  }
  if (item.mentionsMe) article.classList.add('mentions-me');
  if (item.deleted) {
    article.classList.add('deleted');
    article.append(el('div', 'body deleted-text', 'This message was deleted.'));
    if (item.own) article.append(ownStatus(item));
    return article;
  }
  if (item.reply) article.append(replyQuote(item.reply));
  const textBody = (): HTMLElement => {
    const body = el('div', 'body');
    body.append(sanitizedFragment(markdownFor(item.text ?? '')));
    decorateText(body, item.mentionNames ?? []);
    if (item.edited) body.append(el('span', 'edited', ' (edited)'));
    return body;
  };
  if (item.type === 'text') {
    article.append(textBody());
  } else if (item.type === 'snippet' || item.type === 'file' || item.type === 'patch') {
    if (item.text) article.append(textBody());
    else if (item.edited) article.append(el('span', 'edited', '(edited)'));
    if (item.type === 'snippet') article.append(snippetBlock(item));
    else if (item.type === 'file' && item.file) article.append(fileBlock(item.key, item.file));
    else if (item.type === 'patch' && item.patch) article.append(patchBlock(item.patch));
  } else {
    article.append(el('div', 'body unsupported', `(a "${visibleLine(item.type).slice(0, 32)}" message this version cannot show)`));
  }
  if (item.reactions && item.reactions.length > 0) article.append(reactionBar(item));
  if (['text', 'snippet', 'file', 'patch'].includes(item.type)) article.append(actionBar(item));
  if (item.own) article.append(ownStatus(item));
  return article;
}

// ---- chat features (docs/protocol.md §2.3.1-2.3.6) ---------------------------------------

/** §2.3.1: the quoted original, plain text only (never Markdown or HTML); a click jumps to it. */
function replyQuote(r: ReplyView): HTMLElement {
  const b = el('button', 'reply-quote');
  b.type = 'button';
  b.dataset.to = r.to;
  b.append(codicon('reply'));
  if (r.name !== undefined) b.append(el('span', 'reply-name', displayName(r.name)));
  b.append(el('span', 'reply-text', r.deleted ? 'deleted message' : visibleLine(r.quote) || '(no text)'));
  if (r.mismatch) {
    const warn = el('span', 'key-changed', ' (the reply names another sender)');
    warn.title = 'The replier claimed this was sent by another key than the one that signed it.';
    b.append(warn);
  }
  b.title = 'Show the original message';
  return b;
}

/**
 * Code references (`src/x.ts:12`) and bound @mentions in the text nodes of a rendered body, not
 * inside links or code blocks: a reference becomes a button whose data attributes hold only
 * the characters findCodeRefs allows; a mention a span.
 */
function decorateText(root: HTMLElement, mentionNames: readonly string[]): void {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = (n as Text).parentElement;
    if (parent && !parent.closest('a, pre')) nodes.push(n as Text);
  }
  for (const node of nodes) {
    const text = node.data;
    const refs = findCodeRefs(text).map((r) => ({ ...r, kind: 'ref' as const }));
    const mentions = findMentionSpans(text, mentionNames).map((m) => ({ ...m, kind: 'mention' as const, path: '', line: 0 }));
    const spans = [...refs, ...mentions].sort((a, b) => a.start - b.start).filter((s, i, all) => i === 0 || s.start >= all[i - 1]!.end);
    if (spans.length === 0) continue;
    const frag = document.createDocumentFragment();
    let at = 0;
    for (const s of spans) {
      if (s.start > at) frag.append(document.createTextNode(text.slice(at, s.start)));
      if (s.kind === 'ref') {
        const b = el('button', 'code-ref', text.slice(s.start, s.end));
        b.type = 'button';
        b.dataset.path = s.path;
        b.dataset.line = String(s.line);
        b.title = `Open ${s.path} at line ${s.line} in your workspace`;
        frag.append(b);
      } else {
        frag.append(el('span', 'mention', text.slice(s.start, s.end)));
      }
      at = s.end;
    }
    if (at < text.length) frag.append(document.createTextNode(text.slice(at)));
    node.replaceWith(frag);
  }
}

function fileBlock(key: string, f: FileView): HTMLElement {
  const fig = el('figure', 'file');
  fig.dataset.state = f.state;
  const caption = el('figcaption');
  caption.append(codicon(f.mime.startsWith('image/') ? 'file-media' : 'file'), el('span', 'file-name', visibleLine(f.name)), el('span', 'file-size', formatBytes(f.size)));
  if (f.state === 'complete') caption.append(button('save-file', 'Save…', 'save'));
  fig.append(caption);
  if (f.state === 'receiving' || f.state === 'sending') {
    const p = el('div', 'file-progress');
    const bar = document.createElement('progress');
    bar.max = Math.max(1, f.chunks);
    bar.value = f.received;
    p.append(bar, document.createTextNode(` ${f.chunks - f.received} of ${f.chunks} parts missing`));
    fig.append(p);
  } else if (f.state === 'failed') {
    const p = el('div', 'file-failed');
    p.setAttribute('role', 'alert');
    p.append(codicon('error'), document.createTextNode(` ${f.error ?? 'This file could not be verified.'} Nothing of it was kept.`));
    fig.append(p);
  }
  if (f.image) {
    // Filled by main.ts from the bytes the host hands over (never a URL; the CSP stays as it is).
    const holder = el('div', 'image-preview');
    holder.dataset.key = key;
    holder.setAttribute('role', 'img');
    holder.setAttribute('aria-label', `Image ${visibleLine(f.name)}`);
    fig.append(holder);
  }
  return fig;
}

function patchBlock(p: PatchView): HTMLElement {
  const fig = el('figure', 'patch');
  const caption = el('figcaption');
  caption.append(codicon('diff'), el('span', 'patch-summary', `Patch: ${p.paths.length} file${p.paths.length === 1 ? '' : 's'}${p.root ? ` in ${visibleLine(p.root)}` : ''}`));
  caption.append(button('preview-patch', 'Preview', 'diff'), button('apply-patch', 'Apply…', 'check'));
  fig.append(caption);
  const list = el('ul', 'patch-paths');
  for (const path of p.paths) list.append(el('li', undefined, visibleLine(path)));
  fig.append(list);
  const pre = el('pre', 'diff');
  const lines = neutraliseBidi(p.diff).split('\n');
  for (const line of lines.slice(0, 400)) pre.append(el('span', `diff-${diffLineClass(line)}`, `${line}\n`));
  if (lines.length > 400) pre.append(el('span', 'diff-meta', `… ${lines.length - 400} more lines (Preview shows all)`));
  pre.tabIndex = 0;
  fig.append(pre);
  return fig;
}

function reactionBar(item: ChatItem): HTMLElement {
  const bar = el('div', 'reactions');
  for (const r of item.reactions ?? []) {
    const b = el('button', r.mine ? 'reaction mine' : 'reaction');
    b.type = 'button';
    b.dataset.emoji = r.emoji;
    b.setAttribute('aria-pressed', String(r.mine));
    b.title = `${r.names.map(displayName).join(', ')} reacted with ${r.emoji}${r.mine ? ' (click to remove yours)' : ''}`;
    b.append(el('span', 'emoji', r.emoji), el('span', 'count', String(r.count)));
    bar.append(b);
  }
  return bar;
}

function actionButton(cls: string, label: string, icon: string): HTMLElement {
  const b = el('button', `act ${cls}`);
  b.type = 'button';
  b.title = label;
  b.setAttribute('aria-label', label);
  b.append(codicon(icon));
  return b;
}

/** Reply, react, and for one's own messages edit and delete; shown on hover and focus. */
function actionBar(item: ChatItem): HTMLElement {
  const bar = el('div', 'actions');
  bar.append(actionButton('act-reply', 'Reply', 'reply'), actionButton('act-react', 'React', 'reactions'));
  if (item.own && item.state !== 'failed') {
    bar.append(actionButton('act-edit', 'Edit', 'edit'), actionButton('act-delete', 'Delete', 'trash'));
  }
  return bar;
}

/** What decides whether an item's element must be rebuilt. */
export function itemSignature(item: ChatItem, groupStart: boolean): string {
  const base = `${item.state}|${item.waiting ? 1 : 0}|${item.seq ?? ''}|${groupStart ? 1 : 0}|${item.keyChanged ? 1 : 0}|${item.identityVerified === true ? 1 : 0}|${item.error ?? ''}`;
  // The chat features change an item in place (an edit, a reaction, a file's progress).
  if (!item.edited && !item.deleted && !item.reactions && !item.file && !item.reply) return base;
  return `${base}|${JSON.stringify([item.edited, item.deleted, item.edited ? item.text : '', item.reactions, item.file, item.reply])}`;
}
