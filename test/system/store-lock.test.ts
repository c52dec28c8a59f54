// The data directory's lock (src/relay/store/lock.ts; docs/storage.md "Lock"; issue 7 §1.4): a
// listening Unix socket in the directory, held by the kernel for the life of its process. Tested
// with real processes: holders in this process, in child processes, in another PID namespace
// (`unshare`, root only), stopped with SIGSTOP, killed with SIGKILL; many starters at once; a
// directory path longer than a socket address.

import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirLock, LockedError } from '../../src/relay/store/lock';
import { canUsePidNamespaces, requirePidNamespaces } from '../helpers/relayProcess';

const LOCK_JS = join(__dirname, '../../src/relay/store/lock.js');

/** The first child of `pid` (unshare's forked program), if any. */
function innerPid(pid: number): number | undefined {
  try {
    const [first] = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ');
    return first === undefined || first === '' ? undefined : Number(first);
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (a zombie has closed its files: not alive). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * A child process that tries to take the lock of `dir`, prints `won <pid>` or `locked <message>`
 * (or `error <message>`), and holds a won lock until it is killed. With `die`, it SIGKILLs itself
 * once it holds the lock.
 */
class Contender {
  readonly child: ChildProcess;
  readonly said: Promise<string>;
  private readonly unshared: boolean;

  constructor(dir: string, opts: { unshare?: boolean; die?: boolean } = {}) {
    this.unshared = opts.unshare === true;
    const code = `const { DirLock } = require(${JSON.stringify(LOCK_JS)});
      DirLock.acquire(${JSON.stringify(dir)}).then(
        () => { process.stdout.write('won ' + process.pid + '\\n'); ${opts.die === true ? "process.kill(process.pid, 'SIGKILL');" : 'setInterval(() => {}, 1000);'} },
        (e) => { process.stdout.write((e.code === 'ELOCKED' ? 'locked ' : 'error ') + e.message + '\\n'); process.exit(0); });`;
    const node = [process.execPath, '-e', code];
    this.child = opts.unshare === true
      ? spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', ...node], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(node[0] as string, node.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    this.said = new Promise((resolve) => {
      let out = '';
      this.child.stdout?.setEncoding('utf8').on('data', (c: string) => {
        out += c;
        if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
      });
      this.child.on('exit', () => resolve(out.length > 0 ? out.trim() : 'exited silently'));
    });
  }

  /** Kills the contender; in another namespace, waits until the relay under unshare is dead too. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const inner = this.unshared ? innerPid(this.child.pid as number) : undefined;
    const gone = new Promise((r) => this.child.on('exit', r));
    this.child.kill('SIGKILL');
    await gone;
    while (inner !== undefined && alive(inner)) await new Promise((r) => setTimeout(r, 10));
  }
}

describe('data directory lock (Unix socket held by the kernel)', function () {
  this.timeout(60_000);
  let dir: string;
  const held: DirLock[] = [];
  const children: Contender[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-lock-'));
  });

  afterEach(async () => {
    for (const c of children.splice(0)) await c.kill();
    for (const l of held.splice(0)) await l.release();
    rmSync(dir, { recursive: true, force: true });
  });

  const contender = (opts: { unshare?: boolean; die?: boolean } = {}, where = dir): Contender => {
    const c = new Contender(where, opts);
    children.push(c);
    return c;
  };
  const lockFiles = (where = dir): string[] => readdirSync(where).filter((n) => n.startsWith('lock'));
  const isLocked = (err: unknown): boolean => err instanceof LockedError && err.code === 'ELOCKED';

  it('a lock held by another process is refused, naming its pid and host; released, it can be taken', async () => {
    const holder = contender();
    const said = await holder.said;
    assert.match(said, /^won \d+$/);
    await assert.rejects(DirLock.acquire(dir), (e: Error) => isLocked(e) && e.message.includes(`pid ${said.split(' ')[1]} on `));
    await holder.kill();
    held.push(await DirLock.acquire(dir));
  });

  it('a holder in another PID namespace is respected, and respects one here', async function () {
    requirePidNamespaces(this);
    const holder = contender({ unshare: true });
    // As its own namespace numbers it: pid 1.
    assert.equal(await holder.said, 'won 1');
    await assert.rejects(DirLock.acquire(dir), isLocked);
    await holder.kill();
    held.push(await DirLock.acquire(dir));
    assert.match(await contender({ unshare: true }).said, /^locked .*in use by another relay \(pid \d+ on /);
  });

  it('a stopped holder (SIGSTOP) still holds it: the kernel accepts for it, and silence is not taken as death', async () => {
    const holder = contender();
    assert.match(await holder.said, /^won/);
    holder.child.kill('SIGSTOP');
    try {
      await assert.rejects(DirLock.acquire(dir), (e: Error) => isLocked(e) && /did not say who it is/.test(e.message));
    } finally {
      holder.child.kill('SIGCONT');
    }
  });

  it('the socket of a holder killed with SIGKILL is found dead, removed, and the lock taken', async () => {
    assert.match(await contender({ die: true }).said, /^won/);
    const [stale] = lockFiles();
    assert.ok(stale !== undefined && statSync(join(dir, stale)).isSocket());
    const lock = await DirLock.acquire(dir);
    held.push(lock);
    assert.equal(lockFiles().length, 1);
    assert.ok(!lockFiles().includes(stale), 'the dead socket is still there');
    await lock.release();
    held.pop();
    assert.deepEqual(lockFiles(), []);
  });

  it('the socket of a starter killed before it announced (`.new`) is removed too', async () => {
    const name = `lock-${randomBytes(12).toString('hex')}.new`;
    const code = `require('node:net').createServer().listen(${JSON.stringify(join(dir, name))}, () => process.kill(process.pid, 'SIGKILL'))`;
    assert.equal(spawnSync(process.execPath, ['-e', code]).signal, 'SIGKILL');
    assert.ok(statSync(join(dir, name)).isSocket());
    held.push(await DirLock.acquire(dir));
    assert.ok(!lockFiles().includes(name));
  });

  it('of many acquires at once in one process, on a directory with dead sockets, exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      for (let k = 0; k < 2; k++) assert.match(await contender({ die: true }).said, /^won/);
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => DirLock.acquire(dir)));
      const won = results.filter((r) => r.status === 'fulfilled');
      assert.equal(won.length, 1, `round ${round}: ${won.length} holders`);
      for (const r of results) if (r.status === 'rejected') assert.ok(isLocked(r.reason), String(r.reason));
      await (won[0] as PromiseFulfilledResult<DirLock>).value.release();
      assert.deepEqual(lockFiles(), [], 'withdrawn and released locks leave no file');
    }
  });

  it('of processes started at once (in this and other PID namespaces), exactly one holds it', async () => {
    const unshare = canUsePidNamespaces();
    for (let round = 0; round < 4; round++) {
      const racers = Array.from({ length: 6 }, (_, i) => contender({ unshare: unshare && i % 2 === 0 }));
      const said = await Promise.all(racers.map((r) => r.said));
      assert.equal(said.filter((s) => s.startsWith('won')).length, 1, `round ${round}: ${JSON.stringify(said)}`);
      assert.equal(said.filter((s) => s.startsWith('locked')).length, 5, JSON.stringify(said));
      for (const r of children.splice(0)) await r.kill();
    }
  });

  it('a directory path longer than a socket address (108 bytes) is locked through /proc/self/fd', async () => {
    let long = dir;
    while (long.length < 200) long = join(long, 'a-long-directory-name');
    mkdirSync(long, { recursive: true });
    const lock = await DirLock.acquire(long);
    held.push(lock);
    assert.equal(lockFiles(long).length, 1);
    assert.ok(statSync(join(long, lockFiles(long)[0] as string)).isSocket(), 'the socket lies in the directory itself');
    await assert.rejects(DirLock.acquire(long), isLocked);
    assert.match(await contender({}, long).said, /^locked /);
    await lock.release();
    held.pop();
    assert.deepEqual(lockFiles(long), []);
    assert.match(await contender({ die: true }, long).said, /^won/);
    held.push(await DirLock.acquire(long));
  });

  it('leaves alone a file that only looks like a lock socket, and other files', async () => {
    const fake = `lock-${randomBytes(12).toString('hex')}.sock`;
    writeFileSync(join(dir, fake), 'not a socket');
    held.push(await DirLock.acquire(dir));
    assert.ok(lockFiles().includes(fake));
  });

  it('a release is not held up by a client that connected and never reads', async () => {
    const lock = await DirLock.acquire(dir);
    const [name] = lockFiles();
    const idle = connect(join(dir, name as string));
    idle.on('error', () => undefined);
    idle.pause();
    await new Promise((r) => idle.once('connect', r));
    await lock.release();
    idle.destroy();
    assert.deepEqual(lockFiles(), []);
  });
});
