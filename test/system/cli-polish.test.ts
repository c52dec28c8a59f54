// What a new user of the terminal client ran into (issue 11 "Terminal client"), against the
// real program (node dist/cli.js, run from the checkout as the README says, so the commands it
// prints start with `node dist/cli.js`) and a real relay. Every piece of advice an error gives
// is run as printed and must work. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, symlinkSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI_PATH, REPO_ROOT, RelayProcess } from '../helpers/relayProcess';

interface Run { code: number | null; stdout: string; stderr: string }

function smc(home: string, args: string[], input = '', extra: { uid?: number; gid?: number } = {}): Run {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, SMC_HOME: home, NO_COLOR: '1' }, input, encoding: 'utf8', timeout: 30_000, cwd: REPO_ROOT, ...extra,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command line the program printed, as a user pastes it into a shell (cwd: the checkout). */
function runPrinted(home: string, command: string, input = ''): Run {
  const r = spawnSync('/bin/sh', ['-c', command], {
    env: { ...process.env, SMC_HOME: home, NO_COLOR: '1', PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    input, encoding: 'utf8', timeout: 30_000, cwd: REPO_ROOT,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The `node dist/cli.js …` command in a line of output, up to the end or a sentence break. */
function printedCommand(text: string, after: RegExp): string {
  const i = text.search(after);
  assert.ok(i >= 0, `${String(after)} in: ${text}`);
  const m = /node dist\/cli\.js (?:[^;.,)\n]|\.(?=\S)|'[^']*')+/.exec(text.slice(i));
  assert.ok(m, `a command after ${String(after)} in: ${text}`);
  return m[0].trim();
}

const rooms = (home: string): { name: string; relay: string }[] =>
  existsSync(join(home, 'state.json'))
    ? (JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as { 'smc.rooms'?: { name: string; relay: string }[] })['smc.rooms'] ?? []
    : [];

/** The texts of the --json --own lines of a run. */
const ownTexts = (r: Run): string[] => r.stdout.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { text: string }).text);

describe('smc terminal client polish (issue 11)', function () {
  this.timeout(90_000);
  let dir: string;
  let relay: RelayProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-polish-'));
  });

  afterEach(async () => {
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('every subcommand takes --help', () => {
    const home = join(dir, 'h');
    for (const args of [['--help'], ['relay', '--help'], ['room', '--help'], ['room', 'new', '--help'], ['room', 'join', '--help'],
      ['room', 'list', '--help'], ['room', 'list', '-h'], ['room', 'forget', '--help'], ['chat', '--help']]) {
      const r = smc(home, args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /Usage: smc/, args.join(' '));
      assert.equal(r.stderr, '', args.join(' '));
    }
  });

  it('an unknown option gets our own one-line message naming a --help that works', () => {
    const home = join(dir, 'h');
    for (const [cmd, args] of [['chat', ['chat', '--bogus']], ['room new', ['room', 'new', '--bogus']], ['room join', ['room', 'join', '--bogus']],
      ['room list', ['room', 'list', '--bogus']], ['room forget', ['room', 'forget', 'x', '--bogus']], ['chat', ['chat', '-z']]] as const) {
      const r = smc(home, [...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const line = r.stderr.trim();
      assert.equal(line.split('\n').length, 1, line);
      assert.match(line, new RegExp(`^smc ${cmd.split(' ')[0]}: unknown option ${args.at(-1)}; the options are in: node dist/cli\\.js ${cmd} --help$`));
      assert.ok(!/To specify a positional|Unknown option '/.test(line), `Node's parser text: ${line}`);
      assert.equal((line.match(/'/g) ?? []).length % 2, 0, `balanced quotes: ${line}`);
      const help = runPrinted(home, printedCommand(line, /the options are in/));
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /Usage: smc/);
    }
    const missing = smc(home, ['chat', '--name']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^smc chat: --name needs a value; the options are in: node dist\/cli\.js chat --help\n$/);
    const ambiguous = smc(home, ['room', 'new', '--name', '--help']);
    assert.equal(ambiguous.stderr, 'smc room: --name needs a value (one that starts with a dash goes as --name=-VALUE); the options are in: node dist/cli.js room new --help\n');
    const relayBogus = smc(home, ['relay', '--bogus']);
    assert.equal(relayBogus.code, 2);
    assert.equal(relayBogus.stderr, 'smc relay: unknown option --bogus\nRun "node dist/cli.js relay --help" for the options.\n');
  });

  it('chat --help lists /name, the 16 KiB limit, Ctrl-D and the passphrase rule; the README says the same', () => {
    const help = smc(join(dir, 'h'), ['chat', '--help']).stdout;
    assert.match(help, /\/name NAME/);
    assert.match(help, /16 KiB \(16384 bytes\)/);
    assert.match(help, /Ctrl-D on an empty line/);
    assert.match(help, /At least 16 characters: a shorter one is\s+refused/);
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    assert.match(readme, /16 KiB/);
    assert.match(readme, /\/name NAME/);
    assert.match(readme, /shorter than 16 characters is\s+refused/);
    assert.match(readme, /Ctrl-D/);
  });

  it('hints print the command as the user can run it; help says once how to install smc', () => {
    const home = join(dir, 'h');
    const empty = smc(home, ['room', 'list']);
    assert.match(empty.stdout, /Create one with: node dist\/cli\.js room new --name NAME/);
    const noRoom = smc(home, ['chat']);
    assert.match(noRoom.stderr, /say which room: node dist\/cli\.js chat NAME \(a room stored by node dist\/cli\.js room new/);
    const unknown = smc(home, ['chat', 'nosuch']);
    assert.match(unknown.stderr, /node dist\/cli\.js room list shows them/);
    assert.match(unknown.stderr, /create one with node dist\/cli\.js room new --name NAME/);
    assert.doesNotMatch(unknown.stderr, /with smc room/);
    assert.match(smc(home, ['nope']).stderr, /Run "node dist\/cli\.js --help" for the list/);
    assert.match(smc(home, ['--help']).stdout, /run "npm link" in the checkout/);
    for (const args of [['chat', '--help'], ['room', '--help']]) {
      assert.match(smc(home, args).stdout, /\(Here "smc" is node dist\/cli\.js; run "npm link" in the checkout to install the smc command\.\)\n$/);
    }
    // Through an `smc` on PATH (what npm link installs) the hints say smc, and no note.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(CLI_PATH, join(bin, 'smc')); // what npm link makes
    const viaPath = spawnSync('smc', ['room', 'list'], { env: { ...process.env, SMC_HOME: join(dir, 'h2'), PATH: `${bin}:${process.env.PATH ?? ''}` }, encoding: 'utf8' });
    assert.match(viaPath.stdout, /Create one with: smc room new --name NAME/);
    const helpViaPath = spawnSync('smc', ['chat', '--help'], { env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }, encoding: 'utf8' });
    assert.doesNotMatch(helpViaPath.stdout, /npm link/);
  });

  it('a second room of the same name on the same relay is refused, and every suggested command works', async () => {
    relay = await RelayProcess.start();
    const home = join(dir, 'alice');
    const relayAddr = `127.0.0.1:${relay.port}`;
    const first = smc(home, ['room', 'new', '--name', 'Team Chat', '--relay', relayAddr]);
    assert.equal(first.code, 0, first.stderr);
    const invite = /smc:\/\/\S+/.exec(first.stdout)![0];
    const second = smc(home, ['room', 'new', '--name', 'Team Chat', '--relay', relayAddr]);
    assert.equal(second.code, 1, second.stdout);
    assert.match(second.stderr, /a room named "Team Chat" on relay 127\.0\.0\.1:\d+ is already stored.*nothing was created/);
    assert.equal(second.stdout, '', 'no invite printed');
    assert.equal(rooms(home).length, 1);

    // "Chat in it:" opens the stored room.
    const chatIn = printedCommand(second.stderr, /Chat in it:/);
    assert.equal(chatIn, "node dist/cli.js chat --room 'Team Chat'");
    const sent = runPrinted(home, `${chatIn} --json --own`, 'hello team\n');
    assert.equal(sent.code, 0, sent.stderr);
    assert.deepEqual(ownTexts(sent), ['hello team']);

    // The same name on another relay is another room, told apart by --relay.
    const other = smc(home, ['room', 'new', '--name', 'Team Chat', '--relay', '127.0.0.1:1']);
    assert.equal(other.code, 0, other.stderr);
    const ambiguous = smc(home, ['chat', '--json', '--room', 'Team Chat'], '');
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /stored on several relays; say which: /);
    const pick = `node dist/cli.js chat --room 'Team Chat' --relay ${relayAddr}`;
    assert.ok(ambiguous.stderr.includes(`${pick} or `) || ambiguous.stderr.includes(`or ${pick}\n`), ambiguous.stderr);
    const picked = runPrinted(home, `${pick} --json --own`, 'picked\n');
    assert.equal(picked.code, 0, picked.stderr);
    assert.deepEqual(ownTexts(picked), ['picked']);

    // "Or ... room forget" works and then the name is free again.
    const again = smc(home, ['room', 'new', '--name', 'Team Chat', '--relay', relayAddr]);
    assert.equal(again.code, 1);
    const forget = printedCommand(again.stderr, /or first/);
    assert.equal(forget, `node dist/cli.js room forget 'Team Chat' --relay ${relayAddr}`);
    const forgot = runPrinted(home, forget);
    assert.equal(forgot.code, 0, forgot.stderr);
    assert.deepEqual(rooms(home).map((r) => r.relay), ['127.0.0.1:1']);
    const secrets = readFileSync(join(home, 'secrets.json'), 'utf8');
    assert.ok(!secrets.includes(invite.slice(invite.indexOf('#') + 1)), 'the forgotten key is gone from secrets.json');
    // room join of the original invite stores it again.
    const rejoin = runPrinted(home, 'node dist/cli.js room join', `${invite}\n`);
    assert.equal(rejoin.code, 0, rejoin.stderr);
    // Stored afresh, it shows the room's history again.
    assert.deepEqual(ownTexts(runPrinted(home, `${printedCommand(rejoin.stdout, /Chat in it:/)} --json --own`)), ['hello team', 'picked']);
  });

  it('room join of a clashing name points to room forget, which clears the way', async () => {
    relay = await RelayProcess.start();
    const relayAddr = `127.0.0.1:${relay.port}`;
    const bob = join(dir, 'bob');
    const alice = join(dir, 'alice');
    const made = smc(alice, ['room', 'new', '--name', 'ops', '--relay', relayAddr]);
    const invite = /smc:\/\/\S+/.exec(made.stdout)![0];
    assert.equal(smc(bob, ['room', 'new', '--name', 'ops', '--relay', relayAddr]).code, 0);
    const clash = smc(bob, ['room', 'join'], `${invite}\n`);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /nothing was stored/);
    const forget = printedCommand(clash.stderr, /no longer wanted:/);
    assert.equal(runPrinted(bob, forget).code, 0);
    const joined = smc(bob, ['room', 'join'], `${invite}\n`);
    assert.equal(joined.code, 0, joined.stderr);
  });

  it('rooms of one name stored twice on one relay (before the rule) get advice that works', async () => {
    relay = await RelayProcess.start();
    const relayAddr = `127.0.0.1:${relay.port}`;
    const home = join(dir, 'old');
    const a = smc(home, ['room', 'new', '--name', 'dup-a', '--relay', relayAddr]);
    assert.equal(smc(home, ['room', 'new', '--name', 'dup-b', '--relay', relayAddr]).code, 0);
    // What an earlier smc allowed: the same name twice on one relay.
    const state = JSON.parse(readFileSync(join(home, 'state.json'), 'utf8')) as Record<string, { name: string }[]>;
    for (const r of state['smc.rooms']!) r.name = 'dup';
    writeFileSync(join(home, 'state.json'), JSON.stringify(state), { mode: 0o600 });
    const stuck = smc(home, ['chat', '--json', '--room', 'dup', '--relay', relayAddr], '');
    assert.equal(stuck.code, 1);
    assert.match(stuck.stderr, /2 rooms named "dup" are stored for relay .* nothing tells them apart/);
    assert.equal(runPrinted(home, printedCommand(stuck.stderr, /Forget them/)).code, 0);
    const invite = /smc:\/\/\S+/.exec(a.stdout)![0];
    const stored = runPrinted(home, printedCommand(stuck.stderr, /store the one you want/), `${invite}\n`);
    assert.equal(stored.code, 0, stored.stderr);
    assert.equal(smc(home, ['chat', '--json', '--room', 'dup-a'], 'works\n').code, 0);
  });

  it('a passphrase shorter than 16 characters is refused and stores nothing', async () => {
    relay = await RelayProcess.start();
    const home = join(dir, 'h');
    const file = join(dir, 'pass');
    writeFileSync(file, 'fifteen chars!!\n');
    const r = smc(home, ['chat', '--json', '--relay', `127.0.0.1:${relay.port}`, '--room', 'pp', '--passphrase-file', file], 'never sent\n');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is shorter than 16 characters.*nothing was stored.*16 characters or more.*node dist\/cli\.js room new --name NAME/);
    assert.ok(!r.stderr.includes('fifteen'), 'the passphrase is not echoed');
    assert.deepEqual(rooms(home), []);
    writeFileSync(file, 'sixteen chars!!!\n');
    assert.equal(smc(home, ['chat', '--json', '--relay', `127.0.0.1:${relay.port}`, '--room', 'pp', '--passphrase-file', file], 'ok\n').code, 0);
  });

  it('an unusable $SMC_HOME gets a message naming the path and SMC_HOME', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    for (const args of [['room', 'list'], ['chat', 'x'], ['room', 'new', '--name', 'x']]) {
      const r = smc(join(file, 'smc'), args);
      assert.equal(r.code, 6, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^smc (room|chat): cannot use ${join(file, 'smc')} \\(SMC_HOME\\), where smc keeps its keys and state: ` +
        'a part of the path is a file, not a directory \\(ENOTDIR on mkdir .*\\)\\. Set SMC_HOME to a directory you can write'));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line, no stack');
    }
    // Permission denied: as an unprivileged user (root may write anywhere).
    chmodSync(dir, 0o755);
    const locked = join(dir, 'locked');
    mkdirSync(locked, { mode: 0o555 });
    chmodSync(locked, 0o555);
    let r: Run;
    if (process.getuid?.() === 0) {
      // As root, run as nobody, from a copy of dist/ that nobody can read: the checkout itself
      // may sit in a directory only root may enter (a CI clone in a 0700 temporary folder).
      const copy = join(dir, 'dist');
      cpSync(dirname(CLI_PATH), copy, { recursive: true });
      const run = spawnSync(process.execPath, [join(copy, 'cli.js'), 'room', 'list'], {
        env: { ...process.env, SMC_HOME: join(locked, 'smc'), NO_COLOR: '1' }, encoding: 'utf8', timeout: 30_000, cwd: dir, uid: 65534, gid: 65534,
      });
      r = { code: run.status, stdout: run.stdout, stderr: run.stderr };
    } else {
      r = smc(join(locked, 'smc'), ['room', 'list']);
    }
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot use ${join(locked, 'smc')} \\(SMC_HOME\\).*permission denied \\(EACCES on mkdir`));
  });
});
