// What a restart resumes from (docs/protocol.md §1.4 `since`, §2.8): each room's lastSeq and the
// ids it has shown, handed to the stores batched (no per-message disk writes): at most once
// per lastSeqFlushMs, and at once on synced, leave and disconnect.
import type { RoomState } from './roomState';
import { ShownWindow } from './shownWindow';
import type { ClientLog, ShownIdsStore } from './types';
import { errorText, unref } from './util';

export interface SeqSaverOptions {
  saveLastSeq?: (room: string, seq: number) => void;
  shownIds?: ShownIdsStore;
  /** Ids kept per room (ClientTuning.shownIds). */
  shownCapacity: number;
  flushMs: number;
  log: ClientLog;
}

export class SeqSaver {
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly options: SeqSaverOptions, private readonly rooms: ReadonlyMap<string, RoomState>) {}

  /** Batched: at most one save per room per flushMs. */
  schedule(): void {
    if (this.timer !== undefined || (this.options.saveLastSeq === undefined && this.options.shownIds === undefined)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushAll();
    }, this.options.flushMs);
    unref(this.timer);
  }

  flushAll(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const rs of this.rooms.values()) this.flush(rs);
  }

  flush(rs: RoomState): void {
    this.flushShown(rs);
    const last = rs.seqs.last;
    const save = this.options.saveLastSeq;
    if (last === rs.savedSeq || save === undefined) return;
    rs.savedSeq = last;
    try {
      save(rs.room, last);
    } catch (err) {
      this.options.log('save_last_seq_failed', { room: rs.room, error: errorText(err) });
    }
  }

  /** The shown ids of a room from the store; a damaged record is logged and starts empty. */
  loadShown(room: string): ShownWindow {
    let stored: unknown;
    try {
      stored = this.options.shownIds?.load(room);
    } catch (err) {
      this.options.log('shown_ids_load_failed', { room, error: errorText(err) });
    }
    const { window, damaged } = ShownWindow.fromRecord(this.options.shownCapacity, stored);
    if (damaged !== undefined) this.options.log('shown_ids_damaged', { room, reason: damaged });
    return window;
  }

  private flushShown(rs: RoomState): void {
    const store = this.options.shownIds;
    if (store === undefined || !rs.shown.dirty) return;
    const failed = (err: unknown): void => this.options.log('save_shown_ids_failed', { room: rs.room, error: errorText(err) });
    try {
      const r = store.save(rs.room, rs.shown.toRecord());
      if (r instanceof Promise) r.catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}
