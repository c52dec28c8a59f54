// Snippet paths come from the network: "Open in editor" must never leave the workspace.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { checkSnippetPath, snippetRange } from '../../src/vscode/pathGuard';

describe('snippet path guard', () => {
  it('accepts workspace-relative paths and normalises them', () => {
    assert.deepEqual(checkSnippetPath('src/a.ts'), { ok: true, segments: ['src', 'a.ts'] });
    assert.deepEqual(checkSnippetPath('./src//b/../a.ts'), { ok: true, segments: ['src', 'a.ts'] });
    assert.deepEqual(checkSnippetPath('src\\win\\c.ts'), { ok: true, segments: ['src', 'win', 'c.ts'] });
    assert.deepEqual(checkSnippetPath('.github/workflows/ci.yml'), { ok: true, segments: ['.github', 'workflows', 'ci.yml'] });
  });

  it('refuses paths that escape or are not relative', () => {
    for (const p of ['../secret', 'a/../../b', '..', '/etc/passwd', '\\\\server\\share\\x', '\\etc\\passwd', 'C:\\Windows\\x',
      'c:/x', 'file:///etc/passwd', 'vscode-remote://x/y', '~/.ssh/id_rsa', 'a/\u0000b', 'a\nb', '', '.', './', 'a/..',
      'a/.../b', 'a/.. /b', 'dir./x', 'x'.repeat(2000)]) {
      assert.equal(checkSnippetPath(p).ok, false, JSON.stringify(p));
    }
  });

  it('never yields a segment that climbs, whatever the input', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('..', '.', 'a', 'b', '/', '\\', '', ' ', '...', 'c:', '~'), { maxLength: 12 }).map((a) => a.join('/')), (p) => {
        const r = checkSnippetPath(p);
        return !r.ok || (r.segments.length > 0 && r.segments.every((s) => s !== '..' && s !== '.' && s !== '' && !s.includes('/')));
      }),
    );
  });

  it('clamps the line range to the document', () => {
    assert.deepEqual(snippetRange(10, 20, 100), { from: 9, to: 19 });
    assert.deepEqual(snippetRange(10, 20, 15), { from: 9, to: 14 });
    assert.deepEqual(snippetRange(200, 300, 15), { from: 14, to: 14 });
    assert.deepEqual(snippetRange(0, -5, 15), { from: 0, to: 0 });
    assert.deepEqual(snippetRange(5, 2, 15), { from: 4, to: 4 });
  });
});
