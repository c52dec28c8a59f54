// The palette commands (README "Chat from VS Code"), each a thin adapter over ChatSession / RelayController.
// Handlers never await a notification: a command resolves when its work is done, and the
// buttons of the message that follows act on their own (tests and keybindings don't hang).
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { generateRoomKey, deriveRoomId, roomKeyFromPassphrase, isWeakPassphrase, PASSPHRASE_WARN_LENGTH } from '../core/crypto';
import { formatInvite, parseInvite, InviteError } from '../core/crypto/invite';
import type { ClientError, ConnectionState } from '../core/client/types';
import { formatHostPort, parseHostPort } from '../core/hostPort';
import type { ChatPanelManager } from './chatPanel';
import type { ChatSession, RoomEntry } from './chatSession';
import { isLoopback, readSettings } from './config';
import type { LogFn } from './log';
import type { RelayController } from './relayController';
import type { StatusBar } from './statusBar';
import type { Walkthrough } from './walkthrough';
import { markInvisible } from '../shared/visibleText';
import { isPrivateInvite, parsePrivateInvite } from '../core/private/privateInvite';
import type { PrivateRooms } from './privateSession';
import { inviteToCurrent } from './privatePanel';

export interface CommandDeps {
  session: ChatSession;
  relay: RelayController;
  panels: ChatPanelManager;
  status: StatusBar;
  log: LogFn;
  /** Ticks the walkthrough's steps as their work gets done. */
  walkthrough?: Walkthrough;
  /** Private rooms (docs/protocol.md §3): created, joined, opened and left here too. */
  privateRooms: PrivateRooms;
}

const CONNECT_WAIT_MS = 10_000;

/** Room names are shown in titles and the status bar; keep them short and single-line. */
function checkRoomName(v: string): string | undefined {
  const s = v.trim();
  if (s.length === 0) return 'A room needs a name.';
  if ([...s].length > 64) return 'At most 64 characters.';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001F\u007F]/.test(s)) return 'No control characters.';
  return undefined;
}

type Outcome = 'connected' | 'failed' | 'timeout' | 'offline';

/** The relay's certificate is not the pinned one (src/node/tcpTransport.ts says so in its error). */
function isPinMismatch(message: string | undefined): boolean {
  return message !== undefined && /TLS certificate does not match/.test(message);
}

/** Waits for the session to connect, fail (with the client's reason), or time out. */
function connectOutcome(session: ChatSession): Promise<{ outcome: Outcome; reason?: string }> {
  return new Promise((resolve) => {
    if (session.connectionState === 'connected') {
      resolve({ outcome: 'connected' });
      return;
    }
    const offs: (() => void)[] = [];
    let reason: string | undefined;
    const done = (r: Outcome): void => {
      for (const off of offs) off();
      clearTimeout(timer);
      resolve(reason !== undefined ? { outcome: r, reason } : { outcome: r });
    };
    const timer = setTimeout(() => done('timeout'), CONNECT_WAIT_MS);
    offs.push(session.on('connection', (s: ConnectionState) => {
      if (s === 'connected') done('connected');
    }));
    offs.push(session.on('error', (e: ClientError) => {
      if (e.code === 'connection_failed') {
        reason = e.message;
        done('failed');
      }
    }));
  });
}

export class Commands {
  constructor(private readonly d: CommandDeps) {}

  register(): vscode.Disposable[] {
    const reg = (id: string, fn: (...args: unknown[]) => unknown): vscode.Disposable =>
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          await fn(...args);
        } catch (e) {
          this.d.log('command failed', { command: id, error: e instanceof Error ? e.message : String(e) });
          void vscode.window.showErrorMessage(e instanceof Error ? e.message : String(e));
        }
      });
    return [
      reg('smc.startRelay', () => this.startRelay()),
      reg('smc.stopRelay', () => this.d.relay.stop()),
      reg('smc.openChat', () => this.openChat()),
      reg('smc.createRoom', () => this.createRoom()),
      reg('smc.joinRoom', (arg) => this.joinRoom(arg)),
      reg('smc.switchRoom', () => this.switchRoom()),
      reg('smc.leaveRoom', () => this.leaveRoom()),
      reg('smc.copyInvite', () => this.copyInvite()),
      reg('smc.shareSelection', () => this.shareSelection()),
      reg('smc.showFingerprint', () => this.showFingerprint()),
      reg('smc.connect', () => this.connect()),
      reg('smc.disconnect', () => this.disconnect()),
      reg('smc.toggleConnection', () => (this.d.session.connectionState === 'offline' ? this.connect() : this.disconnect())),
    ];
  }

  private async startRelay(): Promise<void> {
    const running = await this.d.relay.start();
    if (running) this.d.walkthrough?.complete('relay');
    // A session already trying to reach this address connects now instead of after its backoff.
    if (running && this.d.session.connectionState === 'connecting' && this.isLocalRelay(this.d.session.relay)) {
      await this.d.session.disconnect();
      await this.d.session.connect();
    }
  }

  private isLocalRelay(relay: string): boolean {
    const addr = parseHostPort(relay);
    const s = readSettings();
    return addr !== undefined && addr.port === s.localRelayPort && (isLoopback(addr.host) || addr.host === s.localRelayHost);
  }

  private async disconnect(): Promise<void> {
    await this.d.privateRooms.stopAll();
    await this.d.session.disconnect();
  }

  /** Connects with progress; if nothing answers, says so and offers the next step. */
  async connect(): Promise<void> {
    const { session } = this.d;
    const relay = session.targetRelay();
    const { outcome, reason } = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: `SMC: connecting to ${relay}…` },
      async () => {
        const waiting = connectOutcome(session);
        await session.connect();
        return waiting;
      },
    );
    // Private rooms have a connection each (they retry by themselves while the relay is away).
    void this.d.privateRooms.startAll().catch((e: unknown) => this.d.log('private rooms failed to start', { error: e instanceof Error ? e.message : String(e) }));
    if (outcome === 'connected' || outcome === 'offline' || session.connectionState === 'connected') return;
    if (isPinMismatch(reason)) {
      // Not "no relay": something answers with another certificate. Never trusted; said plainly.
      void vscode.window.showErrorMessage(
        `SMC: refused the relay at ${relay}: its TLS certificate is not the one this room's invite pins, so someone may be intercepting the connection. Nothing was sent. Check the fingerprint with whoever runs the relay (${reason ?? ''}).`,
        'Disconnect',
      ).then((choice) => {
        if (choice === 'Disconnect') void session.disconnect();
      });
      return;
    }
    const local = this.isLocalRelay(relay) && !this.d.relay.running;
    const message = local
      ? `No relay at ${relay}. Start one with SMC: Start Relay?`
      : `No relay answers at ${relay}. SMC keeps trying; check that the relay runs, or the settings smc.relay.host and smc.relay.port.`;
    const buttons = local ? ['Start Relay', 'Open Settings'] : ['Open Settings', 'Disconnect'];
    void vscode.window.showErrorMessage(message, ...buttons).then((choice) => {
      if (choice === 'Start Relay') void vscode.commands.executeCommand('smc.startRelay');
      else if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'smc.relay');
      else if (choice === 'Disconnect') void session.disconnect();
    });
  }

  private async openChat(): Promise<void> {
    const chat = this.d.panels.open();
    chat.focusComposer();
    this.d.walkthrough?.complete('chat');
    if (this.d.session.currentRoom && this.d.session.connectionState === 'offline') await this.connect();
  }

  private async createRoom(): Promise<void> {
    const kind = await vscode.window.showQuickPick(
      [
        { label: '$(shield) Private room', detail: 'Members managed: invite, remove and promote them. Forward secrecy: a removed member reads nothing that follows.', id: 'private' as const },
        { label: '$(link) Link room', detail: 'Anyone with the link reads and writes everything, history included.', id: 'link' as const },
      ],
      { title: 'SMC: Create Room', placeHolder: 'Which kind of room?', ignoreFocusOut: true },
    );
    if (kind === undefined) return;
    const name = await vscode.window.showInputBox({
      title: 'SMC: Create Room',
      prompt: 'A name for the room. It travels inside the invite link; the relay never sees it.',
      placeHolder: 'Team Chat',
      validateInput: checkRoomName,
      ignoreFocusOut: true,
    });
    if (name === undefined) return;
    const s = readSettings();
    if (s.relayTlsProblem !== undefined) throw new Error(s.relayTlsProblem);
    const relay = formatHostPort(s.relayHost, s.relayPort);
    if (kind.id === 'private') return this.createPrivateRoom(name.trim(), relay, s.relayTlsFingerprint !== undefined);
    const key = generateRoomKey();
    const entry = await this.d.session.addRoom(key, deriveRoomId(key), name.trim(), relay, s.relayTlsFingerprint);
    key.fill(0);
    this.d.log('room created', { room: entry.room, relay });
    this.d.walkthrough?.complete('room');
    this.d.panels.open(true);
    void vscode.window
      .showInformationMessage(`Room "${markInvisible(entry.name)}" created on ${relay}. Send its invite link to your teammates.`, 'Copy Invite Link')
      .then((choice) => {
        if (choice === 'Copy Invite Link') void vscode.commands.executeCommand('smc.copyInvite');
      });
    await this.connect();
  }

  /** §3.6: a private room, with this member as its admin; invites are made in the panel. */
  private async createPrivateRoom(name: string, relay: string, tls: boolean): Promise<void> {
    if (tls) throw new Error('Private rooms on TLS relays (smc.relay.tlsFingerprint) are not supported yet.');
    const entry = await this.d.privateRooms.create(name, relay);
    await this.d.session.setCurrent(entry.room);
    this.d.walkthrough?.complete('room');
    this.d.panels.open(true);
    void vscode.window.showInformationMessage(
      `Private room "${markInvisible(entry.name)}" created on ${relay}; you are its admin. Invite people with Invite in the chat panel (a single-use link, valid 24 hours).`,
    );
    await this.connect();
    await this.d.privateRooms.start(entry.room);
  }

  /** §3.4: asks to join with a private room's invite; waits (cancellable) until an admin's client adds us. */
  private async joinPrivate(text: string): Promise<void> {
    let name: string;
    try {
      name = parsePrivateInvite(text).name;
    } catch (e) {
      throw new Error(e instanceof InviteError ? `This invite link is not valid: ${e.message}.` : 'This invite link is not valid.');
    }
    const shownName = markInvisible(name);
    let joining: Promise<RoomEntry> | undefined;
    const entry = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `SMC: asking to join private room "${shownName}"`, cancellable: true },
      async (progress, token) => {
        progress.report({ message: 'waiting for an admin to add you…' });
        // "no admin of the room is online; waiting for one to add you" (§3.4), as the core says it.
        joining = this.d.privateRooms.join(text, (status) => progress.report({ message: `${status}…` }));
        const cancelled = new Promise<undefined>((resolve) => token.onCancellationRequested(() => resolve(undefined)));
        // A refusal is an Error that says why (§3.4), from PrivateRooms.join.
        return Promise.race([joining, cancelled]);
      },
    );
    if (entry === undefined) {
      // Cancelled: the request ends with its timeout; if an admin adds us meanwhile, the room is kept.
      joining?.catch(() => undefined);
      return;
    }
    await this.d.session.setCurrent(entry.room);
    this.d.walkthrough?.complete('room');
    this.d.panels.open(true);
    await this.connect();
    await this.d.privateRooms.start(entry.room);
  }


  /** Joins from an invite (argument, or asked), or from a room name + passphrase (§2.6). */
  async joinRoom(arg?: unknown): Promise<void> {
    if (typeof arg === 'string') return this.joinFromInvite(arg);
    const pick = await vscode.window.showQuickPick(
      [
        { label: '$(link) Paste an invite link', detail: 'smc://HOST:PORT/NAME#KEY, as a teammate sent it', id: 'invite' as const },
        { label: '$(key) Room name and passphrase', detail: 'Everyone types the same room name and passphrase', id: 'passphrase' as const },
      ],
      { title: 'SMC: Join Room', placeHolder: 'How do you want to join?', ignoreFocusOut: true },
    );
    if (!pick) return;
    if (pick.id === 'invite') {
      const text = await vscode.window.showInputBox({
        title: 'SMC: Join Room — invite link',
        prompt: 'Paste the invite link. It carries the room key, so it is hidden as you paste it.',
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => {
          if (v.trim() === '') return undefined;
          try {
            if (isPrivateInvite(v)) parsePrivateInvite(v);
            else parseInvite(v);
            return undefined;
          } catch (e) {
            return e instanceof InviteError ? `Not a valid invite: ${e.message}.` : 'Not a valid invite.';
          }
        },
      });
      if (text === undefined || text.trim() === '') return;
      return this.joinFromInvite(text);
    }
    return this.joinWithPassphrase();
  }

  async joinFromInvite(text: string): Promise<void> {
    if (isPrivateInvite(text)) return this.joinPrivate(text);
    let invite;
    try {
      invite = parseInvite(text);
    } catch (e) {
      throw new Error(e instanceof InviteError ? `This invite link is not valid: ${e.message}.` : 'This invite link is not valid.');
    }
    const relay = formatHostPort(invite.host, invite.port);
    const name = checkRoomName(invite.name) === undefined ? invite.name.trim() : [...invite.name.replace(/[\u0000-\u001F\u007F]/g, '')].slice(0, 64).join('') || 'Room'; // eslint-disable-line no-control-regex
    // smcs:// (§2.7): the relay speaks TLS and its certificate must have the invite's fingerprint.
    const entry = await this.d.session.addRoom(invite.key, deriveRoomId(invite.key), name, relay, invite.tls?.fingerprint);
    invite.key.fill(0);
    this.d.log('room joined', { room: entry.room, relay, tls: invite.tls !== undefined });
    this.d.walkthrough?.complete('room');
    this.d.panels.open(true);
    await this.connect();
  }

  private async joinWithPassphrase(): Promise<void> {
    const name = await vscode.window.showInputBox({
      title: 'SMC: Join Room — room name',
      prompt: 'The room name, exactly as the others type it.',
      validateInput: checkRoomName,
      ignoreFocusOut: true,
    });
    if (name === undefined) return;
    const passphrase = await vscode.window.showInputBox({
      title: 'SMC: Join Room — passphrase',
      prompt: `The shared passphrase (${PASSPHRASE_WARN_LENGTH} characters or more).`,
      password: true,
      ignoreFocusOut: true,
      // Refused below 16 characters, as in smc chat (README): the relay sees the room id, derived from it.
      validateInput: (v) => (v.length === 0 ? 'Type the passphrase.' : isWeakPassphrase(v) ? `At least ${PASSPHRASE_WARN_LENGTH} characters: the relay sees the room id, so a short passphrase can be guessed offline. Or create a room with a random key and share its invite link.` : undefined),
    });
    if (!passphrase || isWeakPassphrase(passphrase)) return;
    const settings = readSettings();
    if (settings.relayTlsProblem !== undefined) throw new Error(settings.relayTlsProblem);
    const key = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'SMC: deriving the room key…' },
      () => roomKeyFromPassphrase(name.trim(), passphrase),
    );
    const relay = formatHostPort(settings.relayHost, settings.relayPort);
    const entry = await this.d.session.addRoom(key, deriveRoomId(key), name.trim(), relay, settings.relayTlsFingerprint);
    key.fill(0);
    this.d.log('room joined', { room: entry.room, relay, passphrase: true });
    this.d.walkthrough?.complete('room');
    this.d.panels.open(true);
    await this.connect();
  }

  private async pickRoom(title: string): Promise<string | undefined> {
    const rooms = this.d.session.rooms;
    if (rooms.length === 0) {
      void vscode.window
        .showWarningMessage('No room yet. Create one, or join with an invite link.', 'Create Room', 'Join Room')
        .then((choice) => {
          if (choice === 'Create Room') void vscode.commands.executeCommand('smc.createRoom');
          else if (choice === 'Join Room') void vscode.commands.executeCommand('smc.joinRoom');
        });
      return undefined;
    }
    const current = this.d.session.currentRoom?.room;
    const pick = await vscode.window.showQuickPick(
      rooms.map((r) => ({ label: markInvisible(r.name).replace(/\$\(/g, '$\u200B('), description: `${r.relay}${r.room === current ? ' · current' : ''}`, room: r.room })),
      { title, placeHolder: 'Room' },
    );
    return pick?.room;
  }

  private async switchRoom(): Promise<void> {
    const room = await this.pickRoom('SMC: Switch Room');
    if (!room) return;
    await this.d.session.setCurrent(room);
    this.d.panels.open();
  }

  private async leaveRoom(): Promise<void> {
    const room = await this.pickRoom('SMC: Leave Room');
    if (!room) return;
    const entry = this.d.session.rooms.find((r) => r.room === room);
    const choice = await vscode.window.showWarningMessage(
      `Leave "${markInvisible(entry?.name ?? room)}" and forget its key?`,
      { modal: true, detail: 'You can join again only with a new invite link (or the passphrase).' },
      'Leave Room',
    );
    if (choice !== 'Leave Room') return;
    if (this.d.privateRooms.isPrivate(room)) await this.d.privateRooms.forget(room);
    await this.d.session.leaveRoom(room);
  }

  private async copyInvite(): Promise<void> {
    const entry = this.d.session.currentRoom;
    if (!entry) {
      await this.pickRoom('SMC: Copy Invite Link');
      return;
    }
    if (this.d.privateRooms.isPrivate(entry.room)) {
      await inviteToCurrent(this.d.session, this.d.privateRooms);
      this.d.walkthrough?.complete('invite');
      return;
    }
    const key = await this.d.session.roomKey(entry.room);
    const addr = parseHostPort(entry.relay);
    if (!key || !addr) throw new Error(`The key of "${markInvisible(entry.name)}" is missing from this machine's secret storage; join the room again.`);
    const pin = this.d.session.tlsPin(entry.room);
    const invite = formatInvite({ host: addr.host, port: addr.port, name: entry.name, key, ...(pin !== undefined ? { tls: { fingerprint: pin } } : {}) });
    key.fill(0);
    await vscode.env.clipboard.writeText(invite);
    this.d.walkthrough?.complete('invite');
    void vscode.window.showWarningMessage(
      `Invite link for "${markInvisible(entry.name)}" copied. It contains the room key: anyone who has it can read and write this room. Send it only over a channel you trust.`,
    );
  }

  private async shareSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) throw new Error('Select some code in an editor first, then run SMC: Share Selection.');
    if (!this.d.session.currentRoom) throw new Error('No room yet: run "SMC: Create Room" or "SMC: Join Room" first.');
    const doc = editor.document;
    const sel = editor.selection;
    const start = sel.start.line + 1;
    // A selection that ends at the start of a line does not include that line.
    const endLine = sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line - 1 : sel.end.line;
    const code = doc.getText(new vscode.Range(sel.start.line, 0, endLine, doc.lineAt(endLine).range.end.character));
    const inWorkspace = vscode.workspace.getWorkspaceFolder(doc.uri) !== undefined;
    // Only a workspace-relative path travels (§2.3); never an absolute path of this machine.
    const path = inWorkspace ? vscode.workspace.asRelativePath(doc.uri, false) : basename(doc.uri.path);
    await this.d.session.sendSnippet({ lang: doc.languageId, path, start, end: endLine + 1, code });
    this.d.panels.open(true);
    this.d.walkthrough?.complete('chat');
  }

  private async showFingerprint(): Promise<void> {
    const fp = await this.d.session.ownIdentityFingerprint();
    this.d.status.update();
    void vscode.window
      .showInformationMessage(`Your SMC fingerprint: ${fp}. Compare it with your teammates over another channel.`, 'Copy Fingerprint')
      .then((choice) => {
        if (choice === 'Copy Fingerprint') void vscode.env.clipboard.writeText(fp);
      });
  }
}
