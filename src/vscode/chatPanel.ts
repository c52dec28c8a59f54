// The chat panel host: one webview panel (viewType smc.chat) showing the current room.
// Security (docs/extension.md "The chat panel's security"): a strict CSP with a script nonce from crypto.randomBytes, no
// unsafe-*, no connect-src, no remote images; resources only from dist/; the webview never
// receives a key; what it sends is validated (PanelMessenger).
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import type { ChatSession } from './chatSession';
import { Disposable, toDisposable } from './lifecycle';
import { PanelMessenger, type RequestHandlers } from './panelMessenger';
import { openSnippet } from './snippetOpener';
import { openCodeRef } from './codeRefs';
import { checkPatch, previewPatch } from './diffShare';
import { fileToSave, imageBytes, pickAndSendFile, saveWithDialog, sendPastedFile } from './files';
import { privateHandlers, watchPrivate } from './privatePanel';
import type { PrivateRooms } from './privateSession';
import { isSafeHref } from '../shared/validate';
import { markInvisible, shownAddress } from '../shared/visibleText';


export const CHAT_VIEW_TYPE = 'smc.chat';

export interface PanelDeps {
  extensionUri: vscode.Uri;
  session: ChatSession;
  selfName: () => string;
  log: (event: string, fields?: Record<string, unknown>) => void;
  /** Private rooms (src/vscode/privatePanel.ts): the members pane's requests and updates. */
  privateRooms: PrivateRooms;
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist')] };
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

export function panelHtml(webview: vscode.Webview, extensionUri: vscode.Uri): string {
  const nonce = randomBytes(18).toString('base64');
  const asset = (name: string): string => escapeAttr(webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', name)).toString());
  const src = webview.cspSource;
  const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${src}; font-src ${src}; img-src ${src}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link id="vscode-codicon-stylesheet" rel="stylesheet" href="${asset('codicon.css')}">
<link rel="stylesheet" href="${asset('webview.css')}">
<title>SMC Chat</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${asset('webview.js')}"></script>
</body>
</html>`;
}

export class ChatPanel extends Disposable {
  private readonly messenger: PanelMessenger;
  private readonly disposedEmitter = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.disposedEmitter.event;

  constructor(readonly panel: vscode.WebviewPanel, private readonly deps: PanelDeps) {
    super();
    const { session } = deps;
    panel.webview.options = webviewOptions(deps.extensionUri);
    panel.iconPath = vscode.Uri.joinPath(deps.extensionUri, 'media', 'icon.png');
    this.messenger = this._register(new PanelMessenger(panel.webview, this.handlers(), deps.log));
    panel.webview.html = panelHtml(panel.webview, deps.extensionUri);
    this.updateTitle();

    this._register(toDisposable(session.on('item', (room, item, update) => this.messenger.post('item', { room, item, ...(update === true ? { update } : {}) }))));
    this._register(toDisposable(session.on('presence', (room, presence) => this.messenger.post('presence', { room, presence }))));
    this._register(toDisposable(session.on('typing', (room, name, shortFingerprint, keyChanged) => this.messenger.post('typing', { room, name, shortFingerprint, ...(keyChanged ? { keyChanged } : {}) }))));
    this._register(toDisposable(session.on('connection', (state, relay) => this.messenger.post('connection', { state, relay }))));
    this._register(toDisposable(session.on('room', () => {
      this.updateTitle();
      this.postSnapshot();
    })));
    this._register(toDisposable(session.on('resync', (room) => {
      if (room === session.currentRoom?.room) this.postSnapshot();
    })));
    this._register(toDisposable(watchPrivate(session, deps.privateRooms, (view) => this.messenger.post('roomKind', view))));
    this._register(panel.onDidDispose(() => this.dispose()));
    this._register(this.disposedEmitter);
  }

  get visible(): boolean {
    return this.panel.visible;
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  focusComposer(): void {
    this.messenger.post('focusComposer', {});
  }

  private postSnapshot(): void {
    this.messenger.post('snapshot', this.deps.session.snapshot(this.deps.selfName()));
  }

  private updateTitle(): void {
    const room = this.deps.session.currentRoom;
    this.panel.title = room ? `SMC: ${room.name}` : 'SMC Chat';
  }

  private handlers(): RequestHandlers {
    const { session } = this.deps;
    return {
      ready: () => session.snapshot(this.deps.selfName()),
      send: async ({ text, replyTo, mentions }) => ({
        key: (replyTo === undefined && mentions === undefined ? await session.sendText(text) : await session.sendRich(text, { ...(replyTo !== undefined ? { replyTo } : {}), ...(mentions !== undefined ? { mentions } : {}) })).key,
      }),
      retry: ({ key }) => {
        session.retry(key);
        return null;
      },
      typing: () => {
        session.typing();
        return null;
      },
      loadOlder: ({ before }) => session.loadOlder(before),
      loadNewer: ({ after }) => session.loadNewer(after),
      loadNewest: () => session.loadNewest(),
      loadRange: ({ from, count }) => session.loadRange(from, count),
      openLink: ({ href }) => {
        // Links come from other people: open only after the user has seen the full address.
        if (!isSafeHref(href)) throw new Error('Only http, https and mailto links are opened.');
        void vscode.window
          // Percent-decoded for reading, every hidden character shown (pay⟦U+200B⟧pal.com).
          .showWarningMessage('Open a link from a chat message?', { modal: true, detail: shownAddress(href) }, 'Open Link')
          .then((choice) => {
            if (choice === 'Open Link') void vscode.env.openExternal(vscode.Uri.parse(href, true));
          });
        return null;
      },
      openSnippet: async ({ key }) => {
        const room = session.currentRoom;
        const item = room ? session.timeline(room.room).get(key) : undefined;
        if (!item?.snippet) throw new Error('This snippet is no longer available.');
        // Beside the chat, never in its place: the conversation stays in view.
        await openSnippet(item.snippet, this.panel.viewColumn);
        return null;
      },
      markRead: async ({ seq }) => {
        if (this.panel.visible) await session.markRead(seq);
        return null;
      },
      verifyMember: ({ name, fingerprint }) => {
        // "It Matches" is never the default (docs/security.md "Another member of the room"): the dialog's first button is
        // what Enter picks, so it is "It Does Not Match", and trusting takes a deliberate click.
        const matches = { title: 'It Matches' };
        const differs = { title: 'It Does Not Match' };
        const cancel = { title: 'Cancel', isCloseAffordance: true };
        void vscode.window
          .showWarningMessage(
            `Verify "${markInvisible(name)}"?`,
            {
              modal: true,
              detail: `Their fingerprint in this room:\n\n${fingerprint}\n\nCompare it with ${markInvisible(name)} over another channel (in person, on a call). Choose "It Matches" only if every group matches exactly; otherwise someone else may be using this name.`,
            },
            differs,
            matches,
            cancel,
          )
          .then((choice) => {
            if (choice === matches) session.trustMember(name, fingerprint);
            else if (choice === differs) {
              void vscode.window.showWarningMessage(`Not trusted. Messages from this key under "${markInvisible(name)}" may come from someone else; tell ${markInvisible(name)} over another channel.`);
            }
          });
        return null;
      },
      runCommand: ({ command }) => {
        void vscode.commands.executeCommand(command);
        return null;
      },
      // ---- chat features (docs/protocol.md §2.3.1-2.3.6) ----
      react: async ({ key, emoji }) => {
        await session.react(key, emoji);
        return null;
      },
      edit: async ({ key, text }) => {
        await session.edit(key, text);
        return null;
      },
      // Dialogs may stay open longer than a panel request waits (WEBVIEW_LIMITS.requestTimeoutMs):
      // what can be checked at once is, and the dialog's outcome is reported by the host.
      deleteMessage: ({ key }) => {
        const del = { title: 'Delete for Everyone' };
        this.later(async () => {
          const choice = await vscode.window.showWarningMessage(
            'Delete this message for everyone?',
            { modal: true, detail: 'Every member\'s SMC removes its text from their view and their local copy. The relay keeps the encrypted message until its retention drops it, and anyone who copied the text keeps it.' },
            del,
          );
          if (choice === del) await session.deleteMessage(key);
        });
        return null;
      },
      mentionCandidates: ({ prefix }) => ({ candidates: session.mentionCandidates(prefix) }),
      search: ({ query }) => session.search(query),
      loadAround: ({ key }) => session.loadAround(key),
      sendFileBytes: async ({ name, mime, data }) => ({ key: await sendPastedFile(session, name, mime, data) }),
      pickFile: () => {
        this.later(() => pickAndSendFile(session));
        return null;
      },
      saveFile: ({ key }) => {
        const file = fileToSave(session, key);
        this.later(() => saveWithDialog(file));
        return null;
      },
      imageBytes: ({ key }) => imageBytes(session, key),
      previewPatch: async ({ key }) => {
        await previewPatch(session, key);
        return null;
      },
      applyPatch: async ({ key }) => {
        const { confirm } = await checkPatch(session, key);
        this.later(confirm);
        return null;
      },
      openRef: async ({ path, line }) => {
        await openCodeRef(path, line, this.panel.viewColumn);
        return null;
      },
      setMuted: async ({ muted }) => {
        const room = session.currentRoom;
        if (room) await session.setMuted(room.room, muted);
        return null;
      },
      ...privateHandlers(session, this.deps.privateRooms),
    };
  }

  /** Work that waits for the user (a dialog): its failure is shown by the host, not the panel. */
  private later(work: () => Promise<void>): void {
    work().catch((e: unknown) => {
      void vscode.window.showErrorMessage(`SMC: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.disposedEmitter.fire();
    super.dispose();
    this.panel.dispose();
  }
}

/** Keeps at most one chat panel; creates it, reveals it, or revives it after a reload. */
export class ChatPanelManager extends Disposable {
  private current: ChatPanel | undefined;

  constructor(private readonly deps: PanelDeps) {
    super();
    this._register(toDisposable(() => this.current?.dispose()));
  }

  get panel(): ChatPanel | undefined {
    return this.current;
  }

  get isVisible(): boolean {
    return this.current?.visible ?? false;
  }

  open(preserveFocus = false): ChatPanel {
    if (this.current) {
      // The chat shares its group with the editor in use (the file opened in the chat's group):
      // move it beside that editor rather than cover the code being discussed.
      const editorColumn = vscode.window.activeTextEditor?.viewColumn;
      const coversEditor = editorColumn !== undefined && editorColumn === this.current.panel.viewColumn;
      this.current.panel.reveal(coversEditor ? vscode.ViewColumn.Beside : undefined, preserveFocus);
      return this.current;
    }
    const panel = vscode.window.createWebviewPanel(
      CHAT_VIEW_TYPE,
      'SMC Chat',
      // Beside the code being discussed; in the active group when no editor is open.
      { viewColumn: vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active, preserveFocus },
      webviewOptions(this.deps.extensionUri),
    );
    return this.adopt(panel);
  }

  /** WebviewPanelSerializer: the panel comes back after a window reload. */
  revive(panel: vscode.WebviewPanel): ChatPanel {
    this.current?.dispose();
    return this.adopt(panel);
  }

  private adopt(panel: vscode.WebviewPanel): ChatPanel {
    const chat = new ChatPanel(panel, this.deps);
    this.current = chat;
    chat.onDidDispose(() => {
      if (this.current === chat) this.current = undefined;
    });
    return chat;
  }
}
