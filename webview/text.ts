// Text hygiene for strings that came from the network (PRODUCT.md: every string the panel
// shows is hostile). Pure functions, no DOM, so they are unit-tested in plain Node. The rule of
// what is hidden lives in src/shared/visibleText.ts, shared with the host.
import { hasHidden, markInvisible, visibleText } from '../src/shared/visibleText';
import { formatMessageTime } from '../src/shared/messageTime';

/**
 * Message text, code and other multi-line strings as shown: bidirectional control characters
 * (Trojan Source, CVE-2021-42574), zero-width and other invisible characters and controls are
 * replaced by a visible ⟦U+XXXX⟧ token, so that a message cannot make the text the reader sees
 * differ from the text it contains ("pay" + U+200B + "pal.com" is not "paypal.com"). Newlines,
 * tabs and emoji sequences (👩‍💻) are kept.
 */
export function neutraliseBidi(s: string): string {
  return visibleText(s);
}

/** Whether `s` still holds a character neutraliseBidi would make visible. */
export function hasBidiControls(s: string): boolean {
  return hasHidden(s);
}

/** A single-line string from the network (a snippet's path or language) as shown. */
export function visibleLine(s: string): string {
  return markInvisible(s);
}

/**
 * A display name as shown: every bidi control, invisible (default-ignorable) or control
 * character shown as ⟦U+XXXX⟧ (a look-alike of a name never looks the same, docs/protocol.md §2.4),
 * bounded.
 */
export function displayName(name: string): string {
  const chars = [...markInvisible(name)];
  return chars.length > 80 ? `${chars.slice(0, 80).join('')}…` : chars.join('') || '(no name)';
}

/** "14:05" for today, "12 Nov 14:05" otherwise (with the year when not this one); viewer's time zone. */
export function formatTime(ts: number, now: number): string {
  return formatMessageTime(ts, now);
}
