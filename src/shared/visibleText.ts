// Names from the network, made visible (docs/protocol.md §2.4, docs/security.md "Another member of the room"): a display name may hold characters
// a renderer draws as nothing (U+200B, U+00AD, U+2060, U+3164...), bidi controls that reorder
// what follows, control characters, or characters fonts draw empty (U+2800, private use). Wherever a name is shown (the panel, the host's dialogs)
// each of them becomes a visible ⟦U+XXXX⟧, so "alice" and "alice" + U+200B never look the same.
// Pure, no DOM and no Node: shared by the host and the webview.

const HIDDEN = /[\p{Cc}\p{Co}\p{Cn}\p{Bidi_Control}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}\u2800]/gu;

/** `s` with every invisible, bidi control or control character shown as ⟦U+XXXX⟧. */
export function markInvisible(s: string): string {
  return s.replace(HIDDEN, (c) => `⟦U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}⟧`);
}
