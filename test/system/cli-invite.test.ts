// The room key never on the command line (issue 7 §2.4). /proc/PID/cmdline is readable by
// every local user, and an invite carries the room key. The test follows the way the CLI
// itself tells people to join (the commands `smc room new` prints for the others, run as
// printed with a real shell), and reads /proc/<pid>/cmdline of the running `smc chat`. Also:
// the argument form still works but warns, once, on stderr; `smc room join` refuses bad input
// clearly and stores nothing; --passphrase is refused; no help text shows an invite on a
// command line. Real relay and CLI processes; needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI_PATH, REPO_ROOT, RelayProcess } from '../helpers/relayProcess';
import { until } from '../helpers/until';

type Line = Record<string, unknown>;

interface Run { code: number | null; stdout: string; stderr: string }

function smc(home: string, args: string[], input = ''): Run {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SMC_HOME: home }, input, encoding: 'utf8', timeout: 20_000, cwd: REPO_ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The NUL-separated arguments of a running process, as any local user can read them. */
function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
}

/** The key (b64u) of an invite. */
const keyOf = (invite: string): string => invite.slice(invite.indexOf('#') + 1);

describe('smc: the room key never on the command line (issue 7 §2.4)', function () {
  this.timeout(60_000);
  let dir: string;
  let relay: RelayProcess | undefined;
  const children: ReturnType<typeof spawn>[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-invite-'));
  });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** `smc room new` in a home; its stdout and the invite it printed. */
  function roomNew(home: string, name: string): { stdout: string; invite: string } {
    const r = smc(home, ['room', 'new', '--name', name, '--relay', `127.0.0.1:${relay!.port}`]);
    assert.equal(r.code, 0, r.stderr);
    const m = /smcs?:\/\/[^\s']+/.exec(r.stdout);
    assert.ok(m, 'room new prints an invite');
    return { stdout: r.stdout, invite: m[0] };
  }

  it('the way smc room new tells the others to join keeps the key out of /proc/PID/cmdline of smc chat', async () => {
    relay = await RelayProcess.start();
    const alice = join(dir, 'alice'), bob = join(dir, 'bob');
    const { stdout, invite } = roomNew(alice, 'Team Chat');
    assert.equal(smc(alice, ['chat', '--json', '--room', 'Team Chat'], 'before bob\n').code, 0);

    // The printed commands are run as printed, by a shell, with `smc` on PATH (a script that
    // execs node dist/cli.js, as `npm link` gives) and cwd the checkout (for `node dist/cli.js`).
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'smc'), `#!/bin/sh\nexec '${process.execPath}' '${CLI_PATH}' "$@"\n`);
    chmodSync(join(bin, 'smc'), 0o755);
    const env = { ...process.env, SMC_HOME: bob, PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    const lines = stdout.split('\n');
    const first = lines.findIndex((l) => l.startsWith('Others join with:'));
    assert.ok(first >= 0, `room new says how the others join:\n${stdout}`);
    const commands: string[] = [];
    for (let i = first; i < lines.length && lines[i]!.trim() !== ''; i++) commands.push(lines[i]!.slice(lines[i]!.indexOf(':') + 1).trim());
    // Every step but the last gets what a person has at hand, the invite, on standard input.
    for (const command of commands.slice(0, -1)) {
      const r = spawnSync('sh', ['-c', command], { env, cwd: REPO_ROOT, input: `${invite}\n`, encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, `${command}: ${r.stderr}`);
    }
    // The last one is the chat: exec, so that the shell's pid is the chat's.
    const chat = spawn('sh', ['-c', `exec ${commands.at(-1)!}`], { env, cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(chat);
    let out = '', err = '';
    chat.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    chat.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
    await until('bob in the room', () => out.includes('before bob') && out.includes('connected to'), 20_000, () => out + err);
    const args = cmdline(chat.pid!);
    assert.match(args, /chat/, 'this is the chat process');
    assert.ok(!args.includes(keyOf(invite)), `the room key is in /proc/${chat.pid}/cmdline: ${JSON.stringify(args.replace(/\0/g, ' '))}`);
    chat.stdin!.write('/stop\n');
    const code = await new Promise<number | null>((resolve) => chat.on('exit', resolve));
    assert.equal(code, 0, err);
    assert.doesNotMatch(err, /warning/, 'the documented way gets no warning');
  });

  it('smc room join from a file, then smc chat NAME and smc room list; the argument form works but warns once', async () => {
    relay = await RelayProcess.start();
    const alice = join(dir, 'alice'), bob = join(dir, 'bob'), carol = join(dir, 'carol');
    const { invite } = roomNew(alice, 'design');
    const file = join(dir, 'invite.txt');
    writeFileSync(file, `\uFEFF${invite}\r\n`, { mode: 0o600 });
    const joined = smc(bob, ['room', 'join', '--invite-file', file]);
    assert.equal(joined.code, 0, joined.stderr);
    assert.match(joined.stdout, /Joined room "design" on relay 127\.0\.0\.1:\d+/);
    assert.match(joined.stdout, /chat --room design/);
    assert.ok(!joined.stdout.includes(keyOf(invite)), 'the key is not printed');
    assert.match(smc(bob, ['room', 'list']).stdout, /^design\t127\.0\.0\.1:\d+\tlast seen #0$/m);
    const sent = smc(bob, ['chat', '--json', '--own', 'design'], 'from bob\n');
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(sent.stderr, '');
    assert.deepEqual(sent.stdout.trim().split('\n').map((l) => (JSON.parse(l) as Line).text), ['from bob']);
    // Joining again is harmless (the same room, where it left off).
    assert.equal(smc(bob, ['room', 'join'], invite).code, 0);
    assert.match(smc(bob, ['room', 'list']).stdout, /^design\t127\.0\.0\.1:\d+\tlast seen #1$/m);

    // The argument form: still works, one warning line on stderr, stdout stays pure JSON.
    const arg = smc(carol, ['chat', '--json', '--own', invite], 'from carol\n');
    assert.equal(arg.code, 0, arg.stderr);
    const warnings = arg.stderr.trim().split('\n');
    assert.equal(warnings.length, 1, arg.stderr);
    assert.match(warnings[0]!, /^smc chat: warning: the invite .*command line.*node dist\/cli\.js room join/);
    assert.ok(!arg.stderr.includes(keyOf(invite)));
    assert.deepEqual(arg.stdout.trim().split('\n').map((l) => String((JSON.parse(l) as Line).text)).sort(), ['from bob', 'from carol']);

    // And the running process no longer shows the key once it has started.
    const chat = spawn(process.execPath, [CLI_PATH, 'chat', invite], { env: { ...process.env, SMC_HOME: carol }, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(chat);
    let out = '', err = '';
    chat.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    chat.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
    await until('carol connected', () => out.includes('connected to'), 20_000, () => out + err);
    assert.equal(err.trim().split('\n').filter((l) => /warning/.test(l)).length, 1, err);
    assert.ok(!cmdline(chat.pid!).includes(keyOf(invite)), 'the key is wiped from the arguments after start');
    chat.stdin!.end();
    assert.equal(await new Promise<number | null>((resolve) => chat.on('exit', resolve)), 0);
  });

  it('smc room join on a terminal (tmux): the pasted invite is not shown, and the room is stored', async function () {
    if (spawnSync('tmux', ['-V']).status !== 0) throw new Error('tmux is required (apt-get install tmux)');
    relay = await RelayProcess.start();
    const { invite } = roomNew(join(dir, 'alice'), '#general');
    const bob = join(dir, 'bob');
    const socket = `smc-join-${process.pid}-${Date.now()}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    try {
      tmux('new-session', '-d', '-x', '200', '-y', '20', '-s', 'j', `env SMC_HOME='${bob}' '${process.execPath}' '${CLI_PATH}' room join; echo "EXIT=$?"; sleep 60`);
      const screen = (): string => tmux('capture-pane', '-p', '-J', '-t', 'j');
      await until('the prompt', () => screen().includes('Paste the invite'), 20_000, screen);
      tmux('send-keys', '-t', 'j', '-l', invite);
      tmux('send-keys', '-t', 'j', 'Enter');
      await until('joined', () => screen().includes('EXIT=0'), 20_000, screen);
      assert.ok(!screen().includes(keyOf(invite).slice(0, 12)), `the invite is not echoed:\n${screen()}`);
      assert.match(screen(), /Joined room "#general"/);
    } finally {
      const path = spawnSync('tmux', ['-L', socket, 'display-message', '-p', '#{socket_path}'], { encoding: 'utf8' }).stdout.trim();
      spawnSync('tmux', ['-L', socket, 'kill-server']);
      // tmux leaves its socket file behind; it is ours (a unique name), so remove it.
      if (path.includes(socket)) rmSync(path, { force: true });
    }
    // A room called "#general" is a name, not an invite.
    const r = smc(bob, ['chat', '--json', '#general'], 'hi\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  it('smc room join refuses bad input with one clear line, exit 2, and stores nothing', async () => {
    relay = await RelayProcess.start();
    const { invite } = roomNew(join(dir, 'alice'), 'design');
    const key = keyOf(invite);
    const truncated = invite.slice(0, -5);
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'x'.repeat(20_000));
    const cases: { what: string; args: string[]; input?: string; error: RegExp }[] = [
      { what: 'empty stdin', args: [], input: '', error: /no invite on standard input/ },
      { what: 'only white space', args: [], input: '\n \n', error: /no invite on standard input/ },
      { what: 'not an invite', args: [], input: 'hello there\n', error: /one invite .* nothing else/ },
      { what: 'a word, not an invite', args: [], input: 'hello\n', error: /invalid invite in standard input: an invite starts with smc:\/\// },
      { what: 'a truncated key', args: [], input: `${truncated}\n`, error: /invalid invite in standard input: the key must be 32 bytes/ },
      { what: 'no key', args: [], input: invite.slice(0, invite.indexOf('#')), error: /invalid invite.*no key/ },
      { what: 'two invites', args: [], input: `${invite}\n${invite}\n`, error: /one invite/ },
      { what: 'a large file', args: ['--invite-file', junk], error: /more than 16384 bytes/ },
      { what: 'a missing file', args: ['--invite-file', join(dir, 'nope')], error: /cannot read the invite file .*ENOENT/ },
      { what: 'a directory', args: ['--invite-file', dir], error: /cannot read the invite file .*EISDIR/ },
      { what: 'the invite as an argument', args: [invite], error: /reads the invite from standard input or --invite-file/ },
      { what: 'an unknown option', args: ['--bogus'], error: /unknown option --bogus; the options are in: node dist\/cli\.js room join --help/ },
    ];
    const fresh = join(dir, 'fresh');
    for (const c of cases) {
      const r = smc(fresh, ['room', 'join', ...c.args], c.input ?? '');
      assert.equal(r.code, 2, `${c.what}: exit 2 (${r.stderr})`);
      assert.match(r.stderr, c.error, c.what);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${c.what}: one line`);
      assert.ok(!r.stderr.includes(key.slice(0, 20)), `${c.what}: the key is not echoed`);
      assert.equal(r.stdout, '', c.what);
      assert.ok(!existsSync(fresh), `${c.what}: $SMC_HOME not even created`);
    }
    // A home with a room in it: the same inputs leave its files byte for byte as they were.
    const bob = join(dir, 'bob');
    assert.equal(smc(bob, ['room', 'join'], invite).code, 0);
    const before = ['state.json', 'secrets.json'].map((f) => readFileSync(join(bob, f)));
    for (const c of cases) assert.equal(smc(bob, ['room', 'join', ...c.args], c.input ?? '').code, 2, c.what);
    assert.deepEqual(['state.json', 'secrets.json'].map((f) => readFileSync(join(bob, f))), before);
    // Another room under the same name on the same relay could not be told apart: refused too.
    const other = roomNew(join(dir, 'mallory'), 'design');
    const clash = smc(bob, ['room', 'join'], other.invite);
    assert.equal(clash.code, 1, clash.stderr);
    assert.match(clash.stderr, /another room named "design" .* already stored.*nothing was stored/);
    assert.deepEqual(['state.json', 'secrets.json'].map((f) => readFileSync(join(bob, f))), before);
  });

  it('refuses --passphrase (without repeating it) and points to --passphrase-file', () => {
    const home = join(dir, 'a');
    for (const args of [['--passphrase', 'hunter2hunter2hunter2'], ['--passphrase=hunter2hunter2hunter2'], ['--room', 'x', '--passphrase', 'hunter2hunter2hunter2']]) {
      const r = smc(home, ['chat', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--passphrase is not accepted: .*command line.*--passphrase-file FILE/);
      assert.ok(!r.stderr.includes('hunter2'), 'the passphrase is not echoed');
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });

  it('no help text, hint or example shows an invite on a command line', async () => {
    relay = await RelayProcess.start();
    const home = join(dir, 'a');
    const { stdout } = roomNew(home, 'design');
    const texts: [string, string][] = [['room new', stdout]];
    for (const args of [['--help'], ['chat', '--help'], ['room', '--help'], ['room', 'new', '--help'], ['room', 'join', '--help'], ['relay', '--help']]) {
      const r = smc(home, args);
      assert.equal(r.code, 0, r.stderr);
      texts.push([args.join(' '), r.stdout]);
    }
    // What a relay prints at start (text logs) tells people how to chat, too.
    const started = spawn(process.execPath, [CLI_PATH, 'relay', '--port', '0', '--data', join(dir, 'relay2')], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(started);
    let banner = '';
    started.stdout!.on('data', (d: Buffer) => (banner += d.toString('utf8')));
    await until('relay banner', () => banner.includes('Chat from a terminal'), 20_000, () => banner);
    started.kill('SIGTERM');
    texts.push(['relay banner', banner]);
    for (const [what, text] of texts) {
      for (const line of text.split('\n')) {
        assert.doesNotMatch(line, /\bchat\b.*(smcs?:\/\/|\bINVITE\b|"\$SMC_INVITE")/, `${what} shows an invite on a command line: ${line}`);
      }
    }
    assert.match(stdout, /room join/);
    assert.match(texts.find(([w]) => w === 'chat --help')![1], /smc room join/);
  });
});
