// A small typed event emitter for the client core. Node's EventEmitter would do, but the core
// also runs where only the event map's types matter (the extension host bundles it), and a
// listener that throws must not break the client's state machine halfway through a frame.

type Listener<A extends unknown[]> = (...args: A) => void;

export class TypedEmitter<E extends { [K in keyof E]: unknown[] }> {
  /** Listeners per event, typed by the event (no prototype: an event name is only a key). */
  private readonly listeners: { [K in keyof E]?: Set<Listener<E[K]>> } = Object.create(null) as { [K in keyof E]?: Set<Listener<E[K]>> };

  /** Adds a listener; returns a function that removes it (handy for Disposables). */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners[event];
    if (set === undefined) {
      set = new Set();
      this.listeners[event] = set;
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.listeners[event]?.delete(listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (...args: E[K]) => {
      off();
      listener(...args);
    });
    return off;
  }

  listenerCount(event: keyof E): number {
    return this.listeners[event]?.size ?? 0;
  }

  /**
   * Calls every listener of `event` in order. A listener that throws is reported to
   * `listenerFailed` and the others still run: the emitter's owner stays consistent.
   */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners[event];
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        this.listenerFailed(String(event), err);
      }
    }
  }

  /** Overridden by the owner to log; by default the error is rethrown outside the emit loop. */
  protected listenerFailed(_event: string, err: unknown): void {
    queueMicrotask(() => {
      throw err;
    });
  }
}
