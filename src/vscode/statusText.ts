// What the status bar item says (README "Chat from VS Code"): offline / connecting / `$(lock) room · N online`,
// with the unread count. Pure, so the exact strings (test hooks, src/shared/messages.ts) are
// unit-tested.
import type { ConnectionState } from '../core/client/types';
import { markInvisible } from '../shared/visibleText';

export interface StatusInput {
  state: ConnectionState;
  relay: string;
  roomName?: string;
  online: number;
  /** A private room: its members (it has no presence, docs/protocol.md §3), said instead of "online". */
  members?: number;
  unread: number;
  /** Where the unread messages are, room by room (the tooltip names them). */
  unreadRooms?: { name: string; count: number }[];
  fingerprint?: string;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** The command a click runs, and what it does, for the tooltip. */
  command: 'smc.toggleConnection';
}

/** Status bar text may contain $(icon) syntax: a room name must not inject icons. */
function plain(s: string): string {
  // Hidden characters made visible first (a room name is hostile, src/shared/visibleText.ts);
  // the zero-width space that breaks "$(" is ours and comes after.
  const cleaned = markInvisible(s.replace(/[\r\n]+/g, ' ')).replace(/\$\(/g, '$\u200B(');
  return [...cleaned].length > 32 ? `${[...cleaned].slice(0, 32).join('')}…` : cleaned;
}

function count(i: StatusInput): string {
  return i.members !== undefined ? `${i.members} member${i.members === 1 ? '' : 's'}` : `${i.online} online`;
}

export function statusView(i: StatusInput): StatusView {
  let text: string;
  let action: string;
  if (i.state === 'connected') {
    text = i.roomName !== undefined ? `$(lock) ${plain(i.roomName)} · ${count(i)}` : '$(plug) SMC connected';
    action = 'Click to disconnect.';
  } else if (i.state === 'connecting') {
    text = '$(sync~spin) SMC connecting…';
    action = 'Click to stop connecting.';
  } else {
    text = '$(circle-slash) SMC offline';
    action = 'Click to connect.';
  }
  if (i.unread > 0) text += ` $(bell-dot) ${i.unread}`;
  const lines = [
    i.state === 'connected' ? `SMC: connected to ${i.relay}` : i.state === 'connecting' ? `SMC: connecting to ${i.relay}` : `SMC: offline (relay ${i.relay})`,
  ];
  if (i.roomName !== undefined) lines.push(`Room: ${markInvisible(i.roomName)}${i.state === 'connected' ? ` (${count(i)})` : ''}`);
  if (i.unread > 0) {
    const where = (i.unreadRooms ?? []).filter((r) => r.count > 0).map((r) => `${r.count} in ${plain(r.name)}`);
    lines.push(`${i.unread} unread message${i.unread === 1 ? '' : 's'}${where.length > 0 ? `: ${where.join(', ')}` : ''}`);
  }
  lines.push(`Your fingerprint: ${i.fingerprint ?? 'not created yet (run "SMC: Show My Fingerprint")'}`);
  lines.push(action);
  return { text, tooltip: lines.join('\n'), command: 'smc.toggleConnection' };
}
