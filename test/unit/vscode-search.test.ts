// Search in a room's history on this machine (src/vscode/search.ts): every word, any case,
// newest first, bounded; deleted messages are not found; excerpts are plain visible text.
import { strict as assert } from 'node:assert';
import type { ChatItem } from '../../src/shared/messages';
import { searchItems } from '../../src/vscode/search';

function item(n: number, text: string, over: Partial<ChatItem> = {}): ChatItem {
  return {
    key: `k${n}`.padEnd(22, 'x'), kind: 'message', seq: n, ts: n, name: 'Bob', fingerprint: 'F', shortFingerprint: 'F',
    type: 'text', text, own: false, state: 'received', keyChanged: false, ...over,
  };
}

describe('search in the room (issue 12)', () => {
  const items = [
    item(1, 'The relay crashed at startup'),
    item(2, 'RELAY is fine now'),
    item(3, 'deleted relay secret', { deleted: true }),
    item(4, 'nothing here'),
    item(5, '', { type: 'snippet', snippet: { lang: 'ts', path: 'src/relay/server.ts', start: 1, end: 2, code: 'listen(port)' } }),
    item(6, 'a file', { type: 'file', file: { name: 'relay.log', size: 3, mime: 'text/plain', state: 'complete', received: 1, chunks: 1 } }),
  ];

  it('finds every word in any case, newest first, in text, snippets and file names', () => {
    assert.deepEqual(searchItems(items, 'relay', 10).map((h) => h.seq), [6, 5, 2, 1]);
    assert.deepEqual(searchItems(items, 'Relay   CRASHED', 10).map((h) => h.seq), [1]);
    assert.deepEqual(searchItems(items, 'listen', 10).map((h) => h.seq), [5]);
  });

  it('finds nothing for an empty query, never a deleted message, and stops at the bound', () => {
    assert.deepEqual(searchItems(items, '   ', 10), []);
    assert.deepEqual(searchItems(items, 'secret', 10), []);
    assert.equal(searchItems(items, 'relay', 2).length, 2);
  });

  it('gives a one-line excerpt with hidden characters shown', () => {
    const long = `${'x '.repeat(60)}pay\u200Bpal is the word\nand more ${'y '.repeat(60)}`;
    const [hit] = searchItems([item(9, long)], 'word', 5);
    assert.ok(hit);
    assert.match(hit.excerpt, /^….*⟦U\+200B⟧.*word.*…$/);
    assert.ok(!hit.excerpt.includes('\n'));
  });
});
