// One Disposable base for everything the extension owns (the vscode-pull-request-github
// pattern): children are registered as they are created and disposed together, in reverse.
// No vscode import, so the host-side logic built on it runs in plain Node tests.

export interface DisposableLike {
  dispose(): unknown;
}

export abstract class Disposable implements DisposableLike {
  private readonly disposables: DisposableLike[] = [];
  private disposedFlag = false;

  protected get isDisposed(): boolean {
    return this.disposedFlag;
  }

  /** Takes ownership of `d`; if this object is already disposed, `d` is disposed at once. */
  protected _register<T extends DisposableLike>(d: T): T {
    if (this.disposedFlag) d.dispose();
    else this.disposables.push(d);
    return d;
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const d of this.disposables.splice(0).reverse()) {
      try {
        d.dispose();
      } catch {
        // One failing child must not keep the others alive.
      }
    }
  }
}

/** Wraps a plain function (e.g. an event unsubscriber) as a Disposable. */
export function toDisposable(fn: () => void): DisposableLike {
  let done = false;
  return {
    dispose: () => {
      if (done) return;
      done = true;
      fn();
    },
  };
}
