// The URI handler for join links (joinLink.ts): it asks before joining.
import * as vscode from 'vscode';
import { parseInvite, InviteError } from '../core/crypto/invite';
import { formatHostPort } from '../core/hostPort';
import { inviteFromJoinUri } from './joinLink';

export class JoinUriHandler implements vscode.UriHandler {
  constructor(private readonly join: (invite: string) => Promise<void>) {}

  async handleUri(uri: vscode.Uri): Promise<void> {
    const r = inviteFromJoinUri(uri.path, uri.query, uri.fragment);
    if (!r.ok) {
      void vscode.window.showErrorMessage(r.reason);
      return;
    }
    let name: string;
    let relay: string;
    try {
      const inv = parseInvite(r.invite);
      name = inv.name;
      relay = formatHostPort(inv.host, inv.port);
      inv.key.fill(0);
    } catch (e) {
      void vscode.window.showErrorMessage(`This SMC link is not a valid invite: ${e instanceof InviteError ? e.message : 'malformed'}.`);
      return;
    }
    const choice = await vscode.window.showWarningMessage(
      `Join the SMC room "${name}" on ${relay}?`,
      {
        modal: true,
        detail: 'A link asks to add this room. Join only if you expected an invite from someone you trust: everyone who has this link can read and write the room.',
      },
      'Join Room',
    );
    if (choice !== 'Join Room') return;
    try {
      await this.join(r.invite);
    } catch (e) {
      void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
    }
  }
}
