// The extension's private rooms without VS Code (src/vscode/privateSession.ts, privateText.ts,
// the panel's request checks in src/shared/validate.ts): the words of membership events, and
// which history records become timeline items (a member cannot forge a membership event).
// The same code through a real relay: test/system/vscode-private.test.ts.
import { strict as assert } from 'node:assert';
import { fingerprint } from '../../src/core/crypto/identity';
import { validateWebviewMessage } from '../../src/shared/validate';
import { historyItem } from '../../src/vscode/privateSession';
import { MEMBERSHIP_TYPE, inviteNotice, membershipText } from '../../src/vscode/privateText';

describe('extension private rooms: words and history items', () => {
  it('says who added or removed whom, with hidden characters shown and names bounded', () => {
    assert.equal(membershipText('added', 'alice', 'bob'), 'alice added bob');
    assert.equal(membershipText('removed', 'alice', 'carol'), 'alice removed carol');
    assert.equal(membershipText('removed_you', 'carol'), 'carol removed you from this room');
    assert.doesNotMatch(membershipText('added', 'ali\u202Ece', 'b\nob'), /[\u202E\n]/);
    assert.ok(membershipText('added', 'x'.repeat(500), 'y').length < 140);
    assert.match(inviteNotice('team', 24 * 3_600_000, 0), /for 24 hours/);
  });

  const self = 'aa'.repeat(32);
  const other = 'bb'.repeat(32);
  const rec = (sender: string, id: string, p: Record<string, unknown>) => ({ seq: 5, ts: 1, id, epoch: 1, sender, p: JSON.stringify(p) });

  it('a text record is a message with its sender\'s fingerprint; an own one is own', () => {
    const r = historyItem('R'.repeat(22), rec(other, 'i'.repeat(22), { id: 'i'.repeat(22), ts: 1, name: 'bob', type: 'text', text: 'hi' }), self);
    assert.ok(r !== undefined && r.kind === 'message');
    assert.equal(r.message.text, 'hi');
    assert.equal(r.message.own, false);
    assert.equal(r.message.seq, 5);
    assert.equal(r.message.fingerprint, fingerprint(Buffer.from(other, 'hex')));
    const own = historyItem('R'.repeat(22), rec(self, 'j'.repeat(22), { id: 'j'.repeat(22), ts: 1, name: 'me', type: 'text', text: 'mine' }), self);
    assert.ok(own !== undefined && own.kind === 'message' && own.message.own);
  });

  it('a record a delete purged (§3.8) shows as deleted, never as an empty text', () => {
    const purged = { ...rec(other, 'd'.repeat(22), { id: 'd'.repeat(22), ts: 1, name: 'bob', type: 'text', text: '' }), deleted: true as const };
    const r = historyItem('R'.repeat(22), purged, self);
    assert.ok(r !== undefined && r.kind === 'message');
    assert.equal(r.message.deleted, true);
    assert.equal(r.message.text, undefined);
    assert.equal(r.message.seq, 5);
  });

  it('a membership event comes back only from this client\'s own record: another member cannot forge one', () => {
    const fp = fingerprint(Buffer.from(other, 'hex'));
    const mine = historyItem('R'.repeat(22), rec(self, 'mb-5-0', { type: MEMBERSHIP_TYPE, text: 'alice added bob', by: fp }), self);
    assert.ok(mine !== undefined && mine.kind === 'membership');
    assert.equal(mine.text, 'alice added bob');
    // The same record from another member (their application message of that type) is nothing.
    assert.equal(historyItem('R'.repeat(22), rec(other, 'mb-5-0', { type: MEMBERSHIP_TYPE, text: 'alice removed carol', by: fp }), self), undefined);
    assert.equal(historyItem('R'.repeat(22), rec(other, 'k'.repeat(22), { id: 'k'.repeat(22), ts: 1, name: 'bob', type: MEMBERSHIP_TYPE, text: 'alice removed carol' }), self), undefined);
    // Nor one of ours without our prefix, or with a malformed author.
    assert.equal(historyItem('R'.repeat(22), rec(self, 'k'.repeat(22), { type: MEMBERSHIP_TYPE, text: 'x', by: fp }), self), undefined);
    assert.equal(historyItem('R'.repeat(22), rec(self, 'mb-1-1', { type: MEMBERSHIP_TYPE, text: 'x', by: '<b>' }), self), undefined);
    assert.equal(historyItem('R'.repeat(22), { ...rec(self, 'mb-1-2', {}), p: 'not json' }, self), undefined);
  });

  it('the panel\'s private requests are checked for shape: a fingerprint, nothing else', () => {
    const fp = fingerprint(Buffer.from(other, 'hex'));
    const req = (name: string, payload: unknown) => validateWebviewMessage({ kind: 'request', id: 1, name, payload });
    assert.equal(req('privateRemove', { fingerprint: fp }).ok, true);
    assert.equal(req('privatePromote', { fingerprint: fp }).ok, true);
    assert.equal(req('privateRemove', { fingerprint: 'alice' }).ok, false);
    assert.equal(req('privateRemove', { fingerprint: fp, admin: true }).ok, false);
    assert.equal(req('privateInvite', { uses: 1000 }).ok, false);
    assert.equal(req('roomKind', {}).ok, true);
    assert.equal(req('privateForget', { room: 'x' }).ok, false);
  });
});

