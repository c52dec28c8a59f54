// A file in a private room whose messages go again under new ids (docs/protocol.md §3.3 "What
// targets a renewed message is renewed with it"), end to end: real `smc chat --json` processes,
// the real relay behind a TCP proxy (test/helpers/gateProxy.ts) on 127.0.0.1. alice sends a
// file that never reaches the relay and her chat is killed (kill -9); bob's update ends the
// epoch; alice's next chat finds the file and its chunks in her history (the outbox, §3.8),
// written in an epoch that is over, and sends them under new ids, the chunks naming the file's
// new id: bob gets it whole. Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayProcess } from '../helpers/relayProcess';
import { JsonChat, runSmcAsync } from '../helpers/cliProcess';
import { GateProxy } from '../helpers/gateProxy';
import { until } from '../helpers/until';

type Line = Record<string, unknown>;

describe('a private room\'s file sent again under new ids after a restart (smc chat --json, real relay)', function () {
  this.timeout(180_000);
  let dir: string;
  let relay: RelayProcess;
  let proxy: GateProxy;
  const chats: JsonChat[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-private-renew-'));
    relay = await RelayProcess.start();
    proxy = await GateProxy.start(relay.port);
  });

  afterEach(async () => {
    for (const c of chats.splice(0)) c.kill();
    await proxy.close();
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('alice killed with a file the relay never got, bob\'s update, alice again: renamed events, and bob gets the file whole', async () => {
    const home = (who: string): string => join(dir, who);
    const chat = (who: string, args: string[]): JsonChat => {
      const c = new JsonChat(home(who), args);
      chats.push(c);
      return c;
    };
    const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> =>
      until(what, check, 60_000, () => chats.map((c) => `${c.stderr.slice(-5).join('\n')}\n${JSON.stringify(c.lines.slice(-5))}`).join('\n---\n'));
    const made = await runSmcAsync(home('alice'), ['room', 'new', '--private', '--name', 'team', '--relay', `127.0.0.1:${proxy.port}`]);
    assert.equal(made.code, 0, made.stderr);
    const alice = chat('alice', ['--name', 'alice', 'team']);
    alice.send('/invite');
    const inv = await wait('an invite', () => alice.lines.find((l) => l.event === 'invite'));
    const bob = chat('bob', ['--name', 'bob', '--timeout', '120', String(inv.invite)]);
    await wait('bob added', () => alice.lines.find((l) => l.event === 'member_added'));
    alice.send('hello');
    await wait('bob reads alice', () => bob.lines.find((l) => l.text === 'hello'));

    // alice's file (7 chunks) never reaches the relay; her chat dies with it in the outbox.
    proxy.dropToRelay = (f) => f.t === 'send' && f.epoch === undefined;
    const bytes = randomBytes(200_000);
    const src = join(dir, 'plan.bin');
    writeFileSync(src, bytes);
    alice.send(JSON.stringify({ type: 'file', path: src, text: 'the plan' }));
    await wait('the file and its 7 chunks dropped', () => proxy.droppedToRelay.length >= 8);
    const oldFile = String(proxy.droppedToRelay[0]!.id);
    alice.kill();
    await alice.exit;
    proxy.dropToRelay = () => false;

    // bob's update ends the epoch the file was written in.
    bob.send('/members');
    const before = await wait('bob\'s epoch', () => bob.lines.find((l) => l.event === 'members'));
    bob.send('/update');
    for (let i = 0; ; i++) {
      bob.send('/members');
      const later = await wait('bob answers', () => bob.lines.filter((l) => l.event === 'members')[i + 1]);
      if (Number(later.epoch) > Number(before.epoch)) break;
      await new Promise((r) => setTimeout(r, 200));
    }

    const alice2 = chat('alice', ['--name', 'alice', 'team']);
    const file = await wait('bob has the file message', () => bob.lines.find((l) => l.type === 'file'));
    const newFile = String(file.id);
    assert.notEqual(newFile, oldFile);
    const done = await wait('bob has it whole', () => bob.lines.find((l) => l.event === 'file' && (l.state === 'complete' || l.state === 'failed')));
    assert.equal(done.state, 'complete', JSON.stringify(done));
    assert.equal(done.sha256, createHash('sha256').update(bytes).digest('hex'));
    const renamed = await wait('the file renamed', () => alice2.lines.find((l) => l.event === 'renamed' && l.from === oldFile));
    assert.equal(renamed.to, newFile);
    const out = join(dir, 'saved.bin');
    bob.send(JSON.stringify({ type: 'save', file: newFile, path: out }));
    await wait('saved', () => bob.lines.find((l) => l.event === 'saved'));
    assert.ok(readFileSync(out).equals(bytes));
    // Each of the 8 went under a new id, once; the relay never had the old ones.
    const renames = alice2.lines.filter((l): l is Line & { from: string; to: string } => l.event === 'renamed');
    assert.equal(renames.length, 8, JSON.stringify(renames));
    assert.deepEqual(new Set(renames.map((r) => r.from)), new Set(proxy.droppedToRelay.slice(0, 8).map((f) => String(f.id))));
    alice2.end();
    assert.equal(await alice2.exit, 0, alice2.stderr.join('\n'));
    bob.end();
    assert.equal(await bob.exit, 0, bob.stderr.join('\n'));
  });
});
