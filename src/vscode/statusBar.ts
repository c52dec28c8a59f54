// The status bar item (README "Chat from VS Code"): always present, follows the session.
import * as vscode from 'vscode';
import type { ChatSession } from './chatSession';
import { Disposable, toDisposable } from './lifecycle';
import { statusView } from './statusText';

export class StatusBar extends Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor(private readonly session: ChatSession) {
    super();
    this.item = this._register(vscode.window.createStatusBarItem('smc.status', vscode.StatusBarAlignment.Left, 10));
    this.item.name = 'SMC';
    this.item.accessibilityInformation = { label: 'SMC chat connection', role: 'button' };
    for (const e of ['connection', 'room', 'presence', 'unread'] as const) {
      this._register(toDisposable(session.on(e, () => this.update())));
    }
    this.update();
    this.item.show();
  }

  get text(): string {
    return this.item.text;
  }

  update(): void {
    const room = this.session.currentRoom;
    const members = this.session.privateMemberCount();
    const v = statusView({
      ...(members !== undefined ? { members } : {}),
      state: this.session.connectionState,
      relay: this.session.relay,
      roomName: room?.name,
      online: this.session.onlineCount(),
      unread: this.session.unreadCount(),
      unreadRooms: this.session.unreadByRoom(),
      fingerprint: this.session.knownOwnFingerprint,
    });
    this.item.text = v.text;
    this.item.tooltip = v.tooltip;
    this.item.command = v.command;
    this.item.accessibilityInformation = { label: v.tooltip.replace(/\n/g, '. '), role: 'button' };
  }
}
