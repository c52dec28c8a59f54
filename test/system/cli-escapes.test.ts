// Terminal escapes (issue 7 §2.5): nothing an invite, a member or a relay sends may drive the
// terminal of `smc`. Hostile strings carry ESC[2J (clear the screen), OSC 0 (window title),
// OSC 52 (write the clipboard), BEL, CSI as the C1 character U+009B, U+2028, bidi overrides and
// zero-width characters, in every place the CLI prints: an invite's host (its error), a room
// name, a display name, message text, a snippet's path, language and code, a relay's error
// code, --debug. Checked three ways: terminalSafe and jsonLine alone; the raw bytes of real
// `smc` processes (piped, and --json, which must also give back the exact strings); and a real
// terminal (tmux), whose title, clipboard buffers, bell and screen must be untouched.
// Real relay, CLI and TCP processes on 127.0.0.1; needs `node scripts/build.mjs` and tmux.
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayClient } from '../../src/core/client/index';
import type { Transport } from '../../src/core/client/types';
import { RoomCipher, formatInvite, generateIdentity, generateMessageId, generateRoomKey, parseInvite, type Payload } from '../../src/core/crypto/index';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { jsonLine, terminalSafe } from '../../src/cli/terminalText';
import { CLI_PATH, RelayProcess } from '../helpers/relayProcess';
import { until } from '../helpers/until';

// What an attacker puts everywhere: clear screen, set the title, write the clipboard, ring,
// CSI as C1, a line separator, a bidi override, a zero-width space.
const CLEAR = '\x1b[2J';
const TITLE = '\x1b]0;pwned\x07';
const CLIPBOARD = '\x1b]52;c;cHduZWQ=\x07';
const C1_CSI = '\x9b2J';
const HOSTILE = `${CLEAR}${TITLE}${CLIPBOARD}\x07${C1_CSI}\u2028x\u202Eevil\u200Bz`;

/**
 * The raw control characters in output: every C0 byte but LF and TAB, DEL, C1 (UTF-8 C2 80-9F),
 * line/paragraph separators, bidi controls, zero-width and invisible format characters, tags.
 * ZWJ is not in the list: it is kept inside emoji (checked on its own).
 */
function rawControls(out: Buffer): string[] {
  const found: string[] = [];
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    if ((b < 0x20 && b !== 0x0a && b !== 0x09) || b === 0x7f) found.push(`byte 0x${b.toString(16)} at ${i}`);
    if (b === 0xc2 && out[i + 1]! >= 0x80 && out[i + 1]! <= 0x9f) found.push(`C1 U+00${out[i + 1]!.toString(16).toUpperCase()} at ${i}`);
  }
  const text = out.toString('utf8');
  for (const m of text.matchAll(/[\u00ad\u061c\u200b\u200c\u200e\u200f\u2028-\u202e\u2060-\u2069\u3164\ufeff\u{e0000}-\u{e007f}]/gu)) {
    found.push(`U+${m[0].codePointAt(0)!.toString(16).toUpperCase()} at char ${m.index}`);
  }
  return found;
}

function assertInert(what: string, out: Buffer): void {
  const found = rawControls(out);
  assert.deepEqual(found, [], `${what} printed raw control characters: ${found.slice(0, 8).join(', ')}\n${JSON.stringify(out.toString('utf8').slice(0, 2000))}`);
}

interface Run { code: number | null; stdout: Buffer; stderr: Buffer }

function smc(home: string, args: string[], input = ''): Run {
  const r = spawnSync(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SMC_HOME: home, NO_COLOR: '1' }, input, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A running `smc` process and everything it wrote, as bytes. */
class Smc {
  readonly child: ChildProcess;
  private out: Buffer[] = [];
  private err: Buffer[] = [];
  readonly exit: Promise<number | null>;

  constructor(home: string, args: string[]) {
    this.child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SMC_HOME: home, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => this.out.push(d));
    this.child.stderr!.on('data', (d: Buffer) => this.err.push(d));
    this.exit = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get stdout(): Buffer {
    return Buffer.concat(this.out);
  }

  get stderr(): Buffer {
    return Buffer.concat(this.err);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * A member who holds the room key and signs what they like: joined through RelayClient (so the
 * join is whatever the protocol asks of a member), then sends envelopes sealed here, with a
 * display name no honest client would send, on the same connection.
 */
class HostileMember {
  readonly identity = generateIdentity();
  private transport: Transport | undefined;
  private readonly client: RelayClient;
  private readonly cipher: RoomCipher;
  private readonly acks = new Set<number>();
  private rid = 900_000_000;

  private constructor(port: number, private readonly key: Buffer) {
    this.cipher = new RoomCipher(key);
    this.client = new RelayClient({
      host: '127.0.0.1', port, agent: 'smc-test/0', identity: this.identity, displayName: 'mallory',
      transport: (h, p) => {
        const t = createTcpTransport(h, p);
        t.on('line', (line) => {
          const f = JSON.parse(line) as { t?: string; rid?: number };
          if (f.t === 'ack' && typeof f.rid === 'number') this.acks.add(f.rid);
        });
        this.transport = t;
        return t;
      },
    });
  }

  static async open(port: number, key: Buffer): Promise<HostileMember> {
    const m = new HostileMember(port, key);
    let synced = false;
    m.client.on('synced', () => (synced = true));
    m.client.connect();
    m.client.join({ key: m.key, name: 'hostile' });
    await until('the hostile member joined', () => synced);
    return m;
  }

  /** Sends one message with these fields, and waits for the relay's ack. */
  async send(fields: Omit<Payload, 'id' | 'ts'>): Promise<void> {
    const id = generateMessageId();
    const body = this.cipher.seal({ id, ts: Date.now(), ...fields }, this.identity);
    const rid = this.rid++;
    this.transport!.write(JSON.stringify({ t: 'send', rid, room: this.cipher.room, id, body }));
    await until('the relay acked the hostile message', () => this.acks.has(rid));
  }

  async close(): Promise<void> {
    await this.client.disconnect();
  }
}

/** Sends the three hostile messages: name and text, a snippet, and an emoji that must stay whole. */
async function sendHostileMessages(m: HostileMember, tag: string): Promise<void> {
  await m.send({ name: `mal${HOSTILE}`, type: 'text', text: `${tag} text ${HOSTILE}\nline two ${HOSTILE}` });
  await m.send({
    name: 'mallory', type: 'snippet', text: `${tag} caption ${HOSTILE}`,
    snippet: { lang: `ts${HOSTILE}`, path: `src/${HOSTILE}.ts`, start: 1, end: 2, code: `const a = 1; // ${HOSTILE}\nconst b = '${HOSTILE}';` },
  });
  await m.send({ name: 'mallory', type: 'text', text: `${tag} emoji 👩‍💻 and a lone a\u200Db` });
}

/** A relay that answers every hello with an error frame whose code is hostile, then hangs up. */
async function maliciousRelay(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.end(`${JSON.stringify({ t: 'error', code: `${TITLE}${C1_CSI}\u2028${CLEAR}` })}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  assert.ok(addr !== null && typeof addr === 'object');
  return { server, port: addr.port };
}

describe('terminalSafe and jsonLine (issue 7 §2.5)', () => {
  it('make every control, bidi and invisible character visible, and keep emoji sequences whole', () => {
    const cases: [string, string][] = [
      [HOSTILE, '\\u{1B}[2J\\u{1B}]0;pwned\\u{7}\\u{1B}]52;c;cHduZWQ=\\u{7}\\u{7}\\u{9B}2J\\u{2028}x\\u{202E}evil\\u{200B}z'],
      ['\x00\x7f\x85\u061c\u200e\u2066\u2069\ufeff', '\\u{0}\\u{7F}\\u{85}\\u{61C}\\u{200E}\\u{2066}\\u{2069}\\u{FEFF}'],
      ['al\u00adice \u3164 \u115f \u034f \ufe01', 'al\\u{AD}ice \\u{3164} \\u{115F} \\u{34F} \\u{FE01}'],
      ['hidden\u{E0041}\u{E0042}', 'hidden\\u{E0041}\\u{E0042}'],
      ['a\u200Db', 'a\\u{200D}b'],
      ['line\nbreak\ttab\r', 'line\\u{A}break\\u{9}tab\\u{D}'],
      ['👩‍💻 🏳️‍🌈 🏃🏽‍♀️ ❤️ 1️⃣ 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} é 日本', '👩‍💻 🏳️‍🌈 🏃🏽‍♀️ ❤️ 1️⃣ 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} é 日本'],
    ];
    for (const [input, shown] of cases) assert.equal(terminalSafe(input), shown, JSON.stringify(input));
    // Blocks (message text, code) keep their lines and tabs; CRLF becomes LF; the rest as in lines.
    assert.equal(terminalSafe('a\r\nb\tc\rd\x1b', 'block'), 'a\nb\tc\\u{D}d\\u{1B}');
    // All but the emoji row (whose flag is a tag sequence, kept on purpose) print nothing raw.
    for (const [input] of cases.slice(0, -1)) assertInert('terminalSafe', Buffer.from(terminalSafe(input)));
  });

  it('jsonLine escapes what JSON.stringify leaves raw (DEL, C1, U+2028/2029, format characters) and round-trips', () => {
    const value = { text: `${HOSTILE}\x7f\x85\u2029\u{E0041}👩‍💻\ud800`, n: 1, nested: [{ s: '\u202a' }] };
    assertInert('jsonLine', Buffer.from(jsonLine(value)));
    assert.notDeepEqual(rawControls(Buffer.from(JSON.stringify(value))), [], 'JSON.stringify alone is not enough');
    assert.deepEqual(JSON.parse(jsonLine(value)), value);
  });
});

describe('smc prints untrusted strings inert (issue 7 §2.5)', function () {
  this.timeout(90_000);
  let dir: string;
  let relay: RelayProcess | undefined;
  let evil: Server | undefined;
  const procs: Smc[] = [];
  const members: HostileMember[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-esc-'));
  });

  afterEach(async () => {
    for (const p of procs.splice(0)) p.kill();
    for (const m of members.splice(0)) await m.close();
    evil?.close();
    evil = undefined;
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('an invite with escapes in its host: smc chat and smc room join say it is invalid, inert', () => {
    const invite = `smc://ev${TITLE}${CLIPBOARD}${C1_CSI}il:7878/x#${'A'.repeat(43)}`;
    const chat = smc(join(dir, 'a'), ['chat', invite]);
    assert.equal(chat.code, 2);
    assert.match(chat.stderr.toString(), /invalid invite: 'ev\\u\{1B\}\]0;pwned\\u\{7\}/);
    assertInert('smc chat with a hostile invite', Buffer.concat([chat.stdout, chat.stderr]));
    const join_ = smc(join(dir, 'b'), ['room', 'join'], invite);
    assert.equal(join_.code, 2);
    assert.match(join_.stderr.toString(), /invalid invite in standard input: 'ev\\u\{1B\}/);
    assertInert('smc room join with a hostile invite', Buffer.concat([join_.stdout, join_.stderr]));
    const unknown = smc(join(dir, 'c'), [`x${TITLE}`]);
    assertInert('smc with a hostile command name', unknown.stderr);
  });

  it('a hostile room name, display name, text and snippet: interactive (piped) and --json output are inert; --json keeps the exact strings', async () => {
    relay = await RelayProcess.start();
    const key = generateRoomKey();
    const roomName = `room${HOSTILE}`;
    const invite = formatInvite({ host: '127.0.0.1', port: relay.port, name: roomName, key });
    const mallory = await HostileMember.open(relay.port, key);
    members.push(mallory);
    await sendHostileMessages(mallory, 'history');

    // --json (here with the invite as an argument, as a script on main would): every line
    // inert, and parsing it gives back exactly what was sent.
    const json = smc(join(dir, 'bob'), ['chat', '--json', '--history', '100', invite]);
    assert.equal(json.code, 0, json.stderr.toString());
    assertInert('smc chat --json', Buffer.concat([json.stdout, json.stderr]));
    const lines = json.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { name: string; text: string; snippet?: { path: string; lang: string; code: string } });
    assert.equal(lines.length, 3);
    assert.equal(lines[0]!.name, `mal${HOSTILE}`);
    assert.equal(lines[0]!.text, `history text ${HOSTILE}\nline two ${HOSTILE}`);
    assert.equal(lines[1]!.snippet!.path, `src/${HOSTILE}.ts`);
    assert.equal(lines[1]!.snippet!.code, `const a = 1; // ${HOSTILE}\nconst b = '${HOSTILE}';`);
    assert.equal(lines[2]!.text, 'history emoji 👩‍💻 and a lone a\u200Db');

    const alice = join(dir, 'alice');
    const joined = smc(alice, ['room', 'join'], invite);
    assert.equal(joined.code, 0, joined.stderr.toString());
    assertInert('smc room join', Buffer.concat([joined.stdout, joined.stderr]));
    assert.match(joined.stdout.toString(), /Joined room "room\\u\{1B\}\[2J/);
    const list = smc(alice, ['room', 'list']);
    assertInert('smc room list', list.stdout);
    assert.match(list.stdout.toString(), /^room\\u\{1B\}\[2J/m);

    // Interactive, output piped: history, then the same live.
    const chat = new Smc(alice, ['chat', '--name', 'alice', '--room', roomName]);
    procs.push(chat);
    await until('history shown', () => chat.stdout.toString().includes('history emoji') && chat.stdout.toString().includes('connected to'), 20_000, () => chat.stdout.toString() + chat.stderr.toString());
    await sendHostileMessages(mallory, 'live');
    await until('live shown', () => chat.stdout.toString().includes('live emoji'), 20_000, () => chat.stdout.toString());
    chat.child.stdin!.end();
    assert.equal(await chat.exit, 0);
    const shown = chat.stdout.toString();
    assertInert('smc chat (interactive)', Buffer.concat([chat.stdout, chat.stderr]));
    assert.match(shown, /mal\\u\{1B\}\[2J\\u\{1B\}\]0;pwned\\u\{7\}/, 'the display name is shown escaped');
    assert.match(shown, /live text \\u\{1B\}\[2J.*\\u\{9B\}2J\\u\{2028\}x\\u\{202E\}evil\\u\{200B\}z/, 'the text is shown escaped');
    assert.match(shown, /shared src\/\\u\{1B\}\[2J.*\.ts:1-2 \(ts\\u\{1B\}/, 'the snippet path and language are shown escaped');
    assert.match(shown, /│ const b = '\\u\{1B\}\[2J/, 'the code is shown escaped');
    assert.match(shown, /live emoji 👩‍💻 and a lone a\\u\{200D\}b/, 'emoji stay whole, a lone ZWJ is shown');
  });

  it("a malicious relay's error codes: inert in the interactive client, --json's stderr and --debug", async () => {
    const bad = await maliciousRelay();
    evil = bad.server;
    const home = join(dir, 'a');
    assert.equal(smc(home, ['room', 'new', '--name', 'evil', '--relay', `127.0.0.1:${bad.port}`]).code, 0);
    const chat = new Smc(home, ['chat', '--room', 'evil']);
    procs.push(chat);
    await until('the relay error shown', () => /reported an error/.test(chat.stdout.toString()), 20_000, () => chat.stdout.toString() + chat.stderr.toString());
    chat.child.stdin!.end();
    await chat.exit;
    assertInert('smc chat (interactive) against a malicious relay', Buffer.concat([chat.stdout, chat.stderr]));
    assert.match(chat.stdout.toString(), /reported an error \(\\u\{1B\}\]0;pwned/);
    const json = new Smc(home, ['chat', '--json', '--debug', '--room', 'evil']);
    procs.push(json);
    await until('the relay error reported', () => /relay_error[\s\S]*reported an error/.test(json.stderr.toString()), 20_000, () => json.stderr.toString());
    json.child.kill('SIGTERM');
    await json.exit;
    assertInert('smc chat --json --debug against a malicious relay', Buffer.concat([json.stdout, json.stderr]));
  });
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;
const shq = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

describe('smc in a real terminal (tmux): title, clipboard, bell and screen untouched (issue 7 §2.5)', function () {
  this.timeout(90_000);
  let dir: string;
  let relay: RelayProcess | undefined;
  const socket = `smc-esc-${randomBytes(6).toString('hex')}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
  const members: HostileMember[] = [];

  before(function () {
    if (!hasTmux) throw new Error('tmux is required for the terminal tests (apt-get install tmux)');
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-esc-tty-'));
  });

  afterEach(async () => {
    for (const m of members.splice(0)) await m.close();
    const path = spawnSync('tmux', ['-L', socket, 'display-message', '-p', '#{socket_path}'], { encoding: 'utf8' }).stdout.trim();
    spawnSync('tmux', ['-L', socket, 'kill-server']);
    if (path.includes(socket)) rmSync(path, { force: true });
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('a hostile invite, room name, member and messages leave the terminal as it was', async () => {
    relay = await RelayProcess.start();
    const alice = join(dir, 'alice');
    const made = smc(alice, ['room', 'new', '--name', 'tty', '--relay', `127.0.0.1:${relay.port}`]);
    assert.equal(made.code, 0, made.stderr.toString());
    const { key } = parseInvite(/smc:\/\/[^\s']+/.exec(made.stdout.toString())![0]);
    writeFileSync(join(dir, 'host.inv'), `smc://ev${TITLE}${CLIPBOARD}${C1_CSI}il:7878/x#${'A'.repeat(43)}\n`);
    writeFileSync(join(dir, 'name.inv'), `${formatInvite({ host: '127.0.0.1', port: relay.port, name: `room${HOSTILE}`, key: generateRoomKey() })}\n`);
    const cli = `${shq(process.execPath)} ${shq(CLI_PATH)}`;
    writeFileSync(join(dir, 'steps.sh'), [
      'read _',
      'echo MARKER-BEFORE',
      `${cli} chat "$(cat ${shq(join(dir, 'host.inv'))})"; echo "EXIT1=$?"`,
      `${cli} room join < ${shq(join(dir, 'name.inv'))}; echo "EXIT2=$?"`,
      `${cli} room list`,
      `${cli} chat --name alice --room tty; echo "EXIT3=$?"`,
      'sleep 60',
    ].join('\n'));
    const raw = join(dir, 'pane.raw');
    tmux('new-session', '-d', '-x', '160', '-y', '50', '-s', 'esc', `env SMC_HOME=${shq(alice)} NO_COLOR=1 sh ${shq(join(dir, 'steps.sh'))}`);
    // OSC 52 would create a paste buffer; the bell would set the window's bell flag.
    tmux('set-option', '-s', 'set-clipboard', 'on');
    tmux('set-option', '-g', 'bell-action', 'any');
    tmux('pipe-pane', '-o', '-t', 'esc', `cat >> ${shq(raw)}`);
    const title = tmux('display-message', '-p', '-t', 'esc', '#{pane_title}');
    const screen = (): string => tmux('capture-pane', '-p', '-J', '-t', 'esc');
    tmux('send-keys', '-t', 'esc', 'Enter');
    await until('the chat connected', () => screen().includes('connected to'), 30_000, screen);

    const mallory = await HostileMember.open(relay.port, key);
    members.push(mallory);
    await sendHostileMessages(mallory, 'live');
    await until('the messages shown', () => screen().includes('live emoji'), 20_000, screen);
    tmux('send-keys', '-t', 'esc', '-l', '/stop');
    tmux('send-keys', '-t', 'esc', 'Enter');
    await until('the chat ended', () => screen().includes('EXIT3=0'), 20_000, screen);

    const s = screen();
    assert.equal(tmux('display-message', '-p', '-t', 'esc', '#{pane_title}'), title, 'the title is unchanged');
    assert.equal(tmux('list-buffers'), '', 'no clipboard write (OSC 52)');
    assert.equal(tmux('display-message', '-p', '-t', 'esc', '#{window_bell_flag}').trim(), '0', 'no bell');
    assert.ok(s.includes('MARKER-BEFORE'), `the screen was not cleared:\n${s}`);
    assert.match(s, /EXIT1=2/);
    assert.match(s, /invalid invite: 'ev\\u\{1B\}\]0;pwned/);
    assert.match(s, /mal\\u\{1B\}\[2J\\u\{1B\}\]0;pwned\\u\{7\}/);
    assert.match(s, /EXIT2=0/);
    assert.match(s, /room\\u\{1B\}\[2J/);
    await until('the raw pane output', () => existsSync(raw));
    const bytes = readFileSync(raw);
    // The client's own output (readline) moves the cursor and clears lines; nothing else.
    for (const [what, seq] of [['BEL', '\x07'], ['OSC', '\x1b]'], ['clear screen', CLEAR], ['C1 CSI', '\xc2\x9b']] as const) {
      assert.equal(bytes.indexOf(Buffer.from(seq, 'latin1')), -1, `raw ${what} reached the terminal`);
    }
  });
});
