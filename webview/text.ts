// Text hygiene for strings that came from the network (PRODUCT.md: every string the panel
// shows is hostile). Pure functions, no DOM, so they are unit-tested in plain Node.
import { markInvisible } from '../src/shared/visibleText';
import { formatMessageTime } from '../src/shared/messageTime';

/**
 * Bidirectional control characters (Trojan Source, CVE-2021-42574) and the invisible marks
 * that reorder text. They are replaced by a visible token so that a message cannot make the
 * text the reader sees differ from the text it contains.
 */
const BIDI_CONTROLS = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

export function neutraliseBidi(s: string): string {
  return s.replace(BIDI_CONTROLS, (c) => `⟦U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟧`);
}

export function hasBidiControls(s: string): boolean {
  BIDI_CONTROLS.lastIndex = 0;
  const found = BIDI_CONTROLS.test(s);
  BIDI_CONTROLS.lastIndex = 0;
  return found;
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
