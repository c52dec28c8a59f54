// The quote of a reply (docs/protocol.md §2.3.1): a short plain-text excerpt of the original,
// shown as plain text (never Markdown or HTML). The receiver's rule refuses what could change
// how the text around it reads (newlines, NUL, escape sequences, bidi embeddings and overrides);
// markup is not refused, it stays literal characters because a quote is never rendered.

/** §2.3.1: the bound of `reply.quote`, in UTF-8 bytes. */
export const MAX_QUOTE_BYTES = 512;

const REFUSED_IN_QUOTE = /[\p{Cc}\p{Cs}\u202A-\u202E\u2066-\u2069]/u;
const DROPPED_FROM_QUOTE = /[\p{Cc}\p{Bidi_Control}]/gu;
const ELLIPSIS = '…';

/** §2.3.1, receivers and senders: what is wrong with a quote, or undefined. */
export function quoteProblem(quote: unknown): string | undefined {
  if (typeof quote !== 'string') return 'reply.quote must be a string';
  if (Buffer.byteLength(quote, 'utf8') > MAX_QUOTE_BYTES) return `reply.quote must be at most ${MAX_QUOTE_BYTES} bytes`;
  if (REFUSED_IN_QUOTE.test(quote)) return 'reply.quote must hold no control character, lone surrogate or bidi embedding';
  return undefined;
}

/**
 * §2.3.1, senders: the quote of an original's text: whitespace runs become one space, control and
 * bidi control characters are dropped, and the result is cut at MAX_QUOTE_BYTES on a character
 * boundary (with an ellipsis when cut). Always passes quoteProblem.
 */
export function makeQuote(text: string): string {
  const flat = text.replace(/\s+/gu, ' ').replace(DROPPED_FROM_QUOTE, '').trim();
  if (Buffer.byteLength(flat, 'utf8') <= MAX_QUOTE_BYTES) return flat;
  const budget = MAX_QUOTE_BYTES - Buffer.byteLength(ELLIPSIS, 'utf8');
  let out = '';
  let bytes = 0;
  for (const ch of flat) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > budget) break;
    out += ch;
    bytes += n;
  }
  return `${out.trimEnd()}${ELLIPSIS}`;
}
