// Presence in interactive `smc chat` across a relay restart (issue 11 "Terminal client": "alice
// is here" then "alice left" while /who lists alice). A restarted relay gives every connection
// new sids (docs/protocol.md §1.4: sid is per connection and room), so a person who was here
// before the restart and is here after it must be neither "here" again nor "left": what is
// printed must agree with /who. The order of the reconnects is fixed by a proxy that holds the
// terminal client's connection until bob has joined the restarted relay.
// Needs tmux and `node scripts/build.mjs` first.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, parseInvite } from '../../src/core/crypto/index';
import { RelayClient } from '../../src/core/client/index';
import { CLI_PATH, RelayProcess } from '../helpers/relayProcess';
import { createTcpTransport } from '../../src/node/tcpTransport';
import { GateProxy } from '../helpers/gateProxy';
import { Terminal, hasTmux, shq } from '../helpers/terminal';
import { until } from '../helpers/until';

describe('smc chat presence across a relay restart (tmux)', function () {
  this.timeout(120_000);
  let dir: string;
  let relay: RelayProcess | undefined;
  let proxy: GateProxy | undefined;
  let term: Terminal | undefined;
  let bob: RelayClient | undefined;

  before(function () {
    if (!hasTmux) throw new Error('tmux is required for the interactive tests (apt-get install tmux)');
  });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'smc-cli-presence-'));
  });

  afterEach(async () => {
    term?.kill();
    term = undefined;
    await bob?.disconnect().catch(() => undefined);
    bob = undefined;
    await proxy?.close();
    proxy = undefined;
    await relay?.cleanup();
    relay = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('someone here before and after the restart is neither "here" again nor "left"; /who agrees', async () => {
    const data = join(dir, 'relay');
    relay = await RelayProcess.start({ dataDir: data });
    const port = relay.port;
    proxy = await GateProxy.start(port);
    const home = join(dir, 'alice');
    const made = spawnSync(process.execPath, [CLI_PATH, 'room', 'new', '--name', 'r', '--relay', `127.0.0.1:${proxy.port}`], { env: { ...process.env, SMC_HOME: home }, encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const invite = /smc:\/\/[^\s']+/.exec(made.stdout)![0];

    // bob talks to the relay directly and reconnects fast; his syncs count his joins.
    bob = new RelayClient({
      host: '127.0.0.1', port, agent: 'smc-test/0', identity: generateIdentity(), displayName: 'bob', transport: createTcpTransport,
      tuning: { reconnectBaseMs: 50, reconnectMaxMs: 200 },
    });
    let bobSyncs = 0;
    bob.on('synced', () => bobSyncs++);
    bob.connect();
    bob.join({ key: parseInvite(invite).key, name: 'r' });
    await until('bob synced', () => bobSyncs === 1);

    term = new Terminal(`env SMC_HOME=${shq(home)} NO_COLOR=1 ${shq(process.execPath)} ${shq(CLI_PATH)} chat --name alice --room r`);
    const t = term;
    await t.waitFor('bob is here', (s) => s.includes('-- bob is here --'));

    // The restart: alice's reconnects wait at the proxy until bob is in the restarted relay, so
    // her first presence after it lists bob under a new sid.
    proxy.hold();
    await relay.kill();
    relay = await RelayProcess.start({ dataDir: data, args: ['--port', String(port)] });
    await until('bob joined the restarted relay', () => bobSyncs >= 2, 40_000);
    await until('alice reconnecting at the proxy', () => proxy!.heldCount > 0, 40_000);
    proxy.release();
    await t.waitFor('alice reconnected', (s) => s.split('\n').filter((l) => l.includes('-- connected to')).length >= 2, 40_000);
    // /who until the presence after the reconnect is in (before it, nobody is known online).
    const whoListsBoth = (s: string): boolean => /2 online:\n\s+(bob \(\w{4} \w{4}\)\n\s+alice \(\w{4} \w{4}\) \(you\)|alice \(\w{4} \w{4}\) \(you\)\n\s+bob \(\w{4} \w{4}\))/.test(s);
    await until('/who lists bob and alice', () => {
      if (whoListsBoth(t.screen())) return true;
      t.type('/who');
      t.enter();
      return false;
    }, 40_000, () => t.screen(), 500);

    const screen = t.screen();
    const presenceLines = screen.split('\n').filter((l) => /-- bob (is here|left) --/.test(l));
    assert.deepEqual(presenceLines.map((l) => l.trim()), ['-- bob is here --'], `bob was here throughout:\n${screen}`);
  });
});
