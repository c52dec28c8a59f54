// What the local history store of a private room must no longer hold (docs/protocol.md §2.3
// "Order", §3.8 "Deletes and edits at rest"). Pure: the opened records in, the records to
// replace out. The rules are those of RoomEffects (src/core/payload/effects.ts), applied to what
// the store holds: a delete counts only under the key of its target's sender, on a content
// message; of a message's edits by that key, the highest acked seq wins.
import { parsePayload, type Payload } from '../crypto/payload';
import { CONTENT_TYPES } from '../payload/fields';

/** One line of the store, opened (value undefined: it did not open, and is left as it is). */
export interface OpenedLine {
  seq: number;
  value?: Record<string, unknown>;
}

interface Message {
  index: number;
  id: string;
  sender: string;
  /** The acked seq (0: an own message not acked). */
  seq: number;
  payload: Payload;
}

function payloadOf(value: Record<string, unknown>): Payload | undefined {
  if (typeof value.p !== 'string' || typeof value.id !== 'string' || typeof value.sender !== 'string') return undefined;
  const parsed = parsePayload(Buffer.from(value.p, 'utf8'));
  return parsed.ok && parsed.payload.id === value.id ? parsed.payload : undefined;
}

const p = (payload: Record<string, unknown>): string => JSON.stringify(payload);

/**
 * The records to replace, by index in `lines`, with their new value (the same seq, id, ts,
 * epoch and sender: paging, acks and the outbox see the same ids and seqs as before):
 * - the target of a valid delete keeps only `{id, ts, name, type: "text", text: ""}` (so that a
 *   replay still meets a content message for the delete to apply to, and shows "deleted"), and
 *   the record is marked `deleted: true` (HistoryRecord.deleted) for a UI that does not replay;
 * - every other record that acts on it (edits, reactions, chunks of a deleted file, by anyone)
 *   keeps only `{id, ts, name, type, target}`, which no longer parses: a replay skips it and
 *   the outbox never sends it again;
 * - a reply to it keeps its `to` and `from`, its `quote` (an excerpt of the deleted text) empty;
 * - a message edited by its sender with an acked edit takes the winning edit's text (a caption:
 *   removed when empty) and mentions in place of its own, and the edits of lower seq lose their
 *   text: the old texts are gone, and the message shows the same with or without its edits.
 * A message already in that state is not listed again, so that a store with nothing left to
 * drop is not rewritten.
 */
export function planPurge(lines: readonly OpenedLine[]): Map<number, Record<string, unknown>> {
  const acks = new Map<string, number>();
  for (const l of lines) {
    const v = l.value;
    if (v !== undefined && typeof v.ack === 'string' && typeof v.seq === 'number') acks.set(v.ack, v.seq);
  }
  const byId = new Map<string, Message>();
  const all: Message[] = [];
  lines.forEach((l, index) => {
    if (l.value === undefined) return;
    const payload = payloadOf(l.value);
    if (payload === undefined) return;
    const id = l.value.id as string;
    const seq = l.seq === 0 ? (acks.get(id) ?? 0) : l.seq;
    const m: Message = { index, id, sender: l.value.sender as string, seq, payload };
    all.push(m);
    if (!byId.has(id)) byId.set(id, m);
  });
  const contentOf = (id: string | undefined): Message | undefined => {
    const t = id === undefined ? undefined : byId.get(id);
    return t !== undefined && CONTENT_TYPES.includes(t.payload.type) ? t : undefined;
  };
  const out = new Map<number, Record<string, unknown>>();
  const replace = (m: Message, payload: Record<string, unknown>, extra: Record<string, unknown> = {}): void => {
    const text = p(payload);
    if (lines[m.index]!.value!.p !== text) out.set(m.index, { ...lines[m.index]!.value!, ...extra, p: text });
  };
  /** The record's payload as planned so far (a reply's quote may already be emptied). */
  const current = (m: Message): Record<string, unknown> => JSON.parse((out.get(m.index) ?? lines[m.index]!.value!).p as string) as Record<string, unknown>;
  const base = (x: Payload): Record<string, unknown> => ({ id: x.id, ts: x.ts, name: x.name });

  // §2.3 "Who may act on a message": only the target's sender's key deletes it.
  const deleted = new Set<string>();
  for (const m of all) {
    if (m.payload.type !== 'delete') continue;
    const target = contentOf(m.payload.target);
    if (target !== undefined && target.sender === m.sender) deleted.add(target.id);
  }
  for (const m of all) {
    const x = m.payload;
    if (deleted.has(m.id) && CONTENT_TYPES.includes(x.type)) replace(m, { ...base(x), type: 'text', text: '' }, { deleted: true });
    else if (x.type !== 'delete' && x.target !== undefined && deleted.has(x.target)) replace(m, { ...base(x), type: x.type, target: x.target });
    else if (x.reply !== undefined && deleted.has(x.reply.to) && x.reply.quote !== '') {
      replace(m, { ...current(m), reply: { ...x.reply, quote: '' } });
    }
  }

  // §2.3 "Order": of the acked edits by the sender's key, the highest seq wins. An own edit not
  // acked yet ranks above all, but may still be refused: what it replaces stays until its ack.
  const edits = new Map<string, Message[]>();
  for (const m of all) {
    if (m.payload.type !== 'edit' || m.seq === 0) continue;
    const target = contentOf(m.payload.target);
    if (target === undefined || deleted.has(target.id) || target.sender !== m.sender) continue;
    edits.set(target.id, [...(edits.get(target.id) ?? []), m]);
  }
  for (const [id, list] of edits) {
    const winner = list.reduce((a, b) => (b.seq > a.seq ? b : a));
    const target = byId.get(id)!;
    // The winning edit's text and mentions are folded into the message, so that a UI that shows
    // records without replaying their edits shows what a replay shows.
    const original = current(target);
    const won = winner.payload;
    delete original.mentions;
    if (target.payload.type === 'text' || (won.text ?? '') !== '') original.text = won.text ?? '';
    else delete original.text;
    if (won.mentions !== undefined) original.mentions = won.mentions;
    replace(target, original);
    for (const e of list) if (e !== winner) replace(e, { ...base(e.payload), type: 'edit', target: id, text: '' });
  }
  return out;
}
