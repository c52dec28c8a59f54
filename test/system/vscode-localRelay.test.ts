// SMC: Start Relay's process handling (src/vscode/localRelay.ts) with the real `smc relay`
// (dist/cli.js, built by `node scripts/build.mjs`): a separate process that listens, answers
// hello, says `bye` to its clients when stopped, and whose failures come back as actionable
// errors. Port 0 and temporary data directories only.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LocalRelay, LocalRelayError, classifyRelayExit, parseListening, type LocalRelayOptions } from '../../src/vscode/localRelay';
import { LineClient } from '../helpers/lineClient';

const CLI = resolve(__dirname, '../../../dist/cli.js');

describe('local relay process', function () {
  this.timeout(30_000);
  let dir: string;
  const started: LocalRelay[] = [];
  const logs: string[] = [];

  const options = (over: Partial<LocalRelayOptions> = {}): LocalRelayOptions => ({
    execPath: process.execPath, electron: false, cliPath: CLI, dataDir: join(dir, 'relay'),
    host: '127.0.0.1', port: 0, onLog: (l) => logs.push(l), ...over,
  });

  before(() => {
    assert.ok(existsSync(CLI), `${CLI} is missing: run "node scripts/build.mjs" first`);
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-localrelay-'));
    logs.length = 0;
  });
  afterEach(async () => {
    for (const r of started.splice(0)) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts a separate process that answers hello, and stops it gracefully with bye', async () => {
    const relay = new LocalRelay(options());
    started.push(relay);
    const running = await relay.start();
    assert.notEqual(running.pid, process.pid);
    assert.ok(running.port > 0);
    assert.deepEqual(relay.current, running);
    const client = await LineClient.connect(running.port);
    client.sendRaw('{"t":"hello","v":1,"agent":"test"}\n');
    assert.equal((await client.next(undefined, 20_000)).t, 'welcome');
    let exitError: LocalRelayError | undefined | 'none' = 'none';
    relay.onExit((e) => (exitError = e));
    const stopping = relay.stop();
    assert.deepEqual(await client.next(undefined, 20_000), { t: 'bye', reason: 'shutdown' });
    await stopping;
    client.destroy();
    assert.equal(relay.current, undefined);
    assert.equal(exitError, undefined, 'a requested stop is not reported as a failure');
    assert.ok(logs.some((l) => l.includes('"listening"')), 'the relay log reaches the output channel');
  });

  it('reports a port in use with what to do', async () => {
    const first = new LocalRelay(options());
    started.push(first);
    const { port } = await first.start();
    const second = new LocalRelay(options({ port, dataDir: join(dir, 'other') }));
    await assert.rejects(second.start(), (e: unknown) => {
      assert.ok(e instanceof LocalRelayError);
      assert.equal(e.reason, 'port_in_use');
      assert.match(e.message, new RegExp(`Port ${port} .* in use`));
      assert.match(e.message, /smc\.localRelay\.port/);
      return true;
    });
    assert.equal(second.current, undefined);
  });

  it('reports a relay that dies', async () => {
    const relay = new LocalRelay(options());
    started.push(relay);
    const running = await relay.start();
    const died = new Promise<LocalRelayError | undefined>((res) => relay.onExit(res));
    process.kill(running.pid, 'SIGKILL');
    const error = await died;
    assert.ok(error instanceof LocalRelayError);
    assert.match(error.message, /stopped/);
    assert.equal(relay.current, undefined);
  });

  it('reports a binary that cannot start', async () => {
    const relay = new LocalRelay(options({ execPath: join(dir, 'no-such-node') }));
    await assert.rejects(relay.start(), (e: unknown) => e instanceof LocalRelayError && e.reason === 'spawn');
  });

  it('reads the listening line in both log formats, and classifies exits', () => {
    assert.equal(parseListening('{"level":"info","event":"listening","host":"127.0.0.1","port":4242}'), 4242);
    assert.equal(parseListening('2026-11-25T00:00:00Z info  listening host=127.0.0.1 port=4243'), 4243);
    assert.equal(parseListening('{"event":"start","port":1}'), undefined);
    assert.equal(parseListening('not json {'), undefined);
    assert.equal(classifyRelayExit(['listen EACCES: permission denied 0.0.0.0:80'], '0.0.0.0', 80, 1).reason, 'permission');
    assert.equal(classifyRelayExit(['boom'], 'h', 1, 1).reason, 'exited');
  });
});
