// The ids already shown in one room, bounded (docs/protocol.md §2.8: a relay can replay messages,
// and replays are caught by id). A Set keeps insertion order, so evicting the oldest id is
// deleting the Set's first element: O(1) per id, no timers, memory bounded by `capacity`.

export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Remembers `id`; returns false when it was already there. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    return true;
  }

  get size(): number {
    return this.ids.size;
  }
}
