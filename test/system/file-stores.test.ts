// The terminal's file stores (issue 3 §2): 0700 directory, 0600 files, wider permissions
// refused as ssh refuses them, atomic replacement (a failed or killed write leaves the old
// file or the new one, never a partial one).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveRoomId, generateRoomKey } from '../../src/core/crypto';
import { KeyStore, KnownKeys, RoomList } from '../../src/core/keys';
import { FileOutboxStore, FileSecretStore, FileStateStore, FileStoreError, smcHome, writeFileAtomic } from '../../src/node/fileStores';

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('file stores', () => {
  let root: string;
  let dir: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'smc-stores-'));
    dir = join(root, 'config', 'smc');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('uses $SMC_HOME, else ~/.config/smc', () => {
    assert.equal(smcHome({ SMC_HOME: '/x/y' }), '/x/y');
    assert.equal(smcHome({}), join(homedir(), '.config', 'smc'));
    assert.equal(smcHome({ SMC_HOME: '' }), join(homedir(), '.config', 'smc'));
  });

  it('creates the directory 0700 and secrets.json 0600, even with umask 0', async () => {
    const old = process.umask(0);
    try {
      const store = new FileSecretStore(dir);
      await store.store('smc.identity', 'seed');
      assert.equal(mode(dir), 0o700);
      assert.equal(mode(store.path), 0o600);
      const state = new FileStateStore(dir);
      await state.update('k', 1);
      assert.equal(mode(state.path), 0o600);
    } finally {
      process.umask(old);
    }
  });

  it('stores, reads back, deletes, and is read by a new instance (another process)', async () => {
    const a = new FileSecretStore(dir);
    assert.equal(await a.get('x'), undefined);
    await Promise.all([a.store('x', '1'), a.store('y', '2'), a.store('__proto__', '3')]);
    const b = new FileSecretStore(dir);
    assert.equal(await b.get('x'), '1');
    assert.equal(await b.get('y'), '2');
    assert.equal(await b.get('__proto__'), '3');
    assert.equal(await b.get('toString'), undefined);
    await b.delete('x');
    await b.delete('never');
    assert.equal(await a.get('x'), undefined);
    assert.deepEqual(JSON.parse(readFileSync(a.path, 'utf8')), JSON.parse('{"y":"2","__proto__":"3"}'));
  });

  it('a store opened on the folder leaves another store\'s temp file in flight, and removes a crashed writer\'s old one', async () => {
    new FileSecretStore(dir);
    const young = join(dir, '.secrets.json.aaaaaaaaaaaa.tmp');
    const old = join(dir, '.secrets.json.bbbbbbbbbbbb.tmp');
    writeFileSync(young, '{}', { mode: 0o600 });
    writeFileSync(old, '{}', { mode: 0o600 });
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(old, twoHoursAgo, twoHoursAgo);
    new FileSecretStore(dir);
    // The young one may be another store's write between its fsync and its rename (a flaky
    // ENOENT on that rename came from this: every temp was removed at open).
    assert.ok(existsSync(young), 'a temp file in flight was removed');
    assert.ok(!existsSync(old), 'a crashed writer\'s temp file was kept');
  });

  it('refuses a secrets file readable by group or others, with the file name and the fix', async () => {
    const store = new FileSecretStore(dir);
    await store.store('k', 'v');
    for (const wide of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(store.path, wide);
      const expected = `Permissions ${wide.toString(8).padStart(4, '0')} for '${store.path}' are too open.`;
      assert.throws(() => new FileSecretStore(dir), (e: unknown) => {
        assert.ok(e instanceof FileStoreError);
        assert.ok(e.message.includes(expected), e.message);
        assert.ok(e.message.includes('NOT accessible by others'));
        assert.ok(e.message.includes(`chmod 600 '${store.path}'`));
        return true;
      });
      // An instance made before the change refuses too, at its next read.
      await assert.rejects(store.get('k'), FileStoreError);
      await assert.rejects(store.store('k', 'w'), FileStoreError);
    }
    chmodSync(store.path, 0o600);
    assert.equal(await new FileSecretStore(dir).get('k'), 'v');
  });

  it('refuses a directory others can write to, a symlinked or non-file secrets.json, and a corrupt file', async () => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o777);
    assert.throws(() => new FileSecretStore(dir), /Permissions 0777 for .* are too open[\s\S]*chmod 700/);
    chmodSync(dir, 0o700);

    const target = join(root, 'elsewhere.json');
    writeFileSync(target, '{}', { mode: 0o600 });
    symlinkSync(target, join(dir, 'secrets.json'));
    assert.throws(() => new FileSecretStore(dir), /not a regular file/);
    rmSync(join(dir, 'secrets.json'));

    mkdirSync(join(dir, 'secrets.json'));
    assert.throws(() => new FileSecretStore(dir), /not a regular file/);
    rmSync(join(dir, 'secrets.json'), { recursive: true });

    writeFileSync(join(dir, 'secrets.json'), '{"half', { mode: 0o600 });
    const store = new FileSecretStore(dir);
    await assert.rejects(store.get('k'), /not a JSON object; SMC will not overwrite it/);
    await assert.rejects(store.store('k', 'v'), FileStoreError);
    assert.equal(readFileSync(join(dir, 'secrets.json'), 'utf8'), '{"half');

    writeFileSync(join(dir, 'state.json'), '[1]', { mode: 0o600 });
    assert.throws(() => new FileStateStore(dir), /state\.json' is not a JSON object/);
  });

  it('writes atomically: a write that fails before the rename leaves the old file and no temp file', async () => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'secrets.json');
    await writeFileAtomic(path, '{"old":"1"}');
    await assert.rejects(writeFileAtomic(path, '{"new":"2"}', { beforeRename: () => { throw new Error('disk full'); } }), /disk full/);
    assert.equal(readFileSync(path, 'utf8'), '{"old":"1"}');
    assert.deepEqual(readdirSync(dir), ['secrets.json']);
    await writeFileAtomic(path, '{"new":"2"}');
    assert.equal(readFileSync(path, 'utf8'), '{"new":"2"}');
    assert.deepEqual(readdirSync(dir), ['secrets.json']);
  });

  it('writes atomically: a process killed between writing and renaming leaves the old file, and its temp file is cleaned up', async function () {
    this.timeout(20_000);
    const store = new FileSecretStore(dir);
    await store.store('k', 'old');
    const modulePath = join(__dirname, '..', '..', 'src', 'node', 'fileStores.js');
    // The child stops at the worst moment (new content written and synced, not yet renamed)
    // and is killed there, as a crash or a power cut would stop it.
    const child = spawn(process.execPath, ['-e', `
      const { writeFileAtomic } = require(${JSON.stringify(modulePath)});
      writeFileAtomic(${JSON.stringify(store.path)}, JSON.stringify({ k: 'new' }), {
        beforeRename: () => { process.stdout.write('go\\n'); return new Promise(() => {}); },
      });
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.stdout.once('data', () => { child.kill('SIGKILL'); resolve(); });
    });
    await new Promise((r) => child.once('exit', r));
    const left = readdirSync(dir).filter((n) => n !== 'secrets.json');
    assert.equal(left.length, 1, 'the killed writer left its temp file');
    assert.equal(readFileSync(join(dir, left[0]!), 'utf8'), '{"k":"new"}');
    assert.equal(await store.get('k'), 'old');
    // Opening the store again removes what the killed writer left behind, once it is old
    // enough not to be a write in flight (see the next test).
    assert.equal(await new FileSecretStore(dir).get('k'), 'old');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(join(dir, left[0]!), twoHoursAgo, twoHoursAgo);
    assert.equal(await new FileSecretStore(dir).get('k'), 'old');
    assert.deepEqual(readdirSync(dir), ['secrets.json']);
  });

  it('keeps state in state.json: copies out, coalesced writes, reload', async () => {
    const state = new FileStateStore(dir);
    assert.equal(state.get('missing'), undefined);
    const obj = { a: [1, 2] };
    await state.update('obj', obj);
    obj.a.push(3);
    state.get<{ a: number[] }>('obj')!.a.push(4);
    assert.deepEqual(state.get('obj'), { a: [1, 2] });
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) writes.push(state.update('n', i));
    await Promise.all(writes);
    await state.update('obj', undefined);
    const again = new FileStateStore(dir);
    assert.equal(again.get('n'), 499);
    assert.equal(again.get('obj'), undefined);
    assert.deepEqual(readdirSync(dir).sort(), ['state.json']);
  });

  it('backs KeyStore, RoomList and KnownKeys across restarts; keys only in secrets.json', async () => {
    const keys = new KeyStore(new FileSecretStore(dir));
    const identity = await keys.identity();
    const k = generateRoomKey();
    const room = deriveRoomId(k);
    await keys.setRoomKey(room, k);
    const rooms = new RoomList(new FileStateStore(dir));
    await rooms.upsert({ room, name: 'Team', relay: '127.0.0.1:7878', lastSeq: 5 });
    const state = new FileStateStore(dir);
    await new KnownKeys(state).trust(room, 'George', 'AAAA BBBB');

    const keys2 = new KeyStore(new FileSecretStore(dir));
    assert.ok((await keys2.identity()).publicKey.equals(identity.publicKey));
    assert.ok((await keys2.roomKey(room))!.equals(k));
    const state2 = new FileStateStore(dir);
    assert.equal(new RoomList(state2).get(room)!.lastSeq, 5);
    assert.equal(new KnownKeys(state2).check(room, 'George', 'AAAA BBBB'), 'same');
    const stateText = readFileSync(join(dir, 'state.json'), 'utf8');
    assert.ok(!stateText.includes(k.toString('base64url')));
    assert.ok(!stateText.includes(identity.seed.toString('base64url')));
    assert.ok(existsSync(join(dir, 'secrets.json')));
  });
});

describe('the outbox files ($SMC_HOME/outbox) trust only what the client itself writes', () => {
  let home: string;
  const room = deriveRoomId(generateRoomKey());
  beforeEach(() => { home = mkdtempSync(join(tmpdir(), 'smc-outbox-')); });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('skips an entry larger than any envelope without reading it, and says so', async () => {
    const problems: string[] = [];
    const store = new FileOutboxStore(home, (p) => problems.push(p));
    await store.save({ room, id: 'AAAAAAAAAAAAAAAAAAAAAA', body: 'b'.repeat(100) });
    const huge = join(home, 'outbox', room, '0000000000000009.BBBBBBBBBBBBBBBBBBBBBB.json');
    writeFileSync(huge, JSON.stringify({ room, id: 'BBBBBBBBBBBBBBBBBBBBBB', body: 'x'.repeat(3 * 1024 * 1024) }), { mode: 0o600 });
    const loaded = new FileOutboxStore(home, (p) => problems.push(p)).load(room);
    assert.deepEqual(loaded.map((e) => e.id), ['AAAAAAAAAAAAAAAAAAAAAA']);
    assert.ok(problems.some((p) => p.includes(huge) && /larger than/.test(p)), problems.join('\n'));
  });

  it('does not follow a room folder that is a symlink', async () => {
    const elsewhere = join(home, 'elsewhere');
    const store = new FileOutboxStore(home, () => undefined);
    await store.save({ room, id: 'AAAAAAAAAAAAAAAAAAAAAA', body: 'b' });
    // Move the real folder away and put a link to it in its place.
    const real = join(home, 'outbox', room);
    mkdirSync(elsewhere, { mode: 0o700 });
    for (const n of readdirSync(real)) writeFileSync(join(elsewhere, n), readFileSync(join(real, n)), { mode: 0o600 });
    rmSync(real, { recursive: true });
    symlinkSync(elsewhere, real);
    const problems: string[] = [];
    assert.deepEqual(new FileOutboxStore(home, (p) => problems.push(p)).load(room), []);
    assert.ok(problems.some((p) => /symbolic link|not a directory/.test(p)), problems.join('\n'));
    assert.equal(readdirSync(elsewhere).length, 1, 'nothing deleted through the link');
  });
});
