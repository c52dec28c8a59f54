// Small checks and formatting shared by the client's parts.

/** A room name in an error sentence: control characters made visible (it came from an invite). */
export function safeName(name: string): string {
  return [...name].map((ch) => {
    const c = ch.codePointAt(0)!;
    return c < 0x20 || (c >= 0x7f && c < 0xa0) ? '\u{FFFD}' : ch;
  }).join('');
}

/** An id from the network, cut to its legal length before it reaches a log or an event. */
export function safeId(id: string): string {
  return id.length <= 22 ? id : id.slice(0, 22);
}

/** What a caught error says, for the debug log. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Timers of the client never keep a process alive by themselves. */
export function unref(t: { unref?: () => unknown }): void {
  t.unref?.();
}
