// The local relay outlives its window (issue 11, "a window reload must not kill the local
// relay"), with the real `smc relay` (dist/cli.js) and real processes: started detached with a
// lease (src/vscode/localRelay.ts), it survives the SIGKILL of the process that started it (an
// extension host killed outright) and then stops by itself once the lease is not renewed
// (`smc relay --lease`); a later host adopts it from its record only when the record still
// names this relay, and stops it with the admin token. A forged record (another process's pid,
// another program's port, another data directory) is neither trusted nor signalled.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalRelay, runsThisRelay, type LocalRelayOptions, type LocalRelayRecord } from '../../src/vscode/localRelay';
import { until } from '../helpers/until';

const CLI = resolve(__dirname, '../../../dist/cli.js');
const LOCAL_RELAY_JS = resolve(__dirname, '../../src/vscode/localRelay.js');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('local relay, detached with a lease', function () {
  this.timeout(60_000);
  let dir: string;
  const pids: number[] = [];
  const children: ChildProcess[] = [];
  const servers: Server[] = [];

  const options = (over: Partial<LocalRelayOptions> = {}): LocalRelayOptions => ({
    execPath: process.execPath, electron: false, cliPath: CLI, dataDir: join(dir, 'relay'),
    host: '127.0.0.1', port: 0, onLog: () => undefined,
    logFile: join(dir, 'relay.log'), lease: { file: join(dir, 'relay.lease'), ttlSeconds: 2 }, ...over,
  });

  before(() => assert.ok(existsSync(CLI), `${CLI} is missing: run "node scripts/build.mjs" first`));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-detached-'));
    mkdirSync(join(dir, 'relay'));
  });
  afterEach(() => {
    for (const pid of pids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const c of children.splice(0)) c.kill('SIGKILL');
    for (const s of servers.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('survives the SIGKILL of the host that started it, then stops by itself once its lease is not renewed', async () => {
    // The "extension host": a Node process that starts the relay as the extension does, renews
    // the lease every 200 ms and prints the relay's pid and port.
    const o = options();
    const host = spawn(process.execPath, ['-e', `
      const { LocalRelay } = require(${JSON.stringify(LOCAL_RELAY_JS)});
      const fs = require('node:fs');
      const o = ${JSON.stringify({ ...o, onLog: undefined })};
      o.onLog = () => {};
      fs.writeFileSync(o.lease.file, '');
      setInterval(() => { const t = new Date(); fs.utimesSync(o.lease.file, t, t); }, 200);
      new LocalRelay(o).start().then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e.message); process.exit(1); });
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(host);
    let out = '';
    host.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const running = await until('the host to report its relay', () => (out.includes('\n') ? JSON.parse(out.split('\n')[0] ?? '') as { pid: number; port: number } : undefined), 30_000);
    pids.push(running.pid);
    assert.notEqual(running.pid, host.pid);
    // Renewed for longer than two leases: still there.
    const t0 = Date.now();
    await until('two lease periods of renewals', () => (Date.now() - t0 > 5_000 ? true : undefined));
    assert.ok(alive(running.pid), 'the relay stopped although its lease was renewed');
    host.kill('SIGKILL');
    await until('the host to die', () => (host.exitCode !== null || host.signalCode !== null ? true : undefined));
    assert.ok(alive(running.pid), 'the relay died with its host (it must outlive a reload)');
    // Nobody renews now: the relay stops by itself, cleanly, once the lease is older than 2 s.
    await until('the orphaned relay to stop after its lease', () => (!alive(running.pid) ? true : undefined), 30_000);
    assert.ok(logHas(o.logFile!, '"lease_expired"'), `no lease_expired in the relay log:\n${readFileSync(o.logFile!, 'utf8').slice(-2000)}`);
    assert.ok(logHas(o.logFile!, '"shutdown"'), 'the relay did not shut down cleanly (§1.7)');
  });

  it('is adopted from its record by a later host, and stopped there with the admin token', async () => {
    const o = options({ lease: { file: join(dir, 'relay.lease'), ttlSeconds: 600 } });
    writeFileSync(o.lease!.file, '');
    const first = new LocalRelay(o);
    const running = await first.start();
    pids.push(running.pid);
    first.detach(); // the first window goes away
    const record: LocalRelayRecord = { pid: running.pid, host: running.host, port: running.port, startedAt: Date.now(), dataDir: o.dataDir };
    assert.equal(await runsThisRelay(running.pid, CLI, o.dataDir), 'yes');
    const lines: string[] = [];
    const adopted = await LocalRelay.adopt({ ...o, onLog: (l) => lines.push(l) }, record);
    assert.ok(adopted, 'the relay of a valid record was not adopted');
    assert.deepEqual(adopted.current, { pid: running.pid, host: running.host, port: running.port });
    await adopted.stop();
    assert.equal(alive(running.pid), false, 'Stop Relay did not stop the adopted relay');
    assert.ok(logHas(o.logFile!, '"admin_shutdown"'), 'the adopted relay was not stopped with the admin token');
    assert.equal(adopted.current, undefined);
  });

  it('does not trust, or signal, a forged record: another process\'s pid, another program\'s port, another data directory', async () => {
    const o = options({ lease: { file: join(dir, 'relay.lease'), ttlSeconds: 600 } });
    writeFileSync(o.lease!.file, '');
    // A bystander process and a plain TCP server that is not a relay.
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(bystander);
    const server = createServer((s) => s.end('not a relay\n'));
    servers.push(server);
    const port = await new Promise<number>((res) => server.listen(0, '127.0.0.1', () => res((server.address() as { port: number }).port)));
    const relay = new LocalRelay(o);
    const running = await relay.start();
    pids.push(running.pid);
    const base = { host: '127.0.0.1', startedAt: Date.now(), dataDir: o.dataDir };
    const forged: [string, LocalRelayRecord][] = [
      ['a bystander pid on the relay\'s port', { ...base, pid: bystander.pid!, port: running.port }],
      ['the relay pid on another program\'s port', { ...base, pid: running.pid, port }],
      ['a bystander pid on another program\'s port', { ...base, pid: bystander.pid!, port }],
      ['another data directory', { ...base, pid: running.pid, port: running.port, dataDir: join(dir, 'elsewhere') }],
      ['a pid that does not exist', { ...base, pid: 2 ** 22 + 12345, port: running.port }],
    ];
    for (const [what, record] of forged) {
      assert.equal(await LocalRelay.adopt(o, record), undefined, `adopted ${what}`);
    }
    assert.ok(alive(bystander.pid!), 'the bystander was signalled');
    assert.ok(alive(running.pid), 'the relay was signalled by a forged record');
    await relay.stop();
  });
});

function logHas(file: string, needle: string): boolean {
  try {
    return readFileSync(file, 'utf8').includes(needle);
  } catch {
    return false;
  }
}

