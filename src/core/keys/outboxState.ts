// The un-acked messages of docs/protocol.md §1.5 kept in a StateStore (VS Code globalState), so
// that a killed extension host loses none: each envelope under its own key
// (`smc.outbox.<room>/<id>`, so that an add never rewrites the others), and per room the list of
// its ids in send order (`smc.outbox.<room>`). Envelopes are ciphertext (§2.4); ids are not
// secret (the relay sees both).
import type { OutboxStore, PendingEnvelope, StateStore } from './stores';

export const OUTBOX_STATE_PREFIX = 'smc.outbox.';

export class OutboxState implements OutboxStore {
  constructor(private readonly state: StateStore) {}

  private static index(room: string): string {
    return OUTBOX_STATE_PREFIX + room;
  }

  private static entry(room: string, id: string): string {
    return `${OUTBOX_STATE_PREFIX}${room}/${id}`;
  }

  private ids(room: string): string[] {
    const v = this.state.get<unknown>(OutboxState.index(room));
    return Array.isArray(v) ? v.filter((id): id is string => typeof id === 'string') : [];
  }

  load(room: string): PendingEnvelope[] {
    const out: PendingEnvelope[] = [];
    for (const id of this.ids(room)) {
      const body = this.state.get<unknown>(OutboxState.entry(room, id));
      if (typeof body === 'string') out.push({ room, id, body });
    }
    return out;
  }

  async save(e: PendingEnvelope): Promise<void> {
    // The envelope first: an index never names an envelope that is not there.
    const body = this.state.update(OutboxState.entry(e.room, e.id), e.body);
    const ids = this.ids(e.room);
    const index = ids.includes(e.id) ? Promise.resolve() : this.state.update(OutboxState.index(e.room), [...ids, e.id]);
    await Promise.all([body, index]);
  }

  async remove(room: string, id: string): Promise<void> {
    const ids = this.ids(room);
    const rest = ids.filter((x) => x !== id);
    const index = rest.length === ids.length ? Promise.resolve()
      : this.state.update(OutboxState.index(room), rest.length > 0 ? rest : undefined);
    await Promise.all([index, this.state.update(OutboxState.entry(room, id), undefined)]);
  }

  async forget(room: string): Promise<void> {
    const ids = this.ids(room);
    await Promise.all([
      this.state.update(OutboxState.index(room), undefined),
      ...ids.map((id) => this.state.update(OutboxState.entry(room, id), undefined)),
    ]);
  }
}
