// The `smc` command and `smc relay`: help, version, options from flags and environment, and the
// exit codes scripts rely on (0 ok, 1 other, 2 usage, 3 cannot listen, 4 data directory).
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRelayOptions, UsageError, DEFAULT_RELAY_OPTIONS } from '../../src/relay/options';
import { createLogger } from '../../src/relay/log';
import { LineClient, RelayProcess, REPO_ROOT } from '../helpers/relayProcess';

describe('smc command line', function () {
  this.timeout(20_000);
  const dirs: string[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'smc-cli-test-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('smc --version prints the package version; smc --help lists relay', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const v = await RelayProcess.run(['--version']);
    assert.deepEqual([v.code, v.stdout], [0, `smc ${pkg.version}\n`]);
    const h = await RelayProcess.run(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Usage: smc <command>/);
    assert.match(h.stdout, /^ {2}relay /m);
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    const r = await RelayProcess.run(['frobnicate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
  });

  it('smc relay --help documents every option, its variable, examples and exit codes', async () => {
    const r = await RelayProcess.run(['relay', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--host', '--port', '--data', '--max-frame', '--retain', '--rate', '--burst', '--max-conns', '--max-conns-per-ip', '--log-format']) {
      assert.ok(r.stdout.includes(flag), flag);
    }
    for (const env of ['SMC_RELAY_HOST', 'SMC_RELAY_PORT', 'SMC_RELAY_DATA', 'SMC_RELAY_RATE', 'SMC_RELAY_LOG_FORMAT']) assert.ok(r.stdout.includes(env), env);
    assert.match(r.stdout, /Examples:/);
    assert.match(r.stdout, /Exit codes: 0/);
  });

  it('usage errors exit 2 with a one-line message', async () => {
    for (const args of [
      ['--port', 'eighty'], ['--bogus'], ['--log-format', 'xml'], ['--rate', '-1'], ['extra'],
      ['--tls-cert', 'relay.crt'], ['--tls-cert', '/nonexistent/relay.crt', '--tls-key', '/nonexistent/relay.key'],
    ]) {
      const r = await RelayProcess.run(['relay', ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /^smc relay: .+\n/);
    }
    const env = await RelayProcess.run(['relay'], { SMC_RELAY_PORT: 'x' });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /SMC_RELAY_PORT/);
  });

  it('a port in use exits 3 with a clear message', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await RelayProcess.run(['relay', '--port', String(port), '--data', tempDir()]);
      assert.equal(r.code, 3);
      assert.match(r.stderr, new RegExp(`port ${port} is already in use`));
    } finally {
      blocker.close();
    }
  });

  it('a data directory that is a file, or not writable, exits 4', async () => {
    const file = join(tempDir(), 'file');
    writeFileSync(file, 'x');
    const r = await RelayProcess.run(['relay', '--port', '0', '--data', file]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /is not a directory/);
    if (process.getuid?.() !== 0) {
      const ro = tempDir();
      chmodSync(ro, 0o500);
      const w = await RelayProcess.run(['relay', '--port', '0', '--data', join(ro, 'sub')]);
      assert.equal(w.code, 4);
      assert.match(w.stderr, /not writable/);
    }
  });

  it('a data directory locked by another relay exits 4', async () => {
    const relay = await RelayProcess.start();
    try {
      const r = await RelayProcess.run(['relay', '--port', '0', '--data', relay.dataDir]);
      assert.equal(r.code, 4);
      assert.match(r.stderr, /in use by another relay/);
    } finally {
      await relay.cleanup();
    }
  });

  it('text logs print the address and how to connect; options come from the environment', async () => {
    const data = tempDir();
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'cli.js'), 'relay'], {
      env: { ...process.env, SMC_RELAY_PORT: '0', SMC_RELAY_DATA: data, SMC_RELAY_MAX_FRAME: '8192' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (c: string) => {
        out += c;
        const m = /nc 127\.0\.0\.1 (\d+)\s+then type \{"t":"hello","v":1\}/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', () => reject(new Error(`exited: ${out}`)));
    });
    assert.match(out, /info {2}listening host=127\.0\.0\.1 port=\d+/);
    const { client, welcome } = await LineClient.open(port);
    assert.equal(welcome.maxFrame, 8192);
    client.destroy();
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });

  it('on an IPv6 address, the printed --relay is one that smc room new accepts ([::1]:PORT)', async () => {
    const data = tempDir();
    const home = tempDir();
    const { spawn, spawnSync } = await import('node:child_process');
    const cli = join(REPO_ROOT, 'dist', 'cli.js');
    const child = spawn(process.execPath, [cli, 'relay', '--host', '::1', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      const relay = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (c: string) => {
          out += c;
          const m = /--relay (\S+), then/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', () => reject(new Error(`exited: ${out}`)));
      });
      assert.match(relay, /^\[::1\]:\d+$/);
      assert.match(out, /openssl|nc ::1 \d+/);
      const made = spawnSync(process.execPath, [cli, 'room', 'new', '--name', 'v6', '--relay', relay], { env: { ...process.env, SMC_HOME: home }, encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      assert.match(made.stdout, /smc:\/\/\[::1\]:\d+\/v6#/);
    } finally {
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGINT');
      await exited;
    }
  });

  describe('options and logs (in process)', () => {
    it('a flag beats its variable, which beats the default', () => {
      assert.deepEqual(resolveRelayOptions({}, {}), DEFAULT_RELAY_OPTIONS);
      assert.equal(resolveRelayOptions({ port: '9' }, { SMC_RELAY_PORT: '8' }).port, 9);
      assert.equal(resolveRelayOptions({}, { SMC_RELAY_PORT: '8' }).port, 8);
      assert.equal(resolveRelayOptions({}, { SMC_RELAY_RATE: '0' }).rate, 0);
      assert.equal(resolveRelayOptions({}, { SMC_RELAY_HELLO_TIMEOUT_MS: '250' }).helloTimeoutMs, 250);
      assert.throws(() => resolveRelayOptions({ 'max-frame': '100' }, {}), UsageError);
      assert.throws(() => resolveRelayOptions({ port: '65536' }, {}), UsageError);
      assert.throws(() => resolveRelayOptions({ burst: '0' }, {}), UsageError);
      assert.throws(() => resolveRelayOptions({ 'max-output': '200000' }, {}), /at least 4 × --max-frame/);
      assert.equal(resolveRelayOptions({ 'max-output': '200000', 'max-frame': '8192' }, {}).maxOutput, 200000);
    });

    it('logs one line per event, as text or JSON, with values that cannot forge a line', () => {
      const lines: string[] = [];
      const now = (): Date => new Date(0);
      createLogger({ format: 'text', write: (l) => lines.push(l), now }).info('conn_open', { addr: '1.2.3.4:5', agent: 'evil\nlevel=error x', n: 3 });
      createLogger({ format: 'json', write: (l) => lines.push(l), now }).warn('limit', { limit: 'rate', skipped: undefined });
      assert.equal(lines[0], '1970-01-01T00:00:00.000Z info  conn_open addr=1.2.3.4:5 agent="evil\\nlevel=error x" n=3\n');
      assert.deepEqual(JSON.parse(lines[1] as string), { ts: '1970-01-01T00:00:00.000Z', level: 'warn', event: 'limit', limit: 'rate' });
      assert.ok(lines.every((l) => l.indexOf('\n') === l.length - 1));
    });
  });
});
