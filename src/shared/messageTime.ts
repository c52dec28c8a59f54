// When a message was written, as a chat shows it (docs/protocol.md §2.8): the time alone for today, the
// date too otherwise, so that an old message (a replay the client could not recognise, or plain
// history) never passes for one of today. One pure function for the terminal
// (src/cli/chatFormat.ts) and the webview (webview/text.ts); local time of the viewer.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const two = (n: number): string => String(n).padStart(2, '0');

/** "14:05" today, "12 Nov 14:05" earlier (or later) this year, "12 Nov 2024 14:05" otherwise. */
export function formatMessageTime(ts: number, now: number): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '--:--';
  const n = new Date(now);
  const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
  if (d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate()) return hm;
  const day = `${d.getDate()} ${MONTHS[d.getMonth()] ?? ''}`;
  return d.getFullYear() === n.getFullYear() ? `${day} ${hm}` : `${day} ${d.getFullYear()} ${hm}`;
}
