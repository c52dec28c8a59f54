// The host side of the host <-> webview protocol (src/shared/messages.ts). Every frame from
// the webview is validated at runtime (src/shared/validate.ts) before a handler sees it; the
// webview is less trusted than the host. Events are posted only after the webview's `ready`
// (whose answer is the full snapshot), so nothing posted early is lost or doubled.
import type * as vscode from 'vscode';
import type { EventName, HostEvents, HostToWebview, RequestName, RequestOf, ResponseOf } from '../shared/messages';
import { validateWebviewMessage } from '../shared/validate';
import { Disposable } from './lifecycle';

export type RequestHandlers = {
  [N in RequestName]: (payload: RequestOf<N>) => ResponseOf<N> | Promise<ResponseOf<N>>;
};

export class PanelMessenger extends Disposable {
  private ready = false;

  constructor(
    private readonly webview: vscode.Webview,
    private readonly handlers: RequestHandlers,
    private readonly log: (event: string, fields?: Record<string, unknown>) => void,
  ) {
    super();
    this._register(webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw)));
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Posts an event; dropped before `ready` (the snapshot that answers it covers it). */
  post<E extends EventName>(name: E, payload: HostEvents[E]): void {
    if (!this.ready || this.isDisposed) return;
    this.send({ kind: 'event', name, payload } as HostToWebview);
  }

  private send(frame: HostToWebview): void {
    this.webview.postMessage(frame).then(undefined, () => undefined);
  }

  private async receive(raw: unknown): Promise<void> {
    if (this.isDisposed) return;
    const v = validateWebviewMessage(raw);
    if (!v.ok) {
      // The reason names the field, never its value (it may hold anything).
      this.log('webview message refused', { error: v.error });
      if (v.id !== undefined) this.send({ kind: 'response', id: v.id, ok: false, error: 'SMC refused this request.' });
      return;
    }
    const { id, name, payload } = v.frame;
    if (name === 'ready') this.ready = false;
    try {
      const handler = this.handlers[name] as (p: unknown) => unknown;
      const result = await handler(payload);
      if (this.isDisposed) return;
      this.send({ kind: 'response', id, ok: true, result: result ?? null });
      if (name === 'ready') this.ready = true;
    } catch (e) {
      if (this.isDisposed) return;
      this.send({ kind: 'response', id, ok: false, error: e instanceof Error ? e.message : 'Something went wrong.' });
    }
  }
}
