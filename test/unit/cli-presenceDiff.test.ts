// Who arrived and who left, by person rather than by sid (src/cli/presenceDiff.ts, issue 11:
// after a relay restart everyone is back under a new sid, and nobody must be "here" and "left").
import { strict as assert } from 'node:assert';
import { countPresence, presenceChanges } from '../../src/cli/presenceDiff';

const bob = { person: 'FP-B\nbob', shown: 'bob' };
const carol = { person: 'FP-C\ncarol', shown: 'carol' };
const fakeBob = { person: 'FP-X\nbob', shown: 'bob (KEY CHANGED)' };
const unverified = { person: 'unverified', shown: 'an unverified member' };

describe('presence changes (smc chat)', () => {
  it('the same people under new sids: nothing arrived, nothing left', () => {
    assert.deepEqual(presenceChanges(countPresence([bob, carol]), countPresence([carol, bob])), { arrived: [], left: [] });
  });

  it('says who arrived and who left', () => {
    assert.deepEqual(presenceChanges(countPresence([bob]), countPresence([carol])), { arrived: ['carol'], left: ['bob'] });
    assert.deepEqual(presenceChanges(new Map(), countPresence([bob, unverified])), { arrived: ['bob', 'an unverified member'], left: [] });
  });

  it('a person with two connections is here until the last one goes', () => {
    assert.deepEqual(presenceChanges(countPresence([bob]), countPresence([bob, bob])), { arrived: [], left: [] });
    assert.deepEqual(presenceChanges(countPresence([bob, bob]), countPresence([bob])), { arrived: [], left: [] });
    assert.deepEqual(presenceChanges(countPresence([bob]), countPresence([])), { arrived: [], left: ['bob'] });
  });

  it('another key under the same name is another person', () => {
    assert.deepEqual(presenceChanges(countPresence([bob]), countPresence([bob, fakeBob])), { arrived: ['bob (KEY CHANGED)'], left: [] });
    assert.deepEqual(presenceChanges(countPresence([bob]), countPresence([fakeBob])), { arrived: ['bob (KEY CHANGED)'], left: ['bob'] });
  });
});
