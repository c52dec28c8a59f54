// The extension's entry point: wires every dependency explicitly (no singletons) and stays
// small, because it runs at startup for the status bar (activation budget 50 ms). No secret is
// read here: the identity and room keys are loaded on the first connect.
import * as vscode from 'vscode';
import { RelayClient } from '../core/client';
import { WorkerSignatureVerifier } from '../node/verifyPool';
import { createTcpTransport, createTlsTransportFactory } from '../node/tcpTransport';
import { fingerprint } from '../core/crypto';
import {
  KeyStore, KnownKeys, KNOWN_KEYS_STATE, OutboxState, RoomList, ShownIdsState, migrateV1RoomIds, type SecretStore, type StateStore,
} from '../core/keys';
import { SMC_VERSION } from '../node/version';
import { ChatPanelManager, CHAT_VIEW_TYPE, webviewOptions } from './chatPanel';
import { ChatSession, type KeyStoreLike } from './chatSession';
import { Commands } from './commands';
import { readSettings } from './config';
import { Disposable, toDisposable } from './lifecycle';
import { Logs } from './log';
import { RelayController } from './relayController';
import { StatusBar } from './statusBar';
import { JoinUriHandler } from './uriHandler';
import { Walkthrough } from './walkthrough';
import { registerFeatureCommands } from './featureCommands';
import { shouldNotify } from './notifyPolicy';
import { PrivateRooms } from './privateSession';
import { FileHistoryLog } from '../node/historyFile';
import { markInvisible } from '../shared/visibleText';

/** The test-only API returned by activate() (src/shared/messages.ts): no secrets. */
export interface TestingApi {
  relayPort(): number | undefined;
  relayPid(): number | undefined;
  connectionState(): string;
  currentRoom(): { room: string; name: string; relay: string } | undefined;
  statusText(): string;
  onlineCount(): number;
  /** The client's last connection error, as the Connect command reports it (no secrets: addresses and reasons). */
  lastConnectionError(): string | undefined;
}

/** New-message notifications: at most one per room in this interval. */
const NOTIFY_INTERVAL_MS = 30_000;

/** Names from the network in a notification: no Markdown links (a notification renders them). */
function notificationText(s: string): string {
  return [...markInvisible(s).replace(/[[\]()<>`*_\\]/g, '').replace(/\s+/g, ' ')].slice(0, 40).join('');
}

/** vscode's SecretStorage and Memento return Thenables; the core's stores want Promises. */
function secretStore(s: vscode.SecretStorage): SecretStore {
  return {
    get: (k) => Promise.resolve(s.get(k)),
    store: (k, v) => Promise.resolve(s.store(k, v)),
    delete: (k) => Promise.resolve(s.delete(k)),
  };
}

function stateStore(m: vscode.Memento): StateStore {
  return {
    get: <T>(k: string) => m.get<T>(k),
    update: (k, v) => Promise.resolve(m.update(k, v)),
  };
}

/** ChatSession's `smc.currentRoom` (src/vscode/chatSession.ts), moved with its room. */
const CURRENT_ROOM_STATE = 'smc.currentRoom';

/**
 * The KeyStore, which first moves rooms stored under a protocol v1 id to their v2 id (§2.2),
 * once, on the first use of a secret (the first connect), since activation reads no secret.
 */
function migratingKeys(keys: KeyStore, rooms: RoomList, state: StateStore, known: KnownKeys, log: (e: string, f?: Record<string, unknown>) => void): KeyStoreLike {
  let done: Promise<void> | undefined;
  const migrate = (): Promise<void> => (done ??= (async () => {
    const moves = await migrateV1RoomIds(keys, rooms, state, [], async (from, to) => {
      const table = state.get<Record<string, Record<string, unknown>>>(KNOWN_KEYS_STATE);
      const names = table !== undefined && Object.hasOwn(table, from) ? table[from] : undefined;
      for (const [name, fp] of Object.entries(names ?? {})) if (typeof fp === 'string') await known.trust(to, name, fp);
      await known.forgetRoom(from);
    });
    for (const m of moves) if (state.get<string>(CURRENT_ROOM_STATE) === m.from) await state.update(CURRENT_ROOM_STATE, m.to);
    if (moves.length > 0) log('rooms moved to protocol v2 room ids', { count: moves.length });
  })().catch((e: unknown) => {
    done = undefined;
    log('room id migration failed', { error: e instanceof Error ? e.message : String(e) });
  }));
  return {
    identity: async () => (await migrate(), keys.identity()),
    roomKey: async (room) => (await migrate(), keys.roomKey(room)),
    setRoomKey: (room, key) => keys.setRoomKey(room, key),
    deleteRoomKey: (room) => keys.deleteRoomKey(room),
  };
}

class Extension extends Disposable {
  readonly session: ChatSession;
  readonly status: StatusBar;
  readonly relay: RelayController;
  readonly panels: ChatPanelManager;
  readonly privateRooms: PrivateRooms;
  private readonly lastNotified = new Map<string, number>();
  private lastConnectionError: string | undefined;
  private notifyLog: (event: string, fields?: Record<string, unknown>) => void = () => undefined;

  constructor(context: vscode.ExtensionContext) {
    super();
    const logs = this._register(new Logs());
    this.notifyLog = logs.log;
    const state = stateStore(context.globalState);
    const knownKeys = new KnownKeys(state);
    const shownIds = new ShownIdsState(state);
    // Un-acked messages (sealed envelopes) persist in globalState: a killed extension host loses none (§1.5).
    const outbox = new OutboxState(state);
    const rooms = new RoomList(state);
    const secrets = secretStore(context.secrets);
    const keys = migratingKeys(new KeyStore(secrets), rooms, state, knownKeys, logs.log);
    this.session = new ChatSession({
      keys,
      rooms,
      knownKeys,
      state,
      settings: () => readSettings(),
      fingerprint,
      log: logs.log,
      outbox,
      isPrivateRoom: (room) => this.privateRooms.isPrivate(room),
      // The ids shown per room persist in globalState, so that a relay cannot replay an earlier
      // message under a new seq after a restart (docs/protocol.md §2.8).
      // A room from an smcs:// invite (or smc.relay.tlsFingerprint) talks TLS pinned to its
      // relay's certificate (docs/protocol.md §1.8); any other certificate closes the connection.
      createClient: ({ tlsFingerprint, ...p }) => new RelayClient({
        ...p,
        agent: `smc-vscode/${SMC_VERSION}`,
        transport: tlsFingerprint !== undefined ? createTlsTransportFactory(tlsFingerprint) : createTcpTransport,
        verifier: new WorkerSignatureVerifier(),
        shownIds,
        outbox,
      }),
    });
    // Private rooms (docs/protocol.md §3): their MLS state and history key in SecretStorage, their
    // history encrypted in the global storage folder; each room on its own connection.
    this.privateRooms = new PrivateRooms({
      secrets, state, rooms,
      identity: () => keys.identity(),
      displayName: () => readSettings().displayName,
      historyLog: (room) => new FileHistoryLog(room, context.globalStorageUri.fsPath),
      transport: createTcpTransport,
      agent: `smc-vscode/${SMC_VERSION}`,
      log: logs.log,
      sink: this.session,
    });
    this._register(toDisposable(() => void this.privateRooms.stopAll()));
    this._register(toDisposable(this.session.on('connection', (s) => {
      if (s === 'connected') void this.privateRooms.startAll();
    })));
    // A relay that is away is retried by each room's connection, as for link rooms: not an error to show.
    this._register(toDisposable(this.privateRooms.on('error', (e) => {
      if (e.code === 'connection_failed') return;
      void vscode.window.showErrorMessage(`SMC: ${e.message}`);
    })));
    this._register(toDisposable(() => void this.session.dispose()));
    this.status = this._register(new StatusBar(this.session));
    // A private room's member count is in the status (it has no presence).
    this._register(toDisposable(this.privateRooms.on('changed', () => this.status.update())));
    this.relay = this._register(new RelayController(context, logs));
    const selfName = (): string => readSettings().displayName;
    this.panels = this._register(new ChatPanelManager({ extensionUri: context.extensionUri, session: this.session, selfName, log: logs.log, privateRooms: this.privateRooms }));

    const walkthrough = new Walkthrough(context.extension.id, logs.log);
    // Reaching any relay (the team's, or this machine's) is what the walkthrough's first step asks.
    this._register(toDisposable(this.session.on('connection', (s) => {
      if (s === 'connected') walkthrough.complete('relay');
    })));
    const commands = new Commands({ session: this.session, relay: this.relay, panels: this.panels, status: this.status, log: logs.log, walkthrough, privateRooms: this.privateRooms });
    for (const d of commands.register()) this._register(d);
    this._register(vscode.window.registerUriHandler(new JoinUriHandler((invite) => commands.joinFromInvite(invite))));
    this._register(
      vscode.window.registerWebviewPanelSerializer(CHAT_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel) => {
          panel.webview.options = webviewOptions(context.extensionUri);
          this.panels.revive(panel);
          if (this.session.currentRoom && this.session.connectionState === 'offline') await commands.connect();
        },
      }),
    );

    this._register(vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('smc.displayName')) this.session.setDisplayName(readSettings().displayName);
      if (e.affectsConfiguration('smc')) this.status.update();
    }));
    this._register(toDisposable(this.session.on('incoming', (room, item) => this.notify(room, item.name, item.mentionsMe === true))));
    for (const d of registerFeatureCommands(this.session, () => this.panels.open())) this._register(d);
    this._register(toDisposable(this.session.on('error', (e) => {
      // Connection failures are reported by the Connect command; others the user should see.
      if (e.code === 'connection_failed') this.lastConnectionError = e.message;
      if (e.code === 'connection_failed' || e.code === 'protocol_error') return;
      void vscode.window.showErrorMessage(`SMC: ${e.message}`);
    })));
  }

  private notify(room: string, sender: string, mentioned: boolean): void {
    // A mention notifies even when notifications are otherwise off; a muted room never does
    // (docs/extension.md "Notifications").
    const muted = this.session.isMuted(room);
    if (!shouldNotify({ muted, notifications: readSettings().notifications, mentioned })) {
      if (mentioned) this.notifyLog('mention not notified', { room, muted });
      return;
    }
    const panel = this.panels.panel;
    if (panel?.visible && panel.panel.active && vscode.window.state.focused) {
      if (mentioned) this.notifyLog('mention not notified', { room, reason: 'the chat is in view' });
      return;
    }
    const now = Date.now();
    if (!mentioned && now - (this.lastNotified.get(room) ?? 0) < NOTIFY_INTERVAL_MS) return;
    this.lastNotified.set(room, now);
    const entry = this.session.rooms.find((r) => r.room === room);
    const where = notificationText(entry?.name ?? 'a room');
    void vscode.window
      .showInformationMessage(mentioned ? `SMC: ${notificationText(sender)} mentioned you in ${where}.` : `SMC: new message from ${notificationText(sender)} in ${where}.`, 'Open Chat')
      .then(async (choice) => {
        if (choice !== 'Open Chat') return;
        if (this.session.currentRoom?.room !== room) await this.session.setCurrent(room);
        this.panels.open();
      });
  }

  testing(): TestingApi {
    return {
      relayPort: () => this.relay.running?.port,
      relayPid: () => this.relay.running?.pid,
      connectionState: () => this.session.connectionState,
      currentRoom: () => {
        const r = this.session.currentRoom;
        return r ? { room: r.room, name: r.name, relay: r.relay } : undefined;
      },
      statusText: () => this.status.text,
      onlineCount: () => this.session.onlineCount(),
      lastConnectionError: () => this.lastConnectionError,
    };
  }

  async shutdown(): Promise<void> {
    // A reload or a closing window leaves the local relay running (a terminal client may use
    // it, and the next window adopts it); its lease ends it if no window comes back.
    this.relay.detach();
    await this.privateRooms.stopAll();
    await this.session.dispose();
  }
}

let running: Extension | undefined;

export function activate(context: vscode.ExtensionContext): { testing: TestingApi } {
  const ext = new Extension(context);
  running = ext;
  context.subscriptions.push(ext);
  return { testing: ext.testing() };
}

/** Stops the local relay gracefully (clients get `bye`) and closes the connection. */
export async function deactivate(): Promise<void> {
  const ext = running;
  running = undefined;
  await ext?.shutdown();
}
