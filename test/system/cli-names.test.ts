// Look-alike names and own-name binding through real processes (issue 7 items 2.2 and 2.6):
// `node dist/cli.js chat --json` clients with their own identities ($SMC_HOME each) and a real
// relay process over TCP. A name that looks like a known member's under another key prints
// "keyChanged": true; another key under one's own name is marked even when it spoke first; a
// name with a bidi control character is refused before anything is sent.
// Needs `node scripts/build.mjs` first (npm test does it).
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayProcess } from '../helpers/relayProcess';
import { newInvite, runSmc as smc } from '../helpers/cliProcess';

type Line = { name?: string; text?: string | null; keyChanged?: boolean; fingerprint?: string };

/** `smc chat --json` with `input` as what is typed; its printed lines once it exits 0. */
function chat(home: string, args: string[], input = ''): Line[] {
  const r = smc(home, ['chat', '--json', ...args], input);
  assert.equal(r.code, 0, `smc chat ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Line);
}

describe('smc chat --json: look-alike names and own-name binding (real relay)', function () {
  this.timeout(120_000);
  let dir: string;
  let relay: RelayProcess | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-names-'));
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay') });
  });

  afterEach(async () => {
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks "аlice" (Cyrillic а) under another key as keyChanged, for a third member and for alice', () => {
    const [a, b, m] = ['a', 'b', 'm'].map((h) => join(dir, h)) as [string, string, string];
    const invite = newInvite(a, `127.0.0.1:${relay!.port}`, 'names');
    chat(a, ['--name', 'alice', invite], 'hello from alice\n');
    const first = chat(b, ['--name', 'bob', invite]);
    assert.deepEqual(first.map((l) => [l.name, l.text, l.keyChanged]), [['alice', 'hello from alice', false]]);

    chat(m, ['--name', '\u0430lice', invite], 'I am alice too\n');
    const atBob = chat(b, [invite]);
    assert.deepEqual(atBob.map((l) => [l.name, l.text, l.keyChanged]), [['\u0430lice', 'I am alice too', true]],
      'bob sees the look-alike as a new person');
    const atAlice = chat(a, [invite]);
    assert.deepEqual(atAlice.map((l) => [l.text, l.keyChanged]), [['I am alice too', true]]);
  });

  it('binds one\'s own name to one\'s own key: a stranger who spoke first as "alice" is marked at alice', () => {
    const [a, m] = ['a', 'm'].map((h) => join(dir, h)) as [string, string];
    const invite = newInvite(m, `127.0.0.1:${relay!.port}`, 'first-come');
    chat(m, ['--name', 'alice', invite], 'alice here, first\n');
    const atAlice = chat(a, ['--own', '--name', 'alice', invite], 'the real alice\n');
    const byText = new Map(atAlice.map((l) => [l.text, l]));
    assert.equal(byText.get('alice here, first')?.keyChanged, true, 'the stranger under alice\'s own name is not marked at alice');
    assert.equal(byText.get('the real alice')?.keyChanged, false, 'alice\'s own message is marked');
  });

  it('refuses to send under a name with U+202E (exit 2, one clear line) and sends nothing', () => {
    const [a, m] = ['a', 'm'].map((h) => join(dir, h)) as [string, string];
    const invite = newInvite(a, `127.0.0.1:${relay!.port}`, 'bidi');
    chat(a, ['--name', 'alice', invite]);
    for (const name of ['\u202Eecila', 'alice\u200B', 'al\u00ADice', 'ali\u2060ce', 'alice\u3164']) {
      const r = smc(m, ['chat', '--json', '--name', name, invite], 'should never arrive\n');
      assert.equal(r.code, 2, `${JSON.stringify(name)}: exit ${r.code}, ${r.stderr}`);
      // One line says why (beside the warning about an invite given on the command line).
      const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('smc chat: warning:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /invisible, bidi control or control characters/);
    }
    assert.deepEqual(chat(a, [invite]), [], 'a message under a refused name reached the room');
  });
});
