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
