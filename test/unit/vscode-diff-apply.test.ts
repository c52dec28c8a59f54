// The preview of a shared patch (src/vscode/diffShareApply.ts): a git diff split per file and
// its hunks applied in memory, found where their context is, refused where it is not.
import { strict as assert } from 'node:assert';
import { applyHunks, splitDiff } from '../../src/vscode/diffShareApply';
import { shouldNotify } from '../../src/vscode/notifyPolicy';

const ORIGINAL = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', ''].join('\n');
const DIFF = [
  'diff --git a/n.txt b/n.txt',
  'index 1111111..2222222 100644',
  '--- a/n.txt',
  '+++ b/n.txt',
  '@@ -1,3 +1,3 @@',
  '-one',
  '+ONE',
  ' two',
  ' three',
  '@@ -8,3 +8,4 @@',
  ' eight',
  ' nine',
  '+nine and a half',
  ' ten',
  'diff --git a/new.txt b/new.txt',
  'new file mode 100644',
  '--- /dev/null',
  '+++ b/new.txt',
  '@@ -0,0 +1,2 @@',
  '+hello',
  '+-- not a header',
  '',
].join('\n');

describe('patch preview (issue 12)', () => {
  it('splits a diff per file with its hunks (a "-- " line inside a hunk is content)', () => {
    const files = splitDiff(DIFF);
    assert.deepEqual(files.map((f) => [f.oldPath, f.newPath, f.hunks.length]), [['n.txt', 'n.txt', 2], [undefined, 'new.txt', 1]]);
    assert.deepEqual(files[1]!.hunks[0]!.lines, ['+hello', '+-- not a header']);
  });

  it('applies the hunks, also when the reader\'s copy is shifted, and creates a new file', () => {
    const [n, fresh] = splitDiff(DIFF);
    assert.equal(applyHunks(ORIGINAL, n!.hunks), ['ONE', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'nine and a half', 'ten', ''].join('\n'));
    const shifted = `zero\n${ORIGINAL}`;
    assert.equal(applyHunks(shifted, n!.hunks), `zero\n${['ONE', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'nine and a half', 'ten', ''].join('\n')}`);
    assert.equal(applyHunks('', fresh!.hunks), 'hello\n-- not a header\n');
  });

  it('refuses when the context is not there', () => {
    const [n] = splitDiff(DIFF);
    assert.equal(applyHunks(ORIGINAL.replace('nine', 'NINE'), n!.hunks), undefined);
  });
});

describe('notifications (issue 12)', () => {
  it('a mention notifies even when notifications are off; a muted room never', () => {
    assert.equal(shouldNotify({ muted: false, notifications: false, mentioned: true }), true);
    assert.equal(shouldNotify({ muted: false, notifications: false, mentioned: false }), false);
    assert.equal(shouldNotify({ muted: false, notifications: true, mentioned: false }), true);
    assert.equal(shouldNotify({ muted: true, notifications: true, mentioned: true }), false);
  });
});
