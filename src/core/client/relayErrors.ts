// User-facing sentences for the relay's error codes (docs/protocol.md §1.7). They say what happens
// next, because the client handles most of them by itself (retry, reconnect).

const MESSAGES: Record<string, string> = {
  rate_limited: 'Sending faster than the relay allows; messages are being sent again more slowly.',
  room_quota: 'This room has stored as much as the relay accepts per room for now (its hourly bound); sent again automatically as room frees up.',
  too_many_rooms: 'This relay allows at most 32 rooms per connection. Leave a room, then join again.',
  server_busy: 'The relay is at its connection limit; retrying later.',
  shutting_down: 'The relay is shutting down; reconnecting when it is back.',
  unsupported_version: 'This relay speaks another SMC protocol version. Update SMC, or use another relay.',
  internal: 'The relay could not store the message (its disk may be full); it is sent again automatically.',
  not_joined: 'The relay lost track of this room; joining it again.',
  bad_request: 'The relay refused a request as malformed (bad_request). This is a bug in SMC; please report it.',
  bad_frame: 'The relay refused a frame as malformed (bad_frame). This is a bug in SMC; please report it.',
  frame_too_large: 'The relay refused a frame as too large for it (frame_too_large); reconnecting.',
  hello_required: 'The relay expected a hello first (hello_required). This is a bug in SMC; please report it.',
  auth_required: 'The relay wants a proof that you are a member of this room and did not get one (auth_required), so it sent nothing of the room. SMC does not retry: update SMC, and check that nothing between you and the relay alters what SMC sends.',
  auth_failed: 'The relay did not accept the proof that you hold this room\'s key (auth_failed), so it sent nothing of the room. SMC does not retry: check that your invite is the one for this room, or ask the relay\'s operator.',
  unknown_type: 'The relay does not know a request SMC sent (unknown_type); it may be an older relay.',
};

export function relayErrorMessage(code: string): string {
  return MESSAGES[code] ?? `The relay reported an error (${code.slice(0, 32)}).`;
}
