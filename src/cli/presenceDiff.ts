// Who arrived and who left between two presence frames, as `smc chat` prints it ("bob is here",
// "bob left"). By person, not by connection: a sid is per connection and room (docs/protocol.md
// §1.4), so after a reconnect or a relay restart everyone comes back under a new sid, and a diff
// by sid would say "bob is here" and "bob left" of one bob who never went (issue 11). A person
// is a verified name under its key; members whose tag could not be verified are one group.
// Someone with two connections is here until the last one goes.

/** One member as the terminal shows it: `person` says who it is, `shown` how it is printed. */
export interface PresenceEntry {
  person: string;
  shown: string;
}

/** Connections per person, and how each person is printed. */
export type PresenceCount = Map<string, { shown: string; count: number }>;

export function countPresence(entries: readonly PresenceEntry[]): PresenceCount {
  const out: PresenceCount = new Map();
  for (const e of entries) {
    const c = out.get(e.person);
    if (c === undefined) out.set(e.person, { shown: e.shown, count: 1 });
    else c.count++;
  }
  return out;
}

/** The people who were not here before and are now, and those who were and are not. */
export function presenceChanges(before: PresenceCount, after: PresenceCount): { arrived: string[]; left: string[] } {
  const arrived = [...after].filter(([person]) => !before.has(person)).map(([, c]) => c.shown);
  const left = [...before].filter(([person]) => !after.has(person)).map(([, c]) => c.shown);
  return { arrived, left };
}
