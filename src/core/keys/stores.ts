// The two storage shapes SMC writes to (docs/protocol.md §2.1: keys are secrets at rest). They are
// the shapes of vscode.SecretStorage and vscode.Memento, so the extension passes
// `context.secrets` and `context.globalState` directly, and the terminal passes the file
// stores of src/node/fileStores.ts.

/** Where secrets live: identity seed and room keys. Same shape as vscode.SecretStorage. */
export interface SecretStore {
  get(key: string): Promise<string | undefined>;
  store(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Where non-secret state lives: the room list, known keys. Same shape as vscode.Memento. */
export interface StateStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Promise<void>;
}

/** A SecretStore in memory, for tests and for a session that must leave no trace. */
export class MemorySecretStore implements SecretStore {
  private readonly values = new Map<string, string>();

  get(key: string): Promise<string | undefined> {
    return Promise.resolve(this.values.get(key));
  }

  store(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    return Promise.resolve();
  }

  delete(key: string): Promise<void> {
    this.values.delete(key);
    return Promise.resolve();
  }
}

/** A StateStore in memory, for tests. Values are copied through JSON, as a Memento does. */
export class MemoryStateStore implements StateStore {
  private readonly values = new Map<string, string>();

  get<T>(key: string): T | undefined {
    const v = this.values.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  update(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, JSON.stringify(value));
    return Promise.resolve();
  }
}

/**
 * One message the relay has not acked yet (docs/protocol.md §1.5), as kept across restarts: the
 * sealed envelope exactly as sent (§2.4: ciphertext, signed) and its id, never its text.
 */
export interface PendingEnvelope {
  room: string;
  id: string;
  body: string;
}

/**
 * Where a client keeps its un-acked messages so that a killed process loses none (§1.5): each is
 * saved before its send goes out and removed on its ack; the next run sends the room's again,
 * with the same ids (the relay's dedup answers a stored one with its original seq). The
 * extension keeps them in globalState (OutboxState), the terminal in $SMC_HOME/outbox
 * (src/node/fileStores.ts FileOutboxStore).
 */
export interface OutboxStore {
  /** The room's messages kept by earlier runs, in send order. */
  load(room: string): PendingEnvelope[];
  /** Keeps a message; its send goes out once this resolves. */
  save(entry: PendingEnvelope): Promise<void>;
  /** Forgets a message (acked). */
  remove(room: string, id: string): Promise<void>;
  /** Forgets every message of a room (the user forgot the room). */
  forget(room: string): Promise<void>;
}
