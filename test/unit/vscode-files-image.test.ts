// Images before the panel decodes them (src/vscode/filesImage.ts) and the path guard of an
// applied patch (src/vscode/diffShareApply.ts patchTarget), against real files and links.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { RoomFeatures as CoreFeatures } from '../../src/core/client/roomFeatures';
import type { ChatMessage } from '../../src/core/client/types';
import { fileMessages } from '../../src/core/payload';
import { patchTarget } from '../../src/vscode/diffShareApply';
import { imageSize, previewableSize } from '../../src/vscode/filesImage';
import { checkSnippetPath } from '../../src/vscode/pathGuard';
import { RoomFeatures } from '../../src/vscode/roomFeatures';

/** A PNG header (signature + IHDR) claiming w×h, followed by a little deflated data. */
function pngHeader(w: number, h: number): Buffer {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'ascii');
  ihdr.writeUInt32BE(w, 8);
  ihdr.writeUInt32BE(h, 12);
  ihdr[16] = 8;
  ihdr[17] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, deflateSync(Buffer.alloc(100_000))]);
}

describe('image previews and patch paths (issue 12 attacks)', () => {
  it('reads the size of PNG, GIF, JPEG and WebP headers', () => {
    assert.deepEqual(imageSize('image/png', pngHeader(40, 30)), { width: 40, height: 30 });
    assert.deepEqual(imageSize('image/gif', Buffer.from([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 10, 0, 20, 0])), { width: 10, height: 20 });
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0x00, 0x02, 0x00, 0x03, 0, 0, 0, 0]);
    assert.deepEqual(imageSize('image/jpeg', jpeg), { width: 512, height: 256 });
    const webp = Buffer.alloc(30);
    webp.write('RIFF', 0, 'ascii');
    webp.write('WEBPVP8X', 8, 'ascii');
    webp.writeUIntLE(99, 24, 3);
    webp.writeUIntLE(49, 27, 3);
    assert.deepEqual(imageSize('image/webp', webp), { width: 100, height: 50 });
    assert.equal(imageSize('image/png', Buffer.alloc(3)), undefined);
  });

  it('does not preview a decompression bomb (30 000 × 30 000 pixels in a few hundred bytes)', () => {
    const bomb = pngHeader(30_000, 30_000);
    assert.ok(bomb.length < 1_000);
    assert.equal(previewableSize('image/png', bomb), false);
    assert.equal(previewableSize('image/png', pngHeader(1920, 1080)), true);
    // Through the room, as a received file: complete, savable, not an image to decode.
    const core = new CoreFeatures('r', 'AAAA AAAA AAAA AAAA AAAA AAAA AAAA AAAA');
    const mine = new RoomFeatures(() => undefined);
    const BOB = 'BBBB BBBB BBBB BBBB BBBB BBBB BBBB BBBB';
    const { file, chunks } = fileMessages({ id: 'f'.repeat(22), ts: 1, name: 'Bob', fileName: 'bomb.png', mime: 'image/png', bytes: bomb }, () => 'c'.repeat(22));
    const msg = (seq: number, p: object): ChatMessage => ({ room: 'r', seq, ts: 1, id: (p as { id: string }).id, name: 'Bob', fingerprint: BOB, shortFingerprint: 'BBBB BBBB', type: (p as { type: string }).type, verified: true, keyChanged: false, own: false, history: false, ...p });
    for (const m of [msg(1, file), msg(2, chunks[0]!)]) {
      const out = core.receive(m);
      if (out.message) mine.onMessage(out.message);
      for (const f of out.files) mine.onFile(f);
    }
    const item = mine.decorate({ key: file.id, kind: 'message', ts: 1, name: 'Bob', fingerprint: BOB, shortFingerprint: '', type: 'file', own: false, state: 'received', keyChanged: false }, () => undefined);
    assert.equal(item.file?.state, 'complete');
    assert.equal(item.file?.image, undefined, 'a 900-megapixel image is handed to the panel to decode');
  });

  it('refuses a patch whose path leads out of the workspace through a link, or through `..`', async () => {
    const base = mkdtempSync(join(tmpdir(), 'smc-patch-guard-'));
    try {
      const ws = join(base, 'ws');
      const outside = join(base, 'outside');
      mkdirSync(join(ws, 'src'), { recursive: true });
      mkdirSync(outside);
      symlinkSync(outside, join(ws, 'linked'));
      const folder = realpathSync(ws);
      const deps = { realpath, checkPath: checkSnippetPath };
      assert.deepEqual(await patchTarget(folder, '', ['src/a.ts', 'src/new/dir/b.ts'], deps), { ok: true, dir: folder });
      const viaLink = await patchTarget(folder, '', ['src/a.ts', 'linked/authorized_keys'], deps);
      assert.equal(viaLink.ok, false);
      const rootViaLink = await patchTarget(folder, 'linked', ['x.txt'], deps);
      assert.equal(rootViaLink.ok, false);
      assert.equal((await patchTarget(folder, '', ['../outside/x'], deps)).ok, false);
      assert.equal((await patchTarget(folder, '', ['/etc/passwd'], deps)).ok, false);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
