// Private rooms end to end (issue 10 "Tests", docs/protocol.md §3): real `node dist/cli.js chat
// --json` processes, each with its own $SMC_HOME, over real TCP on 127.0.0.1. Each scenario runs
// twice: against the real relay (`smc relay`, once it speaks §3.6: skipped, saying so, while it
// answers `reset` with unknown_type), and against the Delivery Service of the spec
// (test/helpers/privateDs.ts behind a TCP socket), which pins the client to the protocol text.
// Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSmcAsync as smc, type JsonChat } from '../helpers/cliProcess';
import { RelayProcess } from '../helpers/relayProcess';
import { PrivateDsServer } from '../helpers/privateDsServer';
import { PrivateChats, events } from '../helpers/privateRoom';
import { LineClient } from '../helpers/lineClient';
import { GateProxy } from '../helpers/gateProxy';
import { FileSecretStore } from '../../src/node/fileStores';
import { KeyStore } from '../../src/core/keys/index';
import { decodeSaved } from '../../src/core/private/meta';
import { MlsGroup, epochAuthKey, makeRotation } from '../../src/core/mls/index';
import { makeJoinProof } from '../../src/core/crypto/roomAuth';
import { randomBytes } from 'node:crypto';

type Line = Record<string, unknown>;

interface Backend {
  port: number;
  stop(): Promise<void>;
  /** Files where the relay keeps what it stored (for the plaintext check), if any. */
  dataDir?: string;
}

const EXIT = { ok: 0, removed: 7, refused: 8, notAdded: 9 };

// `smc` runs to its end without blocking this process (runSmcAsync): the spec's DS lives in it,
// and spawnSync would stop it from answering.

for (const kind of ['relay', 'spec-ds'] as const) {
  describe(`private rooms through ${kind === 'relay' ? 'the real relay' : 'the spec\'s Delivery Service'} (smc chat --json)`, function () {
    this.timeout(120_000);
    let dir: string;
    let backend: Backend;
    let chats: PrivateChats;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'smc-private-'));
      chats = new PrivateChats(dir);
      if (kind === 'relay') {
        const dataDir = join(dir, 'relay');
        const relay = await RelayProcess.start({ dataDir });
        backend = { port: relay.port, stop: () => relay.cleanup(), dataDir };
      } else {
        const ds = await PrivateDsServer.start();
        backend = { port: ds.port, stop: () => ds.stop() };
      }
    });

    afterEach(async () => {
      chats.killAll();
      await backend.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    const home = (who: string): string => chats.home(who);
    const relayArg = (): string => `127.0.0.1:${backend.port}`;
    const chat = (who: string, args: string[]): JsonChat => chats.chat(who, args);
    const waitFor = <T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string): Promise<T> => chats.wait(what, check);

    /** alice creates "team" and opens it; returns her running chat. */
    async function aliceCreates(): Promise<JsonChat> {
      const r = await chats.create(relayArg());
      assert.match(r.stdout, /Created private room "team"/);
      assert.match((await smc(home('alice'), ['room', 'list'])).stdout, /^team\t127\.0\.0\.1:\d+\tlast seen #0\tprivate$/m);
      return chat('alice', ['--name', 'alice', 'team']);
    }

    async function invite(admin: JsonChat, args = ''): Promise<string> {
      const link = await chats.invite(admin, args);
      assert.match(link, /^smc:\/\/127\.0\.0\.1:\d+\/team\?join=1&by=[0-9a-f]{32}#[A-Za-z0-9_-]{43}$/);
      return link;
    }

    async function joins(who: string, link: string, admin: JsonChat, viaRoomJoin = false): Promise<JsonChat> {
      if (!viaRoomJoin) return chats.join(who, link, admin);
      // The invite off the command line: smc room join stores it, smc chat NAME asks to join.
      const stored = await smc(home(who), ['room', 'join'], link);
      assert.equal(stored.code, 0, stored.stderr);
      assert.match(stored.stdout, /Stored the invite to private room "team"/);
      return chats.join(who, 'team', admin);
    }

    /**
     * `who`'s modified client: its current epoch's auth key, read from its own $SMC_HOME (§3.8),
     * on a raw line connection; a commit of 400 random bytes with a valid rotation (§3.6) to a
     * key of the attacker's. The relay acks it: it checks the rotation, not the MLS message.
     */
    async function garbageCommit(who: string, chained = 1): Promise<number> {
      const file = JSON.parse(readFileSync(join(home(who), 'secrets.json'), 'utf8')) as Record<string, string>;
      const identity = await new KeyStore(new FileSecretStore(home(who))).identity();
      const key = Object.keys(file).find((k) => k.startsWith('smc.mls.'))!;
      const room = key.slice('smc.mls.'.length);
      const group = await MlsGroup.import(decodeSaved(file[key]!).state, identity);
      const epoch = group.epoch;
      const auth = epochAuthKey(await group.epochAuthSeed());
      const raw = await LineClient.connect(backend.port);
      try {
        await raw.hello();
        const joined = await raw.request({ t: 'join', room, since: 0, ...makeJoinProof(auth, raw.challenge, room) });
        assert.equal(joined.t, 'joined', JSON.stringify(joined));
        // `chained` > 1: each next commit is signed by the attacker's key of the epoch before.
        let first = 0;
        let key = auth;
        for (let i = 0; i < chained; i++) {
          const next = epochAuthKey(randomBytes(32));
          const e = epoch + BigInt(i);
          const ack = await raw.request({
            t: 'send', room, id: randomBytes(16).toString('base64url'), body: randomBytes(400).toString('base64url'),
            epoch: Number(e) + 1, ...makeRotation(key, room, e + 1n, next),
          }, 20_000);
          assert.equal(ack.t, 'ack', JSON.stringify(ack));
          if (i === 0) first = Number(ack.seq);
          key = next;
          if (i + 1 < chained) {
            await raw.nextOfType('rekey');
            const again = await raw.request({ t: 'join', room, since: Number(ack.seq), ...makeJoinProof(key, raw.challenge, room) }, 20_000);
            assert.equal(again.t, 'joined', JSON.stringify(again));
          }
        }
        return first;
      } finally {
        raw.destroy();
      }
    }

    it('three members: messages flow; a removed member is told (exit 7), reads nothing after, not live, not after a restart, not from a copy of its $SMC_HOME', async () => {
      const alice = await aliceCreates();
      const bob = await joins('bob', await invite(alice), alice);
      const carol = await joins('carol', await invite(alice), alice, true);
      assert.ok(!carol.stderr.some((l) => l.includes('warning')), carol.stderr.join('\n'));
      await waitFor(() => events(bob, 'member_added').some((e) => e.name === 'carol' && e.by === 'alice'), 'bob sees carol added by alice');
      alice.send('hello all');
      bob.send('hi from bob');
      carol.send('//slash from carol');
      await waitFor(() => carol.texts().includes('hello all') && carol.texts().includes('hi from bob'), 'carol reads');
      await waitFor(() => bob.texts().includes('/slash from carol') && alice.texts().includes('/slash from carol'), '// sends a line beginning with /');
      alice.send('/members');
      await waitFor(() => events(alice, 'members').length > 0, '/members');
      const members = events(alice, 'members')[0]!.members as Line[];
      assert.deepEqual(members.map((m) => [m.name, m.role]).sort(), [['alice', 'admin'], ['bob', 'member'], ['carol', 'member']]);
      for (const m of members) assert.match(String(m.fingerprint), /^([0-9A-F]{4} ){7}[0-9A-F]{4}$/);

      // A copy of bob's $SMC_HOME taken before his removal.
      cpSync(home('bob'), home('bob-copy'), { recursive: true });

      // Read by the copy too (it was a member then): proves the copy does reach the room.
      alice.send('between the copy and the removal');
      await waitFor(() => bob.texts().includes('between the copy and the removal'), 'bob reads it');
      alice.send('/remove bob');
      await waitFor(() => events(bob, 'removed').length === 1, 'bob told');
      assert.equal(events(bob, 'removed')[0]!.by, 'alice');
      assert.equal(await bob.exit, EXIT.removed);
      await waitFor(() => events(carol, 'member_removed').some((e) => e.name === 'bob' && e.by === 'alice'), 'carol sees the removal');

      alice.send('secret after removal');
      carol.send('carol after removal');
      await waitFor(() => carol.texts().includes('secret after removal') && alice.texts().includes('carol after removal'), 'the others chat on');
      assert.ok(!bob.texts().includes('secret after removal'));

      // Restarted, bob's smc chat says he was removed.
      const again = await smc(home('bob'), ['chat', '--json', 'team'], '', 30_000);
      assert.equal(again.code, EXIT.removed, again.stderr);
      assert.match(again.stderr, /removed from private room "team" by alice/);
      assert.ok(!again.stdout.includes('after removal'));

      // The copy from before the removal reads up to its removal and nothing after (§3.6).
      const copy = await smc(home('bob-copy'), ['chat', '--json', '--timeout', '10', 'team'], '', 40_000);
      assert.ok(copy.stdout.includes('between the copy and the removal'), copy.stdout + copy.stderr);
      assert.ok(!copy.stdout.includes('secret after removal') && !copy.stdout.includes('carol after removal'), copy.stdout);

      // State and history at rest: mode 0600, and no plaintext in them.
      for (const who of ['alice', 'carol']) {
        const hist = join(home(who), 'history');
        for (const f of readdirSync(hist)) {
          assert.equal(statSync(join(hist, f)).mode & 0o777, 0o600);
          assert.ok(!readFileSync(join(hist, f), 'utf8').includes('after removal'));
        }
        assert.ok(!readFileSync(join(home(who), 'secrets.json'), 'utf8').includes('after removal'));
      }
      alice.end();
      carol.end();
      assert.equal(await alice.exit, 0);
      assert.equal(await carol.exit, 0);
      // No plaintext in what the relay stored (its data directory, every file).
      if (backend.dataDir !== undefined) {
        const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true })
          .flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : []));
        const files = walk(backend.dataDir);
        assert.ok(files.length > 0);
        for (const f of files) {
          const bytes = readFileSync(f).toString('latin1');
          for (const text of ['hello all', 'hi from bob', 'secret after removal', 'carol after removal']) assert.ok(!bytes.includes(text), `${text} in ${f}`);
        }
      }
    });

    it('a used, an expired and a revoked invite, and a removed member\'s old invite, are refused (exit 8)', async () => {
      const alice = await aliceCreates();
      const once = await invite(alice);
      const bob = await joins('bob', once, alice);
      // Used: the single-use invite, a second time, by someone else.
      const used = await smc(home('dave'), ['chat', '--json', '--name', 'dave', '--timeout', '30', once], '', 60_000);
      assert.equal(used.code, EXIT.refused, used.stderr);
      assert.match(used.stderr, /already used/);
      // Expired.
      const short = await invite(alice, ' --expires 1s');
      // Expiry is a time: waited for by the clock, not by an event.
      const expiresAt = Date.now() + 1_000;
      await waitFor(() => Date.now() > expiresAt + 200, 'the invite expired');
      const expired = await smc(home('erin'), ['chat', '--json', '--name', 'erin', '--timeout', '30', short], '', 60_000);
      assert.equal(expired.code, EXIT.refused, expired.stderr);
      assert.match(expired.stderr, /expired/);
      // Revoked.
      const revokedLink = await invite(alice);
      alice.send(`/revoke ${revokedLink}`);
      await new Promise((r) => setTimeout(r, 500));
      const revoked = await smc(home('frank'), ['chat', '--json', '--name', 'frank', '--timeout', '30', revokedLink], '', 60_000);
      assert.equal(revoked.code, EXIT.refused, revoked.stderr);
      assert.match(revoked.stderr, /revoked/);
      // A removed member's old invite: a multi-use one bob could use again.
      const multi = await invite(alice, ' --uses 5');
      alice.send('/remove bob');
      assert.equal(await bob.exit, EXIT.removed);
      const back = await smc(home('bob'), ['chat', '--json', '--name', 'bob', '--timeout', '30', multi], '', 60_000);
      assert.equal(back.code, EXIT.refused, back.stderr);
      assert.match(back.stderr, /you were removed/);
      alice.end();
      assert.equal(await alice.exit, 0);
    });

    it('two admins commit at the same moment: all members end in the same epoch, nothing lost', async () => {
      const alice = await aliceCreates();
      const bob = await joins('bob', await invite(alice), alice);
      const carol = await joins('carol', await invite(alice), alice);
      const dave = await joins('dave', await invite(alice), alice);
      alice.send('/promote bob');
      await waitFor(() => { bob.send('/members'); return events(bob, 'members').some((e) => (e.members as Line[]).some((m) => m.name === 'bob' && m.role === 'admin')); }, 'bob an admin');
      // Both remove dave at once, and update; one wins each epoch, the others retry or drop.
      alice.send('/remove dave');
      bob.send('/update');
      alice.send('from alice during the race');
      bob.send('from bob during the race');
      assert.equal(await dave.exit, EXIT.removed);
      carol.send('carol after');
      await waitFor(() => alice.texts().includes('carol after') && bob.texts().includes('carol after'), 'the room speaks on');
      await waitFor(() => carol.texts().includes('from alice during the race') && carol.texts().includes('from bob during the race'), 'nothing lost');
      const epochs = async (): Promise<number[]> => {
        const before = [alice, bob, carol].map((c) => events(c, 'members').length);
        for (const c of [alice, bob, carol]) c.send('/members');
        await waitFor(() => [alice, bob, carol].every((c, i) => events(c, 'members').length > before[i]!), 'members');
        return [alice, bob, carol].map((c) => Number(events(c, 'members').slice(-1)[0]!.epoch));
      };
      await waitFor(async () => new Set(await epochs()).size === 1, 'one epoch for all');
      for (const c of [alice, bob, carol]) c.end();
      for (const c of [alice, bob, carol]) assert.equal(await c.exit, 0);
    });

    it('healing: a copy of a member\'s state taken before its update cannot open what is sent after it', async () => {
      const alice = await aliceCreates();
      const bob = await joins('bob', await invite(alice), alice);
      alice.send('before the copy');
      await waitFor(() => bob.texts().includes('before the copy'), 'bob reads');
      bob.end();
      assert.equal(await bob.exit, 0);
      cpSync(home('bob'), home('bob-stolen'), { recursive: true });
      const bob2 = chat('bob', ['--name', 'bob', 'team']);
      alice.send('between the copy and the update');
      await waitFor(() => bob2.texts().includes('between the copy and the update'), 'bob reads');
      bob2.send('/members');
      await waitFor(() => events(bob2, 'members').length === 1, 'members');
      const epoch = Number(events(bob2, 'members')[0]!.epoch);
      bob2.send('/update');
      await waitFor(() => {
        alice.send('/members');
        return events(alice, 'members').some((e) => Number(e.epoch) === epoch + 1);
      }, 'alice applied bob\'s update');
      alice.send('after the update');
      await waitFor(() => bob2.texts().includes('after the update'), 'bob reads after his update');
      const stolen = await smc(home('bob-stolen'), ['chat', '--json', '--timeout', '10', 'team'], '', 40_000);
      assert.ok(stolen.stdout.includes('between the copy and the update'), stolen.stdout + stolen.stderr);
      assert.ok(!stolen.stdout.includes('after the update'), stolen.stdout);
      alice.end();
      bob2.end();
      assert.equal(await alice.exit, 0);
      assert.equal(await bob2.exit, 0);
    });

    it('a member\'s modified client sends a garbage commit with a valid rotation: the owner repairs the room (§3.6), the members are told and chat on, nothing lost', async () => {
      const alice = await aliceCreates();
      const bob = await joins('bob', await invite(alice), alice);
      const carol = await joins('carol', await invite(alice), alice);
      alice.send('before the attack');
      await waitFor(() => bob.texts().includes('before the attack') && carol.texts().includes('before the attack'), 'all read');
      await garbageCommit('carol');
      // The owner's client repairs the room; every member says so.
      for (const c of [alice, bob, carol]) await waitFor(() => events(c, 'repaired').length > 0, 'repaired');
      alice.send('after the repair from alice');
      bob.send('after the repair from bob');
      carol.send('after the repair from carol');
      const trio = [[alice, 'alice'], [bob, 'bob'], [carol, 'carol']] as const;
      await waitFor(() => trio.every(([c, who]) => trio.every(([, w]) => w === who || c.texts().includes(`after the repair from ${w}`))), 'the three chat again');
      for (const c of [alice, bob, carol]) c.end();
      for (const c of [alice, bob, carol]) assert.equal(await c.exit, 0);
      // Nothing lost and nothing doubled.
      for (const [c, who] of trio) {
        for (const w of ['alice', 'bob', 'carol'].filter((x) => x !== who)) assert.equal(c.texts().filter((t) => t === `after the repair from ${w}`).length, 1, `${who} reads ${w} once`);
      }
    });

    it('a flood of 20 chained garbage commits (each signed by the attacker\'s key of the epoch before): one repair undoes them all; an admin\'s commit asked for meanwhile is made after it; all end in one epoch', async () => {
      const alice = await aliceCreates();
      const bob = await joins('bob', await invite(alice), alice);
      const carol = await joins('carol', await invite(alice), alice);
      alice.send('before');
      await waitFor(() => bob.texts().includes('before') && carol.texts().includes('before'), 'all read');
      // The owner offline, so that the flood is not cut short by a repair (online, it is: the
      // attacker's next commit meets stale_epoch).
      alice.end();
      assert.equal(await alice.exit, 0);
      const seq = await garbageCommit('carol', 20);
      const alice2 = chat('alice', ['--name', 'alice', 'team']);
      alice2.send('/update');
      for (const c of [alice2, bob, carol]) await waitFor(() => events(c, 'repaired').some((e) => e.seq === seq), 'repaired');
      bob.send('bob after the flood');
      await waitFor(() => alice2.texts().includes('bob after the flood') && carol.texts().includes('bob after the flood'), 'the room speaks on');
      const epochs = async (): Promise<number[]> => {
        const before = [alice2, bob, carol].map((c) => events(c, 'members').length);
        for (const c of [alice2, bob, carol]) c.send('/members');
        await waitFor(() => [alice2, bob, carol].every((c, i) => events(c, 'members').length > before[i]!), 'members');
        return [alice2, bob, carol].map((c) => Number(events(c, 'members').slice(-1)[0]!.epoch));
      };
      await waitFor(async () => { const e = await epochs(); return new Set(e).size === 1 && e[0]! >= 3; }, 'one epoch for all, after alice\'s update');
      for (const c of [alice2, bob, carol]) c.end();
      for (const c of [alice2, bob, carol]) assert.equal(await c.exit, 0);
    });

    it('the owner offline during the attack: the members are told the room waits for it, what they write waits, and when the owner comes back the room is repaired, nothing lost; a second attack is repaired too', async () => {
      const alice = await aliceCreates();
      const bob = await joins('bob', await invite(alice), alice);
      const carol = await joins('carol', await invite(alice), alice);
      alice.send('before');
      await waitFor(() => bob.texts().includes('before') && carol.texts().includes('before'), 'all read');
      alice.end();
      assert.equal(await alice.exit, 0);
      const seq = await garbageCommit('carol');
      for (const c of [bob, carol]) await waitFor(() => events(c, 'blocked').some((e) => e.seq === seq), 'blocked');
      bob.send('written while blocked');
      // The owner's client comes back: it catches up, meets the refused commit, repairs.
      const alice2 = chat('alice', ['--name', 'alice', 'team']);
      for (const c of [alice2, bob, carol]) await waitFor(() => events(c, 'repaired').some((e) => e.seq === seq), 'repaired');
      await waitFor(() => carol.texts().includes('written while blocked') && alice2.texts().includes('written while blocked'), 'what waited is delivered');
      // Carol's client attacks again: one more commit, one more repair.
      const seq2 = await garbageCommit('carol');
      for (const c of [alice2, bob, carol]) await waitFor(() => events(c, 'repaired').some((e) => e.seq === seq2), 'repaired again');
      carol.send('carol after the second repair');
      await waitFor(() => alice2.texts().includes('carol after the second repair') && bob.texts().includes('carol after the second repair'), 'the room speaks on');
      for (const c of [alice2, bob, carol]) c.end();
      for (const c of [alice2, bob, carol]) assert.equal(await c.exit, 0);
      for (const c of [alice2, carol]) assert.equal(c.texts().filter((t) => t === 'written while blocked').length, 1, 'once');
    });

    it('a member\'s smc chat killed (kill -9) with a message the relay never got, and with one whose ack was lost: restarted, it sends what the relay lacks, and each arrives exactly once', async () => {
      const proxy = await GateProxy.start(backend.port);
      try {
        const alice = await aliceCreates();
        // Bob reaches the relay through the proxy (a private room's id does not depend on the address).
        const link = (await invite(alice)).replace(`:${backend.port}/`, `:${proxy.port}/`);
        const bob = await joins('bob', link, alice);
        const carol = await joins('carol', await invite(alice), alice);
        bob.send('first from bob');
        await waitFor(() => alice.texts().includes('first from bob') && carol.texts().includes('first from bob'), 'all read');
        // A send that never reaches the relay, then kill -9.
        proxy.dropToRelay = (f) => f.t === 'send';
        bob.send('never reached the relay');
        await waitFor(() => proxy.droppedToRelay.length > 0, 'the send dropped');
        bob.kill();
        await bob.exit;
        proxy.dropToRelay = () => false;
        // A send whose ack is lost, then kill -9.
        const bob2 = chat('bob', ['--name', 'bob', 'team']);
        await waitFor(() => alice.texts().includes('never reached the relay') && carol.texts().includes('never reached the relay'), 'sent again after the restart');
        proxy.dropToClient = (f) => f.t === 'ack';
        bob2.send('acked but the ack was lost');
        await waitFor(() => proxy.droppedToClient.length > 0, 'the ack dropped');
        bob2.kill();
        await bob2.exit;
        proxy.dropToClient = () => false;
        const bob3 = chat('bob', ['--name', 'bob', 'team']);
        bob3.end();
        assert.equal(await bob3.exit, 0, bob3.stderr.join('\n'));
        alice.send('after');
        await waitFor(() => carol.texts().includes('after'), 'carol reads on');
        for (const c of [alice, carol]) {
          for (const t of ['never reached the relay', 'acked but the ack was lost']) assert.equal(c.texts().filter((x) => x === t).length, 1, `${t}: exactly once`);
        }
        alice.end();
        carol.end();
        for (const c of [alice, carol]) assert.equal(await c.exit, 0);
      } finally {
        await proxy.close();
      }
    });

    if (kind === 'relay') {
      it('the owner\'s client killed (kill -9) at the worst moment of a repair, its reset stored and reset_ok lost: restarted, the room works, the members are told', async () => {
        const proxy = await GateProxy.start(backend.port);
        try {
          await chats.create(`127.0.0.1:${proxy.port}`);
          const alice = chat('alice', ['--name', 'alice', 'team']);
          const bob = await joins('bob', await invite(alice), alice);
          const carol = await joins('carol', await invite(alice), alice);
          alice.send('before');
          await waitFor(() => bob.texts().includes('before') && carol.texts().includes('before'), 'all read');
          proxy.dropToClient = (f) => f.t === 'reset_ok';
          const seq = await garbageCommit('carol');
          await waitFor(() => proxy.droppedToClient.length > 0, 'the repair stored at the relay, its reset_ok lost');
          alice.kill();
          await alice.exit;
          proxy.dropToClient = () => false;
          for (const c of [bob, carol]) await waitFor(() => events(c, 'repaired').some((e) => e.seq === seq), 'repaired');
          const alice2 = chat('alice', ['--name', 'alice', 'team']);
          alice2.send('alice after the crash');
          bob.send('bob after the crash');
          await waitFor(() => bob.texts().includes('alice after the crash') && carol.texts().includes('alice after the crash') && alice2.texts().includes('bob after the crash'), 'the room speaks on');
          for (const c of [alice2, bob, carol]) c.end();
          for (const c of [alice2, bob, carol]) assert.equal(await c.exit, 0);
        } finally {
          await proxy.close();
        }
      });
    }

    it('a joiner with no admin online is told, and gives up at --timeout (exit 9)', async () => {
      const alice = await aliceCreates();
      const link = await invite(alice);
      alice.end();
      assert.equal(await alice.exit, 0);
      const r = await smc(home('gina'), ['chat', '--json', '--name', 'gina', '--timeout', '3', link], '', 30_000);
      assert.equal(r.code, EXIT.notAdded, r.stderr);
      assert.match(r.stderr, /no admin of the room is online/);
    });
  });
}
