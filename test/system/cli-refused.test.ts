// `smc chat --json` against a relay that refuses the room's join proof (docs/protocol.md §1.9:
// auth_failed) or that speaks only protocol v1: the program says why and exits 1 at once, with
// its standard input still open, instead of waiting out --timeout and then reporting
// unacknowledged messages (exit 5). The relay is a real TCP server on 127.0.0.1 that speaks the
// protocol by hand, since a real relay never refuses a correct client.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI_PATH } from '../helpers/relayProcess';

type Frame = Record<string, unknown> & { t: string };

/** A relay that answers hello with `welcome` and every join with `answerJoin`. */
async function scriptedRelay(welcome: (f: Frame) => Frame, answerJoin: (f: Frame) => Frame): Promise<{ server: Server; port: number; joins: Frame[] }> {
  const joins: Frame[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    createInterface({ input: socket }).on('line', (line) => {
      const f = JSON.parse(line) as Frame;
      if (f.t === 'hello') socket.write(`${JSON.stringify(welcome(f))}\n`);
      if (f.t === 'join') {
        joins.push(f);
        socket.write(`${JSON.stringify(answerJoin(f))}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { server, port: addr.port, joins };
}

/** Runs `smc chat --json --room r` with stdin held open; resolves with its exit code and stderr. */
function chatUntilExit(home: string): { exit: Promise<{ code: number | null; stderr: string }>; kill: () => void } {
  const child = spawn(process.execPath, [CLI_PATH, 'chat', '--json', '--room', 'r', '--name', 'ci', '--timeout', '120'], {
    env: { ...process.env, SMC_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.write('build 421 failed\n');
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return {
    exit: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr }))),
    kill: () => void (child.exitCode === null && child.kill('SIGKILL')),
  };
}

describe('smc chat --json when the relay refuses (issue 7 §1.3)', function () {
  this.timeout(60_000);
  let home: string;
  let server: Server | undefined;

  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'smc-refused-'));
  });
  afterEach(async () => {
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    rmSync(home, { recursive: true, force: true });
  });

  function newRoom(port: number): void {
    const r = spawnSync(process.execPath, [CLI_PATH, 'room', 'new', '--name', 'r', '--relay', `127.0.0.1:${port}`], {
      env: { ...process.env, SMC_HOME: home }, encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  }

  it('a join refused with auth_failed ends the chat at once: exit 1 and the reason, with stdin still open', async () => {
    const relay = await scriptedRelay(
      () => ({ t: 'welcome', v: 2, agent: 'scripted/0', maxFrame: 65_536, time: Date.now(), challenge: 'A'.repeat(43) }),
      (f) => ({ t: 'error', rid: f.rid, code: 'auth_failed', message: 'the join proof does not verify' }),
    );
    server = relay.server;
    newRoom(relay.port);
    const chat = chatUntilExit(home);
    try {
      const { code, stderr } = await chat.exit;
      assert.equal(code, 1, stderr);
      assert.match(stderr, /auth_failed/);
      assert.doesNotMatch(stderr, /not acknowledged/);
      assert.equal(relay.joins.length, 1, 'the refused room is asked for once');
    } finally {
      chat.kill();
    }
  });

  it('a relay of protocol v1 (no challenge) ends the chat at once: exit 1, "too old"', async () => {
    const relay = await scriptedRelay(
      () => ({ t: 'welcome', v: 1, agent: 'old/0.1', maxFrame: 65_536, time: Date.now() }),
      (f) => ({ t: 'error', rid: f.rid, code: 'bad_request', message: 'unexpected' }),
    );
    server = relay.server;
    newRoom(relay.port);
    const chat = chatUntilExit(home);
    try {
      const { code, stderr } = await chat.exit;
      assert.equal(code, 1, stderr);
      assert.match(stderr, /too old/);
    } finally {
      chat.kill();
    }
  });
});
