// The chat panel's private-room requests (src/shared/messages.ts PrivateRequests), host side.
// The webview is less trusted than the host (docs/extension.md "The chat panel's security"):
// it only names a member by fingerprint; the host checks the member and this member's role
// (and the core checks the role again), and asks the user before anything is done. An invite
// never goes to the webview: it is copied to the clipboard and shown once, on request.
import * as vscode from 'vscode';
import type { PrivateRequests, RoomKindView } from '../shared/messages';
import { markInvisible } from '../shared/visibleText';
import type { ChatSession } from './chatSession';
import type { RequestHandlers } from './panelMessenger';
import type { PrivateRooms } from './privateSession';
import { inviteNotice } from './privateText';

export type PrivateHandlers = Pick<RequestHandlers, keyof PrivateRequests>;

function currentPrivate(session: ChatSession, rooms: PrivateRooms): { room: string; name: string } {
  const r = session.currentRoom;
  if (r === undefined || !rooms.isPrivate(r.room)) throw new Error('The current room is not a private room.');
  return { room: r.room, name: r.name };
}

/**
 * Makes an invite (admins), after a confirmation, copies it, and offers to show it once. The
 * confirmation is what a script in the webview cannot click: the webview may read the clipboard
 * (VS Code allows it clipboard-read), so an invite made at its word alone could leave with it.
 */
export async function inviteToCurrent(session: ChatSession, rooms: PrivateRooms): Promise<void> {
  const { room, name } = currentPrivate(session, rooms);
  if (!rooms.view(room).admin) throw new Error('Only an admin of this room can invite.');
  const choice = await vscode.window.showInformationMessage(
    `Make an invite to "${markInvisible(name)}"?`,
    { modal: true, detail: 'A single-use link, valid 24 hours, copied to the clipboard. Whoever has it can ask to join, and an admin\'s SMC adds them while it is online.' },
    'Create Invite',
  );
  if (choice !== 'Create Invite') return;
  const made = await rooms.invite(room);
  let link = made.link;
  await vscode.env.clipboard.writeText(link);
  void vscode.window.showInformationMessage(`SMC: ${inviteNotice(name, made.expires, Date.now())}`, 'Show Link').then((choice) => {
    if (choice !== 'Show Link' || link === '') return;
    const shown = link;
    link = '';
    void vscode.window.showInformationMessage('SMC: the invite (shown only this once)', { modal: true, detail: shown });
  });
}

export function privateHandlers(session: ChatSession, rooms: PrivateRooms): PrivateHandlers {
  const who = (m: { name?: string; fingerprint: string }): string => (m.name !== undefined ? `${markInvisible(m.name)} (${m.fingerprint})` : m.fingerprint);
  return {
    roomKind: () => {
      const r = session.currentRoom;
      return r === undefined ? null : rooms.view(r.room);
    },
    privateInvite: () => {
      const { room } = currentPrivate(session, rooms);
      if (!rooms.view(room).admin) throw new Error('Only an admin of this room can invite.');
      // Not awaited: the request answers now, the dialog waits for the person (docs/extension.md).
      inviteToCurrent(session, rooms).catch((e: unknown) => void vscode.window.showErrorMessage(`SMC: ${e instanceof Error ? e.message : String(e)}`));
      return null;
    },
    privateRemove: ({ fingerprint }) => {
      const { room, name } = currentPrivate(session, rooms);
      // Checked before asking (a forged request from the webview asks nothing), and again after.
      if (!rooms.view(room).admin) throw new Error('Only an admin of this room can remove a member.');
      const m = rooms.member(room, fingerprint);
      if (m.self) throw new Error('To leave the room, use Leave.');
      void vscode.window.showWarningMessage(
        `Remove ${who(m)} from "${markInvisible(name)}"?`,
        { modal: true, detail: 'They can no longer read or write what follows; only a new invite brings them back. What they already read stays with them.' },
        'Remove',
      ).then((choice) => {
        if (choice !== 'Remove') return;
        try {
          rooms.remove(room, fingerprint);
        } catch (e) {
          void vscode.window.showErrorMessage(`SMC: ${e instanceof Error ? e.message : String(e)}`);
        }
      });
      return null;
    },
    privatePromote: ({ fingerprint }) => {
      const { room, name } = currentPrivate(session, rooms);
      if (!rooms.view(room).admin) throw new Error('Only an admin of this room can promote a member.');
      const m = rooms.member(room, fingerprint);
      if (m.admin) throw new Error('This member is already an admin.');
      void vscode.window.showWarningMessage(
        `Make ${who(m)} an admin of "${markInvisible(name)}"?`,
        { modal: true, detail: 'Admins invite, remove and promote members. An admin cannot be demoted.' },
        'Make Admin',
      ).then((choice) => {
        if (choice !== 'Make Admin') return;
        try {
          rooms.promote(room, fingerprint);
        } catch (e) {
          void vscode.window.showErrorMessage(`SMC: ${e instanceof Error ? e.message : String(e)}`);
        }
      });
      return null;
    },
    privateForget: () => {
      const { room, name } = currentPrivate(session, rooms);
      void vscode.window.showWarningMessage(
        `Leave "${markInvisible(name)}" and forget it here?`,
        { modal: true, detail: 'Its state, its history on this machine and their keys are deleted. Only a new invite from an admin brings you back.' },
        'Leave Room',
      ).then(async (choice) => {
        if (choice !== 'Leave Room') return;
        await rooms.forget(room);
        await session.leaveRoom(room);
      });
      return null;
    },
  };
}

/** Posts the current room's kind view whenever it may have changed. */
export function watchPrivate(session: ChatSession, rooms: PrivateRooms, post: (view: RoomKindView) => void): () => void {
  const postCurrent = (room?: string): void => {
    const r = session.currentRoom;
    if (r !== undefined && (room === undefined || room === r.room)) post(rooms.view(r.room));
  };
  const offs = [rooms.on('changed', (room) => postCurrent(room)), session.on('room', () => postCurrent())];
  return () => {
    for (const off of offs) off();
  };
}
