// A full disk under the store (issue 2 §2: "A write error or full disk: the sender gets
// `internal`, nothing acknowledged is lost, reads keep working, and the log says why").
// The store runs on a real 256 KiB tmpfs, mounted in a private mount namespace of a child
// process (`unshare --mount`, plus `--user --map-root-user` when not root), so the mount can
// never outlive the test. The child runs the scenario and prints what it saw as JSON; the
// assertions are made here.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

interface Outcome {
  acked: Array<{ id: string; seq: number }>;
  rejected: Array<{ code: string; message: string }>;
  headWhenFull: number;
  readWhenFull: string[];
  afterFree: Array<{ id: string; seq: number }>;
  reopened: Array<{ id: string; seq: number; bodyOk: boolean }>;
  reopenedFull: number;
  events: string[];
}

/** Runs inside the child, where `dir` is a fresh 256 KiB tmpfs. Self-contained: it is sent as source. */
async function scenario(storePath: string, dir: string): Promise<Outcome> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { FileStore } = require(storePath) as typeof import('../../src/relay/store/fileStore');
  const fs = require('node:fs') as typeof import('node:fs');
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const room = randomBytes(16).toString('base64url');
  const body = (id: string): string => id.repeat(100); // 2 200 chars, checkable after reopen
  const events: string[] = [];
  const log = (event: string, fields?: Record<string, unknown>): void => {
    events.push(`${event}${fields?.code ? ':' + String(fields.code) : ''}`);
  };
  // Space to give back later.
  fs.writeFileSync(`${dir}/filler`, Buffer.alloc(48 * 1024));
  const data = `${dir}/data`;
  let store = new FileStore({ dir: data, retain: 100_000, log });
  await store.open();
  const acked: Outcome['acked'] = [];
  const rejected: Outcome['rejected'] = [];
  for (let i = 0; i < 400 && rejected.length < 5; i++) {
    const id = randomBytes(16).toString('base64url');
    // Several in flight, as a relay has: one group fails together.
    const batch = [id, randomBytes(16).toString('base64url'), randomBytes(16).toString('base64url')];
    const results = await Promise.allSettled(batch.map((x) => store.append(room, x, body(x))));
    results.forEach((r, k) => {
      if (r.status === 'fulfilled') acked.push({ id: batch[k] as string, seq: r.value.seq });
      else rejected.push({ code: (r.reason as { code: string }).code, message: String((r.reason as Error).message) });
    });
  }
  const headWhenFull = store.head(room);
  const readWhenFull = (await store.range(room, 0, Infinity, 1000)).map((m) => m.id);
  fs.unlinkSync(`${dir}/filler`);
  const afterFree: Outcome['afterFree'] = [];
  for (let i = 0; i < 5; i++) {
    const id = randomBytes(16).toString('base64url');
    afterFree.push({ id, seq: (await store.append(room, id, body(id))).seq });
  }
  await store.close();
  store = new FileStore({ dir: data, retain: 100_000, log });
  await store.open();
  const reopened = (await store.range(room, 0, Infinity, 1000)).map((m) => ({ id: m.id, seq: m.seq, bodyOk: m.body === body(m.id) }));
  // Fill the disk to the last byte, then open again on the full disk.
  for (let i = 0; i < 400; i++) {
    const id = randomBytes(16).toString('base64url');
    if (!(await store.append(room, id, body(id)).then(() => true, () => false))) break;
  }
  const reopenedFullHead = store.head(room);
  await store.close();
  store = new FileStore({ dir: data, retain: 100_000, log });
  await store.open();
  const reopenedFull = store.head(room) === reopenedFullHead ? (await store.range(room, 0, Infinity, 1000)).length : -1;
  await store.close();
  return { acked, rejected, headWhenFull, readWhenFull, afterFree, reopened, reopenedFull, events };
}

describe('FileStore on a full disk', function () {
  this.timeout(30_000);
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-store-fault-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects appends past the space, keeps every acknowledged one readable, and recovers once space is back', () => {
    const storePath = resolve(__dirname, '../../src/relay/store/fileStore.js');
    const code = `(${scenario.toString()})(${JSON.stringify(storePath)}, ${JSON.stringify(dir)})`
      + '.then((o) => { process.stdout.write(JSON.stringify(o)); }, (e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });';
    const ns = process.getuid?.() === 0 ? ['--mount'] : ['--user', '--map-root-user', '--mount'];
    const child = spawnSync('unshare', [...ns, 'sh', '-c', 'mount -t tmpfs -o size=256k tmpfs "$0" && exec "$1" -e "$2"', dir, process.execPath, code], {
      encoding: 'utf8', timeout: 25_000,
    });
    assert.equal(child.status, 0, `child failed (status ${child.status}): ${child.stderr || child.error?.message}`);
    const o = JSON.parse(child.stdout) as Outcome;

    // The disk filled: some appends were acknowledged, then appends failed with ENOSPC.
    assert.ok(o.acked.length >= 20, `only ${o.acked.length} acked before the disk was full`);
    assert.ok(o.rejected.length >= 5);
    assert.ok(o.rejected.every((r) => r.code === 'ENOSPC'), JSON.stringify(o.rejected));
    assert.ok(o.events.includes('store.write_error:ENOSPC'), 'the log says why');
    // Acknowledged ones have contiguous seqs and stay readable while the disk is full.
    assert.deepEqual(o.acked.map((a) => a.seq), o.acked.map((_, i) => i + 1));
    assert.equal(o.headWhenFull, o.acked.length);
    assert.deepEqual(o.readWhenFull, o.acked.map((a) => a.id));
    // With space back, appends succeed and continue the seqs with no hole.
    assert.deepEqual(o.afterFree.map((a) => a.seq), [1, 2, 3, 4, 5].map((k) => o.acked.length + k));
    // After a reopen, every acknowledged message is there exactly once with its body.
    const all = [...o.acked, ...o.afterFree];
    assert.deepEqual(o.reopened.map((m) => [m.seq, m.id]), all.map((a) => [a.seq, a.id]));
    assert.ok(o.reopened.every((m) => m.bodyOk));
    // A store opened on a completely full disk recovers everything it had.
    assert.ok(o.reopenedFull > all.length, `reopened on a full disk: ${o.reopenedFull}`);
    assert.ok(!o.events.includes('store.torn_tail'), 'a failed write leaves no torn tail behind');
  });
});
