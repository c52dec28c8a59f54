// Defence in depth behind markdown.ts: the HTML that markdown-it produced is parsed into an
// inert <template> and rebuilt keeping only the elements and attributes that Markdown can
// produce. Anything else (which markdown-it with html:false should never emit) is dropped,
// its text kept. Inline `style` attributes are dropped too: the CSP forbids them (table
// alignment arrives as class="align-…", markdown.ts). Links keep their target in data-href
// only. Elements nested deeper than MAX_DEPTH are unwrapped (their text kept): a deep stack of
// boxes leaves no width to read in.
import { isAllowedLink } from './markdown';

const ALLOWED_TAGS = new Set([
  'P', 'BR', 'EM', 'STRONG', 'S', 'DEL', 'CODE', 'PRE', 'BLOCKQUOTE', 'UL', 'OL', 'LI', 'A', 'HR',
  'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD',
]);
const ALLOWED_ATTRS: Record<string, Set<string>> = {
  A: new Set(['href', 'title', 'rel', 'class']),
  OL: new Set(['start']),
  CODE: new Set(['class']),
  TH: new Set(['class']),
  TD: new Set(['class']),
};
/** Classes a table cell may carry: its alignment, nothing else. */
const CELL_CLASSES = /^align-(left|center|right)$/;
/** Elements inside elements, at most; markdown.ts caps quotes and lists well below this. */
export const MAX_DEPTH = 24;

function cleanInto(source: Node, target: Node, doc: Document, depth = 0): void {
  for (const child of Array.from(source.childNodes)) {
    if (child.nodeType === Node.TEXT_NODE) {
      target.appendChild(doc.createTextNode(child.textContent ?? ''));
    } else if (child.nodeType === Node.ELEMENT_NODE) {
      const el = child as Element;
      if (!ALLOWED_TAGS.has(el.tagName) || depth >= MAX_DEPTH) {
        cleanInto(el, target, doc, depth);
        continue;
      }
      const copy = doc.createElement(el.tagName.toLowerCase());
      const allowed = ALLOWED_ATTRS[el.tagName];
      for (const attr of Array.from(el.attributes)) {
        if (!allowed?.has(attr.name)) continue;
        if (attr.name === 'href') {
          // The link target goes to data-href, never href: VS Code's webview frame opens any
          // clicked <a href> itself, without asking. The panel asks the host instead (openLink),
          // and the host asks the user.
          if (!isAllowedLink(attr.value)) continue;
          copy.setAttribute('data-href', attr.value);
          copy.setAttribute('title', attr.value);
          copy.setAttribute('role', 'link');
          copy.setAttribute('tabindex', '0');
          continue;
        }
        if (attr.name === 'title' && el.hasAttribute('href')) continue;
        if ((el.tagName === 'TH' || el.tagName === 'TD') && !CELL_CLASSES.test(attr.value)) continue;
        copy.setAttribute(attr.name, attr.value);
      }
      cleanInto(el, copy, doc, depth + 1);
      target.appendChild(copy);
    }
  }
}

export function sanitizedFragment(html: string, doc: Document = document): DocumentFragment {
  const template = doc.createElement('template');
  template.innerHTML = html;
  const out = doc.createDocumentFragment();
  cleanInto(template.content, out, doc);
  return out;
}
