// Where RelayClient keeps, per room, the ids it has shown (docs/protocol.md §2.8), so
// that a relay cannot replay an earlier message under a new seq after a restart: one value per
// room in a StateStore (VS Code globalState, or $SMC_HOME/state.json), under
// `smc.shown.<roomId>`. The value is ShownWindow's compact record (src/core/client/shownWindow.ts);
// this class only stores it. Ids are not secret (the relay sees them).
import type { ShownIdsStore } from '../client/types';
import { StateStore } from './stores';

export const SHOWN_IDS_STATE_PREFIX = 'smc.shown.';

export class ShownIdsState implements ShownIdsStore {
  constructor(private readonly state: StateStore) {}

  load(room: string): unknown {
    return this.state.get<unknown>(SHOWN_IDS_STATE_PREFIX + room);
  }

  save(room: string, record: unknown): Promise<void> {
    return this.state.update(SHOWN_IDS_STATE_PREFIX + room, record);
  }

  /** Forgets a room's ids (the user left it, or cleared its state). */
  forget(room: string): Promise<void> {
    return this.state.update(SHOWN_IDS_STATE_PREFIX + room, undefined);
  }
}
