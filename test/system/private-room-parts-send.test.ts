// Sending parts in a room (docs/protocol.md §3.3.1): on a relay whose --max-frame is lowered to
// its minimum (4 096: bodies of at most 3 584 characters), a long message and the commit of a
// room of 40 members no longer fit one body; the sender cuts them into parts (the commit's
// rotation on its last part), and another member joins them, applies the commit and reads on.
// Real relay process, real TCP on 127.0.0.1, the clients of src/core/private.
// Needs `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayProcess } from '../helpers/relayProcess';
import { startPrivateAdmin, type PrivateAdmin } from '../helpers/privateAdmin';
import { until } from '../helpers/until';
import { HistoryStore, MemoryHistoryLog, PrivateRoom, freshMeta, type MembershipEvent } from '../../src/core/private/index';
import { type ChatMessage } from '../../src/core/client/index';
import { createTcpTransport } from '../../src/node/tcpTransport';

describe('private rooms: messages and commits sent in parts (§3.3.1)', function () {
  this.timeout(180_000);
  let dir: string;
  let relay: RelayProcess;
  let admin: PrivateAdmin | undefined;
  let member: PrivateRoom | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'smc-parts-send-'));
    relay = await RelayProcess.start({ dataDir: join(dir, 'relay'), args: ['--max-frame', '4096'] });
  });

  afterEach(async () => {
    await member?.disconnect();
    await admin?.stop();
    member = admin = undefined;
    await relay.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a 9 000-character message and the remove commit of a 40-member room go in parts; a member reads and applies them', async () => {
    admin = await startPrivateAdmin(relay.port, 40);
    const group = await admin.memberGroup(0);
    const logs: string[] = [];
    member = new PrivateRoom({
      room: admin.room.room, name: 'team', host: '127.0.0.1', port: relay.port, agent: 'smc-test/0', transport: createTcpTransport,
      identity: admin.others[0]!, displayName: 'member1', group, meta: freshMeta(Date.now()), save: () => Promise.resolve(),
      history: new HistoryStore(admin.room.room, Buffer.alloc(32, 7), new MemoryHistoryLog()),
      log: (e, f) => void logs.push(`${e} ${JSON.stringify(f ?? {})}`),
    });
    const seen: ChatMessage[] = [];
    const removed: MembershipEvent[] = [];
    member.on('message', (m) => seen.push(m));
    member.on('member_removed', (e) => removed.push(e));
    member.on('error', () => undefined);
    const dump = (): string => `${admin!.logs.slice(-10).join('\n')}\n---\n${logs.slice(-10).join('\n')}`;
    const wait = <T>(what: string, check: () => T | undefined | false): Promise<T> => until(what, check, 90_000, dump);
    // The room exists at the relay once the admin's creation is taken (§3.6); a join before
    // that is refused (auth_failed, not retried), which under load made this test flaky.
    await wait('the admin in its room', () => admin!.room.state === 'connected' && !admin!.room.committing);
    member.connect();
    await wait('the member is caught up', () => member!.applied >= 0 && member!.state === 'connected');

    const long = `long ${'x'.repeat(9_000)}`;
    admin.room.sendText(long);
    await wait('the member reads the long message', () => seen.some((m) => m.text === long));
    assert.ok(admin.logs.some((l) => l.startsWith('sent_in_parts')), dump());

    // A remove at 40 members is larger than one body at this --max-frame: a commit in parts.
    const epoch = admin.room.epoch;
    const inPartsBefore = admin.logs.filter((l) => l.startsWith('sent_in_parts')).length;
    admin.room.remove(admin.others[5]!.publicKey.toString('hex'));
    await wait('the member applies the commit', () => removed.length > 0 && member!.epoch === epoch + 1);
    assert.equal(admin.logs.filter((l) => l.startsWith('sent_in_parts')).length, inPartsBefore + 1, 'the commit went in parts');
    assert.equal(admin.room.epoch, epoch + 1, dump());
    admin.room.sendText('after the commit');
    await wait('the member reads on in the new epoch', () => seen.some((m) => m.text === 'after the commit'));
    // And the other way: the member's own long message in parts reaches the admin.
    member.sendText(`back ${'y'.repeat(9_000)}`);
    await wait('the admin reads the member\'s long message', () => admin!.messages.some((m) => m.text?.startsWith('back yyy')));
    assert.ok(logs.some((l) => l.startsWith('rekey')), 'the relay rotated the epoch: the commit carried its rotation');
  });
});
