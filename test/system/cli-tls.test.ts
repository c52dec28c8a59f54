// `smc room new --tls-fingerprint` and `smc chat` with smcs:// invites against a real relay
// listening with TLS (PROTOCOL.md §1.8, test certificate in test/helpers/tls): messages go
// through, the certificate is pinned (another fingerprint is refused with a clear message),
// and a plain-TCP invite does not reach a TLS relay. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_PATH, REPO_ROOT, RelayProcess } from '../helpers/relayProcess';

function smc(home: string, args: string[], input = ''): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SMC_HOME: home }, input, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('smc chat over TLS (smcs:// invites, pinned certificate)', function () {
  this.timeout(60_000);
  let dir: string;
  let relay: RelayProcess;
  let fingerprint: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-tls-'));
    const tls = join(REPO_ROOT, 'test', 'helpers', 'tls');
    relay = await RelayProcess.start({ args: ['--tls-cert', join(tls, 'relay-test.crt'), '--tls-key', join(tls, 'relay-test.key')] });
    const listening = await relay.waitForLog((r) => r.event === 'listening');
    fingerprint = String(listening.fingerprint);
    assert.match(fingerprint, /^[0-9a-f]{64}$/);
  });

  afterEach(async () => {
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exchanges messages through a TLS relay whose certificate matches the invite', () => {
    const made = smc(join(dir, 'a'), ['room', 'new', '--name', 'secure', '--relay', `127.0.0.1:${relay.port}`, '--tls-fingerprint', fingerprint.toUpperCase().replace(/(..)(?!$)/g, '$1:')]);
    assert.equal(made.code, 0, made.stderr);
    const invite = /smcs:\/\/[^\s']+/.exec(made.stdout)![0];
    assert.ok(invite.includes(`?fp=${fingerprint}#`));
    assert.equal(smc(join(dir, 'a'), ['chat', '--json', '--name', 'alice', invite], 'over tls\n').code, 0);
    const bob = smc(join(dir, 'b'), ['chat', '--json', '--name', 'bob', invite]);
    assert.equal(bob.code, 0, bob.stderr);
    assert.equal((JSON.parse(bob.stdout) as { text: string }).text, 'over tls');
    // The stored room remembers its pin: `--room` alone speaks TLS again.
    const again = smc(join(dir, 'a'), ['chat', '--json', '--room', 'secure']);
    assert.equal(again.code, 0, again.stderr);
  });

  it('refuses a relay whose certificate is not the pinned one, and says why', () => {
    const wrong = (fingerprint[0] === 'a' ? 'b' : 'a') + fingerprint.slice(1);
    const made = smc(join(dir, 'a'), ['room', 'new', '--name', 'mitm', '--relay', `127.0.0.1:${relay.port}`, '--tls-fingerprint', wrong]);
    const invite = /smcs:\/\/[^\s']+/.exec(made.stdout)![0];
    const r = smc(join(dir, 'a'), ['chat', '--json', '--timeout', '2', invite], 'must not leave\n');
    assert.equal(r.code, 5);
    assert.match(r.stderr, /TLS certificate does not match the invite/);
    assert.ok(r.stderr.includes(`got ${fingerprint}`));
  });

  it('a plain smc:// invite does not get through to a TLS relay', () => {
    const made = smc(join(dir, 'a'), ['room', 'new', '--name', 'plain', '--relay', `127.0.0.1:${relay.port}`]);
    const invite = /smc:\/\/[^\s']+/.exec(made.stdout)![0];
    const r = smc(join(dir, 'a'), ['chat', '--json', '--timeout', '2', invite], 'x\n');
    assert.equal(r.code, 5);
  });

  it('rejects a malformed --tls-fingerprint with exit 2', () => {
    const r = smc(join(dir, 'a'), ['room', 'new', '--name', 'x', '--tls-fingerprint', 'abc']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /64 hex digits/);
  });
});
