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

describe('relay log folding (issue 7 §1.5)', function () {
  this.timeout(300_000);
  let relay: RelayProcess | undefined;

  afterEach(async () => {
    await relay?.cleanup();
    relay = undefined;
  });

  /** Opens and closes `n` connections, `parallel` at a time; each says hello first when asked. */
  async function shortConnections(port: number, n: number, parallel: number, hello: boolean): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        next++;
        await exchange(port, hello ? '{"t":"hello","v":2}\n' : '');
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }

  /** Per-event counts of what was written and what the summaries say was folded. */
  function tally(logs: readonly Record<string, unknown>[], event: string): { written: number; folded: number } {
    const written = logs.filter((r) => r.event === event).length;
    const folded = logs.filter((r) => r.event === 'log_folded').reduce((sum, r) => sum + Number(r[`n_${event}`] ?? 0), 0);
    return { written, folded };
  }

  it('5 000 short connections from one address write a bounded log, and the summaries count every folded line', async () => {
    relay = await RelayProcess.start();
    const started = Date.now();
    await shortConnections(relay.port, 5_000, 16, false);
    // Each connection was closed by the relay (after its FIN), so all 10 000 events happened;
    // stopping writes the summaries of the windows still open.
    await relay.stop();
    await relay.waitForLog((r) => r.event === 'stopped', 10_000);
    const windows = Math.ceil((Date.now() - started) / 60_000) + 1;
    const opens = tally(relay.logs, 'conn_open');
    const closes = tally(relay.logs, 'conn_close');
    assert.equal(opens.written + opens.folded, 5_000, JSON.stringify(opens));
    assert.equal(closes.written + closes.folded, 5_000, JSON.stringify(closes));
    const perAddress = relay.logs.filter((r) => typeof r.addr === 'string' && r.event !== 'log_folded').length;
    assert.ok(perAddress <= 600 * windows, `${perAddress} lines about 127.0.0.1 in ${windows} windows`);
    assert.ok(relay.logs.length < 600 * windows + 50, `${relay.logs.length} log lines in all`);
    const summary = relay.logs.find((r) => r.event === 'log_folded');
    assert.equal(summary?.addr, '127.0.0.1');
    assert.equal(summary?.level, 'warn');
  });

  it('a window\'s summary is written when it ends, even if the address went quiet; --log-per-addr 0 folds nothing', async () => {
    relay = await RelayProcess.start({ args: ['--log-per-addr', '1'], env: { SMC_RELAY_LOG_WINDOW_MS: '3000' } });
    await shortConnections(relay.port, 20, 4, true);
    const folded = await relay.waitForLog((r) => r.event === 'log_folded', 20_000);
    assert.ok(Number(folded.folded) >= 1);
    await relay.stop();
    await relay.waitForLog((r) => r.event === 'stopped', 10_000);
    const opens = tally(relay.logs, 'conn_open');
    assert.equal(opens.written + opens.folded, 20);
    await relay.cleanup();

    relay = await RelayProcess.start({ args: ['--log-per-addr', '0'] });
    await shortConnections(relay.port, 700, 16, false);
    await relay.stop();
    await relay.waitForLog((r) => r.event === 'stopped', 10_000);
    assert.equal(tally(relay.logs, 'conn_open').written, 700);
    assert.ok(!relay.logs.some((r) => r.event === 'log_folded'));
  });
});
