// The webview side of the host <-> webview protocol (src/shared/messages.ts): requests with
// ids and a timeout, events from the host dispatched by name. Pending requests are rejected
// when the page goes away, so no caller waits forever.
import {
  WEBVIEW_LIMITS,
  type EventName,
  type HostEvents,
  type HostToWebview,
  type RequestName,
  type RequestOf,
  type ResponseOf,
} from '../src/shared/messages';

export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

type EventHandler<E extends EventName> = (payload: HostEvents[E]) => void;

export class WebviewMessenger {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<EventName, (payload: never) => void>();
  private disposed = false;

  constructor(
    private readonly api: VsCodeApi,
    target: Pick<Window, 'addEventListener'>,
    private readonly timeoutMs: number = WEBVIEW_LIMITS.requestTimeoutMs,
  ) {
    target.addEventListener('message', (e: MessageEvent<unknown>) => this.receive(e.data));
  }

  on<E extends EventName>(name: E, handler: EventHandler<E>): void {
    this.handlers.set(name, handler as (payload: never) => void);
  }

  request<N extends RequestName>(name: N, payload: RequestOf<N>): Promise<ResponseOf<N>> {
    if (this.disposed) return Promise.reject(new Error('The panel is closing.'));
    const id = this.nextId++;
    return new Promise<ResponseOf<N>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`SMC did not answer "${name}" in time.`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.api.postMessage({ kind: 'request', id, name, payload });
    });
  }

  dispose(): void {
    this.disposed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('The panel is closing.'));
      this.pending.delete(id);
    }
  }

  private receive(data: unknown): void {
    if (typeof data !== 'object' || data === null) return;
    const msg = data as HostToWebview;
    if (msg.kind === 'response') {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(msg.error));
    } else if (msg.kind === 'event') {
      const handler = this.handlers.get(msg.name);
      if (handler) (handler as (payload: unknown) => void)(msg.payload);
    }
  }
}
