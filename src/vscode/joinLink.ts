// The join link vscode://smc-chat.smc/join?invite=<url-encoded invite> (README "Chat from VS Code", step 4), parsed
// without vscode so that it is unit-tested in plain Node. The key is taken only from the
// invite's own fragment (§2.7), or from the link's fragment when the invite came without it;
// never from a query parameter, which logs and link previews keep.

export type InviteFromUri = { ok: true; invite: string } | { ok: false; reason: string };

/** Extracts the invite text from a join URI (its decoded path, query, fragment), or says why not. */
export function inviteFromJoinUri(path: string, query: string, fragment: string): InviteFromUri {
  if (path !== '/join') return { ok: false, reason: `SMC links open /join, not "${path.slice(0, 40)}".` };
  // VS Code has already percent-decoded `query` once: the value after "invite=" is the invite
  // text as the link's author encoded it (decoding it again would corrupt the room name).
  let invite: string | undefined;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (name !== 'invite') return { ok: false, reason: `SMC join links carry only "invite"; "${name.slice(0, 20)}" is refused (a key never travels in a query).` };
    invite = eq === -1 ? '' : part.slice(eq + 1);
  }
  if (!invite) return { ok: false, reason: 'This SMC link has no invite.' };
  if (invite.includes('#')) return { ok: true, invite };
  if (fragment) return { ok: true, invite: `${invite}#${fragment}` };
  return { ok: false, reason: 'This SMC link has no room key (it belongs after "#").' };
}
