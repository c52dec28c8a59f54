// The host side of the panel protocol (src/vscode/panelMessenger.ts): nothing is posted before
// the webview's `ready`, requests are validated before any handler runs, and a refused or
// failing request is answered with an error instead of being dropped or crashing the host.
import { strict as assert } from 'node:assert';
import type { PanelSnapshot } from '../../src/shared/messages';
import { PanelMessenger, type RequestHandlers } from '../../src/vscode/panelMessenger';

/** The Webview parameter's type, without importing vscode into a plain Node test. */
type WebviewParam = ConstructorParameters<typeof PanelMessenger>[0];

class FakeWebview {
  posted: unknown[] = [];
  private listener: ((m: unknown) => void) | undefined;
  onDidReceiveMessage = (l: (m: unknown) => void): { dispose(): void } => {
    this.listener = l;
    return { dispose: () => (this.listener = undefined) };
  };
  postMessage(m: unknown): Thenable<boolean> {
    this.posted.push(m);
    return Promise.resolve(true);
  }
  receive(m: unknown): void {
    this.listener?.(m);
  }
  get listening(): boolean {
    return this.listener !== undefined;
  }
}

const SNAPSHOT: PanelSnapshot = {
  connection: 'offline', relay: '127.0.0.1:7878', items: [], hasOlder: false,
  presence: { online: 0, members: [] }, lastReadSeq: 0, selfName: 'me',
};

function handlers(calls: string[]): RequestHandlers {
  const none = (name: string) => () => {
    calls.push(name);
    return null;
  };
  return {
    ready: () => SNAPSHOT,
    send: ({ text }) => {
      calls.push(`send:${text}`);
      if (text === 'boom') throw new Error('Not connected.');
      return { key: 'K'.repeat(22) };
    },
    retry: none('retry'), typing: none('typing'), openLink: none('openLink'), openSnippet: none('openSnippet'),
    markRead: none('markRead'), verifyMember: none('verifyMember'), runCommand: none('runCommand'),
    loadOlder: () => ({ items: [], hasOlder: false }), loadNewer: () => ({ items: [], hasNewer: false }),
    loadNewest: () => ({ items: [], hasOlder: false }), loadRange: () => ({ items: [], hasOlder: false, hasNewer: false }),
    react: none('react'), edit: none('edit'), deleteMessage: none('deleteMessage'), pickFile: none('pickFile'),
    saveFile: none('saveFile'), previewPatch: none('previewPatch'), applyPatch: none('applyPatch'), openRef: none('openRef'),
    setMuted: none('setMuted'), mentionCandidates: () => ({ candidates: [] }), search: () => ({ hits: [], searched: 0 }),
    loadAround: () => ({ items: [], hasOlder: false, hasNewer: false, found: false }),
    sendFileBytes: () => ({ key: 'K'.repeat(22) }), imageBytes: () => ({ mime: 'image/png', data: '' }),
    roomKind: () => null, privateInvite: none('privateInvite'), privateRemove: none('privateRemove'),
    privatePromote: none('privatePromote'), privateForget: none('privateForget'),
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('panel messenger (host side)', () => {
  it('posts events only after ready, whose answer is the snapshot', async () => {
    const wv = new FakeWebview();
    const m = new PanelMessenger(wv as unknown as WebviewParam, handlers([]), () => undefined);
    m.post('connection', { state: 'connecting', relay: 'x' });
    assert.deepEqual(wv.posted, [], 'nothing before ready');
    wv.receive({ kind: 'request', id: 1, name: 'ready', payload: {} });
    await settle();
    assert.deepEqual(wv.posted, [{ kind: 'response', id: 1, ok: true, result: SNAPSHOT }]);
    m.post('connection', { state: 'connected', relay: 'x' });
    assert.deepEqual(wv.posted[1], { kind: 'event', name: 'connection', payload: { state: 'connected', relay: 'x' } });
    m.dispose();
    m.post('focusComposer', {});
    assert.equal(wv.posted.length, 2, 'nothing after dispose');
    assert.equal(wv.listening, false, 'the listener is removed on dispose');
  });

  it('refuses invalid requests without calling a handler, and answers them', async () => {
    const wv = new FakeWebview();
    const calls: string[] = [];
    const logged: string[] = [];
    const m = new PanelMessenger(wv as unknown as WebviewParam, handlers(calls), (e, f) => logged.push(`${e} ${JSON.stringify(f)}`));
    wv.receive({ kind: 'request', id: 7, name: 'runCommand', payload: { command: 'workbench.action.terminal.sendSequence' } });
    wv.receive({ kind: 'request', id: 8, name: 'send', payload: { text: 'SECRET-ish', extra: true } });
    wv.receive('garbage');
    await settle();
    assert.deepEqual(calls, []);
    assert.deepEqual(wv.posted, [
      { kind: 'response', id: 7, ok: false, error: 'SMC refused this request.' },
      { kind: 'response', id: 8, ok: false, error: 'SMC refused this request.' },
    ]);
    assert.equal(logged.length, 3);
    assert.ok(!logged.join().includes('SECRET-ish'), 'refused payloads are not logged');
    m.dispose();
  });

  it('answers a failing handler with its message', async () => {
    const wv = new FakeWebview();
    const calls: string[] = [];
    const m = new PanelMessenger(wv as unknown as WebviewParam, handlers(calls), () => undefined);
    wv.receive({ kind: 'request', id: 2, name: 'send', payload: { text: 'boom' } });
    wv.receive({ kind: 'request', id: 3, name: 'send', payload: { text: 'fine' } });
    await settle();
    assert.deepEqual(calls, ['send:boom', 'send:fine']);
    assert.deepEqual(wv.posted, [
      { kind: 'response', id: 2, ok: false, error: 'Not connected.' },
      { kind: 'response', id: 3, ok: true, result: { key: 'K'.repeat(22) } },
    ]);
    m.dispose();
  });
});
