// The words of private rooms in the extension (docs/extension.md "Private rooms"): membership
// events as the timeline shows them, and the invite's one-time notice. Pure; unit-tested.
import { markInvisible } from '../shared/visibleText';

/** The `type` of a membership event item (and of its record in the local history, §3.8). */
export const MEMBERSHIP_TYPE = 'smc.membership';
/** Ids of membership events: never a message id (those are 22 b64u characters, §1.2). */
export const MEMBERSHIP_ID_PREFIX = 'mb-';

/** Names from the network, as one short line with every hidden character shown. */
function shown(name: string): string {
  return [...markInvisible(name).replace(/\s+/g, ' ').trim()].slice(0, 64).join('') || '?';
}

/** "alice added bob", "alice removed carol", "alice removed you". */
export function membershipText(what: 'added' | 'removed' | 'removed_you', by: string, subject?: string): string {
  if (what === 'removed_you') return `${shown(by)} removed you from this room`;
  return `${shown(by)} ${what} ${shown(subject ?? '?')}`;
}

/** The notice that shows a new invite once (it is on the clipboard too). */
export function inviteNotice(roomName: string, expires: number, now: number): string {
  const hours = Math.max(1, Math.round((expires - now) / 3_600_000));
  return `Invite to "${shown(roomName)}" copied to the clipboard. It lets one person ask to join, for ${hours} hour${hours === 1 ? '' : 's'}; ` +
    'an admin\'s SMC adds them while it is online. Pass it on privately; Show Link shows it, once.';
}
