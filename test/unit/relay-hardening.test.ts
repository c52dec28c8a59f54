// Issue 7 §1.5 and §1.6 against the real relay process: the log cannot be flooded by short
// connections (events per address are folded into one summary line), a deeply nested line is
// bad_frame without being parsed, and --max-frame is capped.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayProcess } from '../helpers/relayProcess';

const MiB = 1024 * 1024;

function hwmBytes(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** Sends `data` on a fresh connection and resolves with every line the relay sent before closing. */
function exchange(port: number, data: string | Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\n').filter((l) => l !== '')));
    socket.on('connect', () => socket.end(data));
  });
}

/** A data directory for a relay that must refuse to start (so a failure leaves nothing in cwd). */
function scratchDir(): string {
  return mkdtempSync(join(tmpdir(), 'smc-relay-usage-'));
}

describe('relay hardening (issue 7 §1.5, §1.6)', function () {
  this.timeout(120_000);
  let relay: RelayProcess | undefined;

  afterEach(async () => {
    await relay?.cleanup();
    relay = undefined;
  });

  it('§1.6 with --max-frame at its cap, a deeply nested line is bad_frame and costs no memory', async () => {
    relay = await RelayProcess.start({ args: ['--max-frame', String(MiB)] });
    const depth = (MiB - 100) / 2;
    const line = '{"t":"ping","rid":1,"x":' + '['.repeat(depth) + ']'.repeat(depth) + '}\n';
    // Warm up: one ordinary 1 MiB line, so that buffers of that size are counted before.
    const flat = '{"t":"ping","rid":1,"x":"' + 'a'.repeat(MiB - 100) + '"}\n';
    const warm = await exchange(relay.port, '{"t":"hello","v":2}\n' + flat);
    assert.ok(warm.some((l) => l.includes('"pong"')), warm.join('\n').slice(0, 200));
    const before = hwmBytes(relay.pid);
    for (let i = 0; i < 3; i++) {
      const lines = await exchange(relay.port, '{"t":"hello","v":2}\n' + line);
      const frames = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(frames.map((f) => f.t), ['welcome', 'error'], lines.join('\n').slice(0, 300));
      assert.equal(frames[1]?.code, 'bad_frame');
    }
    const grown = hwmBytes(relay.pid) - before;
    assert.ok(grown < 24 * MiB, `peak RSS grew ${Math.round(grown / MiB)} MiB`);
  });

  it('§1.6 --max-frame above 1 MiB is a usage error that names the cap', async () => {
    const r = await RelayProcess.run(['relay', '--port', '0', '--data', scratchDir(), '--max-frame', String(MiB + 1)]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--max-frame is at most 1048576/);
    const env = await RelayProcess.run(['relay', '--port', '0', '--data', scratchDir()], { SMC_RELAY_MAX_FRAME: String(16 * MiB) });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /SMC_RELAY_MAX_FRAME: --max-frame is at most 1048576/);
  });
});
