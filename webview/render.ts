// DOM for one timeline item. Every network string goes in as a text node, or through
// renderMarkdown + sanitizedFragment; nothing sender-controlled is ever set as innerHTML
// directly, and no attribute takes a sender-controlled value except a checked link href.
import type { ChatItem } from '../src/shared/messages';
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
  if (item.type === 'text') {
    const body = el('div', 'body');
    body.append(sanitizedFragment(markdownFor(item.text ?? '')));
    article.append(body);
  } else if (item.type === 'snippet') {
    if (item.text) {
      const body = el('div', 'body');
      body.append(sanitizedFragment(markdownFor(item.text)));
      article.append(body);
    }
    article.append(snippetBlock(item));
  } else {
    article.append(el('div', 'body unsupported', `(a "${visibleLine(item.type).slice(0, 32)}" message this version cannot show)`));
  }
  if (item.own) article.append(ownStatus(item));
  return article;
}

/** What decides whether an item's element must be rebuilt. */
export function itemSignature(item: ChatItem, groupStart: boolean): string {
  return `${item.state}|${item.waiting ? 1 : 0}|${item.seq ?? ''}|${groupStart ? 1 : 0}|${item.keyChanged ? 1 : 0}|${item.identityVerified === true ? 1 : 0}|${item.error ?? ''}`;
}
