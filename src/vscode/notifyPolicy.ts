// Whether a new message notifies (docs/extension.md "Notifications"; issue 12): a per-room mute
// silences a room entirely; otherwise a message that mentions the user (§2.3.2: their own
// fingerprint is in `mentions`, never a name in the text) notifies even when smc.notifications
// is off, and any other message only when it is on. Pure: unit-tested.

export function shouldNotify(o: { muted: boolean; notifications: boolean; mentioned: boolean }): boolean {
  if (o.muted) return false;
  return o.mentioned || o.notifications;
}
