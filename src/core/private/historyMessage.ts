// A record of a private room's local history (docs/protocol.md §3.8) as the message it was when
// it arrived: the payload P of §3.3 with its seq and MLS sender, so that a UI replays what it
// kept through the same features as live messages (a delete or an edit kept after its target
// applies again, a file's chunks assemble again). Control messages (§3.4) are no messages.
import { copyChatFields } from '../client/roomFeatures';
import type { ChatMessage } from '../client/types';
import { fingerprint, shortOfFingerprint } from '../crypto/identity';
import { parseRoomContent } from './content';
import type { HistoryRecord } from './historyStore';

/** The message a history record holds, or undefined (a control message, or a record that does not parse). */
export function messageOfRecord(room: string, r: HistoryRecord, selfHex: string): ChatMessage | undefined {
  const parsed = parseRoomContent(Buffer.from(r.p, 'utf8'));
  if (!parsed.ok || parsed.content.type !== 'payload') return undefined;
  const p = parsed.content.payload;
  // The record's id is the wire id the message went by (§3.3); a payload claiming another is not it.
  if (p.id !== r.id) return undefined;
  let fp: string;
  try {
    fp = fingerprint(Buffer.from(r.sender, 'hex'));
  } catch {
    return undefined;
  }
  const m: ChatMessage = {
    room, ts: p.ts, id: r.id, name: p.name, fingerprint: fp, shortFingerprint: shortOfFingerprint(fp),
    type: p.type, verified: true, keyChanged: false, own: r.sender === selfHex, history: true,
  };
  if (r.seq > 0) m.seq = r.seq;
  // §3.8 "Deletes and edits at rest": a purged record keeps its place and shows as deleted.
  if (r.deleted === true) return { ...m, type: 'text', deleted: true };
  if (p.text !== undefined) m.text = p.text;
  if (p.snippet !== undefined) m.snippet = p.snippet;
  copyChatFields(p, m);
  return m;
}
